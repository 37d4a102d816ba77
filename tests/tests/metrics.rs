//! Watching the trend (docs/monitoring.md): what `d1-export-wait --json | d1-fetch` puts in the
//! manifest, the `--metrics-file` that d1-fetch and d1-verify keep for node_exporter (parsed as
//! Prometheus text format), and the script that turns manifests into a CSV.

use d1_tests::*;
use prometheus_parse::{Scrape, Value as Sample};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const FETCH_FAMILIES: &[&str] = &[
    "d1_backup_last_success_timestamp_seconds",
    "d1_backup_export_duration_seconds",
    "d1_backup_dump_bytes",
    "d1_backup_stored_bytes",
    "d1_backup_database_size_bytes",
    "d1_backup_last_run_success",
    "d1_backup_last_run_timestamp_seconds",
];
const VERIFY_FAMILIES: &[&str] = &[
    "d1_backup_verify_last_success_timestamp_seconds",
    "d1_backup_verify_duration_seconds",
    "d1_backup_rows_restored",
    "d1_backup_verify_last_run_success",
    "d1_backup_verify_last_run_timestamp_seconds",
];

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// Runs a shell pipeline in `dir` with the tools on PATH and the emulator's environment.
fn sh(emu: &Emulator, dir: &Path, script: &str) -> Outcome {
    let bindir = bin("d1-fetch").parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir)
        .env("PATH", path);
    for (k, v) in emu.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The dump d1-fetch wrote, from its one `DATABASE_ID NAME PATH` record (relative to `dir`).
fn fetched(dir: &Path, o: &Outcome) -> PathBuf {
    let line = o.stdout.trim_end();
    let fields: Vec<&str> = line.splitn(3, ' ').collect();
    assert_eq!(fields.len(), 3, "not one d1-fetch record: {o:?}");
    dir.join(fields[2])
}

fn manifest(dump: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{dump}.json")).expect("manifest"))
        .expect("manifest JSON")
}

/// The metrics file parsed by a Prometheus text-format parser: family -> database -> value.
/// Every family has its `# HELP` and is typed `gauge`.
fn scrape(path: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(path).expect("metrics file");
    let s = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for sample in s.samples {
        let Sample::Gauge(v) = sample.value else {
            panic!("{} is not a gauge in:\n{text}", sample.metric);
        };
        assert!(
            s.docs.contains_key(&sample.metric),
            "{} has no # HELP in:\n{text}",
            sample.metric
        );
        let db = sample.labels.get("database").expect("database label");
        let old = out
            .entry(sample.metric.clone())
            .or_default()
            .insert(db.to_string(), v);
        assert!(old.is_none(), "{} twice for {db}:\n{text}", sample.metric);
    }
    // Each family's lines together (node_exporter refuses a file that splits them).
    let mut seen = Vec::<String>::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line
            .split(['{', ' '])
            .next()
            .unwrap_or_default()
            .to_string();
        if seen.last() != Some(&name) {
            assert!(!seen.contains(&name), "{name} split in:\n{text}");
            seen.push(name);
        }
    }
    out
}

fn get(m: &BTreeMap<String, BTreeMap<String, f64>>, family: &str, db: &str) -> f64 {
    *m.get(family)
        .and_then(|s| s.get(db))
        .unwrap_or_else(|| panic!("no {family}{{database={db:?}}} in {m:?}"))
}

/// Replaces one sample's value in the file, as if an earlier run had written it.
fn set_sample(path: &Path, family: &str, db: &str, value: &str) {
    let text = std::fs::read_to_string(path).expect("metrics file");
    // `family{database="ID"} V` or `family{database="ID",name="NAME"} V`.
    let prefix = format!("{family}{{database=\"{db}\"");
    let mut found = false;
    let new: String = text
        .lines()
        .map(|l| match l.strip_prefix(&prefix) {
            Some(rest) if rest.starts_with(['}', ',']) => {
                found = true;
                let labels = l.rsplit_once(' ').map_or(l, |(labels, _)| labels);
                format!("{labels} {value}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert!(found, "no {prefix} in {text}");
    std::fs::write(path, new).expect("rewrite metrics file");
}

#[test]
fn export_time_polls_and_database_size_reach_the_manifest_through_export_wait_json() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait --json | tee wait.jsonl | d1-fetch -o m/",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let dump = fetched(dir.path(), &o);
    let m = manifest(&dump.display().to_string());
    let wait: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("wait.jsonl")).expect("wait"))
            .expect("wait JSON");
    assert_eq!(m["export_elapsed_seconds"], wait["elapsed_seconds"], "{m}");
    assert!(m["export_elapsed_seconds"].as_f64().is_some(), "{m}");
    assert_eq!(m["export_polls"], wait["polls"], "{m}");
    assert!(m["export_polls"].as_u64().unwrap_or(0) >= 1, "{m}");
    assert_eq!(m["database_file_size"], wait["file_size"], "{m}");
    assert!(m["database_file_size"].as_u64().unwrap_or(0) > 0, "{m}");
    let size = std::fs::metadata(&dump).expect("dump").len();
    assert_eq!(m["stored_bytes"].as_u64(), Some(size), "{m}");
    assert_eq!(m["database_id"], emu.db_id("sample").as_str());

    // Plain records carry no measurements: the fields are absent, not invented.
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o plain/",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let m = manifest(&fetched(dir.path(), &o).display().to_string());
    for field in [
        "export_elapsed_seconds",
        "export_polls",
        "database_file_size",
    ] {
        assert!(m.get(field).is_none(), "{field} in {m}");
    }
}

#[test]
fn fetch_metrics_record_a_success_then_a_failure_keeps_the_last_success() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let before = now().floor();
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait --json | d1-fetch -o m/ --metrics-file d1.prom",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let prom = dir.path().join("d1.prom");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&prom).expect("prom").permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "node_exporter must be able to read it");
    let m = manifest(&fetched(dir.path(), &o).display().to_string());
    let s = scrape(&prom);
    for f in FETCH_FAMILIES {
        assert!(s.contains_key(*f), "{f} missing: {s:?}");
    }
    let last = get(&s, "d1_backup_last_success_timestamp_seconds", &id);
    assert!(last >= before && last <= now() + 1.0, "{last}");
    assert_eq!(get(&s, "d1_backup_last_run_success", &id), 1.0);
    assert_eq!(get(&s, "d1_backup_last_run_timestamp_seconds", &id), last);
    assert_eq!(
        Some(get(&s, "d1_backup_export_duration_seconds", &id)),
        m["export_elapsed_seconds"].as_f64()
    );
    assert_eq!(
        Some(get(&s, "d1_backup_dump_bytes", &id)),
        m["sql_bytes"].as_u64().map(|n| n as f64)
    );
    assert_eq!(
        Some(get(&s, "d1_backup_database_size_bytes", &id)),
        m["database_file_size"].as_u64().map(|n| n as f64)
    );

    // Yesterday's success, as far as the file knows; today's fetch fails (a refused URL).
    set_sample(
        &prom,
        "d1_backup_last_success_timestamp_seconds",
        &id,
        "1700000000",
    );
    set_sample(
        &prom,
        "d1_backup_last_run_timestamp_seconds",
        &id,
        "1700000000",
    );
    let (_, url) = emu.export_url("sample");
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=00");
    let line = format!(
        "{{\"database_id\":\"{id}\",\"signed_url\":\"{tampered}\",\"elapsed_seconds\":99.0}}\n"
    );
    let o = tool("d1-fetch")
        .args(["-o", "failed/", "--metrics-file", "d1.prom"])
        .current_dir(dir.path())
        .stdin(line)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    let s = scrape(&prom);
    assert_eq!(get(&s, "d1_backup_last_run_success", &id), 0.0);
    assert!(get(&s, "d1_backup_last_run_timestamp_seconds", &id) >= before);
    assert_eq!(
        get(&s, "d1_backup_last_success_timestamp_seconds", &id),
        1_700_000_000.0
    );
    // The other last-success values stay those of the last success, not the failed run's.
    assert_eq!(
        Some(get(&s, "d1_backup_export_duration_seconds", &id)),
        m["export_elapsed_seconds"].as_f64()
    );
    assert_eq!(
        Some(get(&s, "d1_backup_dump_bytes", &id)),
        m["sql_bytes"].as_u64().map(|n| n as f64)
    );
}

#[test]
fn verify_metrics_sit_beside_fetchs_and_a_failed_dump_keeps_the_last_success() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait --json | d1-fetch -o m/ --metrics-file d1.prom \
         | d1-verify --metrics-file d1.prom",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let rows: f64 = o
        .stdout
        .trim()
        .rsplit("rows=")
        .next()
        .and_then(|n| n.parse().ok())
        .expect("rows=N in the summary");
    let prom = dir.path().join("d1.prom");
    let s = scrape(&prom);
    for f in FETCH_FAMILIES.iter().chain(VERIFY_FAMILIES) {
        assert!(s.contains_key(*f), "{f} missing: {s:?}");
    }
    // d1-verify labels the series with the database of the record (or of the manifest).
    assert_eq!(get(&s, "d1_backup_rows_restored", &id), rows);
    assert!(rows > 0.0);
    assert_eq!(get(&s, "d1_backup_verify_last_run_success", &id), 1.0);
    assert!(get(&s, "d1_backup_verify_duration_seconds", &id) >= 0.0);
    let fetched = get(&s, "d1_backup_last_success_timestamp_seconds", &id);

    // The dump goes bad on disk: verification fails, its last success and rows stay.
    set_sample(
        &prom,
        "d1_backup_verify_last_success_timestamp_seconds",
        &id,
        "1700000000",
    );
    let dump = dir
        .path()
        .join(o.stdout.split_whitespace().nth(1).expect("path"));
    let mut bytes = std::fs::read(&dump).expect("dump");
    bytes.extend_from_slice(b"INSERT INTO nowhere VALUES(1);\n");
    std::fs::write(&dump, bytes).expect("spoil dump");
    let o = tool("d1-verify")
        .args(["--metrics-file", "d1.prom"])
        .arg(&dump)
        .current_dir(dir.path())
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    let s = scrape(&prom);
    assert_eq!(get(&s, "d1_backup_verify_last_run_success", &id), 0.0);
    assert_eq!(
        get(&s, "d1_backup_verify_last_success_timestamp_seconds", &id),
        1_700_000_000.0
    );
    assert_eq!(get(&s, "d1_backup_rows_restored", &id), rows);
    // d1-fetch's series are untouched by d1-verify's runs.
    assert_eq!(
        get(&s, "d1_backup_last_success_timestamp_seconds", &id),
        fetched
    );
    assert_eq!(get(&s, "d1_backup_last_run_success", &id), 1.0);
}

#[test]
fn two_databases_share_one_file_with_one_series_each() {
    let data = tempfile::tempdir().expect("tempdir");
    make_db(
        data.path(),
        "alpha",
        "CREATE TABLE a(x); INSERT INTO a VALUES(1),(2);",
    );
    make_db(
        data.path(),
        "beta",
        "CREATE TABLE b(y); INSERT INTO b VALUES('z');",
    );
    let emu = Emulator::start_in(data.path(), &[]);
    let (alpha, beta) = (emu.db_id("alpha"), emu.db_id("beta"));
    let dir = tempfile::tempdir().expect("tempdir");
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start alpha beta | d1-export-wait --json | d1-fetch -o m/ --metrics-file d1.prom \
         | d1-verify --metrics-file d1.prom",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let s = scrape(&dir.path().join("d1.prom"));
    for f in FETCH_FAMILIES.iter().chain(VERIFY_FAMILIES) {
        let dbs: Vec<&String> = s.get(*f).map(|m| m.keys().collect()).unwrap_or_default();
        let mut want = vec![&alpha, &beta];
        want.sort();
        assert_eq!(dbs, want, "{f}");
    }
    assert_eq!(get(&s, "d1_backup_rows_restored", &alpha), 2.0);
    assert_eq!(get(&s, "d1_backup_rows_restored", &beta), 1.0);
}

#[test]
fn concurrent_writers_lose_no_series() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o m/",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let dump = fetched(dir.path(), &o);
    // Eight verifications at once (make -j), each under its own database label.
    let children: Vec<_> = (0..8)
        .map(|i| {
            tool("d1-verify")
                .args(["-q", "--metrics-file", "d1.prom"])
                .current_dir(dir.path())
                .stdin(format!("db{i} {}\n", dump.display()))
                .spawn()
        })
        .collect();
    for c in children {
        let o = wait(c, std::time::Duration::from_secs(60));
        assert_eq!(o.code, 0, "{o:?}");
    }
    let s = scrape(&dir.path().join("d1.prom"));
    let labels: Vec<&String> = s["d1_backup_verify_last_run_success"].keys().collect();
    assert_eq!(labels.len(), 8, "{labels:?}");
}

#[test]
fn a_metrics_path_that_is_not_a_metrics_file_is_refused_and_left_alone() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o m/",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let dump = fetched(dir.path(), &o);
    let before = std::fs::read(&dump).expect("dump");
    let o = tool("d1-verify")
        .arg("--metrics-file")
        .arg(&dump)
        .arg(&dump)
        .current_dir(dir.path())
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.starts_with("OK "), "the dump itself passed: {o:?}");
    // (The sample dump's D1-quirk warnings come first.)
    let errors: Vec<&str> = o
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "{o:?}");
    assert!(
        errors[0].contains("line 1: not Prometheus text format"),
        "{}",
        errors[0]
    );
    assert_eq!(std::fs::read(&dump).expect("dump"), before);
}

#[test]
fn the_csv_script_turns_a_folder_of_manifests_into_rows_oldest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write =
        |name: &str, json: &str| std::fs::write(dir.path().join(name), json).expect("write");
    write(
        "b-20250102T000000Z.sql.json",
        r#"{"d1_fetch_version":"0.1.0","fetched_at":"2025-01-02T00:00:00Z","database_id":"b","export_elapsed_seconds":1.25,"stored_bytes":10,"sql_bytes":20}"#,
    );
    write(
        "a-20250101T000000Z.sql.zst.json",
        "{\n  \"d1_fetch_version\": \"0.1.0\",\n  \"fetched_at\": \"2025-01-01T00:00:00Z\",\n  \"database_id\": \"a\",\n  \"stored_bytes\": 11,\n  \"sql_bytes\": 21\n}\n",
    );
    write(
        "dump-x.sql.json",
        r#"{"d1_fetch_version":"0.1.0","fetched_at":"2025-01-03T00:00:00Z","database_id":null,"export_elapsed_seconds":3,"stored_bytes":5,"sql_bytes":5}"#,
    );
    // Not manifests: a d1-verify report and a dump.
    write("a.verify.json", r#"{"path":"a.sql","ok":true}"#);
    write("a-20250101T000000Z.sql.zst", "not json");
    let out = Command::new(repo_root().join("scripts/manifests-to-csv.sh"))
        .arg(dir.path())
        .output()
        .expect("run script");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fetched_at,database_id,export_elapsed_seconds,stored_bytes,sql_bytes\n\
         2025-01-01T00:00:00Z,a,,11,21\n\
         2025-01-02T00:00:00Z,b,1.25,10,20\n\
         2025-01-03T00:00:00Z,,3,5,5\n"
    );
}

#[test]
fn the_monitoring_page_runs_the_same_csv_script_as_scripts() {
    let page = std::fs::read_to_string(repo_root().join("docs/monitoring.md")).expect("page");
    // The fence may declare more than the file name (`same-as=...`, for the docs harness).
    let start = page
        .find("```sh file=manifests-to-csv.sh")
        .expect("the script's block in docs/monitoring.md");
    let body = &page[start..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let body = &body[..body.find("```").expect("closing fence")];
    let script =
        std::fs::read_to_string(repo_root().join("scripts/manifests-to-csv.sh")).expect("script");
    assert_eq!(
        body, script,
        "docs/monitoring.md and scripts/manifests-to-csv.sh differ"
    );
}
