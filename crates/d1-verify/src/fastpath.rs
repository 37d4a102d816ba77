//! The fast path for the statement that makes up nearly all of a dump:
//! `INSERT INTO "t" ("c1","c2") VALUES(...);` (and the older form without a column list).
//! Its literal values are parsed here, from lex.rs's tokens (SQLite's lexical rules, shared
//! with the splitter and the scans), and bound to a prepared statement cached per table and
//! column list, which skips SQLite's parser and code generator for every row.
//!
//! Every value is produced exactly as SQLite would evaluate the literal (integers past i64
//! become REALs through SQLite's own conversion, `-9223372036854775808` stays an integer,
//! `replace('a\nb','\n',char(10))` is evaluated). Anything else — a function, an identifier
//! (`Infinity`), a cast, odd spacing — makes `parse` return `None` and the statement goes to
//! SQLite's own parser: when in doubt, SQLite decides.

use crate::quirks::{may_matter, Notes};
use std::borrow::Cow;
use std::ops::Range;

/// A literal value, as SQLite would store it before column affinity.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Vec<u8>),
}

/// A recognised INSERT.
#[derive(Debug)]
pub struct Insert<'a> {
    /// Everything up to and including `VALUES(`: with the value count, the cache key.
    pub head: &'a str,
    /// The table name as written (quoted or bare).
    pub table: &'a str,
    /// The column list as written, parentheses included.
    pub columns: Option<&'a str>,
    pub values: Vec<Val<'a>>,
    /// What the quirk scan (quirks.rs) looks for, found while parsing.
    pub notes: Notes,
}

/// `INSERT INTO table (columns) VALUES(?,?,...)` with `n` parameters.
fn prepared_sql(table: &str, columns: Option<&str>, n: usize) -> String {
    let mut sql = format!("INSERT INTO {table}");
    if let Some(c) = columns {
        sql.push(' ');
        sql.push_str(c);
    }
    sql.push_str(" VALUES(");
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ",?" });
    }
    sql.push(')');
    sql
}

/// A recognised INSERT that can travel to another thread beside its statement's text: the
/// parse runs on the reader thread, the bind on SQLite's (restore.rs). Borrowed slices are kept
/// as offsets into that text.
#[derive(Debug)]
pub struct Parsed {
    head: usize,
    table: Range<usize>,
    columns: Option<Range<usize>>,
    values: Vec<Lit>,
    pub notes: Notes,
}

#[derive(Debug)]
enum Lit {
    Null,
    Int(i64),
    Real(f64),
    Text(Range<usize>),
    Owned(String),
    Blob(Vec<u8>),
}

impl Parsed {
    /// `parse`, detached from `stmt`'s lifetime.
    pub fn of(stmt: &str) -> Option<Parsed> {
        let ins = parse(stmt)?;
        // Every borrowed slice is a part of `stmt`: its offset is the pointer difference.
        let at = |part: &str| {
            let start = part.as_ptr() as usize - stmt.as_ptr() as usize;
            start..start + part.len()
        };
        Some(Parsed {
            notes: ins.notes,
            head: ins.head.len(),
            table: at(ins.table),
            columns: ins.columns.map(at),
            values: ins
                .values
                .into_iter()
                .map(|v| match v {
                    Val::Null => Lit::Null,
                    Val::Int(i) => Lit::Int(i),
                    Val::Real(r) => Lit::Real(r),
                    Val::Text(Cow::Borrowed(t)) => Lit::Text(at(t)),
                    Val::Text(Cow::Owned(t)) => Lit::Owned(t),
                    Val::Blob(b) => Lit::Blob(b),
                })
                .collect(),
        })
    }

    /// Everything up to and including `VALUES(`: with `value_count`, the prepared statement's key.
    pub fn head<'a>(&self, stmt: &'a str) -> &'a str {
        &stmt[..self.head]
    }

    /// The number of values.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// The parameterised statement that stores the same row.
    pub fn prepared_sql(&self, stmt: &str) -> String {
        prepared_sql(
            &stmt[self.table.clone()],
            self.columns.clone().map(|c| &stmt[c]),
            self.values.len(),
        )
    }

    /// Binds the values (`stmt` is the text this was parsed from) and runs the INSERT.
    pub fn execute(&self, stmt: &str, st: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        for (i, v) in self.values.iter().enumerate() {
            let n = i + 1;
            match v {
                Lit::Null => st.raw_bind_parameter(n, rusqlite::types::Null)?,
                Lit::Int(x) => st.raw_bind_parameter(n, x)?,
                Lit::Real(x) => st.raw_bind_parameter(n, x)?,
                Lit::Text(r) => st.raw_bind_parameter(n, &stmt[r.clone()])?,
                Lit::Owned(t) => st.raw_bind_parameter(n, t.as_str())?,
                Lit::Blob(b) => st.raw_bind_parameter(n, b.as_slice())?,
            }
        }
        st.raw_execute().map(|_| ())
    }
}

/// Parses `stmt` (one statement, ending with `;`) if it has the dump's INSERT shape.
pub fn parse(stmt: &str) -> Option<Insert<'_>> {
    let mut p = P {
        s: stmt.as_bytes(),
        src: stmt,
        i: 0,
        notes: Notes::default(),
    };
    p.keyword("INSERT")?;
    p.ws1()?;
    p.keyword("INTO")?;
    p.ws1()?;
    let table = p.ident()?;
    p.ws();
    let columns = if p.peek() == Some(b'(') {
        let start = p.i;
        p.i += 1;
        loop {
            p.ws();
            p.ident()?;
            p.ws();
            match p.bump()? {
                b',' => continue,
                b')' => break,
                _ => return None,
            }
        }
        let cols = &stmt[start..p.i];
        p.ws();
        Some(cols)
    } else {
        None
    };
    p.keyword("VALUES")?;
    p.ws();
    p.expect(b'(')?;
    let head = &stmt[..p.i];
    let mut values = Vec::with_capacity(8);
    loop {
        p.ws();
        values.push(p.value()?);
        p.ws();
        match p.bump()? {
            b',' => continue,
            b')' => break,
            _ => return None,
        }
    }
    p.ws();
    p.expect(b';')?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    Some(Insert {
        head,
        table,
        columns,
        values,
        notes: p.notes,
    })
}

/// A string literal's text: `''` is one quote. The lexer closed the literal, so its quotes come
/// in pairs. memchr: long texts are most of a dump's bytes.
fn unquote(raw: &str) -> Cow<'_, str> {
    let b = raw.as_bytes();
    let Some(mut at) = memchr::memchr(b'\'', b) else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    let mut from = 0;
    loop {
        // Keep the first quote of the pair, skip the second.
        out.push_str(&raw[from..=at]);
        from = (at + 2).min(raw.len());
        match memchr::memchr(b'\'', &b[from..]) {
            Some(n) => at = from + n,
            None => break,
        }
    }
    out.push_str(&raw[from..]);
    Cow::Owned(out)
}

/// SQLite's `replace(X, pattern, with)` for a non-empty pattern: every non-overlapping match,
/// left to right.
fn replace_all<'a>(hay: Cow<'a, str>, pattern: &str, with: &str) -> Cow<'a, str> {
    let finder = memchr::memmem::Finder::new(pattern.as_bytes());
    let mut hits = finder.find_iter(hay.as_bytes()).peekable();
    if hits.peek().is_none() {
        return hay;
    }
    let mut out = String::with_capacity(hay.len());
    let mut from = 0;
    for at in hits {
        out.push_str(&hay[from..at]);
        out.push_str(with);
        from = at + pattern.len();
    }
    out.push_str(&hay[from..]);
    Cow::Owned(out)
}

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    notes: Notes,
}

use d1_sql::lex::{self, Kind, Token};

impl<'a> P<'a> {
    /// The single-byte token at the cursor: `(`, `)`, `,` and `;` are single bytes to SQLite's
    /// lexer too.
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.bump()? == b).then_some(())
    }

    /// The token at the cursor (lex.rs), if it is of `kind`; the cursor moves past it.
    fn take(&mut self, kind: Kind) -> Option<Token> {
        let t = lex::token_at(self.s, self.i)?;
        if t.kind != kind || !t.closed {
            return None;
        }
        self.i = t.end;
        Some(t)
    }

    /// Whitespace, if any (a comment is not taken: SQLite decides what it makes of one). A
    /// byte at a time: lexing the next token only to find it is not space would read a long
    /// string twice.
    fn ws(&mut self) {
        while self.peek().is_some_and(lex::is_space) {
            self.i += 1;
        }
    }

    /// At least one whitespace byte.
    fn ws1(&mut self) -> Option<()> {
        let start = self.i;
        self.ws();
        (self.i > start).then_some(())
    }

    /// A keyword, case-insensitive: a whole word token.
    fn keyword(&mut self, word: &str) -> Option<()> {
        let t = lex::token_at(self.s, self.i)?;
        if t.kind != Kind::Word || !t.text(self.s).eq_ignore_ascii_case(word.as_bytes()) {
            return None;
        }
        self.i = t.end;
        Some(())
    }

    /// `"name"` (with `""` escapes) or a bare ASCII identifier; returned as written.
    fn ident(&mut self) -> Option<&'a str> {
        let t = lex::token_at(self.s, self.i)?;
        let text = t.text(self.s);
        let ok = match t.kind {
            // SQLite's tokenizer ends a quoted name at a NUL byte (see `text`).
            Kind::Quoted => t.closed && text[0] == b'"' && !text.contains(&0),
            Kind::Word => {
                text.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    // A bare keyword where a name belongs: let SQLite judge.
                    && !text.eq_ignore_ascii_case(b"VALUES")
                    && !text.eq_ignore_ascii_case(b"SELECT")
            }
            _ => false,
        };
        if !ok {
            return None;
        }
        self.i = t.end;
        Some(&self.src[t.start..t.end])
    }

    fn value(&mut self) -> Option<Val<'a>> {
        let t = lex::token_at(self.s, self.i)?;
        match t.kind {
            Kind::Str => self.string(t).map(Val::Text),
            Kind::Blob => self.blob(t),
            Kind::Word => match self.peek()? {
                b'n' | b'N' => {
                    self.keyword("NULL")?;
                    Some(Val::Null)
                }
                b'r' | b'R' => self.replace(0).map(Val::Text),
                _ => None,
            },
            Kind::Punct if self.peek() == Some(b'-') => {
                self.i += 1;
                let t = lex::token_at(self.s, self.i)?;
                self.number(t, true)
            }
            Kind::Number => self.number(t, false),
            _ => None,
        }
    }

    /// `'...'` with `''` for a quote.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let t = lex::token_at(self.s, self.i)?;
        self.string(t)
    }

    /// The string token `t` at the cursor.
    fn string(&mut self, t: Token) -> Option<Cow<'a, str>> {
        if t.kind != Kind::Str || !t.closed {
            return None;
        }
        self.i = t.end;
        let raw = &self.src[t.start + 1..t.end - 1];
        // SQLite's tokenizer ends a string at a NUL byte (its input is a C string: the loop in
        // sqlite3GetToken stops at 0), so `'a<NUL>b'` is "unrecognized token" there. Binding
        // the text would store what SQLite refuses to read: leave it to SQLite (issue 17).
        if raw.as_bytes().contains(&0) {
            return None;
        }
        Some(unquote(raw))
    }

    /// `X'00ff'`: an even number of hex digits.
    fn blob(&mut self, t: Token) -> Option<Val<'a>> {
        if !t.closed {
            return None;
        }
        self.i = t.end;
        let hex = &self.s[t.start + 2..t.end - 1];
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        let mut out = Vec::with_capacity(hex.len() / 2);
        for pair in hex.chunks_exact(2) {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        }
        Some(Val::Blob(out))
    }

    /// `replace(X,'pattern',char(N))` where X is a text literal or another such replace: what
    /// D1 and the sqlite3 shell write for text holding newlines and carriage returns.
    fn replace(&mut self, depth: u8) -> Option<Cow<'a, str>> {
        if depth > 4 {
            return None;
        }
        self.keyword("replace")?;
        self.ws();
        self.expect(b'(')?;
        self.ws();
        let inner = match lex::token_at(self.s, self.i)?.kind {
            Kind::Str => self.text()?,
            Kind::Word => self.replace(depth + 1)?,
            _ => return None,
        };
        self.ws();
        self.expect(b',')?;
        self.ws();
        // `'\n',char(10))` exactly as D1 writes it: what quirks.rs counts as a placeholder.
        let placeholder = lex::token_at(self.s, self.i)?.text(self.s) == b"'\\n'"
            && self.s[lex::token_at(self.s, self.i)?.end..].starts_with(b",char(10))");
        let pattern = self.text()?;
        if placeholder {
            self.notes.newline_placeholders += 1;
        }
        self.ws();
        self.expect(b',')?;
        self.ws();
        self.keyword("char")?;
        self.ws();
        self.expect(b'(')?;
        self.ws();
        let digits = self.take(Kind::Number)?.text(self.s);
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        self.ws();
        self.expect(b')')?;
        self.ws();
        self.expect(b')')?;
        // An empty pattern (SQLite returns X unchanged, Rust would insert everywhere) and
        // characters beyond ASCII are left to SQLite.
        if pattern.is_empty() || !(1..=127).contains(&code) {
            return None;
        }
        let with = char::from_u32(code)?;
        Some(replace_all(inner, &pattern, with.encode_utf8(&mut [0; 4])))
    }

    /// A numeric literal, after an optional `-` (already consumed when `neg`): a Number token
    /// that is all decimal literal (`0x10`, `1_000`, `1abc`, `1.2.3` are left to SQLite).
    fn number(&mut self, t: Token, neg: bool) -> Option<Val<'a>> {
        if t.kind != Kind::Number {
            return None;
        }
        self.i = t.end;
        let lit = t.text(self.s);
        if may_matter(lit) {
            self.notes.numbers.push((t.start..t.end, neg));
        }
        let mut j = 0;
        let mut int = true;
        let digits = |j: &mut usize| {
            let n = lit[*j..].iter().take_while(|b| b.is_ascii_digit()).count();
            *j += n;
            n
        };
        let mut count = digits(&mut j);
        if lit.get(j) == Some(&b'.') {
            int = false;
            j += 1;
            count += digits(&mut j);
        }
        if count == 0 {
            return None;
        }
        if matches!(lit.get(j), Some(b'e' | b'E')) {
            int = false;
            j += 1;
            if matches!(lit.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(&mut j) == 0 {
                return None;
            }
        }
        if j != lit.len() {
            return None;
        }
        if int {
            // SQLite: a decimal integer that fits in i64 is an INTEGER, and so is exactly
            // -9223372036854775808; anything larger is converted as a REAL.
            let mut v: u128 = 0;
            for &b in lit {
                v = v * 10 + u128::from(b - b'0');
                if v > u128::from(u64::MAX) {
                    break;
                }
            }
            let limit = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
            if v <= limit {
                let v = v as i128;
                return Some(Val::Int(if neg { -v } else { v } as i64));
            }
        }
        let r = crate::atof::atof(lit);
        Some(Val::Real(if neg { -r } else { r }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::types::Value;

    /// What SQLite itself makes of a literal.
    fn sqlite_value(conn: &rusqlite::Connection, lit: &str) -> Value {
        conn.query_row(&format!("SELECT {lit}"), [], |r| r.get(0))
            .unwrap()
    }

    fn to_value(v: &Val<'_>) -> Value {
        match v {
            Val::Null => Value::Null,
            Val::Int(i) => Value::Integer(*i),
            Val::Real(r) => Value::Real(*r),
            Val::Text(t) => Value::Text(t.to_string()),
            Val::Blob(b) => Value::Blob(b.clone()),
        }
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn assert_like_sqlite(conn: &rusqlite::Connection, lit: &str) {
        let stmt = format!("INSERT INTO \"t\" (\"a\") VALUES({lit});");
        let ours = parse(&stmt).unwrap_or_else(|| panic!("not parsed: {lit}"));
        let got = to_value(&ours.values[0]);
        let want = sqlite_value(conn, lit);
        assert!(
            same(&got, &want),
            "{lit}: fast path {got:?}, SQLite {want:?}"
        );
    }

    #[test]
    fn d1_insert_shapes_are_recognised() {
        let stmt = "INSERT INTO \"t\" (\"a\",\"b\"\"c\") VALUES(1,'x');";
        let i = parse(stmt).unwrap();
        assert_eq!(i.table, "\"t\"");
        assert_eq!(i.columns, Some("(\"a\",\"b\"\"c\")"));
        assert_eq!(i.head, "INSERT INTO \"t\" (\"a\",\"b\"\"c\") VALUES(");
        // What the reader thread hands over: offsets into the same text.
        let p = Parsed::of(stmt).unwrap();
        assert_eq!((p.head(stmt), p.value_count()), (i.head, 2));
        assert_eq!(
            p.prepared_sql(stmt),
            "INSERT INTO \"t\" (\"a\",\"b\"\"c\") VALUES(?,?)"
        );
        let i = parse("INSERT INTO t VALUES(NULL,X'00fF','it''s');").unwrap();
        assert_eq!(i.columns, None);
        assert_eq!(
            i.values,
            vec![
                Val::Null,
                Val::Blob(vec![0, 255]),
                Val::Text(Cow::Borrowed("it's"))
            ]
        );
    }

    #[test]
    fn anything_unusual_falls_back_to_sqlite() {
        for s in [
            "INSERT INTO \"t\" VALUES(Infinity);",
            "INSERT INTO \"t\" VALUES(abs(1));",
            "INSERT INTO \"t\" VALUES(1) ;  x",
            "INSERT INTO main.t VALUES(1);",
            "INSERT INTO \"t\" VALUES(X'0');",
            "INSERT INTO \"t\" VALUES(1e);",
            "INSERT INTO \"t\" VALUES(0x10);",
            "INSERT INTO \"t\" VALUES(replace('a','',char(10)));",
            "INSERT INTO \"t\" VALUES(replace(1,'1',char(10)));",
            "INSERT INTO \"t\" SELECT 1;",
            "INSERT INTO \"t\" VALUES(1),(2);",
            "INSERT OR REPLACE INTO \"t\" VALUES(1);",
            "INSERT INTO \"t\" VALUES('unterminated);",
        ] {
            assert!(parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn replace_forms_are_evaluated_as_sqlite_does() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for lit in [
            r"replace('a\nb','\n',char(10))",
            r"replace(replace('x\ry\nz','\r',char(13)),'\n',char(10))",
            r"replace('\n\n\\n','\n',char(10))",
            r"replace('it''s\n','\n',char(10))",
            r"REPLACE( 'no newline' , '\n' , char( 10 ) )",
        ] {
            assert_like_sqlite(&conn, lit);
        }
    }

    #[test]
    fn quotes_and_replacements_at_every_edge_are_what_sqlite_makes_of_them() {
        // unquote and replace_all (memchr-based) at the string's ends, doubled and tripled.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for lit in [
            "''",
            "''''",
            "''''''",
            "'''x'''",
            "'a''''b'",
            "'é''🎉'''",
            r"replace('\n','\n',char(10))",
            r"replace('\n\n\n','\n',char(10))",
            r"replace('aaa','aa',char(10))",
            r"replace('xaaaax','aa',char(13))",
            r"replace('''\n''','\n',char(10))",
            r"replace('日本\n語','\n',char(10))",
        ] {
            assert_like_sqlite(&conn, lit);
        }
    }

    #[test]
    fn numbers_are_exactly_what_sqlite_makes_of_them() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for lit in [
            "0",
            "-0",
            "1",
            "-1",
            "007",
            "9007199254740993",
            "9223372036854775807",
            "-9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "-9223372036854776000",
            "18446744073709551616",
            "123456789012345678901234567890",
            "0.0",
            "-0.0",
            "1.5",
            "0.1",
            "-0.000001",
            "1e+300",
            "1e-300",
            "9e999",
            "-9e999",
            "5e-324",
            "1e-400",
            "2.2250738585072014e-308",
            "1.7976931348623157e+308",
            "0.30000000000000004",
            "123.456e7",
            ".5",
            "1.",
            "3.141592653589793",
            "1e22",
            "1e23",
            "4.9406564584124654e-324",
        ] {
            assert_like_sqlite(&conn, lit);
        }
    }

    #[test]
    fn javascript_printed_reals_match_sqlite_bit_for_bit() {
        // Shortest round-trip forms of many doubles, as JavaScript (and D1) prints them.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if !f.is_finite() {
                continue;
            }
            let lit = format!("{:e}", f.abs());
            assert_like_sqlite(&conn, &lit);
            let small = (x % 1_000_000_007) as f64 / 1000.0;
            assert_like_sqlite(&conn, &format!("{small}"));
        }
    }
}
