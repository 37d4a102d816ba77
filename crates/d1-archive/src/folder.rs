//! A folder as a [`Store`]: one folder, its files (not its subfolders: [`folders`] lists them),
//! written through d1-core's atomic files and locked with `flock`.

use crate::store::{Entry, EntryKind, Lock, Source, Store, Written, LOCK_NAME};
use d1_core::atomic::{self, AtomicFile};
use d1_core::hashing::Hashing;
use d1_core::retry::Deadline;
use d1_core::{Error, Result};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    dir: PathBuf,
}

impl Folder {
    /// The folder `dir`, named as the user named it (paths are shown under that name).
    pub fn new(dir: impl Into<PathBuf>) -> Folder {
        Folder { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }
}

/// The folders to look in: each root, and with `recursive` every folder below it (hidden
/// folders and symbolic links excepted), each once, in the order of their canonical paths (the
/// one order every run locks them in, so that two runs over overlapping folders cannot
/// deadlock). A root that is not a folder is bad input.
pub fn folders(roots: &[PathBuf], recursive: bool) -> Result<Vec<Folder>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = Vec::new();
    for r in roots {
        let meta =
            std::fs::metadata(r).map_err(|e| Error::usage(format!("{}: {e}", r.display())))?;
        if !meta.is_dir() {
            return Err(Error::usage(format!("{} is not a folder", r.display())));
        }
        todo.push(r.clone());
    }
    while let Some(dir) = todo.pop() {
        let canon = std::fs::canonicalize(&dir)
            .map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?;
        if !seen.insert(canon.clone()) {
            continue;
        }
        if recursive {
            for entry in read_dir(&dir)? {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(entry.path());
                }
            }
        }
        out.push((canon, Folder::new(dir)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, f)| f).collect())
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    let mut v = Vec::new();
    for e in rd {
        v.push(e.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?);
    }
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// Opens `path` for reading without following a symbolic link at its name.
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The whole of a small file, refused when larger than `limit` (never cut short); `Ok(None)`
/// when there is none.
pub fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let shown = path.display();
    let file = match open_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::failed(format!("cannot read {shown}: {e}"))),
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Error::failed(format!("{shown} is not a regular file")));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {shown}"), e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::failed(format!(
            "{shown}: larger than {limit} bytes: not a file of these tools"
        )));
    }
    Ok(Some(bytes))
}

fn modified(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

impl Store for Folder {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn shown(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn list(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in read_dir(&self.dir)? {
            // Not followed: a link is not a backup's file, whatever it points at.
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                continue;
            }
            let name = e.file_name();
            let (key, kind) = match name.to_str() {
                Some(n) if meta.is_file() => (n.to_string(), EntryKind::File),
                Some(n) => (n.to_string(), EntryKind::Other),
                None => (name.to_string_lossy().into_owned(), EntryKind::BadName),
            };
            out.push(Entry {
                key,
                size: meta.len(),
                modified: modified(&meta),
                kind,
            });
        }
        Ok(out)
    }

    fn read_small(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        read_small(&self.path(key), limit)
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>> {
        let p = self.path(key);
        let f = open_nofollow(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::failed(format!("{}: no such file", p.display()))
            } else {
                Error::io(format!("opening {}", p.display()), e)
            }
        })?;
        Ok(Box::new(f))
    }

    fn write(&self, key: &str, source: Source) -> Result<Written> {
        let target = self.path(key);
        match source {
            Source::Bytes(b) => {
                atomic::write_small(&target, b, true)?;
                Ok(Written {
                    size: b.len() as u64,
                    etag: String::new(),
                    parts: 1,
                })
            }
            Source::File { path, sha256 } => {
                let size = copy_checked(path, &target, sha256)?;
                Ok(Written {
                    size,
                    etag: String::new(),
                    parts: 1,
                })
            }
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            // Already gone (removed by hand meanwhile): the goal is reached.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", p.display()), e)),
        }
    }

    fn sync(&self) -> Result<()> {
        atomic::sync_dir(&self.dir)
    }

    /// An exclusive `flock` on `.d1-prune.lock` in the folder, held until dropped (the kernel
    /// drops it if the process dies, so a crash leaves no stale lock).
    fn lock(&self, deadline: &Deadline) -> Result<Lock> {
        let path = self.path(LOCK_NAME);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            // A symbolic link planted at the lock's name is refused, not followed.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io(format!("creating the lock file {}", path.display()), e))?;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock::new(file)),
                Err(TryLockError::WouldBlock) => {
                    if !told {
                        d1_core::msg::info(&format!(
                            "waiting for another d1-prune in {} to finish",
                            self.dir.display()
                        ));
                        told = true;
                    }
                    d1_core::retry::sleep(
                        Duration::from_millis(100),
                        deadline,
                        &format!("another d1-prune holds {}", path.display()),
                    )?;
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()), e))
                }
            }
        }
    }
}

/// Copies `src` to `target` atomically, hashing on the way: bytes that are not `sha256`'s are
/// refused and nothing is left at the target.
fn copy_checked(src: &Path, target: &Path, sha256: &str) -> Result<u64> {
    let input = File::open(src).map_err(|e| Error::io(format!("opening {}", src.display()), e))?;
    let mut out = Hashing::new(AtomicFile::create(target, true)?);
    std::io::copy(&mut StopAtSignal(input), &mut out).map_err(|e| {
        Error::io(
            format!("copying {} to {}", src.display(), target.display()),
            e,
        )
    })?;
    let (file, size, got) = out
        .finish()
        .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
    if got != sha256 {
        return Err(Error::failed(format!(
            "{}: its SHA-256 is {got} but the manifest says {sha256}: the file changed since it was verified; not copied",
            src.display()
        )));
    }
    file.commit(true)?;
    Ok(size)
}

/// A reader that stops between two reads once SIGINT, SIGTERM or SIGHUP arrived (the error
/// becomes exit 130: `Error::io` looks at the signal).
struct StopAtSignal<R>(R);

impl<R: Read> Read for StopAtSignal<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if d1_core::signal::interrupted() {
            return Err(std::io::Error::other("interrupted"));
        }
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_folders_are_listed_once_without_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["x", "x/y", ".hidden", "z"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let got = folders(&[d.to_path_buf(), d.join("x")], true).unwrap();
        let rel: Vec<String> = got
            .iter()
            .map(|f| f.dir().strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["", "x", "x/y", "z"]);
        assert_eq!(folders(&[d.to_path_buf()], false).unwrap().len(), 1);
        let e = folders(&[d.join("nope")], false).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
    }

    #[test]
    fn a_symlink_at_the_lock_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_NAME)).unwrap();
        assert!(Folder::new(dir.path()).lock(&Deadline::none()).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn links_and_odd_names_are_listed_as_not_files() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.sql"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("a.sql"), d.join("b.sql")).unwrap();
        std::fs::write(d.join(std::ffi::OsStr::from_bytes(b"c\xff.sql")), "x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let kinds: Vec<EntryKind> = Folder::new(d)
            .list()
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [EntryKind::File, EntryKind::Other, EntryKind::BadName]
        );
        let e = read_small(&d.join("b.sql"), 10).unwrap_err();
        assert!(e.message.starts_with("cannot read"), "{}", e.message);
    }
}
