//! The manifest (DUMP.json) as d1-upload reads and writes it: whether the dump is a good backup
//! (contract.md: `verification.status == "ok"` and `verification.sha256 == sha256`), and where
//! its off-site copies went (`uploads`, rewritten atomically).

use d1_core::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use d1_core::manifest::path_for;

/// `DUMP.sha256`.
pub fn sha256_path_for(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The manifest beside `dump`; a dump without one is not a backup d1-upload can vouch for.
pub fn read(dump: &Path) -> Result<Value> {
    let p = path_for(dump);
    d1_core::manifest::read(&p)?.ok_or_else(|| {
        Error::failed(format!(
            "{}: no manifest beside the dump (d1-fetch writes it, d1-verify adds its verdict)",
            p.display()
        ))
    })
}

/// The stored bytes' SHA-256 the manifest names, when the dump is a good backup
/// (d1_core::manifest::is_good_backup decides); the reason it is not one otherwise.
pub fn good_backup(m: &Value) -> Result<String, String> {
    let sha = m["sha256"].as_str().unwrap_or_default().to_string();
    if d1_core::manifest::is_good_backup(m) {
        return Ok(sha);
    }
    let v = &m["verification"];
    Err(match v["status"].as_str() {
        _ if sha.is_empty() => "the manifest has no sha256".to_string(),
        None if v.is_null() => {
            "not verified (its manifest has no verification verdict; run d1-verify first)".into()
        }
        Some("failed") => format!(
            "it failed verification ({})",
            v["reason"].as_str().unwrap_or("no reason given")
        ),
        Some("ok") => {
            "its verdict is for other bytes (verification.sha256 differs from sha256)".into()
        }
        _ => "its verification verdict is unreadable".into(),
    })
}

/// `(database_id, database_name)` from the manifest, `None` when unknown.
pub fn database(m: &Value) -> (Option<String>, Option<String>) {
    (
        m["database_id"].as_str().map(str::to_string),
        m["database_name"].as_str().map(str::to_string),
    )
}

/// Appends one entry to the manifest's `uploads`, atomically (d1_core::manifest::update:
/// temporary file in the folder, fsync, rename).
pub fn add_upload(dump: &Path, entry: Value) -> Result<()> {
    let p = path_for(dump);
    let found = d1_core::manifest::update(&p, |m| {
        match m.get_mut("uploads").and_then(Value::as_array_mut) {
            Some(a) => a.push(entry),
            None => m["uploads"] = Value::Array(vec![entry]),
        }
    })
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
    use serde_json::json;

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn only_a_passing_verdict_for_these_bytes_is_a_good_backup() {
        let ok = json!({"sha256": SHA, "verification": {"status": "ok", "sha256": SHA}});
        assert_eq!(good_backup(&ok).unwrap(), SHA);
        let none = json!({"sha256": SHA});
        assert!(good_backup(&none).unwrap_err().contains("not verified"));
        let failed = json!({"sha256": SHA, "verification": {"status": "failed", "sha256": SHA, "reason": "bad"}});
        assert!(good_backup(&failed)
            .unwrap_err()
            .contains("failed verification (bad)"));
        let other = json!({"sha256": SHA, "verification": {"status": "ok", "sha256": "b"}});
        assert!(good_backup(&other).unwrap_err().contains("other bytes"));
    }

    #[test]
    fn uploads_are_appended_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("x.sql");
        std::fs::write(path_for(&dump), r#"{"sha256":"s","database_id":"d"}"#).unwrap();
        add_upload(&dump, json!({"url": "s3://b/x.sql"})).unwrap();
        add_upload(&dump, json!({"url": "s3://c/x.sql"})).unwrap();
        let m = read(&dump).unwrap();
        assert_eq!(m["database_id"], "d");
        assert_eq!(m["uploads"].as_array().unwrap().len(), 2);
        assert_eq!(m["uploads"][1]["url"], "s3://c/x.sql");
    }
}
