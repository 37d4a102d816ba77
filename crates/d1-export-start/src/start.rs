//! Starting exports: resolve each database, warn when it is near D1's size limit, check that
//! it holds no virtual table the export would fail on (preflight.rs), start its
//! export and print its bookmark at once (the bookmark is perishable: d1-export-wait must start
//! polling it before D1 cancels the export).

use crate::args::Args;
use d1_core::api::{self, Database, Status};
use d1_core::client::Client;
use d1_core::pipe::{self, Failure, Tally};
use d1_core::{msg, record, Error, ExitCode, Result};
use serde_json::json;

/// Starts every database's export in the order given. A database that fails gets a failure
/// record on stdout (pipe.rs) and the others still start; the result is the worst outcome.
pub fn run(args: Args) -> Result<ExitCode> {
    let (_cfg, client) = args.common.client()?;
    let databases = if args.all {
        // The whole account, in the list's order; the ids, so that nothing is looked up twice.
        let all = api::list_databases(&client, None)?;
        if all.is_empty() {
            msg::warn("--all: the account has no databases");
        }
        all.into_iter()
            .filter(|d| !crate::exclude::database_excluded(&args.exclude, &d.name, &d.uuid))
            .map(|d| d.uuid)
            .collect()
    } else if args.databases.is_empty() {
        match d1_core::config::default_database() {
            Some(d) => vec![d],
            None => {
                return Err(Error::usage(
                    "no database given: name one (UUID or name) or set D1_DATABASE_ID",
                ))
            }
        }
    } else {
        args.databases
            .iter()
            .filter(|d| !crate::exclude::database_excluded(&args.exclude, d, d))
            .cloned()
            .collect()
    };
    let mut started: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    for given in &databases {
        d1_core::signal::check()?;
        let mut db = None;
        let outcome = api::resolve(&client, given).and_then(|d| {
            db = Some(d.clone());
            start_one(&client, &d, &args, &mut started)
        });
        match outcome {
            Ok(()) => {}
            // A closed stdout or a signal ends the run: nobody reads what we would print.
            Err(e) if pipe::ends_run(&e) => return Err(e),
            Err(e) => {
                let mut f = Failure::of(&e, None);
                match db {
                    Some(d) => {
                        f.database_id = Some(d.uuid);
                        f.name = (!d.name.is_empty()).then_some(d.name);
                    }
                    None if api::is_uuid(given) => f.database_id = Some(given.clone()),
                    None => f.name = Some(given.clone()),
                }
                tally.fail_with(f)?;
            }
        }
    }
    Ok(tally.worst())
}

fn label(db: &Database) -> String {
    if db.name.is_empty() {
        db.uuid.clone()
    } else {
        format!("{} ({})", db.name, db.uuid)
    }
}

fn start_one(c: &Client, db: &Database, args: &Args, started: &mut Vec<String>) -> Result<()> {
    if started.contains(&db.uuid) {
        // A second start would join the running export and print its bookmark twice; two
        // waiters polling one export race each other for the bookmark.
        msg::warn(&format!(
            "database {} is given more than once; exporting it once",
            label(db)
        ));
        return Ok(());
    }
    if let Some(w) = crate::size::warning(db, args.size_warn_percent) {
        msg::warn(&w);
    }
    let mut dump = args.dump.clone();
    if args.preflight {
        let schema = crate::preflight::schema(c, &db.uuid).map_err(|e| {
            e.context(format!(
                "checking database {} for virtual tables before exporting",
                label(db)
            ))
        })?;
        let (keep, left_out) =
            crate::exclude::tables_for(&schema, &args.exclude_tables, args.exclude_virtual);
        if let Some(keep) = keep {
            msg::warn(&format!(
                "database {}: leaving out of the export: {}",
                label(db),
                left_out.join(", ")
            ));
            if keep.is_empty() {
                return Err(Error::usage(format!(
                    "database {}: nothing left to export once {} are left out",
                    label(db),
                    left_out.join(", ")
                )));
            }
            dump.tables = keep;
        }
        let found = crate::preflight::blocking(&schema, &dump.tables);
        if !found.is_empty() {
            return Err(Error::failed(crate::preflight::refusal(&label(db), &found)));
        }
    }
    let ans = api::export(c, &db.uuid, None, &dump)
        .map_err(|e| e.context(format!("starting the export of database {}", label(db))))?;
    if ans.status == Status::Error {
        return Err(Error::failed(format!(
            "export of database {} failed: {}",
            label(db),
            d1_core::export::describe_failure(&ans)
        )));
    }
    let bookmark = ans.at_bookmark.clone().unwrap_or_default();
    d1_core::export::check_bookmark(&bookmark).map_err(|e| {
        Error::failed(format!(
            "export of database {} started without a usable bookmark: {}",
            label(db),
            e.message
        ))
    })?;
    started.push(db.uuid.clone());
    if args.common.json {
        record::emit_json(&json!({
            "database_id": db.uuid,
            "name": db.name,
            "bookmark": bookmark,
            "status": if ans.status == Status::Complete { "complete" } else { "active" },
            "file_size": db.file_size,
        }))
    } else {
        record::emit(&[&db.uuid, &pipe::safe_field(&db.name), &bookmark])
    }
}
