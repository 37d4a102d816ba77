//! The emulator's Time Travel (docs/d1-emulator.md, "Time Travel"): bookmarks in D1's shape that
//! sort by time, the bookmark endpoint with and without a timestamp, restores and their undo,
//! and D1's refusals (outside the window, unknown bookmark, too many restores).

use d1_tests::{Emulator, ACCOUNT};
use serde_json::{json, Value};

fn db_path(id: &str) -> String {
    format!("/accounts/{ACCOUNT}/d1/database/{id}")
}

fn query(emu: &Emulator, id: &str, sql: &str) -> Value {
    let (status, body) = emu.api(
        "POST",
        &format!("{}/query", db_path(id)),
        Some(json!({ "sql": sql })),
    );
    assert_eq!(status, 200, "{sql}: {body}");
    body["result"].clone()
}

fn count(emu: &Emulator, id: &str, table: &str) -> i64 {
    query(emu, id, &format!("SELECT count(*) AS n FROM {table}"))[0]["results"][0]["n"]
        .as_i64()
        .expect("count")
}

fn bookmark(emu: &Emulator, id: &str, timestamp: Option<&str>) -> (u16, Value) {
    let q = timestamp.map_or(String::new(), |t| format!("?timestamp={t}"));
    emu.api(
        "GET",
        &format!("{}/time_travel/bookmark{q}", db_path(id)),
        None,
    )
}

fn current(emu: &Emulator, id: &str) -> String {
    let (status, body) = bookmark(emu, id, None);
    assert_eq!(status, 200, "{body}");
    body["result"]["bookmark"]
        .as_str()
        .expect("bookmark")
        .to_string()
}

fn restore(emu: &Emulator, id: &str, param: &str) -> (u16, Value) {
    emu.api(
        "POST",
        &format!("{}/time_travel/restore?{param}", db_path(id)),
        None,
    )
}

fn error_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn notes_db(emu: &Emulator) -> String {
    let id = emu.create_db("notes");
    query(
        emu,
        &id,
        "CREATE TABLE n (id INTEGER PRIMARY KEY, t TEXT); \
         INSERT INTO n (t) VALUES ('a'), ('b'), ('c')",
    );
    id
}

/// `2026-11-24T03:17:09.123456Z`: a moment between two bookmarks handed out microseconds apart.
fn rfc3339_micros(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    let secs = d1_core::time::Utc::from_unix(d.as_secs() as i64).rfc3339();
    format!("{}.{:06}Z", secs.trim_end_matches('Z'), d.subsec_micros())
}

fn is_d1_shaped(b: &str) -> bool {
    let parts: Vec<&str> = b.split('-').collect();
    parts.len() == 4
        && parts.iter().map(|p| p.len()).eq([8, 8, 8, 32])
        && b.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

#[test]
fn bookmarks_have_d1s_shape_move_with_writes_and_sort_by_time() {
    let emu = Emulator::start(&[]);
    let id = notes_db(&emu);
    let first = current(&emu, &id);
    assert!(is_d1_shaped(&first), "{first}");
    assert_eq!(current(&emu, &id), first, "a read moves nothing");
    query(&emu, &id, "SELECT * FROM n");
    assert_eq!(current(&emu, &id), first, "a SELECT moves nothing");
    let mut seen = vec![first];
    for i in 0..3 {
        query(&emu, &id, &format!("INSERT INTO n (t) VALUES ('x{i}')"));
        seen.push(current(&emu, &id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted, seen,
        "every write a new bookmark, later ones sorting after"
    );
    // An export records a bookmark of its own for the state it dumps: the current one.
    let (_, at) = emu.start_export("notes");
    assert!(is_d1_shaped(&at) && &at > seen.last().unwrap(), "{at}");
    assert_eq!(current(&emu, &id), at);
}

#[test]
fn a_timestamp_finds_the_bookmark_at_or_before_it_and_a_bad_one_is_refused() {
    let emu = Emulator::start(&[]);
    let id = notes_db(&emu);
    let before = current(&emu, &id);
    let between = rfc3339_micros(std::time::SystemTime::now());
    query(&emu, &id, "DELETE FROM n");
    let after = current(&emu, &id);
    assert!(before < after);
    let (status, body) = bookmark(&emu, &id, Some(&between));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["bookmark"],
        before.as_str(),
        "{between}: {body}"
    );
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let secs = later
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (status, body) = bookmark(&emu, &id, Some(&secs.to_string()));
    assert_eq!(
        (status, body["result"]["bookmark"].as_str()),
        (200, Some(after.as_str()))
    );
    let (status, body) = bookmark(&emu, &id, Some("2001-01-01T00:00:00Z"));
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("outside the Time Travel window"),
        "{body}"
    );
    let (status, body) = bookmark(&emu, &id, Some("soon"));
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).starts_with("Invalid timestamp soon"),
        "{body}"
    );
}

#[test]
fn a_restore_brings_back_what_was_deleted_and_its_previous_bookmark_undoes_it() {
    let emu = Emulator::start(&[]);
    let id = notes_db(&emu);
    let good = current(&emu, &id);
    query(
        &emu,
        &id,
        "DELETE FROM n WHERE id > 1; CREATE TABLE extra (x)",
    );
    let bad = current(&emu, &id);
    assert_eq!(count(&emu, &id, "n"), 1);

    let (status, body) = restore(&emu, &id, &format!("bookmark={good}"));
    assert_eq!(status, 200, "{body}");
    let r = &body["result"];
    assert_eq!(r["previous_bookmark"], bad.as_str(), "{body}");
    let restored = r["bookmark"].as_str().unwrap().to_string();
    assert!(is_d1_shaped(&restored) && restored > bad, "{body}");
    assert!(
        r["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(count(&emu, &id, "n"), 3, "the deleted rows are back");
    let tables = query(
        &emu,
        &id,
        "SELECT name FROM sqlite_schema WHERE name='extra'",
    );
    assert_eq!(tables[0]["results"], json!([]), "the later table is gone");
    assert_eq!(current(&emu, &id), restored);

    // Undo: restore to the bookmark the restore answered as previous.
    let (status, body) = restore(&emu, &id, &format!("bookmark={bad}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["previous_bookmark"], restored.as_str());
    assert_eq!(count(&emu, &id, "n"), 1, "undone");
    // The older bookmarks are all still there (a restore removes none).
    let (status, body) = restore(&emu, &id, &format!("bookmark={good}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(count(&emu, &id, "n"), 3);
}

#[test]
fn a_bookmark_outside_the_window_or_of_another_database_is_refused_as_d1_does() {
    let emu = Emulator::start(&[]);
    let id = notes_db(&emu);
    let other = emu.create_db("other");
    let mine = current(&emu, &id);
    let theirs = current(&emu, &other);
    query(&emu, &id, "DELETE FROM n");

    let (status, body) = restore(&emu, &id, &format!("bookmark={theirs}"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["code"], 7400);
    assert_eq!(
        error_message(&body),
        format!("Bookmark {theirs} not found: it is not a bookmark of database {id}")
    );
    let (status, body) = restore(&emu, &id, "bookmark=not-a-bookmark");
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).starts_with("Invalid bookmark not-a-bookmark"),
        "{body}"
    );
    let (status, body) = restore(&emu, &id, "");
    assert_eq!(status, 400, "{body}");

    // The window passes over the history (the `forget` fault): the old bookmark is refused and
    // the database left as it is.
    emu.arm(&["restore:forget"]);
    let (status, body) = restore(&emu, &id, &format!("bookmark={mine}"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_message(&body),
        format!(
            "The bookmark {mine} is outside the Time Travel window of this database (30 days): \
             it cannot be used as a restore point"
        )
    );
    assert_eq!(count(&emu, &id, "n"), 0);
    // A database deleted and created again under its name is another database.
    let (status, body) = emu.api("DELETE", &db_path(&other), None);
    assert_eq!(status, 200, "{body}");
    let again = emu.create_db("other");
    assert_ne!(again, other, "a new id");
    let (status, _) = bookmark(&emu, &other, None);
    assert_eq!(
        status, 404,
        "the deleted database's history is gone with it"
    );
    assert_ne!(current(&emu, &again), theirs);
    let (status, body) = restore(&emu, &again, &format!("bookmark={theirs}"));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn the_eleventh_restore_in_ten_minutes_is_refused_with_a_retry_after() {
    let emu = Emulator::start(&[]);
    let id = notes_db(&emu);
    let b = current(&emu, &id);
    for i in 0..10 {
        let (status, body) = restore(&emu, &id, &format!("bookmark={b}"));
        assert_eq!(status, 200, "restore {i}: {body}");
    }
    let (status, body) = restore(&emu, &id, &format!("bookmark={b}"));
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["code"], 7429);
    assert!(
        error_message(&body).starts_with(
            "Too many restores: a database can be restored at most 10 times in 10 minutes"
        ),
        "{body}"
    );
    // Another database has its own count.
    let other = emu.create_db("other");
    let ob = current(&emu, &other);
    assert_eq!(restore(&emu, &other, &format!("bookmark={ob}")).0, 200);
}
