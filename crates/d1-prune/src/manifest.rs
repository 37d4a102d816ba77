//! What d1-prune reads from a dump's manifest (`DUMP.json`, contract.md): the database, when the
//! export was taken, and the d1-verify verdict. A manifest that lacks any of the first two does
//! not make its dump ours: such a dump is left alone.

use crate::calendar;
use std::path::Path;

pub use d1_archive::Verdict;

#[derive(Debug, Clone)]
pub struct Manifest {
    pub database_id: String,
    pub database_name: Option<String>,
    /// `exported_at`, else `fetched_at`, in seconds since the epoch.
    pub time: i64,
    pub sha256: String,
    pub stored_bytes: Option<u64>,
    pub verdict: Verdict,
}

/// Reads and checks `path`; `Err` says why it is not a manifest d1-prune can act on.
pub fn read(path: &Path) -> Result<Manifest, String> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| format!("no manifest {} ({e})", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let json = match d1_archive::Manifest::load(path) {
        Ok(Some(m)) => m,
        Ok(None) => return Err(format!("no manifest {}", path.display())),
        Err(e) => return Err(e.message),
    };
    parse(&json).map_err(|why| format!("{}: {why}", path.display()))
}

/// The checks of [`read`] on a parsed manifest.
pub fn parse(json: &d1_archive::Manifest) -> Result<Manifest, String> {
    let database_id = json
        .database_id()
        .filter(|s| s.chars().all(|c| c.is_ascii_graphic()))
        .ok_or("no database_id (a dump fetched from a bare URL is never pruned)")?
        .to_string();
    let time_text = json
        .taken_at()
        .ok_or("neither exported_at nor fetched_at")?;
    let time = calendar::parse_rfc3339(time_text)
        .ok_or_else(|| format!("exported_at/fetched_at {time_text:?} is not an RFC 3339 time"))?;
    let sha256 = json.sha256.as_deref().ok_or("no sha256")?.to_string();
    Ok(Manifest {
        database_id,
        database_name: json.database_name().map(str::to_string),
        time,
        sha256,
        stored_bytes: json.stored_bytes.get().copied(),
        verdict: json.verdict(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(v: &Value) -> Result<Manifest, String> {
        let m = d1_archive::Manifest::from_bytes(v.to_string().as_bytes(), "m")
            .map_err(|e| e.message)?;
        super::parse(&m)
    }

    fn base() -> Value {
        json!({
            "database_id": "5de8e2d8-0000-4000-8000-000000000001",
            "database_name": "sample",
            "fetched_at": "2026-11-09T03:17:09Z",
            "exported_at": "2026-11-09T03:17:05Z",
            "sha256": "aa",
            "verification": {"status": "ok", "sha256": "aa"},
        })
    }

    #[test]
    fn exported_at_is_the_time_and_fetched_at_the_fallback() {
        let m = parse(&base()).unwrap();
        assert_eq!(calendar::format(m.time), "2026-11-09T03:17:05Z");
        assert_eq!(m.verdict, Verdict::Good);
        let mut j = base();
        j.as_object_mut().unwrap().remove("exported_at");
        assert_eq!(
            calendar::format(parse(&j).unwrap().time),
            "2026-11-09T03:17:09Z"
        );
    }

    #[test]
    fn only_an_ok_verdict_for_these_bytes_is_good() {
        let mut j = base();
        j["verification"]["sha256"] = json!("bb");
        assert_eq!(parse(&j).unwrap().verdict, Verdict::OtherBytes);
        j["verification"] = json!({"status": "failed", "sha256": "aa", "reason": "truncated"});
        assert_eq!(
            parse(&j).unwrap().verdict,
            Verdict::Failed("truncated".into())
        );
        j["verification"] = json!({"status": "OK", "sha256": "aa"});
        assert!(matches!(parse(&j).unwrap().verdict, Verdict::Failed(_)));
        j.as_object_mut().unwrap().remove("verification");
        assert_eq!(parse(&j).unwrap().verdict, Verdict::Unverified);
    }

    #[test]
    fn a_manifest_without_database_or_time_is_not_ours() {
        let mut j = base();
        j["database_id"] = Value::Null;
        assert!(parse(&j).unwrap_err().contains("database_id"));
        let mut j = base();
        j["database_id"] = json!("has space");
        assert!(parse(&j).is_err());
        let mut j = base();
        j["exported_at"] = json!("last night");
        assert!(parse(&j).unwrap_err().contains("RFC 3339"));
        assert!(parse(&json!([1, 2])).is_err());
    }
}
