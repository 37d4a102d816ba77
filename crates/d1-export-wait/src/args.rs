//! Command line of d1-export-wait: a plain lexopt loop into [`Args`], the help text beside it.

use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common, ALLOW_EMPTY_HELP, COMMON_HELP};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::sync::LazyLock;

static HELP: LazyLock<String> = LazyLock::new(|| {
    let exit = cli::exit_status(
        &[
            (
                ExitCode::Ok,
                "every export complete, its signed URL printed",
            ),
            (
                ExitCode::Failed,
                "an export failed, was cancelled, or is unknown to D1",
            ),
            (
                ExitCode::Usage,
                "unknown option, malformed line, unknown database",
            ),
            (
                ExitCode::Credentials,
                "token missing or invalid, or lacking D1 Edit",
            ),
            (ExitCode::Temporary, "--timeout or retries used up"),
            (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
        ],
        "With several exports, the worst outcome, failures passed on from upstream included; no
record at all on stdin is 1 (unless --allow-empty).",
    );
    format!(
        "\
d1-export-wait: poll D1 exports until done, print `DATABASE_ID NAME BOOKMARK SIGNED_URL` lines

USAGE:
    d1-export-start DB... | d1-export-wait [OPTIONS]
    d1-export-wait [OPTIONS] BOOKMARK

Reads `DATABASE_ID NAME BOOKMARK` lines (or `DATABASE_ID BOOKMARK`, bare `BOOKMARK`, or
d1-export-start --json) from stdin, or one bookmark given as an argument, and polls each export,
several at once, printing each signed URL as soon as it is ready. A bare bookmark belongs to
--database, else D1_DATABASE_ID. Failure records from upstream are passed on, and the exit status
counts them. Bookmarks are perishable: D1 cancels an export nobody polls, so pipe
d1-export-start into d1-export-wait at once.

OPTIONS:
      --database DB      database (UUID or name) of bare bookmarks
  -j, --jobs N           exports polled at the same time (default 4, at most 32)
{ALLOW_EMPTY_HELP}
{COMMON_HELP}

ENVIRONMENT:
    CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_BASE_URL, D1_DATABASE_ID,
    D1_REQUEST_BUDGET

{exit}"
    )
});

pub const DEFAULT_JOBS: usize = 4;
const MAX_JOBS: usize = 32;

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    pub common: Common,
    /// A record given as the argument instead of stdin.
    pub record: Option<String>,
    /// `--database`: the database of bare bookmarks (else D1_DATABASE_ID).
    pub database: Option<String>,
    pub jobs: usize,
}

pub fn parse() -> Result<Args> {
    parse_from(std::env::args_os().skip(1))
}

pub fn parse_from(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Args> {
    let mut a = Args {
        common: Common::default(),
        record: None,
        database: None,
        jobs: DEFAULT_JOBS,
    };
    let mut p = lexopt::Parser::from_args(argv);
    while let Some(arg) = p.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if a.common.parse(&arg, &mut p, &HELP)? {
            continue;
        }
        match arg {
            Long("database") => {
                let db: String = p.value()?.string()?;
                if db.trim().is_empty() {
                    return Err(Error::usage("--database: the database is empty"));
                }
                a.database = Some(db);
            }
            Short('j') | Long("jobs") => {
                let v: String = p.value()?.string()?;
                a.jobs = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_JOBS).contains(n))
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--jobs: {v:?} is not a number from 1 to {MAX_JOBS}"
                        ))
                    })?;
            }
            Value(v) if a.record.is_none() => a.record = Some(v.string()?),
            Value(_) => {
                return Err(Error::usage(
                    "one bookmark at most as an argument; pipe several on standard input",
                ))
            }
            _ => return Err(cli::unexpected(arg)),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_from(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn defaults_read_stdin_with_four_jobs() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.jobs, 4);
        assert_eq!(a.record, None);
        assert_eq!(a.database, None);
    }

    #[test]
    fn one_bookmark_argument_and_a_database() {
        let a = parse(&["--database", "prod", "bm-1", "-j", "2"]).unwrap();
        assert_eq!(a.record.as_deref(), Some("bm-1"));
        assert_eq!(a.database.as_deref(), Some("prod"));
        assert_eq!(a.jobs, 2);
    }

    #[test]
    fn two_arguments_or_silly_jobs_are_usage_errors() {
        for bad in [
            &["a", "b"][..],
            &["--jobs", "0"],
            &["--jobs", "33"],
            &["--nope"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), d1_core::ExitCode::Usage, "{bad:?}");
        }
    }
}
