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
    assert_eq!(o.stdout, "");
    assert_one_line_error(
        &o,
        &format!(
            "d1-export-start: error: database fts ({id}): export not started: it holds virtual \
             table(s) search (fts5); D1 cannot export virtual tables (fts5), and exporting would \
             fail and lock the database"
        ),
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
    let o = start(&emu, &["fts", "plain"]);
    assert_eq!(o.code, 1, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "{o:?}");
    assert!(lines[0].starts_with(&format!("{plain} ")), "{}", lines[0]);
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
    assert_eq!(waited.stdout, "");
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
    assert_eq!(again.stdout, "");
    assert_one_line_error(
        &again,
        &format!(
            "d1-export-start: error: checking database fts ({id}) for virtual tables before \
             exporting: {BUSY} (HTTP 400: [7500] D1_ERROR: Currently processing a long-running export.)"
        ),
    );
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
        waited.stdout.starts_with(&format!("{id} http://")),
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
