//! `d1-verify --against` end to end: databases exported from d1-emulator with the real tools
//! (d1-export-start | d1-export-wait | d1-fetch), restored, and compared with the live
//! database through the emulator's query endpoint.

use d1_tests::{make_db, tool, Emulator, Outcome, ACCOUNT};
use serde_json::{json, Value};
use std::path::Path;

/// One table per D1 dump quirk (docs/d1-emulator.md, "Dump format"), plus an untouched one.
const QUIRKS_SQL: &str = "
CREATE TABLE big_int(id INTEGER PRIMARY KEY, i INTEGER);
INSERT INTO big_int(i) VALUES (9007199254740993), (5);
CREATE TABLE min_int(id INTEGER PRIMARY KEY, i INTEGER);
INSERT INTO min_int(i) VALUES (-9223372036854775808), (7);
CREATE TABLE backslash_n(id INTEGER PRIMARY KEY, s TEXT);
INSERT INTO backslash_n(s) VALUES ('line one' || char(10) || 'then a literal \\n here'), ('plain');
CREATE TABLE infinite(id INTEGER PRIMARY KEY, r REAL);
INSERT INTO infinite(r) VALUES (9e999), (-9e999), (1.5);
CREATE TABLE plain(id INTEGER PRIMARY KEY, t TEXT, b BLOB);
INSERT INTO plain(t, b) VALUES ('x', X'00ff'), (NULL, NULL);
";

/// A database with no quirk: every storage class, NULLs, safe large integers, a newline.
const PLAIN_SQL: &str = "
CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, avatar BLOB, big INTEGER);
INSERT INTO users(name, score, avatar, big) VALUES
  ('Ada', 1.5, X'89504e47', 9007199254740991),
  ('Bob ''the'' builder', NULL, NULL, -9007199254740991),
  ('Zoë' || char(10) || 'second line', -0.000001, X'', 0);
CREATE TABLE \"order items\"(\"order id\" INTEGER, \"qty\" INTEGER, note TEXT, PRIMARY KEY(\"order id\", qty)) WITHOUT ROWID;
INSERT INTO \"order items\" VALUES (1, 2, 'a'), (1, 3, NULL), (2, 1, '日本');
CREATE INDEX users_name ON users(name);
";

/// Runs the real pipeline for database `name` into `dir`; returns the dump's path (the last
/// field of d1-fetch's `DATABASE_ID NAME PATH` record).
fn fetch(emu: &Emulator, name: &str, dir: &Path) -> String {
    let start = tool("d1-export-start").arg(name).env_from(emu).run();
    assert_eq!(start.code, 0, "{start:?}");
    let wait = tool("d1-export-wait")
        .env_from(emu)
        .stdin(&start.stdout)
        .run();
    assert_eq!(wait.code, 0, "{wait:?}");
    let out = format!("{}/", dir.display());
    let f = tool("d1-fetch")
        .args(["-o", &out])
        .env_from(emu)
        .stdin(&wait.stdout)
        .run();
    assert_eq!(f.code, 0, "{f:?}");
    let id = emu.db_id(name);
    let fields: Vec<&str> = f.stdout.trim_end().splitn(3, ' ').collect();
    assert_eq!(fields[..2], [id.as_str(), name], "{f:?}");
    fields[2].to_string()
}

/// The start of d1-verify's failure record for a dump of database `name`, whose manifest gives
/// its id and name: `FAIL EXIT d1-verify DATABASE_ID NAME PATH: `.
fn fail(emu: &Emulator, exit: i32, name: &str, path: &str) -> String {
    format!("FAIL {exit} d1-verify {} {name} {path}: ", emu.db_id(name))
}

fn against(emu: &Emulator, args: &[&str]) -> Outcome {
    tool("d1-verify").args(args).env_from(emu).run()
}

fn report(o: &Outcome) -> Value {
    serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

fn start(sql_by_name: &[(&str, &str)]) -> (Emulator, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    for (name, sql) in sql_by_name {
        make_db(data.path(), name, sql);
    }
    let emu = Emulator::start_in(data.path(), &["--poll-hold-ms", "10"]);
    (emu, data)
}

fn query(emu: &Emulator, name: &str, sql: &str) {
    let id = emu.db_id(name);
    let (status, body) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(json!({ "sql": sql })),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn every_dump_quirk_is_named_by_table_column_and_measure() {
    let (emu, _data) = start(&[("quirks", QUIRKS_SQL)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "quirks", out.path());

    // The dump itself restores cleanly: only the comparison sees what it lost.
    let plain = tool("d1-verify").arg(&path).run();
    assert_eq!(plain.code, 0, "{plain:?}");

    let o = against(&emu, &["--against", &path]);
    assert_eq!(o.code, 1, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "{o:?}");
    // Tables are compared in name order: backslash_n comes first.
    assert!(
        lines[0].starts_with(&format!(
            "{}differs from live database quirks: 6 differences; \
             backslash_n.s: bytes live=36 restored=35 (text holding both a newline",
            fail(&emu, 1, "quirks", &path)
        )),
        "{}",
        lines[0]
    );
    let err = &o.stderr;
    for want in [
        "backslash_n.s: bytes live=36 restored=35 (text holding both a newline and the characters \\n",
        "big_int.i: int_sum live=9007199254740998 restored=9007199254740997 (integers beyond 2^53 are rounded by D1's dump)",
        "min_int.i: typeof_integer live=2 restored=1 (an INTEGER became a REAL",
        "min_int.i: typeof_real live=0 restored=1 (an INTEGER became a REAL",
        "min_int.i: int_sum live=-9223372036854775801 restored=7 (an INTEGER became a REAL",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("d1-verify: error: ") && l.contains(want)),
            "stderr lacks {want:?}:\n{err}"
        );
    }
    // 9e999 round-trips: an infinite REAL is restored as one. The untouched table is quiet.
    assert!(
        !err.contains("infinite.") && !err.contains("plain."),
        "{err}"
    );

    let j = report(&against(&emu, &["--json", "--against", &path]));
    let a = &j["against"];
    assert_eq!(a["database"], "quirks");
    assert_eq!(a["ok"], false);
    assert_eq!(a["tables"], 5);
    let diffs = a["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 6, "{a}");
    let keyed: Vec<(String, String, String)> = diffs
        .iter()
        .map(|d| {
            (
                d["table"].as_str().unwrap().to_string(),
                d["column"].as_str().unwrap_or("").to_string(),
                d["measure"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let k = |t: &str, c: &str, m: &str| (t.to_string(), c.to_string(), m.to_string());
    assert_eq!(
        keyed,
        vec![
            k("backslash_n", "s", "bytes"),
            k("big_int", "i", "int_sum"),
            k("min_int", "i", "typeof_integer"),
            k("min_int", "i", "typeof_real"),
            k("min_int", "i", "bytes"),
            k("min_int", "i", "int_sum"),
        ]
    );
    assert!(diffs.iter().all(|d| d["severity"] == "error"));
    // Exact values survive JSON: the live sum is beyond 2^53.
    assert_eq!(diffs[1]["live"], "9007199254740998");
}

#[test]
fn an_unchanged_database_passes_in_two_requests() {
    let (emu, _data) = start(&[("plain", PLAIN_SQL)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "plain", out.path());
    let before = emu.requests("query");
    let o = against(&emu, &["--json", "--against", &path]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr, "", "{o:?}");
    let a = &report(&o)["against"];
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["tables"], 2);
    assert_eq!(a["differences"], json!([]));
    // The schema, then every table's fingerprint in one request.
    assert_eq!(a["requests"], 2);
    assert_eq!(emu.requests("query") - before, 2);

    let o = against(&emu, &["--against", &path]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("OK {path} tables=2 rows=6\n"));
}

#[test]
fn rows_added_after_the_export_fail_without_allow_drift_and_warn_with_it() {
    let (emu, _data) = start(&[("plain", PLAIN_SQL)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "plain", out.path());
    query(
        &emu,
        "plain",
        "INSERT INTO users(name, score) VALUES ('Late', 2.5)",
    );

    let o = against(&emu, &["--against", &path]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "{}differs from live database plain: ",
            fail(&emu, 1, "plain", &path)
        )) && o
            .stdout
            .contains("; users: rows live=4 restored=3 (rows added or removed"),
        "{}",
        o.stdout
    );

    let o = against(&emu, &["--against", "--allow-drift", &path]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("OK {path} tables=2 rows=6\n"));
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("d1-verify: warning: ")
                && l.contains("users: rows live=4 restored=3")),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("error:"), "{}", o.stderr);
}

#[test]
fn a_changed_value_in_an_equal_row_count_stays_a_failure_with_allow_drift() {
    let (emu, _data) = start(&[("plain", PLAIN_SQL)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "plain", out.path());
    query(
        &emu,
        "plain",
        "UPDATE users SET big = big + 1 WHERE name = 'Ada'",
    );
    let o = against(&emu, &["--against", "--allow-drift", &path]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout
            .contains("1 difference; users.big: int_sum live=1 restored=0"),
        "{}",
        o.stdout
    );
}

#[test]
fn the_database_comes_from_the_option_the_record_the_manifest_or_the_environment() {
    let (emu, _data) = start(&[
        ("plain", PLAIN_SQL),
        ("other", "CREATE TABLE t(a); INSERT INTO t VALUES(1);"),
    ]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "plain", out.path());
    let plain_id = emu.db_id("plain");
    let other_id = emu.db_id("other");

    // The manifest beside the dump names "plain".
    assert_eq!(against(&emu, &["--against", &path]).code, 0);
    // The option wins over the manifest.
    let o = against(&emu, &["--against=other", &path]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.contains("differs from live database other:"),
        "{}",
        o.stdout
    );
    // The record's first field wins over the manifest.
    let o = tool("d1-verify")
        .args(["--against"])
        .env_from(&emu)
        .stdin(format!("{other_id} {path}\n"))
        .run();
    assert_eq!(o.code, 1, "{o:?}");

    // Without a manifest: --database, then D1_DATABASE_ID.
    let bare = out.path().join("bare.sql");
    std::fs::copy(&path, &bare).unwrap();
    let bare = bare.to_str().unwrap();
    let o = against(&emu, &["--against", "--no-checksum", bare]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "FAIL 2 d1-verify - - {bare}: --against: no database to compare with"
        )),
        "{}",
        o.stdout
    );
    assert_eq!(
        against(&emu, &["--against", "--database", "plain", bare]).code,
        0
    );
    let o = tool("d1-verify")
        .args(["--against", bare])
        .env_from(&emu)
        .env("D1_DATABASE_ID", &plain_id)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let o = against(&emu, &["--against=nosuch", bare]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stdout.contains("no database named \"nosuch\""),
        "{}",
        o.stdout
    );
}

#[test]
fn a_wide_database_is_fingerprinted_in_a_handful_of_requests() {
    let mut sql = String::new();
    for t in 0..80 {
        let cols: Vec<String> = (0..12).map(|c| format!("column_{c}")).collect();
        sql.push_str(&format!(
            "CREATE TABLE table_{t}({}); INSERT INTO table_{t}(column_0, column_11) VALUES({t}, 'x');\n",
            cols.join(", ")
        ));
    }
    let (emu, _data) = start(&[("wide", &sql)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "wide", out.path());
    let o = against(&emu, &["--json", "--against", &path]);
    assert_eq!(o.code, 0, "{o:?}");
    let a = &report(&o)["against"];
    assert_eq!(a["tables"], 80);
    let requests = a["requests"].as_u64().unwrap();
    assert!((2..=12).contains(&requests), "{requests} requests");
}

#[test]
fn without_against_no_api_is_needed_and_its_companions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("d.sql");
    std::fs::write(&dump, "CREATE TABLE t(a);\nINSERT INTO t VALUES(1);").unwrap();
    let d = dump.to_str().unwrap();
    assert_eq!(tool("d1-verify").arg(d).run().code, 0);
    let o = tool("d1-verify").args(["--allow-drift", d]).run();
    assert_eq!(o.code, 2, "{o:?}");
    let o = tool("d1-verify").args(["--against", d]).run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("CLOUDFLARE_API_TOKEN"), "{}", o.stderr);
}

#[test]
fn a_failing_comparison_writes_no_db_file_and_an_unreachable_live_side_is_temporary() {
    let (emu, _data) = start(&[("plain", PLAIN_SQL)]);
    let out = tempfile::tempdir().unwrap();
    let path = fetch(&emu, "plain", out.path());
    query(&emu, "plain", "DELETE FROM users WHERE name = 'Ada'");
    let db = out.path().join("restored.db");
    let db_arg = db.to_str().unwrap();
    let o = against(&emu, &["--against", "--db", db_arg, &path]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        !db.exists(),
        "--db must not be written when the comparison fails"
    );
    let o = against(&emu, &["--against", "--allow-drift", "--db", db_arg, &path]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(db.exists());

    emu.arm(&["query:503:times=0"]);
    let o = against(&emu, &["--against", "--retries", "1", &path]);
    assert_eq!(o.code, 75, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "{}querying live database plain: ",
            fail(&emu, 75, "plain", &path)
        )),
        "{}",
        o.stdout
    );
    d1_tests::assert_no_secrets("stdout", &o.stdout);
    d1_tests::assert_no_secrets("stderr", &o.stderr);
}
