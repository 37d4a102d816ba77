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
    /// `-` is stdout; a trailing `/` or an existing folder is a folder; anything else a file.
    /// No `-o` means the current folder.
    pub fn from_arg(arg: Option<&OsStr>) -> Output {
        let Some(a) = arg else {
            return Output::Dir(PathBuf::from("."));
        };
        if a == "-" {
            return Output::Stdout;
        }
        let p = PathBuf::from(a);
        if a.as_encoded_bytes().ends_with(b"/") || p.is_dir() {
            Output::Dir(p)
        } else {
            Output::File(p)
        }
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
        let with = |ext: &str| {
            let mut s = dump.clone().into_os_string();
            s.push(ext);
            PathBuf::from(s)
        };
        Paths {
            sha256: with(".sha256"),
            manifest: with(".json"),
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

/// `DATABASE_ID-YYYYMMDDTHHMMSSZ.sql` (`dump-…` without an id), `.sql.zst` when compressed.
/// In the current folder the bare name is used, so the printed path stays short.
pub fn name_in(dir: &Path, database: Option<&str>, zstd: bool, now: &Utc) -> PathBuf {
    let name = format!(
        "{}-{}.sql{}",
        database.unwrap_or("dump"),
        now.compact(),
        if zstd { ".zst" } else { "" }
    );
    if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
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
        assert_eq!(Output::from_arg(None), Output::Dir(".".into()));
        assert_eq!(Output::from_arg(Some(OsStr::new("-"))), Output::Stdout);
        assert_eq!(
            Output::from_arg(Some(OsStr::new("b/"))),
            Output::Dir("b/".into())
        );
        assert_eq!(
            Output::from_arg(Some(OsStr::new("/"))),
            Output::Dir("/".into())
        );
        assert_eq!(
            Output::from_arg(Some(OsStr::new("x.sql"))),
            Output::File("x.sql".into())
        );
    }

    #[test]
    fn names_carry_the_database_and_the_utc_time() {
        let t = Utc::from_unix(1_709_210_096);
        assert_eq!(
            name_in(Path::new("."), Some("db1"), false, &t),
            PathBuf::from("db1-20240229T123456Z.sql")
        );
        assert_eq!(
            name_in(Path::new("b"), None, true, &t),
            PathBuf::from("b/dump-20240229T123456Z.sql.zst")
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
