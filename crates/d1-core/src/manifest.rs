//! `DUMP.json`, the backup's ledger (design.md, "The manifest"): d1-fetch writes what the dump
//! is, d1-verify adds its verdict, d1-upload where the copies went; d1-prune and d1-upload
//! decide from it. Every change rewrites the whole file atomically.

use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The manifest beside a dump: `DUMP.json`.
pub fn path_for(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

/// Reads a manifest; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("{}: not a valid manifest: {e}", path.display())))?;
    if !v.is_object() {
        return Err(Error::failed(format!(
            "{}: not a valid manifest: not a JSON object",
            path.display()
        )));
    }
    Ok(Some(v))
}

/// Reads, changes and rewrites a manifest atomically (temporary file, fsync, rename).
/// `Ok(false)` when the dump has no manifest (nothing is created).
pub fn update(path: &Path, change: impl FnOnce(&mut Value)) -> Result<bool> {
    let Some(mut v) = read(path)? else {
        return Ok(false);
    };
    change(&mut v);
    let mut text = serde_json::to_string_pretty(&v)
        .map_err(|e| Error::failed(format!("{}: {e}", path.display())))?;
    text.push('\n');
    crate::atomic::write_small(path, text.as_bytes(), true)?;
    Ok(true)
}

/// A good backup: d1-verify passed it, and the verdict is for these very bytes (the SHA-256 it
/// checked is the one the manifest records). No manifest, no verdict, a failed verdict or a
/// verdict for other bytes: not a good backup.
pub fn is_good_backup(m: &Value) -> bool {
    let v = &m["verification"];
    let sha = m["sha256"].as_str().filter(|s| !s.is_empty());
    v["status"] == "ok" && sha.is_some() && v["sha256"].as_str() == sha
}

/// When the backup's data was taken: `exported_at`, else `fetched_at` (older manifests).
pub fn taken_at(m: &Value) -> Option<&str> {
    m["exported_at"]
        .as_str()
        .or_else(|| m["fetched_at"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_good_backup_needs_a_passing_verdict_for_the_same_bytes() {
        let mut m = json!({"sha256": "ab", "verification": {"status": "ok", "sha256": "ab"}});
        assert!(is_good_backup(&m));
        m["verification"]["sha256"] = json!("cd");
        assert!(!is_good_backup(&m), "a verdict for other bytes");
        m["verification"] = json!({"status": "failed", "sha256": "ab"});
        assert!(!is_good_backup(&m));
        assert!(!is_good_backup(&json!({"sha256": "ab"})), "never verified");
        assert!(!is_good_backup(
            &json!({"verification": {"status": "ok", "sha256": null}})
        ));
    }

    #[test]
    fn update_rewrites_in_place_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.sql.json");
        assert!(!update(&p, |_| {}).unwrap());
        assert!(!p.exists());
        std::fs::write(&p, r#"{"sha256":"ab"}"#).unwrap();
        assert!(update(&p, |v| v["verification"] = json!({"status": "ok"})).unwrap());
        let v = read(&p).unwrap().unwrap();
        assert_eq!(v["verification"]["status"], "ok");
        assert_eq!(v["sha256"], "ab");
        std::fs::write(&p, "[1]").unwrap();
        assert!(read(&p).is_err());
    }
}
