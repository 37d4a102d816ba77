//! `--against`: after a dump restored cleanly, compare its fingerprint (fingerprint.rs) with
//! the live D1 database's, computed by the same SQL through the `query` endpoint. A dump can
//! load and still be wrong: D1's dump generator rounds integers beyond 2^53, turns -2^63 into
//! a REAL and rewrites text holding both a newline and the characters `\n` (docs/d1-emulator.md,
//! "Dump format"). Only a comparison with the source sees that.

use crate::fingerprint::{self, Measure, Schema, Table, MEASURES};
use crate::quirks::{Kind as QuirkKind, Quirks};
use d1_core::api;
use d1_core::cli::Common;
use d1_core::client::Client;
use d1_core::{Error, Result};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// SQL bytes per `query` request: a few statements of at most 30 kB each.
const REQUEST_CAP: usize = 90_000;

/// What `--against` was given, and the client to ask with.
pub struct Settings {
    /// `--against=DB`.
    pub database: Option<String>,
    /// `--database DB`, else `D1_DATABASE_ID`: used when neither the record nor the manifest
    /// names the database.
    pub fallback: Option<String>,
    pub allow_drift: bool,
    /// `--accept-d1-losses`: differences that a D1 dump quirk found in this dump explains are
    /// warnings.
    pub accept_losses: bool,
    client: Client,
}

impl Settings {
    /// Loads the credentials (a missing token is exit 3, before any dump is read).
    pub fn new(
        common: &Common,
        database: Option<String>,
        flag: Option<String>,
        allow_drift: bool,
        accept_losses: bool,
    ) -> Result<Settings> {
        let (cfg, client) = common.client()?;
        Ok(Settings {
            database,
            fallback: flag.or(cfg.database),
            allow_drift,
            accept_losses,
            client,
        })
    }
}

/// One difference between the live database and the restore.
#[derive(Debug, Clone)]
pub struct Difference {
    pub table: String,
    pub column: Option<String>,
    pub measure: &'static str,
    pub live: String,
    pub restored: String,
    pub cause: Option<&'static str>,
    /// Explained by rows or tables added or removed since the export: a warning with
    /// `--allow-drift`.
    pub drift: bool,
    /// Explained by a D1 dump quirk that the scan found in this very dump, and the user
    /// accepts those (`--accept-d1-losses`): a warning.
    pub accepted: bool,
}

impl Difference {
    pub fn describe(&self) -> String {
        let place = match &self.column {
            Some(c) => format!("{}.{c}", self.table),
            None => self.table.clone(),
        };
        let mut s = format!(
            "{place}: {} live={} restored={}",
            self.measure, self.live, self.restored
        );
        if let Some(c) = self.cause {
            s.push_str(&format!(" ({c})"));
        }
        s
    }
}

/// The comparison's result, for `--json` (`against`).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub database_id: String,
    pub name: String,
    pub tables: usize,
    pub requests: usize,
    pub allow_drift: bool,
    pub differences: Vec<Difference>,
}

impl Outcome {
    fn is_error(&self, d: &Difference) -> bool {
        !(d.accepted || self.allow_drift && d.drift)
    }

    /// Differences accepted as D1's known losses.
    pub fn accepted(&self) -> usize {
        self.differences.iter().filter(|d| d.accepted).count()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| self.is_error(d))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "database_id": self.database_id,
            "database": self.name,
            "tables": self.tables,
            "requests": self.requests,
            "allow_drift": self.allow_drift,
            "ok": self.errors().next().is_none(),
            "differences": self.differences.iter().map(|d| json!({
                "table": d.table,
                "column": d.column,
                "measure": d.measure,
                "live": d.live,
                "restored": d.restored,
                "cause": d.cause,
                "severity": if self.is_error(d) { "error" } else { "warning" },
                "accepted_d1_loss": d.accepted,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The database to compare with, in order: `--against=DB`, the record's first field, the
/// manifest d1-fetch wrote beside the dump (`FILE.json`, `database_id`), `--database`, then
/// `D1_DATABASE_ID`.
fn choose(path: &str, record: Option<&str>, s: &Settings) -> Result<String> {
    if let Some(d) = s.database.as_deref().or(record) {
        return Ok(d.to_string());
    }
    if path != "-" {
        if let Some(d) = manifest_database(&format!("{path}.json"))? {
            return Ok(d);
        }
    }
    s.fallback.clone().ok_or_else(|| {
        Error::usage(
            "--against: no database to compare with: give --against=DB, a `DATABASE_ID PATH` \
             line, a d1-fetch manifest (FILE.json), --database DB or D1_DATABASE_ID",
        )
    })
}

/// The `database_id` of the manifest d1-fetch wrote beside a dump (`side` is `DUMP.json`);
/// `None` when there is none. Also the metrics file's label for a bare path.
pub fn manifest_database(side: &str) -> Result<Option<String>> {
    let text = match std::fs::read(side) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {side}"), e)),
    };
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::usage(format!("{side}: not a d1-fetch manifest: {e}")))?;
    Ok(v.get("database_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// Compares the restored database `conn` with the live one; prints each difference on stderr
/// and fails with the first when any is not accepted. The outcome is kept in `out` either way.
pub fn check(
    conn: &Connection,
    path: &str,
    record: Option<&str>,
    s: &Settings,
    quirks: &Quirks,
    out: &mut Option<Outcome>,
) -> Result<()> {
    let wanted = choose(path, record, s)?;
    let db =
        api::resolve(&s.client, &wanted).map_err(|e| e.context(format!("--against {wanted}")))?;
    let label = if db.name.is_empty() {
        db.uuid.clone()
    } else {
        db.name.clone()
    };
    let live_ctx = |e: Error| e.context(format!("querying live database {label}"));
    let mut o = Outcome {
        database_id: db.uuid.clone(),
        name: db.name.clone(),
        allow_drift: s.allow_drift,
        ..Outcome::default()
    };

    let restored_schema =
        fingerprint::local_schema(conn).map_err(|e| Error::failed(format!("{e}")))?;
    let answer = api::query(&s.client, &db.uuid, fingerprint::SCHEMA_SQL, &[]).map_err(live_ctx)?;
    o.requests += 1;
    let live_schema = live_schema(answer.first().map_or(&[][..], Vec::as_slice))?;
    let common = schema_diff(&live_schema, &restored_schema, &mut o.differences);
    o.tables = common.len();

    let parts = fingerprint::parts(&common);
    let restored = fingerprint::local(conn, &parts)
        .map_err(|e| Error::failed(format!("fingerprinting the restore: {e}")))?;
    let mut live: BTreeMap<String, Table> = BTreeMap::new();
    for range in fingerprint::batches(&parts, REQUEST_CAP) {
        let batch = &parts[range];
        let sql = batch
            .iter()
            .map(|p| p.sql.as_str())
            .collect::<Vec<_>>()
            .join(";\n");
        let answers = api::query(&s.client, &db.uuid, &sql, &[]).map_err(live_ctx)?;
        o.requests += 1;
        if answers.len() != batch.len() {
            return Err(Error::failed(format!(
                "querying live database {label}: {} answers to {} statements",
                answers.len(),
                batch.len()
            )));
        }
        for (p, rows) in batch.iter().zip(&answers) {
            let row = rows.first().and_then(Value::as_object).ok_or_else(|| {
                Error::failed(format!(
                    "live database {label}: no row for table {}",
                    p.table
                ))
            })?;
            fingerprint::absorb(p, live.entry(p.table.clone()).or_default(), |a| {
                row.get(a).and_then(fingerprint::number)
            })
            .map_err(|e| Error::failed(format!("live database {label}, table {}: {e}", p.table)))?;
        }
    }
    for (name, l) in &live {
        if let Some(r) = restored.get(name) {
            compare(name, l, r, &mut o.differences);
        }
    }

    if s.accept_losses {
        for d in o.differences.iter_mut() {
            d.accepted = !d.drift && proved_by_scan(d.cause, quirks);
        }
    }
    report(path, &label, &o);
    let errors: Vec<&Difference> = o.errors().collect();
    let result = match errors.first() {
        None => Ok(()),
        Some(first) => Err(Error::failed(format!(
            "differs from live database {label}: {} difference{}; {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            first.describe()
        ))),
    };
    *out = Some(o);
    result
}

/// At most this many differences are printed one per line; the rest are counted (`--json`
/// lists them all): a wrong `--against` must not bury the log.
const SHOWN_DIFFERENCES: usize = 10;

/// Prints the differences on stderr: errors, then warnings, the first few of each, and one
/// line that counts the accepted D1 losses (silenced one by one under `-q`).
fn report(path: &str, label: &str, o: &Outcome) {
    let (errors, warnings): (Vec<&Difference>, Vec<&Difference>) =
        o.differences.iter().partition(|d| o.is_error(d));
    let line = |d: &Difference| format!("{path}: against {label}: {}", d.describe());
    for d in errors.iter().take(SHOWN_DIFFERENCES) {
        d1_core::msg::error(&line(d));
    }
    if errors.len() > SHOWN_DIFFERENCES {
        d1_core::msg::error(&format!(
            "{path}: against {label}: {} more differences not shown (--json lists them all)",
            errors.len() - SHOWN_DIFFERENCES
        ));
    }
    let (accepted, other): (Vec<&Difference>, Vec<&Difference>) =
        warnings.into_iter().partition(|d| d.accepted);
    for d in other.iter().take(SHOWN_DIFFERENCES) {
        d1_core::msg::warn(&line(d));
    }
    if !accepted.is_empty() {
        if !d1_core::msg::quiet() {
            for d in accepted.iter().take(SHOWN_DIFFERENCES) {
                d1_core::msg::warn(&line(d));
            }
        }
        let mut causes: Vec<&str> = accepted.iter().filter_map(|d| d.cause).collect();
        causes.sort_unstable();
        causes.dedup();
        d1_core::msg::warn(&format!(
            "{path}: against {label}: {} difference{} accepted as D1's known dump losses \
             (--accept-d1-losses): {}",
            accepted.len(),
            if accepted.len() == 1 { "" } else { "s" },
            causes.join("; ")
        ));
    }
}

/// Whether a difference's cause is a D1 dump quirk that the scan of this dump found: only then
/// is it D1's known loss and not something else that happens to look like it.
fn proved_by_scan(cause: Option<&str>, q: &Quirks) -> bool {
    let found = |k: QuirkKind| q.count(k) > 0;
    match cause {
        Some(CAUSE_ROUNDED) => found(QuirkKind::BeyondSafeInteger),
        Some(CAUSE_MIN_INT) => found(QuirkKind::MinInt64),
        Some(CAUSE_INFINITE) => found(QuirkKind::InfiniteReal),
        // The dump used the `'\n',char(10)` form: text that held a backslash-n then lost it.
        Some(CAUSE_BACKSLASH_N) => q.newline_placeholders > 0,
        _ => false,
    }
}

fn live_schema(rows: &[Value]) -> Result<Schema> {
    let mut schema = Schema::new();
    for r in rows {
        let (Some(t), Some(c)) = (
            r.get("t").and_then(Value::as_str),
            r.get("c").and_then(Value::as_str),
        ) else {
            return Err(Error::failed(
                "live database: unexpected answer to the schema query",
            ));
        };
        schema.entry(t.to_string()).or_default().push(c.to_string());
    }
    Ok(schema)
}

/// Tables or columns on one side only become differences (drift: a live database gains
/// tables and columns); what both sides hold is returned for fingerprinting.
fn schema_diff(live: &Schema, restored: &Schema, out: &mut Vec<Difference>) -> Schema {
    let presence = |table: &str, column: Option<&str>, in_live: bool| Difference {
        table: table.to_string(),
        column: column.map(str::to_string),
        measure: if column.is_some() { "column" } else { "table" },
        live: if in_live { "present" } else { "missing" }.into(),
        restored: if in_live { "missing" } else { "present" }.into(),
        cause: Some(if in_live {
            "missing from the dump, or created since the export"
        } else {
            "dropped from the live database since the export"
        }),
        drift: true,
        accepted: false,
    };
    let mut common = Schema::new();
    let names: std::collections::BTreeSet<&String> = live.keys().chain(restored.keys()).collect();
    for name in names {
        match (live.get(name), restored.get(name)) {
            (Some(l), Some(r)) => {
                for c in l.iter().filter(|c| !r.contains(c)) {
                    out.push(presence(name, Some(c), true));
                }
                for c in r.iter().filter(|c| !l.contains(c)) {
                    out.push(presence(name, Some(c), false));
                }
                let both: Vec<String> = l.iter().filter(|c| r.contains(c)).cloned().collect();
                common.insert(name.clone(), both);
            }
            (Some(_), None) => out.push(presence(name, None, true)),
            (None, Some(_)) => out.push(presence(name, None, false)),
            (None, None) => {}
        }
    }
    common
}

const CAUSE_ROUNDED: &str = "integers beyond 2^53 are rounded by D1's dump";
const CAUSE_MIN_INT: &str = "an INTEGER became a REAL: D1's dump writes -2^63 (and integers \
     near ±2^63) as -9223372036854776000, which restores as a REAL";
const CAUSE_BACKSLASH_N: &str = "text holding both a newline and the characters \\n: D1's dump \
     turns each \\n into a newline, one byte less per occurrence";
const CAUSE_INFINITE: &str = "an infinite REAL (9e999) did not come back as one";
const CAUSE_ROWS: &str = "rows added or removed since the export? --allow-drift accepts that";
const CAUSE_FOLLOWS_ROWS: &str = "follows from the row count";

/// Compares one table's fingerprints, naming the likely cause where it is a known quirk.
fn compare(name: &str, live: &Table, restored: &Table, out: &mut Vec<Difference>) {
    let drift = live.rows != restored.rows;
    if drift {
        out.push(Difference {
            table: name.to_string(),
            column: None,
            measure: "rows",
            live: live.rows.to_string(),
            restored: restored.rows.to_string(),
            cause: Some(CAUSE_ROWS),
            drift: true,
            accepted: false,
        });
    }
    for (col, l) in &live.columns {
        let Some(r) = restored.columns.get(col) else {
            continue;
        };
        let at = |m: Measure| MEASURES.iter().position(|x| *x == m).unwrap_or(0);
        let (i, re, t) = (at(Measure::Integer), at(Measure::Real), at(Measure::Text));
        let became_real = l[i] > r[i] && r[re] - l[re] == l[i] - r[i];
        let types_equal = (1..5).all(|k| l[k] == r[k]);
        for (k, m) in MEASURES.iter().enumerate() {
            if l[k] == r[k] {
                continue;
            }
            let cause = if drift {
                Some(CAUSE_FOLLOWS_ROWS)
            } else {
                match m {
                    Measure::Integer | Measure::Real if became_real => Some(CAUSE_MIN_INT),
                    Measure::IntSum | Measure::Bytes if became_real => Some(CAUSE_MIN_INT),
                    Measure::IntSum if types_equal => Some(CAUSE_ROUNDED),
                    Measure::Bytes if types_equal && l[t] > 0 && r[k] < l[k] => {
                        Some(CAUSE_BACKSLASH_N)
                    }
                    Measure::Infinite => Some(CAUSE_INFINITE),
                    _ => None,
                }
            };
            out.push(Difference {
                table: name.to_string(),
                column: Some(col.clone()),
                measure: m.name(),
                live: l[k].to_string(),
                restored: r[k].to_string(),
                cause,
                drift,
                accepted: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(sql: &str) -> BTreeMap<String, Table> {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(sql).unwrap();
        fingerprint::local(
            &c,
            &fingerprint::parts(&fingerprint::local_schema(&c).unwrap()),
        )
        .unwrap()
    }

    fn diffs(live: &str, restored: &str) -> Vec<Difference> {
        let (l, r) = (fp(live), fp(restored));
        let mut out = Vec::new();
        compare("t", &l["t"], &r["t"], &mut out);
        out
    }

    #[test]
    fn a_rounded_integer_differs_only_in_its_sum_and_is_explained() {
        let d = diffs(
            "CREATE TABLE t(i); INSERT INTO t VALUES(9007199254740993);",
            "CREATE TABLE t(i); INSERT INTO t VALUES(9007199254740992);",
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].describe(),
            "t.i: int_sum live=9007199254740993 restored=9007199254740992 \
             (integers beyond 2^53 are rounded by D1's dump)"
        );
        assert!(!d[0].drift);
    }

    #[test]
    fn min_int64_turned_real_shows_in_the_type_counts() {
        let d = diffs(
            "CREATE TABLE t(i); INSERT INTO t VALUES(-9223372036854775808);",
            "CREATE TABLE t(i); INSERT INTO t VALUES(-9223372036854776000);",
        );
        let m: Vec<&str> = d.iter().map(|x| x.measure).collect();
        assert_eq!(m, ["typeof_integer", "typeof_real", "bytes", "int_sum"]);
        assert!(d.iter().all(|x| x.cause == Some(CAUSE_MIN_INT)));
    }

    #[test]
    fn backslash_n_turned_newline_is_one_byte_shorter() {
        let d = diffs(
            "CREATE TABLE t(s); INSERT INTO t VALUES('a' || char(10) || 'b\\nc');",
            "CREATE TABLE t(s); INSERT INTO t VALUES('a' || char(10) || 'b' || char(10) || 'c');",
        );
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].measure, d[0].live.as_str()), ("bytes", "6"));
        assert_eq!(d[0].cause, Some(CAUSE_BACKSLASH_N));
    }

    #[test]
    fn added_rows_are_drift_with_every_measure_that_follows() {
        let d = diffs(
            "CREATE TABLE t(i); INSERT INTO t VALUES(1),(2);",
            "CREATE TABLE t(i); INSERT INTO t VALUES(1);",
        );
        assert_eq!(d[0].measure, "rows");
        assert!(d.len() > 1 && d.iter().all(|x| x.drift));
    }

    #[test]
    fn tables_and_columns_on_one_side_only_are_listed_and_the_rest_compared() {
        let l: Schema = [("a", vec!["x", "y"]), ("b", vec!["z"])]
            .iter()
            .map(|(t, c)| (t.to_string(), c.iter().map(|s| s.to_string()).collect()))
            .collect();
        let r: Schema = [("a", vec!["x"]), ("c", vec!["z"])]
            .iter()
            .map(|(t, c)| (t.to_string(), c.iter().map(|s| s.to_string()).collect()))
            .collect();
        let mut out = Vec::new();
        let common = schema_diff(&l, &r, &mut out);
        assert_eq!(common.len(), 1);
        assert_eq!(common["a"], vec!["x"]);
        let got: Vec<String> = out.iter().map(Difference::describe).collect();
        assert!(got[0].starts_with("a.y: column live=present restored=missing"));
        assert!(got[1].starts_with("b: table live=present restored=missing"));
        assert!(got[2].starts_with("c: table live=missing restored=present"));
    }

    #[test]
    fn the_manifest_names_the_database_when_the_record_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("x.sql");
        std::fs::write(
            dir.path().join("x.sql.json"),
            r#"{"database_id":"from-manifest"}"#,
        )
        .unwrap();
        let path = dump.to_str().unwrap();
        assert_eq!(
            manifest_database(&format!("{path}.json"))
                .unwrap()
                .as_deref(),
            Some("from-manifest")
        );
        assert_eq!(manifest_database(&format!("{path}.nope")).unwrap(), None);
    }
}
