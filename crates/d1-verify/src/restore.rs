//! The load loop: statements from the splitter go through the fast path when they are the
//! dump's plain INSERTs, and otherwise through a gate (only the kinds of statement a D1 dump or
//! `sqlite3 .dump` contains) to SQLite's own parser. The first failing statement ends the load
//! with its line, SQLite's message and the statement's start.

use crate::fastpath;
use crate::quirks::{Quirks, Warning};
use crate::sandbox::Denied;
use crate::split::{SplitError, Splitter};
use d1_core::{Error, Result};
use rusqlite::Connection;
use std::collections::HashMap;
use std::io::BufRead;

/// How much of a statement a FAIL line quotes.
const QUOTE_CHARS: usize = 200;

pub struct Settings {
    pub max_statement: usize,
    pub fast_path: bool,
}

#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub statements: u64,
    pub fast_rows: u64,
    pub bytes: u64,
}

/// What to do with a statement the fast path did not take.
enum Gate {
    Run,
    /// `BEGIN TRANSACTION;`/`COMMIT;` of `sqlite3 .dump`: the whole load is one transaction
    /// already, and a COMMIT from the dump must not end it.
    Skip,
    Refuse(String),
}

fn gate(text: &str) -> Gate {
    let first: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    match first.as_str() {
        "CREATE" | "INSERT" | "REPLACE" | "DELETE" | "ANALYZE" | "PRAGMA" => Gate::Run,
        "BEGIN" | "COMMIT" | "END" => {
            let words: Vec<String> = text
                .trim_end_matches(';')
                .split_whitespace()
                .map(str::to_ascii_uppercase)
                .collect();
            match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                [_] | [_, "TRANSACTION"] => Gate::Skip,
                _ => Gate::Refuse(format!(
                    "{first} with options is not part of a dump (only BEGIN/COMMIT [TRANSACTION])"
                )),
            }
        }
        "" => Gate::Refuse("not a SQL statement".into()),
        _ => Gate::Refuse(format!(
            "{first} statements are not allowed in a restore (a D1 dump has none; the dump is untrusted input)"
        )),
    }
}

/// The start of a statement for a one-line message.
pub fn quote_start(text: &str) -> String {
    let mut s: String = text.chars().take(QUOTE_CHARS).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    s.replace(['\n', '\r'], " ")
}

fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        // A syntax error: SQLite's message without rusqlite's copy of the statement.
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

/// Prepared INSERTs by their text up to `VALUES(` and value count; None when SQLite would
/// not prepare it (the statement then always takes the slow path, which reports the error).
type Cache<'c> = HashMap<Vec<u8>, Vec<(usize, Option<rusqlite::Statement<'c>>)>>;

/// Runs `text` through the fast path; false when it is not a plain INSERT or anything failed
/// (a failed INSERT was rolled back, and SQLite's parser then gives the canonical error).
fn try_fast<'c>(conn: &'c Connection, denied: &Denied, cache: &mut Cache<'c>, text: &str) -> bool {
    let Some(ins) = fastpath::parse(text) else {
        return false;
    };
    let n = ins.values.len();
    if !cache.contains_key(ins.head.as_bytes()) {
        cache.insert(ins.head.as_bytes().to_vec(), Vec::new());
    }
    let Some(slot) = cache.get_mut(ins.head.as_bytes()) else {
        return false;
    };
    let idx = match slot.iter().position(|(k, _)| *k == n) {
        Some(i) => i,
        None => {
            let prepared = conn.prepare(&ins.prepared_sql()).ok();
            slot.push((n, prepared));
            slot.len() - 1
        }
    };
    let ok = match slot[idx].1.as_mut() {
        Some(stmt) => fastpath::execute(stmt, &ins.values).is_ok(),
        None => false,
    };
    if !ok {
        // A denial is reported by the slow path when it meets it again.
        let _ = denied.take();
    }
    ok
}

/// Loads one SQL stream. `label` prefixes lines in messages (`line 7` or `schema line 7`).
#[allow(clippy::too_many_arguments)]
pub fn load(
    conn: &Connection,
    denied: &Denied,
    reader: Box<dyn BufRead>,
    label: &str,
    settings: &Settings,
    stats: &mut Stats,
    quirks: &mut Quirks,
    compat: &mut crate::compat::Compat,
    mut warn: impl FnMut(&Warning),
) -> Result<()> {
    let mut sp = Splitter::new(reader, settings.max_statement);
    let mut cache: Cache<'_> = HashMap::new();
    let mut progress = d1_core::msg::Progress::new();
    let start_bytes = stats.bytes;
    loop {
        if stats.statements.is_multiple_of(1024) {
            d1_core::signal::check()?;
            let b = start_bytes + sp.bytes();
            progress.update(|| format!("{label}: {} read", d1_core::msg::human_bytes(b)));
        }
        let st = match sp.next() {
            Ok(Some(st)) => st,
            Ok(None) => break,
            Err(SplitError::Io(e)) => {
                return Err(Error::io("reading the dump", e));
            }
            Err(SplitError::Incomplete { line }) => {
                return Err(Error::failed(format!(
                    "{label} {line}: incomplete statement at end of dump (truncated?)"
                )));
            }
            Err(SplitError::TooLong { line, max }) => {
                return Err(Error::failed(format!(
                    "{label} {line}: statement longer than {max} bytes (see --max-statement-bytes)"
                )));
            }
        };
        stats.statements += 1;
        let line = st.line;
        let text = std::str::from_utf8(st.text)
            .map_err(|_| Error::failed(format!("{label} {line}: statement is not valid UTF-8")))?;
        quirks.scan(st.text, line, &mut warn);
        // Before anything runs: what D1's import would refuse (a warning, or with
        // --d1-compat the failure, even for statements this restore skips or accepts).
        compat.scan(text, line, label)?;

        if settings.fast_path && try_fast(conn, denied, &mut cache, text) {
            stats.fast_rows += 1;
            continue;
        }

        match gate(text) {
            Gate::Skip => continue,
            Gate::Refuse(why) => {
                return Err(Error::failed(format!(
                    "{label} {line}: refused: {why}: {}",
                    quote_start(text)
                )));
            }
            Gate::Run => {}
        }
        let run = || -> rusqlite::Result<()> {
            let mut s = conn.prepare(text)?;
            let mut rows = s.raw_query();
            while rows.next()?.is_some() {}
            Ok(())
        };
        if let Err(e) = run() {
            let msg = match denied.take() {
                Some(why) => format!("refused: {why}"),
                None => compat.explain_failure(sqlite_message(&e), line, label),
            };
            return Err(Error::failed(format!(
                "{label} {line}: {msg}: {}",
                quote_start(text)
            )));
        }
    }
    stats.bytes = start_bytes + sp.bytes();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_dump_statements_through_and_refuses_the_rest() {
        for ok in [
            "CREATE TABLE t(a);",
            "insert into t values(1);",
            "PRAGMA foreign_keys=OFF;",
            "DELETE FROM sqlite_sequence;",
            "ANALYZE sqlite_schema;",
        ] {
            assert!(matches!(gate(ok), Gate::Run), "{ok}");
        }
        for skip in [
            "BEGIN TRANSACTION;",
            "COMMIT;",
            "begin;",
            "END TRANSACTION;",
        ] {
            assert!(matches!(gate(skip), Gate::Skip), "{skip}");
        }
        for bad in [
            "ATTACH 'x' AS y;",
            "VACUUM INTO '/tmp/x';",
            "DETACH y;",
            "SELECT 1;",
            "ROLLBACK;",
            "BEGIN IMMEDIATE;",
            "UPDATE t SET a=1;",
        ] {
            assert!(matches!(gate(bad), Gate::Refuse(_)), "{bad}");
        }
    }

    #[test]
    fn a_long_statement_is_quoted_by_its_first_200_characters_on_one_line() {
        let q = quote_start(&format!("INSERT\nINTO t VALUES('{}');", "é".repeat(500)));
        assert!(q.starts_with("INSERT INTO t VALUES('é"));
        assert_eq!(q.chars().count(), 203);
    }
}
