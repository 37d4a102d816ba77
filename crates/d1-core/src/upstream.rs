//! Records from the previous tool on stdin, for a tool whose own input is its arguments and
//! that may end the nightly pipeline (d1-prune, d1-ls). It needs none of their values, but it
//! must not lose what they say: failure records (`pipe`) are passed through on stdout in the
//! tool's output mode and counted, so that its exit status is the worst class upstream and `sh`
//! without `pipefail` still sees a failed backup. Any other line (d1-verify's `OK …`, d1-fetch's
//! `DATABASE_ID NAME PATH`, d1-upload's records) only counts as "something arrived".

use crate::error::{Error, ExitCode, Result};
use crate::pipe::{Failure, Tally};
use crate::record::Lines;
use std::io::{BufRead, IsTerminal};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;

/// Whether stdin carries records: not a terminal, and not a character device such as
/// /dev/null (systemd units and `</dev/null` mean "run alone").
pub fn stdin_has_records() -> bool {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return false;
    }
    let is_char_device = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_char_device());
    !is_char_device
}

/// What came down the pipe.
#[derive(Debug, Default)]
pub struct Upstream {
    /// Input lines (records, failure records, bad lines).
    pub lines: usize,
    pub tally: Tally,
}

/// A line that says FAIL but is not a well-formed failure record is still a failure: a FAIL is
/// never swallowed.
fn loose_failure(text: &str) -> Option<Failure> {
    let rest = text.strip_prefix("FAIL ")?;
    Some(Failure {
        exit: ExitCode::Failed,
        tool: "upstream".into(),
        database_id: None,
        name: None,
        reason: rest.trim().to_string(),
        path: None,
    })
}

/// Reads every line of `input`, passing failures through as they come. A blank or
/// malformed line is reported (and passed on as d1-prune's failure record, class 2) without
/// stopping the run.
pub fn read(input: impl BufRead) -> Result<Upstream> {
    let mut up = Upstream::default();
    for item in Lines::new(input) {
        up.lines += 1;
        up.tally.arrived();
        let (n, text) = match item {
            Ok(x) => x,
            Err(e) if crate::pipe::ends_run(&e) => return Err(e),
            Err(e) => {
                up.tally.fail(&e, None)?;
                continue;
            }
        };
        if text.trim().is_empty() {
            let e = Error::usage(format!("line {n}: blank line, expected a record"));
            up.tally.fail(&e, None)?;
            continue;
        }
        let trimmed = text.trim_start();
        let failure = if trimmed.starts_with('{') {
            match serde_json::from_str(trimmed) {
                Ok(v) => Failure::from_json(&v),
                Err(e) => {
                    let e = Error::usage(format!("line {n}: not a JSON record: {e}"));
                    up.tally.fail(&e, None)?;
                    continue;
                }
            }
        } else {
            Failure::parse_plain(&text).or_else(|| loose_failure(&text))
        };
        if let Some(f) = failure {
            up.tally.pass(f)?;
        }
    }
    Ok(up)
}

/// The outcome of the input, once the tool's work is done (`done`: what it did anyway, for the
/// message): the failures upstream are named again on stderr (the last lines of a cron mail say
/// what failed), and no input line at all is a failure unless `allow_empty` (the pipeline
/// before printed nothing).
pub fn finish(mut up: Upstream, allow_empty: bool, done: &str) -> Result<ExitCode> {
    if up.lines == 0 && !allow_empty {
        let e = Error::failed(format!(
            "no records on standard input: the pipeline before {} printed nothing \
             ({done}; --allow-empty when {} runs alone)",
            crate::msg::tool(),
            crate::msg::tool()
        ));
        up.tally.fail(&e, None)?;
    }
    up.tally.finish(true, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_set_the_worst_class_and_other_records_count() {
        let input = "OK backups/a.sql tables=3 rows=9\n\
                     FAIL 75 d1-export-wait db-2 analytics deadline reached\n\
                     FAIL backups/b.sql checksum mismatch\n\
                     {\"failed\": true, \"exit_code\": 3, \"tool\": \"d1-export-start\"}\n\
                     db-1 prod backups/prod-20261109T031700Z.sql\n";
        let up = read(input.as_bytes()).unwrap();
        assert_eq!(up.lines, 5);
        assert_eq!(
            finish(up, false, "done anyway").unwrap(),
            ExitCode::Credentials
        );
    }

    #[test]
    fn no_record_is_a_failure_unless_allowed() {
        let up = read(&b""[..]).unwrap();
        assert_eq!(finish(up, true, "done anyway").unwrap(), ExitCode::Ok);
        let up = read(&b""[..]).unwrap();
        assert_eq!(finish(up, false, "done anyway").unwrap(), ExitCode::Failed);
        let up = read(&b"OK a.sql tables=1 rows=1\n\n"[..]).unwrap();
        assert_eq!(
            finish(up, false, "done anyway").unwrap(),
            ExitCode::Usage,
            "a blank line is bad input"
        );
    }
}
