//! d1-prune on folders of real dumps: one dump is made by the real pipeline (d1-emulator's
//! export, d1-fetch, d1-verify), then copied to 40 nights per database with manifests dated and
//! verified (or failed) by the test, as d1-fetch and d1-verify would have written them.

use d1_tests::{bin, files_in, sha256_hex, signal, tool, wait, Emulator, Outcome};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

const DB_A: &str = "5de8e2d8-aaaa-4000-8000-00000000000a";
const DB_B: &str = "5de8e2d8-bbbb-4000-8000-00000000000b";
const DAY: i64 = 86_400;
/// 2026-11-09T03:17:00Z, a Monday (ISO week 2026-W46).
const NEWEST: i64 = 1_794_194_220;

/// A real dump and its manifest, made once per test binary.
struct Template {
    dump: Vec<u8>,
    manifest: Value,
    tables: u64,
    rows: u64,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let emu = Emulator::start(&[]);
        let (id, url) = emu.export_url("sample");
        let dir = tempfile::tempdir().unwrap();
        let out = tool("d1-fetch")
            .args(["-q", "-o", &format!("{}/", dir.path().display())])
            .stdin(format!("{id} {url}\n"))
            .run();
        assert_eq!(out.code, 0, "{out:?}");
        // DATABASE_ID NAME PATH
        let path = PathBuf::from(out.stdout.split_whitespace().last().expect("a path"));
        let verified = tool("d1-verify").arg(&path).run();
        assert_eq!(verified.code, 0, "{verified:?}");
        // OK PATH tables=N rows=M
        let field = |k: &str| -> u64 {
            verified
                .stdout
                .split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {:?}", verified.stdout))
        };
        // Read after d1-verify, which writes its verdict into the manifest.
        let manifest_text = std::fs::read_to_string(format!("{}.json", path.display())).unwrap();
        Template {
            dump: std::fs::read(&path).unwrap(),
            manifest: serde_json::from_str(&manifest_text).unwrap(),
            tables: field("tables="),
            rows: field("rows="),
        }
    })
}

fn rfc3339(t: i64) -> String {
    d1_core::time::Utc::from_unix(t).rfc3339()
}

/// `20261109T031700Z`, as in d1-fetch's file names.
fn compact(t: i64) -> String {
    d1_core::time::Utc::from_unix(t).compact()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Verdict {
    Ok,
    Failed,
    Never,
}

/// Writes one night's dump of `db` taken at `t` into `dir`, with its `.sha256` and `.json` as
/// d1-fetch writes them and the verdict d1-verify would add. Returns the dump's path.
fn night(dir: &Path, db: &str, name: &str, t: i64, verdict: Verdict, zst: bool) -> PathBuf {
    let tpl = template();
    let data = if zst {
        zstd::encode_all(&tpl.dump[..], 3).unwrap()
    } else {
        tpl.dump.clone()
    };
    let ext = if zst { "sql.zst" } else { "sql" };
    let file = format!("{name}-{}.{ext}", compact(t));
    let path = dir.join(&file);
    std::fs::write(&path, &data).unwrap();
    let sha = sha256_hex(&data);
    std::fs::write(
        format!("{}.sha256", path.display()),
        format!("{sha}  {file}\n"),
    )
    .unwrap();
    let mut m = tpl.manifest.clone();
    m["database_id"] = json!(db);
    m["database_name"] = json!(name);
    m["exported_at"] = json!(rfc3339(t));
    m["fetched_at"] = json!(rfc3339(t + 4));
    m["stored_bytes"] = json!(data.len());
    m["sha256"] = json!(sha);
    m["compression"] = json!(if zst { "zstd" } else { "none" });
    // d1-verify's own verdict on the real dump, moved to this night's bytes and time.
    let mut v = match &tpl.manifest["verification"] {
        Value::Object(_) => tpl.manifest["verification"].clone(),
        _ => json!({
            "tool": "d1-verify",
            "version": "0.1.0",
            "tables": tpl.tables,
            "rows": tpl.rows,
            "checks": ["checksum", "restore", "integrity_check", "foreign_key_check"],
        }),
    };
    v["status"] = json!("ok");
    v["sha256"] = json!(sha);
    v["verified_at"] = json!(rfc3339(t + 60));
    match verdict {
        Verdict::Ok => m["verification"] = v,
        Verdict::Failed => {
            v["status"] = json!("failed");
            v["reason"] = json!("line 12: near \"INSRT\": syntax error");
            m["verification"] = v;
        }
        Verdict::Never => {
            m.as_object_mut().unwrap().remove("verification");
        }
    }
    std::fs::write(
        format!("{}.json", path.display()),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    path
}

/// `n` nights of `db` ending at `newest`, night `i` taken `i` days before it; `verdict(i)`.
fn nights(
    dir: &Path,
    db: &str,
    name: &str,
    newest: i64,
    n: i64,
    verdict: impl Fn(i64) -> Verdict,
) -> Vec<PathBuf> {
    (0..n)
        .map(|i| night(dir, db, name, newest - i * DAY, verdict(i), false))
        .collect()
}

/// d1-prune run alone (stdin /dev/null, as under systemd or `</dev/null`).
fn prune(args: &[&str]) -> Outcome {
    let child = d1_tests::command("d1-prune")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn d1-prune");
    wait(child, Duration::from_secs(60))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The dumps (not sidecars) in `dir`, sorted.
fn dumps_in(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .filter(|f| f.ends_with(".sql") || f.ends_with(".sql.zst"))
        .collect()
}

/// The file names of the nights `idx` (days before `newest`) of database `name`.
fn names(name: &str, newest: i64, idx: &[i64]) -> Vec<String> {
    let mut v: Vec<String> = idx
        .iter()
        .map(|i| format!("{name}-{}.sql", compact(newest - i * DAY)))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every file name with the SHA-256 of its bytes, to prove that nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    files_in(dir)
        .into_iter()
        .map(|f| {
            let data = std::fs::read(dir.join(&f)).unwrap_or_default();
            (f, sha256_hex(&data))
        })
        .collect()
}

#[test]
fn keep_daily_7_weekly_4_keeps_the_documented_nine_per_database_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 40, |_| Verdict::Ok);
    // Database B: night 2 (2026-11-07) and night 15 (Sunday 2026-10-25) failed verification.
    nights(d, DB_B, "analytics", NEWEST, 40, |i| {
        if i == 2 || i == 15 {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    });
    let out = prune(&["--keep-daily", "7", "--keep-weekly", "4", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");

    // docs/d1-prune.md: the newest verified dump of each of the 7 newest days that have one
    // (nights 0-6), and of each of the 4 newest ISO weeks: W46 and W45 are already kept
    // (nights 0 and 1), W44's newest is Sunday 2026-11-01 (night 8), W43's is 2026-10-25
    // (night 15).
    let a = names("prod", NEWEST, &[0, 1, 2, 3, 4, 5, 6, 8, 15]);
    // B: failed nights fill no slot, so the 7 days are nights 0,1,3,4,5,6,7 and W43's newest
    // verified dump is Saturday 2026-10-24 (night 16); both failed nights are removed, each
    // having a newer verified dump.
    let b = names("analytics", NEWEST, &[0, 1, 3, 4, 5, 6, 7, 8, 16]);
    let mut want: Vec<String> = a.into_iter().chain(b).collect();
    want.sort();
    assert_eq!(dumps_in(d), want);
    // Each kept dump keeps both sidecars, and no sidecar outlives its dump.
    assert_eq!(files_in(d).len(), 18 * 3 + 1, "{:?}", files_in(d)); // + .d1-prune.lock

    // One record per removed dump: DATABASE_ID NAME PATH.
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 31 + 31, "{}", out.stdout);
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        assert_eq!(f.len(), 3, "{l}");
        let (db, name) = if f[0] == DB_A {
            (DB_A, "prod")
        } else {
            (DB_B, "analytics")
        };
        assert_eq!(f[0], db);
        assert_eq!(f[1], name);
        assert!(
            f[2].starts_with(&s(d)) && f[2].contains(&format!("/{name}-")),
            "{l}"
        );
        assert!(!Path::new(f[2]).exists());
    }
    let failed_b = format!("{}/analytics-{}.sql", s(d), compact(NEWEST - 2 * DAY));
    assert!(lines.iter().any(|l| l.ends_with(&failed_b)));
    // The summary on stderr.
    assert!(
        out.stderr
            .contains("2 database(s): kept 18 dump(s), removed 62"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_database_whose_backups_stopped_weeks_ago_is_never_touched_by_the_others_policy() {
    // The retention script this tool replaces looked at dates in file names only: with
    // database B's dumps all older than A's, "keep 7 days" removed every one of B's.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 40, |_| Verdict::Ok);
    let b_newest = NEWEST - 60 * DAY;
    let b = nights(d, DB_B, "analytics", b_newest, 5, |_| Verdict::Ok);
    let out = prune(&["--keep-daily", "7", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    for p in &b {
        assert!(p.exists(), "{} removed", p.display());
    }
    assert!(!out.stdout.contains(DB_B), "{}", out.stdout);
    assert_eq!(
        dumps_in(d).len(),
        7 + 5,
        "A keeps its 7 days, B all 5 of its dumps"
    );
}

#[test]
fn the_newest_verified_dump_survives_when_the_last_ten_nights_all_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 40, |i| {
        if i < 10 {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    });
    for policy in [
        &["--keep-daily", "7", "--keep-weekly", "4"][..],
        &["--keep-within", "1h"],
        &["--keep-last", "1"],
    ] {
        let folder = s(d);
        let out = prune(&[policy, &[folder.as_str()][..]].concat());
        assert_eq!(out.code, 0, "{policy:?}: {out:?}");
        let newest_good = format!("prod-{}.sql", compact(NEWEST - 10 * DAY));
        let kept = dumps_in(d);
        assert!(kept.contains(&newest_good), "{policy:?}: {kept:?}");
        // The failed nights are newer than every verified dump: nothing replaces them yet.
        for i in 0..10 {
            let f = format!("prod-{}.sql", compact(NEWEST - i * DAY));
            assert!(kept.contains(&f), "{policy:?}: failed night {i} removed");
        }
    }
    // After the three runs: the 10 failed nights and the newest verified one.
    assert_eq!(dumps_in(d).len(), 11, "{:?}", dumps_in(d));
}

#[test]
fn a_folder_with_no_verified_dump_loses_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 12, |i| {
        if i % 2 == 0 {
            Verdict::Never
        } else {
            Verdict::Failed
        }
    });
    let out = prune(&["--keep-last", "1", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(dumps_in(d).len(), 12);
    assert!(
        out.stderr.contains("no verified backup among 12 dump(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn foreign_files_temporaries_and_dumps_without_a_manifest_survive_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 10, |_| Verdict::Ok);
    let foreign = [
        "notes.txt",
        "backup.log",
        "stray.sql",                              // a dump with no manifest
        "old-export.sql.json",                    // not a manifest, and no dump
        ".prod-20261110T031700Z.sql.Xa9Qz2.part", // d1-fetch still writing
    ];
    for f in foreign {
        std::fs::write(d.join(f), "not yours").unwrap();
    }
    // A dump whose manifest names no database (fetched from a bare URL).
    let bare = night(d, DB_A, "bare", NEWEST - 30 * DAY, Verdict::Ok, false);
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", s(&bare))).unwrap())
            .unwrap();
    m["database_id"] = Value::Null;
    std::fs::write(format!("{}.json", s(&bare)), m.to_string()).unwrap();

    let out = prune(&["--keep-last", "1", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    for f in foreign {
        assert_eq!(
            std::fs::read_to_string(d.join(f)).unwrap(),
            "not yours",
            "{f}"
        );
    }
    assert!(bare.exists());
    assert_eq!(dumps_in(d).len(), 1 + 2, "{:?}", dumps_in(d)); // prod's newest, stray, bare
    for f in [
        "notes.txt",
        "backup.log",
        "stray.sql",
        "old-export.sql.json",
        "bare-",
    ] {
        assert!(out.stderr.contains(f), "{f} not reported: {}", out.stderr);
    }
    assert!(!out.stderr.contains(".part"), "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: left alone:") && out.stderr.contains("stray.sql"),
        "{}",
        out.stderr
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 40, |i| {
        if i == 3 {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    });
    let before = snapshot(d);
    let out = prune(&["-n", "--keep-daily", "7", "--keep-weekly", "4", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(snapshot(d), before, "--dry-run changed the folder");
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 40);
    let keep: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("keep "))
        .collect();
    assert_eq!(keep.len(), 9, "{}", out.stdout);
    let failed = lines
        .iter()
        .find(|l| l.contains(&compact(NEWEST - 3 * DAY)))
        .unwrap();
    assert!(
        failed.starts_with(&format!("remove {DB_A} prod "))
            && failed.contains("failed verification")
            && failed.ends_with("a newer verified backup exists"),
        "{failed}"
    );
    assert!(
        lines[0].starts_with(&format!("keep {DB_A} prod "))
            && lines[0].contains("2026-11-09T03:17:00Z daily 2026-11-09, weekly 2026-W46"),
        "{}",
        lines[0]
    );
    assert!(out.stderr.contains("would remove 31"), "{}", out.stderr);

    let out = prune(&["-n", "--json", "--keep-daily", "7", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    let first: Value = serde_json::from_str(out.stdout_lines()[0]).unwrap();
    assert_eq!(first["action"], "keep");
    assert_eq!(first["database_id"], DB_A);
    assert_eq!(first["database_name"], "prod");
    assert_eq!(first["exported_at"], "2026-11-09T03:17:00Z");
    assert_eq!(snapshot(d), before);
}

#[test]
fn no_policy_is_exit_2_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 5, |_| Verdict::Ok);
    let before = snapshot(d);
    for args in [
        &[s(d)][..],
        &["--keep-unverified".into(), s(d)],
        &["--keep-daily".into(), "0".into(), s(d)],
        &["--keep-within".into(), "forever".into(), s(d)],
        &["--keep-daily".into(), "7".into()],
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = prune(&a);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        // The error goes down the pipe too, as d1-prune's failure record.
        assert!(
            out.stdout.starts_with("FAIL 2 d1-prune - - "),
            "{}",
            out.stdout
        );
        assert_eq!(out.stdout_lines().len(), 1);
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    }
    let out = prune(&[&s(d)]);
    assert!(out.stderr.contains("no policy given"), "{}", out.stderr);
    let out = prune(&["--keep-daily", "7", &s(&d.join("missing"))]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(snapshot(d), before);
}

#[test]
fn nested_folders_with_sql_and_zst_dumps_are_pruned_with_r() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (d.join("prod"), d.join("2026/analytics"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for i in 0..10 {
        // prod alternates plain and compressed dumps.
        night(&a, DB_A, "prod", NEWEST - i * DAY, Verdict::Ok, i % 2 == 1);
        night(&b, DB_B, "analytics", NEWEST - i * DAY, Verdict::Ok, true);
    }
    // Without -r only DIR itself is pruned: nothing is in it.
    let out = prune(&["--keep-last", "3", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "");
    let out = prune(&["-r", "--keep-last", "3", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines().len(), 14, "{}", out.stdout);
    let day = |i: i64| compact(NEWEST - i * DAY);
    assert_eq!(
        dumps_in(&a),
        sorted(vec![
            format!("prod-{}.sql", day(0)),
            format!("prod-{}.sql.zst", day(1)),
            format!("prod-{}.sql", day(2)),
        ])
    );
    assert_eq!(dumps_in(&b).len(), 3);
    assert!(dumps_in(&b).iter().all(|f| f.ends_with(".sql.zst")));
}

#[test]
fn a_removal_interrupted_after_the_dump_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 3, |_| Verdict::Ok);
    // What a crash right after step 1 (dump removed) leaves: its two sidecars.
    let gone = night(d, DB_A, "prod", NEWEST - 20 * DAY, Verdict::Ok, false);
    std::fs::remove_file(&gone).unwrap();
    // A fresh manifest without its dump is what d1-fetch's commit looks like for an instant
    // (sidecars first, then the dump): left alone.
    let out = prune(&["--keep-last", "3", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(Path::new(&format!("{}.json", s(&gone))).exists());
    assert!(
        out.stderr.contains("d1-fetch may be putting it in place"),
        "{}",
        out.stderr
    );
    // An hour later it is what an interrupted removal left: finished.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(format!("{}.json", s(&gone)))
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let out = prune(&["--keep-last", "3", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!Path::new(&format!("{}.json", s(&gone))).exists());
    assert!(!Path::new(&format!("{}.sha256", s(&gone))).exists());
    assert!(out.stderr.contains("finished removing"), "{}", out.stderr);
    assert_eq!(files_in(d).len(), 3 * 3 + 1);
}

#[test]
fn upstream_failure_records_pass_through_and_set_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 5, |_| Verdict::Ok);
    let input = format!(
        "OK {}/prod-x.sql tables=3 rows=9\n\
         FAIL 75 d1-export-wait {DB_B} analytics export did not complete before the deadline\n",
        s(d)
    );
    let out = tool("d1-prune")
        .args(["--keep-last", "2", &s(d)])
        .stdin(&input)
        .run();
    assert_eq!(out.code, 75, "{out:?}");
    let lines = out.stdout_lines();
    assert_eq!(
        lines[0],
        format!(
            "FAIL 75 d1-export-wait {DB_B} analytics export did not complete before the deadline"
        )
    );
    assert_eq!(lines.len(), 1 + 3, "the failure, then the 3 removed dumps");
    assert_eq!(dumps_in(d).len(), 2, "pruning still happened");

    // --json: the failure in JSON, the removed dumps in JSON.
    nights(d, DB_A, "prod", NEWEST, 5, |_| Verdict::Ok);
    let out = tool("d1-prune")
        .args(["--json", "--keep-last", "2", &s(d)])
        .stdin(&input)
        .run();
    assert_eq!(out.code, 75, "{out:?}");
    let first: Value = serde_json::from_str(out.stdout_lines()[0]).unwrap();
    assert_eq!(first["failed"], true);
    assert_eq!(first["exit_code"], 75);
    assert_eq!(first["database_name"], "analytics");
    let removed: Value = serde_json::from_str(out.stdout_lines()[1]).unwrap();
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["database_id"], DB_A);

    // An empty pipe: the pipeline upstream printed nothing, which is a failure...
    let out = tool("d1-prune").args(["--keep-last", "2", &s(d)]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no records on standard input"));
    // ...unless d1-prune is meant to run alone.
    let out = tool("d1-prune")
        .args(["--allow-empty", "--keep-last", "2", &s(d)])
        .run();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn two_runs_at_once_remove_each_dump_once_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 40, |i| {
        if i % 5 == 4 {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    });
    nights(d, DB_B, "analytics", NEWEST, 40, |_| Verdict::Ok);
    let run = || {
        d1_tests::command("d1-prune")
            .args(["--keep-daily", "7", "--keep-weekly", "4", &s(d)])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (run(), run());
    let (o1, o2) = (
        wait(c1, Duration::from_secs(60)),
        wait(c2, Duration::from_secs(60)),
    );
    assert_eq!((o1.code, o2.code), (0, 0), "{o1:?} {o2:?}");
    let mut removed: Vec<&str> = o1.stdout_lines();
    removed.extend(o2.stdout_lines());
    let n = removed.len();
    removed.sort();
    removed.dedup();
    assert_eq!(removed.len(), n, "a dump reported removed twice");
    assert_eq!(n, 31 + 31);
    assert_eq!(dumps_in(d).len(), 18);
    assert_eq!(files_in(d).len(), 18 * 3 + 1);
}

#[test]
fn a_held_lock_makes_the_second_run_wait_and_give_up_with_75() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    nights(d, DB_A, "prod", NEWEST, 5, |_| Verdict::Ok);
    let lock = std::fs::File::create(d.join(".d1-prune.lock")).unwrap();
    lock.lock().unwrap();
    let before = snapshot(d);
    let out = prune(&["--timeout", "300ms", "--keep-last", "1", &s(d)]);
    assert_eq!(out.code, 75, "{out:?}");
    assert!(out.stderr.contains("another d1-prune"), "{}", out.stderr);
    assert_eq!(snapshot(d), before);
    drop(lock);
    let out = prune(&["--keep-last", "1", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(dumps_in(d).len(), 1);
    let _ = bin("d1-prune");
}

#[test]
fn d1_prune_in_a_loop_while_d1_fetch_writes_loses_nothing_and_then_keeps_the_new_dump() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Last month's nights of the same database, all verified.
    let id = emu.db_id("sample");
    nights(d, &id, "sample", NEWEST, 10, |_| Verdict::Ok);
    let before = dumps_in(d);
    // The download waits 1.5 s before its first byte: d1-fetch's temporary file is there all
    // that time, then the dump and its sidecars are put in place.
    emu.arm(&["download:slow:ms=1500"]);
    let (db, url) = emu.export_url("sample");
    let fetch = tool("d1-fetch")
        .args(["-q", "-o", &format!("{}/", s(d))])
        .stdin(format!("{db} sample {url}\n"))
        .spawn();
    let mut runs = 0;
    let mut fetched = None;
    while runs < 2000 {
        let out = prune(&["--keep-last", "3", &s(d)]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(!out.stderr.contains(".part"), "{}", out.stderr);
        runs += 1;
        fetched = dumps_in(d).into_iter().find(|f| !before.contains(f));
        if fetched.is_some() {
            break;
        }
    }
    let out = wait(fetch, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    let fetched = d.join(fetched.expect("d1-fetch put its dump in place"));
    assert!(
        runs > 3,
        "d1-prune ran {runs} times while d1-fetch was at work"
    );
    for ext in ["sha256", "json"] {
        assert!(
            Path::new(&format!("{}.{ext}", s(&fetched))).exists(),
            "the new dump lost its .{ext}"
        );
    }
    // Not verified yet and newer than every verified dump: kept, the 3 newest verified too.
    let out = prune(&["--keep-last", "3", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(fetched.exists());
    assert_eq!(dumps_in(d).len(), 4, "{:?}", dumps_in(d));
    // Verified (d1-verify writes its verdict into the manifest), it is the newest verified
    // dump: --keep-last 1 keeps it alone.
    let v = tool("d1-verify").arg(&fetched).run();
    assert_eq!(v.code, 0, "{v:?}");
    let out = prune(&["--keep-last", "1", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        dumps_in(d),
        [fetched.file_name().unwrap().to_string_lossy().into_owned()]
    );
}

#[test]
fn an_interrupted_run_leaves_no_dump_without_its_sidecars_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (db, name) in [(DB_A, "prod"), (DB_B, "analytics")] {
        nights(d, db, name, NEWEST, 300, |_| Verdict::Ok);
    }
    let mut child = d1_tests::command("d1-prune")
        .args(["--keep-last", "2", &s(d)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // SIGINT as soon as the first dump is reported removed: in the middle of pass 1.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut removed = String::new();
    reader.read_line(&mut removed).unwrap();
    signal(&child, 2);
    reader.read_to_string(&mut removed).unwrap();
    let out = wait(child, Duration::from_secs(60));
    assert_eq!(out.code, 130, "{out:?}");
    let removed: Vec<&str> = removed
        .lines()
        .filter(|l| !l.starts_with("FAIL "))
        .collect();
    assert!(
        !removed.is_empty() && removed.len() < 596,
        "{} removed",
        removed.len()
    );
    let files = files_in(d);
    for f in files.iter().filter(|f| f.ends_with(".sql")) {
        assert!(
            files.contains(&format!("{f}.sha256")),
            "{f} lost its .sha256"
        );
        assert!(files.contains(&format!("{f}.json")), "{f} lost its .json");
    }
    // Every dump reported removed is gone, with its sidecars.
    for line in &removed {
        let p = line.rsplit(' ').next().unwrap();
        assert!(!Path::new(p).exists(), "{p} reported removed");
        assert!(!Path::new(&format!("{p}.json")).exists(), "{p}.json left");
    }
    eprintln!(
        "interrupted run: {} of 596 dumps removed before stopping",
        removed.len()
    );
    let out = prune(&["--keep-last", "2", &s(d)]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(dumps_in(d).len(), 4);
    assert_eq!(files_in(d).len(), 4 * 3 + 1);
}
