//! The query endpoint: run statements in order, in one transaction, and render rows the way D1
//! does through JSON.

use crate::jsnum;
use crate::rules;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Batch, Connection};
use serde_json::{json, Value};
use std::time::Instant;

/// Totals over a batch, for import's meta.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub statements: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub changes: u64,
    pub last_row_id: i64,
    pub changed_db: bool,
}

/// A JSON param to an SQLite value: null, bool (0/1), integer, real, text, array of bytes (blob).
fn to_sql(v: &Value) -> Result<SqlValue, String> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(a) => SqlValue::Blob(
            a.iter()
                .map(|x| x.as_u64().filter(|b| *b <= 255).map(|b| b as u8))
                .collect::<Option<Vec<u8>>>()
                .ok_or("an array parameter must hold bytes (0-255)")?,
        ),
        Value::Object(_) => return Err("objects are not supported as parameters".into()),
    })
}

/// A double as D1's JSON carries it: JavaScript prints it, JSON.parse reads it back.
fn js_number(x: f64) -> Value {
    if !x.is_finite() {
        // JSON.stringify(Infinity) is null.
        return Value::Null;
    }
    serde_json::from_str(&jsnum::to_js_string(x)).unwrap_or(Value::Null)
}

/// An SQLite value as D1 returns it in `results`.
pub fn to_json(v: ValueRef<'_>) -> Value {
    const SAFE: i64 = 1 << 53;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) if (-SAFE..=SAFE).contains(&i) => json!(i),
        // Beyond 2^53 integers reach JSON through a JavaScript double, losing precision.
        ValueRef::Integer(i) => js_number(i as f64),
        ValueRef::Real(f) => js_number(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Array(b.iter().map(|x| json!(x)).collect()),
    }
}

fn size_of(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// Why a request failed: the D1 message, and the 1-based statement it failed at (`None`: the
/// request as a whole, e.g. its parameters, or the final COMMIT with its deferred foreign keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    pub statement: Option<u64>,
    pub message: String,
}

impl Failed {
    fn whole(message: String) -> Failed {
        Failed {
            statement: None,
            message,
        }
    }
}

/// Runs `sql` (one or more statements) in one transaction, under D1's rules (see `rules`).
/// Returns the serialized `result` array, or why it failed after rolling everything back.
/// `params` bind to every statement that has parameters.
pub fn run(conn: &mut Connection, sql: &str, params: &[Value]) -> Result<(String, Totals), Failed> {
    let params: Vec<SqlValue> = params
        .iter()
        .map(to_sql)
        .collect::<Result<_, _>>()
        .map_err(Failed::whole)?;
    let whole = |e: rusqlite::Error| Failed::whole(rules::sqlite_message(&e));
    let tx = rules::Tx::begin(conn, "BEGIN").map_err(whole)?;
    let guard = rules::Guard::install(tx.0).map_err(whole)?;
    let outcome = statements(tx.0, &guard, sql, &params);
    // The emulator's own COMMIT or ROLLBACK must not meet the authorizer.
    rules::Guard::remove(tx.0).map_err(whole)?;
    let done = outcome?;
    // Deferred foreign keys are checked here: a violation fails the whole request.
    tx.commit().map_err(whole)?;
    Ok(done)
}

fn statements(
    tx: &Connection,
    guard: &rules::Guard,
    sql: &str,
    params: &[SqlValue],
) -> Result<(String, Totals), Failed> {
    let mut out = Vec::new();
    let mut totals = Totals::default();
    let mut batch = Batch::new(tx, sql);
    loop {
        let at = totals.statements + 1;
        let fail = |message: String| Failed {
            statement: Some(at),
            message,
        };
        let Some(mut stmt) = batch.next().map_err(|e| fail(guard.message(&e)))? else {
            break;
        };
        if rules::too_long(&stmt) {
            return Err(fail(rules::TOO_LONG.to_string()));
        }
        let started = Instant::now();
        let before = tx.total_changes();
        let n = stmt.parameter_count();
        if n > 0 {
            if n != params.len() {
                return Err(fail(format!(
                    "Wrong number of parameter bindings for SQL query: expected {n}, got {}",
                    params.len()
                )));
            }
            for (i, p) in params.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, p)
                    .map_err(|e| fail(rules::sqlite_message(&e)))?;
            }
        }
        let names: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let readonly = stmt.readonly();
        let mut rows_json = Vec::new();
        let mut rows_read = 0u64;
        {
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next().map_err(|e| fail(rules::sqlite_message(&e)))? {
                rows_read += 1;
                // Duplicate column names: one key, the last value wins (a JS object).
                let mut obj: Vec<(String, Value)> = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    let v = to_json(
                        row.get_ref(i)
                            .map_err(|e| fail(rules::sqlite_message(&e)))?,
                    );
                    match obj.iter_mut().find(|(k, _)| k == name) {
                        Some(slot) => slot.1 = v,
                        None => obj.push((name.clone(), v)),
                    }
                }
                let fields: Vec<String> = obj
                    .iter()
                    .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
                    .collect();
                rows_json.push(format!("{{{}}}", fields.join(",")));
            }
        }
        let changes = tx.total_changes().saturating_sub(before);
        let last_row_id = tx.last_insert_rowid();
        let changed_db = !readonly;
        let meta = json!({
            "changed_db": changed_db,
            "changes": changes,
            "duration": started.elapsed().as_secs_f64() * 1000.0,
            "last_row_id": last_row_id,
            "rows_read": rows_read,
            "rows_written": changes,
            "size_after": size_of(tx),
        });
        totals.statements += 1;
        totals.rows_read += rows_read;
        totals.rows_written += changes;
        totals.changes += changes;
        totals.last_row_id = last_row_id;
        totals.changed_db |= changed_db;
        out.push(format!(
            r#"{{"results":[{}],"success":true,"meta":{}}}"#,
            rows_json.join(","),
            meta
        ));
    }
    Ok((format!("[{}]", out.join(",")), totals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_d1_json() {
        assert_eq!(to_json(ValueRef::Integer(5)), json!(5));
        assert_eq!(
            to_json(ValueRef::Integer(9007199254740993)).to_string(),
            "9007199254740992"
        );
        assert_eq!(to_json(ValueRef::Real(2.0)).to_string(), "2");
        assert_eq!(to_json(ValueRef::Real(0.1)).to_string(), "0.1");
        assert_eq!(to_json(ValueRef::Real(f64::INFINITY)), Value::Null);
        assert_eq!(to_json(ValueRef::Blob(&[0, 255])), json!([0, 255]));
    }

    #[test]
    fn attach_is_refused_as_d1_refuses_it_and_creates_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("planted.sqlite");
        let mut c = Connection::open_in_memory().unwrap();
        for sql in [
            format!("ATTACH DATABASE '{}' AS x", target.display()),
            format!(
                "CREATE TABLE t(a); ATTACH '{}' AS y; CREATE TABLE y.z(a)",
                target.display()
            ),
            "DETACH DATABASE main".to_string(),
        ] {
            let err = run(&mut c, &sql, &[]).unwrap_err();
            assert_eq!(err.message, crate::rules::NOT_AUTHORIZED, "{sql}");
        }
        assert!(!target.exists(), "ATTACH created {}", target.display());
    }

    #[test]
    fn a_failing_statement_rolls_back_the_whole_batch() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        let err = run(
            &mut c,
            "INSERT INTO t VALUES(1); INSERT INTO nope VALUES(2)",
            &[],
        )
        .unwrap_err();
        assert_eq!(err.message, "no such table: nope: SQLITE_ERROR");
        assert_eq!(err.statement, Some(2));
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn rows_keep_column_order_and_meta_counts_changes() {
        let mut c = Connection::open_in_memory().unwrap();
        let (json, totals) = run(
            &mut c,
            "CREATE TABLE t(b, a); INSERT INTO t VALUES(?, ?); SELECT * FROM t",
            &[json!("x"), json!(1)],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
        assert!(json.contains(r#""results":[{"b":"x","a":1}]"#), "{json}");
        assert_eq!(v[1]["meta"]["changes"], json!(1));
        assert_eq!(v[1]["meta"]["last_row_id"], json!(1));
        assert_eq!(totals.statements, 3);
    }
}
