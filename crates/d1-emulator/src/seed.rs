//! `--seed-sample`: a small, deterministic database exercising every dump quirk; `--seed
//! NAME[=FILE]` and `--seed-count N`: the databases of a rehearsal, so that one with several
//! databases needs no other tool (issue 34).

use crate::dbs::{self, Databases};

const SCHEMA: &str = r#"
CREATE TABLE authors (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, bio TEXT, rating REAL);
CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE, title TEXT NOT NULL, body TEXT, published INTEGER NOT NULL DEFAULT 0, cover BLOB);
CREATE TABLE "audit log" (id INTEGER PRIMARY KEY, at TEXT NOT NULL, what TEXT);
CREATE TABLE tags (post_id INTEGER NOT NULL REFERENCES posts(id), tag TEXT NOT NULL, PRIMARY KEY (post_id, tag)) WITHOUT ROWID;
CREATE TABLE numbers (id INTEGER PRIMARY KEY, i INTEGER, r REAL);
CREATE INDEX posts_by_author ON posts(author_id);
CREATE TRIGGER posts_audit AFTER INSERT ON posts BEGIN INSERT INTO "audit log"(at, what) VALUES ('2024-01-01T00:00:00Z', 'post ' || NEW.id); END;
CREATE VIEW published_posts AS SELECT p.id, p.title, a.name AS author FROM posts p JOIN authors a ON a.id = p.author_id WHERE p.published = 1;
"#;

const AUTHORS: &[(&str, Option<&str>, Option<f64>)] = &[
    ("Ada O'Brien", Some("Line one\nline two"), Some(4.5)),
    ("Zoë Ünicode 日本", Some("Windows\r\nline ends"), Some(0.1)),
    ("Plain", None, None),
    (
        "Back\\slash",
        Some("literal \\n and a real\nnewline"),
        Some(-0.000001),
    ),
    ("Huge", Some("it''s quoted twice"), Some(1e300)),
];

/// Creates database `sample` unless a file of that name already exists.
pub fn seed(dbs: &Databases) -> Result<(), String> {
    if dbs.by_name("sample").is_some() {
        return Ok(());
    }
    let info = dbs.create("sample")?;
    let mut conn = dbs::open_rw(&info.path).map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let fill = || -> rusqlite::Result<()> {
        tx.execute_batch(SCHEMA)?;
        for (name, bio, rating) in AUTHORS {
            tx.execute(
                "INSERT INTO authors(name, bio, rating) VALUES (?1, ?2, ?3)",
                rusqlite::params![name, bio, rating],
            )?;
        }
        for id in 1..=24i64 {
            let author = (id - 1) % AUTHORS.len() as i64 + 1;
            let cover: Option<Vec<u8>> = (id % 3 == 0).then(|| vec![0, id as u8, 0xff, 0x27]);
            let body = if id % 4 == 0 {
                None
            } else {
                Some(format!("Body of post {id}: it's\tfine"))
            };
            tx.execute(
                "INSERT INTO posts(id, author_id, title, body, published, cover) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, author, format!("Post #{id}"), body, id % 2, cover],
            )?;
            tx.execute(
                "INSERT INTO tags(post_id, tag) VALUES (?1, ?2)",
                rusqlite::params![id, if id % 2 == 0 { "even" } else { "odd" }],
            )?;
        }
        tx.execute_batch(
            "INSERT INTO numbers(id, i, r) VALUES
               (1, 9007199254740993, 1.5),
               (2, -9223372036854775808, 9e999),
               (3, 9223372036854775807, -9e999),
               (4, 0, 1e-7),
               (5, NULL, 123456.789);",
        )?;
        Ok(())
    };
    fill().map_err(|e| format!("seeding sample: {e}"))?;
    tx.commit().map_err(|e| e.to_string())
}

/// Creates database `name` unless it exists: empty, or from the SQL statements in `file`.
pub fn seed_named(
    dbs: &Databases,
    name: &str,
    file: Option<&std::path::Path>,
) -> Result<(), String> {
    if dbs.by_name(name).is_some() {
        return Ok(());
    }
    let sql = match file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("--seed {name}={}: {e}", f.display()))?,
        ),
        None => None,
    };
    let info = dbs.create(name)?;
    if let Some(sql) = sql {
        let conn = dbs::open_rw(&info.path).map_err(|e| e.to_string())?;
        if let Err(e) = conn.execute_batch(&sql) {
            drop(conn);
            let _ = std::fs::remove_file(&info.path);
            return Err(format!("--seed {name}: the SQL failed: {e}"));
        }
    }
    Ok(())
}

/// The name of database `i` (from 1) of `--seed-count`.
pub fn counted_name(i: u32) -> String {
    format!("db-{i:04}")
}

/// Creates `db-0001` … `db-N` unless they exist, each a small table of a few rows.
pub fn seed_count(dbs: &Databases, n: u32) -> Result<(), String> {
    let existing: std::collections::HashSet<String> =
        dbs.list().into_iter().map(|d| d.name).collect();
    for i in 1..=n {
        let name = counted_name(i);
        if existing.contains(&name) {
            continue;
        }
        // One transaction and no fsync per database: 1,000 of them in a second or two, not a
        // minute. A seeded database is test data; a crash while seeding only loses the seeding.
        let conn = rusqlite::Connection::open(dbs.path_of(&name)).map_err(|e| e.to_string())?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous=OFF; BEGIN;
             CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER);
             INSERT INTO items (name, n) VALUES ('{name} one', {i}), ('{name} two', {}), \
             ('it''s three', NULL);
             COMMIT;",
            i * 2
        ))
        .map_err(|e| format!("seeding {name}: {e}"))?;
    }
    Ok(())
}
