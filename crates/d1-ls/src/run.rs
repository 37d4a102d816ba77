//! One d1-ls run: pass upstream failure records on, read every location's catalog, group by
//! database, print what was asked for, and judge freshness (`--max-age`).

use crate::args::{Args, Format, Select};
use crate::listing::{self, when, Database};
use crate::show;
use d1_archive::catalog::Catalog;
use d1_archive::Store;
use d1_core::pipe::Failure;
use d1_core::{msg, upstream, ExitCode, Result};
use std::io::IsTerminal;

/// The stores the arguments name: the folders (with `-r`, each one below them), then each
/// bucket prefix, in the order given.
fn stores(args: &Args) -> Result<Vec<Box<dyn Store>>> {
    let mut out = args.places.folders(args.recursive)?;
    let (policy, deadline) = (args.common.policy(), args.common.deadline());
    out.extend(
        args.places
            .buckets(&args.store, policy, deadline, args.recursive)?,
    );
    Ok(out)
}

/// How this run reports a failure of its own: on stderr, and as a failure record on stdout
/// unless stdout is a table for a person.
struct Failures {
    records: bool,
    worst: ExitCode,
}

impl Failures {
    fn fail(&mut self, db: Option<&Database>, reason: String) -> Result<()> {
        let f = Failure {
            exit: ExitCode::Failed,
            tool: msg::tool().to_string(),
            database_id: db.map(|d| d.id.clone()),
            name: db.and_then(|d| d.name.clone()),
            reason,
            path: None,
        };
        msg::error(&format!("{}: {}", f.subject(), f.reason));
        self.worst = self.worst.worst(f.exit);
        if self.records {
            f.emit()?;
        }
        Ok(())
    }
}

/// Runs d1-ls; returns the worst outcome (upstream failures included).
pub fn run(args: Args) -> Result<ExitCode> {
    let from_upstream = if upstream::stdin_has_records() {
        Some(upstream::read(std::io::stdin().lock())?)
    } else {
        None
    };
    let format = match args.format {
        Format::Auto if std::io::stdout().is_terminal() => Format::Table,
        Format::Auto => Format::Records,
        f => f,
    };
    let stores = stores(&args)?;
    let mut found = Catalog::default();
    for (i, s) in stores.iter().enumerate() {
        found.scan(i, s.as_ref())?;
    }
    for s in found.skipped.iter().filter(|s| s.warn) {
        msg::warn(&format!("not listed: {}: {}", s.shown, s.why));
    }
    let mut dbs = listing::by_database(found.backups);
    if !args.databases.is_empty() {
        dbs.retain(|d| args.databases.iter().any(|w| d.is(w)));
    }
    let mut failures = Failures {
        records: format != Format::Table,
        worst: ExitCode::Ok,
    };
    for wanted in &args.databases {
        if !dbs.iter().any(|d| d.is(wanted)) {
            let places: Vec<String> = stores.iter().map(|s| s.location()).collect();
            failures.fail(
                None,
                format!("no backup of database {wanted} in {}", places.join(", ")),
            )?;
        }
    }
    for db in &dbs {
        let shown = db.selected(args.select);
        match format {
            Format::Table => show::table(db, &shown)?,
            Format::Json => {
                for b in &shown {
                    d1_core::record::emit_json(&show::json(db, b))?;
                }
            }
            _ => {
                for b in &shown {
                    if let Err(e) = show::record(db, b) {
                        if e.ends_run() {
                            return Err(e);
                        }
                        failures.fail(Some(db), e.message)?;
                    }
                }
            }
        }
        if format != Format::Table {
            msg::info(&format!("{}: {}", db.label(), db.summary()));
        }
        if shown.is_empty() && args.select != Select::All {
            let why = match args.select {
                Select::At(t) => format!("no verified backup taken at or before {}", when(t)),
                _ => "no verified backup".to_string(),
            };
            failures.fail(Some(db), why)?;
        }
    }
    if let Some(max) = args.max_age {
        let now = d1_core::time::unix_now();
        for db in &dbs {
            if let Some(why) = db.stale(now, max.as_secs() as i64) {
                failures.fail(Some(db), format!("not fresh: {why}"))?;
            }
        }
    }
    let mut worst = failures.worst;
    if let Some(up) = from_upstream {
        worst = worst.worst(upstream::finish(up, true, "listed anyway")?);
    }
    Ok(worst)
}
