//! The nightly job as users run it (issue "a pipeline that cannot lie"): the whole pipeline in
//! one `sh -c '…'` under cron's bare environment, no `pipefail`, one good and one bad database.
//! For every failure class the emulator can inject, the pipeline's exit status is the bad
//! database's class, the bad database is named on stderr, the good database's backup is
//! complete and verified, and nothing for the bad one looks like a backup.

use d1_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A database that restores cleanly.
const GOOD: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); \
                    INSERT INTO t(v) VALUES ('one'), ('two');";
/// A database whose dump exports fine but fails d1-verify: a row points at a missing parent.
const BROKEN_FK: &str = "PRAGMA foreign_keys=OFF; \
                         CREATE TABLE p(id INTEGER PRIMARY KEY); \
                         CREATE TABLE c(id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id)); \
                         INSERT INTO c VALUES (1, 42);";

struct Night {
    emu: Emulator,
    _data: tempfile::TempDir,
    out: tempfile::TempDir,
}

fn night(dbs: &[(&str, &str)], emulator_args: &[&str]) -> Night {
    let data = tempfile::tempdir().unwrap();
    for (name, sql) in dbs {
        make_db(data.path(), name, sql);
    }
    let emu = Emulator::start_in(data.path(), emulator_args);
    Night {
        emu,
        _data: data,
        out: tempfile::tempdir().unwrap(),
    }
}

impl Night {
    /// Runs `script` as cron would: `env -i` with only PATH (the tools' folder first) and the
    /// Cloudflare variables, under plain `sh -c` (no pipefail), in the backup folder.
    fn run(&self, script: &str, token: &str) -> Outcome {
        let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
        let child = Command::new("env")
            .arg("-i")
            .arg(format!("PATH={}:/usr/bin:/bin", bindir.display()))
            .arg(format!("HOME={}", self.out.path().display()))
            .arg(format!("CLOUDFLARE_API_TOKEN={token}"))
            .arg(format!("CLOUDFLARE_ACCOUNT_ID={ACCOUNT}"))
            .arg(format!("CLOUDFLARE_API_BASE_URL={}", self.emu.base_url))
            .arg("D1_REQUEST_BUDGET=0")
            .args(["sh", "-c", script])
            .current_dir(self.out.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        wait(child, Duration::from_secs(120))
    }

    fn backups(&self) -> PathBuf {
        self.out.path().join("backups")
    }

    /// The dumps (not sidecars) in the backup folder whose name starts with `db-`.
    fn dumps_of(&self, db: &str) -> Vec<PathBuf> {
        files_in(&self.backups())
            .into_iter()
            .filter(|f| f.starts_with(&format!("{db}-")))
            .filter(|f| f.ends_with(".sql") || f.ends_with(".sql.zst"))
            .map(|f| self.backups().join(f))
            .collect()
    }
}

const PIPELINE: &str = "d1-export-start --retries 1 \"$@\" | d1-export-wait --jobs 1 --retries 1 \
     | d1-fetch --retries 1 -o backups/ | d1-verify";

fn pipeline(dbs: &[&str]) -> String {
    format!("set -- {}; {PIPELINE}", dbs.join(" "))
}

/// The good database's backup is there, whole, and its manifest holds a passing verdict.
fn assert_good_backup(n: &Night, db: &str, o: &Outcome) {
    let dumps = n.dumps_of(db);
    assert_eq!(
        dumps.len(),
        1,
        "one dump of {db}: {:?}\n{o:?}",
        files_in(&n.backups())
    );
    let dump = &dumps[0];
    let ok = format!("OK {} ", dump.strip_prefix(n.out.path()).unwrap().display());
    assert!(
        o.stdout_lines().iter().any(|l| l.starts_with(&ok)),
        "no {ok:?} line: {o:?}"
    );
    let m = manifest(dump);
    assert_eq!(m["database_name"], db);
    assert_eq!(m["verification"]["status"], "ok", "{m}");
    assert_eq!(m["verification"]["sha256"], m["sha256"]);
    assert!(Path::new(&format!("{}.sha256", dump.display())).exists());
}

fn manifest(dump: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}.json", dump.display())).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// The bad database: named on stderr and in a failure record with its class; no dump of it
/// is a verified backup.
fn assert_bad(n: &Night, db: &str, class: i32, o: &Outcome) {
    assert_eq!(o.code, class, "pipeline exit status: {o:?}");
    let fail = o
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with(&format!("FAIL {class} ")) && l.contains(db))
        .unwrap_or_else(|| panic!("no failure record for {db} with class {class}: {o:?}"));
    assert!(!fail.contains('\r'));
    assert!(
        o.stderr_lines()
            .iter()
            .any(|l| l.starts_with("d1-verify: error: ") && l.contains(db)),
        "the last tool names {db} on stderr: {}",
        o.stderr
    );
    for d in n.dumps_of(db) {
        let m = manifest(&d);
        assert_ne!(
            m["verification"]["status"],
            "ok",
            "{} looks verified",
            d.display()
        );
    }
    assert_no_secrets("stdout", &o.stdout);
    assert_no_secrets("stderr", &o.stderr);
}

#[test]
fn an_unknown_database_name_fails_the_whole_job_with_exit_2_and_the_good_one_is_backed_up() {
    let n = night(&[("good", GOOD)], &[]);
    let o = n.run(&pipeline(&["good", "prod-dbb"]), TOKEN);
    assert_bad(&n, "prod-dbb", 2, &o);
    assert!(o
        .stdout
        .contains("FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\""));
    assert_good_backup(&n, "good", &o);
}

#[test]
fn a_wrong_token_is_exit_3_at_the_end_of_the_pipe_naming_each_database() {
    let n = night(&[("good", GOOD), ("other", GOOD)], &[]);
    let o = n.run(&pipeline(&["good", "other"]), "not-the-token");
    assert_eq!(o.code, 3, "{o:?}");
    for db in ["good", "other"] {
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with("FAIL 3 d1-export-start") && l.contains(db)),
            "{db}: {o:?}"
        );
    }
    assert!(n.dumps_of("good").is_empty());
    assert!(o
        .stderr
        .contains("d1-verify: error: good failed upstream in d1-export-start (exit 3)"));
}

#[test]
fn a_read_only_token_is_exit_3_at_the_end_of_the_pipe() {
    let n = night(&[("good", GOOD)], &[]);
    let o = n.run(&pipeline(&["good"]), READ_ONLY_TOKEN);
    assert_bad(&n, "good", 3, &o);
    assert!(o.stderr.contains("D1 Edit"), "{}", o.stderr);
}

#[test]
fn a_503_storm_on_one_export_start_is_exit_75_and_the_other_database_is_backed_up() {
    // The bad database is started first: its two attempts (--retries 1) take both 503s.
    let n = night(
        &[("good", GOOD), ("bad", GOOD)],
        &["--fault", "export-start:503:times=2"],
    );
    let o = n.run(&pipeline(&["bad", "good"]), TOKEN);
    assert_bad(&n, "bad", 75, &o);
    assert_good_backup(&n, "good", &o);
}

#[test]
fn an_export_ending_in_error_is_exit_1_and_the_other_database_is_backed_up() {
    // --jobs 1 polls in input order: the bad database's first poll takes the fault.
    let n = night(
        &[("good", GOOD), ("bad", GOOD)],
        &["--fault", "export-poll:export-error"],
    );
    let o = n.run(&pipeline(&["bad", "good"]), TOKEN);
    assert_bad(&n, "bad", 1, &o);
    assert!(o.stdout.contains("FAIL 1 d1-export-wait "), "{o:?}");
    assert_good_backup(&n, "good", &o);
}

#[test]
fn a_download_truncated_beyond_retries_is_exit_75_or_1_and_leaves_no_file() {
    // Two attempts (--retries 1) of the first download are truncated; the first URL printed
    // is the first database polled to completion.
    let n = night(
        &[("good", GOOD), ("bad", GOOD)],
        &["--fault", "download:truncate:times=2"],
    );
    let o = n.run(&pipeline(&["bad", "good"]), TOKEN);
    let failed = o
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("FAIL ") && l.contains(" d1-fetch "))
        .unwrap_or_else(|| panic!("a d1-fetch failure record: {o:?}"))
        .to_string();
    let (bad, good) = if failed.contains(" bad ") {
        ("bad", "good")
    } else {
        ("good", "bad")
    };
    let class: i32 = failed.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(class == 75 || class == 1, "{failed}");
    assert_bad(&n, bad, class, &o);
    assert!(
        n.dumps_of(bad).is_empty(),
        "no file for the failed download"
    );
    assert!(
        !files_in(&n.backups()).iter().any(|f| f.ends_with(".part")),
        "no temporary file left"
    );
    assert_good_backup(&n, good, &o);
}

#[test]
fn a_dump_that_fails_verification_is_exit_1_and_keeps_a_failed_verdict() {
    let n = night(&[("good", GOOD), ("broken", BROKEN_FK)], &[]);
    let o = n.run(&pipeline(&["good", "broken"]), TOKEN);
    assert_bad(&n, "broken", 1, &o);
    let dumps = n.dumps_of("broken");
    assert_eq!(
        dumps.len(),
        1,
        "the failed dump stays for a human to look at"
    );
    let m = manifest(&dumps[0]);
    assert_eq!(m["verification"]["status"], "failed");
    assert!(
        m["verification"]["reason"]
            .as_str()
            .unwrap()
            .contains("foreign key"),
        "{m}"
    );
    assert_good_backup(&n, "good", &o);
}

#[test]
fn an_upstream_stage_killed_without_a_word_fails_the_job() {
    let n = night(&[("good", GOOD)], &[]);
    // The middle stage dies at once (SIGKILL) and prints nothing.
    let o = n.run(
        "d1-export-start good | sh -c 'kill -9 $$' | d1-fetch -o backups/ | d1-verify",
        TOKEN,
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("d1-fetch: error: no signed URL records on standard input"),
        "{}",
        o.stderr
    );
    assert!(
        o.stdout
            .starts_with("FAIL 1 d1-fetch - - no signed URL records"),
        "{o:?}"
    );
}

#[test]
fn an_upstream_stage_stopped_by_sigterm_ends_the_job_with_130() {
    // The export takes long enough for `timeout` to stop d1-export-wait while it polls.
    let n = night(&[("good", GOOD)], &["--export-polls", "1000"]);
    let o = n.run(
        "d1-export-start good | timeout -s TERM 1 d1-export-wait | d1-fetch -o backups/ \
         | d1-verify",
        TOKEN,
    );
    assert_eq!(o.code, 130, "{o:?}");
    assert!(o.stdout.contains("FAIL 130 d1-export-wait"), "{o:?}");
    assert!(n.dumps_of("good").is_empty());
}

#[test]
fn json_lines_flow_through_every_stage_failures_included() {
    let n = night(&[("good", GOOD)], &[]);
    let o = n.run(
        "d1-export-start --json good nosuch | d1-export-wait --json | d1-fetch --json -o backups/ \
         | d1-verify --json",
        TOKEN,
    );
    assert_eq!(o.code, 2, "{o:?}");
    let lines: Vec<serde_json::Value> = o
        .stdout_lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{o:?}");
    let fail = lines.iter().find(|v| v["failed"] == true).expect("failure");
    assert_eq!(fail["tool"], "d1-export-start");
    assert_eq!(fail["database_name"], "nosuch");
    assert_eq!(fail["exit_code"], 2);
    let ok = lines
        .iter()
        .find(|v| v["ok"] == true)
        .expect("verified dump");
    assert_eq!(ok["database_name"], "good");
}

#[test]
fn no_input_at_all_is_a_failure_unless_allowed() {
    let n = night(&[("good", GOOD)], &[]);
    let o = n.run("true | d1-verify", TOKEN);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("no path records on standard input"),
        "{}",
        o.stderr
    );
    let o = n.run("true | d1-verify --allow-empty", TOKEN);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "");
}

#[test]
fn names_travel_to_records_file_names_and_manifests() {
    let n = night(&[("prod-db", GOOD)], &[]);
    let id = n.emu.db_id("prod-db");
    let o = n.run(
        "d1-export-start prod-db | d1-export-wait | d1-fetch -o backups/",
        TOKEN,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let line = o.stdout.trim_end();
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 3, "{line}");
    assert_eq!((fields[0], fields[1]), (id.as_str(), "prod-db"));
    let name = fields[2].strip_prefix("backups/").unwrap();
    assert!(
        name.starts_with("prod-db-")
            && name.ends_with("Z.sql")
            && name.len() == "prod-db-20261124T031700Z.sql".len(),
        "{name}"
    );
    let m = manifest(&n.out.path().join(fields[2]));
    assert_eq!(
        (m["database_id"].as_str(), m["database_name"].as_str()),
        (Some(id.as_str()), Some("prod-db"))
    );
    assert_eq!(m["exported_at"], m["fetched_at"]);
}

#[test]
fn fetch_to_a_missing_folder_without_a_slash_is_refused_before_downloading() {
    let n = night(&[("good", GOOD)], &[]);
    let o = n.run(
        "d1-export-start good | d1-export-wait | d1-fetch -o outdir; echo \"fetch=$?\"",
        TOKEN,
    );
    assert!(o.stdout.ends_with("fetch=2\n"), "{o:?}");
    assert!(
        o.stderr.contains("write outdir/ to create a folder"),
        "{}",
        o.stderr
    );
    assert!(!n.out.path().join("outdir").exists());
}

#[test]
fn a_force_that_cannot_write_its_sidecars_leaves_the_previous_backup_as_it_was() {
    let n = night(&[("good", GOOD)], &[]);
    let fetch = "d1-export-start good | d1-export-wait | d1-fetch --force -o latest.sql";
    let o = n.run(fetch, TOKEN);
    assert_eq!(o.code, 0, "{o:?}");
    let dir = n.out.path();
    let old_dump = std::fs::read(dir.join("latest.sql")).unwrap();
    let old_manifest = std::fs::read(dir.join("latest.sql.json")).unwrap();
    // Something in the way of the new checksum sidecar (here a folder; a full disk fails at
    // the same step): the new set cannot be completed.
    std::fs::remove_file(dir.join("latest.sql.sha256")).unwrap();
    std::fs::create_dir(dir.join("latest.sql.sha256")).unwrap();
    let o = n.run(fetch, TOKEN);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("FAIL "), "{o:?}");
    assert_eq!(
        std::fs::read(dir.join("latest.sql")).unwrap(),
        old_dump,
        "old dump kept"
    );
    assert_eq!(
        std::fs::read(dir.join("latest.sql.json")).unwrap(),
        old_manifest,
        "old manifest kept"
    );
    assert!(
        !files_in(dir).iter().any(|f| f.ends_with(".part")),
        "no temporary file left: {:?}",
        files_in(dir)
    );
}

/// docs/records.md's examples are what the code reads and writes, to the byte.
#[test]
fn the_record_examples_in_the_docs_parse_and_failure_records_print_as_shown() {
    use d1_core::pipe::{self, Item};
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/records.md"))
            .unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for l in page.lines() {
        match (inside, l) {
            (false, "```records") => inside = true,
            (true, "```") => inside = false,
            (true, l) => lines.push(l.to_string()),
            _ => {}
        }
    }
    assert!(lines.len() >= 5, "{lines:?}");
    let (mut records, mut failures) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        match pipe::parse(i + 1, l, pipe::PATH).unwrap_or_else(|e| panic!("{l}: {e}")) {
            Item::Record(r) => {
                records += 1;
                assert!(r.value.starts_with("backups/"), "{l}");
            }
            Item::Failure(f) => {
                failures += 1;
                let again = if l.starts_with('{') {
                    f.json().to_string()
                } else {
                    f.plain()
                };
                assert_eq!(&again, l, "a failure record prints as the docs show");
            }
        }
    }
    assert_eq!((records, failures), (2, 3));
}

#[test]
fn a_misspelled_name_is_answered_with_the_closest_names() {
    let n = night(&[("prod-db", GOOD), ("staging-db", GOOD)], &[]);
    let o = n.run(&pipeline(&["prod-dbb"]), TOKEN);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stdout.contains(
            "FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\"; did you mean \"prod-db\"?"
        ),
        "{o:?}"
    );
}

/// D1 answers a token without D1 Edit and a wrong account id alike (403 / 7403): the message
/// says which it is, from one question to the account's token-verify endpoint.
#[test]
fn a_read_only_token_and_a_wrong_account_get_different_advice() {
    let emu = Emulator::start(&[]);
    let o = tool("d1-export-start")
        .arg("sample")
        .env_from(&emu)
        .env("CLOUDFLARE_API_TOKEN", READ_ONLY_TOKEN)
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains(
            "the token is valid for account emulator-account: it needs the D1 Edit permission, even for export"
        ),
        "{}",
        o.stderr
    );
    let o = tool("d1-export-start")
        .arg("sample")
        .env_from(&emu)
        .env("CLOUDFLARE_ACCOUNT_ID", "someone-else")
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("the token is not accepted for account someone-else either: check CLOUDFLARE_ACCOUNT_ID"),
        "{}",
        o.stderr
    );
    assert_no_secrets("stderr", &o.stderr);
}
