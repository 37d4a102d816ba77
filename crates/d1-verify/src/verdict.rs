//! The verdict kept beside the dump (issue "a pipeline that cannot lie"): d1-verify records in
//! `DUMP.json` whether the dump passed, when, what was checked and, for a failure, why, so that
//! d1-prune and d1-upload can tell a verified backup from a failed or never-checked one without
//! running anything. A failed run overwrites an earlier pass: a failed dump never keeps looking
//! like a good one.

use crate::verify::Report;
use d1_core::time::Utc;
use d1_core::{manifest, Result};
use serde_json::{json, Value};
use std::path::Path;

/// The database's id and name as the manifest records them, for a path given without them.
pub fn identity(dump: &str) -> (Option<String>, Option<String>) {
    if dump == "-" {
        return (None, None);
    }
    match manifest::read(&manifest::path_for(Path::new(dump))) {
        Ok(Some(m)) => {
            let s = |k: &str| m[k].as_str().map(str::to_string);
            (s("database_id"), s("database_name"))
        }
        _ => (None, None),
    }
}

/// Writes the verdict into `DUMP.json` when the dump has one (`-` and bare files have none).
pub fn record(r: &Report) -> Result<()> {
    if r.path == "-" || r.code() == d1_core::ExitCode::Interrupted {
        return Ok(());
    }
    let v = verdict(r, &Utc::now());
    manifest::update(&manifest::path_for(Path::new(&r.path)), |m| {
        m["verification"] = v;
    })
    .map(|_| ())
}

fn verdict(r: &Report, now: &Utc) -> Value {
    let mut v = json!({
        "status": if r.failure.is_none() { "ok" } else { "failed" },
        "verified_at": now.rfc3339(),
        "tool": "d1-verify",
        "version": env!("CARGO_PKG_VERSION"),
        // The bytes this verdict is for: a verdict without a confirmed checksum is for no
        // bytes in particular and makes no good backup (d1_core::manifest::is_good_backup).
        "sha256": r.checksum,
        "tables": r.inventory.tables.len(),
        "rows": r.total_rows(),
        // What the dump passed; for a failure, the check that failed is in `reason`.
        "checks": r.passed,
    });
    if let Some(e) = &r.failure {
        v["reason"] = json!(e.message);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_dump_gets_a_failed_verdict_with_its_reason() {
        let r = Report {
            path: "x.sql".into(),
            failure: Some(d1_core::Error::failed("integrity_check: bad")),
            checksum: Some("ab".into()),
            passed: vec!["checksum", "restore"],
            ..Report::default()
        };
        let v = verdict(&r, &Utc::from_unix(0));
        assert_eq!(v["status"], "failed");
        assert_eq!(v["reason"], "integrity_check: bad");
        assert_eq!(v["checks"], json!(["checksum", "restore"]));
        assert_eq!(v["verified_at"], "1970-01-01T00:00:00Z");
    }
}
