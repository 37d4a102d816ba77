//! The manifest of a dump fetched from a signed URL: what the file is and where it came from
//! (d1_archive writes it beside the dump with the checksum file). The URL is kept without its
//! query: the signature is a secret.

use crate::sink::Digests;
use d1_archive::{Field, Manifest};
use d1_core::time::Utc;
use serde_json::Value;

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
    /// The export's Time Travel bookmark, when the input record carried one.
    pub bookmark: Option<&'a str>,
    pub export: &'a Export,
    pub url: &'a str,
    pub digests: &'a Digests,
    pub zstd: Option<i32>,
    pub fetched_at: &'a Utc,
    pub md5_checked: bool,
}

pub fn build(f: &Facts) -> Manifest {
    let d = f.digests;
    let text = |s: &str| Field::Set(s.to_string());
    let mut m = Manifest {
        database_id: f.database.map(str::to_string).into(),
        database_name: f.name.map(str::to_string).into(),
        source_filename: Field::Set(source_filename(f.url)),
        url: Field::Set(url_without_query(f.url)),
        stored_bytes: Field::Set(d.stored_bytes),
        sql_bytes: Field::Set(d.sql_bytes),
        sha256: text(&d.stored_sha256),
        sql_sha256: text(&d.sql_sha256),
        compression: text(if f.zstd.is_some() { "zstd" } else { "none" }),
        etag_md5_checked: Field::Set(f.md5_checked),
        fetched_at: Field::Set(f.fetched_at.rfc3339()),
        // The signed URL is fetched the moment the export completes (the pipeline flows), so
        // this is when the backup's data was taken; d1-prune orders backups by it.
        exported_at: Field::Set(f.fetched_at.rfc3339()),
        d1_fetch_version: text(env!("CARGO_PKG_VERSION")),
        zstd_level: f.zstd.map(i64::from).map_or(Field::Absent, Field::Set),
        export_elapsed_seconds: f.export.elapsed_seconds.map_or(Field::Absent, Field::Set),
        export_polls: f.export.polls.map_or(Field::Absent, Field::Set),
        database_file_size: f.export.file_size.map_or(Field::Absent, Field::Set),
        ..Manifest::default()
    };
    if let Some(b) = f.bookmark {
        m.set_bookmark(b);
    }
    if let Some(e) = &d.encrypted {
        crate::encrypt::manifest_fields(&mut m, e);
    }
    m
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
}
