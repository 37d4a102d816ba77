//! How every download ends, a signed URL's or an off-site copy's (`s3.rs`): the dump put in
//! place with its checksum and manifest, the dump last, then its record printed.

use crate::args::Args;
use d1_archive::Manifest;
use d1_core::atomic::AtomicFile;
use d1_core::record;
use d1_core::{pipe, Result};

/// Puts a fetched dump in place with its checksum and manifest (the dump last) and prints its
/// record: how every download ends, a signed URL's or an off-site copy's.
pub fn finish(args: &Args, file: AtomicFile, manifest: &Manifest, sha256: &str) -> Result<()> {
    let path = d1_archive::set::put_in_place(file, manifest, sha256, args.force)?;
    let path = path.display().to_string();
    if args.common.json {
        let mut m = manifest.to_value();
        m["path"] = path.into();
        return record::emit_json(&m);
    }
    let field = |v: Option<&str>| v.map_or("-".into(), pipe::safe_field);
    match manifest.database_id() {
        Some(id) => record::emit(&[&field(Some(id)), &field(manifest.database_name()), &path]),
        None => record::emit(&[&path]),
    }
}
