//! The two files written beside every dump: `DUMP.sha256` in `sha256sum` format (so that
//! `sha256sum -c` works from the folder) and `DUMP.json`, a manifest saying what the file is and
//! where it came from. The URL is kept without its query: the signature is a secret.

use crate::output::Paths;
use crate::sink::Digests;
use d1_core::atomic::{self, AtomicFile};
use d1_core::time::Utc;
use d1_core::Result;
use serde_json::{json, Value};
use std::path::Path;

/// Scheme, host and path of a URL; no credentials, query or fragment.
pub fn url_without_query(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let u = &url[..cut];
    match u.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => u.to_string(),
    }
}

/// The last path segment of the URL: the name the export gave the dump.
pub fn source_filename(url: &str) -> String {
    let u = url_without_query(url);
    let path = u.split_once("://").map(|(_, r)| r).unwrap_or(&u);
    match path.split_once('/') {
        Some((_, p)) => p.rsplit('/').next().unwrap_or_default().to_string(),
        None => String::new(),
    }
}

/// What `d1-export-wait --json` measured about the export, when the input line was its JSON:
/// carried into the manifest so that export times and database sizes can be plotted over time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    pub elapsed_seconds: Option<f64>,
    pub polls: Option<u64>,
    /// The database's size as the API reported it (`file_size`): the trend towards D1's limit.
    pub file_size: Option<u64>,
}

impl Export {
    /// Reads the fields from a `d1-export-wait --json` object; absent or `null` stay `None`.
    pub fn from_json(v: &Value) -> Export {
        Export {
            elapsed_seconds: v["elapsed_seconds"].as_f64(),
            polls: v["polls"].as_u64(),
            file_size: v["file_size"].as_u64(),
        }
    }
}

pub struct Facts<'a> {
    pub database: Option<&'a str>,
    pub name: Option<&'a str>,
    pub bookmark: Option<&'a str>,
    pub export: &'a Export,
    pub url: &'a str,
    pub digests: &'a Digests,
    pub zstd: Option<i32>,
    pub fetched_at: &'a Utc,
    pub md5_checked: bool,
}

pub fn build(f: &Facts) -> Value {
    let d = f.digests;
    let mut m = json!({
        "database_id": f.database,
        "database_name": f.name,
        "bookmark": f.bookmark,
        "source_filename": source_filename(f.url),
        "url": url_without_query(f.url),
        "stored_bytes": d.stored_bytes,
        "sql_bytes": d.sql_bytes,
        "sha256": d.stored_sha256,
        "sql_sha256": d.sql_sha256,
        "compression": if f.zstd.is_some() { "zstd" } else { "none" },
        "etag_md5_checked": f.md5_checked,
        "fetched_at": f.fetched_at.rfc3339(),
        // The signed URL is fetched the moment the export completes (the pipeline flows), so
        // this is when the backup's data was taken; d1-prune orders backups by it.
        "exported_at": f.fetched_at.rfc3339(),
        "d1_fetch_version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(level) = f.zstd {
        m["zstd_level"] = json!(level);
    }
    if let Some(s) = f.export.elapsed_seconds {
        m["export_elapsed_seconds"] = json!(s);
    }
    if let Some(n) = f.export.polls {
        m["export_polls"] = json!(n);
    }
    if let Some(n) = f.export.file_size {
        m["database_file_size"] = json!(n);
    }
    if let Some(e) = &d.encrypted {
        crate::encrypt::manifest_fields(&mut m, e);
    }
    m
}

/// `HEX  NAME\n`, NAME without its folder.
pub fn sha256_line(hex: &str, dump: &Path) -> String {
    let name = dump
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{hex}  {name}\n")
}

/// Writes both sidecars to their temporary names, not yet in place: the caller commits them
/// with the dump (`atomic::commit_set`), the dump last.
pub fn sidecars(
    paths: &Paths,
    manifest: &Value,
    stored_sha256: &str,
    force: bool,
) -> Result<[AtomicFile; 2]> {
    let sha = atomic::small(
        &paths.sha256,
        sha256_line(stored_sha256, &paths.dump).as_bytes(),
        force,
    )?;
    let mut text = serde_json::to_string_pretty(manifest).unwrap_or_default();
    text.push('\n');
    Ok([sha, atomic::small(&paths.manifest, text.as_bytes(), force)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query_and_credentials() {
        let u = "https://user:pw@bucket.example/dumps/a%20b.sql?X-Amz-Signature=s3cret#f";
        assert_eq!(
            url_without_query(u),
            "https://bucket.example/dumps/a%20b.sql"
        );
        assert_eq!(source_filename(u), "a%20b.sql");
        assert_eq!(source_filename("http://127.0.0.1:9/x.sql?sig=1"), "x.sql");
        assert_eq!(source_filename("http://127.0.0.1:9"), "");
    }

    #[test]
    fn checksum_line_is_sha256sum_format() {
        assert_eq!(sha256_line("ab", Path::new("backups/x.sql")), "ab  x.sql\n");
    }
}
