//! A bad day, end to end (docs/bad-day.md): back a database up, lose rows and a table, and put
//! it back with `d1-import --rewind` from the backup's record: by Time Travel while D1 still has
//! the backup's bookmark, by importing the dump once the window has passed over it or when the
//! database was deleted and created again; the outcome checked with `d1-verify --against`, the
//! undo bookmark printed and working.

use d1_tests::{sh, tool, Emulator, Outcome, ACCOUNT};
use serde_json::{json, Value};
use std::path::Path;

fn query(emu: &Emulator, id: &str, sql: &str) -> Value {
    let (status, body) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(json!({ "sql": sql })),
    );
    assert_eq!(status, 200, "{sql}: {body}");
    body["result"].clone()
}

fn tables(emu: &Emulator, id: &str) -> Vec<(String, i64)> {
    let names = query(
        emu,
        id,
        "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite%' ORDER BY name",
    );
    names[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t = r["name"].as_str().unwrap().to_string();
            let n = query(emu, id, &format!("SELECT count(*) AS n FROM \"{t}\""))[0]["results"][0]
                ["n"]
                .as_i64()
                .unwrap();
            (t, n)
        })
        .collect()
}

/// Database `shop` (customers 3 rows, notes 2, orders 5, referencing customers), backed up by the nightly pipeline
/// into `dir/backups/`; returns its id and d1-fetch's record of the backup.
fn shop_backed_up(emu: &Emulator, dir: &Path) -> (String, String) {
    let id = emu.create_db("shop");
    query(
        emu,
        &id,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); \
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id), total REAL); \
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
         INSERT INTO customers (name) VALUES ('ada'), ('bob'), ('cy'); \
         INSERT INTO notes (body) VALUES ('call ada'), ('ship to bob'); \
         INSERT INTO orders (customer, total) VALUES (1, 9.5), (1, 3), (2, 4.25), (3, 1), (3, 2)",
    );
    let o = sh(
        emu,
        dir,
        "d1-export-start shop | d1-export-wait | d1-fetch -o backups/ > fetched && \
         d1-verify < fetched",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("OK backups/shop-"), "{o:?}");
    let record = std::fs::read_to_string(dir.join("fetched")).unwrap();
    (id, record.trim().to_string())
}

/// The bad day: rows deleted, a table dropped.
fn bad_day(emu: &Emulator, id: &str) {
    query(emu, id, "DELETE FROM orders WHERE id > 1; DROP TABLE notes");
    assert_eq!(tables(emu, id), after_bad_day());
}

fn rewind(emu: &Emulator, dir: &Path, record: &str, extra: &[&str]) -> Outcome {
    tool("d1-import")
        .arg("--rewind")
        .args(extra)
        .env_from(emu)
        .current_dir(dir)
        .stdin(format!("{record}\n"))
        .run()
}

fn the_backup() -> Vec<(String, i64)> {
    vec![
        ("customers".into(), 3),
        ("notes".into(), 2),
        ("orders".into(), 5),
    ]
}

fn after_bad_day() -> Vec<(String, i64)> {
    vec![("customers".into(), 3), ("orders".into(), 1)]
}

/// `d1-verify --against`: the live database equals the dump.
fn assert_equals_backup(emu: &Emulator, dir: &Path, dump: &str) {
    let o = tool("d1-verify")
        .arg("--against")
        .arg(dump)
        .env_from(emu)
        .current_dir(dir)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
}

/// `DATABASE_ID NAME BOOKMARK num_queries=N rows_written=M via=WAY undo=BOOKMARK`.
fn fields(o: &Outcome) -> Vec<String> {
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "{o:?}");
    lines[0].split(' ').map(str::to_string).collect()
}

#[test]
fn a_backup_whose_bookmark_d1_still_has_comes_back_by_time_travel_and_the_undo_works() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (id, record) = shop_backed_up(&emu, dir.path());
    let dump = record.split(' ').nth(2).unwrap().to_string();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{dump}.json"))).unwrap())
            .unwrap();
    let bookmark = manifest["bookmark"]
        .as_str()
        .expect("the manifest records the bookmark");
    assert_eq!(
        bookmark.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 8, 8, 32]
    );
    bad_day(&emu, &id);

    // Without --rewind the live database is not touched.
    let o = tool("d1-import")
        .env_from(&emu)
        .current_dir(dir.path())
        .stdin(format!("{record}\n"))
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("is not empty"), "{o:?}");

    // --dry-run says which way and why, and changes nothing.
    let o = rewind(&emu, dir.path(), &record, &["--dry-run"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        format!("{id} shop {bookmark} via=time-travel dry_run=yes\n")
    );
    assert!(
        o.stderr.contains("dry run: would restore shop") && o.stderr.contains("by Time Travel"),
        "{o:?}"
    );
    assert_eq!(tables(&emu, &id), after_bad_day());
    assert_eq!(emu.requests("restore"), 0);

    let o = rewind(&emu, dir.path(), &record, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    let f = fields(&o);
    assert_eq!(f[..2], [id.clone(), "shop".into()], "{o:?}");
    assert_eq!(f[5], "via=time-travel", "{o:?}");
    let undo = f[6].strip_prefix("undo=").expect("undo field").to_string();
    assert!(
        o.stderr
            .contains(&format!("to undo, restore it to bookmark {undo}")),
        "{o:?}"
    );
    assert_eq!((emu.requests("restore"), emu.requests("import")), (1, 0));
    assert_eq!(tables(&emu, &id), the_backup());
    assert_equals_backup(&emu, dir.path(), &dump);

    // The undo: back to the bad day.
    let o = tool("d1-import")
        .args(["--undo", &undo, "--database", "shop"])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(tables(&emu, &id), after_bad_day());
}

#[test]
fn once_the_window_has_passed_the_same_command_imports_the_dump_and_says_so() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (id, record) = shop_backed_up(&emu, dir.path());
    let dump = record.split(' ').nth(2).unwrap().to_string();
    bad_day(&emu, &id);
    emu.arm(&["time-travel:forget"]);

    let o = rewind(&emu, dir.path(), &record, &["--dry-run"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.ends_with(" via=import dry_run=yes\n"), "{o:?}");
    assert!(
        o.stderr.contains("by importing the dump")
            && o.stderr.contains("outside the Time Travel window")
            && o.stderr.contains("its 2 tables would be dropped first"),
        "{o:?}"
    );

    let o = rewind(&emu, dir.path(), &record, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    let f = fields(&o);
    assert_eq!(f[5], "via=import", "{o:?}");
    assert!(
        f[3].starts_with("num_queries=") && f[3] != "num_queries=?",
        "{o:?}"
    );
    assert!(
        o.stderr
            .contains("instead of Time Travel: D1 refused the backup's bookmark")
            && o.stderr.contains("outside the Time Travel window"),
        "{o:?}"
    );
    let undo = f[6].strip_prefix("undo=").unwrap().to_string();
    assert!(emu.requests("import") > 0, "{o:?}");
    assert_eq!(tables(&emu, &id), the_backup());
    assert_equals_backup(&emu, dir.path(), &dump);

    // The undo of an import is a Time Travel restore too (to just before the import).
    let o = tool("d1-import")
        .args(["--undo", &undo, "--database", &id])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(tables(&emu, &id), after_bad_day());
}

#[test]
fn into_a_database_deleted_and_created_again_the_bookmark_is_refused_and_the_dump_imported() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (old, record) = shop_backed_up(&emu, dir.path());
    let (status, body) = emu.api(
        "DELETE",
        &format!("/accounts/{ACCOUNT}/d1/database/{old}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let new = emu.create_db("shop");
    assert_ne!(new, old);

    let o = rewind(
        &emu,
        dir.path(),
        &record,
        &["--database", "shop", "--retarget"],
    );
    assert_eq!(o.code, 0, "{o:?}");
    let f = fields(&o);
    assert_eq!(
        (f[0].as_str(), f[5].as_str()),
        (new.as_str(), "via=import"),
        "{o:?}"
    );
    assert!(
        o.stderr
            .contains(&format!("belongs to database {old}, not to shop ({new})")),
        "{o:?}"
    );
    assert_eq!(emu.requests("restore"), 0, "the bookmark is not even tried");
    assert_eq!(tables(&emu, &new), the_backup());
}
