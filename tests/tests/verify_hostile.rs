//! d1-verify against dumps written to hurt it (issue 17, item 2): statements that would run
//! for hours or fill memory, splitting work that grows with the square of a statement, and
//! signals that arrive while SQLite is busy. Each dump is small; each test takes seconds.

use d1_tests::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn write(dir: &Path, name: &str, sql: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, sql).unwrap();
    p.display().to_string()
}

#[test]
fn a_trigger_body_of_60000_statements_is_split_in_linear_time() {
    // 600 kB. The splitter used to copy the statement and ask sqlite3_complete at every `;`:
    // 204 s in a release build for 200,000 statements, so about 18 s for these (the sqlite3
    // shell: 0.06 s). SQLite 3.54 refuses a trigger of more than 65,000 steps
    // (SQLITE_LIMIT_TRIGGER_STEPS), hence not 200,000 any more.
    let dir = tempfile::tempdir().unwrap();
    let body = "SELECT 1;\n".repeat(60_000);
    let dump = write(
        dir.path(),
        "trigger.sql",
        &format!("CREATE TABLE t(a);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n{body}END;\nINSERT INTO t VALUES(1);\n"),
    );
    let t = Instant::now();
    let o = wait(
        tool("d1-verify").arg(&dump).spawn(),
        Duration::from_secs(60),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.trim(), format!("OK {dump} tables=1 rows=1"));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
}

/// A trigger that runs `body` when the dump's last INSERT fires it: statements a dump may hold
/// (triggers are part of a schema), so no gate in front of SQLite can refuse them.
fn trigger_bomb(body: &str) -> String {
    let rows: String = (0..100)
        .map(|i| format!("INSERT INTO \"t\" (\"a\") VALUES({i});\n"))
        .collect();
    format!(
        "CREATE TABLE t(a);\nCREATE TABLE u(x);\nCREATE TABLE go(x);\n{rows}\
         CREATE TRIGGER bomb AFTER INSERT ON go BEGIN {body}; END;\n\
         INSERT INTO \"go\" (\"x\") VALUES(1);\n"
    )
}

#[test]
fn sigterm_inside_a_long_statement_stops_within_a_second_with_130_and_no_ok_line() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "cpu.sql",
        &trigger_bomb("INSERT INTO u SELECT count(*) FROM t a, t b, t c, t d, t e, t f"),
    );
    for sig in [15, 2] {
        // A budget of minutes: the signal, not the budget, must end it.
        let child = tool("d1-verify")
            .env("D1_VERIFY_BASE_STEPS", "100000000000")
            .arg(&dump)
            .spawn();
        // Long enough to be inside the statement.
        std::thread::sleep(Duration::from_millis(400));
        let sent = Instant::now();
        signal(&child, sig);
        let o = wait(child, Duration::from_secs(20));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "signal {sig}: took {:?}",
            sent.elapsed()
        );
        assert_eq!(o.code, 130, "signal {sig}: {o:?}");
        // No verdict for an unfinished check: only the failure record of an interruption.
        assert!(
            !o.stdout.contains("OK") && !o.stdout.contains("cpu.sql"),
            "signal {sig}: {o:?}"
        );
    }
}

#[test]
fn a_statement_that_outruns_the_cpu_budget_fails_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "cpu.sql",
        &trigger_bomb("INSERT INTO u SELECT count(*) FROM t a, t b, t c, t d, t e, t f"),
    );
    let t = Instant::now();
    let o = wait(
        tool("d1-verify").arg(&dump).spawn(),
        Duration::from_secs(60),
    );
    assert_eq!(o.code, 1, "{o:?}");
    let want =
        format!("FAIL 1 d1-verify - - {dump}: line 105: refused: the statement ran over the restore's CPU budget");
    assert!(o.stdout.starts_with(&want), "{o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn a_statement_that_asks_for_gigabytes_fails_at_the_memory_budget() {
    // 100 rows of 100 MB each: 10 GB if nothing stopped it, in a few SQLite steps.
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "heap.sql",
        &trigger_bomb("INSERT INTO u SELECT zeroblob(100000000) FROM t"),
    );
    let o = wait(
        tool("d1-verify").arg(&dump).spawn(),
        Duration::from_secs(60),
    );
    assert_eq!(o.code, 1, "{o:?}");
    let want = format!(
        "FAIL 1 d1-verify - - {dump}: line 105: refused: the statement needs more memory than the restore's budget"
    );
    assert!(o.stdout.starts_with(&want), "{o:?}");
}

#[test]
fn statement_shapes_no_dump_has_are_refused_before_they_run() {
    // The 2.7 KB dump: 100 rows, then a query over six copies of them (10^12 rows).
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..100)
        .map(|i| format!("INSERT INTO \"t\" (\"a\") VALUES({i});\n"))
        .collect();
    let head = format!("CREATE TABLE t(a);\nCREATE TABLE u(x);\n{rows}");
    for (i, bomb) in [
        "INSERT INTO u SELECT 1 FROM t a, t b, t c, t d, t e, t f;",
        "INSERT INTO u VALUES((SELECT count(*) FROM t a, t b, t c, t d, t e, t f));",
        "CREATE TABLE v AS SELECT 1 FROM t a, t b, t c, t d, t e, t f;",
        "DELETE FROM u WHERE (SELECT count(*) FROM t a, t b, t c, t d, t e, t f);",
    ]
    .iter()
    .enumerate()
    {
        let dump = write(
            dir.path(),
            &format!("shape{i}.sql"),
            &format!("{head}{bomb}\n"),
        );
        let t = Instant::now();
        let o = wait(
            tool("d1-verify").arg(&dump).spawn(),
            Duration::from_secs(60),
        );
        assert_eq!(o.code, 1, "{bomb}: {o:?}");
        let want = format!("FAIL 1 d1-verify - - {dump}: line 103: refused: ");
        assert!(o.stdout.starts_with(&want), "{bomb}: {o:?}");
        assert!(
            !o.stdout.contains("CPU budget"),
            "refused by its shape: {o:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{bomb}: {:?}",
            t.elapsed()
        );
    }
}
