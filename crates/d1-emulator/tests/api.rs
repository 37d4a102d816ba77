//! Endpoint shapes, auth, the export life cycle, signed URLs, import, shutdown.

mod common;
use common::{header_value, path_of, Emu, ACCOUNT};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

#[test]
fn the_list_pages_as_d1_does_and_answers_only_the_fields_asked_for() {
    let emu = Emu::start(&[]);
    let names: Vec<String> = (0..12).map(|i| format!("db{i:02}")).collect();
    for n in &names {
        emu.create_db(n);
    }
    let (s, v) = emu.call("GET", &emu.url("?page=2&per_page=10"), None);
    assert_eq!(s, 200, "{v}");
    let got: Vec<&str> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["db10", "db11"]);
    assert_eq!(
        v["result_info"],
        json!({"page": 2, "per_page": 10, "count": 2, "total_count": 12})
    );
    // Without paging parameters: page 1 of 100.
    let (_, v) = emu.call("GET", &emu.url(""), None);
    assert_eq!(v["result_info"]["per_page"], 100);
    assert_eq!(v["result_info"]["count"], 12);
    // per_page outside 10..=10000 and page 0 are refused, not clamped.
    for q in ["?per_page=9", "?per_page=10001", "?page=0", "?per_page=x"] {
        let (s, v) = emu.call("GET", &emu.url(q), None);
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["errors"][0]["code"], 7400, "{q}");
    }
    // wrangler 4.102+ resolves a name with ?fields=uuid,name: only those keys come back.
    let (s, v) = emu.call("GET", &emu.url("?name=db03&fields=uuid,name"), None);
    assert_eq!(s, 200);
    let one = &v["result"][0];
    assert_eq!(one.as_object().unwrap().len(), 2, "{one}");
    assert_eq!(one["name"], "db03");
    assert!(one["uuid"].as_str().is_some_and(|u| u.len() == 36));
}

#[test]
fn database_endpoints_answer_in_cloudflares_envelope() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("alpha");
    emu.create_db("beta");
    let (s, v) = emu.call("GET", &emu.url("?page=1&per_page=100"), None);
    assert_eq!(s, 200);
    assert_eq!(v["success"], true);
    assert_eq!(v["errors"], json!([]));
    assert_eq!(v["messages"], json!([]));
    assert_eq!(
        v["result_info"],
        json!({"page": 1, "per_page": 100, "count": 2, "total_count": 2})
    );
    let first = &v["result"][0];
    assert_eq!(first["name"], "alpha");
    assert_eq!(first["uuid"], id.as_str());
    assert_eq!(first["version"], "production");
    for k in ["num_tables", "file_size", "created_at"] {
        assert!(first.get(k).is_some(), "missing {k}");
    }
    // Name filter (substring) and paging.
    let (_, v) = emu.call("GET", &emu.url("?name=bet"), None);
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    let (_, v) = emu.call("GET", &emu.url("?page=2&per_page=10"), None);
    assert_eq!(v["result"], json!([]));
    assert_eq!(
        v["result_info"],
        json!({"page": 2, "per_page": 10, "count": 0, "total_count": 2})
    );
    // Get one, unknown one, duplicate create.
    let (s, v) = emu.call("GET", &emu.url(&format!("/{id}")), None);
    assert_eq!((s, v["result"]["name"].clone()), (200, json!("alpha")));
    let (s, v) = emu.call(
        "GET",
        &emu.url("/00000000-0000-4000-8000-000000000000"),
        None,
    );
    assert_eq!(s, 404);
    assert_eq!(v["success"], false);
    assert_eq!(
        v["errors"],
        json!([{"code": 7404, "message": "The database 00000000-0000-4000-8000-000000000000 could not be found"}])
    );
    let (s, _) = emu.call("POST", &emu.url(""), Some(json!({"name": "alpha"})));
    assert_eq!(s, 409);
    let (s, _) = emu.call("POST", &emu.url(""), Some(json!({"name": "no spaces"})));
    assert_eq!(s, 400);
}

#[test]
fn ids_are_derived_from_names_and_survive_a_restart() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("keep");
    let dir = emu.dir.path().to_path_buf();
    assert!(dir.join("keep.sqlite").exists());
    let again = Emu::start(&["--data-dir", dir.to_str().unwrap()]);
    let (_, v) = again.call("GET", &again.url("?name=keep"), None);
    assert_eq!(v["result"][0]["uuid"], id.as_str());
}

#[test]
fn query_runs_statements_in_order_and_renders_values_like_d1() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("q");
    let v = emu.query(
        &id,
        "CREATE TABLE t(a INTEGER, b REAL, c TEXT, d BLOB); \
         INSERT INTO t VALUES (9007199254740993, 9e999, 'x', x'00ff'), (1, 2.0, NULL, NULL); \
         SELECT * FROM t",
    );
    let r = v["result"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[1]["meta"]["changes"], 2);
    assert_eq!(r[1]["meta"]["rows_written"], 2);
    assert_eq!(r[1]["meta"]["changed_db"], true);
    assert_eq!(r[1]["meta"]["last_row_id"], 2);
    assert_eq!(r[2]["success"], true);
    for k in ["duration", "rows_read", "size_after"] {
        assert!(r[2]["meta"].get(k).is_some(), "missing meta.{k}");
    }
    assert_eq!(
        r[2]["results"],
        json!([{"a": 9007199254740992u64, "b": null, "c": "x", "d": [0, 255]},
               {"a": 1, "b": 2, "c": null, "d": null}])
    );
    // Params bind; an SQL error is a 400 with code 7500 and SQLite's message.
    let (s, v) = emu.call(
        "POST",
        &emu.url(&format!("/{id}/query")),
        Some(json!({"sql": "SELECT ? AS p, ? AS q", "params": [5, "five"]})),
    );
    assert_eq!(s, 200);
    assert_eq!(v["result"][0]["results"], json!([{"p": 5, "q": "five"}]));
    let (s, v) = emu.call(
        "POST",
        &emu.url(&format!("/{id}/query")),
        Some(json!({"sql": "SELEC 1"})),
    );
    assert_eq!(s, 400);
    assert_eq!(v["errors"][0]["code"], 7500);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{v}"
    );
    // Malformed bodies get an envelope, not a crash.
    let (s, v) = emu.call("POST", &emu.url(&format!("/{id}/query")), Some(json!([1])));
    assert_eq!((s, v["success"].clone()), (400, json!(false)));
}

#[test]
fn auth_failures_look_like_cloudflares() {
    let emu = Emu::start(&["--read-only-token", "ro-token"]);
    let id = emu.create_db("a");
    let (s, v) = emu.call_as("wrong", "GET", &emu.url(""), None);
    assert_eq!(s, 401);
    assert_eq!(
        v["errors"],
        json!([{"code": 10000, "message": "Authentication error"}])
    );
    let mut r = emu.agent.get(emu.url("")).call().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let _ = r.body_mut().read_to_string();
    let forbidden = json!([{"code": 7403,
        "message": "The given account is not valid or is not authorized to access this service"}]);
    for url in [emu.url(""), emu.url(&format!("/{id}/export"))] {
        let body = url
            .ends_with("export")
            .then(|| json!({"output_format": "polling"}));
        let method = if body.is_some() { "POST" } else { "GET" };
        let (s, v) = emu.call_as("ro-token", method, &url, body);
        assert_eq!(s, 403);
        assert_eq!(v["errors"], forbidden);
    }
    let wrong_account = format!("{}/accounts/someone-else/d1/database", emu.base);
    let (s, v) = emu.call("GET", &wrong_account, None);
    assert_eq!((s, v["errors"].clone()), (403, forbidden));
    assert_eq!(emu.state()["exports"], json!([]));
    let _ = ACCOUNT;
}

#[test]
fn export_polls_active_then_completes_and_the_dump_downloads_with_ranges() {
    let emu = Emu::start(&["--poll-hold-ms", "150"]);
    let id = emu.create_db("ex");
    emu.query(
        &id,
        "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);",
    );
    let (s, v) = emu.export(&id, json!({"output_format": "polling", "dump_options": {}}));
    assert_eq!(s, 200);
    let r = &v["result"];
    assert_eq!(r["success"], true);
    assert_eq!(r["type"], "export");
    assert_eq!(r["status"], "active");
    assert!(r["messages"][0]
        .as_str()
        .unwrap()
        .starts_with("Generating "));
    let bookmark = r["at_bookmark"].as_str().unwrap().to_string();
    // Second answer (first poll): still active, held about --poll-hold-ms.
    let t = Instant::now();
    let (_, v) = emu.export(&id, json!({"current_bookmark": bookmark}));
    assert!(t.elapsed() >= Duration::from_millis(140));
    assert_eq!(v["result"]["status"], "active");
    assert_eq!(v["result"]["at_bookmark"], bookmark.as_str());
    assert!(v["result"]["messages"][0]
        .as_str()
        .unwrap()
        .starts_with("Uploaded part"));
    let (_, v) = emu.export(&id, json!({"current_bookmark": bookmark}));
    let r = &v["result"];
    assert_eq!(r["status"], "complete", "{r}");
    let filename = r["result"]["filename"].as_str().unwrap();
    assert!(filename.starts_with(&format!("ex-{}-", &id[..8])) && filename.ends_with(".sql"));
    let url = r["result"]["signed_url"].as_str().unwrap().to_string();
    assert!(url.contains("X-Amz-Expires=") && url.contains("X-Amz-Signature="));

    let expected = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(x);\n\
        INSERT INTO \"t\" (\"x\") VALUES(1);\nINSERT INTO \"t\" (\"x\") VALUES(2);\nINSERT INTO \"t\" (\"x\") VALUES(3);";
    let mut resp = emu.agent.get(&url).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/sql");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-length"], expected.len().to_string().as_str());
    assert_eq!(
        h["etag"],
        format!("\"{}\"", md5_hex(expected.as_bytes())).as_str()
    );
    assert_eq!(resp.body_mut().read_to_string().unwrap(), expected);

    let (head, body) = emu.raw("HEAD", &path_of(&url), "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        header_value(&head, "Content-Length").unwrap(),
        expected.len().to_string()
    );
    assert!(body.is_empty());

    let (head, body) = emu.raw("GET", &path_of(&url), "Range: bytes=10-\r\n");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    let len = expected.len();
    assert_eq!(
        header_value(&head, "Content-Range").unwrap(),
        format!("bytes 10-{}/{len}", len - 1)
    );
    assert_eq!(body, &expected.as_bytes()[10..]);
    let (head, body) = emu.raw("GET", &path_of(&url), "Range: bytes=0-5\r\n");
    assert!(head.starts_with("HTTP/1.1 206"));
    assert_eq!(body, b"PRAGMA");
    let (head, _) = emu.raw("GET", &path_of(&url), &format!("Range: bytes={len}-\r\n"));
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");

    // Polling a finished export again repeats the answer.
    let (_, v) = emu.export(&id, json!({"current_bookmark": bookmark}));
    assert_eq!(v["result"]["status"], "complete");
    let st = emu.state();
    assert_eq!(st["requests"]["export-start"], 1);
    assert_eq!(st["requests"]["export-poll"], 3);
    assert_eq!(st["requests"]["download"], 5);
    assert_eq!(st["exports"][0]["status"], "complete");
    assert_eq!(st["exports"][0]["polls"], 3);
}

#[test]
fn no_data_with_no_schema_is_refused() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("x");
    let (s, v) = emu.export(
        &id,
        json!({"dump_options": {"no_data": true, "no_schema": true}}),
    );
    assert_eq!(s, 400);
    assert_eq!(v["success"], false);
    assert_eq!(emu.state()["exports"], json!([]));
}

#[test]
fn signed_urls_expire_and_tampering_is_refused_with_s3_xml() {
    let emu = Emu::start(&["--url-ttl", "1", "--export-polls", "0"]);
    let id = emu.create_db("x");
    let r = emu.export_to_end(&id, json!({}));
    let url = r["result"]["signed_url"].as_str().unwrap().to_string();
    let path = path_of(&url);
    let (head, _) = emu.raw("GET", &path, "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let last = if path.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &path[..path.len() - 1]);
    let (head, body) = emu.raw("GET", &tampered, "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.starts_with("<?xml") && body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
    let bare = path.split('?').next().unwrap();
    let (head, body) = emu.raw("GET", bare, "");
    assert!(head.starts_with("HTTP/1.1 403"));
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));

    std::thread::sleep(Duration::from_millis(2100));
    let (head, body) = emu.raw("GET", &path, "");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{body}"
    );
}

#[test]
fn an_export_nobody_polls_is_cancelled_and_its_bookmark_is_unknown() {
    let emu = Emu::start(&["--cancel-after-ms", "300", "--poll-hold-ms", "0"]);
    let id = emu.create_db("x");
    let (_, v) = emu.export(&id, json!({}));
    let b = v["result"]["at_bookmark"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(600));
    let (s, v) = emu.export(&id, json!({"current_bookmark": b}));
    assert_eq!(s, 400);
    assert_eq!(v["errors"][0]["code"], 7500);
    assert_eq!(
        v["errors"][0]["message"],
        format!("Export not found for bookmark {b}: it may have been cancelled because it was not polled")
    );
    assert_eq!(emu.state()["exports"][0]["status"], "cancelled");
    // A fresh start works again.
    let (s, v) = emu.export(&id, json!({}));
    assert_eq!((s, v["result"]["status"].clone()), (200, json!("active")));
    assert_ne!(v["result"]["at_bookmark"], b.as_str());
}

#[test]
fn a_second_start_while_an_export_runs_joins_it() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("x");
    let (_, a) = emu.export(&id, json!({}));
    let (_, b) = emu.export(&id, json!({}));
    assert_eq!(a["result"]["at_bookmark"], b["result"]["at_bookmark"]);
    assert_eq!(emu.state()["exports"].as_array().unwrap().len(), 1);
}

#[test]
fn with_bookmark_changes_only_the_latest_bookmark_is_accepted() {
    let emu = Emu::start(&[
        "--bookmark-changes",
        "--export-polls",
        "3",
        "--poll-hold-ms",
        "0",
    ]);
    let id = emu.create_db("x");
    let (_, v) = emu.export(&id, json!({}));
    let b1 = v["result"]["at_bookmark"].as_str().unwrap().to_string();
    let (_, v) = emu.export(&id, json!({"current_bookmark": b1}));
    let b2 = v["result"]["at_bookmark"].as_str().unwrap().to_string();
    assert_ne!(b1, b2);
    let (s, _) = emu.export(&id, json!({"current_bookmark": b1}));
    assert_eq!(s, 400);
    let (_, v) = emu.export(&id, json!({"current_bookmark": b2}));
    assert_eq!(v["result"]["status"], "active");
    let b3 = v["result"]["at_bookmark"].as_str().unwrap().to_string();
    let (_, v) = emu.export(&id, json!({"current_bookmark": b3}));
    assert_eq!(v["result"]["status"], "complete");
}

fn import_call(emu: &Emu, id: &str, body: Value) -> (u16, Value) {
    emu.call("POST", &emu.url(&format!("/{id}/import")), Some(body))
}

fn upload(emu: &Emu, url: &str, data: &[u8]) -> (u16, String) {
    let r = emu.agent.put(url).send(data).unwrap();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), etag)
}

#[test]
fn import_uploads_ingests_and_polls_to_completion() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    let sql = b"PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(x);\nINSERT INTO \"t\" (\"x\") VALUES(1);\nINSERT INTO \"t\" (\"x\") VALUES('a;b');";
    let etag = md5_hex(sql);
    let (s, v) = import_call(&emu, &id, json!({"action": "init", "etag": etag}));
    assert_eq!(s, 200, "{v}");
    let filename = v["result"]["filename"].as_str().unwrap().to_string();
    let upload_url = v["result"]["upload_url"].as_str().unwrap().to_string();
    assert!(upload_url.contains("/uploads/") && upload_url.contains("X-Amz-Signature="));
    let (s, got) = upload(&emu, &upload_url, sql);
    assert_eq!((s, got), (200, format!("\"{etag}\"")));
    // Ingest refuses an etag that does not match the uploaded bytes.
    let (s, _) = import_call(
        &emu,
        &id,
        json!({"action": "ingest", "filename": filename, "etag": md5_hex(b"other")}),
    );
    assert_eq!(s, 400);
    let (s, v) = import_call(
        &emu,
        &id,
        json!({"action": "ingest", "filename": filename, "etag": etag}),
    );
    assert_eq!(s, 200);
    assert_eq!(v["result"]["type"], "import");
    assert_eq!(v["result"]["status"], "active");
    let b = v["result"]["at_bookmark"].clone();
    let (_, v) = import_call(&emu, &id, json!({"action": "poll", "current_bookmark": b}));
    let r = &v["result"];
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["result"]["success"], true);
    assert_eq!(r["result"]["num_queries"], 4);
    for k in [
        "duration",
        "rows_read",
        "rows_written",
        "size_after",
        "changes",
        "last_row_id",
        "changed_db",
        "served_by",
    ] {
        assert!(r["result"]["meta"].get(k).is_some(), "missing meta.{k}");
    }
    assert!(r["result"]["final_bookmark"].is_string());
    let v = emu.query(&id, "SELECT x FROM t");
    assert_eq!(v["result"][0]["results"], json!([{"x": 1}, {"x": "a;b"}]));
    // The same file again: answered as done straight away.
    let (_, v) = import_call(&emu, &id, json!({"action": "init", "etag": etag}));
    assert_eq!(v["result"]["status"], "complete");
}

/// init, upload and ingest of `sql`; returns the ingest answer's `result`.
fn start_import(emu: &Emu, id: &str, sql: &[u8]) -> Value {
    let etag = md5_hex(sql);
    let (s, v) = import_call(emu, id, json!({"action": "init", "etag": etag}));
    assert_eq!(s, 200, "{v}");
    let url = v["result"]["upload_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no upload_url: {v}"))
        .to_string();
    let filename = v["result"]["filename"].clone();
    upload(emu, &url, sql);
    let (s, v) = import_call(
        emu,
        id,
        json!({"action": "ingest", "filename": filename, "etag": etag}),
    );
    assert_eq!(s, 200, "{v}");
    v["result"].clone()
}

/// Polls an import to its end; returns the last answer's `result`.
fn poll_import(emu: &Emu, id: &str, bookmark: &Value) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = import_call(
            emu,
            id,
            json!({"action": "poll", "current_bookmark": bookmark}),
        );
        assert_eq!(s, 200, "{v}");
        if v["result"]["status"] != "active" {
            return v["result"].clone();
        }
        assert!(Instant::now() < end, "import did not finish");
    }
}

#[test]
fn a_running_import_blocks_its_database_but_not_the_others() {
    let emu = Emu::start(&["--poll-hold-ms", "50"]);
    let id = emu.create_db("imp");
    let other = emu.create_db("other");
    emu.arm("import:hold:ms=1500");
    let sql = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);";
    let started = start_import(&emu, &id, sql);
    assert_eq!(started["status"], "active");
    // Its own database refuses queries and exports while the import runs...
    let (s, v) = emu.call(
        "POST",
        &emu.url(&format!("/{id}/query")),
        Some(json!({"sql": "SELECT 1"})),
    );
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["errors"][0]["code"], 7500);
    assert_eq!(
        v["errors"][0]["message"],
        "D1_ERROR: Currently processing a long-running import."
    );
    let (s, _) = emu.export(&id, json!({"output_format": "polling"}));
    assert_eq!(s, 400);
    // ...a retried ingest joins it, the list still describes it, other databases answer.
    let (s, v) = emu.call("GET", &emu.url(&format!("/{id}")), None);
    assert_eq!((s, v["result"]["name"].clone()), (200, json!("imp")));
    emu.query(&other, "SELECT 1");
    let (s, v) = emu.export(&other, json!({"output_format": "polling"}));
    assert_eq!(s, 200, "another database exports: {v}");
    let (_, v) = import_call(
        &emu,
        &id,
        json!({"action": "poll", "current_bookmark": started["at_bookmark"]}),
    );
    assert_eq!(v["result"]["status"], "active", "held for 1.5 s: {v}");
    let done = poll_import(&emu, &id, &started["at_bookmark"]);
    assert_eq!(done["status"], "complete", "{done}");
    let v = emu.query(&id, "SELECT x FROM t");
    assert_eq!(v["result"][0]["results"], json!([{"x": 1}]));
    assert_eq!(emu.state()["refused"]["query"], 1);
}

#[test]
fn a_repeated_etag_is_replayed_only_while_the_database_is_unchanged() {
    let emu = Emu::start(&["--poll-hold-ms", "50"]);
    let id = emu.create_db("imp");
    let sql = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(2);";
    let etag = md5_hex(sql);
    let started = start_import(&emu, &id, sql);
    let first = poll_import(&emu, &id, &started["at_bookmark"]);
    assert_eq!(first["status"], "complete");
    // Unchanged: D1 answers the finished import again.
    let (_, v) = import_call(&emu, &id, json!({"action": "init", "etag": etag}));
    assert_eq!(v["result"]["status"], "complete", "{v}");
    assert_eq!(v["result"]["at_bookmark"], first["at_bookmark"]);
    // Emptied since: a new import (an upload URL), which restores the rows again.
    emu.query(&id, "DROP TABLE t");
    let again = start_import(&emu, &id, sql);
    assert_ne!(again["at_bookmark"], first["at_bookmark"]);
    let second = poll_import(&emu, &id, &again["at_bookmark"]);
    assert_eq!(second["status"], "complete", "{second}");
    let v = emu.query(&id, "SELECT count(*) AS n FROM t");
    assert_eq!(v["result"][0]["results"][0]["n"], 2);
}

#[test]
fn the_lost_fault_reports_a_complete_import_that_wrote_nothing() {
    let emu = Emu::start(&["--poll-hold-ms", "50"]);
    let id = emu.create_db("imp");
    emu.arm("import:lost");
    let started = start_import(&emu, &id, b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);");
    let done = poll_import(&emu, &id, &started["at_bookmark"]);
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["result"]["num_queries"], 2);
    let v = emu.query(&id, "SELECT count(*) AS n FROM sqlite_schema");
    assert_eq!(v["result"][0]["results"][0]["n"], 0);
}

#[test]
fn a_failing_import_rolls_back_and_reports_error() {
    let emu = Emu::start(&[]);
    let id = emu.create_db("imp");
    let sql = b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\nINSERT INTO nope VALUES(2);";
    let etag = md5_hex(sql);
    let (_, v) = import_call(&emu, &id, json!({"action": "init", "etag": etag}));
    let url = v["result"]["upload_url"].as_str().unwrap().to_string();
    let filename = v["result"]["filename"].clone();
    upload(&emu, &url, sql);
    let (_, v) = import_call(
        &emu,
        &id,
        json!({"action": "ingest", "filename": filename, "etag": etag}),
    );
    let b = v["result"]["at_bookmark"].clone();
    let (_, v) = import_call(&emu, &id, json!({"action": "poll", "current_bookmark": b}));
    assert_eq!(v["result"]["status"], "error");
    assert!(v["result"]["error"]
        .as_str()
        .unwrap()
        .contains("no such table: nope"));
    assert_eq!(v["result"]["errors"][0], v["result"]["error"]);
    let v = emu.query(&id, "SELECT count(*) AS n FROM sqlite_schema");
    assert_eq!(v["result"][0]["results"][0]["n"], 0);
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_temporary_folder() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_d1-emulator"))
        .arg("-v")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let dir = line
        .trim()
        .strip_prefix("d1-emulator: data folder ")
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&dir).is_dir());
    let mut out = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut out)
        .unwrap();
    assert!(out.starts_with("http://127.0.0.1:"));
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!std::path::Path::new(&dir).exists());
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--fault", "list:teapot"][..],
        &["--bogus"],
        &["--port", "x"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_d1-emulator"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("d1-emulator: "));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_d1-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("--fault SPEC"));
}

#[test]
fn the_rate_limit_answers_429_with_code_971_until_the_window_ends() {
    let emu = Emu::start(&["--rate-limit", "4/2"]);
    let id = emu.create_db("alpha");
    // create and the export's calls use the window up; the download is not an API call.
    let dump = emu.dump(&id, json!({}));
    assert!(dump.starts_with("PRAGMA"));
    let list = format!("/client/v4/accounts/{ACCOUNT}/d1/database");
    let auth = format!("Authorization: Bearer {}\r\n", common::TOKEN);
    let started = Instant::now();
    let mut refused = None;
    for _ in 0..6 {
        let (head, body) = emu.raw("GET", &list, &auth);
        if head.starts_with("HTTP/1.1 429") {
            refused = Some((head, body));
            break;
        }
    }
    let (head, body) = refused.expect("the fifth API call in the window is refused");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(v["errors"][0]["code"], 971);
    let secs: u64 = header_value(&head, "Retry-After").unwrap().parse().unwrap();
    assert!((1..=2).contains(&secs), "rest of the window: {secs}");
    let st = emu.state();
    assert_eq!(st["rate_limit"]["requests"], 4);
    assert!(st["rate_limit"]["refused"].as_u64().unwrap() >= 1);
    // Once the window is over, calls are answered again.
    std::thread::sleep(Duration::from_millis(2100).saturating_sub(started.elapsed()));
    let (head, _) = emu.raw("GET", &list, &auth);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
