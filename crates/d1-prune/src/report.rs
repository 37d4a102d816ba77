//! What d1-prune prints: a record per removed dump (stdout), the plan with `--dry-run`
//! (stdout), and the summary lines (stderr).

use crate::calendar;
use crate::plan::Decision;
use d1_archive::catalog::Backup;
use d1_core::msg::human_bytes;
use d1_core::pipe::safe_field;
use d1_core::{record, Result};
use serde_json::json;

/// Kept and removed dumps, and the bytes freed, of one database or of the run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub kept: usize,
    pub removed: usize,
    pub freed: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.kept += other.kept;
        self.removed += other.removed;
        self.freed += other.freed;
    }

    /// `kept 9 dump(s), removed 31, freed 1.2 MB` (or `would remove 31 (1.2 MB)`).
    pub fn summary(&self, dry_run: bool) -> String {
        let (kept, removed, bytes) = (self.kept, self.removed, human_bytes(self.freed));
        if dry_run {
            format!("kept {kept} dump(s), would remove {removed} ({bytes})")
        } else {
            format!("kept {kept} dump(s), removed {removed}, freed {bytes}")
        }
    }
}

fn plain_name(name: Option<&str>) -> String {
    name.map_or_else(|| "-".to_string(), safe_field)
}

fn details(d: &Decision<Backup>, name: Option<&str>) -> serde_json::Value {
    json!({
        "database_id": d.id.database_id,
        "database_name": name,
        "path": d.id.shown,
        "exported_at": calendar::format(d.time),
        "verification": d.id.verdict.to_string(),
        "bytes": d.id.bytes,
        "reason": d.why.to_string(),
    })
}

/// A removed dump: `DATABASE_ID NAME PATH`, or its JSON.
pub fn removed(d: &Decision<Backup>, name: Option<&str>, json_out: bool) -> Result<()> {
    if json_out {
        let mut v = details(d, name);
        v["removed"] = json!(true);
        return record::emit_json(&v);
    }
    record::emit(&[&d.id.database_id, &plain_name(name), &d.id.shown])
}

/// A line of the plan: `keep|remove DATABASE_ID NAME PATH EXPORTED_AT REASON`.
pub fn plan(d: &Decision<Backup>, name: Option<&str>, json_out: bool) -> Result<()> {
    let action = if d.keep() { "keep" } else { "remove" };
    if json_out {
        let mut v = details(d, name);
        v["action"] = json!(action);
        return record::emit_json(&v);
    }
    let why = if d.good {
        d.why.to_string()
    } else {
        format!("{}; {}", d.id.verdict, d.why)
    };
    record::emit(&[
        action,
        &d.id.database_id,
        &plain_name(name),
        &d.id.shown,
        &calendar::format(d.time),
        &why,
    ])
}
