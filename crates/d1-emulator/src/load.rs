//! The import's loader: runs an uploaded SQL file into a database in one transaction on its own
//! connection, streaming the file statement by statement (a 1 GB dump is never held in memory),
//! under the same D1 rules as the query endpoint (`rules`). All or nothing: any failure, the
//! deferred foreign-key check at COMMIT included, rolls the whole file back.
//!
//! The query endpoint's `query::run` renders every statement's rows and meta as JSON for the
//! answer; an import answers only totals, and doing that work per INSERT made a 40 MB import
//! take minutes. Here each statement is prepared, stepped and counted, nothing more, which is
//! what `sqlite3 FILE '.read dump'` does inside a transaction.

use crate::dbs;
use crate::query::Totals;
use crate::rules;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection};
use std::io::Read;
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
    mut input: impl Read,
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
    let mut split = Splitter::default();
    let mut chunk = vec![0u8; CHUNK];
    let outcome = (|| {
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(whole(format!("reading the upload: {e}"))),
            };
            split.push(&chunk[..n], |stmt| run.piece(stmt))?;
        }
        split.finish(|stmt| run.piece(stmt))
    })();
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
    /// Runs one piece of text ending at a statement boundary (normally one statement; comments
    /// and whitespace run as nothing).
    fn piece(&mut self, text: &[u8]) -> Result<(), LoadError> {
        let at = self.totals.statements + 1;
        let fail = |message: String| LoadError {
            statement: Some(at),
            message,
        };
        let sql =
            std::str::from_utf8(text).map_err(|_| fail("the file is not UTF-8 text".into()))?;
        if sql.trim_start().len() > rules::MAX_STATEMENT_BYTES {
            return Err(fail(rules::TOO_LONG.to_string()));
        }
        let mut batch = Batch::new(self.tx, sql);
        while let Some(mut stmt) = batch.next().map_err(|e| fail(self.guard.message(&e)))? {
            let readonly = stmt.readonly();
            let mut rows = stmt.raw_query();
            while rows
                .next()
                .map_err(|e| fail(self.guard.message(&e)))?
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

/// Where the scanner is: statement text, or inside a literal, quoted name or comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Lex {
    #[default]
    Normal,
    /// Inside '...', "...", `...` or [...]: until this closing byte.
    Quoted(u8),
    LineComment,
    BlockComment,
}

/// Cuts a byte stream into statements: at each `;` outside literals, quoted names and comments,
/// except inside a `CREATE TRIGGER ... BEGIN ... END;` body, where SQLite's `sqlite3_complete`
/// (what its shell uses for the same job) has the last word.
#[derive(Default)]
struct Splitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    lex: Lex,
}

impl Splitter {
    fn push<E>(
        &mut self,
        bytes: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let c = self.buf[i];
            match self.lex {
                Lex::Normal => match c {
                    b'\'' | b'"' | b'`' => self.lex = Lex::Quoted(c),
                    b'[' => self.lex = Lex::Quoted(b']'),
                    b'-' if self.buf.get(i + 1) == Some(&b'-') => {
                        self.lex = Lex::LineComment;
                        i += 1;
                    }
                    b'/' if self.buf.get(i + 1) == Some(&b'*') => {
                        self.lex = Lex::BlockComment;
                        i += 1;
                    }
                    // A `-` or `/` as the last byte read: decide when the next chunk comes.
                    b'-' | b'/' if i + 1 == self.buf.len() => break,
                    b';' if complete(&self.buf[start..=i]) => {
                        emit(&self.buf[start..=i])?;
                        start = i + 1;
                    }
                    _ => {}
                },
                Lex::Quoted(end) => {
                    if c == end {
                        self.lex = Lex::Normal;
                    }
                }
                Lex::LineComment => {
                    if c == b'\n' {
                        self.lex = Lex::Normal;
                    }
                }
                Lex::BlockComment => {
                    if c == b'*' && self.buf.get(i + 1) == Some(&b'/') {
                        self.lex = Lex::Normal;
                        i += 1;
                    } else if c == b'*' && i + 1 == self.buf.len() {
                        break;
                    }
                }
            }
            i += 1;
        }
        self.buf.drain(..start);
        self.scanned = i - start;
        Ok(())
    }

    /// The text after the last `;` (a last statement without one, or only whitespace).
    fn finish<E>(mut self, mut emit: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let rest = std::mem::take(&mut self.buf);
        if rest.iter().any(|b| !b.is_ascii_whitespace()) {
            emit(&rest)?;
        }
        Ok(())
    }
}

/// `text` after leading whitespace and comments.
fn skip_blanks(mut text: &[u8]) -> &[u8] {
    loop {
        let t = text.trim_ascii_start();
        if let Some(rest) = t.strip_prefix(b"--") {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |p| p + 1);
            text = &rest[end..];
        } else if let Some(rest) = t.strip_prefix(b"/*") {
            let end = rest
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2);
            text = &rest[end..];
        } else {
            return t;
        }
    }
}

/// Whether `text` (ending with `;`) is a complete statement. Only a statement that starts with
/// CREATE can be a trigger whose body goes on after this `;`.
fn complete(text: &[u8]) -> bool {
    if !skip_blanks(text)
        .get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case(b"create"))
    {
        return true;
    }
    match std::ffi::CString::new(text) {
        // SAFETY: a NUL-terminated string that lives for the call; sqlite3_complete only reads it.
        Ok(c) => unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 },
        // A NUL byte in the text: let SQLite refuse the statement.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, chunk: usize) -> Vec<String> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for c in text.as_bytes().chunks(chunk) {
            s.push::<()>(c, |t| {
                out.push(String::from_utf8(t.to_vec()).unwrap().trim().to_string());
                Ok(())
            })
            .unwrap();
        }
        s.finish::<()>(|t| {
            out.push(String::from_utf8(t.to_vec()).unwrap().trim().to_string());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn statements_split_at_semicolons_outside_literals_comments_and_trigger_bodies() {
        let sql = "CREATE TABLE \"a;b\" (x);\nINSERT INTO \"a;b\" VALUES('x;''y');\n\
                   -- a comment; still\n/* block; */INSERT INTO [a;b] VALUES(1);\n\
                   /* c */ CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; SELECT 2; END;\nSELECT 3";
        for chunk in [1, 2, 3, 7, 1000] {
            let got = split(sql, chunk);
            assert_eq!(got.len(), 5, "chunk {chunk}: {got:?}");
            assert_eq!(got[1], "INSERT INTO \"a;b\" VALUES('x;''y');");
            assert!(got[2].ends_with("INSERT INTO [a;b] VALUES(1);"), "{got:?}");
            assert!(got[3].starts_with("/* c */ CREATE TRIGGER") && got[3].ends_with("END;"));
            assert_eq!(got[4], "SELECT 3");
        }
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
