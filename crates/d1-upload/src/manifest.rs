//! The manifest (DUMP.json) as d1-upload reads and writes it: whether the dump is a good backup
//! (contract.md: `verification.status == "ok"` and `verification.sha256 == sha256`), and where
//! its off-site copies went (`uploads`, rewritten atomically).

use d1_core::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `DUMP.json`.
pub fn path_for(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// `DUMP.sha256`.
pub fn sha256_path_for(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

pub fn read(dump: &Path) -> Result<Value> {
    let p = path_for(dump);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        Error::failed(format!(
            "{}: no readable manifest ({e}); d1-fetch writes it beside the dump",
            p.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("{}: not a JSON manifest: {e}", p.display())))
}

/// The stored bytes' SHA-256 the manifest names, when the dump is a good backup; the reason it
/// is not one otherwise.
pub fn good_backup(m: &Value) -> Result<String, String> {
    let sha = m["sha256"]
        .as_str()
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the manifest has no sha256")?;
    let v = &m["verification"];
    if v.is_null() {
        return Err(
            "not verified (its manifest has no verification verdict; run d1-verify first)".into(),
        );
    }
    match v["status"].as_str() {
        Some("ok") => {}
        Some("failed") => {
            return Err(format!(
                "it failed verification ({})",
                v["reason"].as_str().unwrap_or("no reason given")
            ))
        }
        _ => return Err("its verification verdict is unreadable".into()),
    }
    if v["sha256"].as_str() != Some(sha) {
        return Err(
            "its verdict is for other bytes (verification.sha256 differs from sha256)".into(),
        );
    }
    Ok(sha.to_string())
}

/// `(database_id, database_name)` from the manifest, `None` when unknown.
pub fn database(m: &Value) -> (Option<String>, Option<String>) {
    (
        m["database_id"].as_str().map(str::to_string),
        m["database_name"].as_str().map(str::to_string),
    )
}

/// Appends one entry to the manifest's `uploads`, atomically: read, change, write to a
/// temporary file in the folder, fsync, rename (d1_core::atomic).
pub fn add_upload(dump: &Path, entry: Value) -> Result<()> {
    let p = path_for(dump);
    let mut m = read(dump)?;
    if !m.is_object() {
        return Err(Error::failed(format!("{}: not a JSON object", p.display())));
    }
    match m.get_mut("uploads").and_then(Value::as_array_mut) {
        Some(a) => a.push(entry),
        None => m["uploads"] = Value::Array(vec![entry]),
    }
    let mut text = serde_json::to_string_pretty(&m).unwrap_or_default();
    text.push('\n');
    d1_core::atomic::write_small(&p, text.as_bytes(), true)
        .map_err(|e| e.context("recording the upload in the manifest"))
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
