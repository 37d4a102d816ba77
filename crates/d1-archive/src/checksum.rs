//! The checksum sidecar `DUMP.sha256`, in `sha256sum`'s format (`HEX  NAME`), so that
//! `sha256sum -c` works from the dump's folder. Written and read here only.

use d1_core::{Error, Result};

/// A checksum file is one line; more than this is not one.
pub const MAX_BYTES: u64 = 4096;

/// `HEX  NAME\n`, NAME the dump's file name without its folder.
pub fn line(sha256: &str, dump_name: &str) -> String {
    format!("{sha256}  {dump_name}\n")
}

/// The SHA-256 a checksum file names (lowercase hex). `shown` names the file in the error.
pub fn parse(text: &[u8], shown: &str) -> Result<String> {
    let text = &text[..text.len().min(MAX_BYTES as usize)];
    String::from_utf8_lossy(text)
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Error::failed(format!("{shown}: not a sha256sum line (HEX  NAME)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_sha256sums_and_reads_back() {
        let hex = "AB".repeat(32);
        let l = line(&hex, "x.sql");
        assert_eq!(l, format!("{hex}  x.sql\n"));
        assert_eq!(
            parse(l.as_bytes(), "x.sql.sha256").unwrap(),
            "ab".repeat(32)
        );
        let e = parse(b"not a digest  x.sql\n", "x.sql.sha256").unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Failed);
        assert_eq!(e.message, "x.sql.sha256: not a sha256sum line (HEX  NAME)");
        assert!(parse(b"", "s").is_err());
    }
}
