//! `--rewind`: put a live database back to a backup, the fast way when D1 still can. The
//! backup's manifest records the export's bookmark (`bookmark`), the Time Travel point the dump
//! holds; when the target is the database that bookmark belongs to and D1 still has it, one
//! Time Travel restore does in seconds what an import does in minutes per gigabyte. Otherwise
//! (no bookmark, another database, outside the window) the database is emptied and the dump
//! imported, as a plain d1-import does. Either way the outcome is checked as an import's is (the
//! tables and row counts read back equal the dump's), and the database's bookmark from before
//! is printed and kept in the record: restoring to it undoes the rewind (docs/bad-day.md).
//! `--dry-run` says which way a rewind would go, and why, and changes nothing.

use crate::restore::{self, Done, Options};
use crate::{guard, outcome, verify};
use d1_core::api::{self, Database};
use d1_core::client::Client;
use d1_core::{pipe, record, Error, Result};
use serde_json::json;
use std::path::Path;

/// What the backup says about itself: the manifest beside the dump, else the record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backup {
    pub database_id: Option<String>,
    pub bookmark: Option<String>,
    pub taken_at: Option<String>,
}

impl Backup {
    pub fn of(file: &Path, record_bookmark: Option<&str>) -> Backup {
        let m = d1_archive::Manifest::load(&d1_archive::names::manifest_path(file))
            .ok()
            .flatten()
            .unwrap_or_default();
        Backup {
            database_id: m.database_id().map(str::to_string),
            bookmark: m
                .bookmark()
                .or(record_bookmark)
                .filter(|b| record::looks_like_bookmark(b) && *b != "-")
                .map(str::to_string),
            taken_at: m.taken_at().map(str::to_string),
        }
    }
}

/// The way back, and why.
#[derive(Debug, Clone, PartialEq)]
pub enum Way {
    TimeTravel { bookmark: String },
    Import { why: String },
}

/// Which way a rewind of `db` to `backup` can go, before asking D1 anything.
pub fn choose(db: &Database, backup: &Backup) -> Way {
    let Some(bookmark) = backup.bookmark.clone() else {
        return Way::Import {
            why: "the backup records no Time Travel bookmark (its manifest has no \"bookmark\")"
                .into(),
        };
    };
    match backup.database_id.as_deref() {
        Some(id) if id.eq_ignore_ascii_case(&db.uuid) => Way::TimeTravel { bookmark },
        Some(id) => Way::Import {
            why: format!(
                "the backup's bookmark {bookmark} belongs to database {id}, not to {} ({}): a \
                 database deleted and created again, or another one, has a history of its own",
                db.name, db.uuid
            ),
        },
        None => Way::Import {
            why: format!(
                "the backup does not say which database its bookmark {bookmark} belongs to"
            ),
        },
    }
}

/// A finished rewind.
pub struct Rewound {
    pub db: Database,
    /// Time Travel's answer, or the import's.
    pub via: Via,
    /// The database's bookmark before: restoring to it undoes the rewind.
    pub undo: Option<String>,
}

pub enum Via {
    TimeTravel { to: String, restored: api::Restored },
    Import { why: String, done: Box<Done> },
}

/// `--rewind` (and `--dry-run`) for one dump.
pub fn rewind(
    c: &Client,
    target: &str,
    file: &Path,
    opts: Options,
    record_bookmark: Option<&str>,
    dry_run: bool,
    json_out: bool,
) -> Result<()> {
    crate::source::check(file)?;
    let db = api::resolve(c, target)?;
    let backup = Backup::of(file, record_bookmark);
    let way = choose(&db, &backup);
    if dry_run {
        return plan(c, &db, &backup, way, json_out);
    }
    let done = match way {
        Way::TimeTravel { bookmark } => match api::restore(c, &db.uuid, &bookmark)
            .map_err(|e| e.context(format!("restoring {} by Time Travel", db.name)))?
        {
            Ok(restored) => {
                let undo = restored.previous_bookmark.clone();
                announce_undo(&db, undo.as_deref());
                check(c, &db, file, undo.as_deref())?;
                Rewound {
                    db,
                    undo,
                    via: Via::TimeTravel {
                        to: bookmark,
                        restored,
                    },
                }
            }
            Err(refusal) => {
                let why = format!("D1 refused the backup's bookmark {bookmark}: {refusal}");
                import(c, db, file, opts, why)?
            }
        },
        Way::Import { why } => import(c, db, file, opts, why)?,
    };
    print(&done, file, json_out)
}

/// Tells where the undo is, on stderr whatever `-q` says: the one thing a user must not lose.
fn announce_undo(db: &Database, undo: Option<&str>) {
    if let Some(b) = undo {
        d1_core::msg::warn(&format!(
            "{} ({}) is being replaced; to undo, restore it to bookmark {b} \
             (d1-import --undo {b} --database {})",
            db.name, db.uuid, db.uuid
        ));
    }
}

/// The outcome check of an import, after a Time Travel restore: the dump's tables and rows.
fn check(c: &Client, db: &Database, file: &Path, undo: Option<&str>) -> Result<()> {
    let verdict = verify::start(file)?.wait()?;
    outcome::check(
        c,
        db,
        verdict.expected(file)?,
        &outcome::Counts::new(),
        false,
    )
    .map_err(|e| {
        let undo = undo.map_or(String::new(), |b| format!(" (undo: bookmark {b})"));
        Error::failed(format!(
            "{}{undo}",
            e.message
                .replacen("the import into", "the Time Travel restore of", 1)
        ))
    })
}

/// The slow way: the bookmark from before as the undo, the database emptied, the dump imported.
fn import(c: &Client, db: Database, file: &Path, opts: Options, why: String) -> Result<Rewound> {
    d1_core::msg::info(&format!(
        "{}: importing the dump into {} ({}) instead of Time Travel: {why}",
        file.display(),
        db.name,
        db.uuid
    ));
    let undo = match api::bookmark(c, &db.uuid, None) {
        Ok(b) => Some(b),
        Err(e) => {
            d1_core::msg::warn(&format!(
                "no Time Travel bookmark of {} to undo with ({}): going on without one",
                db.name, e.message
            ));
            None
        }
    };
    let tables = guard::tables(c, &db)?;
    if !tables.is_empty() {
        announce_undo(&db, undo.as_deref());
        empty(c, &db)?;
    }
    let done = restore::restore(
        c,
        &db.uuid,
        file,
        Options {
            into_nonempty: false,
            ..opts
        },
    )
    .map_err(|e| match &undo {
        Some(b) => e.context(format!("(undo: bookmark {b})")),
        None => e,
    })?;
    Ok(Rewound {
        db,
        undo,
        via: Via::Import {
            why,
            done: Box::new(done),
        },
    })
}

/// Views, then tables newest first (a table that references another was created after it),
/// in one request with foreign keys deferred; indexes and triggers go with their tables.
const USER_OBJECTS: &str = "SELECT type, name FROM sqlite_schema WHERE type IN ('table','view') \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
     ORDER BY type = 'table', rowid DESC";

fn empty(c: &Client, db: &Database) -> Result<()> {
    let rows = api::query(c, &db.uuid, USER_OBJECTS, &[])
        .map_err(|e| e.context(format!("listing what {} holds", db.name)))?;
    let mut sql = vec!["PRAGMA defer_foreign_keys=TRUE".to_string()];
    for r in rows.first().into_iter().flatten() {
        let (Some(kind), Some(name)) = (r["type"].as_str(), r["name"].as_str()) else {
            continue;
        };
        let kind = if kind == "view" { "VIEW" } else { "TABLE" };
        sql.push(format!(
            "DROP {kind} IF EXISTS \"{}\"",
            name.replace('"', "\"\"")
        ));
    }
    api::query(c, &db.uuid, &sql.join(";\n"), &[])
        .map_err(|e| e.context(format!("emptying {} before the import", db.name)))?;
    Ok(())
}

/// `--dry-run`: the way, the reason, on stderr; one record on stdout.
fn plan(c: &Client, db: &Database, backup: &Backup, way: Way, json_out: bool) -> Result<()> {
    let (via, why) = match way {
        Way::Import { why } => ("import", why),
        Way::TimeTravel { bookmark } => match probe(c, db, backup)? {
            Ok(()) => (
                "time-travel",
                format!(
                    "the database exists and its Time Travel history still reaches the \
                     backup's bookmark {bookmark}{}",
                    backup
                        .taken_at
                        .as_deref()
                        .map_or(String::new(), |t| format!(" (taken {t})"))
                ),
            ),
            Err(refusal) => (
                "import",
                format!("D1 would refuse the backup's bookmark {bookmark}: {refusal}"),
            ),
        },
    };
    let tables = guard::tables(c, db)?;
    let live = if tables.is_empty() {
        String::new()
    } else if via == "import" {
        format!(
            "; its {} table{} would be dropped first",
            tables.len(),
            if tables.len() == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let way_words = if via == "import" {
        "by importing the dump"
    } else {
        "by Time Travel"
    };
    d1_core::msg::warn(&format!(
        "dry run: would restore {} ({}) {way_words}: {why}{live}; nothing was changed",
        db.name, db.uuid
    ));
    if json_out {
        record::emit_json(&json!({
            "database_id": db.uuid, "database_name": db.name, "dry_run": true,
            "via": via, "reason": why, "bookmark": backup.bookmark,
        }))
    } else {
        record::emit(&[
            &db.uuid,
            &pipe::safe_field(&db.name),
            backup.bookmark.as_deref().unwrap_or("-"),
            &format!("via={via}"),
            "dry_run=yes",
        ])
    }
}

/// Whether D1 still has the backup's point, without restoring: the bookmark at the moment the
/// backup was taken (D1 refuses a timestamp outside the window as it refuses such a bookmark).
fn probe(c: &Client, db: &Database, backup: &Backup) -> Result<Result<(), String>> {
    let Some(t) = backup.taken_at.as_deref() else {
        return Ok(Ok(()));
    };
    match api::bookmark(c, &db.uuid, Some(t)) {
        Ok(_) => Ok(Ok(())),
        Err(e) if e.kind == d1_core::Kind::Failed && e.message.starts_with("HTTP 4") => {
            Ok(Err(e.message))
        }
        Err(e) => Err(e),
    }
}

/// `DATABASE_ID NAME BOOKMARK num_queries=N rows_written=M via=WAY undo=BOOKMARK`: an import's
/// record with the way and the undo after it.
fn print(r: &Rewound, file: &Path, json_out: bool) -> Result<()> {
    let undo = r.undo.as_deref().unwrap_or("-");
    let (bookmark, queries, written, via) = match &r.via {
        Via::TimeTravel { restored, .. } => (restored.bookmark.clone(), None, None, "time-travel"),
        Via::Import { done, .. } => (
            done.result
                .final_bookmark
                .clone()
                .unwrap_or_else(|| "-".into()),
            done.result.num_queries,
            done.result.rows_written,
            "import",
        ),
    };
    if json_out {
        let mut v = match &r.via {
            Via::Import { done, why } => {
                let mut v = done.to_json(file);
                v["reason"] = json!(why);
                v
            }
            Via::TimeTravel { to, restored } => json!({
                "database": r.db.uuid, "database_id": r.db.uuid, "database_name": r.db.name,
                "file": file.display().to_string(), "final_bookmark": restored.bookmark,
                "restored_to": to, "message": restored.message,
            }),
        };
        v["via"] = json!(via);
        v["undo_bookmark"] = json!(r.undo);
        return record::emit_json(&v);
    }
    let count = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    record::emit(&[
        &r.db.uuid,
        &pipe::safe_field(&r.db.name),
        &bookmark,
        &format!("num_queries={}", count(queries)),
        &format!("rows_written={}", count(written)),
        &format!("via={via}"),
        &format!("undo={undo}"),
    ])
}

/// `--undo BOOKMARK`: restores the database to the bookmark a rewind printed.
pub fn undo(c: &Client, target: &str, bookmark: &str, json_out: bool) -> Result<()> {
    let db = api::resolve(c, target)?;
    let restored = match api::restore(c, &db.uuid, bookmark)? {
        Ok(r) => r,
        Err(refusal) => {
            return Err(Error::failed(format!(
                "D1 refused to restore {} ({}) to bookmark {bookmark}: {refusal}",
                db.name, db.uuid
            )))
        }
    };
    d1_core::msg::info(&format!(
        "{} ({}) restored to bookmark {bookmark}; to undo this too, restore to {}",
        db.name,
        db.uuid,
        restored.previous_bookmark.as_deref().unwrap_or("-")
    ));
    let r = Rewound {
        db,
        undo: restored.previous_bookmark.clone(),
        via: Via::TimeTravel {
            to: bookmark.to_string(),
            restored,
        },
    };
    print(&r, Path::new("-"), json_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BM: &str = "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683";

    fn db(uuid: &str) -> Database {
        Database {
            uuid: uuid.into(),
            name: "prod".into(),
            file_size: None,
            num_tables: None,
        }
    }

    #[test]
    fn time_travel_only_to_a_bookmark_of_the_same_database() {
        let b = Backup {
            database_id: Some("id-1".into()),
            bookmark: Some(BM.into()),
            taken_at: None,
        };
        assert_eq!(
            choose(&db("ID-1"), &b),
            Way::TimeTravel {
                bookmark: BM.into()
            }
        );
        let Way::Import { why } = choose(&db("id-2"), &b) else {
            panic!("another database's bookmark")
        };
        assert!(
            why.contains("belongs to database id-1, not to prod (id-2)"),
            "{why}"
        );
        let none = Backup {
            bookmark: None,
            ..b.clone()
        };
        assert!(matches!(choose(&db("id-1"), &none), Way::Import { .. }));
        let anon = Backup {
            database_id: None,
            ..b
        };
        assert!(matches!(choose(&db("id-1"), &anon), Way::Import { .. }));
    }

    #[test]
    fn the_bookmark_comes_from_the_manifest_else_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("d.sql");
        std::fs::write(&dump, "PRAGMA defer_foreign_keys=TRUE;").unwrap();
        assert_eq!(Backup::of(&dump, Some(BM)).bookmark.as_deref(), Some(BM));
        assert_eq!(Backup::of(&dump, Some("not a bookmark")).bookmark, None);
        std::fs::write(
            dir.path().join("d.sql.json"),
            format!(
                r#"{{"database_id":"x","bookmark":"{BM}","exported_at":"2026-11-24T03:17:00Z"}}"#
            ),
        )
        .unwrap();
        let b = Backup::of(&dump, None);
        assert_eq!(b.database_id.as_deref(), Some("x"));
        assert_eq!(b.bookmark.as_deref(), Some(BM));
        assert_eq!(b.taken_at.as_deref(), Some("2026-11-24T03:17:00Z"));
    }
}
