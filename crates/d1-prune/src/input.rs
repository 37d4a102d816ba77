//! Records from the previous tool on stdin (d1-prune can end the nightly pipeline). d1-prune
//! needs none of their values (it prunes the folders it is given), but it must not lose what
//! they say: failure records (`FAIL EXIT TOOL DATABASE_ID NAME REASON`, or JSON with
//! `"failed": true`) are passed through on stdout in d1-prune's output mode and counted, so that
//! its exit status is the worst class upstream (contract.md) and `sh` without `pipefail` still
//! sees a failed backup.
//!
//! Written as a plain loop over `d1_core::record::Lines` until `d1_core::pipe` lands.

use d1_core::record::{self, Lines};
use d1_core::{msg, ExitCode, Result};
use serde_json::{json, Value};
use std::io::BufRead;

/// What came down the pipe.
#[derive(Debug, Default)]
pub struct Upstream {
    /// Lines that were records (failures included).
    pub records: usize,
    pub failures: usize,
    /// The worst class of the failure records and of malformed input.
    pub worst: Option<ExitCode>,
}

impl Upstream {
    fn worsen(&mut self, c: ExitCode) {
        self.worst = Some(self.worst.map_or(c, |w| w.worst(c)));
    }
}

fn class(n: i64) -> ExitCode {
    match n {
        2 => ExitCode::Usage,
        3 => ExitCode::Credentials,
        75 => ExitCode::Temporary,
        130 => ExitCode::Interrupted,
        // 1, and anything that is not a class: a failure all the same.
        _ => ExitCode::Failed,
    }
}

/// No control characters in what is printed again.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A failure record in its JSON form.
fn failure_json(
    code: ExitCode,
    tool: &str,
    db: Option<&str>,
    name: Option<&str>,
    error: &str,
) -> Value {
    json!({
        "failed": true,
        "exit_code": code.code(),
        "tool": tool,
        "database_id": db,
        "database_name": name,
        "error": error,
    })
}

/// Reads every line of `input`, passing failures through; malformed lines are reported and
/// make the outcome "bad input" (2) without stopping the run.
pub fn read(input: impl BufRead, json_out: bool) -> Result<Upstream> {
    let mut up = Upstream::default();
    for item in Lines::new(input) {
        let (n, text) = match item {
            Ok(x) => x,
            Err(e) if e.code == ExitCode::Interrupted => return Err(e),
            Err(e) => {
                msg::error(&e.message);
                up.worsen(ExitCode::Usage);
                continue;
            }
        };
        if text.trim().is_empty() {
            msg::error(&format!("line {n}: blank line, expected a record"));
            up.worsen(ExitCode::Usage);
            continue;
        }
        up.records += 1;
        if text.trim_start().starts_with('{') {
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    msg::error(&format!("line {n}: not a JSON record: {e}"));
                    up.worsen(ExitCode::Usage);
                    continue;
                }
            };
            // `"ok": false` is d1-verify's JSON for a dump that failed, before failure
            // records existed.
            if v["failed"] == true || v["ok"] == false {
                let code = class(v["exit_code"].as_i64().unwrap_or(1));
                up.failures += 1;
                up.worsen(code);
                if json_out {
                    record::emit_json(&v)?;
                } else {
                    let f = |k: &str| v[k].as_str().map(clean).filter(|s| !s.is_empty());
                    let tool = f("tool").unwrap_or_else(|| "-".into());
                    let error = f("error")
                        .or_else(|| f("reason"))
                        .unwrap_or_else(|| "failed".into());
                    let line = format!(
                        "FAIL {} {} {} {} {}",
                        code.code(),
                        tool,
                        f("database_id").unwrap_or_else(|| "-".into()),
                        f("database_name").unwrap_or_else(|| "-".into()),
                        error
                    );
                    record::emit(&[&line])?;
                }
            }
            continue;
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.first() != Some(&"FAIL") {
            continue;
        }
        up.failures += 1;
        // `FAIL EXIT TOOL DATABASE_ID NAME REASON...`, or d1-verify's older `FAIL PATH REASON`.
        let parsed = fields
            .get(1)
            .and_then(|c| c.parse::<i64>().ok())
            .filter(|_| fields.len() >= 5);
        let code = class(parsed.unwrap_or(1));
        up.worsen(code);
        if !json_out {
            record::emit(&[&clean(&text)])?;
            continue;
        }
        let dash = |s: &str| (s != "-").then(|| s.to_string());
        let v = match parsed {
            Some(_) => failure_json(
                code,
                fields[2],
                dash(fields[3]).as_deref(),
                dash(fields[4]).as_deref(),
                &clean(&fields[5..].join(" ")),
            ),
            None => {
                let mut v = failure_json(
                    code,
                    "d1-verify",
                    None,
                    None,
                    &clean(&fields.get(2..).unwrap_or_default().join(" ")),
                );
                v["path"] = json!(fields.get(1));
                v
            }
        };
        record::emit_json(&v)?;
    }
    Ok(up)
}

/// The outcome of the records: with none at all the pipeline upstream printed nothing, which
/// is a failure (silence is not success) unless `allow_empty`.
pub fn outcome(up: &Upstream, allow_empty: bool) -> ExitCode {
    let mut worst = up.worst.unwrap_or(ExitCode::Ok);
    if up.records == 0 && !allow_empty {
        msg::error(
            "no records on standard input: the pipeline before d1-prune printed nothing \
             (pruned anyway; --allow-empty when d1-prune runs alone)",
        );
        worst = worst.worst(ExitCode::Failed);
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_set_the_worst_class_and_other_records_count() {
        let input = "OK backups/a.sql tables=3 rows=9\n\
                     FAIL 75 d1-export-wait db-2 analytics deadline reached\n\
                     FAIL backups/b.sql checksum mismatch\n\
                     {\"failed\": true, \"exit_code\": 3, \"tool\": \"d1-export-start\"}\n";
        let up = read(input.as_bytes(), false).unwrap();
        assert_eq!(up.records, 4);
        assert_eq!(up.failures, 3);
        assert_eq!(up.worst, Some(ExitCode::Credentials));
        assert_eq!(outcome(&up, false), ExitCode::Credentials);
    }

    #[test]
    fn no_record_is_a_failure_unless_allowed() {
        let up = read(&b""[..], false).unwrap();
        assert_eq!(outcome(&up, true), ExitCode::Ok);
        assert_eq!(outcome(&up, false), ExitCode::Failed);
        let up = read(&b"OK a.sql tables=1 rows=1\n\n"[..], false).unwrap();
        assert_eq!(
            outcome(&up, false),
            ExitCode::Usage,
            "a blank line is bad input"
        );
    }
}
