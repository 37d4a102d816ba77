//! The verdict kept beside the dump (issue "a pipeline that cannot lie"): d1-verify records in
//! `DUMP.json` whether the dump passed, when, what was checked and, for a failure, why, so that
//! d1-prune and d1-upload can tell a verified backup from a failed or never-checked one without
//! running anything. A failed run overwrites an earlier pass: a failed dump never keeps looking
//! like a good one.

use crate::verify::Report;
use d1_archive::manifest::{Manifest, Verification};
use d1_archive::{names, Field};
use d1_core::time::Utc;
use d1_core::Result;
use std::path::Path;

/// The database's id and name as the manifest records them, for a path given without them.
pub fn identity(dump: &str) -> (Option<String>, Option<String>) {
    if dump == "-" {
        return (None, None);
    }
    match Manifest::load(&names::manifest_path(Path::new(dump))) {
        Ok(Some(m)) => (m.database_id.cloned(), m.database_name.cloned()),
        _ => (None, None),
    }
}

/// Writes the verdict into `DUMP.json` when the dump has one (`-` and bare files have none).
pub fn record(r: &Report) -> Result<()> {
    if r.path == "-" || r.code() == d1_core::ExitCode::Interrupted {
        return Ok(());
    }
    let v = verdict(r, &Utc::now());
    Manifest::update(&names::manifest_path(Path::new(&r.path)), |m| {
        m.verification = Field::Set(v);
    })
    .map(|_| ())
}

fn verdict(r: &Report, now: &Utc) -> Verification {
    let set = |s: &str| Field::Set(s.to_string());
    Verification {
        status: set(if r.failure.is_none() { "ok" } else { "failed" }),
        verified_at: Field::Set(now.rfc3339()),
        tool: set("d1-verify"),
        version: set(env!("CARGO_PKG_VERSION")),
        // The bytes this verdict is for: a verdict without a confirmed checksum is for no
        // bytes in particular and makes no good backup (d1_archive's Verdict).
        sha256: r.checksum.clone().into(),
        tables: Field::Set(r.inventory.tables.len() as u64),
        rows: Field::Set(r.total_rows()),
        // What the dump passed; for a failure, the check that failed is in `reason`.
        checks: Field::Set(r.passed.iter().map(|c| c.to_string()).collect()),
        reason: match &r.failure {
            Some(e) => Field::Set(e.message.clone()),
            None => Field::Absent,
        },
        extra: Default::default(),
    }
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
        assert_eq!(v.status.as_deref(), Some("failed"));
        assert_eq!(v.reason.as_deref(), Some("integrity_check: bad"));
        assert_eq!(v.checks.cloned().unwrap(), ["checksum", "restore"]);
        assert_eq!(v.verified_at.as_deref(), Some("1970-01-01T00:00:00Z"));
    }
}
