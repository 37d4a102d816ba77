//! The statement shapes a restore runs: what D1 dumps and `sqlite3 .dump` contain, and nothing
//! else, judged from the tokens before SQLite sees the statement. A dump is untrusted input;
//! a shape no dump has (`INSERT ... SELECT` over a six-way cross join, `CREATE TABLE ... AS
//! SELECT`) is refused before it can run (issue 17). What runs is still bounded by the
//! sandbox's authorizer (sandbox.rs) and the CPU and memory budget (limits.rs), which also
//! cover trigger bodies, which run later.
//!
//! D1's dump (docs/d1-emulator.md, "Dump format") holds `PRAGMA defer_foreign_keys=TRUE;`, `CREATE
//! TABLE/INDEX/TRIGGER/VIEW`, `INSERT INTO "t" [("c",...)] VALUES(...);`, `DELETE FROM
//! sqlite_sequence;` and `ANALYZE sqlite_schema;`. `sqlite3 .dump` adds `PRAGMA foreign_keys=OFF;`,
//! `BEGIN TRANSACTION;` and `COMMIT;`.

use d1_sql::lex::{self, Kind, Token};

/// What to do with a statement the fast path did not take.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Run,
    /// `BEGIN TRANSACTION;`/`COMMIT;` of `sqlite3 .dump`: the whole load is one transaction
    /// already, and a COMMIT from the dump must not end it.
    Skip,
    Refuse(String),
}

/// The statement's tokens without space and comments.
struct Words<'a> {
    s: &'a [u8],
    t: Vec<Token>,
}

impl Words<'_> {
    fn upper(&self, i: usize) -> String {
        match self.t.get(i) {
            Some(t) if t.kind == Kind::Word => {
                String::from_utf8_lossy(t.text(self.s)).to_ascii_uppercase()
            }
            _ => String::new(),
        }
    }
    fn is(&self, i: usize, kind: Kind) -> bool {
        self.t.get(i).is_some_and(|t| t.kind == kind)
    }
    fn punct(&self, i: usize, c: u8) -> bool {
        self.t
            .get(i)
            .is_some_and(|t| t.kind == Kind::Punct && self.s[t.start] == c)
    }
    fn is_name(&self, i: usize) -> bool {
        self.is(i, Kind::Word) || self.is(i, Kind::Quoted) || self.is(i, Kind::Str)
    }
    /// `name` or `schema.name` at `i`: the index after it.
    fn name(&self, i: usize) -> Option<usize> {
        if !self.is_name(i) {
            return None;
        }
        if self.punct(i + 1, b'.') {
            return self.is_name(i + 2).then_some(i + 3);
        }
        Some(i + 1)
    }
    /// Whether a word appears anywhere from `i` on (outside strings and quoted names).
    fn any_word(&self, from: usize, w: &str) -> bool {
        (from..self.t.len()).any(|i| self.upper(i) == w)
    }
    /// Whether a word appears outside parentheses from `i` on.
    fn top_level_word(&self, from: usize, w: &str) -> bool {
        let mut depth = 0i64;
        for i in from..self.t.len() {
            if self.punct(i, b'(') {
                depth += 1;
            } else if self.punct(i, b')') {
                depth -= 1;
            } else if depth == 0 && self.upper(i) == w {
                return true;
            }
        }
        false
    }
}

/// Judges one statement (its text, ending with `;`).
pub fn gate(text: &str) -> Gate {
    let s = text.as_bytes();
    let w = Words {
        s,
        t: lex::tokens(s).filter(|t| !t.kind.is_trivia()).collect(),
    };
    let first = w.upper(0);
    let refuse = |why: &str| Gate::Refuse(why.to_string());
    match first.as_str() {
        "CREATE" => {
            let mut i = 1;
            while matches!(
                w.upper(i).as_str(),
                "TEMP" | "TEMPORARY" | "UNIQUE" | "VIRTUAL"
            ) {
                i += 1;
            }
            match w.upper(i).as_str() {
                // Columns may be `AS (expr)` (generated); only a top-level AS makes the table
                // from a query.
                "TABLE" if w.top_level_word(i + 1, "AS") => refuse(
                    "CREATE TABLE ... AS SELECT is not part of a dump (a dump creates a table, \
                     then INSERTs its rows)",
                ),
                "TABLE" | "INDEX" | "TRIGGER" | "VIEW" => Gate::Run,
                other => Gate::Refuse(format!(
                    "CREATE {other} is not part of a dump (only TABLE, INDEX, TRIGGER, VIEW)"
                )),
            }
        }
        "INSERT" | "REPLACE" => insert(&w, &first),
        "DELETE" => {
            let target = if w.upper(1) == "FROM" {
                w.name(2)
            } else {
                None
            };
            let table = target.and_then(|end| w.t.get(end - 1));
            let is_sequence =
                table.is_some_and(|t| t.unquoted(s).eq_ignore_ascii_case(b"sqlite_sequence"));
            match target {
                Some(end) if is_sequence && w.is(end, Kind::Semi) => Gate::Run,
                _ => refuse(
                    "DELETE is not part of a dump except DELETE FROM sqlite_sequence (which \
                     D1 writes before sqlite_sequence's rows)",
                ),
            }
        }
        "ANALYZE" => {
            let end = if w.is(1, Kind::Semi) {
                Some(1)
            } else {
                w.name(1)
            };
            match end {
                Some(e) if w.is(e, Kind::Semi) => Gate::Run,
                _ => refuse("ANALYZE takes at most a name (a dump writes ANALYZE sqlite_schema)"),
            }
        }
        // Which pragmas: the authorizer's list (sandbox.rs).
        "PRAGMA" => Gate::Run,
        "BEGIN" | "COMMIT" | "END" => {
            let words: Vec<String> = (1..w.t.len()).map(|i| w.upper(i)).collect();
            match words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                [""] | ["TRANSACTION", ""] => Gate::Skip,
                _ => Gate::Refuse(format!(
                    "{first} with options is not part of a dump (only BEGIN/COMMIT [TRANSACTION])"
                )),
            }
        }
        "" => refuse("not a SQL statement"),
        _ => Gate::Refuse(format!(
            "{first} statements are not allowed in a restore (a D1 dump has none; the dump is \
             untrusted input)"
        )),
    }
}

/// `INSERT [OR x] INTO name [(columns)] VALUES (...)[, (...)]` with no query inside.
fn insert(w: &Words<'_>, first: &str) -> Gate {
    let mut i = 1;
    if first == "INSERT" && w.upper(1) == "OR" {
        i = 3;
    }
    let shape = "an INSERT in a dump is INSERT INTO table [(columns)] VALUES(...)";
    if w.upper(i) != "INTO" {
        return Gate::Refuse(shape.into());
    }
    let Some(mut i) = w.name(i + 1) else {
        return Gate::Refuse(shape.into());
    };
    if w.punct(i, b'(') {
        while i < w.t.len() && !w.punct(i, b')') {
            i += 1;
        }
        i += 1;
    }
    if w.upper(i) != "VALUES" {
        let got = if w.upper(i) == "SELECT" || w.upper(i) == "WITH" {
            "INSERT ... SELECT is not part of a dump".to_string()
        } else {
            match w.upper(i) {
                word if word.is_empty() => shape.to_string(),
                word => format!("{shape}, not {word}"),
            }
        };
        return Gate::Refuse(got);
    }
    if w.any_word(i + 1, "SELECT") {
        return Gate::Refuse(
            "a query inside VALUES is not part of a dump (a dump's values are literals)".into(),
        );
    }
    Gate::Run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_d1_and_sqlite3_dumps_hold_runs() {
        for ok in [
            "PRAGMA defer_foreign_keys=TRUE;",
            "PRAGMA foreign_keys=OFF;",
            "CREATE TABLE t(a);",
            "CREATE TABLE IF NOT EXISTS \"t\" (a INTEGER, b AS (a*2) STORED);",
            "CREATE UNIQUE INDEX i ON t(a) WHERE a > 0;",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO u SELECT 1; END;",
            "CREATE VIEW v AS SELECT * FROM t;",
            "insert into t values(1);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(replace('a\\nb','\\n',char(10)),X'00');",
            "INSERT INTO t VALUES(1),(2);",
            "INSERT OR REPLACE INTO t VALUES(1);",
            "REPLACE INTO t VALUES(1);",
            "INSERT INTO main.t VALUES('SELECT');",
            "DELETE FROM sqlite_sequence;",
            "DELETE FROM \"sqlite_sequence\" ;",
            "ANALYZE sqlite_schema;",
            "ANALYZE;",
        ] {
            assert_eq!(gate(ok), Gate::Run, "{ok}");
        }
        for skip in [
            "BEGIN TRANSACTION;",
            "COMMIT;",
            "begin;",
            "END TRANSACTION;",
        ] {
            assert_eq!(gate(skip), Gate::Skip, "{skip}");
        }
    }

    #[test]
    fn shapes_no_dump_has_are_refused() {
        for bad in [
            "ATTACH 'x' AS y;",
            "VACUUM INTO '/tmp/x';",
            "DETACH y;",
            "SELECT 1;",
            "ROLLBACK;",
            "BEGIN IMMEDIATE;",
            "UPDATE t SET a=1;",
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x;",
            "INSERT INTO u SELECT count(*) FROM t a, t b, t c, t d, t e, t f;",
            "INSERT INTO u (x) SELECT 1 FROM t;",
            "INSERT INTO u DEFAULT VALUES;",
            "INSERT INTO u VALUES((SELECT count(*) FROM t a, t b));",
            "INSERT INTO u VALUES(1) ON CONFLICT DO UPDATE SET x=(SELECT 1);",
            "CREATE TABLE x AS SELECT 1 FROM t a, t b;",
            "CREATE TABLE IF NOT EXISTS x AS SELECT 1;",
            "CREATE VIRTUAL2 t;",
            "DELETE FROM t;",
            "DELETE FROM sqlite_sequence WHERE (SELECT count(*) FROM t a, t b);",
            "ANALYZE t WHERE;",
            "DROP TABLE t;",
        ] {
            assert!(matches!(gate(bad), Gate::Refuse(_)), "{bad}");
        }
    }
}
