//! What a dump file is, told by its first bytes, never by its name: SQL text or zstd, and
//! one answer for what is neither (issue 17/18: the same gzip file was "line 1: statement is
//! not valid UTF-8", exit 1, for d1-verify and "gzip data", exit 2, for d1-import). Every tool
//! that reads a dump sniffs it here.

use crate::{Error, Result};

/// zstd frame magic number 0xFD2FB528, little-endian (RFC 8878, section 3.1.1).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The first line of every binary age file (age-encryption.org/v1): an encrypted dump is told
/// by its content, never by its name.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The first line of an ASCII-armored age file (`age -a`), which these tools do not read.
const AGE_ARMOR: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// Whether `head` (the first bytes of a file: at least `AGE_MAGIC`'s 22) is a binary age file.
pub fn is_age(head: &[u8]) -> bool {
    head.starts_with(AGE_MAGIC)
}

/// Whether `head` is an ASCII-armored age file: told apart so that an error can say so.
pub fn is_age_armored(head: &[u8]) -> bool {
    head.starts_with(AGE_ARMOR)
}

/// How many first bytes `sniff` looks at (fewer when the file is shorter).
pub const HEAD: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sql,
    Zstd,
    /// No bytes at all: each tool says what that means for it (d1-verify: an empty dump fails
    /// verification; d1-import: nothing to import).
    Empty,
}

/// Sniffs the first bytes of the file shown as `shown`. Gzip data, an SQLite database file and
/// other binary data are bad input (exit 2) with one message each.
pub fn sniff(head: &[u8], shown: &str) -> Result<Kind> {
    if head.is_empty() {
        return Ok(Kind::Empty);
    }
    if head.starts_with(&ZSTD_MAGIC) {
        return Ok(Kind::Zstd);
    }
    if head.starts_with(&GZIP_MAGIC) {
        return Err(Error::usage(format!(
            "{shown}: gzip data, not a SQL dump (the tools read plain SQL and zstd: \
             decompress it first, or recompress it with zstd)"
        )));
    }
    if head.starts_with(SQLITE_MAGIC) {
        // wrangler refuses the same mistake with the same words.
        return Err(Error::usage(format!(
            "{shown}: this is a SQLite database file, not a SQL dump"
        )));
    }
    // An encrypted dump's first line is text too: told apart, for the tools that do not
    // decrypt (d1-verify decrypts with --identity before it sniffs).
    if is_age(head) || is_age_armored(head) {
        return Err(Error::usage(format!(
            "{shown}: an age-encrypted dump; decrypt it first (age -d -i KEY), or verify it \
             with d1-verify --identity KEY"
        )));
    }
    // A dump's first line is a statement or a comment: text. A control character there is a
    // binary format (zip, bzip2, xz...). Further on, a NUL inside a string literal is SQL that
    // SQLite refuses on its line, a verification failure, not a file of the wrong kind.
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if first_line
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\x0c')) || b == 0x7f)
    {
        return Err(Error::usage(format!(
            "{shown}: binary data, not a SQL dump"
        )));
    }
    Ok(Kind::Sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitCode;

    #[test]
    fn sql_zstd_and_empty_are_told_apart_and_the_rest_is_bad_input() {
        let kind = |head: &[u8]| sniff(head, "d").map_err(|e| e.message);
        assert_eq!(kind(b"PRAGMA defer_foreign_keys=TRUE;"), Ok(Kind::Sql));
        assert_eq!(kind(b"-- c\r\n\tCREATE TABLE t(a);\n'\0'"), Ok(Kind::Sql));
        assert_eq!(kind(&ZSTD_MAGIC), Ok(Kind::Zstd));
        assert_eq!(kind(b""), Ok(Kind::Empty));
        for (head, says) in [
            (&[0x1f, 0x8b, 8, 0][..], "d.gz: gzip data, not a SQL dump"),
            (
                b"SQLite format 3\0...",
                "d.gz: this is a SQLite database file",
            ),
            (b"PK\x03\x04", "d.gz: binary data"),
            (
                b"age-encryption.org/v1\n-> X25519 ",
                "d.gz: an age-encrypted dump",
            ),
            (b"BZh91AY&SY\x01", "d.gz: binary data"),
            (b"ab\0cd", "d.gz: binary data"),
        ] {
            let e = sniff(head, "d.gz").unwrap_err();
            assert_eq!(e.code(), ExitCode::Usage, "{head:?}");
            assert!(e.message.starts_with(says), "{head:?}: {}", e.message);
        }
    }

    #[test]
    fn binary_and_armored_age_files_are_known_by_their_first_line() {
        assert!(is_age(b"age-encryption.org/v1\n-> X25519 abc"));
        assert!(!is_age(b"PRAGMA defer_foreign_keys=TRUE;"));
        assert!(!is_age(&ZSTD_MAGIC));
        assert!(is_age_armored(b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl"));
        assert!(!is_age_armored(b"age-encryption.org/v1\n"));
    }
}
