//! `DUMP.json`, the backup's ledger: d1-fetch writes what the dump is, d1-verify adds its
//! verdict, d1-upload where the copies went; d1-prune, d1-upload and d1-ls decide from it.
//!
//! Typed, and tolerant: every field a tool of some version wrote is kept, known or not (`extra`),
//! and absent, `null` and set stay apart ([`Field`]), so that a manifest read and written back
//! unchanged is the same bytes, whichever version of the tools wrote it. The tools write it
//! pretty-printed with its keys in sorted order (serde_json's object), and so does [`to_text`].
//!
//! [`to_text`]: Manifest::to_text

use crate::field::Field;
use d1_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;

/// The one size limit of a manifest, on read and on write: a manifest is a few hundred bytes
/// (a few more per upload), so anything this large is not one of ours, and nothing larger is
/// ever written or uploaded.
pub const MAX_BYTES: u64 = 1 << 20;

macro_rules! manifest_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Field::is_absent")]
                pub $field: Field<$ty>,
            )*
            /// The fields this version does not know, kept as they were.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

manifest_struct! {
    /// A backup's manifest.
    pub struct Manifest {
        database_id: String,
        database_name: String,
        /// The name the export gave the dump (the signed URL's last segment).
        source_filename: String,
        /// Where it was fetched from, without the signed URL's query.
        url: String,
        /// Bytes of the file as stored (compressed, encrypted).
        stored_bytes: u64,
        sql_bytes: u64,
        /// SHA-256 of the file as stored: what its `.sha256` says.
        sha256: String,
        sql_sha256: String,
        compression: String,
        zstd_level: i64,
        etag_md5_checked: bool,
        fetched_at: String,
        /// When the backup's data was taken (RFC 3339).
        exported_at: String,
        d1_fetch_version: String,
        export_elapsed_seconds: f64,
        export_polls: u64,
        database_file_size: u64,
        /// The export's `at_bookmark`: D1's Time Travel point of the data.
        bookmark: String,
        encryption: Encryption,
        plaintext_bytes: u64,
        plaintext_sha256: String,
        verification: Verification,
        uploads: Vec<Upload>,
        restored_from: String,
        restored_at: String,
    }
}

manifest_struct! {
    /// How the dump (or its off-site copy) is encrypted.
    pub struct Encryption {
        format: String,
        recipients: Vec<String>,
        ciphertext_sha256: String,
        ciphertext_bytes: u64,
    }
}

manifest_struct! {
    /// d1-verify's verdict.
    pub struct Verification {
        /// `ok` or `failed`.
        status: String,
        verified_at: String,
        tool: String,
        version: String,
        /// The bytes the verdict is for.
        sha256: String,
        tables: u64,
        rows: u64,
        checks: Vec<String>,
        reason: String,
    }
}

manifest_struct! {
    /// One off-site copy d1-upload made.
    pub struct Upload {
        url: String,
        bucket: String,
        key: String,
        endpoint: String,
        etag: String,
        size: u64,
        sha256: String,
        parts: u64,
        uploaded_at: String,
        encrypted: bool,
        recipients: Vec<String>,
        ciphertext_sha256: String,
        d1_upload_version: String,
    }
}

fn text(f: &Field<String>) -> Option<&str> {
    f.as_deref().filter(|s| !s.is_empty())
}

impl Manifest {
    /// Reads a manifest from its bytes; `shown` names it in errors (exit 1: not a manifest).
    pub fn from_bytes(bytes: &[u8], shown: &str) -> Result<Manifest> {
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_large(shown));
        }
        let invalid = |why: String| Error::failed(format!("{shown}: not a valid manifest: {why}"));
        let v: Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if !v.is_object() {
            return Err(invalid("not a JSON object".into()));
        }
        serde_json::from_value(v).map_err(|e| invalid(e.to_string()))
    }

    /// The manifest as the tools write it: pretty JSON, keys sorted, a final newline. A
    /// manifest over [`MAX_BYTES`] is refused (exit 1) rather than written.
    pub fn to_text(&self, shown: &str) -> Result<String> {
        let v = self.to_value();
        let mut text =
            serde_json::to_string_pretty(&v).map_err(|e| Error::failed(format!("{shown}: {e}")))?;
        text.push('\n');
        if text.len() as u64 > MAX_BYTES {
            return Err(too_large(shown));
        }
        Ok(text)
    }

    /// As a JSON object (keys sorted), for `--json` records.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// Reads the manifest at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Manifest>> {
        let shown = path.display().to_string();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {shown}"), e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("reading {shown}"), e))?;
        Manifest::from_bytes(&bytes, &shown).map(Some)
    }

    /// Writes the manifest at `path` atomically (temporary file, fsync, rename).
    pub fn store(&self, path: &Path) -> Result<()> {
        let text = self.to_text(&path.display().to_string())?;
        d1_core::atomic::write_small(path, text.as_bytes(), true)
    }

    /// Reads, changes and rewrites the manifest at `path` atomically. `Ok(false)` when there is
    /// none (nothing is created).
    pub fn update(path: &Path, change: impl FnOnce(&mut Manifest)) -> Result<bool> {
        let Some(mut m) = Manifest::load(path)? else {
            return Ok(false);
        };
        change(&mut m);
        m.store(path)?;
        Ok(true)
    }

    /// The database's id, when the manifest names one.
    pub fn database_id(&self) -> Option<&str> {
        text(&self.database_id)
    }

    pub fn database_name(&self) -> Option<&str> {
        text(&self.database_name)
    }

    /// When the backup's data was taken: `exported_at`, else `fetched_at` (older manifests).
    pub fn taken_at(&self) -> Option<&str> {
        self.exported_at
            .as_deref()
            .or_else(|| self.fetched_at.as_deref())
    }

    /// [`Manifest::taken_at`] in seconds since the epoch.
    pub fn taken_at_secs(&self) -> Option<i64> {
        self.taken_at().and_then(d1_core::time::parse_rfc3339)
    }

    /// The SHA-256 of the stored bytes, when recorded.
    pub fn sha256(&self) -> Option<&str> {
        text(&self.sha256)
    }

    /// The size an object holding this backup has: an encrypted off-site copy's is its
    /// ciphertext's (d1-upload records it), any other the stored bytes'.
    pub fn object_bytes(&self, encrypted_copy: bool) -> Option<u64> {
        let ciphertext = self
            .encryption
            .get()
            .and_then(|e| e.ciphertext_bytes.get().copied());
        match ciphertext {
            Some(n) if encrypted_copy => Some(n),
            _ => self.stored_bytes.get().copied(),
        }
    }

    /// The export's Time Travel bookmark, when the manifest has one.
    pub fn bookmark(&self) -> Option<&str> {
        text(&self.bookmark)
    }

    /// Records the export's bookmark (d1-fetch, when its input record carries one).
    pub fn set_bookmark(&mut self, bookmark: &str) {
        self.bookmark = Field::Set(bookmark.to_string());
    }

    /// Appends an off-site copy to `uploads`.
    pub fn add_upload(&mut self, u: Upload) {
        match self.uploads.get_mut() {
            Some(list) => list.push(u),
            None => self.uploads = Field::Set(vec![u]),
        }
    }
}

fn too_large(shown: &str) -> Error {
    Error::failed(format!(
        "{shown}: larger than {MAX_BYTES} bytes: not a manifest of these tools"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A manifest as d1-fetch, d1-verify and d1-upload write it today.
    fn current() -> String {
        let v = json!({
            "compression": "zstd",
            "d1_fetch_version": "0.1.0",
            "database_file_size": 12288,
            "database_id": "5de8e2d8-0000-4000-8000-000000000001",
            "database_name": "sample",
            "etag_md5_checked": false,
            "export_elapsed_seconds": 1.5,
            "export_polls": 3,
            "exported_at": "2026-11-09T03:17:05Z",
            "fetched_at": "2026-11-09T03:17:05Z",
            "sha256": "aa",
            "source_filename": "dump.sql",
            "sql_bytes": 100,
            "sql_sha256": "bb",
            "stored_bytes": 50,
            "uploads": [{
                "bucket": "b", "ciphertext_sha256": null, "d1_upload_version": "0.1.0",
                "encrypted": false, "endpoint": "http://127.0.0.1:9", "etag": "e", "key": "p/x",
                "parts": 1, "recipients": [], "sha256": "aa", "size": 50,
                "uploaded_at": "2026-11-09T03:18:00Z", "url": "s3://b/p/x"
            }],
            "url": "http://127.0.0.1:9/dump.sql",
            "verification": {
                "checks": ["checksum", "restore"], "rows": 9, "sha256": "aa", "status": "ok",
                "tables": 3, "tool": "d1-verify", "verified_at": "2026-11-09T03:17:09Z",
                "version": "0.1.0"
            },
            "zstd_level": 3
        });
        let mut t = serde_json::to_string_pretty(&v).unwrap();
        t.push('\n');
        t
    }

    #[test]
    fn an_unchanged_manifest_is_written_back_byte_for_byte() {
        let text = current();
        let m = Manifest::from_bytes(text.as_bytes(), "x.json").unwrap();
        assert!(m.extra.is_empty(), "{:?}", m.extra);
        assert_eq!(m.to_text("x.json").unwrap(), text);
    }

    #[test]
    fn fields_this_version_does_not_know_are_kept_where_they_were() {
        // A newer tool's manifest: a field at the top, one inside the verdict, one in an upload,
        // and nulls where this version writes nothing.
        let v = json!({
            "database_id": null,
            "database_name": null,
            "future_field": {"nested": [1, 2.5, "x"]},
            "sha256": "aa",
            "stored_bytes": 2,
            "uploads": [{"url": "s3://b/k", "storage_class": "GLACIER"}],
            "verification": {"status": "ok", "sha256": null, "signature": "sig"},
            "zz_last": true
        });
        let mut text = serde_json::to_string_pretty(&v).unwrap();
        text.push('\n');
        let mut m = Manifest::from_bytes(text.as_bytes(), "x.json").unwrap();
        assert_eq!(m.to_text("x.json").unwrap(), text);
        assert_eq!(m.database_id(), None);
        assert!(m.extra.contains_key("future_field"));
        // A change keeps the rest as it was.
        m.set_bookmark("00000001-00000002-00004e4f-aa");
        let back: Value = serde_json::from_str(&m.to_text("x.json").unwrap()).unwrap();
        assert_eq!(back["future_field"], v["future_field"]);
        assert_eq!(back["verification"]["signature"], "sig");
        assert_eq!(back["uploads"][0]["storage_class"], "GLACIER");
        assert_eq!(back["database_id"], Value::Null);
        assert_eq!(back["bookmark"], "00000001-00000002-00004e4f-aa");
    }

    #[test]
    fn an_old_manifest_with_fetched_at_only_is_read() {
        // The first d1-fetch's manifest: no exported_at, no compression fields, no verdict.
        let old = br#"{
  "database_id": "5de8e2d8-0000-4000-8000-000000000001",
  "fetched_at": "2025-01-31T23:59:59Z",
  "sha256": "ab",
  "size": 42,
  "url": "https://example.com/dump.sql"
}
"#;
        let m = Manifest::from_bytes(old, "old.json").unwrap();
        assert_eq!(m.taken_at(), Some("2025-01-31T23:59:59Z"));
        assert_eq!(m.taken_at_secs(), Some(1_738_367_999));
        assert_eq!(m.extra["size"], 42);
        assert!(m.verification.is_absent() && m.bookmark().is_none());
        assert_eq!(m.to_text("old.json").unwrap().as_bytes(), old);
    }

    #[test]
    fn what_is_not_a_manifest_is_refused_with_its_name() {
        for bad in [&b"[1]"[..], b"{", br#"{"stored_bytes": "many"}"#] {
            let e = Manifest::from_bytes(bad, "x.sql.json").unwrap_err();
            assert_eq!(e.code(), d1_core::ExitCode::Failed);
            assert!(
                e.message.starts_with("x.sql.json: not a valid manifest"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn one_size_limit_on_read_and_on_write() {
        let mut m = Manifest::default();
        m.extra.insert(
            "padding".into(),
            Value::String("x".repeat(MAX_BYTES as usize)),
        );
        let e = m.to_text("big.json").unwrap_err();
        assert_eq!(
            e.message,
            "big.json: larger than 1048576 bytes: not a manifest of these tools"
        );
        let big = format!("{{\"padding\": \"{}\"}}", "x".repeat(MAX_BYTES as usize));
        let e = Manifest::from_bytes(big.as_bytes(), "big.json").unwrap_err();
        assert!(
            e.message.contains("larger than 1048576 bytes"),
            "{}",
            e.message
        );
    }

    #[test]
    fn update_rewrites_in_place_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.sql.json");
        assert!(!Manifest::update(&p, |_| {}).unwrap());
        assert!(!p.exists());
        std::fs::write(&p, "{\"sha256\": \"ab\"}").unwrap();
        assert!(Manifest::update(&p, |m| m.set_bookmark("bm")).unwrap());
        let m = Manifest::load(&p).unwrap().unwrap();
        assert_eq!((m.sha256(), m.bookmark()), (Some("ab"), Some("bm")));
        std::fs::write(&p, "[1]").unwrap();
        assert!(Manifest::load(&p).is_err());
    }
}
