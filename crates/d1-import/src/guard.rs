//! The refusal to import into a database that already has tables: a dump's `CREATE TABLE`
//! statements would fail against them (and the whole import with them), or, with
//! `IF NOT EXISTS`, its rows would be mixed into live data. `--into-nonempty` is the way to say
//! that this is intended.

use d1_core::api::{self, Database};
use d1_core::client::Client;
use d1_core::{Error, Result};
use serde_json::Value;

/// User tables only: SQLite's own (`sqlite_sequence`, `sqlite_stat1`) and D1's internal `_cf_*`
/// tables (which a dump skips too, docs/d1-emulator.md) exist in databases nobody has written to.
/// `_` is LIKE's one-character wildcard, so it is escaped: `'_cf_%'` alone would also leave out a
/// user table named `acf_x`.
pub const USER_TABLES: &str = "SELECT name FROM sqlite_schema WHERE type='table' \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
     ORDER BY rowid";

/// How many table names a refusal shows.
const SHOWN: usize = 5;

/// The user tables of `db`.
pub fn tables(c: &Client, db: &Database) -> Result<Vec<String>> {
    let stmts = api::query(c, &db.uuid, USER_TABLES, &[])
        .map_err(|e| e.context(format!("listing the tables of {}", db.name)))?;
    Ok(stmts
        .first()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// Fails (exit 1) when `tables` is not empty, naming a few of them.
pub fn refuse_nonempty(db: &Database, tables: &[String]) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = tables.iter().take(SHOWN).map(String::as_str).collect();
    if tables.len() > SHOWN {
        names.push("...");
    }
    Err(Error::failed(format!(
        "database {} ({}) is not empty: it has {} table{} ({}); nothing was imported \
         (use --into-nonempty to import into it anyway)",
        db.name,
        db.uuid,
        tables.len(),
        if tables.len() == 1 { "" } else { "s" },
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Database {
        Database {
            uuid: "0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a11".into(),
            name: "restore".into(),
            file_size: None,
            num_tables: None,
        }
    }

    #[test]
    fn an_empty_database_passes_and_a_full_one_is_refused_naming_a_few_tables() {
        assert!(refuse_nonempty(&db(), &[]).is_ok());
        let t: Vec<String> = (1..=7).map(|i| format!("t{i}")).collect();
        let e = refuse_nonempty(&db(), &t).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Failed);
        assert!(
            e.message.contains("has 7 tables (t1, t2, t3, t4, t5, ...)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("--into-nonempty"));
    }
}
