//! Starting exports: resolve each database, warn when it is near D1's size limit, check that
//! it holds no virtual table the export would fail on (preflight.rs), start its
//! export and print its bookmark at once (the bookmark is perishable: d1-export-wait must start
//! polling it before D1 cancels the export).

use crate::args::Args;
use d1_core::api::{self, Database, Status};
use d1_core::client::Client;
use d1_core::{msg, record, Error, ExitCode, Result};
use serde_json::json;

/// Starts every database's export in the order given. A database that fails is reported and
/// the others still start; the result is the worst outcome.
pub fn run(args: Args) -> Result<ExitCode> {
    let databases = if args.databases.is_empty() {
        match d1_core::config::default_database() {
            Some(d) => vec![d],
            None => {
                return Err(Error::usage(
                    "no database given: name one (UUID or name) or set D1_DATABASE_ID",
                ))
            }
        }
    } else {
        args.databases.clone()
    };
    let (_cfg, client) = args.common.client()?;
    let mut started: Vec<String> = Vec::new();
    let mut worst = ExitCode::Ok;
    for name in &databases {
        d1_core::signal::check()?;
        match start_one(&client, name, &args, &mut started) {
            Ok(()) => {}
            // A closed stdout, a bad token or a signal ends the run: the token that failed for
            // one database fails for all, and nobody reads what we would print.
            Err(e)
                if matches!(
                    e.code,
                    ExitCode::Ok | ExitCode::Credentials | ExitCode::Interrupted
                ) =>
            {
                return Err(e)
            }
            Err(e) => {
                msg::error(&e.message);
                worst = worst.worst(e.code);
            }
        }
    }
    Ok(worst)
}

fn label(db: &Database) -> String {
    if db.name.is_empty() {
        db.uuid.clone()
    } else {
        format!("{} ({})", db.name, db.uuid)
    }
}

fn start_one(c: &Client, name: &str, args: &Args, started: &mut Vec<String>) -> Result<()> {
    let db = api::resolve(c, name)?;
    if started.contains(&db.uuid) {
        // A second start would join the running export and print its bookmark twice; two
        // waiters polling one export race each other for the bookmark.
        msg::warn(&format!(
            "database {} is given more than once; exporting it once",
            label(&db)
        ));
        return Ok(());
    }
    if let Some(w) = crate::size::warning(&db, args.size_warn_percent) {
        msg::warn(&w);
    }
    if args.preflight {
        let found = crate::preflight::check(c, &db.uuid, &args.dump.tables).map_err(|e| {
            e.context(format!(
                "checking database {} for virtual tables before exporting",
                label(&db)
            ))
        })?;
        if !found.is_empty() {
            return Err(Error::failed(crate::preflight::refusal(
                &label(&db),
                &found,
            )));
        }
    }
    let ans = api::export(c, &db.uuid, None, &args.dump)
        .map_err(|e| e.context(format!("starting the export of database {}", label(&db))))?;
    if ans.status == Status::Error {
        return Err(Error::failed(format!(
            "export of database {} failed: {}",
            label(&db),
            d1_core::export::describe_failure(&ans)
        )));
    }
    let bookmark = ans.at_bookmark.clone().unwrap_or_default();
    d1_core::export::check_bookmark(&bookmark).map_err(|e| {
        Error::failed(format!(
            "export of database {} started without a usable bookmark: {}",
            label(&db),
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
        record::emit(&[&db.uuid, &bookmark])
    }
}
