//! A fingerprint of a database's tables that the live D1 database and the restored copy can
//! both compute with the same SQL: row count, and per column the non-NULL count, the count per
//! storage class, the total byte length, an exact sum of the integers and the count of
//! infinite REALs. Only aggregates travel, so a table of any size is one small answer.
//!
//! Two constraints shape the SQL:
//! - D1 answers through JSON, where integers beyond 2^53 lose precision (docs/d1-verify.md,
//!   "Comparing with the live database"; the emulator does the same). Counts and byte lengths
//!   stay far below that; the integer sums are returned as TEXT.
//! - `sum()` of integers raises "integer overflow" and `total()` is a REAL that cannot see a
//!   +1 at 2^53 — exactly the change D1's dump makes. So each integer is split into its low
//!   32 bits (`c & 4294967295`, 0..2^32) and its high part (`c >> 32`, arithmetic,
//!   -2^31..2^31): neither sum can overflow i64 below 2^31 rows (a 10 GB database holds far
//!   fewer), and `hi * 2^32 + lo`, computed here in i128, is the exact sum. A modulus split
//!   (`c % p`, `c / p`) would overflow the quotient sum after about a million huge values.

use d1_sql::ident::quote_ident;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeMap;

/// One statement stays well below D1's 100 000-byte statement limit.
const STATEMENT_CAP: usize = 30_000;
/// Columns per statement: 9 result columns each stays far below SQLite's 2000.
const COLUMNS_PER_STATEMENT: usize = 50;

/// What is measured per column, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    NonNull,
    Integer,
    Real,
    Text,
    Blob,
    Bytes,
    IntSum,
    Infinite,
}

pub const MEASURES: [Measure; 8] = [
    Measure::NonNull,
    Measure::Integer,
    Measure::Real,
    Measure::Text,
    Measure::Blob,
    Measure::Bytes,
    Measure::IntSum,
    Measure::Infinite,
];

impl Measure {
    /// The name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Measure::NonNull => "non_null",
            Measure::Integer => "typeof_integer",
            Measure::Real => "typeof_real",
            Measure::Text => "typeof_text",
            Measure::Blob => "typeof_blob",
            Measure::Bytes => "bytes",
            Measure::IntSum => "int_sum",
            Measure::Infinite => "infinite_reals",
        }
    }
}

/// The measures of one column, indexed like [`MEASURES`].
pub type Column = [i128; 8];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub rows: i128,
    pub columns: BTreeMap<String, Column>,
}

/// Tables and their columns (in declaration order), as the schema query lists them.
pub type Schema = BTreeMap<String, Vec<String>>;

/// Lists user tables and their columns. `sqlite_*` tables are SQLite's own and `_cf_*` are
/// D1's, which its dump skips; both are left out on both sides.
pub const SCHEMA_SQL: &str = "SELECT m.name AS t, p.name AS c \
     FROM sqlite_schema AS m, pragma_table_info(m.name) AS p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
     AND m.name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY m.name, p.cid";

/// The result columns for one column `q` (quoted), aliased `c{i}_{k}`. The sums are TEXT
/// (see the module comment); `coalesce` makes an empty table answer 0, not NULL.
fn column_sql(q: &str, i: usize) -> String {
    let is = |t: &str| format!("count(CASE WHEN typeof({q}) = '{t}' THEN 1 END)");
    let int_sum = |e: &str| {
        format!("CAST(coalesce(sum(CASE WHEN typeof({q}) = 'integer' THEN {e} END), 0) AS TEXT)")
    };
    [
        format!("count({q})"),
        is("integer"),
        is("real"),
        is("text"),
        is("blob"),
        format!("coalesce(sum(length(CAST({q} AS BLOB))), 0)"),
        int_sum(&format!("({q} & 4294967295)")),
        int_sum(&format!("({q} >> 32)")),
        format!("count(CASE WHEN typeof({q}) = 'real' AND abs({q}) = 9e999 THEN 1 END)"),
    ]
    .iter()
    .enumerate()
    .map(|(k, e)| format!("{e} AS c{i}_{k}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// One fingerprint statement: a table and some of its columns.
#[derive(Debug, Clone)]
pub struct Part {
    pub table: String,
    pub columns: Vec<String>,
    pub sql: String,
}

/// The statements that fingerprint `schema`: one per table, split when a table is wide.
pub fn parts(schema: &Schema) -> Vec<Part> {
    let mut out = Vec::new();
    for (table, columns) in schema {
        let from = format!(" FROM {}", quote_ident(table));
        let mut part = Part {
            table: table.clone(),
            columns: Vec::new(),
            sql: String::from("SELECT count(*) AS n"),
        };
        for c in columns {
            let piece = column_sql(&quote_ident(c), part.columns.len());
            let full = part.sql.len() + piece.len() + from.len() + 2 > STATEMENT_CAP;
            if !part.columns.is_empty() && (full || part.columns.len() >= COLUMNS_PER_STATEMENT) {
                part.sql.push_str(&from);
                out.push(part);
                part = Part {
                    table: table.clone(),
                    columns: Vec::new(),
                    sql: String::from("SELECT count(*) AS n"),
                };
            }
            let piece = column_sql(&quote_ident(c), part.columns.len());
            part.sql.push_str(", ");
            part.sql.push_str(&piece);
            part.columns.push(c.clone());
        }
        part.sql.push_str(&from);
        out.push(part);
    }
    out
}

/// Packs statements into requests of at most `cap` bytes of SQL (a statement longer than
/// that goes alone), so that a database with many tables is a handful of calls.
pub fn batches(parts: &[Part], cap: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut len = 0;
    for (i, p) in parts.iter().enumerate() {
        if i > start && len + p.sql.len() + 2 > cap {
            out.push(start..i);
            start = i;
            len = 0;
        }
        len += p.sql.len() + 2;
    }
    if start < parts.len() {
        out.push(start..parts.len());
    }
    out
}

/// An exact number from an answer: a JSON number or a decimal string (the TEXT sums).
pub fn number(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Folds one part's answer row (`n`, `c{i}_{k}`) into `table`. `get` reads one alias.
pub fn absorb(
    part: &Part,
    table: &mut Table,
    get: impl Fn(&str) -> Option<i128>,
) -> Result<(), String> {
    let want = |alias: &str| get(alias).ok_or_else(|| format!("no number for {alias}"));
    table.rows = want("n")?;
    for (i, c) in part.columns.iter().enumerate() {
        let raw: Vec<i128> = (0..9)
            .map(|k| want(&format!("c{i}_{k}")))
            .collect::<Result<_, _>>()?;
        let int_sum = raw[7] * (1i128 << 32) + raw[6];
        let col = [
            raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], int_sum, raw[8],
        ];
        table.columns.insert(c.clone(), col);
    }
    Ok(())
}

/// The schema of a local database, through the same SQL the live side runs.
pub fn local_schema(conn: &Connection) -> rusqlite::Result<Schema> {
    let mut st = conn.prepare(SCHEMA_SQL)?;
    let mut rows = st.query([])?;
    let mut schema = Schema::new();
    while let Some(r) = rows.next()? {
        let (t, c): (String, String) = (r.get(0)?, r.get(1)?);
        schema.entry(t).or_default().push(c);
    }
    Ok(schema)
}

/// Runs `parts` on a local database.
pub fn local(conn: &Connection, parts: &[Part]) -> Result<BTreeMap<String, Table>, String> {
    let mut out: BTreeMap<String, Table> = BTreeMap::new();
    for p in parts {
        let mut st = conn.prepare(&p.sql).map_err(|e| e.to_string())?;
        let names: Vec<String> = st.column_names().map(str::to_string).collect();
        let mut rows = st.query([]).map_err(|e| e.to_string())?;
        let row = rows
            .next()
            .map_err(|e| e.to_string())?
            .ok_or("an aggregate returned no row")?;
        let mut values = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            let v = match row.get_ref(i).map_err(|e| e.to_string())? {
                ValueRef::Integer(x) => Some(i128::from(x)),
                ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|s| s.parse().ok()),
                _ => None,
            };
            if let Some(v) = v {
                values.insert(n.clone(), v);
            }
        }
        absorb(p, out.entry(p.table.clone()).or_default(), |a| {
            values.get(a).copied()
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(sql: &str) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(sql).unwrap();
        c
    }

    fn fp(c: &Connection) -> BTreeMap<String, Table> {
        local(c, &parts(&local_schema(c).unwrap())).unwrap()
    }

    #[test]
    fn integer_sum_is_exact_beyond_2_53_and_at_the_int64_limits() {
        let a = fp(&db(
            "CREATE TABLE t(i); INSERT INTO t VALUES(9007199254740993),\
             (-9223372036854775808),(9223372036854775807),(9223372036854775807),(-1),(NULL),('x');",
        ));
        let want: i128 = 9007199254740993 - (1i128 << 63) + 2 * ((1i128 << 63) - 1) - 1;
        let col = a["t"].columns["i"];
        assert_eq!(col[6], want);
        assert_eq!((a["t"].rows, col[0], col[1], col[3]), (7, 6, 5, 1));
        let b = fp(&db(
            "CREATE TABLE t(i); INSERT INTO t VALUES(9007199254740992),\
             (-9223372036854775808),(9223372036854775807),(9223372036854775807),(-1),(NULL),('x');",
        ));
        assert_eq!(b["t"].columns["i"][6], want - 1);
    }

    #[test]
    fn types_bytes_and_infinities_are_counted_per_column() {
        let a = fp(&db(
            "CREATE TABLE \"we\"\"ird\"(a, \"b c\"); INSERT INTO \"we\"\"ird\" VALUES\
             (1.5, 'héllo'), (9e999, X'0001'), (-9e999, NULL), (NULL, 'a\\nb');",
        ));
        let t = &a["we\"ird"];
        assert_eq!(t.rows, 4);
        // 1.5 (3) + Inf (3) + -Inf (4)
        assert_eq!(t.columns["a"], [3, 0, 3, 0, 0, 10, 0, 2]);
        // héllo is 6 bytes in UTF-8, a\nb 4 (a backslash and an n)
        assert_eq!(t.columns["b c"], [3, 0, 0, 2, 1, 12, 0, 0]);
    }

    #[test]
    fn an_empty_table_answers_zeros_not_nulls() {
        let a = fp(&db("CREATE TABLE t(a INTEGER PRIMARY KEY, b);"));
        assert_eq!(a["t"].rows, 0);
        assert_eq!(a["t"].columns["b"], [0; 8]);
    }

    #[test]
    fn wide_tables_split_into_several_statements_with_the_same_result() {
        let cols: Vec<String> = (0..120).map(|i| format!("col_{i}")).collect();
        let c = db(&format!(
            "CREATE TABLE w({}); INSERT INTO w(col_7, col_119) VALUES(7, 'x');",
            cols.join(",")
        ));
        let schema = local_schema(&c).unwrap();
        let ps = parts(&schema);
        assert_eq!(ps.len(), 3);
        assert!(ps.iter().all(|p| p.sql.len() < STATEMENT_CAP));
        let f = local(&c, &ps).unwrap();
        assert_eq!(f["w"].columns.len(), 120);
        assert_eq!(f["w"].columns["col_7"][6], 7);
        assert_eq!(f["w"].columns["col_119"][5], 1);
    }

    #[test]
    fn batches_respect_the_cap_and_keep_an_oversized_statement_alone() {
        let mk = |n: usize| Part {
            table: "t".into(),
            columns: vec![],
            sql: "x".repeat(n),
        };
        let ps = vec![mk(40), mk(40), mk(40), mk(200), mk(10)];
        assert_eq!(batches(&ps, 100), vec![0..2, 2..3, 3..4, 4..5]);
        assert!(batches(&[], 100).is_empty());
    }

    #[test]
    fn internal_tables_are_left_out() {
        let c = db(
            "CREATE TABLE a(x INTEGER PRIMARY KEY AUTOINCREMENT); CREATE TABLE _cf_KV(k);\
                    INSERT INTO a VALUES(NULL);",
        );
        let s = local_schema(&c).unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn numbers_come_from_json_numbers_or_decimal_strings() {
        assert_eq!(number(&serde_json::json!(5)), Some(5));
        assert_eq!(
            number(&serde_json::json!("-39614081257132168796771975168")),
            Some(-39614081257132168796771975168)
        );
        assert_eq!(number(&serde_json::json!(1.5)), None);
        assert_eq!(number(&serde_json::json!(null)), None);
    }
}
