//! d1-ls's command line (lexopt), and its help text beside the parser.

use d1_archive::places::Places;
use d1_archive::s3::Options;
use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::time::Duration;

pub const HELP: &str = "\
d1-ls: list D1 backups in folders and bucket prefixes, by database, verified or not

Usage: d1-ls [OPTIONS] DIR|s3://BUCKET/PREFIX/...
       d1-ls --latest s3://BUCKET/PREFIX/ | d1-fetch -o drill/ | d1-verify

Lists the backups (a dump with its .sha256 and its manifest DUMP.json) in each DIR and bucket
prefix, grouped by the database their manifest names: when each was exported, its size, its
verdict (verified, failed, unverified), whether it is encrypted, where it is, and the Time
Travel bookmark when the manifest has one; then, per database, the count, the bytes, and the
oldest and newest verified backup.

Output: a table when stdout is a terminal; otherwise records, one per backup:
'DATABASE_ID NAME PATH' for a folder's (what d1-verify, d1-upload and d1-import read),
'DATABASE_ID NAME s3://BUCKET/KEY' for a bucket's (what d1-fetch reads); the summary lines go
to stderr then.

Options:
  -r, --recursive        also list the folders below each DIR (keys below each prefix)
      --latest           only the newest verified backup of each database
      --at TIME          only the newest verified backup of each database taken at or before
                         TIME (2026-11-22T06:00:00Z, or 2026-11-22: the end of that day, UTC)
      --database NAME    only this database, by its name or its id (repeatable)
      --max-age DUR      exit 1 naming each database whose newest verified backup is older
                         than DUR (26h, 2d, 90m): a freshness check for cron
      --records          print records, even on a terminal
      --table            print the table, even when stdout is not a terminal
      --json             one JSON object per backup on stdout
      --endpoint URL     S3-compatible endpoint for s3:// (default: AWS_ENDPOINT_URL_S3,
                         AWS_ENDPOINT_URL, the R2 endpoint with --r2, else AWS S3)
      --region NAME      signing region (default: AWS_REGION, auto for R2, else us-east-1)
      --r2               Cloudflare R2: endpoint https://R2_ACCOUNT_ID.r2.cloudflarestorage.com
      --timeout DUR      deadline for the whole run (90, 90s, 10m); exit 75 when reached
      --retries N        retries of a failed request before giving up (default 5)
  -q, --quiet            no informational messages (the summary lines when stdout is records)
  -h, --help             print this help
  -V, --version          print the version

When stdin is not a terminal (nor /dev/null), records from the previous tool are read first:
failure records are passed through and counted (no record at all is not an error).
Environment for s3:// (as d1-upload's): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN (optional), AWS_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, R2_ACCOUNT_ID,
D1_S3_ANSWER_WAIT.
";

/// The whole `--help`: [`HELP`] and the exit status section.
pub fn help() -> String {
    let exit = cli::exit_status(
        &[
            (
                ExitCode::Ok,
                "listed (and, with --max-age, every database fresh)",
            ),
            (
                ExitCode::Failed,
                "a database older than --max-age or, for --latest and --at, without a verified \
                 backup; a --database found nowhere; a failure upstream",
            ),
            (
                ExitCode::Usage,
                "unknown option, a DIR that is not a folder, a bad TIME or DUR",
            ),
            (
                ExitCode::Credentials,
                "the object store's keys missing or refused",
            ),
            (
                ExitCode::Temporary,
                "store unreachable past the retries or --timeout (or upstream temporary)",
            ),
            (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
        ],
        "",
    );
    format!("{HELP}\n{exit}")
}

/// Which backups of each database are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    All,
    /// The newest verified one.
    Latest,
    /// The newest verified one taken at or before this time (seconds since the epoch).
    At(i64),
}

/// How stdout is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table on a terminal, records otherwise.
    Auto,
    Table,
    Records,
    Json,
}

#[derive(Debug)]
pub struct Args {
    pub common: Common,
    pub store: Options,
    pub recursive: bool,
    pub select: Select,
    pub databases: Vec<String>,
    pub max_age: Option<Duration>,
    pub format: Format,
    pub places: Places,
}

/// `--at`: an RFC 3339 time, or a date (`2026-11-22`) meaning the end of that day, UTC.
pub fn parse_at(v: &str) -> Result<i64> {
    if let Some(t) = d1_core::time::parse_rfc3339(v) {
        return Ok(t);
    }
    let day = d1_core::time::parse_rfc3339(&format!("{v}T23:59:59Z"));
    day.filter(|_| v.len() == 10).ok_or_else(|| {
        Error::usage(format!(
            "--at: {v:?} is not a time (2026-11-22T06:00:00Z) or a date (2026-11-22)"
        ))
    })
}

/// Parses the process's arguments.
pub fn parse() -> Result<Args> {
    parse_from(lexopt::Parser::from_env())
}

pub fn parse_from(mut p: lexopt::Parser) -> Result<Args> {
    let mut a = Args {
        common: Common::default(),
        store: Options::default(),
        recursive: false,
        select: Select::All,
        databases: Vec::new(),
        max_age: None,
        format: Format::Auto,
        places: Places::default(),
    };
    let help = help();
    let mut chosen = Vec::new();
    while let Some(arg) = p.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if a.common.parse(&arg, &mut p, &help)? || a.store.parse(&arg, &mut p)? {
            continue;
        }
        match arg {
            Short('r') | Long("recursive") => a.recursive = true,
            Long("latest") => {
                a.select = Select::Latest;
                chosen.push("--latest");
            }
            Long("at") => {
                a.select = Select::At(parse_at(&p.value()?.string()?)?);
                chosen.push("--at");
            }
            Long("database") => a.databases.push(p.value()?.string()?),
            Long("max-age") => {
                let v = p.value()?.string()?;
                a.max_age =
                    Some(d1_core::retry::parse_duration(&v).map_err(|e| e.context("--max-age"))?);
            }
            Long("records") => a.format = Format::Records,
            Long("table") => a.format = Format::Table,
            Value(v) => a.places.add(v)?,
            _ => return Err(cli::unexpected(arg)),
        }
    }
    if chosen.len() > 1 {
        return Err(Error::usage(
            "--latest and --at choose differently: give one",
        ));
    }
    if a.common.json {
        a.format = Format::Json;
    }
    a.places.check()?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_from(lexopt::Parser::from_args(args.iter().copied()))
    }

    #[test]
    fn locations_options_and_selection() {
        let a = parse(&[
            "--latest",
            "-r",
            "b/",
            "s3://bucket/p/",
            "--database",
            "prod",
        ])
        .unwrap();
        assert_eq!(a.select, Select::Latest);
        assert!(a.recursive);
        assert_eq!(a.places.dirs, [PathBuf::from("b/")]);
        assert_eq!(a.places.buckets[0].prefix(), "p/");
        assert_eq!(a.databases, ["prod"]);
        let a = parse(&["--at", "2026-11-22", "--max-age", "26h", "--json", "b"]).unwrap();
        assert_eq!(a.select, Select::At(1_795_391_999));
        assert_eq!(a.max_age, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(a.format, Format::Json);
    }

    #[test]
    fn bad_times_durations_and_no_location_are_usage_errors() {
        for args in [
            &["--at", "22 November", "b"][..],
            &["--at", "2026-11-31", "b"],
            &["--max-age", "a while", "b"],
            &["--latest", "--at", "2026-11-22", "b"],
            &["--latest"],
            &["--keep-last", "3", "b"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.code(), ExitCode::Usage, "{args:?}");
        }
        assert_eq!(parse_at("2026-11-22T06:00:00Z").unwrap(), 1_795_327_200);
    }
}
