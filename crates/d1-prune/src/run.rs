//! One d1-prune run: read upstream records, lock and scan the folders, decide per database,
//! remove in two passes (or print the plan), summarise.

use crate::args::Args;
use crate::plan::{self, Backup, Decision};
use crate::report::{self, Counts};
use crate::scan::{self, Dump, Orphan};
use crate::{input, lock, remove, s3};
use d1_core::{msg, Error, ExitCode, Result};
use d1_upload::store::{S3Url, Store};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

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

/// One database's decisions.
struct DbPlan {
    /// `name (id)` for messages.
    label: String,
    name: Option<String>,
    decisions: Vec<Decision<Dump>>,
    counts: Counts,
}

/// Groups the dumps by database and decides each group.
fn decide_all(dumps: Vec<Dump>, args: &Args, now: i64) -> Vec<DbPlan> {
    let mut by_db: BTreeMap<String, Vec<Dump>> = BTreeMap::new();
    for d in dumps {
        by_db
            .entry(d.manifest.database_id.clone())
            .or_default()
            .push(d);
    }
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
    gone: Vec<PathBuf>,
    stop: Option<Error>,
    worst: Option<ExitCode>,
}

/// Pass 1: removes (or, in a dry run, prints) each dump that is not kept, printing a record for
/// each. Stops early only between two dumps: on a signal, or when stdout is closed.
fn pass_one(
    plans: &mut [DbPlan],
    dry_run: bool,
    json_out: bool,
    remove: &dyn Fn(&Path) -> Result<()>,
) -> PassOne {
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
                match remove(&d.id.path) {
                    Ok(()) => {
                        p.counts.removed += 1;
                        p.counts.freed += d.id.bytes;
                        out.gone.push(d.id.path.clone());
                        report::removed(d, p.name.as_deref(), json_out)
                    }
                    // The store's credentials, deadline or a signal: the rest would fail alike.
                    Err(e)
                        if matches!(
                            e.code(),
                            ExitCode::Credentials | ExitCode::Temporary | ExitCode::Interrupted
                        ) =>
                    {
                        Err(e)
                    }
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

fn folder_of(p: &Path) -> PathBuf {
    p.parent().map(PathBuf::from).unwrap_or_default()
}

/// The dumps' removal is made durable (one fsync per folder) before any of their sidecars
/// goes (pass 2); then the sidecars of removals an earlier run left unfinished, unless the run
/// is stopping. A folder that cannot be synced keeps its sidecars (a later run finishes them).
/// Returns whether all went well and the bytes of the finished orphans.
fn pass_two(gone: &[PathBuf], orphans: &[Orphan], with_orphans: bool) -> (bool, u64) {
    let mut ok = true;
    let mut synced: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for p in gone {
        let dir = folder_of(p);
        if let std::collections::btree_map::Entry::Vacant(slot) = synced.entry(dir) {
            let done = remove::sync(slot.key())
                .map_err(|e| msg::error(&e.message))
                .is_ok();
            ok &= done;
            slot.insert(done);
        }
    }
    for p in gone {
        if synced.get(&folder_of(p)) == Some(&true) {
            if let Err(e) = remove::finish(p) {
                msg::error(&e.message);
                ok = false;
            }
        }
    }
    let mut freed = 0;
    for o in orphans.iter().filter(|_| with_orphans) {
        let what = format!(
            "the sidecars of {} (its removal was interrupted)",
            o.dump.display()
        );
        match remove::finish(&o.dump) {
            Ok(()) => {
                msg::info(&format!("finished removing {what}"));
                freed += o.bytes;
                synced.insert(folder_of(&o.dump), true);
            }
            Err(e) => {
                msg::error(&e.message);
                ok = false;
            }
        }
    }
    for dir in synced.iter().filter(|(_, s)| **s).map(|(d, _)| d) {
        if let Err(e) = remove::sync(dir) {
            msg::error(&e.message);
            ok = false;
        }
    }
    (ok, freed)
}

/// One location's pruning: its plans, and what went wrong.
struct Pruned {
    plans: Vec<DbPlan>,
    /// Bytes of finished orphans.
    freed: u64,
    worst: ExitCode,
}

fn report_skipped(skipped: &[scan::Skipped]) {
    for s in skipped {
        let text = format!("left alone: {}: {}", s.path.display(), s.why);
        if s.warn {
            msg::warn(&text);
        } else {
            msg::info(&text);
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The local folders.
fn prune_folders(args: &Args) -> Result<Pruned> {
    let dirs = scan::folders(&args.dirs, args.recursive)?;
    // A dry run changes nothing and so takes no lock: it may show a plan another run is
    // carrying out.
    let _locks = if args.dry_run {
        None
    } else {
        Some(lock::lock_all(&dirs, &args.common.deadline())?)
    };
    let mut found = scan::Scan::default();
    for d in &dirs {
        scan::scan_folder(d, &mut found)?;
    }
    report_skipped(&found.skipped);
    let mut plans = decide_all(found.dumps, args, now());
    let one = pass_one(&mut plans, args.dry_run, args.common.json, &|p| {
        remove::remove_dump_file(p)
    });
    let mut out = Pruned {
        plans: Vec::new(),
        freed: 0,
        worst: one.worst.unwrap_or(ExitCode::Ok),
    };
    if args.dry_run {
        say_unfinished(&found.orphans);
    } else {
        let (ok, freed) = pass_two(&one.gone, &found.orphans, one.stop.is_none());
        if !ok {
            out.worst = out.worst.worst(ExitCode::Failed);
        }
        out.freed = freed;
    }
    if let Some(e) = one.stop {
        return Err(e);
    }
    out.plans = plans;
    Ok(out)
}

/// `--dry-run`: the removals an earlier run left half done (a folder's or a prefix's), which a
/// real run would finish.
fn say_unfinished(orphans: &[scan::Orphan]) {
    for o in orphans {
        msg::info(&format!(
            "would finish removing the sidecars of {} (its removal was interrupted)",
            o.dump.display()
        ));
    }
}

/// One bucket prefix: listed, decided by the same plan, removed in the same order (every dump
/// first, then each one's `.sha256` and `.json`). There is no lock: S3 has none; two runs
/// deciding alike remove the same objects, and deleting a deleted object succeeds.
fn prune_bucket(args: &Args, url: &S3Url) -> Result<Pruned> {
    let store = Store::from_env(
        &args.store,
        &url.bucket,
        args.common.policy(),
        args.common.deadline(),
    )?;
    let where_ = format!("s3://{}/{}", url.bucket, s3::prefix_of(url));
    let found = s3::scan(&store, url, args.recursive)?;
    report_skipped(&found.skipped);
    let mut plans = decide_all(found.dumps, args, now());
    for p in &mut plans {
        p.label = format!("{where_}: {}", p.label);
    }
    let one = pass_one(&mut plans, args.dry_run, args.common.json, &|p| {
        s3::remove_dump(&store, p)
    });
    let mut out = Pruned {
        plans: Vec::new(),
        freed: 0,
        worst: one.worst.unwrap_or(ExitCode::Ok),
    };
    if args.dry_run {
        say_unfinished(&found.orphans);
    } else {
        let orphans = found.orphans.iter().filter(|_| one.stop.is_none());
        let mut finished = Vec::new();
        for p in &one.gone {
            finished.push((p, None));
        }
        for o in orphans {
            finished.push((&o.dump, Some(o.bytes)));
        }
        for (p, orphan_bytes) in finished {
            match s3::finish(&store, p) {
                Ok(()) => {
                    if let Some(b) = orphan_bytes {
                        msg::info(&format!(
                            "finished removing the sidecars of {} (its removal was interrupted)",
                            p.display()
                        ));
                        out.freed += b;
                    }
                }
                Err(e) => {
                    msg::error(&e.message);
                    out.worst = out.worst.worst(e.code());
                }
            }
        }
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
    let upstream = if stdin_has_records() {
        Some(input::read(std::io::stdin().lock())?)
    } else {
        None
    };

    let mut done = Vec::new();
    if !args.dirs.is_empty() {
        done.push(prune_folders(&args)?);
    }
    for url in &args.buckets {
        done.push(prune_bucket(&args, url)?);
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
    if let Some(up) = upstream {
        worst = worst.worst(input::finish(up, args.common.allow_empty)?);
    }
    Ok(worst)
}

/// The binary's whole job: parse the arguments, run.
pub fn main_run() -> Result<ExitCode> {
    run(crate::args::parse()?)
}
