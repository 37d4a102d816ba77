//! Entry points shared by the fuzz targets (fuzz/) and the tests that replay what the fuzzer
//! found (fuzz/regressions/), and the fast path's equivalence check: for any statement, the
//! fast path must either step aside or store exactly what SQLite's own parser stores (issue 17:
//! a NUL inside a string was "verified" by the fast path while SQLite refused it).

use crate::fastpath::Parsed;
use rusqlite::types::Value;
use rusqlite::Connection;

/// The table every generated INSERT writes: one column per affinity.
pub const TABLE: &str =
    "CREATE TABLE \"t\" (a, b INTEGER, c REAL, d TEXT, e BLOB, f NUMERIC, g ANY);";
const COLUMNS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// What happened to one statement.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The fast path did not take it (did not parse, or SQLite refused its prepared form or
    /// its bound values): the restore hands it to SQLite's parser, which decides.
    SteppedAside,
    /// Both stored a row, the same one.
    Same,
}

fn fresh() -> Connection {
    let c = Connection::open_in_memory().expect("an in-memory database");
    c.execute_batch(TABLE).expect("the test table");
    c
}

fn rows(c: &Connection) -> Vec<Vec<Value>> {
    let mut st = c
        .prepare("SELECT * FROM \"t\" ORDER BY rowid")
        .expect("select");
    let n = st.column_count();
    st.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// Values compared as SQLite stores them: type and value, REALs bit for bit (-0.0 is not 0.0).
fn same(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p, q) {
                    (Value::Real(p), Value::Real(q)) => p.to_bits() == q.to_bits(),
                    _ => p == q,
                })
        })
}

/// Runs `stmt` through the fast path and through SQLite's own parser, each on a fresh table,
/// and says how they compare; `Err` describes a disagreement.
pub fn compare(stmt: &str) -> Result<Verdict, String> {
    let Some(parsed) = Parsed::of(stmt) else {
        return Ok(Verdict::SteppedAside);
    };
    let fast = fresh();
    let stored = match fast.prepare(&parsed.prepared_sql(stmt)) {
        Ok(mut st) => parsed.execute(stmt, &mut st).is_ok(),
        Err(_) => false,
    };
    if !stored {
        return Ok(Verdict::SteppedAside);
    }
    let slow = fresh();
    let by_sqlite = slow.prepare(stmt).and_then(|mut st| {
        let mut r = st.raw_query();
        while r.next()?.is_some() {}
        Ok(())
    });
    if let Err(e) = by_sqlite {
        return Err(format!(
            "the fast path stored a row SQLite refuses ({e}): {stmt:?}"
        ));
    }
    let (f, s) = (rows(&fast), rows(&slow));
    if !same(&f, &s) {
        return Err(format!(
            "different values: fast path {f:?}, SQLite {s:?}: {stmt:?}"
        ));
    }
    Ok(Verdict::Same)
}

/// A source of choices: random (tests) or the fuzzer's bytes (so that it can steer).
pub trait Choose {
    fn below(&mut self, n: usize) -> usize;
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// xorshift64: a fixed seed gives the same statements on every run.
pub struct Rng(pub u64);

impl Choose for Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The fuzzer's input as choices; zeros once it runs out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Choose for Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        usize::from(b) % n.max(1)
    }
}

fn pick<'a>(c: &mut impl Choose, from: &[&'a str]) -> &'a str {
    from[c.below(from.len())]
}

/// Characters a string literal may hold: the ones a tokenizer may treat specially.
const CHARS: [&str; 22] = [
    "a", "Z", "0", " ", "\0", "''", "'", "\"", "\n", "\r", "\t", "\x01", "\x0b", "\x0c", "\x1f",
    "\x7f", "é", "€", "😀", ";", "--", "/*",
];

fn text(c: &mut impl Choose) -> String {
    let mut s = String::from("'");
    for _ in 0..c.below(6) {
        s.push_str(pick(c, &CHARS));
    }
    if !c.chance(40) {
        s.push('\'');
    }
    s
}

const NUMBERS: [&str; 40] = [
    "0",
    "-0",
    "0.0",
    "-0.0",
    "1",
    "-1",
    "007",
    "1e999",
    "-1e999",
    "9e999",
    "1e-400",
    "0x10",
    "0X1f",
    "-0x10",
    "0x",
    "1_000",
    "1__0",
    "1_",
    "1.5_0",
    "1e1_0",
    ".5",
    "1.",
    ".",
    "1e",
    "1e+",
    "1e+5",
    "1E-5",
    "1.2.3",
    "1abc",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "123456789012345678901234567890",
    "9007199254740993",
    "-9223372036854776000",
    "4.9406564584124654e-324",
    "1.7976931348623157e308",
    "0.30000000000000004",
];

fn number(c: &mut impl Choose) -> String {
    match c.below(4) {
        0 => {
            // A random double as JavaScript (and D1) prints it.
            let bits = (c.below(1 << 16) as u64) << 48 | (c.below(1 << 24) as u64) << 24;
            let f = f64::from_bits(bits | c.below(1 << 24) as u64);
            if f.is_finite() {
                format!("{f:e}")
            } else {
                "1e308".into()
            }
        }
        1 => {
            let digits = 1 + c.below(25);
            (0..digits)
                .map(|_| char::from(b'0' + c.below(10) as u8))
                .collect()
        }
        _ => pick(c, &NUMBERS).to_string(),
    }
}

fn blob(c: &mut impl Choose) -> String {
    const HEX: [&str; 8] = ["0", "f", "A", "9", "g", "'", " ", "00"];
    let mut s = String::from(pick(c, &["X'", "x'", "X '"]));
    for _ in 0..c.below(6) {
        let digits = if c.chance(8) { 8 } else { 4 };
        s.push_str(pick(c, &HEX[..digits]));
    }
    s.push('\'');
    s
}

/// `replace(X,'\n',char(10))`, D1's form for text with line breaks, and variations on it.
fn replace(c: &mut impl Choose, depth: usize) -> String {
    let inner = if depth < 2 && c.chance(3) {
        replace(c, depth + 1)
    } else {
        text(c)
    };
    let pattern = pick(c, &["'\\n'", "'\\r'", "''", "'a'", "'''", "'\0'"]);
    let code = pick(
        c,
        &[
            "10", "13", "010", " 10 ", "0", "127", "128", "200", "-1", "",
        ],
    );
    let name = pick(c, &["replace", "REPLACE", "Replace"]);
    format!("{name}({inner},{pattern},char({code}))")
}

fn value(c: &mut impl Choose) -> String {
    match c.below(10) {
        0..=2 => text(c),
        3..=5 => number(c),
        6 => blob(c),
        7 => replace(c, 0),
        8 => pick(
            c,
            &[
                "NULL",
                "null",
                "Null",
                "NULLx",
                "Infinity",
                "-Infinity",
                "TRUE",
            ],
        )
        .into(),
        _ => format!("-{}", number(c)),
    }
}

/// Between tokens: mostly nothing or a space, sometimes what only SQLite reads as space.
fn gap(c: &mut impl Choose) -> &'static str {
    if !c.chance(8) {
        return "";
    }
    pick(
        c,
        &[
            " ", "\n", "\t", "\r\n", "\x0c", "\x0b", "/**/", "--\n", " \0",
        ],
    )
}

/// One INSERT in the dump's shape, with generated values and occasional damage.
pub fn statement(c: &mut impl Choose) -> String {
    // Mostly few values: each value is a chance of damage, and whole rows must get through too.
    let n = 1 + if c.chance(4) {
        c.below(COLUMNS.len())
    } else {
        c.below(2)
    };
    let mut s = String::from(pick(
        c,
        &[
            "INSERT INTO \"t\" ",
            "INSERT INTO t ",
            "insert into \"t\"",
            "INSERT INTO \"t\0\" ",
        ],
    ));
    if !c.chance(6) {
        let cols: Vec<String> = COLUMNS[..n].iter().map(|k| format!("\"{k}\"")).collect();
        s.push_str(&format!("({})", cols.join(",")));
    }
    s.push_str(pick(c, &[" VALUES(", "VALUES(", " VALUES (", " values("]));
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(gap(c));
        s.push_str(&value(c));
        s.push_str(gap(c));
    }
    s.push(')');
    s.push_str(if c.chance(8) {
        pick(c, &[" ;", "", ";x", ";\0", "; ", ";\n"])
    } else {
        ";"
    });
    s
}

/// The fuzz target `verify_fastpath`: `data` as a statement of its own, as the values of an
/// INSERT, and as the choices of the statement generator. Panics on any disagreement.
pub fn fastpath(data: &[u8]) {
    let check = |stmt: &str| {
        if let Err(e) = compare(stmt) {
            panic!("{e}");
        }
    };
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
        check(&format!("INSERT INTO \"t\" (\"a\") VALUES({text});"));
    }
    let mut choices = Bytes(data);
    check(&statement(&mut choices));
}

/// The fuzz target `verify_split`: never a panic, and the same statements whatever the read
/// size (a statement split across reads must come out whole).
pub fn split(data: &[u8]) {
    let whole = split_all(data, 1 << 16);
    for chunk in [1, 3, 7] {
        assert_eq!(split_all(data, chunk), whole, "read size {chunk}");
    }
}

/// sqlite3_complete: whether SQLite's shell would run `text` as it stands.
fn complete(text: &[u8]) -> bool {
    let Ok(c) = std::ffi::CString::new(text) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string that outlives the call.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

fn split_all(data: &[u8], chunk: usize) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let r = std::io::BufReader::with_capacity(chunk, data);
    let mut s = d1_sql::split::Splitter::new(r, 1 << 20);
    let mut out = Vec::new();
    loop {
        match s.next() {
            Ok(Some(st)) => {
                assert!(!st.text.is_empty(), "empty statement");
                // Where the splitter ends a statement, and nowhere before, SQLite's own
                // judgement agrees (short statements: each `;` costs a look at the prefix).
                if !st.text.contains(&0) {
                    assert!(complete(st.text), "not complete to SQLite: {:?}", st.text);
                    if st.text.len() < 4096 {
                        for (i, _) in st.text.iter().enumerate().filter(|(_, &b)| b == b';') {
                            let prefix = &st.text[..=i];
                            assert!(
                                i + 1 == st.text.len() || !complete(prefix),
                                "SQLite ends {:?} earlier: {prefix:?}",
                                st.text
                            );
                        }
                    }
                }
                out.push((st.line, st.text.to_vec()));
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_nul_inside_a_string_is_left_to_sqlite_which_refuses_it() {
        for stmt in [
            "INSERT INTO \"t\" (\"a\") VALUES('a\0b');",
            "INSERT INTO \"t\" (\"a\") VALUES(replace('a\0b\\n','\\n',char(10)));",
            "INSERT INTO \"t\0\" (\"a\") VALUES(1);",
        ] {
            assert_eq!(compare(stmt), Ok(Verdict::SteppedAside), "{stmt:?}");
        }
    }

    #[test]
    fn the_fast_path_stores_what_sqlite_stores_for_generated_statements() {
        let (mut same, mut aside) = (0, 0);
        for seed in 1..=20_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let stmt = statement(&mut rng);
            match compare(&stmt) {
                Ok(Verdict::Same) => same += 1,
                Ok(_) => aside += 1,
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        // Both branches must be exercised, or the test proves nothing.
        assert!(same > 2_000 && aside > 2_000, "same {same}, aside {aside}");
    }

    #[test]
    fn generated_sql_splits_the_same_at_any_read_size_and_where_sqlite_would() {
        const PARTS: [&str; 28] = [
            "CREATE", "TRIGGER", "TEMP", "END", "EXPLAIN", "BEGIN", ";", " ", "\n", "'", "''",
            "\"", "`", "[", "]", "--", "/*", "*/", "-", "/", "*", "1e", "x", "SELECT", "1", "\0",
            "é", "tr",
        ];
        for seed in 1..=3_000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut text = String::new();
            for _ in 0..rng.below(40) {
                text.push_str(pick(&mut rng, &PARTS));
                if rng.chance(2) {
                    text.push(' ');
                }
            }
            split(text.as_bytes());
        }
    }

    /// Replays `fuzz/regressions/TARGET/*` (inputs the fuzzer found, kept forever).
    fn replay(target: &str, f: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions")
            .join(target);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            f(&std::fs::read(e.path()).expect("regression input"));
            n += 1;
        }
        n
    }

    #[test]
    fn every_input_the_fuzzer_found_is_replayed_without_panic() {
        let n = replay("verify_split", split) + replay("verify_fastpath", fastpath);
        assert!(n >= 2, "fuzz/regressions is missing");
    }
}
