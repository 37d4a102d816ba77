//! A nightly `--against` run on a database that holds what D1's dump cannot carry (integers
//! beyond 2^53, -2^63, infinite REALs) fails every night, forever, unless the user can accept
//! the losses the tool has proved to be D1's (issue 23): then it passes, with the accepted
//! differences counted in one line, while anything else still fails.

use d1_tests::*;
use std::path::Path;

/// The nightly pipeline with `d1-verify --against` and `verify_args`.
fn run(emu: &Emulator, dir: &Path, verify_args: &str) -> Outcome {
    sh(
        emu,
        dir,
        &format!(
            "d1-export-start sample | d1-export-wait | d1-fetch -o b/ | d1-verify --against {verify_args}"
        ),
    )
}

#[test]
fn the_sample_fails_against_its_source_without_acceptance_and_passes_with_it() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let o = run(&emu, dir.path(), "");
    assert_eq!(o.code, 1, "the sample holds D1's losses: {o:?}");

    let dir = tempfile::tempdir().unwrap();
    let o = run(&emu, dir.path(), "--accept-d1-losses -q");
    assert_eq!(o.code, 0, "{o:?}");
    let ok = o.stdout_lines()[0].to_string();
    assert!(
        ok.starts_with("OK b/sample-") && ok.contains(" accepted_d1_losses="),
        "{ok}"
    );
    let lines = o.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "-q leaves the one counting line: {}",
        o.stderr
    );
    assert!(
        lines[0].contains("accepted as D1's known dump losses (--accept-d1-losses): "),
        "{}",
        lines[0]
    );
    // The verdict in the manifest is a pass, and says so.
    let dump = ok.split(' ').nth(1).unwrap();
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("{dump}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(m["verification"]["status"], "ok");
    assert!(m["verification"]["checks"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("against")));
}

#[test]
fn a_difference_no_quirk_explains_still_fails_with_acceptance() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // The live database changes after the export: a value the dump never had.
    let out = run(&emu, dir.path(), "--accept-d1-losses");
    assert_eq!(out.code, 0, "{out:?}");
    let id = emu.db_id("sample");
    let dump = out.stdout_lines()[0].split(' ').nth(1).unwrap().to_string();
    let tables = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(serde_json::json!({"sql": "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name LIMIT 1"})),
    );
    let table = tables.1["result"][0]["results"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(serde_json::json!({"sql": format!("DELETE FROM \"{table}\" WHERE rowid = (SELECT max(rowid) FROM \"{table}\")")})),
    );
    assert_eq!(status, 200, "{body}");
    let o = tool("d1-verify")
        .args(["--against", "--accept-d1-losses", &dump])
        .current_dir(dir.path())
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.starts_with("FAIL 1 d1-verify "), "{o:?}");
}
