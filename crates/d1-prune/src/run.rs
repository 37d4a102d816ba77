//! One d1-prune run: read upstream records, lock and read each location's stores (the folders
//! given, pooled; each bucket prefix on its own), decide per database, remove in two passes (or
//! print the plan), summarise. A folder and a bucket prefix go through the same steps.

use crate::args::Args;
use crate::plan::{self, Backup as Entry, Decision};
use crate::remove::{self, Gone};
use crate::report::{self, Counts};
use d1_archive::catalog::{Backup, Catalog, Orphan, Skipped};
use d1_archive::Store;
use d1_core::upstream;
use d1_core::{msg, Error, ExitCode, Result};
use std::collections::BTreeMap;

/// One database's decisions.
struct DbPlan {
    /// `name (id)` for messages.
    label: String,
    name: Option<String>,
    decisions: Vec<Decision<Backup>>,
    counts: Counts,
}

/// Groups the backups by database and decides each group.
fn decide_all(backups: Vec<Backup>, args: &Args, now: i64) -> Vec<DbPlan> {
    let mut by_db: BTreeMap<String, Vec<Backup>> = BTreeMap::new();
    for b in backups {
        by_db.entry(b.database_id.clone()).or_default().push(b);
    }
    let mut plans = Vec::new();
    for (db, backups) in by_db {
        let entries = backups
            .into_iter()
            .map(|b| Entry {
                time: b.time,
                good: b.good(),
                id: b,
            })
            .collect();
        let decisions = plan::decide(&args.policy, entries, args.keep_unverified, now);
        // The newest dump's name speaks for the database (a database can be renamed).
        let name = decisions
            .iter()
            .find_map(|d| d.id.database_name().map(str::to_string));
        let label = match &name {
            Some(n) => format!("{n} ({db})"),
            None => db,
        };
        if !decisions.iter().any(|d| d.good) {
            msg::warn(&format!(
                "{label}: no verified backup among {} dump(s): nothing of it is removed",
                decisions.len()
            ));
        }
        plans.push(DbPlan {
            label,
            name,
            decisions,
            counts: Counts::default(),
        });
    }
    plans
}

/// What pass 1 did: the dumps it removed, and the error that stopped it early, if any.
#[derive(Default)]
struct PassOne {
    gone: Gone,
    stop: Option<Error>,
    worst: Option<ExitCode>,
}

/// Pass 1: removes (or, in a dry run, prints) each dump that is not kept, printing a record for
/// each. Stops early only between two dumps: on a signal, when stdout is closed, or when the
/// store refuses or stops answering.
fn pass_one(plans: &mut [DbPlan], stores: &[Box<dyn Store>], args: &Args) -> PassOne {
    let (dry_run, json_out) = (args.dry_run, args.common.json);
    let mut out = PassOne::default();
    for p in plans.iter_mut() {
        for d in &p.decisions {
            let printed = if let Err(e) = d1_core::signal::check() {
                Err(e)
            } else if d.keep() {
                p.counts.kept += 1;
                if dry_run {
                    report::plan(d, p.name.as_deref(), json_out)
                } else {
                    Ok(())
                }
            } else if dry_run {
                p.counts.removed += 1;
                p.counts.freed += d.id.bytes;
                report::plan(d, p.name.as_deref(), json_out)
            } else {
                match remove::remove_dump(stores, d) {
                    Ok(()) => {
                        p.counts.removed += 1;
                        p.counts.freed += d.id.bytes;
                        out.gone.push((d.id.store, d.id.key.clone()));
                        report::removed(d, p.name.as_deref(), json_out)
                    }
                    Err(e) if remove::stops(&e) => Err(e),
                    Err(e) => {
                        msg::error(&e.message);
                        out.worst = Some(ExitCode::Failed);
                        p.counts.kept += 1;
                        Ok(())
                    }
                }
            };
            if let Err(e) = printed {
                out.stop = Some(e);
                return out;
            }
        }
    }
    out
}

/// One location's pruning: its plans, and what went wrong.
struct Pruned {
    plans: Vec<DbPlan>,
    /// Bytes of finished orphans.
    freed: u64,
    worst: ExitCode,
}

fn report_skipped(skipped: &[Skipped]) {
    for s in skipped {
        let text = format!("left alone: {}: {}", s.shown, s.why);
        if s.warn {
            msg::warn(&text);
        } else {
            msg::info(&text);
        }
    }
}

/// `--dry-run`: the removals an earlier run left half done, which a real run would finish.
fn say_unfinished(orphans: &[Orphan]) {
    for o in orphans {
        msg::info(&format!(
            "would finish removing the sidecars of {} (its removal was interrupted)",
            o.shown
        ));
    }
}

/// One location: its stores locked (not for a dry run: it changes nothing, and may show a
/// plan another run is carrying out), read, decided as one pool, and pruned. `label` prefixes
/// each database's summary (a bucket prefix's location).
fn prune(args: &Args, stores: &[Box<dyn Store>], label: Option<String>) -> Result<Pruned> {
    let _locks = if args.dry_run {
        None
    } else {
        let deadline = args.common.deadline();
        let locks: Result<Vec<_>> = stores.iter().map(|s| s.lock(&deadline)).collect();
        Some(locks?)
    };
    let mut found = Catalog::default();
    for (i, s) in stores.iter().enumerate() {
        found.scan(i, s.as_ref())?;
    }
    report_skipped(&found.skipped);
    let mut plans = decide_all(found.backups, args, d1_core::time::unix_now());
    if let Some(where_) = label {
        for p in &mut plans {
            p.label = format!("{where_}: {}", p.label);
        }
    }
    let one = pass_one(&mut plans, stores, args);
    let mut out = Pruned {
        plans: Vec::new(),
        freed: 0,
        worst: one.worst.unwrap_or(ExitCode::Ok),
    };
    if args.dry_run {
        say_unfinished(&found.orphans);
    } else {
        let (worst, freed) =
            remove::finish_all(stores, &one.gone, &found.orphans, one.stop.is_none());
        out.worst = out.worst.worst(worst);
        out.freed = freed;
    }
    if let Some(e) = one.stop {
        return Err(e);
    }
    out.plans = plans;
    Ok(out)
}

/// Runs d1-prune; returns the worst outcome (upstream failures included).
pub fn run(args: Args) -> Result<ExitCode> {
    let mut worst = ExitCode::Ok;
    let from_upstream = if upstream::stdin_has_records() {
        Some(upstream::read(std::io::stdin().lock())?)
    } else {
        None
    };

    let mut done = Vec::new();
    let folders = args.places.folders(args.recursive)?;
    if !folders.is_empty() {
        done.push(prune(&args, &folders, None)?);
    }
    let (policy, deadline) = (args.common.policy(), args.common.deadline());
    for store in args
        .places
        .buckets(&args.store, policy, deadline, args.recursive)?
    {
        let label = store.location();
        done.push(prune(&args, &[store], Some(label))?);
    }

    let mut total = Counts::default();
    let mut databases = 0;
    for d in &done {
        worst = worst.worst(d.worst);
        total.freed += d.freed;
        for p in &d.plans {
            msg::info(&format!("{}: {}", p.label, p.counts.summary(args.dry_run)));
            total.add(&p.counts);
        }
        databases += d.plans.len();
    }
    msg::info(&format!(
        "{databases} database(s): {}",
        total.summary(args.dry_run)
    ));
    if let Some(up) = from_upstream {
        worst = worst.worst(upstream::finish(
            up,
            args.common.allow_empty,
            "pruned anyway",
        )?);
    }
    Ok(worst)
}

/// The binary's whole job: parse the arguments, run.
pub fn main_run() -> Result<ExitCode> {
    run(crate::args::parse()?)
}
