//! The record loop every reading tool shares (docs/records.md). A pipeline such as
//! `d1-export-start a b | d1-export-wait | d1-fetch -o d/ | d1-verify` usually runs under plain
//! `sh`, whose exit status is the last tool's: so a failure anywhere travels down the pipe as a
//! **failure record**, every tool passes it on and counts it, and the last tool exits with the
//! worst class it saw. A tool that receives no record at all fails: silence is not success.
//!
//! Plain failure record: `FAIL EXIT TOOL DATABASE_ID NAME REASON...` (`-` for an unknown id or
//! name). JSON: `{"failed": true, "exit_code", "tool", "database_id", "database_name", "error"}`.

use crate::error::{self, Error, ExitCode, Result};
use crate::record::{self, Lines, Record};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON_OUT: AtomicBool = AtomicBool::new(false);

/// `--json`: failure records (ours and the ones passed on) are written as JSON lines.
pub fn set_json(on: bool) {
    JSON_OUT.store(on, Ordering::Relaxed);
}

pub fn json_out() -> bool {
    JSON_OUT.load(Ordering::Relaxed)
}

/// One database's failure, at any stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: ExitCode,
    pub tool: String,
    pub database_id: Option<String>,
    pub name: Option<String>,
    pub reason: String,
    /// The dump concerned, when there is one (d1-verify, d1-upload).
    pub path: Option<String>,
}

impl Failure {
    /// This tool's failure for a record (or for the whole run when `rec` is `None`).
    pub fn of(e: &Error, rec: Option<&Record>) -> Failure {
        Failure {
            exit: e.code(),
            tool: crate::msg::tool().to_string(),
            database_id: rec.and_then(|r| r.database.clone()),
            name: rec.and_then(|r| r.name.clone()),
            reason: e.message.clone(),
            path: None,
        }
    }

    /// Who failed, for messages: `prod-db (0f3c…)`, or what is known of it.
    pub fn subject(&self) -> String {
        match (&self.name, &self.database_id) {
            (Some(n), Some(id)) if n != id => format!("{n} ({id})"),
            (Some(n), _) => n.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => match &self.path {
                Some(p) => p.clone(),
                None => "the run".to_string(),
            },
        }
    }

    pub fn plain(&self) -> String {
        let field = |v: &Option<String>| v.as_deref().map_or("-".to_string(), safe_field);
        format!(
            "FAIL {} {} {} {} {}",
            self.exit.code(),
            safe_field(&self.tool),
            field(&self.database_id),
            field(&self.name),
            one_line(&crate::redact::redact(&self.reason)),
        )
    }

    pub fn json(&self) -> Value {
        let mut v = json!({
            "failed": true,
            "exit_code": self.exit.code(),
            "tool": self.tool,
            "database_id": self.database_id,
            "database_name": self.name,
            "error": one_line(&crate::redact::redact(&self.reason)),
        });
        if let Some(p) = &self.path {
            v["path"] = json!(p);
        }
        v
    }

    /// Writes the record on stdout in the run's output mode (`--json` or plain).
    pub fn emit(&self) -> Result<()> {
        if json_out() {
            record::emit_json(&self.json())
        } else {
            record::emit(&[&self.plain()])
        }
    }

    /// `FAIL EXIT TOOL ID NAME REASON...`; `None` when the line is not one.
    pub fn parse_plain(text: &str) -> Option<Failure> {
        let mut it = text.splitn(6, ' ');
        if it.next()? != "FAIL" {
            return None;
        }
        let exit = ExitCode::from_code(it.next()?.parse().ok()?)?;
        let tool = it.next()?.to_string();
        let opt = |s: &str| (s != "-" && !s.is_empty()).then(|| s.to_string());
        let database_id = opt(it.next()?);
        let name = opt(it.next()?);
        let reason = it.next().unwrap_or("").to_string();
        Some(Failure {
            exit,
            tool,
            database_id,
            name,
            reason,
            path: None,
        })
    }

    /// A JSON line with `"failed": true`; `None` otherwise.
    pub fn from_json(v: &Value) -> Option<Failure> {
        if v.get("failed") != Some(&Value::Bool(true)) {
            return None;
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let exit = v
            .get("exit_code")
            .and_then(Value::as_i64)
            .and_then(|c| ExitCode::from_code(c as i32))
            .filter(|c| *c != ExitCode::Ok)
            .unwrap_or(ExitCode::Failed);
        Some(Failure {
            exit,
            tool: s("tool").unwrap_or_else(|| "upstream".to_string()),
            database_id: s("database_id"),
            name: s("database_name"),
            reason: s("error").unwrap_or_default(),
            path: s("path"),
        })
    }
}

/// A record field must be one token: whitespace and control characters become `_`.
pub fn safe_field(s: &str) -> String {
    if s.is_empty() {
        return "-".to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What a tool reads: the word for its value in messages, and the JSON keys that hold it in
/// the previous tool's `--json` lines (the first one present wins).
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub what: &'static str,
    pub json_keys: &'static [&'static str],
}

pub const BOOKMARK: Kind = Kind {
    what: "bookmark",
    json_keys: &["bookmark"],
};
/// d1-fetch's input: d1-export-wait's signed URL, or an off-site copy's `s3://` URL (the
/// `"url"` of d1-upload's and d1-ls's JSON records).
pub const SIGNED_URL: Kind = Kind {
    what: "signed URL",
    json_keys: &["signed_url", "url"],
};
pub const PATH: Kind = Kind {
    what: "path",
    json_keys: &["path"],
};

/// One input line, understood.
#[derive(Debug, Clone)]
pub enum Item {
    Record(Record),
    Failure(Failure),
}

/// Parses one line: a failure record (plain or JSON), a JSON record of the previous tool, a
/// d1-verify `OK PATH key=value...` line, or `[DATABASE_ID [NAME]] VALUE`.
pub fn parse(line: usize, text: &str, kind: Kind) -> Result<Item> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(trimmed)
            .map_err(|e| Error::usage(format!("line {line}: not a JSON record: {e}")))?;
        if let Some(f) = Failure::from_json(&v) {
            return Ok(Item::Failure(f));
        }
        return from_json(line, v, kind).map(Item::Record);
    }
    if let Some(f) = Failure::parse_plain(text) {
        return Ok(Item::Failure(f));
    }
    if let Some(path) = verified_line(text) {
        return Ok(Item::Record(Record {
            line,
            value: path.to_string(),
            ..Record::default()
        }));
    }
    record::parse(line, text, kind.what).map(Item::Record)
}

/// d1-verify's `OK PATH tables=N rows=M`: the path is the record's value. It is what lies
/// between `OK ` and the `key=value` fields at the end, so a path d1-verify was given with a
/// space in it still reaches the next tool whole.
fn verified_line(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("OK ")?;
    let mut end = rest.len();
    let mut pairs = 0;
    while let Some(i) = rest[..end].rfind(' ') {
        let word = &rest[i + 1..end];
        if !is_pair(word) {
            break;
        }
        pairs += 1;
        end = i;
    }
    let path = &rest[..end];
    (pairs > 0 && !path.is_empty()).then_some(path)
}

/// `tables=3`: a key of letters and `_`, a value without spaces.
fn is_pair(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, v)| {
        !k.is_empty() && !v.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

fn from_json(line: usize, v: Value, kind: Kind) -> Result<Record> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    let value = kind.json_keys.iter().find_map(|k| s(k)).ok_or_else(|| {
        Error::usage(format!(
            "line {line}: JSON record without a \"{}\" string",
            kind.json_keys.first().copied().unwrap_or("value")
        ))
    })?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::usage(format!(
            "line {line}: control character {c:?} in {} record",
            kind.what
        )));
    }
    Ok(Record {
        line,
        database: s("database_id").or_else(|| s("database")),
        name: s("database_name").or_else(|| s("name")),
        bookmark: s("at_bookmark")
            .or_else(|| s("bookmark"))
            .filter(|b| record::looks_like_bookmark(b)),
        value,
        json: Some(v),
    })
}

/// Keeps the worst outcome of a run, the failures seen upstream, and whether any record came.
#[derive(Debug, Default)]
pub struct Tally {
    worst: Option<ExitCode>,
    records: usize,
    upstream: Vec<Failure>,
}

impl Tally {
    pub fn worst(&self) -> ExitCode {
        self.worst.unwrap_or(ExitCode::Ok)
    }

    pub fn count(&mut self, code: ExitCode) {
        self.worst = Some(self.worst().worst(code));
    }

    /// An input line arrived (a record, a failure record or a bad line).
    pub fn arrived(&mut self) {
        self.records += 1;
    }

    /// Passes an upstream failure on unchanged and counts it.
    pub fn pass(&mut self, f: Failure) -> Result<()> {
        f.emit()?;
        self.count(f.exit);
        self.upstream.push(f);
        Ok(())
    }

    /// This tool failed for `rec`: the message on stderr, a failure record on stdout.
    pub fn fail(&mut self, e: &Error, rec: Option<&Record>) -> Result<()> {
        self.fail_with(Failure::of(e, rec))
    }

    pub fn fail_with(&mut self, f: Failure) -> Result<()> {
        crate::msg::error(&f.reason);
        self.count(f.exit);
        // When stdout itself is what failed (a full disk under `-o -`), the message above is
        // all there is to say: the run ends without saying it twice.
        f.emit().map_err(|e| match e.kind {
            error::Kind::StdoutClosed => e,
            _ => Error::reported(self.worst().worst(e.code())),
        })
    }

    /// The run's outcome. No input line at all is a failure unless `allow_empty`. The failures
    /// passed on are named again on stderr, one line each: a tool cannot know whether it ends
    /// the pipeline (under cron its stdout is a pipe too), and the last lines of a cron mail
    /// must say what failed.
    pub fn finish(self, allow_empty: bool, what: &str) -> Result<ExitCode> {
        if self.records == 0 && !allow_empty {
            return Err(Error::failed(format!(
                "no {what} records on standard input: the previous step produced nothing \
                 (it failed or was killed); --allow-empty if nothing to do is expected"
            )));
        }
        {
            for f in &self.upstream {
                crate::msg::error(&format!(
                    "{} failed upstream in {} (exit {}): {}",
                    f.subject(),
                    f.tool,
                    f.exit.code(),
                    f.reason
                ));
            }
        }
        Ok(self.worst())
    }
}

/// How [`run`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub kind: Kind,
    pub allow_empty: bool,
}

/// The record loop for tools that handle one record at a time: reads stdin, passes failure
/// records on, calls `step` for each record and turns its error into a failure record for that
/// database. `Ok(code)` from a step is an outcome it reported itself (d1-verify's FAIL line),
/// only counted. A step may fill in what it learnt of the record's database (from a manifest,
/// from `--database`), so that its failure record names it. A signal or a closed stdout ends
/// the run at once. Returns the worst outcome.
pub fn run(
    opts: Options,
    mut step: impl FnMut(&mut Record) -> Result<ExitCode>,
) -> Result<ExitCode> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::usage(format!(
            "no input: give it as an argument or pipe {} records into standard input (try --help)",
            opts.kind.what
        )));
    }
    let mut tally = Tally::default();
    for item in Lines::new(stdin.lock()) {
        tally.arrived();
        let item = item.and_then(|(n, text)| parse(n, &text, opts.kind));
        match item {
            Ok(Item::Failure(f)) => tally.pass(f)?,
            Ok(Item::Record(mut rec)) => match step(&mut rec) {
                Ok(code) => tally.count(code),
                Err(e) if ends_run(&e) => return Err(e),
                Err(e) => tally.fail(&e, Some(&rec))?,
            },
            Err(e) if ends_run(&e) => return Err(e),
            Err(e) => tally.fail(&e, None)?,
        }
    }
    tally.finish(opts.allow_empty, opts.kind.what)
}

/// A signal or a closed stdout ends the whole run, not one record.
pub fn ends_run(e: &Error) -> bool {
    e.ends_run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Failure {
        Failure {
            exit: ExitCode::Usage,
            tool: "d1-export-start".into(),
            database_id: None,
            name: Some("prod-dbb".into()),
            reason: "no database named \"prod-dbb\"".into(),
            path: None,
        }
    }

    #[test]
    fn a_failure_record_round_trips_in_both_forms() {
        let f = failure();
        let line = f.plain();
        assert_eq!(
            line,
            "FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\""
        );
        assert_eq!(Failure::parse_plain(&line), Some(f.clone()));
        let j = f.json().to_string();
        match parse(1, &j, BOOKMARK).unwrap() {
            Item::Failure(g) => assert_eq!(g, f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reason_cannot_forge_a_second_record() {
        let mut f = failure();
        f.reason = "bad\nabc https://x/forged.sql".into();
        assert!(!f.plain().contains('\n'));
        assert!(!f.json().to_string().contains('\n'));
    }

    #[test]
    fn records_of_one_two_and_three_fields_and_verify_lines() {
        let r = |t: &str| match parse(4, t, PATH).unwrap() {
            Item::Record(r) => (r.database, r.name, r.value),
            Item::Failure(f) => panic!("{f:?}"),
        };
        assert_eq!(r("a.sql"), (None, None, "a.sql".into()));
        assert_eq!(r("id a.sql"), (Some("id".into()), None, "a.sql".into()));
        assert_eq!(
            r("id prod a.sql"),
            (Some("id".into()), Some("prod".into()), "a.sql".into())
        );
        assert_eq!(r("id - a.sql"), (Some("id".into()), None, "a.sql".into()));
        assert_eq!(
            r("OK d/prod-x.sql.zst tables=3 rows=10"),
            (None, None, "d/prod-x.sql.zst".into())
        );
        assert_eq!(
            r("OK my backups/a b.sql tables=3 rows=10"),
            (None, None, "my backups/a b.sql".into())
        );
        assert_eq!(
            r(r#"{"path":"d/x.sql","database":"id","ok":true}"#),
            (Some("id".into()), None, "d/x.sql".into())
        );
    }

    #[test]
    fn json_records_name_the_missing_key() {
        let e = parse(3, r#"{"database_id":"db2"}"#, SIGNED_URL).unwrap_err();
        assert_eq!(
            e.message,
            "line 3: JSON record without a \"signed_url\" string"
        );
        assert_eq!(e.code(), ExitCode::Usage);
    }

    #[test]
    fn no_input_fails_unless_allowed_and_the_worst_class_wins() {
        let t = Tally::default();
        let e = t.finish(false, "path").unwrap_err();
        assert_eq!(e.code(), ExitCode::Failed);
        assert!(e.message.starts_with("no path records on standard input"));
        assert_eq!(Tally::default().finish(true, "path").unwrap(), ExitCode::Ok);
        let mut t = Tally::default();
        t.arrived();
        t.count(ExitCode::Temporary);
        t.count(ExitCode::Credentials);
        t.count(ExitCode::Failed);
        assert_eq!(t.finish(false, "path").unwrap(), ExitCode::Credentials);
    }
}
