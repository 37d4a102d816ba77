//! Production-sized round trip (issue 22): a 50 MB database (d1-bench-gen) goes export →
//! d1-fetch → d1-verify → d1-import into a new database → export again, and the second dump is
//! byte-identical to the first. d1-verify runs once, as `d1-import --verify-first` runs it: its
//! verdict gates the import and its table counts are what the restore is checked against (a
//! second, separate d1-verify of 50 MB would double the test's time in a debug build).
//! Before the import ran on its own thread and connection, a 40 MB import failed with
//! `database is locked: SQLITE_BUSY` after a minute.

use d1_tests::*;
use std::time::{Duration, Instant};

/// Big enough to be a real import (about 170 000 statements), small enough for `make test`.
const SIZE: &str = "50M";

#[test]
fn a_50_mb_database_round_trips_through_fetch_verify_and_import_byte_identical() {
    let started = Instant::now();
    let data = tempfile::tempdir().expect("tempdir");
    let gen = command("d1-bench-gen")
        .args(["--size", SIZE, "--out"])
        .arg(data.path().join("big.sqlite"))
        .output()
        .expect("run d1-bench-gen");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let emu = Emulator::start_in(data.path(), &["--poll-hold-ms", "20"]);
    let out = tempfile::tempdir().expect("tempdir");

    // Export, fetch: the path of the dump.
    let start = tool("d1-export-start").env_from(&emu).arg("big").run();
    assert_eq!(start.code, 0, "{}", start.stderr);
    let wait = tool("d1-export-wait")
        .env_from(&emu)
        .stdin(&start.stdout)
        .run();
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    let fetch = tool("d1-fetch")
        .env_from(&emu)
        .arg("-o")
        .arg(out.path())
        .stdin(&wait.stdout)
        .run();
    assert_eq!(fetch.code, 0, "{}", fetch.stderr);
    let record = fetch.stdout_lines().last().expect("a record").to_string();
    let path = record.rsplit(' ').next().expect("path").to_string();
    let first = std::fs::read(&path).expect("the fetched dump");
    assert!(first.len() > 45 << 20, "{} bytes", first.len());

    // Verify, then import into a new database: completes (no SQLITE_BUSY), checked against
    // the dump.
    let (status, body) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database"),
        Some(serde_json::json!({"name": "restored"})),
    );
    assert_eq!(status, 200, "{body}");
    let t = Instant::now();
    let import = tool("d1-import")
        .env_from(&emu)
        .args(["--database", "restored", "--verify-first"])
        .arg(&path)
        .run();
    assert_eq!(import.code, 0, "{}", import.stderr);
    eprintln!(
        "scale: {SIZE} import took {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Export the restored database: the same bytes.
    let (_, url) = emu.export_url("restored");
    let second = download(&url);
    assert_eq!(second.len(), first.len(), "same size");
    assert!(second == first, "byte-identical dumps");
    let took = started.elapsed();
    eprintln!("scale: round trip took {:.1} s", took.as_secs_f64());
    assert!(took < Duration::from_secs(120), "{took:?}");
}
