//! The files of one backup and their names: the dump (`NAME.sql`, `NAME.sql.zst`, and either
//! with `.age` when it is encrypted), its checksum `DUMP.sha256` and its manifest `DUMP.json`.
//! The same names serve a folder (paths) and a bucket prefix (keys).

use std::path::{Path, PathBuf};

/// What follows a dump's name in its checksum's.
pub const CHECKSUM: &str = ".sha256";
/// What follows a dump's name in its manifest's.
pub const MANIFEST: &str = ".json";
/// What follows an encrypted dump's clear name (age, docs/encryption.md).
pub const AGE: &str = ".age";

/// Whether `name` (a file name or a key's last segment) names a dump: `.sql`, `.sql.zst`, and
/// their age-encrypted forms (`d1-fetch --encrypt-to` writes `DUMP.sql.zst.age`; `d1-upload
/// --encrypt-to` uploads `KEY.age`).
pub fn is_dump_name(name: &str) -> bool {
    let plain = clear_name(name);
    (plain.ends_with(".sql") && plain.len() > 4) || (plain.ends_with(".sql.zst") && plain.len() > 8)
}

/// Whether a dump's name says it is encrypted.
pub fn is_encrypted_name(name: &str) -> bool {
    name.ends_with(AGE)
}

/// The name without its `.age`: what the decrypted dump is called.
pub fn clear_name(name: &str) -> &str {
    name.strip_suffix(AGE).unwrap_or(name)
}

/// The encrypted form of a dump's name or key.
pub fn encrypted_name(name: &str) -> String {
    format!("{name}{AGE}")
}

/// The last segment of a key (`p/d1/x.sql` → `x.sql`), or a file name as it is.
pub fn base_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// A backup's sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    Checksum,
    Manifest,
}

impl Sidecar {
    pub fn suffix(self) -> &'static str {
        match self {
            Sidecar::Checksum => CHECKSUM,
            Sidecar::Manifest => MANIFEST,
        }
    }

    /// The sidecar's key (or file name) for a dump's.
    pub fn key(self, dump: &str) -> String {
        format!("{dump}{}", self.suffix())
    }

    /// The sidecar's path for a dump's.
    pub fn path(self, dump: &Path) -> PathBuf {
        let mut s = dump.as_os_str().to_owned();
        s.push(self.suffix());
        PathBuf::from(s)
    }
}

/// The dump a sidecar's key belongs to, and which sidecar it is; `None` when `key` is not a
/// sidecar of a dump's name.
pub fn sidecar_of(key: &str) -> Option<(&str, Sidecar)> {
    [Sidecar::Manifest, Sidecar::Checksum]
        .into_iter()
        .find_map(|s| key.strip_suffix(s.suffix()).map(|d| (d, s)))
        .filter(|(d, _)| is_dump_name(base_name(d)))
}

/// `DUMP.sha256`.
pub fn checksum_path(dump: &Path) -> PathBuf {
    Sidecar::Checksum.path(dump)
}

/// `DUMP.json`.
pub fn manifest_path(dump: &Path) -> PathBuf {
    Sidecar::Manifest.path(dump)
}

/// Whether a name is hidden: temporary files (`d1_core::atomic`), lock files. Never a backup.
pub fn is_hidden(name: &str) -> bool {
    base_name(name).starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_include_encrypted_copies() {
        for n in ["a.sql", "a.sql.zst", "a.sql.age", "a.sql.zst.age"] {
            assert!(is_dump_name(n), "{n}");
        }
        for n in [
            ".sql",
            "a.sql.json",
            "a.sql.age.json",
            "a.age",
            "a.zst",
            "a.sql.sha256",
        ] {
            assert!(!is_dump_name(n), "{n}");
        }
        assert_eq!(clear_name("a.sql.zst.age"), "a.sql.zst");
        assert_eq!(encrypted_name("p/a.sql"), "p/a.sql.age");
    }

    #[test]
    fn sidecars_are_named_after_their_dump_for_keys_and_paths() {
        assert_eq!(Sidecar::Checksum.key("p/a.sql"), "p/a.sql.sha256");
        assert_eq!(
            manifest_path(Path::new("b/x.sql.zst")),
            PathBuf::from("b/x.sql.zst.json")
        );
        assert_eq!(
            checksum_path(Path::new("x.sql")),
            PathBuf::from("x.sql.sha256")
        );
        assert_eq!(
            sidecar_of("p/a.sql.zst.age.json"),
            Some(("p/a.sql.zst.age", Sidecar::Manifest))
        );
        assert_eq!(
            sidecar_of("a.sql.sha256"),
            Some(("a.sql", Sidecar::Checksum))
        );
        assert_eq!(sidecar_of("notes.json"), None);
        assert_eq!(base_name("p/q/a.sql"), "a.sql");
        assert!(is_hidden("p/.d1-prune.lock") && !is_hidden(".p/a.sql"));
    }
}
