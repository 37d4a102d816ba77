//! One d1-prune at a time per folder: an exclusive `flock` on `.d1-prune.lock` in every folder
//! it prunes, taken before the folder is read and held until the run ends (the kernel drops it
//! if the process dies, so a crash leaves no stale lock). Folders are locked in one global order
//! (sorted canonical paths), so two runs over overlapping folders cannot deadlock. A second run
//! waits and then sees the first run's result, never a half-read folder.

use d1_core::retry::Deadline;
use d1_core::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LOCK_FILE: &str = ".d1-prune.lock";

/// Held locks; dropping them releases them.
#[derive(Debug)]
pub struct Locks {
    _files: Vec<File>,
}

/// Locks every folder of `dirs`, waiting for another run to finish (until `deadline`: then
/// exit 75, a scheduler may try again later).
pub fn lock_all(dirs: &[PathBuf], deadline: &Deadline) -> Result<Locks> {
    let mut order: Vec<(PathBuf, &Path)> = dirs
        .iter()
        .map(|d| {
            (
                std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()),
                d.as_path(),
            )
        })
        .collect();
    order.sort();
    order.dedup_by(|a, b| a.0 == b.0);
    let mut files = Vec::new();
    for (_, dir) in order {
        files.push(lock_one(dir, deadline)?);
    }
    Ok(Locks { _files: files })
}

fn lock_one(dir: &Path, deadline: &Deadline) -> Result<File> {
    let path = dir.join(LOCK_FILE);
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
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {
                if !told {
                    d1_core::msg::info(&format!(
                        "waiting for another d1-prune in {} to finish",
                        dir.display()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_waits_until_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let held = lock_all(&dirs, &Deadline::none()).unwrap();
        let e = lock_all(&dirs, &Deadline::after(Some(Duration::from_millis(250)))).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Temporary, "{}", e.message);
        drop(held);
        lock_all(&dirs, &Deadline::after(Some(Duration::from_millis(250)))).unwrap();
    }

    #[test]
    fn a_symlink_at_the_lock_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        assert!(lock_all(&[dir.path().to_path_buf()], &Deadline::none()).is_err());
        assert!(!target.exists());
    }
}
