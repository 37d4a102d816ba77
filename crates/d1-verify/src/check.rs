//! What is checked once a dump has loaded: SQLite's integrity check, foreign keys (D1 defers
//! them, so they can only be judged at the end), and an inventory with a content digest per
//! table.
//!
//! They only read: parallel.rs runs them in pieces on two threads.
//!
//! The digest must not depend on row order or rowids (a restore may number rows differently,
//! WITHOUT ROWID tables have none), and must tell `1` from `'1'`. Each row is encoded with
//! every value's storage class and hashed with SHA-256; the table digest is SHA-256 over the
//! row count and the sum (mod 2^256) of the row hashes. Summing is order-independent and
//! needs constant memory, where sorting every row would hold the table a second time.

use d1_sql::ident::quote_ident;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

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

/// `PRAGMA foreign_key_check` over the whole database, or over one table's rows.
pub fn foreign_keys(conn: &Connection, table: Option<&str>) -> rusqlite::Result<Vec<FkViolation>> {
    let sql = match table {
        Some(t) => format!("PRAGMA foreign_key_check({})", quote_ident(t)),
        None => "PRAGMA foreign_key_check".to_string(),
    };
    let mut st = conn.prepare(&sql)?;
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

/// Tables (with row counts and digests), indexes, views and triggers, by name. SQLite's own
/// objects (`sqlite_sequence`, `sqlite_stat1`, automatic indexes) are left out.
#[cfg(test)]
pub fn inventory(conn: &Connection) -> rusqlite::Result<Inventory> {
    let mut inv = objects(conn)?;
    for t in &mut inv.tables {
        (t.rows, t.digest) = digest(conn, &t.name)?;
    }
    Ok(inv)
}

/// The inventory without the tables' rows and digests.
pub fn objects(conn: &Connection) -> rusqlite::Result<Inventory> {
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
    let part = digest_part(conn, table, None)?;
    Ok((part.rows, part.finish()))
}

/// What part of a table's rows adds to its digest: parts of one table add up (`merge`) to what
/// the whole table gives, in any order.
#[derive(Clone, Copy, Default)]
pub struct Part {
    pub rows: u64,
    sum: [u8; 32],
}

impl Part {
    pub fn merge(&mut self, other: &Part) {
        self.rows += other.rows;
        add(&mut self.sum, &other.sum);
    }

    /// The table's digest, once every part is merged.
    pub fn finish(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"d1-verify table digest v1\0");
        h.update(self.rows.to_be_bytes());
        h.update(self.sum);
        hex::encode(h.finalize())
    }
}

/// A table's rowids from `low` to `high` (inclusive), named by `alias`: a name for the rowid
/// that no column of the table takes.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub alias: &'static str,
    pub low: i64,
    pub high: i64,
}

/// The rows of `table` (those of `span` only, when given) as a digest part.
pub fn digest_part(conn: &Connection, table: &str, span: Option<Span>) -> rusqlite::Result<Part> {
    let sql = match span {
        Some(s) => format!(
            "SELECT * FROM {} WHERE {a} >= {} AND {a} <= {}",
            quote_ident(table),
            s.low,
            s.high,
            a = s.alias
        ),
        None => format!("SELECT * FROM {}", quote_ident(table)),
    };
    let mut st = conn.prepare(&sql)?;
    let ncol = st.column_count();
    let mut rows = st.query([])?;
    let mut part = Part::default();
    let mut buf = Vec::new();
    while let Some(row) = rows.next()? {
        buf.clear();
        buf.extend_from_slice(&(ncol as u64).to_be_bytes());
        for i in 0..ncol {
            encode(row.get_ref(i)?, &mut buf);
        }
        add(&mut part.sum, &Sha256::digest(&buf).into());
        part.rows += 1;
    }
    Ok(part)
}

/// The span of `table`'s rowids, when it has rowids and a name to reach them by (a column may
/// be called `rowid`, `_rowid_` and `oid` at once); `None` for an empty table too.
pub fn rowid_span(conn: &Connection, table: &str) -> rusqlite::Result<Option<Span>> {
    let without_rowid: bool = conn
        .query_row(
            "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap_or(true);
    if without_rowid {
        return Ok(None);
    }
    let mut st = conn.prepare("SELECT name FROM pragma_table_xinfo(?1)")?;
    let columns: Vec<String> = st
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let Some(alias) = ["_rowid_", "rowid", "oid"]
        .into_iter()
        .find(|a| !columns.iter().any(|c| c.eq_ignore_ascii_case(a)))
    else {
        return Ok(None);
    };
    let (low, high): (Option<i64>, Option<i64>) = conn.query_row(
        &format!(
            "SELECT min({alias}), max({alias}) FROM {}",
            quote_ident(table)
        ),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(low.zip(high).map(|(low, high)| Span { alias, low, high }))
}

/// Whether `table` has foreign keys (`foreign_key_check` has nothing to do for it otherwise).
pub fn has_foreign_keys(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM pragma_foreign_key_list(?1)",
        [table],
        |r| r.get(0),
    )
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
        let v = foreign_keys(&c, None).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].table.as_str(), v[0].rowid, v[0].parent.as_str()),
            ("c", Some(2), "p")
        );
        assert!(integrity(&c).unwrap().is_ok());
    }
}
