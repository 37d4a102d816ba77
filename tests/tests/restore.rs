//! The restore path as users pipe it (issues 16 and 23): a backup's records flow into d1-import,
//! an explicit `--database` is obeyed (and a record for another database is refused unless
//! `--retarget` says which wins), and `--create` makes the target when it is missing without
//! ever replacing one.

use d1_tests::*;
use serde_json::json;

const SMALL: &str = "PRAGMA defer_foreign_keys=TRUE;\n\
CREATE TABLE \"b\" (y TEXT);\n\
INSERT INTO \"b\" (\"y\") VALUES('one');";

fn rows_of_b(emu: &Emulator, id: &str) -> Option<u64> {
    let (status, ans) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(json!({"sql": "SELECT count(*) AS n FROM b"})),
    );
    (status == 200).then(|| ans["result"][0]["results"][0]["n"].as_u64().unwrap_or(0))
}

fn dump_file(dir: &std::path::Path) -> String {
    let p = dir.join("other.sql");
    std::fs::write(&p, SMALL).unwrap();
    p.display().to_string()
}

#[test]
fn a_record_for_another_database_is_refused_and_nothing_is_imported() {
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let other = emu.create_db("other");
    let restore = emu.create_db("restore");
    let dir = tempfile::tempdir().unwrap();
    let file = dump_file(dir.path());
    let o = tool("d1-import")
        .args(["--database", "restore"])
        .stdin(format!("other {file}\n"))
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains(
            "the record is for database other but --database says restore: add --retarget"
        ),
        "{}",
        o.stderr
    );
    assert!(
        o.stdout.starts_with("FAIL 2 d1-import other - line 1: "),
        "{o:?}"
    );
    assert_eq!(rows_of_b(&emu, &other), None, "nothing imported into other");
    assert_eq!(rows_of_b(&emu, &restore), None, "nor into restore");

    // The same database named two ways is no conflict.
    let o = tool("d1-import")
        .args(["--database", "restore"])
        .stdin(format!("{restore} restore {file}\n"))
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(rows_of_b(&emu, &restore), Some(1));
}

#[test]
fn retarget_imports_into_the_database_the_user_named() {
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let other = emu.create_db("other");
    let staging = emu.create_db("staging");
    let dir = tempfile::tempdir().unwrap();
    let file = dump_file(dir.path());
    let o = tool("d1-import")
        .args(["--database", "staging", "--retarget"])
        .stdin(format!("{other} other {file}\n"))
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!("{staging} staging ")),
        "{o:?}"
    );
    assert_eq!(rows_of_b(&emu, &staging), Some(1));
    assert_eq!(rows_of_b(&emu, &other), None);
}

#[test]
fn create_makes_a_missing_database_and_never_replaces_one() {
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dump_file(dir.path());
    let o = tool("d1-import")
        .args(["--database", "fresh", "--create", &file])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let id = emu.db_id("fresh");
    assert_eq!(rows_of_b(&emu, &id), Some(1));
    // Again: the database exists and holds a table now: refused, untouched.
    let o = tool("d1-import")
        .args(["--database", "fresh", "--create", &file])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(rows_of_b(&emu, &id), Some(1));
    let o = tool("d1-import")
        .args(["--create", &file])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains("--create needs --database NAME"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_verified_backup_flows_from_d1_verify_into_d1_import() {
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let dir = tempfile::tempdir().unwrap();
    let sample = emu.db_id("sample");
    // d1-verify's OK line names no database, the dump's manifest does: a restore into another
    // database is refused without --retarget, naming the dump's database.
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o b/ | d1-verify \
         | d1-import --database copy --create",
    );
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!("FAIL 2 d1-import {sample} sample line 1: the record is for database {sample} but --database says copy")),
        "{o:?}"
    );
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o b2/ | d1-verify \
         | d1-import --database copy --retarget",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let id = emu.db_id("copy");
    assert!(o.stdout.starts_with(&format!("{id} copy ")), "{o:?}");
}
