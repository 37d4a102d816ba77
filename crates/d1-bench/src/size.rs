//! Sizes on the command line: `100M`, `1G`, `512K`, or plain bytes. Binary multiples (1M =
//! 1024*1024), as `dd` and `head -c` read them.

pub fn parse(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M or G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {s:?} (examples: 20M, 1G)"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("size out of range: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_binary_multiples() {
        assert_eq!(parse("100M"), Ok(100 << 20));
        assert_eq!(parse("1G"), Ok(1 << 30));
        assert_eq!(parse("512k"), Ok(512 << 10));
        assert_eq!(parse("4096"), Ok(4096));
    }

    #[test]
    fn garbage_and_zero_are_refused() {
        assert!(parse("").is_err());
        assert!(parse("10X").is_err());
        assert!(parse("M").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99999999999G").is_err());
    }
}
