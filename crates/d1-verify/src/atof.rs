//! SQLite's text-to-REAL conversion (`sqlite3AtoF` in SQLite 3.54, the version rusqlite bundles).
//! The fast path must store exactly the double SQLite's own parser would. SQLite keeps only the
//! first 19 or so significant digits (a u64 significand `s` and a power of ten `p`) and then
//! rounds `s × 10^p` correctly (`sqlite3Fp10Convert2`; 3.50 scaled with Dekker products that
//! were sometimes one bit off). So the digits are read as SQLite reads them, and the rounding is
//! Rust's `str::parse` of `s` and `p`, which is correctly rounded too. Using `parse` on the
//! literal itself would differ where a literal has more digits than SQLite keeps. Tests compare
//! the result with SQLite's on many values (here and in fastpath.rs).

use std::io::Write;

const LARGEST_U64: u64 = u64::MAX;

/// Converts an unsigned decimal literal (`123`, `1.5`, `1e+300`, `.5`) the way SQLite does.
/// The caller has checked the shape (digits, optional point, optional exponent).
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
    nearest(s, e * esign + d)
}

/// The double nearest `s × 10^p`, ties to even: what `sqlite3Fp10Convert2` computes (0 below
/// 10^-348 and infinity above 10^347, where the nearest double is 0 or infinity anyway).
fn nearest(s: u64, p: i32) -> f64 {
    // At most 20 digits, `e`, and an i32: 32 bytes.
    let mut buf = [0u8; 40];
    let mut w = &mut buf[..];
    let written = write!(w, "{s}e{p}");
    let n = 40 - w.len();
    match (
        written,
        std::str::from_utf8(&buf[..n]).map(str::parse::<f64>),
    ) {
        (Ok(()), Ok(Ok(r))) => r,
        _ => unreachable!("a u64 and an i32 fit in 40 bytes and make a valid float literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::atof;

    /// SQLite's own value for a literal, and ours, compared bit for bit.
    fn check(conn: &rusqlite::Connection, lit: &str) {
        let want: f64 = conn
            .query_row(&format!("SELECT CAST({lit} AS REAL)"), [], |r| r.get(0))
            .unwrap();
        let got = atof(lit.as_bytes());
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{lit}: ours {got:e}, SQLite {want:e}"
        );
    }

    #[test]
    fn long_mantissas_and_extreme_exponents_match_sqlite() {
        // 19 to 21 significant digits (where SQLite stops reading digits), exponents out to
        // the subnormals, the overflow and the cut-offs at 10^-348 and 10^347.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for lit in [
            "3500000000000000.2500001",
            "18446744073709551615",
            "18446744073709551616",
            "1844674407370955161.5",
            "9999999999999999999e-343",
            "1e-348",
            "1e-349",
            "99999999999999999999e-344",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e347",
            "0.1e348",
            "123456789012345678901234567890e-10",
        ] {
            check(&conn, lit);
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = x.to_string();
            let e = (x % 720) as i32 - 360;
            let point = (x >> 32) as usize % digits.len();
            check(
                &conn,
                &format!("{}.{}e{e}", &digits[..point], &digits[point..]),
            );
            check(&conn, &format!("{digits}7e{e}"));
        }
    }
}
