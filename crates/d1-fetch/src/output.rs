//! Where a dump goes: a file, a folder (named after the database and the time), or stdout;
//! and the checks made before any byte is downloaded (URLs are perishable: better to fail at
//! once than after ten minutes of transfer).

use d1_core::time::Utc;
use d1_core::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The `-o` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    /// One named file: one record only.
    File(PathBuf),
    /// A folder: one file per record, named by [`name_in`].
    Dir(PathBuf),
}

impl Output {
    /// `-` is stdout; a trailing `/` or an existing folder is a folder; a name ending in
    /// `.sql` or `.zst`, or an existing file, is a file. Anything else is refused: `-o backups`
    /// meant as a folder must not become a file called `backups` (that the next night refuses).
    /// No `-o` means the current folder.
    pub fn from_arg(arg: Option<&OsStr>) -> Result<Output> {
        let Some(a) = arg else {
            return Ok(Output::Dir(PathBuf::from(".")));
        };
        if a == "-" {
            return Ok(Output::Stdout);
        }
        let p = PathBuf::from(a);
        let bytes = a.as_encoded_bytes();
        if bytes.ends_with(b"/") || p.is_dir() {
            Ok(Output::Dir(p))
        } else if [&b".sql"[..], b".zst", b".age"]
            .iter()
            .any(|e| bytes.ends_with(e))
            || p.is_file()
        {
            Ok(Output::File(p))
        } else {
            Err(Error::usage(format!(
                "-o {}: no such folder, and not a .sql, .sql.zst or .age file name; write {}/ \
                 to create a folder",
                p.display(),
                p.display()
            )))
        }
    }

    /// A plain record is fields separated by spaces (docs/records.md): a path with a space or a
    /// control character in it would reach the next tool cut in two. Refused before any
    /// download, unless `--json` carries the path whole.
    /// A file's name says how it is stored: `.zst` with `--zstd`, not without (a `.sql.zst` of
    /// plain SQL, or a `.sql` of zstd frames, misleads whoever restores it).
    pub fn matches_compression(self, zstd: bool) -> Result<Output> {
        if let Output::File(p) = &self {
            // An encrypted dump's name is the clear one plus `.age` (encrypt.rs checks that).
            let name = p.as_os_str().as_encoded_bytes();
            let named_zst = name
                .strip_suffix(b".age")
                .unwrap_or(name)
                .ends_with(b".zst");
            if named_zst != zstd {
                return Err(Error::usage(format!(
                    "-o {}: {}",
                    p.display(),
                    if zstd {
                        "--zstd writes zstd: name the file .sql.zst"
                    } else {
                        "a .zst name needs --zstd (the dump would be plain SQL)"
                    }
                )));
            }
        }
        Ok(self)
    }

    pub fn printable(self, json: bool) -> Result<Output> {
        let path = match &self {
            Output::File(p) | Output::Dir(p) => p,
            Output::Stdout => return Ok(self),
        };
        let text = path.to_string_lossy();
        if !json && text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::usage(format!(
                "-o {text:?}: a path with a space cannot travel in a plain record to the next \
                 tool; choose one without, or use --json"
            )));
        }
        Ok(self)
    }

    /// Whether this output can take only one dump.
    pub fn single(&self) -> bool {
        !matches!(self, Output::Dir(_))
    }
}

/// A dump file and its two sidecars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dump: PathBuf,
    pub sha256: PathBuf,
    pub manifest: PathBuf,
}

impl Paths {
    pub fn for_dump(dump: PathBuf) -> Paths {
        Paths {
            sha256: d1_archive::names::checksum_path(&dump),
            manifest: d1_archive::names::manifest_path(&dump),
            dump,
        }
    }

    pub fn all(&self) -> [&Path; 3] {
        [&self.dump, &self.sha256, &self.manifest]
    }

    /// Refuses, before downloading, to replace any of the three files without `--force`.
    pub fn check_free(&self, force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        for p in self.all() {
            if p.symlink_metadata().is_ok() {
                return Err(Error::usage(format!(
                    "{} already exists (use --force to overwrite)",
                    p.display()
                )));
            }
        }
        Ok(())
    }
}

/// `NAME-YYYYMMDDTHHMMSSZ.sql` (`.sql.zst` when compressed): the name people know the database
/// by (the UUID stays in the manifest). A name that is not a safe file name as it is, or no
/// name, gets the first 8 characters of the id appended, so that two databases whose names
/// differ only in unsafe characters do not collide; no name and no id: `dump-…`.
/// In the current folder the bare name is used, so the printed path stays short.
pub fn name_in(
    dir: &Path,
    database: Option<&str>,
    name: Option<&str>,
    zstd: bool,
    now: &Utc,
) -> PathBuf {
    let stem = match (name.filter(|n| !n.is_empty()), database) {
        (Some(n), id) => {
            let safe = safe_name(n);
            match id {
                Some(id) if safe != n => format!("{safe}-{}", short_id(id)),
                _ => safe,
            }
        }
        (None, Some(id)) => id.to_string(),
        (None, None) => "dump".to_string(),
    };
    let file = format!(
        "{stem}-{}.sql{}",
        now.compact(),
        if zstd { ".zst" } else { "" }
    );
    if dir == Path::new(".") {
        PathBuf::from(file)
    } else {
        dir.join(file)
    }
}

/// Letters, digits, `.`, `_` and `-` kept; anything else `_`; no leading dot or dash (a hidden
/// file, an option); at most 64 characters.
fn safe_name(n: &str) -> String {
    let mut s: String = n
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    while s.starts_with(['.', '-']) {
        s.replace_range(..1, "_");
    }
    s
}

fn short_id(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect()
}

/// Creates the folder when missing (`-o backups/2025-01-31/`); a path that exists and is not a
/// folder is an error before any download.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if dir.symlink_metadata().is_ok() {
        return Err(Error::failed(format!("{} is not a folder", dir.display())));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating folder {}", dir.display()), e))
}

/// The database id becomes part of a file name: only the characters of D1 ids (UUIDs) and
/// names, so that a line like `../../etc/x URL` cannot write outside the folder.
pub fn check_database_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "database id {id:?} is not usable in a file name (letters, digits, '-', '_', '.')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_argument_forms() {
        let o = |a: &str| Output::from_arg(Some(OsStr::new(a)));
        assert_eq!(Output::from_arg(None).unwrap(), Output::Dir(".".into()));
        assert_eq!(o("-").unwrap(), Output::Stdout);
        assert_eq!(o("b/").unwrap(), Output::Dir("b/".into()));
        assert_eq!(o("/").unwrap(), Output::Dir("/".into()));
        assert_eq!(o("x.sql").unwrap(), Output::File("x.sql".into()));
        assert_eq!(o("x.sql.zst").unwrap(), Output::File("x.sql.zst".into()));
        assert!(o("my backups/").unwrap().printable(false).is_err());
        assert!(o("x.sql.zst").unwrap().matches_compression(false).is_err());
        assert!(o("x.sql").unwrap().matches_compression(true).is_err());
        assert!(o("x.sql.zst").unwrap().matches_compression(true).is_ok());
        assert!(o("my backups/").unwrap().printable(true).is_ok());
        let e = o("no-such-outdir").unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
        assert!(e
            .message
            .contains("write no-such-outdir/ to create a folder"));
    }

    #[test]
    fn names_carry_the_database_and_the_utc_time() {
        let t = Utc::from_unix(1_709_210_096);
        assert_eq!(
            name_in(Path::new("."), Some("db1"), None, false, &t),
            PathBuf::from("db1-20240229T123456Z.sql")
        );
        assert_eq!(
            name_in(Path::new("b"), None, None, true, &t),
            PathBuf::from("b/dump-20240229T123456Z.sql.zst")
        );
        let id = "6f0f5a3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
        assert_eq!(
            name_in(Path::new("b"), Some(id), Some("prod-db"), true, &t),
            PathBuf::from("b/prod-db-20240229T123456Z.sql.zst")
        );
        // Unsafe names are made safe and told apart by the id.
        assert_eq!(
            name_in(Path::new("."), Some(id), Some("../prod db"), false, &t),
            PathBuf::from("_._prod_db-6f0f5a3e-20240229T123456Z.sql")
        );
        let p = Paths::for_dump("b/x.sql".into());
        assert_eq!(p.sha256, PathBuf::from("b/x.sql.sha256"));
        assert_eq!(p.manifest, PathBuf::from("b/x.sql.json"));
    }

    #[test]
    fn database_ids_that_could_escape_the_folder_are_refused() {
        assert!(check_database_id("6f0f5a3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "-rf", "a b"] {
            assert!(check_database_id(bad).is_err(), "{bad:?}");
        }
    }
}
