//! A backup's three files taken together: the dump, its checksum and its manifest, put in place
//! as a set so that every crash point leaves either the old complete set or the new one, never
//! a dump without its sidecars (`d1_core::atomic::commit_set`); and read back from a store as a
//! set whose checksum and manifest agree.

use crate::checksum;
use crate::manifest::{Manifest, MAX_BYTES};
use crate::names::{checksum_path, manifest_path, Sidecar};
use crate::store::Store;
use d1_core::atomic::{self, AtomicFile};
use d1_core::{Error, Result};
use std::path::PathBuf;

/// Puts a dump written to its temporary file (`dump`) in place with its checksum file and its
/// manifest: both sidecars are written and fsynced before the first rename, and the dump is
/// renamed last. Returns the dump's path.
pub fn put_in_place(
    dump: AtomicFile,
    manifest: &Manifest,
    sha256: &str,
    force: bool,
) -> Result<PathBuf> {
    let target = dump.target().to_path_buf();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let json = manifest_path(&target);
    let sidecars = (|| {
        let text = manifest.to_text(&json.display().to_string())?;
        let sha = atomic::small(
            &checksum_path(&target),
            checksum::line(sha256, &name).as_bytes(),
            force,
        )?;
        Ok::<_, d1_core::Error>([sha, atomic::small(&json, text.as_bytes(), force)?])
    })()
    .map_err(|e| e.context("writing the checksum and manifest (nothing was replaced)"))?;
    let [sha, json] = sidecars;
    Ok(atomic::commit_set(vec![sha, json, dump], force)?
        .pop()
        .unwrap_or(target))
}

/// The SHA-256 of the dump `key` in `store` and its manifest, which must agree: the checksum
/// file names the stored bytes, and the manifest records them as its `sha256` (an encrypted
/// copy's as `encryption.ciphertext_sha256`, its `sha256` being the plaintext's).
pub fn read_sidecars(store: &dyn Store, key: &str) -> Result<(String, Manifest)> {
    let shown = store.shown(key);
    let read = |sidecar: Sidecar, limit: u64| -> Result<(Vec<u8>, String)> {
        let k = sidecar.key(key);
        let shown_side = store.shown(&k);
        match store.read_small(&k, limit)? {
            Some(b) => Ok((b, shown_side)),
            None => Err(Error::failed(format!(
                "{shown}: no {shown_side} beside it: not a complete backup"
            ))),
        }
    };
    let (text, at) = read(Sidecar::Checksum, checksum::MAX_BYTES)?;
    let sha256 = checksum::parse(&text, &at)?;
    let (bytes, at) = read(Sidecar::Manifest, MAX_BYTES)?;
    let manifest = Manifest::from_bytes(&bytes, &at)?;
    let recorded = match manifest.encryption.get() {
        Some(e) if crate::names::is_encrypted_name(key) => e.ciphertext_sha256.as_deref(),
        _ => manifest.sha256(),
    };
    if recorded != Some(sha256.as_str()) {
        return Err(Error::failed(format!(
            "{shown}: the manifest and the .sha256 file disagree; not fetched"
        )));
    }
    Ok((sha256, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_set_goes_in_place_with_a_sha256sum_line_and_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.sql");
        let mut f = AtomicFile::create(&target, false).unwrap();
        f.write_all(b"SQL").unwrap();
        let mut m = Manifest::default();
        m.set_bookmark("bm");
        let p = put_in_place(f, &m, "ab", false).unwrap();
        assert_eq!(p, target);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("x.sql.sha256")).unwrap(),
            "ab  x.sql\n"
        );
        let back = Manifest::load(&dir.path().join("x.sql.json"))
            .unwrap()
            .unwrap();
        assert_eq!(back.bookmark(), Some("bm"));
    }
}
