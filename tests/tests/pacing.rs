//! Pacing for many databases (issue 23): the account's API limit (1200 requests per 5 minutes,
//! then every request refused for the rest of the window) must not be hit by a night of many
//! exports. d1-core keeps a request budget per account shared by every tool on the host
//! (`D1_REQUEST_BUDGET=N/SECONDS`); here the emulator's rate-limit fault stands in for D1's.

use d1_tests::*;

const DB: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);";

/// Starts exports of six databases (about three API calls each) against an emulator that
/// allows 10 calls per 5 seconds; returns the exit code and how many calls it refused.
fn start_six(budget: &str) -> (Outcome, u64) {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (1..=6).map(|i| format!("db{i}")).collect();
    for n in &names {
        make_db(dir.path(), n, DB);
    }
    let emu = Emulator::start_in(dir.path(), &["--rate-limit", "10/5"]);
    let state_dir = tempfile::tempdir().unwrap();
    let o = tool("d1-export-start")
        .args(&names)
        .env_from(&emu)
        .env("D1_REQUEST_BUDGET", budget)
        .env("XDG_RUNTIME_DIR", state_dir.path())
        .run();
    let refused = emu.state()["rate_limit"]["refused"].as_u64().unwrap_or(0);
    (o, refused)
}

#[test]
fn without_pacing_the_rate_limit_is_hit() {
    let (o, refused) = start_six("0");
    assert!(refused > 0, "the emulator refused no call: {o:?}");
}

#[test]
fn a_budget_under_the_limit_is_never_refused_and_every_export_starts() {
    let (o, refused) = start_six("9/5");
    assert_eq!(refused, 0, "{o:?}");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 6, "{o:?}");
}
