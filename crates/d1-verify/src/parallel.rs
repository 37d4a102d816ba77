//! The checks (check.rs) on both cores. They only read, so they are cut into pieces — SQLite's
//! integrity check, the foreign keys of each table, each table's digest in spans of rowids —
//! and two threads take the next piece until none is left, each with its own read-only
//! connection (sandbox.rs `Checkers`). The outcome is the one a single connection would give:
//! digest parts add up, foreign-key violations come in table order.

use crate::check::{self, FkViolation, Inventory, Part, Span};
use crate::sandbox::Checkers;
use d1_core::{Error, Result};
use rusqlite::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What the checks found.
pub struct Checked {
    pub integrity: std::result::Result<(), Vec<String>>,
    pub fk: Vec<FkViolation>,
    pub inventory: Inventory,
}

/// Rowids a digest piece covers: small enough that the two threads end close together, large
/// enough that a piece's query costs nothing beside its rows.
const SPAN: i128 = 50_000;
/// Pieces a table's digest is cut into at most. Rowids can be sparse (snowflake ids as the
/// primary key span 10^18 with a handful of rows), so the rowid range alone would ask for
/// billions of pieces: past this many, the spans widen instead.
const MAX_PIECES: i128 = 64;

/// One piece of work, in the order they are taken: the longest single piece first.
enum Task {
    Integrity,
    /// `foreign_key_check` of `inventory.tables[i]`.
    ForeignKeys(usize),
    /// Rows of `inventory.tables[i]`, all of them or one span.
    Digest(usize, Option<Span>),
}

enum Done {
    Integrity(std::result::Result<(), Vec<String>>),
    ForeignKeys(Vec<FkViolation>),
    Digest(Part),
}

/// Runs every check: on two threads with connections from `checkers`, or on this thread with
/// `conn`, the restore's own, when no checker can be opened.
pub fn run(conn: &Connection, checkers: &Checkers<'_>) -> Result<Checked> {
    let mut inventory = check::objects(conn).map_err(failed("listing the restored database"))?;
    let tasks = plan(conn, &inventory).map_err(failed("listing the restored database"))?;
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
    theirs.map_err(|_| Error::failed("the check thread failed"))??;

    let results = done.into_inner().unwrap_or_else(|p| p.into_inner());
    let (mut integrity, mut fk) = (None, Vec::new());
    let mut parts = vec![Part::default(); inventory.tables.len()];
    for (task, result) in tasks.iter().zip(results) {
        match (task, result) {
            (Task::Integrity, Some(Done::Integrity(r))) => integrity = Some(r),
            (Task::ForeignKeys(_), Some(Done::ForeignKeys(v))) => fk.extend(v),
            (Task::Digest(i, _), Some(Done::Digest(p))) => parts[*i].merge(&p),
            _ => return Err(Error::failed("a check did not run")),
        }
    }
    for (table, part) in inventory.tables.iter_mut().zip(parts) {
        table.rows = part.rows;
        table.digest = part.finish();
    }
    let integrity = integrity.ok_or_else(|| Error::failed("a check did not run"))?;
    Ok(Checked {
        integrity,
        fk,
        inventory,
    })
}

/// The pieces: the integrity check, each table's foreign keys, each table's rows in spans.
fn plan(conn: &Connection, inventory: &Inventory) -> rusqlite::Result<Vec<Task>> {
    let mut tasks = vec![Task::Integrity];
    for (i, t) in inventory.tables.iter().enumerate() {
        if check::has_foreign_keys(conn, &t.name)? {
            tasks.push(Task::ForeignKeys(i));
        }
    }
    for (i, t) in inventory.tables.iter().enumerate() {
        match check::rowid_span(conn, &t.name)? {
            Some(all) => {
                // In i128: the range of i64 rowids may not fit an i64.
                let (first, last) = (i128::from(all.low), i128::from(all.high));
                let range = last - first + 1;
                let pieces = ((range + SPAN - 1) / SPAN).clamp(1, MAX_PIECES);
                let width = (range + pieces - 1) / pieces;
                let mut low = first;
                while low <= last {
                    let high = (low + width - 1).min(last);
                    // Both within [all.low, all.high], so they fit an i64.
                    let (l, h) = (low as i64, high as i64);
                    tasks.push(Task::Digest(
                        i,
                        Some(Span {
                            low: l,
                            high: h,
                            ..all
                        }),
                    ));
                    low = high + 1;
                }
            }
            // WITHOUT ROWID, no free name for the rowid, or no rows: one piece.
            None => tasks.push(Task::Digest(i, None)),
        }
    }
    Ok(tasks)
}

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::failed(format!("{what}: {e}"))
}

/// Takes pieces until none is left; after an error, the other thread takes no new one either.
fn work(
    conn: &Connection,
    tasks: &[Task],
    inventory: &Inventory,
    next: &AtomicUsize,
    done: &Mutex<Vec<Option<Done>>>,
) -> Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(task) = tasks.get(i) else {
            return Ok(());
        };
        let table = |t: &usize| inventory.tables[*t].name.as_str();
        let result = match task {
            Task::Integrity => check::integrity(conn)
                .map(Done::Integrity)
                .map_err(failed("integrity_check")),
            Task::ForeignKeys(t) => check::foreign_keys(conn, Some(table(t)))
                .map(Done::ForeignKeys)
                .map_err(failed("foreign_key_check")),
            Task::Digest(t, span) => check::digest_part(conn, table(t), *span)
                .map(Done::Digest)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{self, Place};

    /// A restored database in memory, as verify.rs leaves it for the checks.
    fn restored(sql: &str) -> Connection {
        let conn = sandbox::open(&Place::Memory).unwrap();
        conn.execute_batch(sql).unwrap();
        sandbox::share(&conn).unwrap();
        conn
    }

    #[test]
    fn pieces_on_two_threads_add_up_to_the_single_connection_result() {
        // 120,001 rows: three rowid spans, a gap in the rowids, a WITHOUT ROWID table, a table
        // with a column called rowid, and two tables with a foreign-key violation each.
        let conn = restored(
            "CREATE TABLE p(id INTEGER PRIMARY KEY, v TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
             INSERT INTO p SELECT i, 'row ' || i FROM n;
             INSERT INTO p VALUES (900000, 'after a gap');
             CREATE TABLE w(k TEXT PRIMARY KEY, p REFERENCES p(id)) WITHOUT ROWID;
             INSERT INTO w VALUES ('a', 1), ('b', 7777777);
             CREATE TABLE \"odd name\"(rowid TEXT, p REFERENCES p(id));
             INSERT INTO \"odd name\" VALUES ('x', 2), ('y', 8888888);",
        );
        let place = Place::Memory;
        let checked = run(&conn, &sandbox::Checkers::new(&conn, &place)).unwrap();
        assert!(checked.integrity.is_ok());
        let whole = check::inventory(&conn).unwrap();
        let got: Vec<_> = checked
            .inventory
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.rows, t.digest.clone()))
            .collect();
        let want: Vec<_> = whole
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.rows, t.digest.clone()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[1].1, 120_001);
        let fk: Vec<_> = checked.fk.iter().map(|v| v.table.as_str()).collect();
        assert_eq!(fk, ["odd name", "w"]);
        assert_eq!(check::foreign_keys(&conn, None).unwrap().len(), 2);
    }

    #[test]
    fn sparse_rowids_are_cut_into_a_bounded_number_of_pieces() {
        // Snowflake-sized primary keys: four rows spanning all of i64. Cutting by rowid range
        // alone planned 3.7e14 pieces (a 4-row dump took 24 GB before the kernel killed it).
        let conn = restored(
            "CREATE TABLE posts(id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO posts VALUES (-9223372036854775808, 'a'), (1, 'b'),
                                      (1100000000000000000, 'c'), (9223372036854775807, 'd');",
        );
        let inventory = check::objects(&conn).unwrap();
        let tasks = plan(&conn, &inventory).unwrap();
        assert!(
            tasks.len() <= 1 + MAX_PIECES as usize,
            "{} pieces",
            tasks.len()
        );
        let place = Place::Memory;
        let checked = run(&conn, &sandbox::Checkers::new(&conn, &place)).unwrap();
        let whole = check::inventory(&conn).unwrap();
        assert_eq!(checked.inventory.tables[0].rows, 4);
        assert_eq!(checked.inventory.tables[0].digest, whole.tables[0].digest);
    }

    #[test]
    fn a_file_target_is_checked_through_connections_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let place = Place::File(path);
        let conn = sandbox::open(&place).unwrap();
        conn.execute_batch(
            "BEGIN; CREATE TABLE t(id INTEGER PRIMARY KEY, x); INSERT INTO t VALUES (1, 'a'); COMMIT;",
        )
        .unwrap();
        sandbox::share(&conn).unwrap();
        let checkers = sandbox::Checkers::new(&conn, &place);
        assert!(checkers.open().is_ok(), "the file opens again once shared");
        let checked = run(&conn, &checkers).unwrap();
        assert_eq!(checked.inventory.tables[0].rows, 1);
    }
}
