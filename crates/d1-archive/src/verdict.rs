//! What a good backup is, and the one way of saying why a backup is not one. A good backup: its
//! manifest holds d1-verify's passing verdict for the very bytes it records (the SHA-256 the
//! verdict checked is the manifest's `sha256`). Where the backup's files are known too (a folder,
//! a bucket), its checksum file must be there and its size the manifest's.

use crate::manifest::Manifest;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Good,
    /// d1-verify failed it; the reason it gave.
    Failed(String),
    /// No verdict: d1-verify has not run (or is running) on it.
    Unverified,
    /// A passing verdict for other bytes (`verification.sha256` differs from `sha256`).
    OtherBytes,
    /// The manifest names no SHA-256: nothing says which bytes it describes.
    NoSha256,
    /// No `DUMP.sha256` beside it: nobody can check it with `sha256sum -c`.
    NoChecksum,
    /// The file's size is not the one the manifest records: the verdict cannot be for it.
    WrongSize {
        actual: u64,
        expected: u64,
    },
}

impl Verdict {
    pub fn is_good(&self) -> bool {
        *self == Verdict::Good
    }

    /// `verified`, `failed` or `unverified`: the verdict in one word (a passing verdict that is
    /// not for these bytes, or for a file that is not all there, verifies nothing).
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Good => "verified",
            Verdict::Failed(_) => "failed",
            _ => "unverified",
        }
    }

    /// The verdict given a backup's files: a checksum file present or not, and the size of
    /// the dump's file (when known) against the size the manifest records.
    pub fn with_files(self, has_checksum: bool, sizes: Option<(u64, u64)>) -> Verdict {
        match sizes {
            Some((actual, expected)) if actual != expected => {
                Verdict::WrongSize { actual, expected }
            }
            _ if self.is_good() && !has_checksum => Verdict::NoChecksum,
            _ => self,
        }
    }
}

/// Why it is (or is not) a good backup, in the words every tool uses.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Good => f.write_str("verified"),
            Verdict::Failed(r) if r.is_empty() => f.write_str("failed verification"),
            Verdict::Failed(r) => write!(f, "failed verification ({r})"),
            Verdict::Unverified => {
                f.write_str("not verified (its manifest has no verdict; run d1-verify first)")
            }
            Verdict::OtherBytes => {
                f.write_str("verified for other bytes (verification.sha256 differs from sha256)")
            }
            Verdict::NoSha256 => f.write_str("its manifest has no sha256"),
            Verdict::NoChecksum => f.write_str("verified, but its .sha256 is missing"),
            Verdict::WrongSize { actual, expected } => {
                write!(f, "{actual} bytes where the manifest says {expected}")
            }
        }
    }
}

impl Manifest {
    /// The verdict the manifest alone gives.
    pub fn verdict(&self) -> Verdict {
        let Some(sha) = self.sha256() else {
            return Verdict::NoSha256;
        };
        let Some(v) = self.verification.get() else {
            return Verdict::Unverified;
        };
        match v.status.as_deref() {
            Some("ok") if v.sha256.as_deref() == Some(sha) => Verdict::Good,
            Some("ok") => Verdict::OtherBytes,
            _ => Verdict::Failed(v.reason.as_deref().unwrap_or_default().to_string()),
        }
    }

    /// A good backup as far as the manifest can tell.
    pub fn is_good(&self) -> bool {
        self.verdict().is_good()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(json: &str) -> Manifest {
        Manifest::from_bytes(json.as_bytes(), "m").unwrap()
    }

    #[test]
    fn a_good_backup_needs_a_passing_verdict_for_the_same_bytes() {
        let ok = m(r#"{"sha256": "ab", "verification": {"status": "ok", "sha256": "ab"}}"#);
        assert_eq!(ok.verdict(), Verdict::Good);
        let other = m(r#"{"sha256": "ab", "verification": {"status": "ok", "sha256": "cd"}}"#);
        assert_eq!(other.verdict(), Verdict::OtherBytes);
        let failed = m(
            r#"{"sha256": "ab", "verification": {"status": "failed", "sha256": "ab", "reason": "bad"}}"#,
        );
        assert_eq!(failed.verdict().to_string(), "failed verification (bad)");
        let shouting = m(r#"{"sha256": "ab", "verification": {"status": "OK", "sha256": "ab"}}"#);
        assert_eq!(shouting.verdict(), Verdict::Failed(String::new()));
        assert_eq!(m(r#"{"sha256": "ab"}"#).verdict(), Verdict::Unverified);
        let null = m(r#"{"sha256": "ab", "verification": {"status": "ok", "sha256": null}}"#);
        assert_eq!(null.verdict(), Verdict::OtherBytes);
        let none = m(r#"{"verification": {"status": "ok", "sha256": null}}"#);
        assert_eq!(none.verdict(), Verdict::NoSha256);
    }

    #[test]
    fn the_files_can_undo_a_good_verdict() {
        assert_eq!(Verdict::Good.with_files(true, Some((2, 2))), Verdict::Good);
        assert_eq!(Verdict::Good.with_files(false, None), Verdict::NoChecksum);
        assert_eq!(
            Verdict::Unverified.with_files(true, Some((7, 2))),
            Verdict::WrongSize {
                actual: 7,
                expected: 2
            }
        );
        assert_eq!(
            Verdict::Unverified.with_files(false, None).word(),
            "unverified"
        );
        assert_eq!(Verdict::Failed("x".into()).word(), "failed");
    }
}
