//! Records from the previous tool on stdin (d1-prune can end the nightly pipeline). d1-prune
//! needs none of their values (it prunes the folders it is given), but it must not lose what
//! they say: failure records (`d1_core::pipe`) are passed through on stdout in d1-prune's output
//! mode and counted, so that its exit status is the worst class upstream and `sh` without
//! `pipefail` still sees a failed backup. Any other line (d1-verify's `OK …`, d1-fetch's
//! `DATABASE_ID NAME PATH`, d1-upload's records) only counts as "something arrived".

use d1_core::pipe::{Failure, Tally};
use d1_core::record::Lines;
use d1_core::{Error, ExitCode, Result};
use std::io::BufRead;

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
            Err(e) if d1_core::pipe::ends_run(&e) => return Err(e),
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

/// The outcome of the input, once the pruning is done: the failures upstream are named again
/// on stderr (the last lines of a cron mail say what failed), and no input line at all is a
/// failure unless `allow_empty` (the pipeline before d1-prune printed nothing).
pub fn finish(mut up: Upstream, allow_empty: bool) -> Result<ExitCode> {
    if up.lines == 0 && !allow_empty {
        let e = Error::failed(
            "no records on standard input: the pipeline before d1-prune printed nothing \
             (pruned anyway; --allow-empty when d1-prune runs alone)",
        );
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
        assert_eq!(finish(up, false).unwrap(), ExitCode::Credentials);
    }

    #[test]
    fn no_record_is_a_failure_unless_allowed() {
        let up = read(&b""[..]).unwrap();
        assert_eq!(finish(up, true).unwrap(), ExitCode::Ok);
        let up = read(&b""[..]).unwrap();
        assert_eq!(finish(up, false).unwrap(), ExitCode::Failed);
        let up = read(&b"OK a.sql tables=1 rows=1\n\n"[..]).unwrap();
        assert_eq!(
            finish(up, false).unwrap(),
            ExitCode::Usage,
            "a blank line is bad input"
        );
    }
}
