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
fn a_trigger_body_of_200000_statements_is_split_in_linear_time() {
    // 2 MB. The splitter used to copy the statement and ask sqlite3_complete at every `;`:
    // 204 s in a release build (the sqlite3 shell: 0.06 s).
    let dir = tempfile::tempdir().unwrap();
    let body = "SELECT 1;\n".repeat(200_000);
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
