//! JavaScript's `Number.prototype.toString()` for finite doubles.
//!
//! D1's dump generator runs in JavaScript and writes every SQLite number (integers included: they
//! reach JavaScript as doubles) with `${cell}`, so the dump's digits are exactly what
//! ECMAScript's Number::toString (ECMA-262, 6.1.6.1.20) prints. Rust's `{:e}` gives the same
//! shortest round-trip digits; only the layout rules differ, and those are applied here.

/// Formats a finite `f64` as JavaScript would. Infinities and NaN are the caller's business
/// (the dump writes them specially), but are still printed the JavaScript way here.
pub fn to_js_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        // -0 prints as "0" in JavaScript.
        return "0".to_string();
    }
    if x < 0.0 {
        return format!("-{}", to_js_string(-x));
    }
    // Shortest round-trip digits: "d.ddde<exp>" or "de<exp>".
    let sci = format!("{x:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i32;
    // ECMAScript's n: x = 0.d1d2...dk × 10^n.
    let n = exp + 1;
    if k <= n && n <= 21 {
        let mut s = digits;
        s.extend(std::iter::repeat_n('0', (n - k) as usize));
        s
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        let mut s = String::from("0.");
        s.extend(std::iter::repeat_n('0', (-n) as usize));
        s.push_str(&digits);
        s
    } else {
        let e = n - 1;
        let sign = if e < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{sign}{}", e.abs())
        }
    }
}

/// An SQLite INTEGER as JavaScript sees it: converted to a double first (so precision beyond
/// 2^53 is lost, as in D1), then printed.
///
/// Up to 2^53 the double is exact and below 10^21, so JavaScript prints the plain decimal: no
/// detour through floating point for the common case.
pub fn write_int(out: &mut String, v: i64) {
    use std::fmt::Write;
    if v.unsigned_abs() <= 1 << 53 {
        let _ = write!(out, "{v}");
    } else {
        out.push_str(&to_js_string(v as f64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_to_js_string(v: i64) -> String {
        let mut out = String::new();
        write_int(&mut out, v);
        out
    }

    #[test]
    fn integers_print_as_their_double_would_on_both_sides_of_2_pow_53() {
        let edge = 1i64 << 53;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let spread = (0..2000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64 >> (x % 60)
        });
        for v in (-edge - 5..-edge + 5)
            .chain(edge - 5..edge + 5)
            .chain(spread)
        {
            assert_eq!(int_to_js_string(v), to_js_string(v as f64), "{v}");
        }
    }

    #[test]
    fn small_numbers_print_in_plain_decimal() {
        assert_eq!(to_js_string(1.5), "1.5");
        assert_eq!(to_js_string(0.1), "0.1");
        assert_eq!(to_js_string(-0.000001), "-0.000001");
        assert_eq!(to_js_string(0.000001), "0.000001");
        assert_eq!(to_js_string(123.0), "123");
        assert_eq!(to_js_string(-0.0), "0");
        assert_eq!(to_js_string(0.0), "0");
        assert_eq!(to_js_string(100.0), "100");
        assert_eq!(to_js_string(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(to_js_string(123456.789), "123456.789");
    }

    #[test]
    fn tiny_and_huge_numbers_use_exponent_notation_like_javascript() {
        assert_eq!(to_js_string(1e-7), "1e-7");
        assert_eq!(to_js_string(1.5e-7), "1.5e-7");
        assert_eq!(to_js_string(1e300), "1e+300");
        assert_eq!(to_js_string(1e21), "1e+21");
        assert_eq!(to_js_string(1.2345e21), "1.2345e+21");
        assert_eq!(to_js_string(1e20), "100000000000000000000");
        assert_eq!(to_js_string(5e-324), "5e-324");
        assert_eq!(to_js_string(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(to_js_string(-2.5e-10), "-2.5e-10");
    }

    #[test]
    fn integers_beyond_2_pow_53_lose_precision_like_javascript() {
        assert_eq!(int_to_js_string(9007199254740993), "9007199254740992");
        assert_eq!(int_to_js_string(9007199254740992), "9007199254740992");
        assert_eq!(int_to_js_string(i64::MIN), "-9223372036854776000");
        assert_eq!(int_to_js_string(i64::MAX), "9223372036854776000");
        assert_eq!(int_to_js_string(42), "42");
        assert_eq!(int_to_js_string(-7), "-7");
    }

    #[test]
    fn non_finite_values_print_as_javascript_names() {
        assert_eq!(to_js_string(f64::INFINITY), "Infinity");
        assert_eq!(to_js_string(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(to_js_string(f64::NAN), "NaN");
    }
}
