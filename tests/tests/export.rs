//! d1-export-start and d1-export-wait against the emulator: the pipe between them, dump
//! options, many polls, changing bookmarks, retries, failures, cancellation, bad input, the
//! deadline and the size warning. Each test checks stdout lines, stderr wording, exit code,
//! and that no secret leaks.

use d1_tests::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_AGAIN: &str =
    "start the export again and pipe d1-export-start into d1-export-wait at once";

/// A command for a tool with only the emulator's environment (as `tool()` does), for pipes.
fn command_for(name: &str, emu: &Emulator) -> Command {
    let mut c = command(name);
    c.envs(emu.env());
    c
}

/// `d1-export-start START_ARGS | d1-export-wait WAIT_ARGS`, with each line start prints handed to
/// wait as soon as it is printed. Returns both outcomes.
fn pipeline(emu: &Emulator, start_args: &[&str], wait_args: &[&str]) -> (Outcome, Outcome) {
    let mut start = command_for("d1-export-start", emu)
        .args(start_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn d1-export-start");
    let mut wait = command_for("d1-export-wait", emu)
        .args(wait_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn d1-export-wait");
    let start_out = start.stdout.take().expect("start stdout");
    let mut wait_in = wait.stdin.take().expect("wait stdin");
    let copier = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(start_out).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            let _ = writeln!(wait_in, "{line}").and_then(|_| wait_in.flush());
        }
        seen
    });
    let mut start_err = start.stderr.take().expect("start stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = start_err.read_to_string(&mut s);
        s
    });
    let status = start.wait().expect("start exit");
    let start_outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: copier.join().expect("copier"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    let wait_outcome = d1_tests::wait(wait, Duration::from_secs(60));
    assert_no_secrets("start stderr", &start_outcome.stderr);
    assert_no_secrets("wait stderr", &wait_outcome.stderr);
    (start_outcome, wait_outcome)
}

/// Runs d1-export-start alone.
fn start(emu: &Emulator, args: &[&str]) -> Outcome {
    let o = tool("d1-export-start").args(args).env_from(emu).run();
    assert_no_secrets("start stderr", &o.stderr);
    o
}

/// Runs d1-export-wait alone on `stdin`.
fn wait_on(emu: &Emulator, args: &[&str], stdin: &str) -> Outcome {
    let o = tool("d1-export-wait")
        .args(args)
        .env_from(emu)
        .stdin(stdin)
        .run();
    assert_no_secrets("wait stderr", &o.stderr);
    o
}

/// Checks a `DATABASE_ID NAME BOOKMARK SIGNED_URL` line for database `db` named `name` and
/// returns the dump it serves.
fn dump_of(line: &str, db: &str, name: &str) -> String {
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 4, "four fields: {line}");
    assert_eq!(fields[..2], [db, name], "{line}");
    assert!(d1_core::record::looks_like_bookmark(fields[2]), "{line}");
    let url = fields[3];
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("X-Amz-Signature="),
        "{url}"
    );
    let dump = String::from_utf8(download(url)).expect("dump is UTF-8");
    assert!(
        dump.starts_with("PRAGMA defer_foreign_keys=TRUE;"),
        "{dump}"
    );
    dump
}

/// A failed run's stdout is exactly one failure record per error on stderr, in the same order:
/// `FAIL EXIT TOOL DATABASE_ID NAME REASON`, REASON being the stderr message.
fn assert_failure_records(o: &Outcome, tool: &str, exit: i32, id: &str, name: &str) {
    let prefix = format!("{tool}: error: ");
    let reasons: Vec<&str> = o
        .stderr_lines()
        .into_iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    assert!(!reasons.is_empty(), "{o:?}");
    let want: String = reasons
        .iter()
        .map(|r| format!("FAIL {exit} {tool} {id} {name} {r}\n"))
        .collect();
    assert_eq!(o.stdout, want, "{o:?}");
}

fn json_lines(o: &Outcome) -> Vec<Value> {
    o.stdout_lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// An emulator with the sample database and two more, `alpha` and `beta`.
fn three_db_emulator(extra: &[&str]) -> (tempfile::TempDir, Emulator) {
    let dir = tempfile::tempdir().expect("tempdir");
    make_db(
        dir.path(),
        "alpha",
        "CREATE TABLE a (x); INSERT INTO a VALUES (1);",
    );
    make_db(
        dir.path(),
        "beta",
        "CREATE TABLE b (y); INSERT INTO b VALUES ('two');",
    );
    let mut flags = vec!["--seed-sample"];
    flags.extend_from_slice(extra);
    let emu = Emulator::start_in(dir.path(), &flags);
    (dir, emu)
}

#[test]
fn start_piped_into_wait_prints_one_url_that_downloads_a_full_dump() {
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let id = emu.db_id("sample");
    let (s, w) = pipeline(&emu, &["sample"], &[]);
    assert_eq!((s.code, s.stderr.as_str()), (0, ""));
    let started = s.stdout_lines();
    assert_eq!(started.len(), 1);
    // DATABASE_ID NAME BOOKMARK
    let fields: Vec<&str> = started[0].split(' ').collect();
    assert_eq!(fields.len(), 3, "{started:?}");
    assert_eq!(fields[..2], [id.as_str(), "sample"], "{started:?}");
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    let lines = w.stdout_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let dump = dump_of(lines[0], &id, "sample");
    assert!(dump.contains("CREATE TABLE authors"));
    assert!(dump.contains("INSERT INTO \"posts\""));
}

#[test]
fn two_databases_give_two_lines_in_the_order_given() {
    let (_dir, emu) = three_db_emulator(&["--poll-hold-ms", "20"]);
    let (a, b) = (emu.db_id("alpha"), emu.db_id("beta"));
    // One worker polls round-robin, so the first started is the first complete.
    let (s, w) = pipeline(&emu, &["beta", "alpha"], &["--jobs", "1"]);
    assert_eq!((s.code, s.stderr.as_str()), (0, ""));
    let started: Vec<&str> = s.stdout_lines().iter().map(|l| &l[..36]).collect();
    assert_eq!(started, [b.as_str(), a.as_str()]);
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    let lines = w.stdout_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(dump_of(lines[0], &b, "beta").contains("INSERT INTO \"b\""));
    assert!(dump_of(lines[1], &a, "alpha").contains("INSERT INTO \"a\""));
}

#[test]
fn several_exports_are_polled_at_once_not_one_after_another() {
    let (_dir, emu) = three_db_emulator(&["--export-polls", "4", "--poll-hold-ms", "300"]);
    let t = Instant::now();
    let (s, w) = pipeline(&emu, &["alpha", "beta", "sample"], &[]);
    let took = t.elapsed();
    assert_eq!((s.code, w.code, w.stderr.as_str()), (0, 0, ""));
    assert_eq!(w.stdout_lines().len(), 3);
    // Three polls of 300 ms each per export: about 1 s together, 2.7 s one after another.
    assert!(took < Duration::from_millis(2200), "took {took:?}");
}

#[test]
fn dump_options_are_honoured() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");

    let (_, w) = pipeline(&emu, &["--no-data", "sample"], &[]);
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    let dump = dump_of(w.stdout_lines()[0], &id, "sample");
    assert!(dump.contains("CREATE TABLE authors"), "{dump}");
    assert!(!dump.lines().any(|l| l.starts_with("INSERT")), "{dump}");

    let (_, w) = pipeline(&emu, &["--no-schema", "sample"], &[]);
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    let dump = dump_of(w.stdout_lines()[0], &id, "sample");
    assert!(dump.contains("INSERT INTO \"authors\""), "{dump}");
    assert!(!dump.lines().any(|l| l.starts_with("CREATE")), "{dump}");

    let (_, w) = pipeline(
        &emu,
        &["--table", "authors", "--table", "numbers", "sample"],
        &[],
    );
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    let dump = dump_of(w.stdout_lines()[0], &id, "sample");
    assert!(dump.contains("CREATE TABLE authors") && dump.contains("INSERT INTO \"numbers\""));
    assert!(
        !dump.contains("posts") && !dump.contains("audit log"),
        "{dump}"
    );
}

#[test]
fn no_data_with_no_schema_is_refused_before_any_request() {
    let emu = Emulator::start(&[]);
    let o = start(&emu, &["--no-data", "--no-schema", "sample"]);
    assert_eq!(o.code, 2);
    assert_failure_records(&o, "d1-export-start", 2, "-", "-");
    assert_eq!(
        o.stderr,
        "d1-export-start: error: --no-data and --no-schema together would export nothing; give at most one\n"
    );
    assert_eq!(emu.state()["requests"]["export-start"], 0);
}

#[test]
fn a_database_is_found_by_name_by_uuid_and_by_d1_database_id() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    for (args, env) in [
        (vec!["sample"], None),
        (vec![id.as_str()], None),
        (vec![], Some("sample")),
    ] {
        let mut t = tool("d1-export-start").args(&args).env_from(&emu);
        if let Some(db) = env {
            t = t.env("D1_DATABASE_ID", db);
        }
        let s = t.run();
        assert_eq!((s.code, s.stderr.as_str()), (0, ""), "{args:?}");
        let w = wait_on(&emu, &[], &s.stdout);
        assert_eq!((w.code, w.stderr.as_str()), (0, ""), "{args:?}");
        dump_of(w.stdout_lines()[0], &id, "sample");
    }
}

#[test]
fn an_unknown_name_is_exit_2_and_the_other_databases_still_start() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let o = start(&emu, &["nope", "sample"]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        "d1-export-start: error: no database named \"nope\"\n"
    );
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 2);
    // The unknown database's failure record names it, in the name field (its id is unknown).
    assert_eq!(
        lines[0],
        "FAIL 2 d1-export-start - nope no database named \"nope\""
    );
    assert!(lines[1].starts_with(&format!("{id} sample ")));
}

#[test]
fn no_database_at_all_is_a_usage_error() {
    let emu = Emulator::start(&[]);
    let o = start(&emu, &[]);
    assert_eq!(o.code, 2);
    assert_failure_records(&o, "d1-export-start", 2, "-", "-");
    assert_eq!(
        o.stderr,
        "d1-export-start: error: no database given: name one (UUID or name) or set D1_DATABASE_ID\n"
    );
}

#[test]
fn an_export_that_needs_many_polls_completes_and_json_counts_them() {
    let emu = Emulator::start(&["--export-polls", "6", "--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let (s, w) = pipeline(&emu, &["--json", "sample"], &["--json"]);
    assert_eq!((s.code, w.code, w.stderr.as_str()), (0, 0, ""));
    let started = json_lines(&s);
    assert_eq!(started[0]["database_id"], id.as_str());
    assert_eq!(started[0]["name"], "sample");
    assert_eq!(started[0]["status"], "active");
    let done = json_lines(&w);
    assert_eq!(done.len(), 1);
    let d = &done[0];
    assert_eq!(d["database_id"], id.as_str());
    assert_eq!(d["database_name"], "sample");
    assert_eq!(d["bookmark"], started[0]["bookmark"]);
    assert_eq!(
        d["at_bookmark"], started[0]["bookmark"],
        "D1 keeps it for the export"
    );
    // The start answer is the first of six active answers: five polls stay active, the sixth
    // completes.
    assert_eq!(d["polls"], 6);
    assert!(d["filename"].as_str().unwrap_or_default().ends_with(".sql"));
    assert!(d["file_size"].as_u64().unwrap_or(0) > 0, "{d}");
    // Five polls, each at least the 250 ms floor apart.
    let elapsed = d["elapsed_seconds"].as_f64().unwrap_or(0.0);
    assert!((1.0..5.0).contains(&elapsed), "{d}");
    let url = d["signed_url"].as_str().unwrap_or_default();
    let bm = d["at_bookmark"].as_str().unwrap_or_default();
    dump_of(&format!("{id} sample {bm} {url}"), &id, "sample");
    assert_eq!(emu.state()["exports"][0]["polls"], 6);
}

#[test]
fn a_bookmark_that_changes_on_every_poll_is_followed() {
    let emu = Emulator::start(&[
        "--bookmark-changes",
        "--export-polls",
        "4",
        "--poll-hold-ms",
        "10",
    ]);
    let id = emu.db_id("sample");
    let (s, w) = pipeline(&emu, &["sample"], &[]);
    assert_eq!((s.code, w.code, w.stderr.as_str()), (0, 0, ""));
    assert_eq!(w.stdout_lines().len(), 1);
    dump_of(w.stdout_lines()[0], &id, "sample");
    let state = emu.state();
    let final_bookmark = state["exports"][0]["bookmark"].as_str().unwrap_or_default();
    assert!(
        !s.stdout.contains(final_bookmark),
        "the bookmark never changed"
    );
    assert_eq!(
        w.stdout_lines()[0].split(' ').nth(2),
        Some(final_bookmark),
        "the record carries the latest bookmark, the one the dump holds"
    );
}

#[test]
fn rate_limits_and_unavailability_on_start_and_poll_are_retried() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    emu.arm(&[
        "export-start:429:retry_after=1",
        "export-start:503",
        "export-poll:503",
        "export-poll:429:retry_after=1",
    ]);
    let t = Instant::now();
    let (s, w) = pipeline(&emu, &["sample"], &[]);
    assert_eq!((s.code, s.stderr.as_str()), (0, ""));
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    dump_of(w.stdout_lines()[0], &id, "sample");
    // Both Retry-After seconds were waited for.
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    let state = emu.state();
    assert_eq!(state["faults_pending"], 0);
    assert_eq!(state["requests"]["export-start"], 3);
}

#[test]
fn retries_used_up_on_poll_is_exit_75_naming_the_database() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    emu.arm(&["export-poll:503:times=0"]);
    let (s, w) = pipeline(&emu, &["sample"], &["--retries", "1"]);
    assert_eq!(s.code, 0);
    assert_eq!(w.code, 75);
    assert_one_line_error(
        &w,
        &format!("d1-export-wait: error: database sample ({id}): HTTP 503"),
    );
    assert_failure_records(&w, "d1-export-wait", 75, &id, "sample");
    assert!(
        w.stderr.contains("(gave up after 2 attempts)"),
        "{}",
        w.stderr
    );
}

#[test]
fn retries_used_up_on_start_is_exit_75() {
    let emu = Emulator::start(&[]);
    emu.arm(&["export-start:503:times=0"]);
    let id = emu.db_id("sample");
    let o = start(&emu, &["--retries", "1", "sample"]);
    assert_eq!(o.code, 75);
    assert_failure_records(&o, "d1-export-start", 75, &id, "sample");
    assert_one_line_error(
        &o,
        "d1-export-start: error: starting the export of database sample (",
    );
    assert!(o.stderr.contains("HTTP 503") && o.stderr.contains("gave up after 2 attempts"));
}

#[test]
fn an_export_ending_in_error_is_exit_1_with_the_server_error_on_one_line() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    emu.arm(&["export-poll:export-error:message=D1 Export error: disk on fire"]);
    let (s, w) = pipeline(&emu, &["sample"], &[]);
    assert_eq!(s.code, 0);
    assert_eq!(w.code, 1);
    assert_eq!(
        w.stderr,
        format!(
            "d1-export-wait: error: database sample ({id}): export failed: D1 Export error: disk \
             on fire (messages: Uploaded part 1)\n"
        )
    );
    assert_failure_records(&w, "d1-export-wait", 1, &id, "sample");
}

#[test]
fn an_export_cancelled_for_lack_of_polling_says_to_start_again() {
    let emu = Emulator::start(&["--cancel-after-ms", "300", "--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let s = start(&emu, &["sample"]);
    assert_eq!((s.code, s.stderr.as_str()), (0, ""));
    std::thread::sleep(Duration::from_millis(700));
    let w = wait_on(&emu, &[], &s.stdout);
    assert_eq!(w.code, 1);
    assert_one_line_error(
        &w,
        &format!("d1-export-wait: error: database sample ({id}): export not found ("),
    );
    assert_failure_records(&w, "d1-export-wait", 1, &id, "sample");
    assert!(w.stderr.contains(START_AGAIN), "{}", w.stderr);
    assert!(
        w.stderr.contains("bookmarks are perishable"),
        "{}",
        w.stderr
    );
}

#[test]
fn an_unknown_bookmark_says_to_start_again() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let w = wait_on(&emu, &[], &format!("{id} 00000000-no-such-bookmark\n"));
    assert_eq!(w.code, 1);
    // A record without a name: the database is named by its id.
    assert_one_line_error(
        &w,
        &format!("d1-export-wait: error: database {id}: export not found ("),
    );
    assert_failure_records(&w, "d1-export-wait", 1, &id, "-");
    assert!(w.stderr.contains(START_AGAIN), "{}", w.stderr);
}

#[test]
fn a_missing_token_is_exit_3_for_both_tools() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let msg = "CLOUDFLARE_API_TOKEN is not set (nor CF_API_TOKEN); set it or pass --token-file\n";
    let s = tool("d1-export-start")
        .arg("sample")
        .env_from(&emu)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .run();
    assert_eq!(s.code, 3);
    assert_eq!(s.stderr, format!("d1-export-start: error: {msg}"));
    assert_failure_records(&s, "d1-export-start", 3, "-", "-");
    let w = tool("d1-export-wait")
        .env_from(&emu)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .stdin(format!("{id} bm\n"))
        .run();
    assert_eq!(w.code, 3);
    assert_eq!(w.stderr, format!("d1-export-wait: error: {msg}"));
    assert_failure_records(&w, "d1-export-wait", 3, "-", "-");
}

#[test]
fn a_read_only_token_is_exit_3_with_the_d1_edit_hint() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let s = tool("d1-export-start")
        .arg(&id)
        .env_from(&emu)
        .env("CLOUDFLARE_API_TOKEN", READ_ONLY_TOKEN)
        .run();
    assert_eq!(s.code, 3);
    assert_one_line_error(&s, "needs the D1 Edit permission");
    // Given by id, and the token cannot read its name.
    assert_failure_records(&s, "d1-export-start", 3, &id, "-");
    assert!(s.stderr.contains("HTTP 403"), "{}", s.stderr);
    // A bookmark started with a good token, polled with a read-only one.
    let good = start(&emu, &[id.as_str()]);
    let w = tool("d1-export-wait")
        .env_from(&emu)
        .env("CLOUDFLARE_API_TOKEN", READ_ONLY_TOKEN)
        .stdin(&good.stdout)
        .run();
    assert_eq!(w.code, 3);
    assert_one_line_error(
        &w,
        &format!("d1-export-wait: error: database sample ({id}): HTTP 403"),
    );
    assert_failure_records(&w, "d1-export-wait", 3, &id, "sample");
    assert!(
        w.stderr.contains("needs the D1 Edit permission"),
        "{}",
        w.stderr
    );
}

#[test]
fn malformed_lines_are_reported_by_line_and_good_lines_still_complete() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let s = start(&emu, &["sample"]);
    let long = "x".repeat(70 * 1024);
    let input = format!(
        "\n{id} sample bm extra\n{id} bad\u{1b}[31m\n{long}\n{}",
        s.stdout
    );
    let w = wait_on(&emu, &[], &input);
    assert_eq!(w.code, 2);
    let reasons = [
        "line 1: blank line, expected a bookmark",
        "line 2: expected 'DATABASE_ID NAME BOOKMARK', 'DATABASE_ID BOOKMARK' or 'BOOKMARK', got 4 \
         fields",
        "line 3: control character '\\u{1b}' in bookmark record",
        "line 4: longer than 65536 bytes, not a record",
    ];
    let errors: Vec<String> = reasons
        .iter()
        .map(|r| format!("d1-export-wait: error: {r}"))
        .collect();
    assert_eq!(w.stderr_lines(), errors);
    // A failure record for each bad line (a line that cannot be parsed names no database),
    // then the good line's URL.
    let lines = w.stdout_lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for (line, r) in lines.iter().zip(reasons) {
        assert_eq!(*line, format!("FAIL 2 d1-export-wait - - {r}"));
    }
    dump_of(lines[4], &id, "sample");
}

#[test]
fn empty_stdin_is_a_failure_unless_allow_empty_says_nothing_to_do_is_expected() {
    let emu = Emulator::start(&[]);
    let w = wait_on(&emu, &[], "");
    assert_eq!(w.code, 1);
    assert_eq!(
        w.stderr,
        "d1-export-wait: error: no bookmark records on standard input: the previous step \
         produced nothing (it failed or was killed); --allow-empty if nothing to do is expected\n"
    );
    assert_failure_records(&w, "d1-export-wait", 1, "-", "-");
    let w = wait_on(&emu, &["--allow-empty"], "");
    assert_eq!((w.code, w.stdout.as_str(), w.stderr.as_str()), (0, "", ""));
}

#[test]
fn a_bare_bookmark_needs_a_database_from_the_flag_or_the_environment() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let bookmark = |o: &Outcome| {
        o.stdout
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };

    let w = wait_on(&emu, &[], "some-bookmark\n");
    assert_eq!(w.code, 2);
    assert_eq!(
        w.stderr,
        "d1-export-wait: error: line 1: a bare bookmark and no database: give --database DB or set D1_DATABASE_ID\n"
    );
    assert_failure_records(&w, "d1-export-wait", 2, "-", "-");
    let w = wait_on(&emu, &["some-bookmark"], "");
    assert_eq!(w.code, 2);
    assert_failure_records(&w, "d1-export-wait", 2, "-", "-");
    assert!(
        w.stderr
            .starts_with("d1-export-wait: error: argument: a bare bookmark"),
        "{}",
        w.stderr
    );

    let b = bookmark(&start(&emu, &["sample"]));
    let w = wait_on(&emu, &["--database", "sample"], &format!("{b}\n"));
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    dump_of(w.stdout_lines()[0], &id, "sample");

    let b = bookmark(&start(&emu, &["sample"]));
    let w = tool("d1-export-wait")
        .arg(&b)
        .env_from(&emu)
        .env("D1_DATABASE_ID", &id)
        .run();
    assert_eq!((w.code, w.stderr.as_str()), (0, ""));
    // Given by id alone, the database's name is not looked up: `-`.
    dump_of(w.stdout_lines()[0], &id, "-");
}

#[test]
fn stdin_is_read_as_it_arrives_and_each_url_is_printed_at_once() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let first = start(&emu, &["sample"]);
    let mut child = command_for("d1-export-wait", &emu)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn d1-export-wait");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(first.stdout.as_bytes()).expect("write");
    input.flush().expect("flush");
    // stdin stays open: the URL must come anyway.
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = out.read_to_string(&mut rest);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a URL before stdin closed");
    dump_of(line.trim_end(), &id, "sample");
    drop(input);
    let code = wait_child(&mut child);
    assert_eq!(code, 0);
}

fn wait_child(child: &mut Child) -> i32 {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < end,
            "d1-export-wait did not end after stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_timeout_bounds_the_whole_wait_with_exit_75_naming_the_database() {
    let emu = Emulator::start(&["--export-polls", "50", "--poll-hold-ms", "200"]);
    let id = emu.db_id("sample");
    let s = start(&emu, &["sample"]);
    let t = Instant::now();
    let w = wait_on(&emu, &["--timeout", "1"], &s.stdout);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(w.code, 75);
    assert_one_line_error(
        &w,
        &format!(
            "d1-export-wait: error: database sample ({id}): export not complete when --timeout \
             ran out ("
        ),
    );
    assert_failure_records(&w, "d1-export-wait", 75, &id, "sample");
}

#[test]
fn a_database_above_the_size_threshold_gets_a_warning_and_still_exports() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let o = start(&emu, &["--size-warn-percent", "0.000001", "sample"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout_lines().len(), 1);
    let lines = o.stderr_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "d1-export-start: warning: database sample ({id}) is "
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(
            "of D1's 10 GB limit (warning above 0.000001%); writes fail once it reaches the limit"
        ),
        "{}",
        lines[0]
    );
    // At the default threshold the small sample database is quiet. (The first export is still
    // active, so the preflight's schema query would be refused as busy: skip it.)
    assert_eq!(start(&emu, &["--no-preflight", "sample"]).stderr, "");
}

#[test]
fn a_stalled_upstream_does_not_hold_the_wait_past_the_timeout() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let id = emu.db_id("sample");
    let first = start(&emu, &["sample"]);
    let mut child = command_for("d1-export-wait", &emu)
        .args(["--timeout", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn d1-export-wait");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(first.stdout.as_bytes()).expect("write");
    // stdin stays open past the deadline, as behind a stuck d1-export-start.
    let o = d1_tests::wait(child, Duration::from_secs(10));
    drop(input);
    assert_eq!(o.code, 75);
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    dump_of(lines[0], &id, "sample");
    assert_eq!(
        o.stderr,
        "d1-export-wait: error: standard input still open when --timeout ran out\n"
    );
    // The run as a whole ran out, not one database: no id, no name.
    assert_eq!(
        lines[1],
        "FAIL 75 d1-export-wait - - standard input still open when --timeout ran out"
    );
}
