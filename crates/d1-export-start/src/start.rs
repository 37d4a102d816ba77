//! Starting exports: choose the databases (named, or the account's list read once with `--all`,
//! less `--exclude`, within `--shard`), warn when one is near D1's size limit, check that it holds
//! no virtual table the export would fail on (preflight.rs), start its export and print its
//! bookmark at once (the bookmark is perishable: d1-export-wait must start polling it before D1
//! cancels the export). Each database costs the preflight's query and the start, no more.

use crate::args::Args;
use d1_core::api::{self, Database, Status};
use d1_core::client::{self, Client};
use d1_core::pipe::{self, Failure, Tally};
use d1_core::shard::Shard;
use d1_core::{msg, record, Error, ExitCode, Result};
use serde_json::json;

/// A database to start: known from the list (`--all`), or as the user gave it.
enum Given {
    Listed(Database),
    Named(String),
}

/// Starts every database's export in the order given. A database that fails gets a failure
/// record on stdout (pipe.rs) and the others still start; the result is the worst outcome.
pub fn run(args: Args) -> Result<ExitCode> {
    let (_cfg, mut client) = args.common.client()?;
    if let Some(s) = args.shard {
        client = client.in_shard(s);
    }
    let (databases, of, sizes) = choose(&client, &args)?;
    if let (true, Some(shard)) = (args.all, args.shard) {
        // Every shard reads the same list: a fuller shard gets more of the account's budget.
        client.set_shard_sizes(shard, &sizes);
    }
    let listing = client::requests_sent();
    let mut started: Vec<String> = Vec::new();
    let mut tally = Tally::default();
    for given in &databases {
        d1_core::signal::check()?;
        let before = client::requests_sent();
        let mut db = None;
        let outcome = resolve(&client, given, args.shard).and_then(|d| {
            db = d.clone();
            match d {
                Some(d) => start_one(&client, &d, &args, &mut started, before),
                None => Ok(()),
            }
        });
        match outcome {
            Ok(()) => {}
            // A closed stdout or a signal ends the run: nobody reads what we would print.
            Err(e) if pipe::ends_run(&e) => return Err(e),
            Err(e) => {
                let mut f = Failure::of(&e, None);
                match (db.as_ref(), given) {
                    (Some(d), _) | (None, Given::Listed(d)) => {
                        f.database_id = Some(d.uuid.clone());
                        f.name = (!d.name.is_empty()).then(|| d.name.clone());
                    }
                    (None, Given::Named(g)) if api::is_uuid(g) => f.database_id = Some(g.clone()),
                    (None, Given::Named(g)) => f.name = Some(g.clone()),
                }
                tally.fail_with(f)?;
            }
        }
    }
    if !args.dry_run {
        summary(&args, started.len(), databases.len(), of, listing);
    }
    Ok(tally.worst())
}

/// The databases of this run, how many there were before `--shard` chose among them (the
/// account's less `--exclude`, or those named), and with `--all --shard`, how many each shard
/// holds: for the budget's weight and the summary.
fn choose(client: &Client, args: &Args) -> Result<(Vec<Given>, usize, Vec<usize>)> {
    if args.all {
        // The whole account, in the list's order, read once: it names and sizes every database,
        // so nothing is looked up again.
        let all = api::list_databases(client, None)?;
        if all.is_empty() {
            msg::warn("--all: the account has no databases");
        }
        warn_unmatched(
            &args.exclude,
            all.iter().map(|d| (d.name.as_str(), d.uuid.as_str())),
        );
        let kept: Vec<Database> = all
            .into_iter()
            .filter(|d| !crate::exclude::database_excluded(&args.exclude, &d.name, &d.uuid))
            .collect();
        let of = kept.len();
        let mut sizes = Vec::new();
        if let Some(s) = args.shard {
            sizes = vec![0; s.count as usize];
            for d in &kept {
                sizes[d1_core::shard::of(&d.uuid, s.count) as usize] += 1;
            }
        }
        let chosen = kept
            .into_iter()
            .filter(|d| args.shard.is_none_or(|s| s.takes(&d.uuid)))
            .map(Given::Listed)
            .collect();
        return Ok((chosen, of, sizes));
    }
    let named = if args.databases.is_empty() {
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
    warn_unmatched(
        &args.exclude,
        named.iter().map(|d| (d.as_str(), d.as_str())),
    );
    let of = named.len();
    let chosen = named
        .into_iter()
        .filter(|d| !crate::exclude::database_excluded(&args.exclude, d, d))
        // An id of another shard is left out without asking the API; a name is looked up first.
        .filter(|d| !api::is_uuid(d) || args.shard.is_none_or(|s| s.takes(d)))
        .map(Given::Named)
        .collect();
    Ok((chosen, of, Vec::new()))
}

/// Warns about each `--exclude` pattern that leaves nothing out: a typo would otherwise back up
/// what was meant to stay out, without a word.
fn warn_unmatched<'a>(patterns: &[String], databases: impl Iterator<Item = (&'a str, &'a str)>) {
    let databases: Vec<(&str, &str)> = databases.collect();
    for p in patterns {
        let p = std::slice::from_ref(p);
        if !databases
            .iter()
            .any(|(name, id)| crate::exclude::database_excluded(p, name, id))
        {
            msg::warn(&format!(
                "--exclude {:?} matches no database{}",
                p[0],
                if databases.is_empty() {
                    ""
                } else {
                    " of this run"
                }
            ));
        }
    }
}

/// The database to start; `None` when it belongs to another shard.
fn resolve(c: &Client, given: &Given, shard: Option<Shard>) -> Result<Option<Database>> {
    let db = match given {
        Given::Listed(d) => return Ok(Some(d.clone())),
        Given::Named(g) => api::resolve(c, g)?,
    };
    Ok(shard.is_none_or(|s| s.takes(&db.uuid)).then_some(db))
}

/// One line on stderr at the end when the request budget slowed the run down (silenced by
/// `-q`): what was started, what it cost in API requests, how long the budget held it back. A
/// run the budget did not slow says nothing: quiet when all is well.
fn summary(args: &Args, started: usize, chosen: usize, of: usize, listing: u64) {
    let paced = d1_core::budget::paced();
    if paced < std::time::Duration::from_millis(100) {
        return;
    }
    let total = client::requests_sent();
    let shard = match args.shard {
        Some(s) => format!(" (shard {s}: {chosen} of {of} databases)"),
        None => String::new(),
    };
    let per = if started > 0 {
        format!(
            ", {:.2} per database started",
            (total - listing) as f64 / started as f64
        )
    } else {
        String::new()
    };
    msg::info(&format!(
        "started {started} export(s){shard}; {total} API request(s), {listing} of them listing \
         the account{per}; {:.1} s waiting for the request budget",
        paced.as_secs_f64()
    ));
}

fn label(db: &Database) -> String {
    if db.name.is_empty() {
        db.uuid.clone()
    } else {
        format!("{} ({})", db.name, db.uuid)
    }
}

fn start_one(
    c: &Client,
    db: &Database,
    args: &Args,
    started: &mut Vec<String>,
    before: u64,
) -> Result<()> {
    if started.contains(&db.uuid) {
        // A second start would join the running export and print its bookmark twice; two
        // waiters polling one export race each other for the bookmark.
        msg::warn(&format!(
            "database {} is given more than once; exporting it once",
            label(db)
        ));
        return Ok(());
    }
    if args.dry_run {
        started.push(db.uuid.clone());
        if args.common.json {
            let mut rec =
                json!({"database_id": db.uuid, "name": db.name, "file_size": db.file_size});
            if let Some(s) = args.shard {
                rec["shard"] = json!(s.to_string());
            }
            return record::emit_json(&rec);
        }
        return record::emit(&[&db.uuid, &pipe::safe_field(&db.name)]);
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
            // A dump of views alone restores no row: d1-verify would pass it as a backup of
            // zero tables (issue 30, D21).
            if crate::exclude::data_tables(&schema, &keep).is_empty() {
                return Err(Error::usage(format!(
                    "database {}: no table left to export once {} are left out (only {} would \
                     be: views, indexes and triggers hold no data); leave fewer tables out",
                    label(db),
                    left_out.join(", "),
                    keep.join(", ")
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
        let mut rec = json!({
            "database_id": db.uuid,
            "name": db.name,
            "bookmark": bookmark,
            "status": if ans.status == Status::Complete { "complete" } else { "active" },
            "file_size": db.file_size,
            "requests": client::requests_sent() - before,
        });
        if let Some(s) = args.shard {
            rec["shard"] = json!(s.to_string());
        }
        record::emit_json(&rec)
    } else {
        record::emit(&[&db.uuid, &pipe::safe_field(&db.name), &bookmark])
    }
}
