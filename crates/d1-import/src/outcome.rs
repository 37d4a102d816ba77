//! The check after an import the API reported complete: the database must hold every table of
//! the dump with the dump's row count (d1-verify's count, `verify::Expected`), read back through
//! the query endpoint. A restore that did not happen (an import answered from an old result, a
//! server that lost it) then fails with exit 1, naming the table, instead of exiting 0.

use crate::guard;
use d1_core::api::{self, Database};
use d1_core::client::Client;
use d1_core::{Error, Result};
use d1_sql::ident::quote_ident;
use serde_json::Value;
use std::collections::BTreeMap;

/// Count statements per query request: each is short, so 50 stay far below D1's limits.
const PER_REQUEST: usize = 50;

/// Row counts of tables, by name.
pub type Counts = BTreeMap<String, u64>;

/// Row counts of `tables` in `db`, through the query endpoint.
pub fn count(c: &Client, db: &Database, tables: &[String]) -> Result<Counts> {
    let mut out = Counts::new();
    for chunk in tables.chunks(PER_REQUEST) {
        let sql = chunk
            .iter()
            .map(|t| format!("SELECT count(*) AS n FROM {}", quote_ident(t)))
            .collect::<Vec<_>>()
            .join(";\n");
        let answers = api::query(c, &db.uuid, &sql, &[])
            .map_err(|e| e.context(format!("counting the rows of {}", db.name)))?;
        for (t, rows) in chunk.iter().zip(answers.iter()) {
            let n = rows
                .first()
                .and_then(|r| r.get("n"))
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    Error::failed(format!(
                        "counting the rows of {}: no count for table {t:?} in the answer",
                        db.name
                    ))
                })?;
            out.insert(t.clone(), n);
        }
    }
    Ok(out)
}

/// The user tables of `db` with their row counts (before an import into a non-empty database).
pub fn snapshot(c: &Client, db: &Database) -> Result<Counts> {
    count(c, db, &guard::tables(c, db)?)
}

/// Compares what `db` holds now with `expected` (the dump's tables and rows) on top of
/// `before` (rows the tables held before the import; empty for an empty database). A
/// `replayed` import (D1 answered an earlier import of the same file) added nothing now: the
/// tables must still hold at least the dump's rows.
pub fn check(
    c: &Client,
    db: &Database,
    expected: &Counts,
    before: &Counts,
    replayed: bool,
) -> Result<()> {
    let present = guard::tables(c, db)?;
    let missing: Vec<&String> = expected.keys().filter(|t| !present.contains(t)).collect();
    if let Some(t) = missing.first() {
        return Err(not_restored(
            db,
            &format!(
                "table {t:?} is missing{} (the dump has it, with {} rows)",
                if missing.len() > 1 {
                    format!(", and {} more", missing.len() - 1)
                } else {
                    String::new()
                },
                expected[*t]
            ),
        ));
    }
    let names: Vec<String> = expected.keys().cloned().collect();
    let now = count(c, db, &names)?;
    for (t, rows) in expected {
        let got = now.get(t).copied().unwrap_or(0);
        if replayed {
            if got < *rows {
                return Err(not_restored(
                    db,
                    &format!(
                        "table {t:?} has {got} rows, fewer than the dump's {rows} (the server \
                         answered with an earlier import of the same file)"
                    ),
                ));
            }
            continue;
        }
        let want = rows + before.get(t).copied().unwrap_or(0);
        if got != want {
            return Err(not_restored(
                db,
                &format!("table {t:?} has {got} rows, not the {want} the dump restores"),
            ));
        }
    }
    Ok(())
}

fn not_restored(db: &Database, what: &str) -> Error {
    Error::failed(format!(
        "the import into {} ({}) was reported complete, but {what}: the restore did not \
         happen as reported",
        db.name, db.uuid
    ))
}
