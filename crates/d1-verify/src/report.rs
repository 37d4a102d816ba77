//! What d1-verify prints on stdout: one summary line per dump (`OK path tables=N rows=M`, or a
//! failure record `FAIL 1 d1-verify ID NAME path: reason` that the next tools pass on), or with
//! `--json` one object per dump with the full report.

use crate::verify::Report;
use d1_core::pipe::Failure;
use d1_core::{ExitCode, Result};
use serde_json::json;

impl Report {
    pub fn code(&self) -> ExitCode {
        self.failure.as_ref().map_or(ExitCode::Ok, |e| e.code())
    }

    pub fn total_rows(&self) -> u64 {
        self.inventory.tables.iter().map(|t| t.rows).sum()
    }
}

pub fn summary(r: &Report) -> String {
    match &r.failure {
        None => {
            let mut line = format!(
                "OK {} tables={} rows={}",
                r.path,
                r.inventory.tables.len(),
                r.total_rows()
            );
            let accepted = r.against.as_ref().map_or(0, |a| a.accepted());
            if accepted > 0 {
                line.push_str(&format!(" accepted_d1_losses={accepted}"));
            }
            line
        }
        Some(_) => failure(r).map(|f| f.plain()).unwrap_or_default(),
    }
}

/// The failure record of a dump that failed.
pub fn failure(r: &Report) -> Option<Failure> {
    let e = r.failure.as_ref()?;
    // Messages that name the file already (for stderr) need not name it twice.
    let reason = e
        .message
        .strip_prefix(&format!("{}: ", r.path))
        .unwrap_or(&e.message);
    Some(Failure {
        exit: e.code(),
        tool: "d1-verify".to_string(),
        database_id: r.database.clone(),
        name: r.name.clone(),
        reason: format!("{}: {reason}", r.path),
        path: Some(r.path.clone()),
    })
}

pub fn json(r: &Report) -> serde_json::Value {
    let inv = &r.inventory;
    let mut v = json!({
        "path": r.path,
        "database": r.database,
        "database_id": r.database,
        "database_name": r.name,
        "ok": r.failure.is_none(),
        "reason": r.failure.as_ref().map(|e| e.message.clone()),
        "exit_code": r.code().code(),
        "compressed": r.compressed,
        "checksum_sha256": r.checksum,
        "tables": inv.tables.iter().map(|t| json!({
            "name": t.name, "rows": t.rows, "digest": t.digest,
        })).collect::<Vec<_>>(),
        "rows": r.total_rows(),
        "indexes": inv.indexes,
        "views": inv.views,
        "triggers": inv.triggers,
        "foreign_key_violations": r.fk.iter().map(|v| json!({
            "table": v.table, "rowid": v.rowid, "parent": v.parent,
        })).collect::<Vec<_>>(),
        "warnings": r.quirks.to_json(),
        "d1_compat": r.compat.to_json(),
        "against": r.against.as_ref().map(|a| a.to_json()),
        "statements": r.stats.statements,
        "fast_path_rows": r.stats.fast_rows,
        "bytes_read": r.stats.bytes,
        "duration_ms": {"load": r.load_ms, "check": r.check_ms, "total": r.total_ms},
    });
    if let Some(f) = failure(r) {
        // The failure record's keys, so the next tools pass it on (pipe.rs).
        v["failed"] = json!(true);
        v["tool"] = json!(f.tool);
        v["error"] = json!(f.reason);
    }
    v
}

/// Prints the report and flushes, so a pipeline sees each dump's verdict at once.
pub fn print(r: &Report, as_json: bool) -> Result<()> {
    if as_json {
        d1_core::record::emit_json(&json(r))
    } else {
        d1_core::record::emit(&[&summary(r)])
    }
}
