//! D1's sharp edges: the lock after a failed export, no queries during an export, and the rules
//! imports and queries must follow (no transaction control, no `_cf_` writes, 100 kB statements,
//! deferred foreign keys), each refusal leaving the database as it was.

mod common;
use common::Emu;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BUSY: &str = "D1_ERROR: Currently processing a long-running export.";
const TX: &str = "To execute a transaction, please use the state.storage.transaction() or \
state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT \
statements. The JavaScript API is safer because it will automatically roll back on exceptions, \
and because it interacts correctly with Durable Objects' automatic atomic write coalescing.";

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// A query that may fail: (HTTP status, envelope).
fn try_query(emu: &Emu, id: &str, sql: &str) -> (u16, Value) {
    emu.call(
        "POST",
        &emu.url(&format!("/{id}/query")),
        Some(json!({"sql": sql})),
    )
}

/// Asserts an envelope error: status, code and exact message.
fn assert_refused(got: (u16, Value), message: &str) {
    let (s, v) = got;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["success"], false);
    assert_eq!(
        v["errors"],
        json!([{"code": 7500, "message": message}]),
        "{v}"
    );
}

/// Everything in the database as text: schema and every row of `t`, `parent`, `child`.
fn snapshot(emu: &Emu, id: &str) -> Value {
    let schema = emu.query(
        id,
        "SELECT type, name, sql FROM sqlite_schema ORDER BY name",
    );
    let rows = emu.query(id, "SELECT * FROM t ORDER BY rowid");
    json!([schema["result"][0]["results"], rows["result"][0]["results"]])
}

/// Runs a whole import (init, upload, ingest, poll); returns the final polling answer.
fn import(emu: &Emu, id: &str, sql: &str) -> Value {
    let call = |body: Value| {
        let (s, v) = emu.call("POST", &emu.url(&format!("/{id}/import")), Some(body));
        assert_eq!(s, 200, "{v}");
        v["result"].clone()
    };
    let etag = md5_hex(sql.as_bytes());
    let init = call(json!({"action": "init", "etag": etag}));
    let url = init["upload_url"].as_str().unwrap().to_string();
    let r = emu.agent.put(&url).send(sql.as_bytes()).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ingest = call(json!({"action": "ingest", "filename": init["filename"], "etag": etag}));
    call(json!({"action": "poll", "current_bookmark": ingest["at_bookmark"]}))
}

/// Imports `sql`, expects it refused with `error`, and the database left as it was.
fn assert_import_refused(emu: &Emu, id: &str, sql: &str, error: &str) {
    let before = snapshot(emu, id);
    let r = import(emu, id, sql);
    assert_eq!(r["status"], "error", "{sql}: {r}");
    assert_eq!(r["success"], false);
    assert_eq!(r["error"], error, "{sql}");
    assert_eq!(r["errors"], json!([error]));
    assert_eq!(snapshot(emu, id), before, "{sql} changed the database");
}

fn fts_database(emu: &Emu) -> String {
    let id = emu.create_db("fts");
    // The bundled SQLite has FTS5, so the virtual table is made the ordinary way.
    emu.query(
        &id,
        "CREATE TABLE a(x); INSERT INTO a VALUES(1); \
         CREATE VIRTUAL TABLE f USING fts5(body); INSERT INTO f VALUES('hello');",
    );
    id
}

#[test]
fn a_failed_virtual_table_export_locks_the_database_for_export_lock_ms() {
    let emu = Emu::start(&[
        "--export-polls",
        "1",
        "--poll-hold-ms",
        "0",
        "--export-lock-ms",
        "500",
    ]);
    let id = fts_database(&emu);
    let other = emu.create_db("other");
    let r = emu.export_to_end(&id, json!({}));
    let failed_at = Instant::now();
    assert_eq!(
        r["error"],
        "D1 Export error: cannot export databases with Virtual Tables (fts5)"
    );

    assert_refused(try_query(&emu, &id, "SELECT 1"), BUSY);
    assert_refused(
        emu.export(&id, json!({"dump_options": {"tables": ["a"]}})),
        BUSY,
    );
    // The failed export's own bookmark still answers, and other databases are not locked.
    let (s, v) = emu.export(&id, json!({"current_bookmark": r["at_bookmark"]}));
    assert_eq!((s, v["result"]["status"].clone()), (200, json!("error")));
    emu.query(&other, "SELECT 1");

    let st = emu.state();
    assert_eq!(st["locks"][0]["database"], id.as_str());
    let left = st["locks"][0]["remaining_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 500, "{left}");
    assert_eq!(
        st["refused"],
        json!({"query": 1, "export-start": 1, "import": 0})
    );
    assert_eq!(st["exports"][0]["status"], "error");
    assert_eq!(
        st["exports"][0]["error"],
        "D1 Export error: cannot export databases with Virtual Tables (fts5)"
    );
    assert_eq!(
        st["exports"].as_array().unwrap().len(),
        1,
        "no export started"
    );

    std::thread::sleep(Duration::from_millis(550).saturating_sub(failed_at.elapsed()));
    let v = emu.query(&id, "SELECT count(*) AS n FROM a");
    assert_eq!(v["result"][0]["results"], json!([{"n": 1}]));
    assert_eq!(emu.state()["locks"], json!([]));
    let dump = emu.dump(&id, json!({"tables": ["a"]}));
    assert!(
        dump.ends_with("INSERT INTO \"a\" (\"x\") VALUES(1);"),
        "{dump}"
    );
}

#[test]
fn an_export_error_fault_does_not_lock_the_database() {
    let emu = Emu::start(&["--export-polls", "1", "--poll-hold-ms", "0"]);
    let id = emu.create_db("x");
    emu.arm("export-poll:export-error");
    assert_eq!(emu.export_to_end(&id, json!({}))["status"], "error");
    emu.query(&id, "SELECT 1");
    assert_eq!(emu.state()["locks"], json!([]));
}

#[test]
fn queries_are_refused_while_an_export_of_that_database_is_active() {
    let emu = Emu::start(&[
        "--export-polls",
        "2",
        "--poll-hold-ms",
        "0",
        "--cancel-after-ms",
        "300",
    ]);
    let id = emu.create_db("x");
    let other = emu.create_db("y");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES(1)");
    let (_, v) = emu.export(&id, json!({}));
    let b = v["result"]["at_bookmark"].clone();
    assert_eq!(v["result"]["status"], "active");

    let before = emu.state()["requests"]["query"].as_u64().unwrap();
    assert_refused(try_query(&emu, &id, "INSERT INTO t VALUES(2)"), BUSY);
    emu.query(&other, "SELECT 1");
    // A second start still joins the running export rather than being refused.
    let (s, v) = emu.export(&id, json!({}));
    assert_eq!((s, v["result"]["at_bookmark"].clone()), (200, b.clone()));
    let st = emu.state();
    assert_eq!(st["refused"]["query"], 1);
    assert_eq!(
        st["requests"]["query"],
        before + 2,
        "refusals are counted requests"
    );

    let (_, v) = emu.export(&id, json!({"current_bookmark": b}));
    assert_eq!(v["result"]["status"], "active");
    assert_refused(try_query(&emu, &id, "SELECT 1"), BUSY);
    let (_, v) = emu.export(&id, json!({"current_bookmark": b}));
    assert_eq!(v["result"]["status"], "complete");
    let v = emu.query(&id, "SELECT count(*) AS n FROM t");
    assert_eq!(
        v["result"][0]["results"],
        json!([{"n": 1}]),
        "the refused INSERT never ran"
    );

    // An export nobody polls stops blocking once it is cancelled.
    emu.export(&id, json!({}));
    assert_refused(try_query(&emu, &id, "SELECT 1"), BUSY);
    std::thread::sleep(Duration::from_millis(400));
    emu.query(&id, "SELECT 1");
    assert_eq!(emu.state()["exports"][1]["status"], "cancelled");
}

#[test]
fn imports_refuse_transaction_control_and_leave_the_database_unchanged() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES('kept')");
    for stmt in [
        "BEGIN TRANSACTION;",
        "begin;",
        "COMMIT;",
        "END TRANSACTION;",
        "ROLLBACK;",
        "SAVEPOINT s1;",
        "RELEASE s1;",
        "/* a comment first */ BEGIN IMMEDIATE;",
    ] {
        let sql = format!("PRAGMA defer_foreign_keys=TRUE;\nINSERT INTO t VALUES('new');\n{stmt}\nINSERT INTO t VALUES('after');");
        assert_import_refused(&emu, &id, &sql, &format!("statement 3: {TX}"));
    }
}

#[test]
fn imports_refuse_creating_or_writing_cf_tables() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES('kept')");
    // D1's own table exists already, made behind the emulator's back as D1 makes it.
    rusqlite::Connection::open(emu.dir.path().join("imp.sqlite"))
        .unwrap()
        .execute_batch("CREATE TABLE _cf_KV(key TEXT PRIMARY KEY, value BLOB)")
        .unwrap();
    for stmt in [
        "CREATE TABLE _cf_mine(x);",
        "CREATE TABLE IF NOT EXISTS \"_CF_quoted\" (x);",
        "INSERT INTO _cf_KV VALUES('k', x'00');",
        "INSERT INTO main.\"_cf_KV\" (\"key\",\"value\") VALUES('k',NULL);",
        "UPDATE _cf_KV SET value = NULL;",
        "DELETE FROM _cf_KV;",
        "DROP TABLE _cf_KV;",
        "CREATE INDEX i ON _cf_KV(value);",
    ] {
        let sql = format!("INSERT INTO t VALUES('new');\n{stmt}");
        assert_import_refused(&emu, &id, &sql, "statement 2: not authorized: SQLITE_AUTH");
    }
    // A trigger body is checked when it fires, like any other statement that writes.
    assert_import_refused(
        &emu,
        &id,
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO _cf_KV VALUES(new.v, NULL); END;\n\
         INSERT INTO t VALUES('new');",
        "statement 2: not authorized: SQLITE_AUTH",
    );
    // Reading it is allowed (the emulator's choice).
    let v = emu.query(&id, "SELECT count(*) AS n FROM _cf_KV");
    assert_eq!(v["result"][0]["results"], json!([{"n": 0}]));
}

#[test]
fn a_statement_over_100_000_bytes_is_refused_and_one_at_the_limit_runs() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES('kept')");
    let insert = |len: usize| {
        let head = "INSERT INTO t VALUES('";
        let tail = "');";
        format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()))
    };
    let long = insert(100_001);
    assert_eq!(long.len(), 100_001);
    let sql = format!("PRAGMA defer_foreign_keys=TRUE;\n{long}");
    assert_import_refused(
        &emu,
        &id,
        &sql,
        "statement 2: statement too long: SQLITE_TOOBIG",
    );
    let before = snapshot(&emu, &id);
    assert_refused(
        try_query(&emu, &id, &format!("DELETE FROM t; {long}")),
        "statement too long: SQLITE_TOOBIG",
    );
    assert_eq!(snapshot(&emu, &id), before);
    // D1 counts from the end of the previous statement, the newline between them included:
    // 100 000 bytes with it is fine on both endpoints, one more is not.
    assert_import_refused(
        &emu,
        &id,
        &format!("PRAGMA defer_foreign_keys=TRUE;\n{}", insert(100_000)),
        "statement 2: statement too long: SQLITE_TOOBIG",
    );
    let r = import(
        &emu,
        &id,
        &format!("PRAGMA defer_foreign_keys=TRUE;\n{}", insert(99_999)),
    );
    assert_eq!(r["status"], "complete", "{r}");
    emu.query(&id, &insert(100_000));
    assert_refused(
        try_query(&emu, &id, &format!("DELETE FROM t;\n{}", insert(100_000))),
        "statement too long: SQLITE_TOOBIG",
    );
    let v = emu.query(&id, "SELECT count(*) AS n FROM t");
    assert_eq!(v["result"][0]["results"], json!([{"n": 3}]));
}

#[test]
fn foreign_keys_are_checked_at_commit_when_deferred_and_at_once_otherwise() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    emu.query(
        &id,
        "CREATE TABLE t(v); INSERT INTO t VALUES('kept'); \
         CREATE TABLE parent(id INTEGER PRIMARY KEY); \
         CREATE TABLE child(pid INTEGER REFERENCES parent(id));",
    );
    // Deferred: a child before its parent is fine, as in every D1 dump.
    let r = import(
        &emu,
        &id,
        "PRAGMA defer_foreign_keys=TRUE;\nINSERT INTO child VALUES(5);\nINSERT INTO parent VALUES(5);",
    );
    assert_eq!(r["status"], "complete", "{r}");
    // Deferred, but still missing at the end: the whole import fails at commit.
    assert_import_refused(
        &emu,
        &id,
        "PRAGMA defer_foreign_keys=TRUE;\nINSERT INTO t VALUES('new');\nINSERT INTO child VALUES(7);",
        "at commit: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
    );
    // Not deferred: the statement itself fails.
    assert_import_refused(
        &emu,
        &id,
        "INSERT INTO t VALUES('new');\nINSERT INTO child VALUES(8);",
        "statement 2: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
    );
    let v = emu.query(&id, "SELECT pid FROM child");
    assert_eq!(v["result"][0]["results"], json!([{"pid": 5}]));
}

#[test]
fn an_insert_into_a_table_created_later_fails_the_import() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES('kept')");
    assert_import_refused(
        &emu,
        &id,
        "PRAGMA defer_foreign_keys=TRUE;\nINSERT INTO t VALUES('new');\nINSERT INTO later VALUES(1);\nCREATE TABLE later(x);",
        "statement 3: no such table: later: SQLITE_ERROR",
    );
}

#[test]
fn the_query_endpoint_refuses_transaction_control_and_cf_writes_too() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("q");
    emu.query(&id, "CREATE TABLE t(v); INSERT INTO t VALUES('kept')");
    let before = snapshot(&emu, &id);
    for sql in [
        "INSERT INTO t VALUES('new'); BEGIN;",
        "INSERT INTO t VALUES('new'); COMMIT;",
        "SAVEPOINT a; INSERT INTO t VALUES('new'); RELEASE a;",
    ] {
        assert_refused(try_query(&emu, &id, sql), TX);
    }
    assert_refused(
        try_query(
            &emu,
            &id,
            "INSERT INTO t VALUES('new'); CREATE TABLE _cf_x(a)",
        ),
        "not authorized: SQLITE_AUTH",
    );
    assert_eq!(snapshot(&emu, &id), before);
    // Ordinary work, triggers and virtual tables included, is untouched by the rules.
    emu.query(
        &id,
        "CREATE TABLE log(v); CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES(new.v); END; \
         INSERT INTO t VALUES('new'); CREATE VIRTUAL TABLE f USING fts5(body); DROP TABLE f;",
    );
    let v = emu.query(&id, "SELECT v FROM log");
    assert_eq!(v["result"][0]["results"], json!([{"v": "new"}]));
}
