//! D1's sharp edges (issue 10), against d1-emulator: the export preflight that refuses a
//! database holding a virtual table, the "Currently processing a long-running export" lock
//! (exit 75, said in words), and dumps that SQLite restores but D1's import would refuse,
//! caught by `d1-verify --d1-compat` (docs/sharp-edges.md).

use d1_tests::*;
use std::path::Path;

/// A database with an FTS5 virtual table beside ordinary ones (FTS5 is in the bundled SQLite).
const WITH_FTS: &str = "
CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO notes VALUES(1, 'hello'), (2, 'world');
CREATE VIRTUAL TABLE search USING fts5(body);
INSERT INTO search(body) VALUES('hello world');
";

const BUSY: &str = "the database is busy with another export (or a failed one still holds it); \
D1 releases it after the export ends or times out: try again in a few minutes";

fn emulator_with_fts(dir: &Path, flags: &[&str]) -> Emulator {
    make_db(dir, "fts", WITH_FTS);
    Emulator::start_in(dir, flags)
}

fn start(emu: &Emulator, args: &[&str]) -> Outcome {
    tool("d1-export-start").args(args).env_from(emu).run()
}

#[test]
fn the_preflight_refuses_a_database_with_a_virtual_table_and_starts_no_export() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_with_fts(dir.path(), &[]);
    let id = emu.db_id("fts");
    let o = start(&emu, &["fts"]);
    assert_eq!(o.code, 1, "{o:?}");
    let says = format!(
        "database fts ({id}): export not started: it holds virtual table(s) search (fts5); D1 \
         cannot export virtual tables (fts5), and exporting would fail and lock the database"
    );
    assert_one_line_error(&o, &format!("d1-export-start: error: {says}"));
    // The failure record goes down the pipe, naming the database by id and name.
    assert!(
        o.stdout
            .starts_with(&format!("FAIL 1 d1-export-start {id} fts {says}"))
            && o.stdout_lines().len() == 1,
        "{:?}",
        o.stdout
    );
    let state = emu.state();
    assert_eq!(state["requests"]["export-start"], 0, "{state}");
    assert_eq!(state["requests"]["query"], 1, "{state}");
    assert_eq!(state["exports"], serde_json::json!([]), "{state}");
    assert_eq!(state["locks"], serde_json::json!([]), "{state}");
}

#[test]
fn other_databases_on_the_command_line_still_export_when_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    make_db(
        dir.path(),
        "plain",
        "CREATE TABLE t(a); INSERT INTO t VALUES(1);",
    );
    let emu = emulator_with_fts(dir.path(), &[]);
    let plain = emu.db_id("plain");
    let fts = emu.db_id("fts");
    let o = start(&emu, &["fts", "plain"]);
    assert_eq!(o.code, 1, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 2, "{o:?}");
    assert!(
        lines[0].starts_with(&format!("FAIL 1 d1-export-start {fts} fts database fts ")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{plain} plain ")),
        "{}",
        lines[1]
    );
    assert_eq!(emu.requests("export-start"), 1);
}

#[test]
fn without_preflight_the_export_fails_on_the_virtual_table_then_the_lock_is_exit_75() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_with_fts(dir.path(), &["--export-lock-ms", "60000"]);
    let id = emu.db_id("fts");
    let started = start(&emu, &["--no-preflight", "fts"]);
    assert_eq!(started.code, 0, "{started:?}");
    assert_eq!(emu.requests("export-start"), 1);

    let waited = tool("d1-export-wait")
        .stdin(&started.stdout)
        .env_from(&emu)
        .run();
    assert_eq!(waited.code, 1, "{waited:?}");
    assert!(
        waited
            .stdout
            .starts_with(&format!("FAIL 1 d1-export-wait {id} fts database "))
            && waited.stdout_lines().len() == 1,
        "{:?}",
        waited.stdout
    );
    assert!(
        waited
            .stderr
            .contains("D1 Export error: cannot export databases with Virtual Tables (fts5)"),
        "{}",
        waited.stderr
    );

    // The failed export holds the database: the preflight's own query is refused, at once and
    // once (no retries against the lock), and no export is started.
    let queries_before = emu.requests("query");
    let again = start(&emu, &["fts"]);
    assert_eq!(again.code, 75, "{again:?}");
    let says = format!(
        "checking database fts ({id}) for virtual tables before exporting: {BUSY} (HTTP 400: \
         [7500] D1_ERROR: Currently processing a long-running export.)"
    );
    assert_eq!(
        again.stdout,
        format!("FAIL 75 d1-export-start {id} fts {says}\n")
    );
    assert_one_line_error(&again, &format!("d1-export-start: error: {says}"));
    assert_eq!(emu.requests("query"), queries_before + 1);
    assert_eq!(emu.requests("export-start"), 1);

    // Without the preflight the start itself meets the lock: the same words, exit 75.
    let forced = start(&emu, &["--no-preflight", "fts"]);
    assert_eq!(forced.code, 75, "{forced:?}");
    assert_one_line_error(&forced, BUSY);
    assert_eq!(emu.state()["refused"]["export-start"], 1);
}

#[test]
fn a_table_filter_that_leaves_out_the_virtual_table_passes_the_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_with_fts(dir.path(), &[]);
    let id = emu.db_id("fts");
    let started = start(&emu, &["--table", "notes", "fts"]);
    assert_eq!(started.code, 0, "{started:?}");
    assert_eq!(started.stderr, "");
    let waited = tool("d1-export-wait")
        .stdin(&started.stdout)
        .env_from(&emu)
        .run();
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(
        waited.stdout.starts_with(&format!("{id} fts "))
            && waited
                .stdout
                .split(' ')
                .nth(3)
                .is_some_and(|u| u.starts_with("http://")),
        "{}",
        waited.stdout
    );

    // Naming the virtual table itself is refused like a full export.
    let o = start(&emu, &["--table", "notes", "--table", "search", "fts"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_line_error(&o, "it holds virtual table(s) search (fts5)");
}

#[test]
fn a_busy_database_is_exit_75_on_a_query_during_another_export() {
    // An export running (started through the API, not polled for a while): the preflight's
    // query is refused with the lock's words.
    let emu = Emulator::start(&["--cancel-after-ms", "60000"]);
    let (id, _bookmark) = emu.start_export("sample");
    let o = start(&emu, &["sample"]);
    assert_eq!(o.code, 75, "{o:?}");
    assert_one_line_error(
        &o,
        &format!("database sample ({id}) for virtual tables before exporting: {BUSY}"),
    );
    assert_eq!(emu.state()["refused"]["query"], 1);
}

// ---- d1-verify: dumps SQLite restores but D1's import refuses ----------------------------

/// A D1-style dump whose child rows come before the parent table's CREATE (a table rebuilt
/// after its parent keeps a lower rowid, so D1's own exports can come out in this order).
const CHILD_BEFORE_PARENT: &str = "PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE \"child\" (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
INSERT INTO \"child\" (\"id\",\"parent_id\") VALUES(1,1);
CREATE TABLE \"parent\" (id INTEGER PRIMARY KEY);
INSERT INTO \"parent\" (\"id\") VALUES(1);";

/// `sqlite3 .dump` output: a transaction of its own around everything.
const WITH_TRANSACTION: &str = "PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO t VALUES(1);
COMMIT;";

/// An INSERT into a table that does not exist yet.
const TABLE_CREATED_LATER: &str = "PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE a(x);
INSERT INTO later VALUES(1);
CREATE TABLE later(y);";

/// A row of about 150 KB on line 3: over D1's 100 000 bytes per statement.
fn with_long_statement() -> String {
    format!(
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE \"blobs\" (id INTEGER PRIMARY KEY, data BLOB);\n\
         INSERT INTO \"blobs\" (\"id\",\"data\") VALUES(1,X'{}');\nINSERT INTO \"blobs\" (\"id\",\"data\") VALUES(2,X'00');",
        "ab".repeat(75_000)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn verify(args: &[&str]) -> Outcome {
    tool("d1-verify").args(args).run()
}

/// What the emulator's import (D1's rules) says about `file` imported as it is (as wrangler
/// sends it), into a fresh empty database, which it leaves empty.
fn import_error(emu: &Emulator, name: &str, file: &str) -> String {
    let id = emu.create_db(name);
    let answer = emu.import_as_is(&id, &std::fs::read(file).unwrap());
    assert_eq!(
        answer["status"], "error",
        "D1 (the emulator) should refuse {file}: {answer}"
    );
    let (_, tables) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(serde_json::json!({"sql": "SELECT count(*) AS n FROM sqlite_schema"})),
    );
    assert_eq!(tables["result"][0]["results"][0]["n"], 0, "left as it was");
    answer["error"].as_str().unwrap_or_default().to_string()
}

/// d1-import of `file` into a fresh database: exit 0, and the one line saying what it
/// rewrote for D1.
fn imports_rewritten(emu: &Emulator, name: &str, file: &str, rewritten: &str) {
    emu.create_db(name);
    let o = tool("d1-import")
        .env_from(emu)
        .args(["--database", name, file])
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stderr,
        format!("d1-import: {file}: rewritten for D1's import: {rewritten}\n")
    );
}

/// The dump fails with `--d1-compat` naming the line, and passes with a warning without it.
fn refused_by_d1_only(file: &str, line: u64, why: &str) {
    let strict = verify(&["--d1-compat", file]);
    assert_eq!(strict.code, 1, "{strict:?}");
    let expected =
        format!("FAIL 1 d1-verify - - {file}: line {line}: will not import into D1: {why}");
    assert!(
        strict.stdout.starts_with(&expected),
        "{}\nexpected to start with\n{expected}",
        strict.stdout
    );

    let lenient = verify(&[file]);
    assert_eq!(lenient.code, 0, "{lenient:?}");
    assert!(
        lenient.stdout.starts_with(&format!("OK {file} ")),
        "{}",
        lenient.stdout
    );
    let warning = format!("d1-verify: warning: {file} line {line}: will not import into D1: {why}");
    assert!(
        lenient.stderr.lines().any(|l| l.starts_with(&warning)),
        "{}\nexpected a line starting with\n{warning}",
        lenient.stderr
    );

    let json = verify(&["--json", file]);
    assert_eq!(json.code, 0, "{json:?}");
    let report: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    let compat = &report["d1_compat"];
    assert_eq!(compat["importable"], false, "{compat}");
    assert_eq!(compat["findings"][0]["line"], line, "{compat}");
    assert!(
        compat["findings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("will not import into D1: {why}")),
        "{compat}"
    );
}

#[test]
fn an_insert_before_its_parent_table_is_created_will_not_import_into_d1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "order.sql", CHILD_BEFORE_PARENT);
    refused_by_d1_only(
        &file,
        3,
        "INSERT into child before its foreign key's parent table parent is created: D1 enforces \
         foreign keys during an import and fails here with \"no such table: main.parent\"",
    );
    // D1's rules (the emulator's import) refuse it at that statement, with those words.
    let emu = Emulator::start(&[]);
    let e = import_error(&emu, "order", &file);
    assert!(e.contains("statement 3: no such table: main.parent"), "{e}");
}

#[test]
fn begin_transaction_will_not_import_into_d1_as_it_is_and_d1_import_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tx.sql", WITH_TRANSACTION);
    refused_by_d1_only(
        &file,
        2,
        "BEGIN TRANSACTION is transaction control, which D1 refuses",
    );
    // COMMIT on line 5 is reported too.
    let o = verify(&[&file]);
    assert!(
        o.stderr.contains(&format!(
            "{file} line 5: will not import into D1: COMMIT is transaction control"
        )),
        "{}",
        o.stderr
    );
    let emu = Emulator::start(&[]);
    let e = import_error(&emu, "tx", &file);
    assert!(
        e.starts_with("statement 2: To execute a transaction"),
        "{e}"
    );
    imports_rewritten(
        &emu,
        "tx-rewritten",
        &file,
        "0 statements over 100000 bytes split into 0, 2 transaction statements dropped",
    );
}

#[test]
fn a_150_kb_insert_will_not_import_into_d1_as_it_is_and_d1_import_splits_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = with_long_statement();
    let file = write(dir.path(), "long.sql", &text);
    let len = text.lines().nth(2).unwrap().len();
    assert!(len > 150_000, "{len}");
    refused_by_d1_only(
        &file,
        3,
        &format!("the statement is {len} bytes, over D1's limit of 100000 bytes per statement"),
    );
    let emu = Emulator::start(&[]);
    let e = import_error(&emu, "long", &file);
    assert_eq!(e, "statement 3: statement too long: SQLITE_TOOBIG");
    imports_rewritten(
        &emu,
        "long-rewritten",
        &file,
        "1 statement over 100000 bytes split into 6, 0 transaction statements dropped",
    );
}

#[test]
fn a_cf_table_will_not_import_into_d1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "cf.sql",
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(a);\nCREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB);\nINSERT INTO \"_cf_KV\" VALUES('k', X'00');",
    );
    refused_by_d1_only(
        &file,
        3,
        "it creates table _cf_KV; names starting with _cf_ are reserved",
    );
}

#[test]
fn an_insert_into_a_table_created_later_fails_at_its_line_and_says_d1_refuses_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "later.sql", TABLE_CREATED_LATER);
    let o = verify(&[&file]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "FAIL 1 d1-verify - - {file}: line 3: no such table: later (D1's import refuses it \
             too): INSERT INTO later"
        )),
        "{}",
        o.stdout
    );
    let strict = verify(&["--d1-compat", &file]);
    assert_eq!(strict.code, 1, "{strict:?}");
    assert!(
        strict.stdout.starts_with(&format!(
            "FAIL 1 d1-verify - - {file}: line 3: will not import into D1: no such table: later"
        )),
        "{}",
        strict.stdout
    );
    let emu = Emulator::start(&[]);
    let e = import_error(&emu, "later", &file);
    assert!(e.contains("statement 3: no such table: later"), "{e}");
}

#[test]
fn a_d1_export_passes_d1_compat_without_warnings() {
    let emu = Emulator::start(&[]);
    let (_id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sample.sql");
    std::fs::write(&p, download(&url)).unwrap();
    let o = verify(&["--d1-compat", "--json", p.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    let report: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(
        report["d1_compat"]["importable"], true,
        "{}",
        report["d1_compat"]
    );
    assert!(!o.stderr.contains("will not import"), "{}", o.stderr);
}
