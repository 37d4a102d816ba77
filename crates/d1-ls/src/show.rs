//! What d1-ls prints: a table for a person, records for the next tool, or JSON. A record is the
//! one the tool that made the backup prints (`DATABASE_ID NAME PATH` as d1-fetch's, `DATABASE_ID
//! NAME s3://BUCKET/KEY` as d1-upload's), so the next tool of a restore drill reads it as it is.

use crate::listing::{when, Database};
use d1_archive::catalog::Backup;
use d1_core::msg::human_bytes;
use d1_core::pipe::safe_field;
use d1_core::{record, Error, Result};
use serde_json::{json, Value};

/// Whether the backup lies in a bucket (its place is an `s3://` URL) rather than a folder.
fn in_bucket(b: &Backup) -> bool {
    b.shown.starts_with("s3://")
}

/// One backup as a JSON object: everything the table says, and its place as the key the next
/// tool reads (`path` for d1-verify, `url` for d1-fetch).
pub fn json(db: &Database, b: &Backup) -> Value {
    let mut v = json!({
        "database_id": db.id,
        "database_name": db.name,
        "exported_at": when(b.time),
        "size": b.size,
        "verification": b.verdict.word(),
        "verdict": b.verdict.to_string(),
        "encrypted": b.encrypted(),
        "bookmark": b.manifest.bookmark(),
    });
    v[if in_bucket(b) { "url" } else { "path" }] = json!(b.shown);
    v
}

/// `DATABASE_ID NAME PLACE`. A place with a space or a control character cannot travel in a
/// plain record: an error naming it (`--json` carries it whole).
pub fn record(db: &Database, b: &Backup) -> Result<()> {
    if b.shown.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::failed(format!(
            "{:?}: a place with a space cannot travel in a plain record to the next tool; use --json",
            b.shown
        )));
    }
    let name = db.name.as_deref().map_or("-".into(), safe_field);
    record::emit(&[&safe_field(&db.id), &name, &b.shown])
}

fn line(text: &str) -> Result<()> {
    record::emit(&[text])
}

/// The table's lines for one database: its name, a row per backup shown, its summary.
pub fn table(db: &Database, shown: &[&Backup]) -> Result<()> {
    line(&db.label())?;
    if !shown.is_empty() {
        line(&format!(
            "  {:<20}  {:>10}  {:<10}  {:<3}  WHERE",
            "EXPORTED", "SIZE", "VERDICT", "ENC"
        ))?;
    }
    for b in shown {
        let bookmark = b
            .manifest
            .bookmark()
            .map(|m| format!("  bookmark {}", safe_field(m)))
            .unwrap_or_default();
        line(&format!(
            "  {:<20}  {:>10}  {:<10}  {:<3}  {}{bookmark}",
            when(b.time),
            human_bytes(b.size),
            b.verdict.word(),
            if b.encrypted() { "age" } else { "-" },
            b.shown,
        ))?;
    }
    line(&format!("  {}", db.summary()))?;
    line("")
}
