//! What d1-upload reads: the records d1-verify prints (`OK PATH tables=N rows=M`, or its
//! `--json` objects with "path"), d1-fetch's `[DATABASE_ID [NAME]] PATH`, and failure records
//! from any stage (contract.md), which are passed on unchanged and counted.

use d1_core::{Error, ExitCode, Result};
use serde_json::{json, Value};

/// One input line, understood.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A dump to upload.
    Dump(String),
    /// A failure upstream: passed on, its exit class counted.
    Failure(Failure),
}

/// A failure record in both forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub code: ExitCode,
    /// The line as it came (plain or JSON).
    pub original: String,
    pub json: Value,
}

impl Failure {
    /// The record in the output mode asked for: unchanged when it came in that mode.
    pub fn render(&self, as_json: bool) -> String {
        let came_as_json = self.original.trim_start().starts_with('{');
        if as_json == came_as_json {
            return self.original.clone();
        }
        if as_json {
            return self.json.to_string();
        }
        plain(&self.json)
    }
}

fn dash(v: &Value) -> String {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.replace(char::is_whitespace, "_"))
        .unwrap_or_else(|| "-".into())
}

/// `FAIL EXIT TOOL DATABASE_ID NAME REASON...` from the JSON form.
pub fn plain(j: &Value) -> String {
    let reason = j["error"]
        .as_str()
        .unwrap_or("failed")
        .replace(|c: char| c.is_control(), " ");
    format!(
        "FAIL {} {} {} {} {}",
        j["exit_code"].as_i64().unwrap_or(1),
        dash(&j["tool"]),
        dash(&j["database_id"]),
        dash(&j["database_name"]),
        reason
    )
}

/// Our own failure for a dump, in both forms.
pub fn own_failure(
    err: &Error,
    db: Option<&str>,
    name: Option<&str>,
    path: Option<&str>,
) -> Failure {
    let mut j = json!({
        "failed": true,
        "exit_code": err.code.code(),
        "tool": "d1-upload",
        "database_id": db,
        "database_name": name,
        "error": d1_core::redact::redact(&err.message),
    });
    if let Some(p) = path {
        j["path"] = p.into();
    }
    let p = plain(&j);
    Failure {
        code: err.code,
        original: p,
        json: j,
    }
}

fn class(n: i64) -> ExitCode {
    match n {
        0 => ExitCode::Ok,
        2 => ExitCode::Usage,
        3 => ExitCode::Credentials,
        75 => ExitCode::Temporary,
        130 => ExitCode::Interrupted,
        _ => ExitCode::Failed,
    }
}

/// Parses line `n`.
pub fn parse(n: usize, text: &str) -> Result<Line> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::usage(format!(
            "line {n}: blank line, expected a record"
        )));
    }
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t)
            .map_err(|e| Error::usage(format!("line {n}: not a JSON record: {e}")))?;
        // The contract's failure record, and d1-verify's report of a dump that failed.
        if v["failed"] == true || v["ok"] == false {
            let code = class(v["exit_code"].as_i64().unwrap_or(1));
            let mut j = v.clone();
            if v["failed"] != true {
                j = json!({
                    "failed": true,
                    "exit_code": code.code(),
                    "tool": "d1-verify",
                    "database_id": v["database_id"],
                    "database_name": v["database_name"],
                    "error": v["reason"].as_str().unwrap_or("verification failed"),
                    "path": v["path"],
                });
            }
            return Ok(Line::Failure(Failure {
                code,
                original: t.to_string(),
                json: j,
            }));
        }
        return v["path"]
            .as_str()
            .map(|p| Line::Dump(p.to_string()))
            .ok_or_else(|| {
                Error::usage(format!("line {n}: JSON record without a \"path\" string"))
            });
    }
    if let Some(c) = t.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(Error::usage(format!(
            "line {n}: control character {c:?} in the record"
        )));
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    match fields.as_slice() {
        ["FAIL", rest @ ..] => {
            // The contract's form `FAIL EXIT TOOL DB NAME REASON`, or d1-verify's own
            // `FAIL PATH REASON` (exit class 1).
            let j = match rest {
                [exit, tool, db, name, reason @ ..] if exit.parse::<i64>().is_ok() => json!({
                    "failed": true,
                    "exit_code": exit.parse::<i64>().unwrap_or(1),
                    "tool": tool,
                    "database_id": (*db != "-").then_some(db),
                    "database_name": (*name != "-").then_some(name),
                    "error": reason.join(" "),
                }),
                [path, reason @ ..] => json!({
                    "failed": true, "exit_code": 1, "tool": "d1-verify",
                    "database_id": null, "database_name": null,
                    "error": reason.join(" "), "path": path,
                }),
                [] => json!({"failed": true, "exit_code": 1, "tool": null, "error": "failed"}),
            };
            Ok(Line::Failure(Failure {
                code: class(j["exit_code"].as_i64().unwrap_or(1)),
                original: t.to_string(),
                json: j,
            }))
        }
        ["OK", path, ..] => Ok(Line::Dump(path.to_string())),
        [path] | [_, path] | [_, _, path] => Ok(Line::Dump(path.to_string())),
        _ => Err(Error::usage(format!(
            "line {n}: expected 'OK PATH tables=N rows=M' (d1-verify) or '[DATABASE_ID [NAME]] PATH', got {} fields",
            fields.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_ok_lines_json_lines_and_fetch_records_name_a_dump() {
        assert_eq!(
            parse(1, "OK backups/a.sql.zst tables=3 rows=10").unwrap(),
            Line::Dump("backups/a.sql.zst".into())
        );
        assert_eq!(
            parse(2, r#"{"path":"b.sql","ok":true,"rows":1}"#).unwrap(),
            Line::Dump("b.sql".into())
        );
        assert_eq!(
            parse(3, "db1 prod c.sql").unwrap(),
            Line::Dump("c.sql".into())
        );
        assert!(parse(4, "").unwrap_err().message.contains("line 4: blank"));
    }

    #[test]
    fn failure_records_pass_through_and_convert_between_forms() {
        let Line::Failure(f) = parse(
            1,
            "FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\"",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(f.code, ExitCode::Usage);
        assert_eq!(
            f.render(false),
            "FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\""
        );
        let j: Value = serde_json::from_str(&f.render(true)).unwrap();
        assert_eq!(j["database_name"], "prod-dbb");
        assert_eq!(j["database_id"], Value::Null);

        let Line::Failure(f) = parse(2, "FAIL x.sql checksum mismatch").unwrap() else {
            panic!()
        };
        assert_eq!(f.code, ExitCode::Failed);
        assert_eq!(f.render(false), "FAIL x.sql checksum mismatch");

        let line = r#"{"failed":true,"exit_code":75,"tool":"d1-export-wait","database_id":"u","database_name":null,"error":"timed out"}"#;
        let Line::Failure(f) = parse(3, line).unwrap() else {
            panic!()
        };
        assert_eq!(f.code, ExitCode::Temporary);
        assert_eq!(f.render(true), line);
        assert_eq!(f.render(false), "FAIL 75 d1-export-wait u - timed out");
    }
}
