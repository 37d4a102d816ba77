//! SQLite's text-to-REAL conversion (`sqlite3AtoF` in SQLite 3.50, the version rusqlite bundles),
//! ported step by step. The fast path must store exactly the double SQLite's own parser would:
//! SQLite's algorithm (a u64 significand scaled with Dekker double-double products) is not
//! always the correctly rounded result Rust's `str::parse` gives, so using `parse` could make
//! the fast path and the fallback disagree in the last bit. A test compares both on many values.

const LARGEST_U64: u64 = u64::MAX;

/// Converts an unsigned decimal literal (`123`, `1.5`, `1e+300`, `.5`) the way SQLite does.
/// The caller has checked the shape (digits, optional point, optional exponent).
#[allow(clippy::excessive_precision)]
pub fn atof(z: &[u8]) -> f64 {
    let mut s: u64 = 0;
    let mut d: i32 = 0;
    let mut esign: i32 = 1;
    let mut e: i32 = 0;
    let mut i = 0;
    while i < z.len() && z[i].is_ascii_digit() {
        s = s * 10 + u64::from(z[i] - b'0');
        i += 1;
        if s >= (LARGEST_U64 - 9) / 10 {
            while i < z.len() && z[i].is_ascii_digit() {
                i += 1;
                d += 1;
            }
        }
    }
    if i < z.len() && z[i] == b'.' {
        i += 1;
        while i < z.len() && z[i].is_ascii_digit() {
            if s < (LARGEST_U64 - 9) / 10 {
                s = s * 10 + u64::from(z[i] - b'0');
                d -= 1;
            }
            i += 1;
        }
    }
    if i < z.len() && (z[i] == b'e' || z[i] == b'E') {
        i += 1;
        if i < z.len() && z[i] == b'-' {
            esign = -1;
            i += 1;
        } else if i < z.len() && z[i] == b'+' {
            i += 1;
        }
        while i < z.len() && z[i].is_ascii_digit() {
            e = if e < 10000 {
                e * 10 + i32::from(z[i] - b'0')
            } else {
                10000
            };
            i += 1;
        }
    }
    if s == 0 {
        return 0.0;
    }
    let mut e = e * esign + d;
    while e > 0 && s < (LARGEST_U64 - 0x7ff) / 10 {
        s *= 10;
        e -= 1;
    }
    while e < 0 && s.is_multiple_of(10) {
        s /= 10;
        e += 1;
    }
    let mut rr = [s as f64, 0.0];
    if rr[0] <= 18446744073709549568.0 {
        let s2 = rr[0] as u64;
        rr[1] = if s >= s2 {
            (s - s2) as f64
        } else {
            -((s2 - s) as f64)
        };
    }
    if e > 0 {
        while e >= 100 {
            e -= 100;
            dekker_mul2(&mut rr, 1.0e+100, -1.5902891109759918046e+83);
        }
        while e >= 10 {
            e -= 10;
            dekker_mul2(&mut rr, 1.0e+10, 0.0);
        }
        while e >= 1 {
            e -= 1;
            dekker_mul2(&mut rr, 1.0e+01, 0.0);
        }
    } else {
        while e <= -100 {
            e += 100;
            dekker_mul2(&mut rr, 1.0e-100, -1.99918998026028836196e-117);
        }
        while e <= -10 {
            e += 10;
            dekker_mul2(&mut rr, 1.0e-10, -3.6432197315497741579e-27);
        }
        while e <= -1 {
            e += 1;
            dekker_mul2(&mut rr, 1.0e-01, -5.5511151231257827021e-18);
        }
    }
    let r = rr[0] + rr[1];
    if r.is_nan() {
        f64::INFINITY
    } else {
        r
    }
}

/// SQLite's `dekkerMul2`: multiplies the double-double `x` by `y + yy`. Rust evaluates f64
/// operations in binary64 without fused multiply-adds, which is what SQLite's `volatile`s force.
#[allow(clippy::assign_op_pattern)] // kept in SQLite's evaluation order
fn dekker_mul2(x: &mut [f64; 2], y: f64, yy: f64) {
    let hx = f64::from_bits(x[0].to_bits() & 0xffff_ffff_fc00_0000);
    let tx = x[0] - hx;
    let hy = f64::from_bits(y.to_bits() & 0xffff_ffff_fc00_0000);
    let ty = y - hy;
    let p = hx * hy;
    let q = hx * ty + tx * hy;
    let c = p + q;
    let mut cc = p - c + q + tx * ty;
    cc = x[0] * yy + x[1] * y + cc;
    x[0] = c + cc;
    x[1] = c - x[0];
    x[1] += cc;
}
