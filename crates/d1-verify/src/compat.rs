//! D1 compatibility (issue 10): statements SQLite restores but D1's import refuses, found in
//! the dump's text as it streams past, each with its line (docs/sharp-edges.md):
//!
//! - transaction control (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`): D1 runs
//!   the whole import in one transaction of its own and refuses them (`sqlite3 .dump` writes
//!   `BEGIN TRANSACTION;`/`COMMIT;`);
//! - creating or writing a `_cf_` table: the prefix is reserved for Cloudflare (`_cf_KV`,
//!   `_cf_METADATA`, which a `.dump` of a local wrangler database carries);
//! - a statement over D1's limit of 100 000 bytes (a row with a large blob), counted as D1
//!   counts it: with the newline before it (d1-sql's importable.rs);
//! - an INSERT into a table whose foreign key names a table created later in the dump: D1
//!   enforces foreign keys during an import (deferred, but the parent table must exist), so it
//!   fails there with `no such table: main.<parent>`, while this restore, with foreign keys off
//!   and checked at the end, would pass;
//! - an INSERT into a table not created yet: SQLite fails it here too; the message says that D1
//!   would refuse it as well.
//!
//! Without `--d1-compat` each is a warning (stderr and `--json`'s `d1_compat`); with it the
//! first one fails the dump: `line N: will not import into D1: <why>`. Each says whether
//! d1-import's rewrite fixes it (d1-sql's importable.rs: transaction control but ROLLBACK
//! dropped, long INSERTs split), or not.

use crate::excerpt::quote_start;
use d1_core::{Error, Result};
use d1_sql::importable::{self, Transaction};
use d1_sql::lex::{self, Kind as Token};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

pub use d1_sql::importable::MAX_STATEMENT_BYTES;

const CANNOT_FIX: &str = "; d1-import cannot fix this";

/// Findings of one kind shown (stderr, JSON) before the rest are only counted.
const SHOWN_PER_KIND: u64 = 5;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    TransactionControl,
    ReservedTable,
    TooLong,
    InsertBeforeParent,
    MissingTable,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::TransactionControl => "transaction-control",
            Kind::ReservedTable => "reserved-cf-table",
            Kind::TooLong => "statement-too-long",
            Kind::InsertBeforeParent => "insert-before-parent-table",
            Kind::MissingTable => "no-such-table",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    /// `line` or `schema FILE line`, as in other messages.
    pub label: String,
    pub line: u64,
    pub kind: Kind,
    pub why: String,
    /// d1-import's rewrite makes D1 take it.
    pub fixed_by_import: bool,
}

impl Finding {
    /// `line 7: will not import into D1: <why>`.
    pub fn message(&self) -> String {
        format!(
            "{} {}: will not import into D1: {}",
            self.label, self.line, self.why
        )
    }
}

/// The state of one dump's check: which tables exist so far, which foreign keys they declare.
#[derive(Default)]
pub struct Compat {
    /// `--d1-compat`: the first finding fails the dump.
    enforce: bool,
    path: String,
    /// Tables created so far, lowercased (SQLite names are case-insensitive).
    created: HashSet<String>,
    /// Child table (lowercased) to the tables its foreign keys name.
    parents: HashMap<String, Vec<String>>,
    /// Tables already judged (first INSERT for foreign keys, first write for `_cf_`).
    seen: HashSet<String>,
    pub shown: Vec<Finding>,
    counts: Vec<(Kind, u64)>,
    /// Findings d1-import does not fix.
    unfixable: u64,
    /// The table of the previous plain INSERT: a dump's rows come table by table, and every
    /// judgement of a write is once per table, so the next row of it needs no look.
    last_insert: String,
}

impl Compat {
    pub fn new(path: &str, enforce: bool) -> Compat {
        Compat {
            enforce,
            path: path.to_string(),
            ..Compat::default()
        }
    }

    /// Judges one statement before it runs. With `--d1-compat` a finding is an error naming
    /// the line; otherwise it is recorded and warned about.
    pub fn scan(&mut self, text: &str, line: u64, label: &str) -> Result<()> {
        let Some((kind, why, fixed_by_import)) = self.judge(text, line == 1) else {
            return Ok(());
        };
        let f = Finding {
            label: label.to_string(),
            line,
            kind,
            why,
            fixed_by_import,
        };
        if self.enforce {
            let message = format!("{}: {}", f.message(), quote_start(text));
            self.record(f, false);
            return Err(Error::failed(message));
        }
        self.record(f, true);
        Ok(())
    }

    /// SQLite's failure of a statement, reworded when D1 would refuse it too.
    pub fn explain_failure(&mut self, message: String, line: u64, label: &str) -> String {
        if !message.starts_with("no such table:") {
            return message;
        }
        let why = format!("{message} (the dump uses the table before creating it)");
        let f = Finding {
            label: label.to_string(),
            line,
            kind: Kind::MissingTable,
            why: why.clone(),
            fixed_by_import: false,
        };
        self.record(f, false);
        if self.enforce {
            format!("will not import into D1: {why}")
        } else {
            format!("{message} (D1's import refuses it too)")
        }
    }

    fn record(&mut self, f: Finding, warn: bool) {
        self.unfixable += u64::from(!f.fixed_by_import);
        let n = match self.counts.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((f.kind, 1));
                1
            }
        };
        if n > SHOWN_PER_KIND {
            return;
        }
        if warn {
            d1_core::msg::warn(&format!("{} {}", self.path, f.message()));
        }
        self.shown.push(f);
    }

    /// After the load: how many findings of each kind were not shown.
    pub fn finish(&self) {
        for (kind, n) in &self.counts {
            if *n > SHOWN_PER_KIND && !self.enforce {
                d1_core::msg::warn(&format!(
                    "{}: {} more {} finding(s) not shown (will not import into D1)",
                    self.path,
                    n - SHOWN_PER_KIND,
                    kind.name()
                ));
            }
        }
    }

    /// `d1_compat` in `--json`.
    pub fn to_json(&self) -> Value {
        json!({
            "importable": self.counts.is_empty(),
            "importable_with_d1_import": self.unfixable == 0,
            "findings": self.shown.iter().map(|f| json!({
                "line": f.line,
                "in": f.label.strip_suffix(" line").unwrap_or("dump"),
                "kind": f.kind.name(),
                "message": format!("will not import into D1: {}", f.why),
                "fixed_by_d1_import": f.fixed_by_import,
            })).collect::<Vec<_>>(),
            "counts": self.counts.iter().map(|(k, n)| (k.name().to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    /// What D1 refuses in `text` (the dump's `first` statement or a later one), and whether
    /// d1-import fixes it.
    fn judge(&mut self, text: &str, first: bool) -> Option<(Kind, String, bool)> {
        if importable::too_long(text.len(), first) {
            let (fix, fixed) = match importable::split(text) {
                Ok(parts) => (
                    format!(
                        "; d1-import splits it into {} statements under it",
                        parts.len()
                    ),
                    true,
                ),
                Err(why) => (format!("; d1-import cannot split it: {why}"), false),
            };
            return Some((
                Kind::TooLong,
                format!(
                    "the statement is {}, over D1's limit of {MAX_STATEMENT_BYTES} bytes per \
                     statement (SQLITE_TOOBIG){fix}",
                    importable::size(text.len())
                ),
                fixed,
            ));
        }
        if let Some(table) = plain_insert_target(text) {
            if table == self.last_insert {
                return None;
            }
            self.last_insert = table.to_string();
            return self
                .reserved(table, "writes")
                .or_else(|| self.insert_before_parent(table))
                .map(cannot_fix);
        }
        self.last_insert.clear();
        // Enough tokens to reach the table name of any write; CREATE TABLE reads all of them
        // for its foreign keys (and is short).
        let head = tokens(text, 12);
        let word = |i: usize| head.get(i).map(Tok::upper).unwrap_or_default();
        if let Some((_, what)) = importable::transaction(text.as_bytes()) {
            let shown = text.trim_end_matches(';').split_whitespace().take(3);
            let fix = match what {
                Transaction::Drop => "; d1-import drops it",
                Transaction::Refuse => {
                    "; d1-import refuses it too: it undoes what the dump wrote before it"
                }
            };
            return Some((
                Kind::TransactionControl,
                format!(
                    "{} is transaction control, which D1 refuses (its import runs the whole \
                     file as one transaction of its own){fix}",
                    shown.collect::<Vec<_>>().join(" ")
                ),
                what == Transaction::Drop,
            ));
        }
        let first = word(0);
        let found = match first.as_str() {
            "CREATE" => self.create(text, &head),
            "INSERT" | "REPLACE" => {
                let table = write_target(&head)?;
                self.reserved(&table, "writes")
                    .or_else(|| self.insert_before_parent(&table))
            }
            "UPDATE" | "DELETE" | "DROP" | "ALTER" => {
                let table = write_target(&head)?;
                self.reserved(&table, "writes")
            }
            _ => None,
        };
        found.map(cannot_fix)
    }

    fn create(&mut self, text: &str, head: &[Tok]) -> Option<(Kind, String)> {
        let mut p = Parser { t: head, i: 1 };
        p.skip(&["TEMP", "TEMPORARY", "UNIQUE", "VIRTUAL"]);
        let what = p.word()?;
        p.if_not_exists();
        let name = p.name()?;
        match what.as_str() {
            "TABLE" => {
                let key = name.to_ascii_lowercase();
                self.created.insert(key.clone());
                let all = tokens(text, usize::MAX);
                let refs: Vec<String> = all
                    .windows(2)
                    .filter(|w| w[0].upper() == "REFERENCES")
                    .filter_map(|w| w[1].name().map(str::to_string))
                    .filter(|p| !p.eq_ignore_ascii_case(&name))
                    .collect();
                if !refs.is_empty() {
                    self.parents.insert(key, refs);
                }
                reserved_name(&name).then(|| reserved_why(&name, "creates"))
            }
            "INDEX" | "TRIGGER" => {
                if reserved_name(&name) {
                    return Some(reserved_why(&name, "creates"));
                }
                // The table it is on: after the first ON (`UPDATE OF a, b ON t` included).
                let all = tokens(text, usize::MAX);
                let on = all.iter().position(|t| t.upper() == "ON")?;
                let table = Parser { t: &all, i: on + 1 }.name()?;
                reserved_name(&table).then(|| {
                    (
                        Kind::ReservedTable,
                        format!(
                            "it creates {} {name} on table {table}; names starting with _cf_ are \
                             reserved for Cloudflare (D1 answers not authorized: SQLITE_AUTH)",
                            what.to_ascii_lowercase()
                        ),
                    )
                })
            }
            "VIEW" => reserved_name(&name).then(|| reserved_why(&name, "creates")),
            _ => None,
        }
    }

    /// A `_cf_` table, judged once per table.
    fn reserved(&mut self, table: &str, verb: &str) -> Option<(Kind, String)> {
        if !reserved_name(table)
            || !self
                .seen
                .insert(format!("cf:{}", table.to_ascii_lowercase()))
        {
            return None;
        }
        Some(reserved_why(table, verb))
    }

    /// The first INSERT into a table whose foreign keys name a table not created yet.
    fn insert_before_parent(&mut self, table: &str) -> Option<(Kind, String)> {
        let key = table.to_ascii_lowercase();
        let parents = self.parents.get(&key)?;
        if !self.seen.insert(format!("fk:{key}")) {
            return None;
        }
        let missing = parents
            .iter()
            .find(|p| !self.created.contains(&p.to_ascii_lowercase()))?;
        Some((
            Kind::InsertBeforeParent,
            format!(
                "INSERT into {table} before its foreign key's parent table {missing} is created: \
                 D1 enforces foreign keys during an import and fails here with \"no such table: \
                 main.{missing}\" (create parent tables before the rows that reference them)"
            ),
        ))
    }
}

/// A finding d1-import leaves as it is.
fn cannot_fix((kind, why): (Kind, String)) -> (Kind, String, bool) {
    (kind, format!("{why}{CANNOT_FIX}"), false)
}

/// The table of `INSERT INTO "t" ...` or `INSERT INTO t ...`, the form of every row of a
/// dump, without tokenizing; `None` for anything else (a doubled quote, a schema prefix).
fn plain_insert_target(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("INSERT INTO ")?;
    let (name, after) = match rest.strip_prefix('"') {
        Some(q) => {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        }
        None => {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
    };
    let next = after.chars().next()?;
    (!name.is_empty() && (next == ' ' || next == '(')).then_some(name)
}

fn reserved_name(name: &str) -> bool {
    name.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"_cf_"))
}

fn reserved_why(name: &str, verb: &str) -> (Kind, String) {
    (
        Kind::ReservedTable,
        format!(
            "it {verb} table {name}; names starting with _cf_ are reserved for Cloudflare \
             (D1 answers not authorized: SQLITE_AUTH)"
        ),
    )
}

/// The table an INSERT, REPLACE, UPDATE, DELETE, DROP TABLE or ALTER TABLE writes.
fn write_target(head: &[Tok]) -> Option<String> {
    let mut p = Parser { t: head, i: 0 };
    match p.word()?.as_str() {
        "INSERT" => {
            if p.peek_upper() == "OR" {
                p.i += 2;
            }
            p.expect("INTO")?;
        }
        "REPLACE" => p.expect("INTO")?,
        "UPDATE" => {
            if p.peek_upper() == "OR" {
                p.i += 2;
            }
        }
        "DELETE" => p.expect("FROM")?,
        "DROP" => {
            p.expect("TABLE")?;
            if p.peek_upper() == "IF" {
                p.i += 2;
            }
        }
        "ALTER" => p.expect("TABLE")?,
        _ => return None,
    }
    p.name()
}

/// A token of SQL, as far as finding names needs: words, quoted identifiers, strings, and
/// single punctuation characters.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str,
    Punct(char),
}

impl Tok {
    fn upper(&self) -> String {
        match self {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => String::new(),
        }
    }
    fn name(&self) -> Option<&str> {
        match self {
            Tok::Word(w) | Tok::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek_upper(&self) -> String {
        self.t.get(self.i).map(Tok::upper).unwrap_or_default()
    }
    fn word(&mut self) -> Option<String> {
        let w = self.peek_upper();
        (!w.is_empty()).then(|| {
            self.i += 1;
            w
        })
    }
    fn expect(&mut self, w: &str) -> Option<()> {
        (self.word()? == w).then_some(())
    }
    fn skip(&mut self, words: &[&str]) {
        while words.contains(&self.peek_upper().as_str()) {
            self.i += 1;
        }
    }
    fn if_not_exists(&mut self) {
        if self.peek_upper() == "IF" {
            self.i += 3;
        }
    }
    /// `name` or `schema.name`: the name.
    fn name(&mut self) -> Option<String> {
        let first = self.t.get(self.i)?.name()?.to_string();
        self.i += 1;
        if self.t.get(self.i) == Some(&Tok::Punct('.')) {
            let second = self.t.get(self.i + 1)?.name()?.to_string();
            self.i += 2;
            return Some(second);
        }
        Some(first)
    }
}

/// The first `limit` tokens of `sql`, skipping whitespace and comments (lex.rs's tokens, as
/// far as finding names needs them).
fn tokens(sql: &str, limit: usize) -> Vec<Tok> {
    let s = sql.as_bytes();
    lex::tokens(s)
        .filter(|t| !t.kind.is_trivia())
        .take(limit)
        .map(|t| match t.kind {
            // Numbers too: a name never follows one, and `1abc` is a word to SQLite's eye.
            Token::Word | Token::Number => Tok::Word(sql[t.start..t.end].to_string()),
            Token::Quoted => Tok::Quoted(String::from_utf8_lossy(&t.unquoted(s)).into_owned()),
            Token::Str | Token::Blob => Tok::Str,
            // A single ASCII byte (bytes from 0x80 are word characters).
            _ => Tok::Punct(char::from(s[t.start])),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &[&str]) -> Vec<(u64, Kind)> {
        let mut c = Compat::new("d.sql", false);
        for (n, s) in sql.iter().enumerate() {
            c.scan(s, n as u64 + 1, "line").unwrap();
        }
        c.shown.iter().map(|f| (f.line, f.kind)).collect()
    }

    #[test]
    fn a_d1_dump_passes() {
        assert_eq!(
            kinds(&[
                "PRAGMA defer_foreign_keys=TRUE;",
                "CREATE TABLE \"parent\" (id INTEGER PRIMARY KEY);",
                "INSERT INTO \"parent\" (\"id\") VALUES(1);",
                "CREATE TABLE child(id, p REFERENCES \"parent\"(id), q REFERENCES child(id));",
                "INSERT INTO \"child\" (\"id\",\"p\",\"q\") VALUES(1,1,NULL);",
                "DELETE FROM sqlite_sequence;",
                "CREATE INDEX i ON child(p);",
                "CREATE TRIGGER tr AFTER UPDATE OF p ON child BEGIN DELETE FROM parent; END;",
            ]),
            vec![]
        );
    }

    #[test]
    fn transaction_control_in_any_form_is_found() {
        for s in [
            "BEGIN TRANSACTION;",
            "COMMIT;",
            "end;",
            "ROLLBACK TO x;",
            "SAVEPOINT x;",
            "RELEASE x;",
        ] {
            assert_eq!(kinds(&[s]), vec![(1, Kind::TransactionControl)], "{s}");
        }
    }

    #[test]
    fn cf_tables_are_found_when_created_or_written_once_per_table() {
        let found = kinds(&[
            "CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB);",
            "INSERT INTO \"_cf_KV\" VALUES('a', X'00');",
            "INSERT INTO \"_cf_KV\" VALUES('b', X'00');",
            "INSERT OR REPLACE INTO main.[_CF_meta] VALUES(1);",
            "CREATE INDEX ok ON \"_cf_KV\"(value);",
            "SELECT * FROM _cf_KV;",
        ]);
        assert_eq!(
            found,
            vec![
                (1, Kind::ReservedTable),
                (2, Kind::ReservedTable),
                (4, Kind::ReservedTable),
                (5, Kind::ReservedTable)
            ]
        );
    }

    #[test]
    fn an_insert_before_its_parent_table_is_created_is_found_once() {
        let found = kinds(&[
            "CREATE TABLE child(id INTEGER PRIMARY KEY, pid INTEGER, FOREIGN KEY (pid) REFERENCES \"Parent\"(id));",
            "INSERT INTO child VALUES(1, 1);",
            "INSERT INTO child VALUES(2, 1);",
            "CREATE TABLE parent(id INTEGER PRIMARY KEY);",
            "INSERT INTO parent VALUES(1);",
        ]);
        assert_eq!(found, vec![(2, Kind::InsertBeforeParent)]);
    }

    #[test]
    fn a_statement_over_100000_bytes_is_found() {
        let big = format!("INSERT INTO t VALUES('{}');", "x".repeat(100_000));
        let ok = format!(
            "INSERT INTO t VALUES('{}');",
            "x".repeat(MAX_STATEMENT_BYTES - 25)
        );
        assert_eq!(ok.len(), MAX_STATEMENT_BYTES);
        assert_eq!(kinds(&[&ok, &big]), vec![(2, Kind::TooLong)]);
    }

    #[test]
    fn the_newline_before_a_statement_counts_toward_the_limit_as_d1_counts_it() {
        let at = format!(
            "INSERT INTO t VALUES('{}');",
            "x".repeat(MAX_STATEMENT_BYTES - 25)
        );
        assert_eq!(kinds(&[&at]), vec![], "first: nothing before it");
        assert_eq!(kinds(&["SELECT 1;", &at]), vec![(2, Kind::TooLong)]);
        let mut c = Compat::new("d.sql", false);
        c.scan("SELECT 1;", 1, "line").unwrap();
        c.scan(&at, 2, "line").unwrap();
        assert!(c.shown[0].why.starts_with(
            "the statement is 100000 bytes (100001 with the newline before it, which D1 \
             counts), over D1's limit"
        ));
    }

    #[test]
    fn each_finding_says_whether_d1_import_fixes_it() {
        let mut c = Compat::new("d.sql", false);
        let long = format!(
            "INSERT INTO t VALUES('{}');",
            "x".repeat(MAX_STATEMENT_BYTES)
        );
        let trigger = format!("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT '{long}'; END;");
        for (n, s) in ["BEGIN;", "CREATE TABLE t(a);", &long, "COMMIT;"]
            .iter()
            .enumerate()
        {
            c.scan(s, n as u64 + 1, "line").unwrap();
        }
        assert_eq!(c.to_json()["importable"], false);
        assert_eq!(c.to_json()["importable_with_d1_import"], true);
        assert!(c.shown[1]
            .why
            .ends_with("; d1-import splits it into 6 statements under it"));
        for s in [
            "ROLLBACK;",
            "INSERT INTO _cf_KV VALUES(1);",
            trigger.as_str(),
        ] {
            let mut c = Compat::new("d.sql", false);
            c.scan(s, 2, "line").unwrap();
            let v = c.to_json();
            assert_eq!(v["importable_with_d1_import"], false, "{s:.40}");
            assert_eq!(v["findings"][0]["fixed_by_d1_import"], false);
        }
        let mut c = Compat::new("d.sql", false);
        c.scan(&trigger, 2, "line").unwrap();
        assert!(c.shown[0].why.ends_with(
            "; d1-import cannot split it: d1-import splits only INSERTs of values, not CREATE \
             statements"
        ));
    }

    #[test]
    fn with_d1_compat_the_first_finding_is_an_error_naming_the_line() {
        let mut c = Compat::new("d.sql", true);
        c.scan("CREATE TABLE t(a);", 1, "line").unwrap();
        let e = c.scan("BEGIN TRANSACTION;", 2, "line").unwrap_err();
        assert_eq!(
            e.message,
            "line 2: will not import into D1: BEGIN TRANSACTION is transaction control, which D1 \
             refuses (its import runs the whole file as one transaction of its own); d1-import \
             drops it: BEGIN TRANSACTION;"
        );
    }

    #[test]
    fn no_such_table_says_d1_refuses_it_too() {
        let mut c = Compat::new("d.sql", false);
        assert_eq!(
            c.explain_failure("no such table: later".into(), 3, "line"),
            "no such table: later (D1's import refuses it too)"
        );
        let mut c = Compat::new("d.sql", true);
        assert_eq!(
            c.explain_failure("no such table: later".into(), 3, "line"),
            "will not import into D1: no such table: later (the dump uses the table before creating it)"
        );
        assert_eq!(
            c.explain_failure("UNIQUE constraint failed: t.a".into(), 4, "line"),
            "UNIQUE constraint failed: t.a"
        );
    }

    #[test]
    fn plain_inserts_are_read_without_tokenizing_and_odd_ones_fall_back() {
        assert_eq!(
            plain_insert_target("INSERT INTO \"t x\" (\"a\") VALUES(1);"),
            Some("t x")
        );
        assert_eq!(plain_insert_target("INSERT INTO t VALUES(1);"), Some("t"));
        assert_eq!(
            plain_insert_target("INSERT INTO t(a) VALUES(1);"),
            Some("t")
        );
        assert_eq!(
            plain_insert_target("INSERT INTO \"a\"\"b\" VALUES(1);"),
            None
        );
        assert_eq!(plain_insert_target("INSERT INTO main.t VALUES(1);"), None);
        assert_eq!(plain_insert_target("insert into t values(1);"), None);
        // The fallback finds the same tables.
        assert_eq!(
            kinds(&[
                "INSERT INTO main.\"_cf_KV\" VALUES(1);",
                "insert into _cf_x values(1);"
            ]),
            vec![(1, Kind::ReservedTable), (2, Kind::ReservedTable)]
        );
    }

    #[test]
    fn comments_and_quotes_do_not_hide_names() {
        assert_eq!(
            tokens("INSERT /* x */ INTO -- y\n \"a\"\"b\" VALUES('it''s')", 10),
            vec![
                Tok::Word("INSERT".into()),
                Tok::Word("INTO".into()),
                Tok::Quoted("a\"b".into()),
                Tok::Word("VALUES".into()),
                Tok::Punct('('),
                Tok::Str,
                Tok::Punct(')'),
            ]
        );
    }
}
