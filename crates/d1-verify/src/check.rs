//! What is checked once a dump has loaded: SQLite's integrity check, foreign keys (D1 defers
//! them, so they can only be judged at the end), and an inventory with a content digest per
//! table.
//!
//! They only read, so `run` shares them out between the restore's connection and a second one
//! on another thread (sandbox.rs `open_checker`): the integrity check on one core, foreign keys
//! and the table digests on the other, each digest taken by whichever connection is free.
//!
//! The digest must not depend on row order or rowids (a restore may number rows differently,
//! WITHOUT ROWID tables have none), and must tell `1` from `'1'`. Each row is encoded with
//! every value's storage class and hashed with SHA-256; the table digest is SHA-256 over the
//! row count and the sum (mod 2^256) of the row hashes. Summing is order-independent and
//! needs constant memory, where sorting every row would hold the table a second time.

use crate::sandbox::Checkers;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What the checks found.
pub struct Checked {
    pub integrity: Result<(), Vec<String>>,
    pub fk: Vec<FkViolation>,
    pub inventory: Inventory,
}

/// One piece of the checks' work; the longest first, so that two workers end together.
enum Task {
    Integrity,
    ForeignKeys,
    /// The digest of `inventory.tables[i]`.
    Digest(usize),
}

enum Done {
    Integrity(Result<(), Vec<String>>),
    ForeignKeys(Vec<FkViolation>),
    Digest(u64, String),
}

/// Runs every check on two threads, each with its own read-only connection from `checkers`
/// (without one, this thread uses `conn`, the restore's). The result is the same as one
/// connection's.
pub fn run(conn: &Connection, checkers: &Checkers<'_>) -> d1_core::Result<Checked> {
    let mut inventory = objects(conn).map_err(failed("listing the restored database"))?;
    let mut tasks = vec![Task::Integrity, Task::ForeignKeys];
    tasks.extend((0..inventory.tables.len()).map(Task::Digest));
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<Done>>> = Mutex::new(tasks.iter().map(|_| None).collect());
    let (ours, theirs) = std::thread::scope(|scope| {
        let helper = scope.spawn(|| match checkers.open() {
            Ok(other) => work(&other, &tasks, &inventory, &next, &done),
            // Without a second connection the first does it all: slower, not weaker.
            Err(_) => Ok(()),
        });
        let ours = match checkers.open() {
            Ok(mine) => work(&mine, &tasks, &inventory, &next, &done),
            Err(_) => work(conn, &tasks, &inventory, &next, &done),
        };
        (ours, helper.join())
    });
    ours?;
    match theirs {
        Ok(r) => r?,
        Err(_) => return Err(d1_core::Error::failed("the check thread failed")),
    }
    let results = done.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut integrity, mut fk) = (None, None);
    for (task, result) in tasks.iter().zip(results) {
        match (task, result) {
            (Task::Integrity, Some(Done::Integrity(r))) => integrity = Some(r),
            (Task::ForeignKeys, Some(Done::ForeignKeys(v))) => fk = Some(v),
            (Task::Digest(i), Some(Done::Digest(rows, digest))) => {
                inventory.tables[*i].rows = rows;
                inventory.tables[*i].digest = digest;
            }
            _ => return Err(d1_core::Error::failed("a check did not run")),
        }
    }
    match (integrity, fk) {
        (Some(integrity), Some(fk)) => Ok(Checked {
            integrity,
            fk,
            inventory,
        }),
        _ => Err(d1_core::Error::failed("a check did not run")),
    }
}

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> d1_core::Error {
    move |e| d1_core::Error::failed(format!("{what}: {e}"))
}

/// Takes tasks until none is left; on an error, the other worker takes no new one either.
fn work(
    conn: &Connection,
    tasks: &[Task],
    inventory: &Inventory,
    next: &AtomicUsize,
    done: &Mutex<Vec<Option<Done>>>,
) -> d1_core::Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(task) = tasks.get(i) else {
            return Ok(());
        };
        let result = match task {
            Task::Integrity => integrity(conn)
                .map(Done::Integrity)
                .map_err(failed("integrity_check")),
            Task::ForeignKeys => foreign_keys(conn)
                .map(Done::ForeignKeys)
                .map_err(failed("foreign_key_check")),
            Task::Digest(t) => digest(conn, &inventory.tables[*t].name)
                .map(|(rows, d)| Done::Digest(rows, d))
                .map_err(failed("listing the restored database")),
        };
        match result {
            Ok(d) => done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(d),
            Err(e) => {
                next.store(tasks.len(), Ordering::Relaxed);
                return Err(e);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub rows: u64,
    pub digest: String,
}

#[derive(Debug, Clone)]
pub struct FkViolation {
    pub table: String,
    pub rowid: Option<i64>,
    pub parent: String,
}

#[derive(Debug, Default, Clone)]
pub struct Inventory {
    pub tables: Vec<Table>,
    pub indexes: Vec<String>,
    pub views: Vec<String>,
    pub triggers: Vec<String>,
}

/// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite lists (at most 10).
pub fn integrity(conn: &Connection) -> rusqlite::Result<Result<(), Vec<String>>> {
    let mut st = conn.prepare("PRAGMA integrity_check(10)")?;
    let rows: Vec<String> = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(rows)
    })
}

/// `PRAGMA foreign_key_check` over the whole database.
pub fn foreign_keys(conn: &Connection) -> rusqlite::Result<Vec<FkViolation>> {
    let mut st = conn.prepare("PRAGMA foreign_key_check")?;
    let v = st
        .query_map([], |r| {
            Ok(FkViolation {
                table: r.get(0)?,
                rowid: r.get(1)?,
                parent: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Tables (with row counts and digests), indexes, views and triggers, by name. SQLite's own
/// objects (`sqlite_sequence`, `sqlite_stat1`, automatic indexes) are left out.
pub fn inventory(conn: &Connection) -> rusqlite::Result<Inventory> {
    let mut inv = objects(conn)?;
    for t in &mut inv.tables {
        (t.rows, t.digest) = digest(conn, &t.name)?;
    }
    Ok(inv)
}

/// The inventory without the tables' rows and digests.
fn objects(conn: &Connection) -> rusqlite::Result<Inventory> {
    let mut inv = Inventory::default();
    let mut st = conn.prepare(
        "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         ORDER BY name",
    )?;
    let objects: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, name) in objects {
        match kind.as_str() {
            "table" => inv.tables.push(Table {
                name,
                rows: 0,
                digest: String::new(),
            }),
            "index" => inv.indexes.push(name),
            "view" => inv.views.push(name),
            "trigger" => inv.triggers.push(name),
            _ => {}
        }
    }
    Ok(inv)
}

/// Row count and content digest of one table.
pub fn digest(conn: &Connection, table: &str) -> rusqlite::Result<(u64, String)> {
    let mut st = conn.prepare(&format!("SELECT * FROM {}", quote(table)))?;
    let ncol = st.column_count();
    let mut rows = st.query([])?;
    let mut sum = [0u8; 32];
    let mut count: u64 = 0;
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        buf.clear();
        buf.extend_from_slice(&(ncol as u64).to_be_bytes());
        for i in 0..ncol {
            encode(row.get_ref(i)?, &mut buf);
        }
        add(&mut sum, &Sha256::digest(&buf).into());
        count += 1;
    }
    let mut h = Sha256::new();
    h.update(b"d1-verify table digest v1\0");
    h.update(count.to_be_bytes());
    h.update(sum);
    Ok((count, hex::encode(h.finalize())))
}

/// One value with its storage class, so that 1, 1.0, '1' and X'31' all differ.
fn encode(v: ValueRef<'_>, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.push(b'N'),
        ValueRef::Integer(i) => {
            out.push(b'I');
            out.extend_from_slice(&i.to_be_bytes());
        }
        ValueRef::Real(r) => {
            out.push(b'R');
            out.extend_from_slice(&r.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) => {
            out.push(b'T');
            out.extend_from_slice(&(t.len() as u64).to_be_bytes());
            out.extend_from_slice(t);
        }
        ValueRef::Blob(b) => {
            out.push(b'B');
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// `sum += h` as 256-bit big-endian numbers, wrapping.
fn add(sum: &mut [u8; 32], h: &[u8; 32]) {
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(sum[i]) + u16::from(h[i]) + carry;
        sum[i] = s as u8;
        carry = s >> 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(sql: &str) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(sql).unwrap();
        c
    }

    #[test]
    fn digest_ignores_row_order_and_rowids() {
        let a = db("CREATE TABLE t(a, b); INSERT INTO t VALUES(1,'x'),(2,'y'),(2,'y');");
        let b = db(
            "CREATE TABLE t(a, b); INSERT INTO t(rowid,a,b) VALUES(90,2,'y'),(7,1,'x'),(5,2,'y');",
        );
        assert_eq!(digest(&a, "t").unwrap(), digest(&b, "t").unwrap());
        let c = db("CREATE TABLE t(a, b, PRIMARY KEY(a,b)) WITHOUT ROWID; INSERT INTO t VALUES(2,'y'),(1,'x');");
        let d = db("CREATE TABLE t(a, b); INSERT INTO t VALUES(1,'x'),(2,'y');");
        assert_eq!(digest(&c, "t").unwrap(), digest(&d, "t").unwrap());
    }

    #[test]
    fn digest_tells_storage_classes_apart() {
        let mut seen = std::collections::HashSet::new();
        for v in ["1", "1.0", "'1'", "X'31'", "NULL", "-0.0", "''"] {
            let c = db(&format!("CREATE TABLE t(a); INSERT INTO t VALUES({v});"));
            assert!(seen.insert(digest(&c, "t").unwrap().1), "{v} collides");
        }
        let dup = db("CREATE TABLE t(a); INSERT INTO t VALUES(1),(1);");
        let one = db("CREATE TABLE t(a); INSERT INTO t VALUES(1);");
        assert_ne!(digest(&dup, "t").unwrap(), digest(&one, "t").unwrap());
    }

    #[test]
    fn inventory_lists_objects_and_skips_sqlite_internals() {
        let c = db("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, u UNIQUE); INSERT INTO t(u) VALUES(1);\
                    CREATE INDEX i ON t(u); CREATE VIEW v AS SELECT * FROM t;\
                    CREATE TRIGGER tr AFTER DELETE ON t BEGIN SELECT 1; END;");
        let inv = inventory(&c).unwrap();
        assert_eq!(inv.tables.len(), 1);
        assert_eq!((inv.tables[0].name.as_str(), inv.tables[0].rows), ("t", 1));
        assert_eq!(inv.indexes, vec!["i"]);
        assert_eq!(inv.views, vec!["v"]);
        assert_eq!(inv.triggers, vec!["tr"]);
    }

    #[test]
    fn foreign_key_violations_name_table_rowid_and_parent() {
        let c = db("PRAGMA foreign_keys=OFF; CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p REFERENCES p(id));\
                    INSERT INTO p VALUES(1); INSERT INTO c VALUES(1),(2);");
        let v = foreign_keys(&c).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].table.as_str(), v[0].rowid, v[0].parent.as_str()),
            ("c", Some(2), "p")
        );
        assert!(integrity(&c).unwrap().is_ok());
    }
}
