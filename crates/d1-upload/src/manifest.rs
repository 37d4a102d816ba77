//! The manifest (DUMP.json) as d1-upload reads and writes it: the one beside each dump must be
//! there (d1_archive says whether it makes a good backup), and where its off-site copies went
//! is appended to its `uploads`, atomically.

pub use d1_archive::manifest::MAX_BYTES;
use d1_archive::manifest::{Manifest, Upload};
use d1_archive::names;
use d1_core::{Error, Result};
use std::path::Path;

/// The manifest beside `dump`; a dump without one is not a backup d1-upload can vouch for.
pub fn read(dump: &Path) -> Result<Manifest> {
    let p = names::manifest_path(dump);
    Manifest::load(&p)?.ok_or_else(|| {
        Error::failed(format!(
            "{}: no manifest beside the dump (d1-fetch writes it, d1-verify adds its verdict)",
            p.display()
        ))
    })
}

/// Appends one entry to the manifest's `uploads`, atomically.
pub fn add_upload(dump: &Path, entry: Upload) -> Result<()> {
    let p = names::manifest_path(dump);
    let found = Manifest::update(&p, |m| m.add_upload(entry))
        .map_err(|e| e.context("recording the upload in the manifest"))?;
    if !found {
        return Err(Error::failed(format!(
            "{}: the manifest is gone",
            p.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_archive::Field;

    #[test]
    fn uploads_are_appended_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("x.sql");
        std::fs::write(
            names::manifest_path(&dump),
            r#"{"sha256":"s","database_id":"d"}"#,
        )
        .unwrap();
        let up = |url: &str| Upload {
            url: Field::Set(url.into()),
            ..Upload::default()
        };
        add_upload(&dump, up("s3://b/x.sql")).unwrap();
        add_upload(&dump, up("s3://c/x.sql")).unwrap();
        let m = read(&dump).unwrap();
        assert_eq!(m.database_id(), Some("d"));
        let uploads = m.uploads.get().unwrap();
        assert_eq!(uploads.len(), 2);
        assert_eq!(uploads[1].url.as_deref(), Some("s3://c/x.sql"));
    }
}
