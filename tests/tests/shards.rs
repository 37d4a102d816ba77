//! Many databases on the schedulers users already run (issue 35), scaled down so that `make test`
//! proves in seconds what the 1,000-database night (scripts/scale.sh, `make scale`) measures in
//! minutes: the account's list read once and no other request per database than the preflight,
//! the start and the polls; every database backed up by exactly one of N shards; a database
//! added moving no other; N shards at once within the account's limit, none cancelled.

use d1_tests::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The account's limit and the request budget, equal, as in the night of scripts/scale.sh
/// (1200 per 300 s), with a window of 10 s and three times the rate, so that a test takes
/// seconds.
const LIMIT: &str = "120/10";

/// For eight shards: a window the night's requests overflow, so that shards each pacing to the
/// whole budget would be refused (8 × a burst of 6, then 8 × 10.8 a second), and each pacing to
/// an eighth of it are not.
const SHARDED_LIMIT: &str = "60/5";

/// An emulator with `n` small databases (`db-0001` …), D1's limit scaled down, and exports that
/// complete on their first poll, as a small database's does on D1 (a long poll held until done).
fn account(n: u32, limit: &str) -> Emulator {
    Emulator::start_empty(&[
        "--seed-count",
        &n.to_string(),
        "--rate-limit",
        limit,
        "--export-polls",
        "1",
    ])
}

/// `script` under plain `sh` against `emu` with the request budget `LIMIT` and its state in
/// `runtime` (one per host: a pod, a runner).
fn night(
    emu: &Emulator,
    limit: &str,
    dir: &Path,
    runtime: &Path,
    script: &str,
) -> std::process::Child {
    let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .envs(emu.env())
        .env("D1_REQUEST_BUDGET", limit)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The ids of the databases whose manifests are in `dir`.
fn backed_up(dir: &Path) -> Vec<String> {
    files_in(dir)
        .iter()
        .filter(|f| f.ends_with(".json"))
        .map(|f| {
            let m: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            m["database_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// What the emulator counted: API requests per database, and the account-wide ones.
fn counts(emu: &Emulator) -> (BTreeMap<String, u64>, Value) {
    let st = emu.state();
    let by_db = st["requests_by_database"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    (by_db, st)
}

fn assert_clean_night(emu: &Emulator, n: usize) {
    let (by_db, st) = counts(emu);
    assert_eq!(st["rate_limit"]["refused"], 0, "requests refused: {st}");
    let exports = st["exports"].as_array().unwrap();
    assert_eq!(exports.len(), n, "{st}");
    assert!(
        exports.iter().all(|e| e["status"] == "complete"),
        "an export was lost: {st}"
    );
    assert_eq!(
        st["requests"]["get"], 0,
        "no database is looked up one by one"
    );
    // The preflight, the start, one poll: three requests a database, no more.
    assert_eq!(by_db.len(), n);
    for (db, r) in &by_db {
        assert_eq!(*r, 3, "{db}: {st}");
    }
}

#[test]
fn one_process_backs_up_every_database_in_three_requests_each_within_the_limit() {
    let emu = account(24, LIMIT);
    let out = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let child = night(
        &emu,
        LIMIT,
        out.path(),
        runtime.path(),
        "d1-export-start --all | d1-export-wait | d1-fetch -o backups/ | d1-verify",
    );
    let o = wait(child, Duration::from_secs(120));
    assert_eq!(o.code, 0, "{o:?}");
    let ok = o
        .stdout_lines()
        .iter()
        .filter(|l| l.starts_with("OK "))
        .count();
    assert_eq!(ok, 24, "{o:?}");
    assert_clean_night(&emu, 24);
    assert_eq!(emu.requests("list"), 1, "the list is read once");
    let ids: BTreeSet<String> = backed_up(&out.path().join("backups")).into_iter().collect();
    assert_eq!(ids.len(), 24);
    // The budget slowed the starts: the pacing is said once, and the summary says what it cost;
    // the polls were never held back, so d1-export-wait says nothing.
    assert!(
        o.stderr.contains(
            "d1-export-start: started 24 export(s); 49 API request(s), 1 of them listing the \
             account, 2.00 per database started; "
        ),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("d1-export-wait:"), "{}", o.stderr);
}

#[test]
fn eight_shards_at_once_back_up_every_database_exactly_once_within_the_limit() {
    let emu = account(32, SHARDED_LIMIT);
    let out = tempfile::tempdir().unwrap();
    // Eight hosts (pods, runners): a budget folder each, as each has its own file system.
    let runtimes: Vec<tempfile::TempDir> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<std::process::Child> = (0..8)
        .map(|i| {
            night(
                &emu,
                SHARDED_LIMIT,
                out.path(),
                runtimes[i].path(),
                &format!(
                    "d1-export-start --all --shard {i}/8 | d1-export-wait --allow-empty \
                     | d1-fetch --allow-empty -o shard-{i}/ | d1-verify --allow-empty"
                ),
            )
        })
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, child) in children.into_iter().enumerate() {
        let o = wait(child, Duration::from_secs(120));
        assert_eq!(o.code, 0, "shard {i}: {o:?}");
        for id in backed_up(&out.path().join(format!("shard-{i}"))) {
            assert_eq!(
                d1_core::shard::of(&id, 8),
                i as u32,
                "{id} in the wrong shard"
            );
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 32, "union = all: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "no overlap: {seen:?}");
    assert_clean_night(&emu, 32);
    assert_eq!(emu.requests("list"), 8, "one list per shard");
}

/// Shard membership by `--dry-run` (no export started): shard -> ids.
fn membership(emu: &Emulator) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    for i in 0..8 {
        let o = tool("d1-export-start")
            .args(["--all", "--dry-run", "--shard", &format!("{i}/8")])
            .env_from(emu)
            .run();
        assert_eq!(o.code, 0, "{o:?}");
        for l in o.stdout_lines() {
            let id = l.split(' ').next().unwrap().to_string();
            assert!(m.insert(id, i).is_none(), "{l} in two shards");
        }
    }
    m
}

#[test]
fn a_database_added_moves_no_other_between_shards() {
    let emu = Emulator::start_empty(&["--seed-count", "40"]);
    let before = membership(&emu);
    assert_eq!(before.len(), 40);
    for i in 0..10 {
        emu.create_db(&format!("added-{i}"));
    }
    let after = membership(&emu);
    assert_eq!(after.len(), 50);
    for (id, shard) in &before {
        assert_eq!(after.get(id), Some(shard), "{id} moved");
    }
    assert_eq!(emu.requests("export-start"), 0, "a dry run starts nothing");
    let o = tool("d1-export-start")
        .args(["--all", "--dry-run", "--json", "--shard", "2/8"])
        .env_from(&emu)
        .run();
    let first: serde_json::Value = serde_json::from_str(o.stdout_lines()[0]).unwrap();
    assert_eq!(first["shard"], "2/8", "{first}");
    assert_eq!(after.get(first["database_id"].as_str().unwrap()), Some(&2));
    // Each shard holds some: a hash of the id spreads them.
    let used: BTreeSet<u32> = after.values().copied().collect();
    assert!(used.len() >= 6, "{after:?}");
}

#[test]
fn named_databases_are_sharded_by_id_too_and_other_shards_ids_cost_no_request() {
    let emu = Emulator::start_empty(&["--seed-count", "6"]);
    let ids: Vec<String> = (1..=6).map(|i| emu.db_id(&format!("db-{i:04}"))).collect();
    let mut all = BTreeSet::new();
    for i in 0..3 {
        let o = tool("d1-export-start")
            .args(["--shard", &format!("{i}/3"), "--dry-run"])
            .args(&ids)
            .env_from(&emu)
            .run();
        assert_eq!(o.code, 0, "{o:?}");
        for l in o.stdout_lines() {
            assert!(all.insert(l.split(' ').next().unwrap().to_string()), "{l}");
        }
    }
    assert_eq!(all.len(), 6);
    // One get per id, in the shard that takes it: six in all, not eighteen.
    assert_eq!(emu.requests("get"), 6);
}

#[test]
fn the_shard_and_the_requests_reach_the_json_records_and_the_metrics() {
    let emu = Emulator::start(&["--export-polls", "1"]);
    let out = tempfile::tempdir().unwrap();
    let o = sh(
        &emu,
        out.path(),
        "d1-export-start --json --shard 0/1 sample | d1-export-wait --json \
         | tee wait.json | d1-fetch -o b/ --metrics-file m.prom",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let wait: Value = serde_json::from_str(
        std::fs::read_to_string(out.path().join("wait.json"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert_eq!(wait["shard"], "0/1");
    // A database given by name costs its lookup too.
    assert_eq!(wait["requests"], 4, "{wait}");
    let prom = std::fs::read_to_string(out.path().join("m.prom")).unwrap();
    let id = emu.db_id("sample");
    assert!(
        prom.contains(&format!(
            "d1_backup_export_requests{{database=\"{id}\",name=\"sample\",shard=\"0/1\"}} 4\n"
        )),
        "{prom}"
    );
}

#[test]
fn an_account_of_more_than_a_thousand_databases_is_listed_whole_in_two_requests() {
    // A page is a thousand databases: 1,001 take two list requests, and none is left out (the
    // listing used to stop after 1,000 pages of 100, leaving an account's 100,001st database
    // out of `--all` without a word).
    let emu = Emulator::start_empty(&["--seed-count", "1001"]);
    let o = tool("d1-export-start")
        .args(["--all", "--dry-run"])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 1001, "{}", o.stderr);
    assert_eq!(emu.requests("list"), 2);
}
