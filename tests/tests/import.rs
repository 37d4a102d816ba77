//! d1-import against the real emulator: a backup is proven by its restore. Round trips, the
//! all-or-nothing failure, upload corruption, the non-empty guard, no second upload of the same
//! file, zstd input, --verify-first, retries, deadlines, signals and the exit codes.

use d1_tests::{
    assert_no_secrets, assert_one_line_error, bin, download, files_in, signal, tool, wait,
    Emulator, Tool, ACCOUNT,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn emulator() -> Emulator {
    Emulator::start(&["--poll-hold-ms", "20"])
}

/// Exports a database through the API (start, poll with the latest bookmark) and downloads it.
fn export_dump(emu: &Emulator, id: &str) -> String {
    let path = format!("/accounts/{ACCOUNT}/d1/database/{id}/export");
    let mut body = json!({"output_format": "polling", "dump_options": {}});
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ans) = emu.api("POST", &path, Some(body.clone()));
        assert_eq!(status, 200, "{ans}");
        let r = &ans["result"];
        if r["status"] == "complete" {
            let url = r["result"]["signed_url"].as_str().expect("signed_url");
            return String::from_utf8(download(url)).expect("dump is UTF-8");
        }
        assert_ne!(r["status"], "error", "{ans}");
        assert!(Instant::now() < end, "export did not finish");
        body["current_bookmark"] = r["at_bookmark"].clone();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// User tables of a database, through the query endpoint.
fn tables(emu: &Emulator, id: &str) -> Vec<String> {
    let (status, ans) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(
            json!({"sql": "SELECT name FROM sqlite_schema WHERE type='table' \
            AND name NOT LIKE 'sqlite_%' ORDER BY name"}),
        ),
    );
    assert_eq!(status, 200, "{ans}");
    ans["result"][0]["results"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn requests(emu: &Emulator, endpoint: &str) -> u64 {
    emu.state()["requests"][endpoint].as_u64().unwrap_or(0)
}

fn import(emu: &Emulator) -> Tool {
    tool("d1-import").env_from(emu)
}

/// Everything after the first statement (`PRAGMA defer_foreign_keys=TRUE;`).
fn after_first_statement(dump: &str) -> &str {
    dump.split_once('\n').map(|(_, rest)| rest).unwrap_or("")
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write test file");
    p
}

/// A binary of the workspace, if it was built (d1-verify is another engineer's crate).
fn built(name: &str) -> Option<PathBuf> {
    let p = bin("d1-import").parent()?.join(name);
    p.exists().then_some(p)
}

/// A dump whose third INSERT names a table that does not exist.
const FAILS_MIDWAY: &str = "PRAGMA defer_foreign_keys=TRUE;\n\
CREATE TABLE \"a\" (x INTEGER);\n\
INSERT INTO \"a\" (\"x\") VALUES(1);\n\
INSERT INTO \"a\" (\"x\") VALUES(2);\n\
INSERT INTO \"missing\" (\"x\") VALUES(3);\n\
INSERT INTO \"a\" (\"x\") VALUES(4);";

const SMALL: &str = "PRAGMA defer_foreign_keys=TRUE;\n\
CREATE TABLE \"b\" (y TEXT);\n\
INSERT INTO \"b\" (\"y\") VALUES('one');\n\
INSERT INTO \"b\" (\"y\") VALUES('two');";

#[test]
fn an_exported_dump_imports_into_an_empty_database_and_exports_back_the_same() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let original = export_dump(&emu, &emu.db_id("sample"));
    let file = write(work.path(), "sample.sql", &original);
    let target = emu.create_db("restore");

    let o = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr, "", "nothing on stderr when all goes well");
    // DATABASE_ID NAME FINAL_BOOKMARK num_queries=N rows_written=M
    let fields: Vec<&str> = o.stdout.trim_end().split(' ').collect();
    assert_eq!(fields.len(), 5, "{:?}", o.stdout);
    assert_eq!(fields[..2], [target.as_str(), "restore"]);
    assert!(!fields[2].is_empty());
    let queries: u64 = fields[3]
        .strip_prefix("num_queries=")
        .and_then(|n| n.parse().ok())
        .expect("num_queries=N");
    assert_eq!(queries as usize, original.split(";\n").count());
    assert!(fields[4].starts_with("rows_written="), "{:?}", fields[4]);

    let restored = export_dump(&emu, &target);
    assert_eq!(
        after_first_statement(&restored),
        after_first_statement(&original)
    );

    if let Some(verify) = built("d1-verify") {
        let back = write(work.path(), "restored.sql", &restored);
        let digests = |p: &Path| -> Value {
            let out = std::process::Command::new(&verify)
                .args(["--json", "-q"])
                .arg(p)
                .output()
                .expect("run d1-verify");
            let v: Value = serde_json::from_slice(&out.stdout).expect("d1-verify --json");
            v["tables"].clone()
        };
        let (a, b) = (digests(&file), digests(&back));
        assert!(a.as_array().is_some_and(|t| !t.is_empty()), "{a}");
        assert_eq!(a, b, "table digests of the original and the restored dump");
    }
}

#[test]
fn a_statement_failing_midway_leaves_the_database_unchanged_and_exits_1() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let target = emu.create_db("restore");
    let file = write(work.path(), "bad.sql", FAILS_MIDWAY);
    let o = import(&emu).args(["--database", &target]).arg(&file).run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_line_error(&o, "left unchanged");
    assert!(o.stderr.contains("no such table: missing"), "{}", o.stderr);
    assert!(o.stderr.contains("all or nothing"), "{}", o.stderr);
    // The failure record, for the tools after it. (Its DATABASE_ID and NAME fields are not
    // pinned: the target is known, the record says `- -`; see the report of issue 16.)
    assert!(
        o.stdout.starts_with("FAIL 1 d1-import ")
            && o.stdout.ends_with(&format!(
                " the import into restore ({target}) failed and the database was left \
                 unchanged (D1 imports are all or nothing): statement 5: no such table: \
                 missing: SQLITE_ERROR\n"
            ))
            && o.stdout.lines().count() == 1,
        "{:?}",
        o.stdout
    );
    assert!(tables(&emu, &target).is_empty(), "no table was created");
}

#[test]
fn an_upload_whose_etag_does_not_match_is_caught_and_nothing_is_ingested() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let target = emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    emu.arm(&["upload:etag-mismatch"]);
    let o = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_line_error(&o, "upload corrupted: ETag mismatch");
    assert_eq!(
        emu.state()["imports"],
        json!([]),
        "no ingest after a bad upload"
    );
    assert!(tables(&emu, &target).is_empty());
}

#[test]
fn a_nonempty_database_is_refused_without_into_nonempty_and_accepted_with_it() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "small.sql", SMALL);
    let before = requests(&emu, "upload");
    let o = import(&emu).args(["--database", "sample"]).arg(&file).run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_line_error(&o, "is not empty");
    assert!(
        o.stderr.contains("authors"),
        "names some tables: {}",
        o.stderr
    );
    assert!(o.stderr.contains("--into-nonempty"), "{}", o.stderr);
    assert_eq!(requests(&emu, "upload"), before, "nothing uploaded");

    let o = import(&emu)
        .args(["--database", "sample", "--into-nonempty"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let id = emu.db_id("sample");
    assert!(tables(&emu, &id).contains(&"b".to_string()));
}

#[test]
fn the_same_file_imported_twice_is_uploaded_once() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    let first = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(requests(&emu, "upload"), 1);

    let second = import(&emu)
        .args(["--database", "restore", "--into-nonempty"])
        .arg(&file)
        .run();
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(requests(&emu, "upload"), 1, "not uploaded again");
    assert!(
        second.stderr.contains("already uploaded"),
        "says so: {:?}",
        second.stderr
    );
    assert_eq!(second.stdout_lines().len(), 1, "{:?}", second.stdout);

    let quiet = import(&emu)
        .args(["--database", "restore", "--into-nonempty", "-q"])
        .arg(&file)
        .run();
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert_eq!(quiet.stderr, "", "-q silences the note");
}

#[test]
fn a_zstd_dump_imports_without_a_decompressed_copy_on_disk() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let original = export_dump(&emu, &emu.db_id("sample"));
    let z = zstd::encode_all(original.as_bytes(), 3).unwrap();
    let file = write(work.path(), "sample.sql.zst", z);
    let target = emu.create_db("restore");
    let o = import(&emu)
        .env("TMPDIR", tmp.path())
        .args(["--database", "restore", "--json"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let v: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    assert_eq!(v["database"], target);
    assert_eq!(v["compressed"], true);
    assert_eq!(v["uploaded"], true);
    assert!(v["num_queries"].as_u64().is_some_and(|n| n > 0), "{v}");
    assert!(v["meta"]["rows_written"].as_u64().is_some(), "{v}");
    assert!(
        files_in(tmp.path()).is_empty(),
        "{:?}",
        files_in(tmp.path())
    );
    let restored = export_dump(&emu, &target);
    assert_eq!(
        after_first_statement(&restored),
        after_first_statement(&original)
    );

    // Nor after a failed import.
    let bad = write(
        work.path(),
        "bad.sql.zst",
        zstd::encode_all(FAILS_MIDWAY.as_bytes(), 3).unwrap(),
    );
    emu.create_db("other");
    let o = import(&emu)
        .env("TMPDIR", tmp.path())
        .args(["--database", "other"])
        .arg(&bad)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        files_in(tmp.path()).is_empty(),
        "{:?}",
        files_in(tmp.path())
    );
}

#[test]
fn a_missing_token_is_exit_3_an_unknown_database_exit_2_a_missing_file_exit_2_and_no_input_exit_1()
{
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "small.sql", SMALL);

    let o = import(&emu)
        .env_remove("CLOUDFLARE_API_TOKEN")
        .args(["--database", "sample"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert_one_line_error(&o, "CLOUDFLARE_API_TOKEN");

    let o = import(&emu)
        .args(["--database", "no-such-db"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert_one_line_error(&o, "no-such-db");

    let o = import(&emu)
        .args(["--database", "sample"])
        .arg(work.path().join("nope.sql"))
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert_one_line_error(&o, "nope.sql: no such file");

    let o = import(&emu).arg(&file).run();
    assert_eq!(o.code, 2, "no database named: {o:?}");
    assert_one_line_error(&o, "--database");

    let o = import(&emu).args(["--database", "sample"]).stdin("").run();
    let says = "no path records on standard input: the previous step produced nothing \
                (it failed or was killed); --allow-empty if nothing to do is expected";
    assert_eq!(o.code, 1, "empty input: {o:?}");
    assert_one_line_error(&o, says);
    assert_eq!(o.stdout, format!("FAIL 1 d1-import - - {says}\n"));
    let o = import(&emu)
        .args(["--database", "sample", "--allow-empty"])
        .stdin("")
        .run();
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");
}

#[test]
fn verify_first_runs_the_d1_verify_beside_the_binary_and_a_rejection_uploads_nothing() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let bindir = tempfile::tempdir().unwrap();
    // A copy of d1-import next to a stand-in d1-verify: the lookup beside the executable is
    // what is tested, whatever d1-verify itself does.
    let exe = bindir.path().join("d1-import");
    std::fs::copy(bin("d1-import"), &exe).unwrap();
    let verify = bindir.path().join("d1-verify");
    let log = work.path().join("verify.args");
    std::fs::write(
        &verify,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\ncase \"$3\" in *bad.sql) echo '{{\"ok\":false,\"reason\":\"FAIL line 5: no such table: missing\"}}'; exit 1;; esac\necho '{{\"ok\":true,\"tables\":[{{\"name\":\"b\",\"rows\":2}}]}}'\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&verify, std::fs::Permissions::from_mode(0o755)).unwrap();
    emu.create_db("restore");

    let bad = write(work.path(), "bad.sql", FAILS_MIDWAY);
    let run = |file: &Path| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--database", "restore", "--verify-first"])
            .arg(file)
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in emu.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("run d1-import copy")
    };
    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("d1-verify rejected") && stderr.contains("FAIL"),
        "quotes the summary: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(requests(&emu, "upload"), 0, "nothing uploaded");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.starts_with("-q --json "),
        "runs d1-verify -q --json FILE: {args}"
    );

    let good = write(work.path(), "good.sql", SMALL);
    let out = run(&good);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(requests(&emu, "upload"), 1);
}

#[test]
fn upload_errors_are_retried_and_the_signed_url_never_shows() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    emu.arm(&["upload:503:times=2"]);
    let o = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(requests(&emu, "upload"), 3, "two failures, then success");
    assert_no_secrets("stderr", &o.stderr);

    emu.create_db("other");
    emu.arm(&["upload:500:times=0"]);
    let o = import(&emu)
        .args(["--database", "other", "--retries", "1", "-q"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 75, "{o:?}");
    assert_one_line_error(&o, "gave up after 2 attempts");
    assert!(o.stderr.contains("?[REDACTED]"), "{}", o.stderr);
}

#[test]
fn a_slow_server_past_the_timeout_is_exit_75() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    emu.arm(&["import:slow:ms=3000,times=0"]);
    let started = Instant::now();
    let o = import(&emu)
        .args(["--database", "restore", "--timeout", "1"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 75, "{o:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_no_secrets("stderr", &o.stderr);
}

#[test]
fn stdin_lines_name_their_database_or_take_the_default_of_d1_database_id() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let a = emu.create_db("first");
    let second = emu.create_db("second");
    let f1 = write(work.path(), "one.sql", SMALL);
    let f2 = write(work.path(), "two.sql", FAILS_MIDWAY);
    let f3 = write(
        work.path(),
        "three.sql",
        SMALL.replace("\"b\"", "\"c\"").as_bytes(),
    );
    let input = format!("{a} {}\n{}\n{}\n", f1.display(), f2.display(), f3.display());
    let o = import(&emu)
        .env("D1_DATABASE_ID", "second")
        .args(["--into-nonempty"])
        .stdin(input)
        .run();
    // Line 2 fails (all or nothing), line 3 still runs: the worst outcome is reported.
    assert_eq!(o.code, 1, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 3, "{:?}", o.stdout);
    assert!(lines[0].starts_with(&format!("{a} first ")), "{lines:?}");
    assert!(
        lines[1].starts_with("FAIL 1 d1-import ")
            && lines[1].contains(" line 2: the import into second "),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with(&format!("{second} second ")),
        "{lines:?}"
    );
    assert!(o.stderr.contains("line 2:"), "{}", o.stderr);
    assert_eq!(tables(&emu, &a), ["b"]);
    assert_eq!(tables(&emu, &second), ["c"]);
}

#[test]
fn a_record_for_another_database_than_the_database_option_is_refused_unless_retarget() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let a = emu.create_db("first");
    let second = emu.create_db("second");
    let f1 = write(work.path(), "one.sql", SMALL);
    let o = import(&emu)
        .args(["--database", "second"])
        .stdin(format!("{a} {}\n", f1.display()))
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    let says = format!(
        "line 1: the record is for database {a} but --database says second: add --retarget \
         to import into second anyway, or drop --database"
    );
    assert_one_line_error(&o, &says);
    assert_eq!(o.stdout, format!("FAIL 2 d1-import {a} - {says}\n"));
    assert!(tables(&emu, &a).is_empty() && tables(&emu, &second).is_empty());

    // The same database by id and by name is no disagreement.
    let o = import(&emu)
        .args(["--database", "first"])
        .stdin(format!("{a} {}\n", f1.display()))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(tables(&emu, &a), ["b"]);

    let o = import(&emu)
        .args(["--database", "second", "--retarget"])
        .stdin(format!("{a} first {}\n", f1.display()))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with(&format!("{second} second ")), "{o:?}");
    assert_eq!(tables(&emu, &second), ["b"]);
}

#[test]
fn sigterm_during_the_upload_exits_130_and_nothing_is_ingested() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    emu.create_db("restore");
    let file = write(
        work.path(),
        "small.sql.zst",
        zstd::encode_all(SMALL.as_bytes(), 3).unwrap(),
    );
    emu.arm(&["upload:slow:ms=2000"]);
    let child = import(&emu)
        .env("TMPDIR", tmp.path())
        .args(["--database", "restore"])
        .arg(&file)
        .spawn();
    // The storage has the body and holds its answer: d1-import is inside the upload.
    let end = Instant::now() + Duration::from_secs(10);
    while requests(&emu, "upload") == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(requests(&emu, "upload"), 1, "the upload started");
    signal(&child, 15);
    let o = wait(child, Duration::from_secs(30));
    assert_eq!(o.code, 130, "{o:?}");
    assert!(
        files_in(tmp.path()).is_empty(),
        "{:?}",
        files_in(tmp.path())
    );
    assert_eq!(emu.state()["imports"], json!([]), "nothing ingested");
}

/// `SELECT count(*)` of table `t`, through the query endpoint.
fn row_count(emu: &Emulator, id: &str, t: &str) -> u64 {
    let (status, ans) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(json!({ "sql": format!("SELECT count(*) AS n FROM \"{t}\"") })),
    );
    assert_eq!(status, 200, "{ans}");
    ans["result"][0]["results"][0]["n"].as_u64().expect("count")
}

#[test]
fn a_database_emptied_after_an_import_is_restored_by_the_same_file_again() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let id = emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    let first = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(row_count(&emu, &id, "b"), 2);

    // Emptied through the query endpoint: the same file must be imported again, not answered
    // with the first import's result.
    let (status, ans) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(json!({"sql": "DROP TABLE \"b\""})),
    );
    assert_eq!(status, 200, "{ans}");
    assert!(tables(&emu, &id).is_empty());
    let second = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(row_count(&emu, &id, "b"), 2, "restored again");
    assert_eq!(requests(&emu, "upload"), 2, "a new import, a new upload");
    assert_ne!(first.stdout, second.stdout, "a new final bookmark");
}

#[test]
fn an_import_reported_complete_that_wrote_nothing_exits_1_naming_the_table() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let id = emu.create_db("restore");
    let file = write(work.path(), "small.sql", SMALL);
    emu.arm(&["import:lost"]);
    let o = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_one_line_error(&o, "was reported complete, but table \"b\" is missing");
    // No import record: a failure record, for whatever reads d1-import's output.
    assert!(
        o.stdout.starts_with("FAIL 1 d1-import ") && o.stdout.lines().count() == 1,
        "{}",
        o.stdout
    );
    assert!(tables(&emu, &id).is_empty());
}

#[test]
fn tables_whose_names_look_like_d1s_own_to_a_like_wildcard_are_checked_too() {
    let emu = emulator();
    let work = tempfile::tempdir().unwrap();
    let id = emu.create_db("restore");
    // `_` is LIKE's wildcard: a filter written '_cf_%' would take "acf_x" for D1's own table.
    let dump = "PRAGMA defer_foreign_keys=TRUE;\n\
                CREATE TABLE \"acf_x\" (v INTEGER);\n\
                INSERT INTO \"acf_x\" (\"v\") VALUES(1);\n\
                CREATE TABLE \"sqliteZx\" (v INTEGER);\n\
                INSERT INTO \"sqliteZx\" (\"v\") VALUES(2);";
    let file = write(work.path(), "lookalike.sql", dump);
    let o = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(row_count(&emu, &id, "acf_x"), 1);
    // And the non-empty guard sees them.
    let again = import(&emu)
        .args(["--database", "restore"])
        .arg(&file)
        .run();
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("is not empty"), "{}", again.stderr);
}
