//! d1-prune's command line (lexopt), and its help text beside the parser.

use crate::policy::{Policy, Within};
use d1_archive::places::Places;
use d1_archive::s3::Options;
use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;

pub const HELP: &str = "\
d1-prune: remove old D1 backups by policy, per database, never the last verified one

Usage: d1-prune POLICY [OPTIONS] DIR|s3://BUCKET/PREFIX/...
       ... | d1-verify | d1-prune POLICY [OPTIONS] DIR...

Groups the dumps in each DIR (or bucket prefix: d1-upload's copies) by the database their manifest (DUMP.json) names, and keeps,
per database, what the policy keeps among the dumps d1-verify passed; removes the rest with
their .sha256 and .json. The newest verified dump of a database is never removed; a dump that
failed or was never verified is removed only once a newer verified one exists. Files that are
not dumps with a manifest are never touched. Periods are UTC; ISO weeks start on Monday.

Policy (at least one; a dump is kept when any rule keeps it):
      --keep-last N          the N newest verified dumps
      --keep-hourly N        the newest dump of each of the last N hours that have one
      --keep-daily N         ... of each of the last N days that have one
      --keep-weekly N        ... of each of the last N ISO weeks that have one
      --keep-monthly N       ... of each of the last N months that have one
      --keep-yearly N        ... of each of the last N years that have one
      --keep-within DUR      every verified dump less than DUR older than the newest
                             (7d, 2w, 1m, 1y, 36h, 1y6m: years, months, weeks, days, hours)

Options:
      --keep-unverified      never remove a dump that failed or was never verified
  -r, --recursive            also prune the folders below each DIR (keys below each prefix)
      --endpoint URL         S3-compatible endpoint for s3:// (default: AWS_ENDPOINT_URL_S3,
                             AWS_ENDPOINT_URL, the R2 endpoint with --r2, else AWS S3)
      --region NAME          signing region (default: AWS_REGION, auto for R2, else us-east-1)
      --r2                   Cloudflare R2: endpoint https://R2_ACCOUNT_ID.r2.cloudflarestorage.com
  -n, --dry-run              print the plan (keep/remove, and why); change nothing
      --allow-empty          no records on a non-terminal stdin is not an error
      --json                 one JSON object per line on stdout instead of plain records
      --timeout DUR          how long to wait for another d1-prune's lock (90s, 10m);
                             exit 75 when reached (default: wait)
  -q, --quiet                no informational messages (the summary, files left alone)
  -h, --help                 print this help
  -V, --version              print the version

Prints `DATABASE_ID NAME PATH` for each dump removed (stdout), a summary on stderr.
When stdin is not a terminal (nor /dev/null), records from the previous tool are read first:
failure records are passed through and counted.
A bucket prefix is pruned by the same rules, apart from local folders (each location keeps
its own newest verified dump); objects are removed in the same order (dump, .sha256, .json).
Environment for s3:// (as d1-upload's): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN (optional), AWS_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, R2_ACCOUNT_ID.
";

/// The whole `--help`: [`HELP`] and the exit status section.
pub fn help() -> String {
    let exit = cli::exit_status(
        &[
            (ExitCode::Ok, "pruned, or nothing to prune"),
            (ExitCode::Failed, "a removal failed, or upstream failed"),
            (ExitCode::Usage, "unknown option, no policy, bad input"),
            (
                ExitCode::Credentials,
                "the object store's keys missing or refused",
            ),
            (
                ExitCode::Temporary,
                "lock not obtained within --timeout, store unreachable (or upstream temporary)",
            ),
            (ExitCode::Interrupted, "SIGINT or SIGTERM"),
        ],
        "",
    );
    format!("{HELP}\n{exit}")
}

#[derive(Debug)]
pub struct Args {
    pub common: Common,
    pub policy: Policy,
    pub keep_unverified: bool,
    pub recursive: bool,
    pub dry_run: bool,
    /// The folders and `s3://BUCKET/PREFIX` arguments.
    pub places: Places,
    pub store: Options,
}

fn count(flag: &str, v: String) -> Result<u32> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::usage(format!("--{flag}: {v:?} is not a whole number from 1")))
}

/// Parses the process's arguments.
pub fn parse() -> Result<Args> {
    parse_from(lexopt::Parser::from_env())
}

pub fn parse_from(mut p: lexopt::Parser) -> Result<Args> {
    let mut a = Args {
        common: Common::default(),
        policy: Policy::default(),
        keep_unverified: false,
        recursive: false,
        dry_run: false,
        places: Places::default(),
        store: Options::default(),
    };
    let help = help();
    while let Some(arg) = p.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if a.common.parse(&arg, &mut p, &help)? || a.store.parse(&arg, &mut p)? {
            continue;
        }
        match arg {
            Long(
                flag @ ("keep-last" | "keep-hourly" | "keep-daily" | "keep-weekly" | "keep-monthly"
                | "keep-yearly"),
            ) => {
                let n = Some(count(flag, p.value()?.string()?)?);
                let slot = match flag {
                    "keep-last" => &mut a.policy.last,
                    "keep-hourly" => &mut a.policy.hourly,
                    "keep-daily" => &mut a.policy.daily,
                    "keep-weekly" => &mut a.policy.weekly,
                    "keep-monthly" => &mut a.policy.monthly,
                    _ => &mut a.policy.yearly,
                };
                *slot = n;
            }
            Long("keep-within") => {
                a.policy.within = Some(Within::parse(&p.value()?.string()?)?);
            }
            Long("keep-unverified") => a.keep_unverified = true,
            Short('r') | Long("recursive") => a.recursive = true,
            Short('n') | Long("dry-run") => a.dry_run = true,
            Value(v) => a.places.add(v)?,
            _ => return Err(cli::unexpected(arg)),
        }
    }
    if a.policy.is_empty() {
        return Err(Error::usage(
            "no policy given: say what to keep (--keep-daily 7, --keep-within 30d, ...); \
             d1-prune never removes everything (try --help)",
        ));
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
    fn policy_flags_fill_the_policy() {
        let a = parse(&["--keep-daily", "7", "--keep-weekly=4", "-r", "-n", "b/"]).unwrap();
        assert_eq!(a.policy.daily, Some(7));
        assert_eq!(a.policy.weekly, Some(4));
        assert!(a.recursive && a.dry_run);
        assert_eq!(a.places.dirs, [PathBuf::from("b/")]);
        let a = parse(&["--keep-daily", "3", "s3://bucket/p/", "--r2", "c"]).unwrap();
        assert_eq!(a.places.buckets[0].key, "p/");
        assert_eq!(a.places.dirs, [PathBuf::from("c")]);
        assert!(a.store.r2);
        let e = parse(&["--keep-daily", "3", "s3://Bad_Bucket/p/"]).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
        let a = parse(&["--keep-within", "36h", "b"]).unwrap();
        assert_eq!(a.policy.within.unwrap().hours, 36);
    }

    #[test]
    fn no_policy_no_folder_and_bad_counts_are_usage_errors() {
        for args in [
            &["b/"][..],
            &["--keep-unverified", "b/"],
            &["--keep-daily", "7"],
            &["--keep-daily", "0", "b/"],
            &["--keep-daily", "-1", "b/"],
            &["--keep-weekly", "x", "b/"],
            &["--keep-within", "7", "b/"],
            &["--keep-forever", "b/"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.code(), d1_core::ExitCode::Usage, "{args:?}");
        }
        let e = parse(&["b/"]).unwrap_err();
        assert!(e.message.starts_with("no policy given"), "{}", e.message);
    }
}
