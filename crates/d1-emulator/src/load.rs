//! The import's loader: runs an uploaded SQL file into a database in one transaction on its own
//! connection, streaming the file statement by statement (a 1 GB dump is never held in memory),
//! under the same D1 rules as the query endpoint (`rules`). All or nothing: any failure, the
//! deferred foreign-key check at COMMIT included, rolls the whole file back.
//!
//! The query endpoint's `query::run` renders every statement's rows and meta as JSON for the
//! answer; an import answers only totals, and doing that work per INSERT made a 40 MB import
//! take minutes. Here each statement is prepared, stepped and counted, nothing more, which is
//! what `sqlite3 FILE '.read dump'` does inside a transaction. The file is cut into statements
//! by the tools' one splitter (d1-sql), as d1-verify cuts a dump.

use crate::dbs;
use crate::query::Totals;
use crate::rules;
use d1_sql::split::{SplitError, Splitter};
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection};
use std::io::{BufReader, Read};
use std::path::Path;

/// How much of the file is read at a time.
const CHUNK: usize = 1 << 20;
/// Page cache of the import's connection (SQLite's `cache_size`, negative = KiB): fewer spills
/// of dirty pages before the COMMIT, without making the emulator's memory grow with the dump.
const CACHE_KIB: i64 = 64 * 1024;

/// Why an import failed: the 1-based statement (`None`: the file as a whole, or the COMMIT).
#[derive(Debug)]
pub struct LoadError {
    pub statement: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.statement {
            Some(n) => write!(f, "statement {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn whole(message: impl Into<String>) -> LoadError {
    LoadError {
        statement: None,
        message: message.into(),
    }
}

/// What to do once every statement ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    /// Roll back and report success anyway (the `import:lost` fault: an import that claims
    /// to have happened and did not).
    RollbackAndPretend,
}

/// Runs the SQL file `sql` into the database file `db` (see the module comment).
pub fn load(sql: &Path, db: &Path, finish: Finish) -> Result<Totals, LoadError> {
    let file = std::fs::File::open(sql).map_err(|e| whole(format!("reading the upload: {e}")))?;
    let mut conn = dbs::open_rw(db).map_err(|e| whole(rules::sqlite_message(&e)))?;
    conn.execute_batch(&format!("PRAGMA cache_size=-{CACHE_KIB};"))
        .map_err(|e| whole(rules::sqlite_message(&e)))?;
    load_from(&mut conn, file, finish)
}

/// `load` on an open connection, reading SQL from `input`.
pub fn load_from(
    conn: &mut Connection,
    input: impl Read,
    finish: Finish,
) -> Result<Totals, LoadError> {
    // IMMEDIATE: take the write lock now, so that a competing writer is found before any work.
    let tx =
        rules::Tx::begin(conn, "BEGIN IMMEDIATE").map_err(|e| whole(rules::sqlite_message(&e)))?;
    let guard = rules::Guard::install(tx.0).map_err(|e| whole(rules::sqlite_message(&e)))?;
    let before = tx.0.total_changes();
    let mut run = Run {
        tx: tx.0,
        guard: &guard,
        totals: Totals::default(),
    };
    let mut split = Splitter::new(
        BufReader::with_capacity(CHUNK, input),
        rules::MAX_STATEMENT_BYTES,
    )
    .ending_at_eof();
    let outcome = loop {
        match split.next() {
            // What D1 counts: the piece its import prepares, from the end of the previous
            // statement to this one's `;`, the newline between them included (`ingestSql`,
            // https://github.com/cloudflare/workerd/blob/main/src/workerd/util/sqlite.c++).
            Ok(Some(st)) if st.piece > rules::MAX_STATEMENT_BYTES as u64 => {
                break Err(run.fail(rules::TOO_LONG.to_string()))
            }
            Ok(Some(st)) => {
                if let Err(e) = run.statement(st.text) {
                    break Err(e);
                }
            }
            Ok(None) => break Ok(()),
            Err(SplitError::Io(e)) => break Err(whole(format!("reading the upload: {e}"))),
            // D1's limit on one statement, found before the statement is buffered whole.
            Err(SplitError::TooLong { .. }) => break Err(run.fail(rules::TOO_LONG.to_string())),
            Err(SplitError::Incomplete { .. }) => {
                break Err(run.fail("the file ends inside a statement".into()))
            }
        }
    };
    let mut totals = run.totals;
    // The emulator's own COMMIT or ROLLBACK must not meet the authorizer.
    rules::Guard::remove(tx.0).map_err(|e| whole(rules::sqlite_message(&e)))?;
    outcome?;
    totals.rows_written = tx.0.total_changes().saturating_sub(before);
    totals.changes = totals.rows_written;
    match finish {
        // Deferred foreign keys are checked here: a violation fails the whole import.
        Finish::Commit => tx
            .commit()
            .map_err(|e| whole(format!("at commit: {}", rules::sqlite_message(&e))))?,
        Finish::RollbackAndPretend => drop(tx),
    }
    Ok(totals)
}

struct Run<'a> {
    tx: &'a Connection,
    guard: &'a rules::Guard,
    totals: Totals,
}

impl Run<'_> {
    /// A failure of the statement being run (1-based).
    fn fail(&self, message: String) -> LoadError {
        LoadError {
            statement: Some(self.totals.statements + 1),
            message,
        }
    }

    /// Runs one statement of the file.
    fn statement(&mut self, text: &[u8]) -> Result<(), LoadError> {
        let sql = std::str::from_utf8(text)
            .map_err(|_| self.fail("the file is not UTF-8 text".into()))?;
        let mut batch = Batch::new(self.tx, sql);
        while let Some(mut stmt) = batch
            .next()
            .map_err(|e| self.fail(self.guard.message(&e)))?
        {
            let readonly = stmt.readonly();
            let mut rows = stmt.raw_query();
            while rows
                .next()
                .map_err(|e| self.fail(self.guard.message(&e)))?
                .is_some()
            {
                self.totals.rows_read += 1;
            }
            self.totals.statements += 1;
            self.totals.changed_db |= !readonly;
            self.totals.last_row_id = self.tx.last_insert_rowid();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_literals_comments_and_trigger_bodies() {
        let mut c = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE \"a;b\" (x);\nINSERT INTO \"a;b\" VALUES('x;''y');\n\
                   -- a comment; still\n/* block; */INSERT INTO [a;b] VALUES(1);\n\
                   /* c */ CREATE TRIGGER t AFTER INSERT ON \"a;b\" BEGIN SELECT 1; SELECT 2; END;\n\
                   INSERT INTO `a;b` VALUES(3)\n-- the last one has no semicolon";
        let t = load_from(&mut c, sql.as_bytes(), Finish::Commit).unwrap();
        assert_eq!((t.statements, t.rows_written), (5, 3));
        let x: String = c
            .query_row("SELECT group_concat(x, '|') FROM \"a;b\"", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, "x;'y|1|3");
        let e = load_from(&mut c, &b"SELECT 1;\nSELECT '\xff';"[..], Finish::Commit);
        assert_eq!(e.unwrap_err().statement, Some(2));
    }

    #[test]
    fn a_statement_over_d1s_limit_fails_with_its_number() {
        let mut c = Connection::open_in_memory().unwrap();
        let long = format!(
            "CREATE TABLE t(x);\nINSERT INTO t VALUES('{}');",
            "x".repeat(100_000)
        );
        let e = load_from(&mut c, long.as_bytes(), Finish::Commit).unwrap_err();
        assert_eq!(
            (e.statement, e.message.as_str()),
            (Some(2), rules::TOO_LONG)
        );
        let fits = format!("INSERT INTO t VALUES('{}');", "x".repeat(99_000));
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        load_from(&mut c, fits.as_bytes(), Finish::Commit).unwrap();
    }

    #[test]
    fn a_failing_statement_rolls_back_everything_and_names_its_number() {
        let mut c = Connection::open_in_memory().unwrap();
        let sql = "CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\nINSERT INTO nope VALUES(2);";
        let e = load_from(&mut c, sql.as_bytes(), Finish::Commit).unwrap_err();
        assert_eq!(e.statement, Some(3));
        assert_eq!(e.message, "no such table: nope: SQLITE_ERROR");
        let n: i64 = c
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn totals_count_statements_and_rows_and_d1_rules_apply() {
        let mut c = Connection::open_in_memory().unwrap();
        let sql = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(x);\n\
                   INSERT INTO t VALUES(1);\nINSERT INTO t VALUES(2);";
        let t = load_from(&mut c, sql.as_bytes(), Finish::Commit).unwrap();
        assert_eq!((t.statements, t.rows_written, t.last_row_id), (4, 2, 2));
        let e = load_from(&mut c, "BEGIN;".as_bytes(), Finish::Commit).unwrap_err();
        assert_eq!(e.message, rules::TRANSACTION_REFUSED);
        let lost = load_from(
            &mut c,
            "INSERT INTO t VALUES(3);".as_bytes(),
            Finish::RollbackAndPretend,
        )
        .unwrap();
        assert_eq!(lost.rows_written, 1);
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }
}
