//! d1-core's API client end to end, without the tools: a full export by plain HTTP calls
//! through `d1_core::client::Client` and `d1_core::api`, the dump downloaded from its signed
//! URL and loaded into SQLite, with the same row counts as the emulator's database.

use d1_core::api::{self, DumpOptions, Status};
use d1_core::client::Client;
use d1_core::retry::{Deadline, Policy};
use d1_core::Config;
use d1_tests::*;
use std::time::Duration;

fn client(emu: &Emulator) -> Client {
    let cfg = Config {
        token: TOKEN.to_string(),
        account_id: ACCOUNT.to_string(),
        base_url: emu.base_url.clone(),
        database: None,
    };
    Client::new(
        &cfg,
        Policy::default(),
        Deadline::after(Some(Duration::from_secs(60))),
    )
    .expect("client")
}

fn row_counts(conn: &rusqlite::Connection) -> Vec<(String, i64)> {
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("tables");
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("name"))
        .collect();
    names
        .into_iter()
        .map(|n| {
            let count: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {}", d1_sql::ident::quote_ident(&n)),
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            (n, count)
        })
        .collect()
}

#[test]
fn a_full_export_through_the_client_loads_into_sqlite_with_the_same_row_counts() {
    let emu = Emulator::start(&["--export-polls", "3", "--poll-hold-ms", "20"]);
    let c = client(&emu);

    let db = api::resolve(&c, "sample").expect("resolve the sample database by name");
    assert_eq!(db.name, "sample");
    assert!(api::is_uuid(&db.uuid));

    let opts = DumpOptions::default();
    let mut answer = api::export(&c, &db.uuid, None, &opts).expect("start");
    let mut polls = 0;
    while answer.status == Status::Running {
        let bm = answer.at_bookmark.clone().expect("bookmark");
        answer = api::export(&c, &db.uuid, Some(&bm), &opts).expect("poll");
        polls += 1;
        assert!(polls < 50, "export never completed");
    }
    assert_eq!(answer.status, Status::Complete, "{:?}", answer.raw);
    assert!(polls >= 2, "the emulator was asked for 3 answers");
    let url = answer.signed_url.expect("signed URL");
    assert!(answer.filename.expect("filename").ends_with(".sql"));

    let dump = String::from_utf8(download(&url)).expect("dump is text");
    assert!(dump.starts_with("PRAGMA defer_foreign_keys=TRUE;\n"));
    let restored = rusqlite::Connection::open_in_memory().expect("sqlite");
    restored
        .execute_batch(&dump)
        .expect("the dump loads into SQLite");

    let source = rusqlite::Connection::open_with_flags(
        emu.data_dir.join("sample.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the emulator's database file");
    let want = row_counts(&source);
    assert!(want.iter().any(|(_, n)| *n > 0), "the sample has rows");
    assert_eq!(row_counts(&restored), want);
}

#[test]
fn the_client_maps_api_errors_to_exit_codes() {
    let emu = Emulator::start(&[]);
    let c = client(&emu);
    let e = api::resolve(&c, "no-such-db").expect_err("unknown name");
    assert_eq!(e.code(), d1_core::ExitCode::Usage);
    let e = api::get_database(&c, "00000000-0000-4000-8000-000000000000").expect_err("unknown id");
    assert_eq!(e.code(), d1_core::ExitCode::Usage);
    assert!(e.message.contains("7404"), "{}", e.message);

    emu.arm(&["list:503:times=0"]);
    let impatient = Client::new(
        &Config {
            token: TOKEN.to_string(),
            account_id: ACCOUNT.to_string(),
            base_url: emu.base_url.clone(),
            database: None,
        },
        Policy {
            retries: 1,
            base: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        },
        Deadline::none(),
    )
    .expect("client");
    let e = api::list_databases(&impatient, None).expect_err("503 every time");
    assert_eq!(e.code(), d1_core::ExitCode::Temporary);
    assert!(
        e.message.contains("gave up after 2 attempts"),
        "{}",
        e.message
    );
}
