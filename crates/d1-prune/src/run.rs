//! One d1-prune run: read upstream records, lock and scan the folders, decide per database,
//! remove (or print the plan), summarise.

use crate::args::Args;
use crate::calendar;
use crate::plan::{self, Backup, Decision};
use crate::scan::{self, Dump, Scan};
use crate::{input, lock, remove};
use d1_core::msg::{self, human_bytes};
use d1_core::record;
use d1_core::{ExitCode, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

/// Whether stdin carries records: not a terminal, and not a character device such as
/// /dev/null (systemd units and `</dev/null` mean "run alone").
fn stdin_has_records() -> bool {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return false;
    }
    let is_char_device = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_char_device());
    !is_char_device
}

/// A name fit for a plain record: `-` when unknown, no spaces.
fn plain_name(name: Option<&str>) -> String {
    match name {
        Some(n) => n
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect(),
        None => "-".into(),
    }
}

/// The runs' counts, per database and in total.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    kept: usize,
    removed: usize,
    freed: u64,
}

/// Runs d1-prune; returns the worst outcome (upstream failures included).
pub fn run(args: Args) -> Result<ExitCode> {
    let json_out = args.common.json;
    let mut worst = ExitCode::Ok;
    let upstream = if stdin_has_records() {
        Some(input::read(std::io::stdin().lock())?)
    } else {
        None
    };

    let dirs = scan::folders(&args.dirs, args.recursive)?;
    // A dry run changes nothing and so takes no lock: it may show a plan another run is
    // carrying out.
    let _locks = if args.dry_run {
        None
    } else {
        Some(lock::lock_all(&dirs, &args.common.deadline())?)
    };
    let mut found = Scan::default();
    for d in &dirs {
        scan::scan_folder(d, &mut found)?;
    }
    for s in &found.skipped {
        let text = format!("left alone: {}: {}", s.path.display(), s.why);
        if s.warn {
            msg::warn(&text);
        } else {
            msg::info(&text);
        }
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut by_db: BTreeMap<String, Vec<Dump>> = BTreeMap::new();
    for d in found.dumps {
        by_db
            .entry(d.manifest.database_id.clone())
            .or_default()
            .push(d);
    }

    // Decide every database first; then remove in two passes (see crate::remove): every dump,
    // one fsync per folder, then every sidecar.
    let mut plans = Vec::new();
    for (db, dumps) in by_db {
        let backups = dumps
            .into_iter()
            .map(|d| Backup {
                time: d.manifest.time,
                good: d.good(),
                id: d,
            })
            .collect();
        let decisions = plan::decide(&args.policy, backups, args.keep_unverified, now);
        // The newest dump's name speaks for the database (a database can be renamed).
        let name = decisions
            .iter()
            .find_map(|d| d.id.manifest.database_name.clone());
        let label = match &name {
            Some(n) => format!("{n} ({db})"),
            None => db.clone(),
        };
        if !decisions.iter().any(|d| d.good) {
            msg::warn(&format!(
                "{label}: no verified backup among {} dump(s): nothing of it is removed",
                decisions.len()
            ));
        }
        plans.push((label, name, decisions, Tally::default()));
    }

    // Pass 1: the dumps. Stops early (interrupted, stdout closed) only between two dumps, and
    // pass 2 still runs for the dumps already gone.
    let mut gone: Vec<PathBuf> = Vec::new();
    let mut stop: Option<d1_core::Error> = None;
    'plans: for (_, name, decisions, tally) in plans.iter_mut() {
        for d in decisions.iter() {
            if let Err(e) = d1_core::signal::check() {
                stop = Some(e);
                break 'plans;
            }
            if d.keep() {
                tally.kept += 1;
                if args.dry_run {
                    if let Err(e) = print_plan(d, name, json_out) {
                        stop = Some(e);
                        break 'plans;
                    }
                }
                continue;
            }
            if args.dry_run {
                tally.removed += 1;
                tally.freed += d.id.bytes;
                if let Err(e) = print_plan(d, name, json_out) {
                    stop = Some(e);
                    break 'plans;
                }
                continue;
            }
            match remove::remove_dump_file(&d.id.path) {
                Ok(()) => {
                    tally.removed += 1;
                    tally.freed += d.id.bytes;
                    gone.push(d.id.path.clone());
                    if let Err(e) = print_removed(d, name, json_out) {
                        stop = Some(e);
                        break 'plans;
                    }
                }
                Err(e) => {
                    msg::error(&e.message);
                    worst = worst.worst(ExitCode::Failed);
                    tally.kept += 1;
                }
            }
        }
    }

    // The dumps' removal is on disk before any of their sidecars goes. A folder that cannot be
    // synced keeps its sidecars (the next run finishes them).
    let folder_of = |p: &PathBuf| p.parent().map(PathBuf::from).unwrap_or_default();
    let mut synced: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for p in &gone {
        let dir = folder_of(p);
        if synced.contains_key(&dir) {
            continue;
        }
        let ok = match remove::sync(&dir) {
            Ok(()) => true,
            Err(e) => {
                msg::error(&e.message);
                worst = worst.worst(ExitCode::Failed);
                false
            }
        };
        synced.insert(dir, ok);
    }
    // Pass 2: their sidecars, then those of removals an earlier run left unfinished.
    for p in &gone {
        if synced.get(&folder_of(p)) == Some(&true) {
            if let Err(e) = remove::finish(p) {
                msg::error(&e.message);
                worst = worst.worst(ExitCode::Failed);
            }
        }
    }
    let mut total = Tally::default();
    if stop.is_none() {
        for o in &found.orphans {
            let what = format!(
                "the sidecars of {} (its removal was interrupted)",
                o.dump.display()
            );
            if args.dry_run {
                msg::info(&format!("would finish removing {what}"));
                continue;
            }
            match remove::finish(&o.dump) {
                Ok(()) => {
                    msg::info(&format!("finished removing {what}"));
                    total.freed += o.bytes;
                    synced.insert(folder_of(&o.dump), true);
                }
                Err(e) => {
                    msg::error(&e.message);
                    worst = worst.worst(ExitCode::Failed);
                }
            }
        }
    }
    for dir in synced.keys() {
        if let Err(e) = remove::sync(dir) {
            msg::error(&e.message);
            worst = worst.worst(ExitCode::Failed);
        }
    }
    if let Some(e) = stop {
        return Err(e);
    }

    let databases = plans.len();
    for (label, _, _, tally) in &plans {
        msg::info(&format!("{label}: {}", summary(tally, args.dry_run)));
        total.kept += tally.kept;
        total.removed += tally.removed;
        total.freed += tally.freed;
    }
    msg::info(&format!(
        "{databases} database(s): {}",
        summary(&total, args.dry_run)
    ));
    if let Some(up) = upstream {
        worst = worst.worst(input::finish(up, args.common.allow_empty)?);
    }
    Ok(worst)
}

/// `kept 9 dump(s), removed 31, freed 1.2 MB` (or `would remove 31 (1.2 MB)`).
fn summary(t: &Tally, dry_run: bool) -> String {
    let (kept, removed, bytes) = (t.kept, t.removed, human_bytes(t.freed));
    if dry_run {
        format!("kept {kept} dump(s), would remove {removed} ({bytes})")
    } else {
        format!("kept {kept} dump(s), removed {removed}, freed {bytes}")
    }
}

fn details(d: &Decision<Dump>, name: &Option<String>) -> serde_json::Value {
    json!({
        "database_id": d.id.manifest.database_id,
        "database_name": name,
        "path": d.id.path.display().to_string(),
        "exported_at": calendar::format(d.time),
        "verification": d.id.verdict.describe(),
        "bytes": d.id.bytes,
        "reason": d.why.to_string(),
    })
}

/// A removed dump: `DATABASE_ID NAME PATH`, or its JSON.
fn print_removed(d: &Decision<Dump>, name: &Option<String>, json_out: bool) -> Result<()> {
    if json_out {
        let mut v = details(d, name);
        v["removed"] = json!(true);
        return record::emit_json(&v);
    }
    let path = d.id.path.display().to_string();
    record::emit(&[
        &d.id.manifest.database_id,
        &plain_name(name.as_deref()),
        &path,
    ])
}

/// A line of the plan: `keep|remove DATABASE_ID NAME PATH EXPORTED_AT REASON`.
fn print_plan(d: &Decision<Dump>, name: &Option<String>, json_out: bool) -> Result<()> {
    let action = if d.keep() { "keep" } else { "remove" };
    if json_out {
        let mut v = details(d, name);
        v["action"] = json!(action);
        return record::emit_json(&v);
    }
    let why = if d.good {
        d.why.to_string()
    } else {
        format!("{}; {}", d.id.verdict.describe(), d.why)
    };
    let path = d.id.path.display().to_string();
    record::emit(&[
        action,
        &d.id.manifest.database_id,
        &plain_name(name.as_deref()),
        &path,
        &calendar::format(d.time),
        &why,
    ])
}

/// The binary's whole job: parse the arguments, run.
pub fn main_run() -> Result<ExitCode> {
    run(crate::args::parse()?)
}
