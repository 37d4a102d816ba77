//! What d1-prune reads from a dump's manifest (`DUMP.json`, contract.md): the database, when the
//! export was taken, and the d1-verify verdict. A manifest that lacks any of the first two does
//! not make its dump ours: such a dump is left alone.

use crate::calendar;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// Manifests are a few hundred bytes; anything much larger is not one of ours.
const MAX_MANIFEST: u64 = 1 << 20;

/// What a good backup is (contract.md): the verdict is "ok" and is for these bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Good,
    Failed(String),
    /// No `verification` key: d1-verify has not run (or is running) on it.
    Unverified,
    /// A passing verdict for other bytes (`verification.sha256 != sha256`).
    OtherBytes,
    /// No `DUMP.sha256` beside it: nobody can check it with `sha256sum -c` (docs/records.md).
    NoChecksum,
    /// The file's size is not the manifest's `stored_bytes`: the verdict cannot be for it.
    WrongSize {
        actual: u64,
        expected: u64,
    },
}

impl Verdict {
    pub fn describe(&self) -> String {
        match self {
            Verdict::Good => "verified".into(),
            Verdict::Failed(r) if r.is_empty() => "failed verification".into(),
            Verdict::Failed(r) => format!("failed verification ({r})"),
            Verdict::Unverified => "never verified".into(),
            Verdict::OtherBytes => "verified for other bytes (sha256 differs)".into(),
            Verdict::NoChecksum => "verified, but its .sha256 is missing".into(),
            Verdict::WrongSize { actual, expected } => {
                format!("{actual} bytes where the manifest says {expected}")
            }
        }
    }
}

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
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MANIFEST + 1).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(format!("{} is too large to be a manifest", path.display()));
    }
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    parse(&json).map_err(|why| format!("{}: {why}", path.display()))
}

/// The checks of [`read`] on parsed JSON.
pub fn parse(json: &Value) -> Result<Manifest, String> {
    let database_id = json["database_id"]
        .as_str()
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()))
        .ok_or("no database_id (a dump fetched from a bare URL is never pruned)")?
        .to_string();
    let time_text =
        d1_core::manifest::taken_at(json).ok_or("neither exported_at nor fetched_at")?;
    let time = calendar::parse_rfc3339(time_text)
        .ok_or_else(|| format!("exported_at/fetched_at {time_text:?} is not an RFC 3339 time"))?;
    let sha256 = json["sha256"].as_str().ok_or("no sha256")?.to_string();
    let database_name = json["database_name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let v = &json["verification"];
    // The one definition of a good backup is d1-core's; the others are told apart for messages.
    let verdict = if d1_core::manifest::is_good_backup(json) {
        Verdict::Good
    } else if v.is_null() {
        Verdict::Unverified
    } else if v["status"] != "ok" {
        Verdict::Failed(v["reason"].as_str().unwrap_or_default().to_string())
    } else {
        Verdict::OtherBytes
    };
    Ok(Manifest {
        database_id,
        database_name,
        time,
        sha256,
        stored_bytes: json["stored_bytes"].as_u64(),
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
