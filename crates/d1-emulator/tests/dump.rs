//! The dump served by an export is byte for byte what D1's generator writes.

mod common;
use common::Emu;
use serde_json::json;

const SETUP: &str = r#"CREATE TABLE plain (id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB);
CREATE TABLE "quoted name" (k TEXT PRIMARY KEY, "v""q" TEXT);
CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB);
CREATE INDEX plain_i ON plain(i);
CREATE TRIGGER plain_trg AFTER DELETE ON plain BEGIN DELETE FROM "quoted name" WHERE k = 'gone'; END;
CREATE VIEW plain_view AS SELECT id, t FROM plain;
INSERT INTO plain (i, r, t, b) VALUES (9007199254740993, 1e300, 'it''s', x'00ff');
INSERT INTO plain (i, r, t, b) VALUES (-9223372036854775808, 0.1, 'a\nb' || char(10) || 'c', NULL);
INSERT INTO plain (i, r, t, b) VALUES (NULL, 9e999, 'cr' || char(13) || 'lf' || char(10), NULL);
INSERT INTO plain (i, r, t, b) VALUES (42, -9e999, 'Zoë 日本', x'');
INSERT INTO plain (i, r, t) VALUES (7, -0.000001, NULL), (8, 1e-7, 'x'), (9, 1e21, '');
INSERT INTO "quoted name" VALUES ('k1', 'v1');
INSERT INTO _cf_KV VALUES ('a', x'01');"#;

const TABLES: &str = r#"PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE plain (id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB);
INSERT INTO "plain" ("id","i","r","t","b") VALUES(1,9007199254740992,1e+300,'it''s',X'00ff');
INSERT INTO "plain" ("id","i","r","t","b") VALUES(2,-9223372036854776000,0.1,replace('a\nb\nc','\n',char(10)),NULL);
INSERT INTO "plain" ("id","i","r","t","b") VALUES(3,NULL,9e999,replace(replace('cr\rlf\n','\r',char(13)),'\n',char(10)),NULL);
INSERT INTO "plain" ("id","i","r","t","b") VALUES(4,42,-9e999,'Zoë 日本',X'');
INSERT INTO "plain" ("id","i","r","t","b") VALUES(5,7,-0.000001,NULL,NULL);
INSERT INTO "plain" ("id","i","r","t","b") VALUES(6,8,1e-7,'x',NULL);
INSERT INTO "plain" ("id","i","r","t","b") VALUES(7,9,1e+21,'',NULL);
CREATE TABLE IF NOT EXISTS "quoted name" (k TEXT PRIMARY KEY, "v""q" TEXT);
INSERT INTO "quoted name" ("k","v""q") VALUES('k1','v1');
DELETE FROM sqlite_sequence;
INSERT INTO "sqlite_sequence" ("name","seq") VALUES('plain',7);"#;

const REST: &str = r#"CREATE INDEX plain_i ON plain(i);
CREATE TRIGGER plain_trg AFTER DELETE ON plain BEGIN DELETE FROM "quoted name" WHERE k = 'gone'; END;
CREATE VIEW plain_view AS SELECT id, t FROM plain;"#;

fn tricky(args: &[&str]) -> (Emu, String) {
    let emu = Emu::start(args);
    let id = emu.create_db("tricky");
    // D1 refuses to create `_cf_` tables through SQL, so this one is made behind its back,
    // straight in the data folder, the way D1's own `_cf_KV` comes to exist.
    let file = emu.dir.path().join("tricky.sqlite");
    rusqlite::Connection::open(file)
        .unwrap()
        .execute_batch(SETUP)
        .unwrap();
    (emu, id)
}

#[test]
fn full_dump_matches_d1_byte_for_byte_quirks_included() {
    let (emu, id) = tricky(&["--export-polls", "1", "--poll-hold-ms", "0"]);
    let dump = emu.dump(&id, json!({}));
    assert_eq!(dump, format!("{TABLES}\n{REST}"));
    assert!(!dump.ends_with('\n'));
}

#[test]
fn no_data_keeps_only_the_schema() {
    let (emu, id) = tricky(&["--export-polls", "1", "--poll-hold-ms", "0"]);
    let dump = emu.dump(&id, json!({"no_data": true}));
    let expected = "PRAGMA defer_foreign_keys=TRUE;\n\
        CREATE TABLE plain (id INTEGER PRIMARY KEY AUTOINCREMENT, i INTEGER, r REAL, t TEXT, b BLOB);\n\
        CREATE TABLE IF NOT EXISTS \"quoted name\" (k TEXT PRIMARY KEY, \"v\"\"q\" TEXT);\n\
        DELETE FROM sqlite_sequence;\n"
        .to_string()
        + REST;
    assert_eq!(dump, expected);
}

#[test]
fn no_schema_keeps_only_the_rows_without_delete_from_sqlite_sequence() {
    let (emu, id) = tricky(&["--export-polls", "1", "--poll-hold-ms", "0"]);
    let dump = emu.dump(&id, json!({"no_schema": true}));
    let expected: Vec<&str> = TABLES
        .lines()
        .filter(|l| l.starts_with("PRAGMA") || l.starts_with("INSERT"))
        .collect();
    assert_eq!(dump, expected.join("\n"));
}

#[test]
fn tables_filter_selects_tables_and_schema_objects_by_their_own_name() {
    let (emu, id) = tricky(&["--export-polls", "1", "--poll-hold-ms", "0"]);
    let dump = emu.dump(&id, json!({"tables": ["quoted name", "plain_view"]}));
    assert_eq!(
        dump,
        "PRAGMA defer_foreign_keys=TRUE;\n\
         CREATE TABLE IF NOT EXISTS \"quoted name\" (k TEXT PRIMARY KEY, \"v\"\"q\" TEXT);\n\
         INSERT INTO \"quoted name\" (\"k\",\"v\"\"q\") VALUES('k1','v1');\n\
         CREATE VIEW plain_view AS SELECT id, t FROM plain;"
    );
}

#[test]
fn legacy_dump_has_no_column_list_and_prints_infinity() {
    let (emu, id) = tricky(&[
        "--export-polls",
        "1",
        "--poll-hold-ms",
        "0",
        "--legacy-dump",
    ]);
    let dump = emu.dump(&id, json!({"tables": ["plain"]}));
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(
        lines[4],
        "INSERT INTO \"plain\" VALUES(3,NULL,Infinity,replace(replace('cr\\rlf\\n','\\r',char(13)),'\\n',char(10)),NULL);"
    );
    assert_eq!(
        lines[5],
        "INSERT INTO \"plain\" VALUES(4,42,-Infinity,'Zoë 日本',X'');"
    );
}

#[test]
fn a_virtual_table_ends_the_export_with_d1s_error() {
    // No lock after the failure here (tests/edges.rs covers the lock).
    let emu = Emu::start(&[
        "--export-polls",
        "1",
        "--poll-hold-ms",
        "0",
        "--export-lock-ms",
        "0",
    ]);
    let id = emu.create_db("fts");
    emu.query(
        &id,
        "CREATE TABLE a(x); CREATE VIRTUAL TABLE f USING fts5(body);",
    );
    let r = emu.export_to_end(&id, json!({}));
    assert_eq!(r["status"], "error");
    assert_eq!(r["success"], false);
    assert_eq!(
        r["error"],
        "D1 Export error: cannot export databases with Virtual Tables (fts5)"
    );
    // Naming only ordinary tables sidesteps it, as on D1.
    let dump = emu.dump(&id, json!({"tables": ["a"]}));
    assert_eq!(dump, "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE a(x);");
}

#[test]
fn the_seeded_sample_exports_and_holds_every_kind_of_object() {
    let emu = Emu::start(&[
        "--seed-sample",
        "--export-polls",
        "1",
        "--poll-hold-ms",
        "0",
    ]);
    let (_, v) = emu.call("GET", &emu.url("?name=sample"), None);
    let id = v["result"][0]["uuid"].as_str().unwrap().to_string();
    assert!(v["result"][0]["num_tables"].as_u64().unwrap() >= 4);
    let dump = emu.dump(&id, json!({}));
    for needle in [
        "DELETE FROM sqlite_sequence;",
        "CREATE INDEX posts_by_author",
        "CREATE TRIGGER posts_audit",
        "CREATE VIEW published_posts",
        "CREATE TABLE IF NOT EXISTS \"audit log\"",
        "9007199254740992",
        "-9223372036854776000",
        "9e999",
        "X'0003ff27'",
        "char(13)",
        "1e+300",
    ] {
        assert!(dump.contains(needle), "missing {needle}");
    }
}
