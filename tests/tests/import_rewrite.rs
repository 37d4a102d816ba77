//! d1-import makes a dump D1 will take (issue 32), against the real emulator, which refuses a
//! statement over 100 000 bytes as D1 does: rows of 150 KB and 1 MB export as exactly such
//! statements, the dump as it is fails to import, and through d1-import it restores a database
//! that exports back byte for byte the same. What cannot be rewritten is refused before anything
//! is uploaded.

use d1_tests::*;
use serde_json::Value;
use std::path::Path;

/// D1's limit, counted as D1 counts it: a statement and the newline before it.
const LIMIT: usize = 100_000;

/// A database whose long rows cover what a rewrite must get right: a 150 KB JSON document with
/// newlines and quotes, 1 MB of text with carriage returns and multi-byte characters, a 1 MB
/// blob, a WITHOUT ROWID table keyed by a long value, a table with no key at all, a JSON CHECK
/// constraint, and a row long only because of its many values.
fn make_big(dir: &Path) {
    let c = rusqlite::Connection::open(dir.join("big.sqlite")).unwrap();
    let wide: Vec<String> = (0..60).map(|i| format!("c{i} TEXT")).collect();
    c.execute_batch(&format!(
        "CREATE TABLE docs(id INTEGER PRIMARY KEY, title TEXT, body TEXT, data BLOB);
         CREATE TABLE keyed(k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
         CREATE TABLE logs(ts INTEGER, line TEXT);
         CREATE TABLE checked(doc TEXT CHECK (json_valid(doc)));
         CREATE TABLE wide({});
         CREATE INDEX logs_ts ON logs(ts);",
        wide.join(",")
    ))
    .unwrap();
    let items: Vec<String> = (0..4_200)
        .map(|i| format!("{{\"id\":{i},\"note\":\"it's item {i}\"}}"))
        .collect();
    let json = format!("[{}]", items.join(",\n"));
    assert!(json.len() > 150_000, "{}", json.len());
    let text: String = "héllo wörld 😀 'quoted'\r\n".repeat(37_000);
    assert!(text.len() > 1 << 20, "{}", text.len());
    let blob: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8)
        .collect();
    let ins = |sql: &str, p: &[&dyn rusqlite::ToSql]| {
        c.execute(sql, p).unwrap();
    };
    let none: Option<Vec<u8>> = None;
    ins(
        "INSERT INTO docs VALUES(1, 'json', ?1, ?2)",
        &[&json, &none],
    );
    ins(
        "INSERT INTO docs VALUES(2, 'text', ?1, ?2)",
        &[&text, &none],
    );
    ins("INSERT INTO docs VALUES(3, 'blob', NULL, ?1)", &[&blob]);
    ins("INSERT INTO docs VALUES(4, 'short', 'a''b', X'00ff')", &[]);
    let key = "ключ-".repeat(12_000);
    ins("INSERT INTO keyed VALUES(?1, 1)", &[&key]);
    ins("INSERT INTO keyed VALUES('short', 2)", &[]);
    ins("INSERT INTO logs VALUES(1, ?1)", &[&"😀é'".repeat(19_000)]);
    ins("INSERT INTO logs VALUES(2, 'short')", &[]);
    ins("INSERT INTO checked VALUES('{}')", &[]);
    let checked = format!("{{\"doc\":\"{}\"}}", "x".repeat(110_000));
    ins("INSERT INTO checked VALUES(?1)", &[&checked]);
    let values: Vec<String> = (0..60)
        .map(|i| format!("'{}'", format!("w{i}-").repeat(500)))
        .collect();
    c.execute_batch(&format!("INSERT INTO wide VALUES({});", values.join(",")))
        .unwrap();
}

/// The statements of a D1 dump (one a line) that are over D1's limit, by 1-based number.
fn long_statements(dump: &str) -> Vec<usize> {
    dump.split('\n')
        .enumerate()
        .filter(|(i, l)| l.len() + usize::from(*i > 0) > LIMIT)
        .map(|(i, _)| i + 1)
        .collect()
}

fn export(emu: &Emulator, name: &str) -> Vec<u8> {
    download(&emu.export_url(name).1)
}

/// The whole round trip against an emulator started with `flags`, from `file_name` (a `.zst`
/// name: compressed).
fn round_trip(flags: &[&str], file_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    make_big(dir.path());
    let emu = Emulator::start_in(dir.path(), flags);
    let original = export(&emu, "big");
    let dump = std::str::from_utf8(&original).expect("a UTF-8 dump");
    let long = long_statements(dump);
    assert_eq!(
        long.len(),
        7,
        "the long rows export as long statements: {long:?}"
    );

    // As it is, the emulator refuses it as D1 does, and the database is left as it was.
    let raw = emu.create_db("raw");
    let answer = emu.import_as_is(&raw, &original);
    assert_eq!(answer["status"], "error", "{answer}");
    assert_eq!(
        answer["error"],
        format!("statement {}: statement too long: SQLITE_TOOBIG", long[0])
    );
    assert_eq!(export(&emu, "raw"), b"PRAGMA defer_foreign_keys=TRUE;");

    // Through d1-import it restores.
    let file = work.path().join(file_name);
    if file_name.ends_with(".zst") {
        std::fs::write(&file, zstd::encode_all(&original[..], 3).unwrap()).unwrap();
    } else {
        std::fs::write(&file, &original).unwrap();
    }
    emu.create_db("restore");
    let o = tool("d1-import")
        .env_from(&emu)
        .env("TMPDIR", tmp.path())
        .args(["--database", "restore", "--json"])
        .arg(&file)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let v: Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    // Every statement D1 ran: the dump's, with each long one replaced by its pieces.
    let statements = dump.split('\n').count() as u64;
    let into = v["num_queries"].as_u64().unwrap() - (statements - long.len() as u64);
    assert_eq!(
        v["rewritten"],
        serde_json::json!({"split": long.len(), "split_into": into, "transaction_dropped": 0})
    );
    assert_eq!(
        o.stderr,
        format!(
            "d1-import: {}: rewritten for D1's import: {} statements over 100000 bytes split \
             into {into}, 0 transaction statements dropped\n",
            file.display(),
            long.len()
        )
    );
    assert!(files_in(tmp.path()).is_empty(), "nothing written to TMPDIR");
    assert_eq!(
        files_in(work.path()),
        [file_name],
        "nothing written beside the dump"
    );

    let restored = export(&emu, "restore");
    assert!(
        restored == original,
        "the restored database exports differently ({} bytes, not {})",
        restored.len(),
        original.len()
    );
}

#[test]
fn a_dump_with_150_kb_and_1_mb_rows_restores_through_d1_import_and_exports_back_the_same() {
    round_trip(&[], "big.sql");
}

#[test]
fn an_older_dump_without_column_lists_restores_the_same_from_zstd() {
    round_trip(&["--legacy-dump"], "big.sql.zst");
}

#[test]
fn what_d1_import_cannot_rewrite_is_refused_naming_it_before_anything_is_uploaded() {
    let emu = Emulator::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let long = "v".repeat(LIMIT);
    // A table name that fits in its CREATE TABLE and not in an INSERT.
    let name = "n".repeat(LIMIT - 25);
    let cases = [
        (
            format!("PRAGMA defer_foreign_keys=TRUE;\nCREATE VIEW v AS SELECT '{long}' AS x;"),
            format!(
                "line 2: the statement is {} bytes, over D1's limit of 100000 bytes per \
                 statement, and d1-import cannot split it: d1-import splits only INSERTs of values, not \
                 CREATE statements; nothing was imported",
                LIMIT + 32
            ),
        ),
        (
            format!("CREATE TABLE \"{name}\"(a);\nINSERT INTO \"{name}\" VALUES(1);"),
            format!(
                "line 2: the statement is {} bytes ({} with the newline before it, which D1 \
                 counts), over D1's limit of 100000 bytes per statement, and d1-import cannot \
                 split it: even with its values moved out it would be {} bytes: its table and \
                 column names, or its number of values, keep it over the limit; nothing was \
                 imported",
                LIMIT,
                LIMIT + 1,
                LIMIT + 29
            ),
        ),
        (
            "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nROLLBACK; -- due \
             to errors\n"
                .to_string(),
            "line 4: ROLLBACK undoes what the dump wrote before it (sqlite3's .dump ends with it \
             when it could not read the whole database), and D1's import refuses it; nothing \
             was imported"
                .to_string(),
        ),
        (
            format!(
                "CREATE TABLE _d1_import_long_values(a);\nCREATE TABLE t(a);\n\
                 INSERT INTO t VALUES('{long}');"
            ),
            format!(
                "line 3: the statement is {} bytes, over D1's limit of 100000 bytes per \
                 statement, and d1-import cannot split it: it builds the row in a scratch table named \
                 _d1_import_long_values, and the dump has a table of that name; nothing was \
                 imported",
                LIMIT + 25
            ),
        ),
    ];
    emu.create_db("target");
    for (i, (sql, why)) in cases.iter().enumerate() {
        let file = work.path().join(format!("{i}.sql"));
        std::fs::write(&file, sql).unwrap();
        let o = tool("d1-import")
            .env_from(&emu)
            .args(["--database", "target"])
            .arg(&file)
            .run();
        assert_eq!(o.code, 1, "{o:?}");
        assert_one_line_error(&o, &format!("d1-import: error: {}: {why}", file.display()));
    }
    assert_eq!(emu.requests("upload"), 0, "nothing uploaded");
    assert_eq!(emu.state()["imports"], serde_json::json!([]));
}
