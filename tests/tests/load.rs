//! A load test of d1-emulator and d1-export-wait (issue 6): 50 exports started at once and
//! polled concurrently by one d1-export-wait; every one completes, none is lost or cancelled.
//! Bounded: 50 exports, one run, loopback only.

use d1_tests::*;
use std::collections::BTreeSet;

#[test]
fn fifty_exports_polled_at_once_all_complete_and_none_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = (1..=50).map(|i| format!("db{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        make_db(
            dir.path(),
            n,
            &format!("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('db {i}');"),
        );
    }
    // Each export needs 4 answers, each poll is held 100 ms: polling them one after another
    // would take 15 s and let the emulator cancel the exports nobody polled for 5 s.
    let emu = Emulator::start_in(
        dir.path(),
        &[
            "--export-polls",
            "4",
            "--poll-hold-ms",
            "100",
            "--cancel-after-ms",
            "5000",
        ],
    );
    let start = tool("d1-export-start").env_from(&emu).args(&names).run();
    assert_eq!(start.code, 0, "{}", start.stderr);
    assert_eq!(start.stdout_lines().len(), 50);

    let wait = tool("d1-export-wait")
        .env_from(&emu)
        .args(["--jobs", "8", "--timeout", "60"])
        .stdin(&start.stdout)
        .run();
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    assert_no_secrets("stderr", &wait.stderr);
    let lines = wait.stdout_lines();
    assert_eq!(lines.len(), 50, "one URL per export: {}", wait.stdout);

    let started: BTreeSet<&str> = start
        .stdout_lines()
        .iter()
        .filter_map(|l| l.split(' ').next())
        .collect();
    let finished: BTreeSet<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        started, finished,
        "every database started is completed, once"
    );

    // Every record is `DATABASE_ID NAME BOOKMARK SIGNED_URL`, and every URL serves its own
    // database's dump (database dbNN holds the row 'db NN-1').
    for line in &lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 4, "{line}");
        let (name, url) = (fields[1], fields[3]);
        let n: usize = name
            .strip_prefix("db")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("the name field of {line}"));
        let dump = String::from_utf8(download(url)).expect("utf-8 dump");
        assert!(
            dump.starts_with("PRAGMA defer_foreign_keys=TRUE;"),
            "{dump}"
        );
        assert!(dump.contains("INSERT INTO \"t\""), "{dump}");
        assert!(dump.contains(&format!("'db {}'", n - 1)), "{name}: {dump}");
    }
    let state = emu.state();
    let exports = state["exports"].as_array().expect("exports");
    assert_eq!(exports.len(), 50);
    assert!(
        exports.iter().all(|e| e["status"] == "complete"),
        "none cancelled: {state}"
    );
}
