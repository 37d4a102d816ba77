//! Removing dumps with their sidecars, in the one order that never leaves a dump without them:
//!
//! 1. the dumps (every one the run removes), then an fsync of each folder concerned: the
//!    removals are on disk before anything else goes;
//! 2. each `DUMP.sha256`;
//! 3. each `DUMP.json`, last: while it exists the leftovers are recognisably ours.
//!
//! A crash (or power cut) between any two steps leaves sidecars without a dump, never a dump
//! without its checksum or manifest: a dump without them could be neither verified
//! (`sha256sum -c`, d1-verify) nor pruned (no manifest, not ours), and would sit there for ever,
//! looking like a backup. Sidecars without a dump hold no data; the next run sees the manifest
//! without its dump ([`crate::scan::Orphan`]) and finishes the job (steps 2 and 3).
//! The other order (sidecars first) would leave exactly the dump nobody can trust.
//! One fsync per folder rather than per dump: a first run over years of dumps removes thousands,
//! and a folder fsync costs milliseconds (7.6 ms measured on the test machine): one per dump
//! made 9 420 removals take 72 s.

use crate::scan::sidecar;
use d1_core::{atomic, Error, Result};
use std::io::ErrorKind;
use std::path::Path;

fn unlink(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        // Already gone (removed by hand meanwhile): the goal is reached.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", p.display()), e)),
    }
}

fn folder(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Step 1 for one dump; the caller syncs its folder ([`sync`]) before [`finish`].
pub fn remove_dump_file(dump: &Path) -> Result<()> {
    unlink(dump)
}

/// Steps 1–3 for one dump on its own.
pub fn remove_dump(dump: &Path) -> Result<()> {
    unlink(dump)?;
    atomic::sync_dir(folder(dump))?;
    finish(dump)
}

/// Steps 2 and 3: the sidecars of a dump that is gone.
pub fn finish(dump: &Path) -> Result<()> {
    unlink(&sidecar(dump, "sha256"))?;
    unlink(&sidecar(dump, "json"))
}

/// Makes the removals in `dir` durable.
pub fn sync(dir: &Path) -> Result<()> {
    atomic::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_goes_with_both_sidecars_and_a_missing_sidecar_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a.sql");
        for p in [d.clone(), sidecar(&d, "sha256"), sidecar(&d, "json")] {
            std::fs::write(p, "x").unwrap();
        }
        std::fs::remove_file(sidecar(&d, "sha256")).unwrap();
        remove_dump(&d).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_dump_that_cannot_be_removed_keeps_its_sidecars() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ro");
        std::fs::create_dir(&sub).unwrap();
        let d = sub.join("a.sql");
        for p in [d.clone(), sidecar(&d, "sha256"), sidecar(&d, "json")] {
            std::fs::write(p, "x").unwrap();
        }
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o500)).unwrap();
        let r = remove_dump(&d);
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Root may remove from a read-only folder; the property holds either way.
        if r.is_err() {
            assert!(d.exists() && sidecar(&d, "sha256").exists() && sidecar(&d, "json").exists());
        }
    }
}
