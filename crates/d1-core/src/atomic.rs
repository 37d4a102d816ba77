//! Files that appear whole or not at all (docs/README.md, "Rules every tool keeps"): written to a
//! temporary name in the target folder with mode 0600, fsynced, renamed into place, the folder
//! fsynced. On any failure or signal the temporary file is removed (dropping an uncommitted
//! [`AtomicFile`] removes it).
//!
//! Temporary names are `.NAME.XXXXXX.part` (XXXXXX: 6 random letters and digits). A process
//! killed outright (SIGKILL, power loss) cannot remove its own: the first atomic write of a run
//! in a folder removes the files of exactly that pattern, owned by the same user, untouched for
//! [`STALE_AFTER`] — longer than any run lasts — and never anything else.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A temporary file untouched this long belongs to a run that died: no run writes a file for a
/// day without writing to it (the download's stall limit is a minute).
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Random characters in a temporary name.
const RANDOM_LEN: usize = 6;

pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`. Fails at once (before any download) when the target exists and
    /// `overwrite` is false, or the folder is not writable.
    pub fn create(target: &Path, overwrite: bool) -> Result<AtomicFile> {
        if !overwrite && target.symlink_metadata().is_ok() {
            return Err(Error::usage(format!(
                "{} already exists (use --force to overwrite)",
                target.display()
            )));
        }
        if target.is_dir() {
            return Err(Error::usage(format!("{} is a directory", target.display())));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = scratch(&parent_dir(target), &name)?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// fsync, rename into place (refusing to replace a file that appeared meanwhile unless
    /// `overwrite`), fsync the folder so the rename survives a crash.
    pub fn commit(self, overwrite: bool) -> Result<PathBuf> {
        self.sync()?;
        crate::signal::check()?;
        let target = self.rename(overwrite)?;
        sync_dir(&parent_dir(&target))?;
        Ok(target)
    }

    /// fsync the data, before any rename of a set of files (see [`commit_set`]).
    pub fn sync(&self) -> Result<()> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {}", self.target.display()), e))
    }

    /// Renames into place; no fsync, no signal check (the caller orders a set of renames).
    fn rename(self, overwrite: bool) -> Result<PathBuf> {
        let target = self.target.clone();
        let persisted = if overwrite {
            self.temp.persist(&target)
        } else {
            self.temp.persist_noclobber(&target)
        };
        persisted.map_err(|e| {
            // `e.file` is dropped here, which removes the temporary file.
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                // A collision, not a broken disk: the same exit code as a target that existed
                // before the run (docs: 2).
                return Error::usage(format!(
                    "{} appeared while this run wrote it (another run at the same time?)",
                    target.display()
                ));
            }
            Error::io(
                format!("moving the file into place at {}", target.display()),
                e.error,
            )
        })?;
        Ok(target)
    }
}

/// Puts a set of files in place that only make sense together (a dump and its sidecars), so
/// that every crash point leaves either the old complete set or the new one as far as can be:
/// every file is written and fsynced before the first rename (a full disk or a folder in the
/// way fails with nothing replaced); no signal is looked at between the renames; the files are
/// renamed in the order given, so the caller names the dump **last** (a crash in between
/// leaves sidecars without a dump, never a dump without its checksum). Without `overwrite`, a
/// collision on the first file fails before anything was renamed.
pub fn commit_set(files: Vec<AtomicFile>, overwrite: bool) -> Result<Vec<PathBuf>> {
    for f in &files {
        f.sync()?;
    }
    crate::signal::check()?;
    let mut done = Vec::new();
    for f in files {
        match f.rename(overwrite) {
            Ok(p) => done.push(p),
            Err(e) => {
                // Without overwrite these are ours alone: take them back.
                if !overwrite {
                    for p in &done {
                        let _ = std::fs::remove_file(p);
                    }
                }
                return Err(e);
            }
        }
    }
    if let Some(p) = done.first() {
        sync_dir(&parent_dir(p))?;
    }
    Ok(done)
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// A temporary file for `name` in `dir`, named by the one rule (`.NAME.XXXXXX.part`), mode
/// 0600, removed when dropped. [`AtomicFile`] renames it into place; a file that only passes
/// through the disk (a ciphertext on its way to a bucket, a download waiting to be decrypted)
/// uses it as it is, and is cleaned up like any other when a killed run leaves it.
pub fn scratch(dir: &Path, name: &str) -> Result<tempfile::NamedTempFile> {
    clean_once(dir);
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .rand_bytes(RANDOM_LEN)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))
}

/// The name a temporary file of ours stands for: `.NAME.XXXXXX.part` gives `NAME`; `None` for
/// any other name.
pub fn temp_target(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(".part")?;
    let (stem, random) = inner.rsplit_once('.')?;
    let ok = !stem.is_empty()
        && random.len() == RANDOM_LEN
        && random.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(stem)
}

/// Whether `name` is one of our temporary names: `.NAME.XXXXXX.part`.
pub fn is_temp_name(name: &str) -> bool {
    temp_target(name).is_some()
}

/// Removes our stale temporary files in `dir` (see the module comment); returns how many.
/// Errors are ignored: cleaning up is a courtesy, never a reason to fail a run.
pub fn remove_stale(dir: &Path, older_than: Duration) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temp_name) {
            continue;
        }
        // Not followed: a symlink of that name is not ours to judge.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > older_than);
        if meta.file_type().is_file()
            && meta.uid() == me
            && old
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// [`remove_stale`] once per folder per process, before the first temporary file there.
fn clean_once(dir: &Path) {
    static CLEANED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut done = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
    if !done.iter().any(|d| d == dir) {
        done.push(dir.to_path_buf());
        drop(done);
        remove_stale(dir, STALE_AFTER);
    }
}

/// The folder of `p` (`.` for a bare name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing folder {}", dir.display()), e))
}

/// Writes a small file (a sidecar, a manifest, a metrics file) atomically.
pub fn write_small(target: &Path, contents: &[u8], overwrite: bool) -> Result<()> {
    small(target, contents, overwrite)?.commit(overwrite)?;
    Ok(())
}

/// A small file written to its temporary name, not yet in place (for [`commit_set`]).
pub fn small(target: &Path, contents: &[u8], overwrite: bool) -> Result<AtomicFile> {
    let mut f = AtomicFile::create(target, overwrite)?;
    f.write_all(contents)
        .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn committed_file_is_0600_and_dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a.sql");
        let mut f = AtomicFile::create(&t, false).unwrap();
        f.write_all(b"x").unwrap();
        f.commit(false).unwrap();
        let mode = std::fs::metadata(&t).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let t2 = dir.path().join("b.sql");
        let mut f = AtomicFile::create(&t2, false).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only a.sql remains");
    }

    #[test]
    fn a_target_created_by_another_run_meanwhile_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("db-20261130T223000Z.sql");
        let mut first = AtomicFile::create(&t, false).unwrap();
        let mut second = AtomicFile::create(&t, false).unwrap();
        first.write_all(b"first").unwrap();
        second.write_all(b"second").unwrap();
        first.commit(false).unwrap();
        let e = second.commit(false).unwrap_err();
        assert_eq!(e.code(), crate::ExitCode::Usage);
        assert!(
            e.message.contains("db-20261130T223000Z.sql"),
            "{}",
            e.message
        );
        assert!(e.message.contains("another run"), "{}", e.message);
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_our_own_stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let day_old = std::time::SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        let mut names = Vec::new();
        for n in [
            ".db.sql.AbC123.part",
            ".x.sql.zst.json.q1W2e3.part",
            ".db.sql.AbC12.part",
            ".db.sql.AbC1234.part",
            "db.sql.AbC123.part",
            ".db.sql.AbC-23.part",
            "..AbC123.part",
            "keep.sql",
        ] {
            std::fs::write(p(n), "x").unwrap();
            let f = File::options().write(true).open(p(n)).unwrap();
            f.set_modified(day_old).unwrap();
            names.push(n);
        }
        std::fs::write(p(".fresh.sql.ZZZ999.part"), "x").unwrap();
        std::os::unix::fs::symlink(p("keep.sql"), p(".link.sql.LnK000.part")).unwrap();
        assert_eq!(remove_stale(dir.path(), STALE_AFTER), 2);
        assert!(!p(".db.sql.AbC123.part").exists());
        assert!(!p(".x.sql.zst.json.q1W2e3.part").exists());
        for kept in &names[2..] {
            assert!(p(kept).exists(), "{kept} was removed");
        }
        assert!(p(".fresh.sql.ZZZ999.part").exists());
        assert!(p(".link.sql.LnK000.part").symlink_metadata().is_ok());
        // The pattern is the one create() uses.
        let f = AtomicFile::create(&p("new.sql"), false).unwrap();
        let name = f
            .temp_path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(is_temp_name(&name), "{name}");
        assert_eq!(temp_target(&name), Some("new.sql"));
        let s = scratch(dir.path(), "x.sql.age").unwrap();
        let name = s.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_target(name), Some("x.sql.age"));
    }

    #[test]
    fn existing_target_is_refused_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a.sql");
        std::fs::write(&t, "old").unwrap();
        let e = AtomicFile::create(&t, false).err().unwrap();
        assert_eq!(e.code(), crate::ExitCode::Usage);
        assert!(e.message.contains("already exists"));
        write_small(&t, b"new", true).unwrap();
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "new");
    }

    #[test]
    fn a_set_goes_in_place_in_order_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let set = |names: &[&str]| -> Vec<AtomicFile> {
            names
                .iter()
                .map(|n| small(&p(n), n.as_bytes(), false).unwrap())
                .collect()
        };
        let done = commit_set(set(&["d.sql.sha256", "d.sql.json", "d.sql"]), false).unwrap();
        assert_eq!(done.last().unwrap(), &p("d.sql"), "the dump goes last");
        assert_eq!(std::fs::read_to_string(p("d.sql")).unwrap(), "d.sql");

        // Another run put e.sql in place meanwhile: our sidecars, already renamed, are taken
        // back, and nothing of ours stays beside the other run's dump.
        let files = set(&["e.sql.sha256", "e.sql.json", "e.sql"]);
        std::fs::write(p("e.sql"), "theirs").unwrap();
        let e = commit_set(files, false).unwrap_err();
        assert!(
            e.message.contains("appeared while this run wrote it"),
            "{}",
            e.message
        );
        assert_eq!(std::fs::read_to_string(p("e.sql")).unwrap(), "theirs");
        assert!(!p("e.sql.sha256").exists() && !p("e.sql.json").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
