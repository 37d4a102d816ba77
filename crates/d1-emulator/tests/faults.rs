//! Every fault's exact effect, armed at start or at run time.

mod common;
use common::{header_value, path_of, Emu};
use serde_json::json;
use std::time::{Duration, Instant};

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// An emulator with one exported database; returns it, the db id and the signed URL path.
fn exported(args: &[&str]) -> (Emu, String, String) {
    let mut all = vec!["--export-polls", "0"];
    all.extend_from_slice(args);
    let emu = Emu::start(&all);
    let id = emu.create_db("f");
    emu.query(
        &id,
        "CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('0123456789abcdefghijklmnopqrstuvwxyz');",
    );
    let r = emu.export_to_end(&id, json!({}));
    let url = r["result"]["signed_url"].as_str().unwrap().to_string();
    (emu, id, path_of(&url))
}

#[test]
fn status_faults_answer_json_envelopes_with_retry_after() {
    let emu = Emu::start(&[
        "--fault",
        "list:429:retry_after=7",
        "--fault",
        "list:500",
        "--fault",
        "list:503:retry_after=2",
    ]);
    let r = emu
        .agent
        .get(emu.url(""))
        .header("Authorization", "Bearer emulator-token")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let (s, v) = emu.call("GET", &emu.url(""), None);
    assert_eq!(s, 500);
    assert_eq!(v["errors"][0]["code"], 7500);
    let r = emu
        .agent
        .get(emu.url(""))
        .header("Authorization", "Bearer emulator-token")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    let (s, _) = emu.call("GET", &emu.url(""), None);
    assert_eq!(s, 200);
    assert_eq!(emu.state()["faults_pending"], 0);
}

#[test]
fn rate_limit_uses_code_971_and_no_header_without_retry_after() {
    let emu = Emu::start(&["--fault", "any:429"]);
    let r = emu
        .agent
        .get(emu.url(""))
        .header("Authorization", "Bearer emulator-token")
        .call()
        .unwrap();
    assert!(r.headers().get("retry-after").is_none());
    let mut r = r;
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        v["errors"],
        json!([{"code": 971, "message": "Please wait and consider throttling your request speed"}])
    );
}

#[test]
fn html_502_is_an_html_page() {
    let emu = Emu::start(&[]);
    emu.arm("get:502-html\n");
    let (head, body) = emu.raw(
        "GET",
        "/client/v4/accounts/emulator-account/d1/database/x",
        "",
    );
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    assert_eq!(header_value(&head, "Content-Type").unwrap(), "text/html");
    assert!(String::from_utf8(body).unwrap().contains("<html>"));
}

#[test]
fn slow_delays_and_reset_closes_without_a_response() {
    let emu = Emu::start(&["--fault", "list:slow:ms=300", "--fault", "list:reset"]);
    let t = Instant::now();
    let (s, _) = emu.call("GET", &emu.url(""), None);
    assert_eq!(s, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let (head, body) = emu.raw(
        "GET",
        "/client/v4/accounts/emulator-account/d1/database",
        "",
    );
    assert!(head.is_empty() && body.is_empty(), "{head}");
    let (s, _) = emu.call("GET", &emu.url(""), None);
    assert_eq!(s, 200);
    assert_eq!(emu.state()["requests"]["list"], 3);
}

#[test]
fn times_counts_and_times_0_is_forever() {
    let emu = Emu::start(&["--fault", "query:500:times=2"]);
    let id = emu.create_db("x");
    let url = emu.url(&format!("/{id}/query"));
    let q = || emu.call("POST", &url, Some(json!({"sql": "SELECT 1"}))).0;
    assert_eq!((q(), q(), q()), (500, 500, 200));
    emu.arm("query:503:times=0");
    assert_eq!((q(), q(), q()), (503, 503, 503));
    let r = emu
        .agent
        .delete(format!("{}/__emulator/faults", emu.root))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(q(), 200);
}

#[test]
fn a_malformed_spec_on_the_control_endpoint_is_a_400() {
    let emu = Emu::start(&[]);
    let r = emu
        .agent
        .post(format!("{}/__emulator/faults", emu.root))
        .send("list:nope")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(emu.state()["faults_pending"], 0);
}

#[test]
fn reset_mid_body_sends_part_of_the_body_once_then_downloads_work() {
    let (emu, _, path) = exported(&[]);
    let (_, full) = emu.raw("GET", &path, "");
    emu.arm("download:reset-mid-body:after=10");
    let (head, body) = emu.raw("GET", &path, "");
    assert_eq!(
        header_value(&head, "Content-Length").unwrap(),
        full.len().to_string()
    );
    assert_eq!(body, &full[..10]);
    // Resume with a Range: served normally.
    let (head, body) = emu.raw("GET", &path, "Range: bytes=10-\r\n");
    assert!(head.starts_with("HTTP/1.1 206"));
    assert_eq!(body, &full[10..]);
    // Default: half of the body.
    emu.arm("download:reset-mid-body");
    let (_, body) = emu.raw("GET", &path, "");
    assert_eq!(body.len(), full.len() / 2);
}

#[test]
fn truncate_affects_every_download_and_ureq_sees_a_short_body() {
    let (emu, _, path) = exported(&["--fault", "download:truncate:after=5"]);
    for _ in 0..2 {
        let (_, body) = emu.raw("GET", &path, "");
        assert_eq!(body.len(), 5);
    }
    let url = format!("{}{}", emu.root, path);
    let res = emu
        .agent
        .get(&url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_vec());
    assert!(res.is_err(), "a short body must be an error");
}

#[test]
fn wrong_length_declares_100_more_bytes_than_it_sends() {
    let (emu, _, path) = exported(&[]);
    let (_, full) = emu.raw("GET", &path, "");
    emu.arm("download:wrong-length");
    let (head, body) = emu.raw("GET", &path, "");
    assert_eq!(
        header_value(&head, "Content-Length").unwrap(),
        (full.len() + 100).to_string()
    );
    assert_eq!(body, full);
}

#[test]
fn corrupt_flips_a_byte_but_keeps_the_good_etag() {
    let (emu, _, path) = exported(&["--fault", "download:corrupt"]);
    let (head, body) = emu.raw("GET", &path, "");
    let etag = header_value(&head, "ETag").unwrap();
    assert_ne!(format!("\"{}\"", md5_hex(&body)), etag);
    let (_, good) = emu.raw("GET", &path, "");
    assert_eq!(format!("\"{}\"", md5_hex(&good)), etag);
    assert_eq!(good.len(), body.len());
    assert_eq!(good.iter().zip(&body).filter(|(a, b)| a != b).count(), 1);
}

#[test]
fn no_range_answers_the_full_body_with_200() {
    let (emu, _, path) = exported(&["--fault", "download:no-range"]);
    let (head, body) = emu.raw("GET", &path, "Range: bytes=5-\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_, full) = emu.raw("GET", &path, "");
    assert_eq!(body, full);
}

#[test]
fn export_error_ends_the_export_with_the_given_message() {
    let emu = Emu::start(&[
        "--poll-hold-ms",
        "0",
        "--fault",
        "export-poll:export-error:message=D1_Export_error:_disk_on_fire",
    ]);
    let id = emu.create_db("x");
    let r = emu.export_to_end(&id, json!({}));
    assert_eq!(r["status"], "error");
    assert_eq!(r["error"], "D1 Export error: disk on fire");
    assert!(!r["messages"].as_array().unwrap().is_empty());
    let st = emu.state();
    assert_eq!(st["exports"][0]["status"], "error");
    // Default message.
    emu.arm("export-poll:export-error");
    let r = emu.export_to_end(&id, json!({}));
    assert_eq!(r["error"], "D1 Export error: internal error");
}

#[test]
fn export_start_faults_leave_no_export_started() {
    let emu = Emu::start(&["--fault", "export-start:503:retry_after=1"]);
    let id = emu.create_db("x");
    let (s, _) = emu.export(&id, json!({}));
    assert_eq!(s, 503);
    let st = emu.state();
    assert_eq!(st["exports"], json!([]));
    assert_eq!(st["requests"]["export-start"], 1);
}

#[test]
fn download_status_faults_answer_s3_xml() {
    let (emu, _, path) = exported(&["--fault", "download:503:retry_after=1"]);
    let (head, body) = emu.raw("GET", &path, "");
    assert!(head.starts_with("HTTP/1.1 503"));
    assert_eq!(header_value(&head, "Retry-After").unwrap(), "1");
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("<Code>SlowDown</Code>"));
}

#[test]
fn etag_mismatch_answers_a_wrong_etag_on_upload() {
    let emu = Emu::start(&["--fault", "upload:etag-mismatch"]);
    let id = emu.create_db("x");
    let sql = b"CREATE TABLE t(x);";
    let etag = md5_hex(sql);
    let (_, v) = emu.call(
        "POST",
        &emu.url(&format!("/{id}/import")),
        Some(json!({"action": "init", "etag": etag})),
    );
    let url = v["result"]["upload_url"].as_str().unwrap();
    let r = emu.agent.put(url).send(&sql[..]).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_ne!(r.headers()["etag"], format!("\"{etag}\"").as_str());
    let r = emu.agent.put(url).send(&sql[..]).unwrap();
    assert_eq!(r.headers()["etag"], format!("\"{etag}\"").as_str());
}
