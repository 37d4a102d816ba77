//! d1-verify end to end: dumps written here (D1's format, `sqlite3 .dump`, hostile ones) and
//! dumps exported by d1-emulator, restored by the real binary and compared with their source.

use d1_sql::ident::quote_ident;
use d1_tests::*;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The source database of the exact-rows tests: every kind of value a dump must carry.
const SOURCE_SCHEMA: &str = r#"
CREATE TABLE "people" (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, note, score REAL, photo BLOB);
CREATE TABLE "odd ""name""" ("a b" TEXT, "c;d" INTEGER, PRIMARY KEY ("a b")) WITHOUT ROWID;
CREATE TABLE "log" (msg TEXT);
"#;

const SOURCE_OBJECTS: &str = r#"
CREATE INDEX people_by_name ON people(name);
CREATE TRIGGER people_log AFTER INSERT ON people BEGIN
  INSERT INTO log VALUES('added; ' || NEW.name);
  INSERT INTO log VALUES('second; statement');
END;
CREATE VIEW "named" AS SELECT name FROM people WHERE name <> ';';
"#;

fn people_rows() -> Vec<Vec<Value>> {
    use Value::*;
    let t = |s: &str| Text(s.to_string());
    vec![
        vec![
            Integer(1),
            t("O'Brien \"quoted\""),
            Null,
            Real(1.5),
            Blob(vec![0, 1, 0xff]),
        ],
        vec![
            Integer(2),
            t("line\nbreak"),
            t("cr\rhere"),
            Real(-0.000001),
            Blob(vec![]),
        ],
        vec![
            Integer(3),
            t("both\r\nkinds\n"),
            t("ünïcödé ✓ 𝄞 emoji 🎉"),
            Real(1e300),
            Null,
        ],
        vec![Integer(4), t(""), Integer(i64::MAX), Real(0.1), t("'1'")],
        vec![
            Integer(5),
            t(";"),
            Integer(i64::MIN),
            Real(5e-324),
            Integer(9007199254740993),
        ],
        // (Not -1e-300 or -2.5e-300: SQLite's own text-to-REAL conversion rounds those a bit away.)
        vec![
            Integer(7),
            t("1"),
            Integer(1),
            Real(-1.5e-7),
            Real(f64::INFINITY),
        ],
        vec![
            Integer(9),
            t("x'; DROP TABLE people; --"),
            t("/* not a comment */ -- nor this"),
            Null,
            Real(f64::NEG_INFINITY),
        ],
    ]
}

fn source_db(dir: &Path) -> PathBuf {
    let path = dir.join("source.sqlite");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(SOURCE_SCHEMA).unwrap();
    for row in people_rows() {
        conn.execute(
            "INSERT INTO people VALUES(?,?,?,?,?)",
            rusqlite::params_from_iter(row),
        )
        .unwrap();
    }
    conn.execute_batch(
        r#"INSERT INTO "odd ""name""" VALUES('k1', 1), ('k;2', -2), ('k''3', NULL);
           INSERT INTO log VALUES('before triggers');"#,
    )
    .unwrap();
    conn.execute_batch(SOURCE_OBJECTS).unwrap();
    path
}

/// A literal as D1's generator writes it (docs/d1-emulator.md, "Dump format").
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.is_infinite() => if *r > 0.0 { "9e999" } else { "-9e999" }.into(),
        Value::Real(r) => format!("{r:e}"),
        Value::Text(s) => {
            let q = format!(
                "'{}'",
                s.replace('\'', "''")
                    .replace('\r', "\\r")
                    .replace('\n', "\\n")
            );
            match (s.contains('\r'), s.contains('\n')) {
                (true, true) => format!("replace(replace({q},'\\r',char(13)),'\\n',char(10))"),
                (true, false) => format!("replace({q},'\\r',char(13))"),
                (false, true) => format!("replace({q},'\\n',char(10))"),
                _ => q,
            }
        }
        Value::Blob(b) => format!("X'{}'", hex::encode(b)),
    }
}

/// A dump of `db` in D1's format: defer pragma, each table and its rows, sqlite_sequence last,
/// then indexes, triggers, views. `column_list: false` is the older form.
fn d1_dump(db: &Path, column_list: bool) -> String {
    let conn = Connection::open(db).unwrap();
    let mut out = vec!["PRAGMA defer_foreign_keys=TRUE;".to_string()];
    let objects: Vec<(String, String, String)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut tables: Vec<&(String, String, String)> =
        objects.iter().filter(|o| o.0 == "table").collect();
    tables.sort_by_key(|o| o.1 == "sqlite_sequence");
    for (_, name, sql) in tables {
        if name == "sqlite_sequence" {
            out.push("DELETE FROM sqlite_sequence;".into());
        } else {
            out.push(format!("{sql};"));
        }
        let mut st = conn
            .prepare(&format!("SELECT * FROM {}", quote_ident(name)))
            .unwrap();
        let cols: Vec<String> = st.column_names().map(quote_ident).collect();
        let n = cols.len();
        let rows: Vec<Vec<Value>> = st
            .query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for row in rows {
            let vals: Vec<String> = row.iter().map(literal).collect();
            let cl = if column_list {
                format!(" ({})", cols.join(","))
            } else {
                String::new()
            };
            out.push(format!(
                "INSERT INTO {}{cl} VALUES({});",
                quote_ident(name),
                vals.join(",")
            ));
        }
    }
    for kind in ["index", "trigger", "view"] {
        for o in objects.iter().filter(|o| o.0 == kind) {
            out.push(format!("{};", o.2));
        }
    }
    out.join("\n")
}

/// Every table's rows (rowid order where there is one), values compared bit for bit.
fn contents(db: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let conn = Connection::open(db).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|name| {
            let mut st = conn
                .prepare(&format!("SELECT * FROM {}", quote_ident(&name)))
                .unwrap();
            let n = st.column_count();
            let mut rows: Vec<Vec<String>> = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get::<_, Value>(i)? {
                                Value::Real(f) => format!("Real({:#x})", f.to_bits()),
                                v => format!("{v:?}"),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort();
            (name, rows)
        })
        .collect()
}

fn verify(args: &[&str]) -> Outcome {
    tool("d1-verify").args(args).run()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn json_report(o: &Outcome) -> serde_json::Value {
    serde_json::from_str(o.stdout.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {o:?}"))
}

#[test]
fn a_dump_with_every_tricky_value_restores_the_exact_rows() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_db(dir.path());
    let dump = dir.path().join("d.sql");
    std::fs::write(&dump, d1_dump(&src, true)).unwrap();
    let out = dir.path().join("restored.sqlite");
    let o = verify(&["--json", "--db", &s(&out), &s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    let r = json_report(&o);
    assert_eq!(r["ok"], true);
    assert_eq!(r["indexes"], json!(["people_by_name"]));
    assert_eq!(r["triggers"], json!(["people_log"]));
    assert_eq!(r["views"], json!(["named"]));
    assert_eq!(r["rows"], 7 + 3 + 1);
    assert!(r["fast_path_rows"].as_u64().unwrap() >= 11, "{r}");
    assert_eq!(contents(&src), contents(&out));
    // The trigger was created after the data, so it did not fire during the load.
    let c = Connection::open(&out).unwrap();
    let seq: i64 = c
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name='people'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(seq, 9);
}

#[test]
fn the_fast_path_and_sqlites_own_parser_restore_byte_identical_databases() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_db(dir.path());
    for column_list in [true, false] {
        let dump = dir.path().join(format!("d{column_list}.sql"));
        std::fs::write(&dump, d1_dump(&src, column_list)).unwrap();
        let fast = dir.path().join(format!("fast{column_list}.sqlite"));
        let slow = dir.path().join(format!("slow{column_list}.sqlite"));
        let a = verify(&["--json", "--db", &s(&fast), &s(&dump)]);
        let b = tool("d1-verify")
            .env("D1_VERIFY_NO_FASTPATH", "1")
            .args(["--json", "--db", &s(&slow), &s(&dump)])
            .run();
        assert_eq!((a.code, b.code), (0, 0), "{a:?} {b:?}");
        let (ra, rb) = (json_report(&a), json_report(&b));
        assert!(ra["fast_path_rows"].as_u64().unwrap() > 0);
        assert_eq!(rb["fast_path_rows"], 0);
        assert_eq!(ra["tables"], rb["tables"], "digests differ");
        assert_eq!(contents(&fast), contents(&slow));
    }
}

#[test]
fn a_nul_byte_inside_a_string_fails_as_sqlite_fails_it_on_either_path() {
    // Issue 17: the fast path bound 'a<NUL>b' and printed OK; SQLite's tokenizer ends the
    // string at the NUL ("unrecognized token"), and so do sqlite3 and D1's import.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("nul.sql");
    std::fs::write(
        &dump,
        b"CREATE TABLE t(x);\nINSERT INTO \"t\" (\"x\") VALUES('a\x00b');\n",
    )
    .unwrap();
    for no_fast_path in ["0", "1"] {
        let o = tool("d1-verify")
            .env("D1_VERIFY_NO_FASTPATH", no_fast_path)
            .arg(s(&dump))
            .run();
        assert_eq!(o.code, 1, "fast path off: {no_fast_path}: {o:?}");
        let want = format!(
            "FAIL 1 d1-verify - - {}: line 2: unrecognized token",
            s(&dump)
        );
        assert!(o.stdout.starts_with(&want), "{o:?}");
    }
}

#[test]
fn compressed_and_plain_dumps_give_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_db(dir.path());
    let text = d1_dump(&src, true);
    let plain = dir.path().join("d.sql");
    // The name says nothing: compression is told by its magic bytes.
    let packed = dir.path().join("d-compressed.sql");
    std::fs::write(&plain, &text).unwrap();
    std::fs::write(&packed, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    let o = verify(&["--json", &s(&plain), &s(&packed)]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["compressed"], false);
    assert_eq!(lines[1]["compressed"], true);
    assert_eq!(lines[0]["tables"], lines[1]["tables"]);
    let plain_out = verify(&[&s(&plain)]);
    assert_eq!(
        plain_out.stdout,
        format!("OK {} tables=3 rows=11\n", s(&plain))
    );
}

#[test]
fn a_sidecar_checksum_mismatch_fails_and_a_match_passes() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("d.sql");
    let text = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(a);\nINSERT INTO \"t\" VALUES(1);";
    std::fs::write(&dump, text).unwrap();
    let side = dir.path().join("d.sql.sha256");
    std::fs::write(&side, format!("{}  d.sql\n", sha256_hex(b"something else"))).unwrap();
    let o = verify(&[&s(&dump)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "FAIL 1 d1-verify - - {}: checksum mismatch",
            s(&dump)
        )),
        "{o:?}"
    );
    // stderr names the dump once (no id or name to name it by).
    assert_eq!(o.stderr_lines().len(), 1, "{o:?}");
    assert!(
        o.stderr.starts_with(&format!(
            "d1-verify: error: {}: checksum mismatch: ",
            s(&dump)
        )),
        "{o:?}"
    );
    assert_eq!(verify(&["--no-checksum", &s(&dump)]).code, 0);
    std::fs::write(&side, format!("{}  d.sql\n", sha256_hex(text.as_bytes()))).unwrap();
    let o = verify(&["--json", &s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        json_report(&o)["checksum_sha256"],
        sha256_hex(text.as_bytes())
    );
}

#[test]
fn hostile_dumps_are_refused_naming_the_line_and_create_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let evil = work.join("evil.db");
    let e = s(&evil);
    let cases = [
        format!("CREATE TABLE t(a);\nATTACH DATABASE '{e}' AS x;\nCREATE TABLE x.t(a);"),
        "CREATE TABLE t(a);\n\nINSERT INTO t VALUES(load_extension('/nonexistent/evil.so'));".to_string(),
        format!("CREATE TABLE t(a);\nVACUUM INTO '{e}';"),
        format!("CREATE TABLE t(a);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT load_extension('x'); END;\nINSERT INTO t VALUES(1);\nVACUUM INTO '{e}';"),
        "CREATE TABLE t(a);\nPRAGMA writable_schema=ON;".to_string(),
    ];
    let lines = [2, 3, 2, 3, 2];
    for (i, (sql, line)) in cases.iter().zip(lines).enumerate() {
        let dump = dir.path().join(format!("h{i}.sql"));
        std::fs::write(&dump, sql).unwrap();
        let target = work.join("out.sqlite");
        let o = tool("d1-verify")
            .current_dir(&work)
            .args(["--db", &s(&target), &s(&dump)])
            .run();
        assert_eq!(o.code, 1, "{sql}: {o:?}");
        let want = format!("FAIL 1 d1-verify - - {}: line {line}: refused: ", s(&dump));
        assert!(o.stdout.starts_with(&want), "{sql}: {}", o.stdout);
        assert!(
            files_in(&work).is_empty(),
            "{sql}: left {:?}",
            files_in(&work)
        );
    }
}

#[test]
fn failing_statements_are_reported_with_their_line_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let head = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE \"t\" (a);\n";
    let cases = [
        (
            "syntax",
            format!("{head}INSERT INTO \"t\" VALUES(1);\nINSERT INTO \"t\" VALUES(1,;\n"),
            "line 4: near \";\": syntax error: INSERT INTO \"t\" VALUES(1,;",
        ),
        (
            "truncated",
            format!("{head}INSERT INTO \"t\" VALUES('a\nb');\nINSERT INTO \"t\" VALUES('cut"),
            "line 5: incomplete statement at end of dump",
        ),
        (
            "infinity",
            format!("{head}\nINSERT INTO \"t\" VALUES(Infinity);"),
            "line 4: no such column: Infinity: INSERT INTO \"t\" VALUES(Infinity);",
        ),
    ];
    for (name, sql, want) in cases {
        let dump = dir.path().join(format!("{name}.sql"));
        std::fs::write(&dump, sql).unwrap();
        let o = verify(&[&s(&dump)]);
        assert_eq!(o.code, 1, "{o:?}");
        assert_eq!(o.stdout_lines().len(), 1);
        assert!(
            o.stdout
                .starts_with(&format!("FAIL 1 d1-verify - - {}: {want}", s(&dump))),
            "{name}: {}",
            o.stdout
        );
    }
}

#[test]
fn foreign_key_violations_fail_with_table_rowid_and_parent() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("fk.sql");
    std::fs::write(
        &dump,
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE p(id INTEGER PRIMARY KEY);\n\
         CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id));\n\
         INSERT INTO \"c\" VALUES(1,1);\nINSERT INTO \"c\" VALUES(2,42);\nINSERT INTO \"p\" VALUES(1);",
    )
    .unwrap();
    let o = verify(&["--json", &s(&dump)]);
    assert_eq!(o.code, 1, "{o:?}");
    let r = json_report(&o);
    assert_eq!(
        r["foreign_key_violations"],
        json!([{"table": "c", "rowid": 2, "parent": "p"}])
    );
    assert!(
        r["reason"].as_str().unwrap().contains("table c rowid 2"),
        "{r}"
    );
}

#[test]
fn a_sqlite3_shell_dump_restores() {
    let sqlite3 = Path::new("/usr/bin/sqlite3");
    if !sqlite3.exists() {
        eprintln!("skipped: no /usr/bin/sqlite3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = source_db(dir.path());
    let out = std::process::Command::new(sqlite3)
        .arg(&src)
        .arg(".dump")
        .output()
        .unwrap();
    assert!(out.status.success());
    let dump = dir.path().join("shell.sql");
    std::fs::write(&dump, &out.stdout).unwrap();
    let restored = dir.path().join("restored.sqlite");
    let o = verify(&["--db", &s(&restored), &s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(contents(&src), contents(&restored));
}

#[test]
fn quirks_visible_in_the_text_are_warned_about_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("q.sql");
    std::fs::write(
        &dump,
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(a);\nINSERT INTO \"t\" VALUES(9007199254740992);\n\
         INSERT INTO \"t\" VALUES(-9223372036854776000);\nINSERT INTO \"t\" VALUES(9e999);\nINSERT INTO \"t\" VALUES('9007199254740993');",
    )
    .unwrap();
    let o = verify(&[&s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    let w = o.stderr_lines();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].contains("line 3: integer 9007199254740992 is at or beyond 2^53"),
        "{w:?}"
    );
    assert!(
        w[1].contains("line 4: -9223372036854776000 is how D1 writes -9223372036854775808"),
        "{w:?}"
    );
    assert!(w[2].contains("line 5: 9e999 is an infinite REAL"), "{w:?}");
}

#[test]
fn bad_inputs_are_exit_2_and_do_not_stop_the_other_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sql");
    std::fs::write(&good, "CREATE TABLE t(a);").unwrap();
    let db = make_db(dir.path(), "real", "CREATE TABLE t(a);");
    let missing = dir.path().join("missing.sql");
    let o = verify(&[&s(&missing), &s(&db), &s(dir.path()), &s(&good)]);
    assert_eq!(o.code, 2, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        format!("FAIL 2 d1-verify - - {}: no such file", s(&missing))
    );
    assert_eq!(
        lines[1],
        format!(
            "FAIL 2 d1-verify - - {}: this is a SQLite database file, not a SQL dump",
            s(&db)
        )
    );
    assert!(
        lines[2].starts_with(&format!("FAIL 2 d1-verify - - {}: ", s(dir.path())))
            && lines[2].contains("is a directory"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], format!("OK {} tables=1 rows=0", s(&good)));
}

#[test]
fn paths_come_from_stdin_records_and_dump_data_from_dash() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.sql");
    std::fs::write(&a, "CREATE TABLE t(a);\nINSERT INTO t VALUES(1);").unwrap();
    let o = tool("d1-verify")
        .arg("--json")
        .stdin(format!("db-1 {}\n", s(&a)))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(json_report(&o)["database"], "db-1");
    let o = tool("d1-verify")
        .args(["-", "--expect-table", "t", "--min-rows", "t=2"])
        .stdin("CREATE TABLE t(a);\nINSERT INTO t VALUES(1);")
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(
        o.stdout,
        "FAIL 1 d1-verify - - -: table t has 1 rows, expected at least 2\n"
    );
    let o = tool("d1-verify")
        .args(["-", "--expect-table", "users"])
        .stdin("PRAGMA defer_foreign_keys=TRUE;")
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.contains("expected table users is missing"),
        "{o:?}"
    );
}

#[test]
fn a_data_only_dump_loads_on_top_of_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_db(dir.path());
    let full = d1_dump(&src, true);
    let data: Vec<&str> = full
        .lines()
        .filter(|l| l.starts_with("INSERT") || l.starts_with("DELETE"))
        .collect();
    let schema_file = dir.path().join("schema.sql");
    std::fs::write(&schema_file, SOURCE_SCHEMA).unwrap();
    let data_file = dir.path().join("data.sql");
    std::fs::write(&data_file, data.join("\n")).unwrap();
    let without = verify(&[&s(&data_file)]);
    assert_eq!(without.code, 1, "{without:?}");
    let o = verify(&["--schema", &s(&schema_file), &s(&data_file)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("OK {} tables=3 rows=11\n", s(&data_file)));
}

/// Exports `name` from the emulator and downloads the dump.
fn export(emu: &Emulator, name: &str, options: serde_json::Value) -> Vec<u8> {
    let path = format!("/accounts/{ACCOUNT}/d1/database/{}/export", emu.db_id(name));
    let mut body = json!({"output_format": "polling", "dump_options": options});
    for _ in 0..50 {
        let (status, answer) = emu.api("POST", &path, Some(body.clone()));
        assert_eq!(status, 200, "{answer}");
        let r = &answer["result"];
        match r["status"].as_str() {
            Some("complete") => return download(r["result"]["signed_url"].as_str().unwrap()),
            Some("error") => panic!("export failed: {answer}"),
            _ => body["current_bookmark"] = r["at_bookmark"].clone(),
        }
    }
    panic!("export did not complete");
}

#[test]
fn the_emulators_dumps_verify_full_schema_only_and_data_only() {
    let emu = Emulator::start(&["--poll-hold-ms", "10"]);
    let dir = tempfile::tempdir().unwrap();
    let opts = |no_data: bool, no_schema: bool| json!({"no_data": no_data, "no_schema": no_schema, "tables": []});
    let full = dir.path().join("full.sql");
    std::fs::write(&full, export(&emu, "sample", opts(false, false))).unwrap();
    let schema = dir.path().join("schema.sql");
    std::fs::write(&schema, export(&emu, "sample", opts(true, false))).unwrap();
    let data = dir.path().join("data.sql");
    std::fs::write(&data, export(&emu, "sample", opts(false, true))).unwrap();

    let f = verify(&["--json", &s(&full)]);
    assert_eq!(f.code, 0, "{f:?}");
    let rf = json_report(&f);
    assert!(rf["tables"].as_array().unwrap().len() >= 5, "{rf}");
    assert!(
        rf["warnings"]["counts"]["min-int64-as-real"].as_u64() >= Some(1),
        "{rf}"
    );
    assert!(f.stderr.contains("-9223372036854776000"), "{}", f.stderr);

    let sch = verify(&["--json", &s(&schema)]);
    assert_eq!(sch.code, 0, "{sch:?}");
    assert_eq!(json_report(&sch)["rows"], 0);

    // Data on top of the schema-only dump restores the same content as the full dump. The
    // schema's trigger is left out: created before the data, it would fill "audit log" a
    // second time (as it would in D1).
    let schema_text = std::fs::read_to_string(&schema).unwrap();
    assert!(schema_text.contains("CREATE TRIGGER posts_audit"));
    let no_trigger = dir.path().join("schema-no-trigger.sql");
    let kept: Vec<&str> = schema_text
        .lines()
        .filter(|l| !l.starts_with("CREATE TRIGGER"))
        .collect();
    std::fs::write(&no_trigger, kept.join("\n")).unwrap();
    let d = verify(&["--json", "--schema", &s(&no_trigger), &s(&data)]);
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(json_report(&d)["tables"], rf["tables"]);
}

#[test]
fn an_older_emulator_dump_with_infinity_fails_on_its_line() {
    let emu = Emulator::start(&["--poll-hold-ms", "10", "--legacy-dump"]);
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("legacy.sql");
    let text = export(
        &emu,
        "sample",
        json!({"no_data": false, "no_schema": false, "tables": []}),
    );
    std::fs::write(&dump, &text).unwrap();
    let line = String::from_utf8_lossy(&text)
        .lines()
        .position(|l| l.contains("Infinity"))
        .expect("the legacy dump writes Infinity")
        + 1;
    let o = verify(&[&s(&dump)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.starts_with(&format!(
            "FAIL 1 d1-verify - - {}: line {line}: no such column: Infinity",
            s(&dump)
        )),
        "{}",
        o.stdout
    );
}

#[test]
fn an_index_sort_larger_than_its_memory_budget_spills_and_leaves_no_file() {
    // 100,000 distinct 120-byte keys: 12 MB for CREATE INDEX to sort, over the 8 MiB that
    // d1-verify sorts in memory; the rest goes to SQLite's unnamed file in TMPDIR.
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut sql = String::from("PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(k TEXT);\n");
    for i in 0..100_000u64 {
        sql += &format!(
            "INSERT INTO \"t\" (\"k\") VALUES('{:0120}');\n",
            i * 7919 % 100_003
        );
    }
    sql += "CREATE UNIQUE INDEX t_k ON t(k);\n";
    let dump = dir.path().join("big-index.sql");
    std::fs::write(&dump, sql).unwrap();
    let o = tool("d1-verify")
        .env("TMPDIR", &tmp)
        .args(["--json", &s(&dump)])
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let r = json_report(&o);
    assert_eq!(
        (&r["rows"], &r["indexes"]),
        (&json!(100_000), &json!(["t_k"])),
        "{r}"
    );
    assert!(files_in(&tmp).is_empty(), "left {:?}", files_in(&tmp));
}

#[test]
fn the_verdict_is_kept_in_the_manifest_and_a_failure_replaces_an_earlier_pass() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("prod-20261130T000000Z.sql");
    let text =
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(a);\nINSERT INTO \"t\" VALUES(1);\n";
    std::fs::write(&dump, text).unwrap();
    let sha = sha256_hex(text.as_bytes());
    let name = "prod-20261130T000000Z.sql";
    std::fs::write(
        dir.path().join(format!("{name}.sha256")),
        format!("{sha}  {name}\n"),
    )
    .unwrap();
    let manifest = dir.path().join(format!("{name}.json"));
    let id = "0f3c5a3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    std::fs::write(
        &manifest,
        json!({"database_id": id, "database_name": "prod", "sha256": sha}).to_string(),
    )
    .unwrap();
    let read = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap()
    };

    let o = verify(&[&s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("OK {} tables=1 rows=1\n", s(&dump)));
    let m = read();
    let v = &m["verification"];
    assert_eq!(v["status"], "ok", "{m}");
    assert_eq!(v["sha256"], sha.as_str(), "the verdict is for these bytes");
    assert_eq!((&v["tables"], &v["rows"]), (&json!(1), &json!(1)), "{m}");
    assert_eq!(v["tool"], "d1-verify");
    assert!(
        v["verified_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{m}"
    );
    assert!(v.get("reason").is_none(), "{m}");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.contains(&json!("checksum")) && checks.contains(&json!("restore")));
    // The rest of the manifest is kept.
    assert_eq!(
        (&m["database_id"], &m["database_name"]),
        (&json!(id), &json!("prod"))
    );

    // The same bytes fail an expectation: the failed verdict replaces the pass, and the failure
    // record carries the database the manifest names.
    let o = verify(&["--expect-table", "missing", &s(&dump)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout
            .starts_with(&format!("FAIL 1 d1-verify {id} prod {}: ", s(&dump))),
        "{o:?}"
    );
    let v = &read()["verification"];
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("missing")),
        "{v}"
    );
}

#[test]
fn snowflake_sized_primary_keys_verify_like_any_other_table() {
    // Four rows whose rowids span all of i64: the checks once cut the table's digest into a
    // piece per 50,000 rowids of that range and ran out of memory (24 GB, then killed).
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("ids.sql");
    std::fs::write(
        &dump,
        "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT);\n\
         INSERT INTO \"posts\" (\"id\",\"body\") VALUES(-9223372036854775808,'a');\n\
         INSERT INTO \"posts\" (\"id\",\"body\") VALUES(1,'b');\n\
         INSERT INTO \"posts\" (\"id\",\"body\") VALUES(1100000000000000000,'c');\n\
         INSERT INTO \"posts\" (\"id\",\"body\") VALUES(9223372036854775807,'d');",
    )
    .unwrap();
    let o = verify(&["-q", &s(&dump)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        format!("OK {} tables=1 rows=4\n", s(&dump)),
        "{o:?}"
    );
}
