//! Command line of d1-export-start: a plain lexopt loop into [`Args`], the help text beside it.

use d1_core::api::DumpOptions;
use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common, COMMON_HELP};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::sync::LazyLock;

static HELP: LazyLock<String> =
    LazyLock::new(|| {
        let exit = cli::exit_status(
        &[
            (ExitCode::Ok, "every export started"),
            (
                ExitCode::Failed,
                "an export could not start (non-retryable HTTP error, D1 answered \"error\"), or \
                 the preflight found a virtual table and started none",
            ),
            (
                ExitCode::Usage,
                "unknown option, no database, unknown or ambiguous name, unknown UUID",
            ),
            (ExitCode::Credentials, "token missing or invalid, or lacking D1 Edit"),
            (
                ExitCode::Temporary,
                "retries or --timeout used up, or the database is busy with another export",
            ),
            (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
        ],
        "With several databases, the worst outcome.",
    );
        format!(
            "\
d1-export-start: start a D1 export for each database, print `DATABASE_ID NAME BOOKMARK` lines

USAGE:
    d1-export-start [OPTIONS] [DATABASE...]
    d1-export-start [OPTIONS] --all [--exclude PATTERN]... [--shard I/N]

A DATABASE is a UUID or a name (names are looked up through the API). With none, the
database is D1_DATABASE_ID. Pipe the output into d1-export-wait at once: an export that is
not polled is cancelled by D1, so a bookmark cannot be kept for later. A database that cannot
be started gets a failure record (`FAIL EXIT d1-export-start ID NAME REASON`) that the next
tools pass on; the others still start.

OPTIONS:
      --all              every database of the account (the list endpoint, paged); implies
                         --exclude-virtual
      --exclude PATTERN  leave out databases whose name matches PATTERN (`*` and `?` globs) or
                         whose id is PATTERN (repeatable); a pattern that matches none is
                         warned about
      --shard I/N        only the databases of shard I of N (I from 0 to N-1), chosen by their
                         id: N jobs with I = 0 … N-1 back up every database exactly once; the
                         request budget is this host's share of D1_REQUEST_BUDGET
      --dry-run          print `DATABASE_ID NAME` of each database it would export, start none
      --exclude-table T  leave out table T (a glob), with its indexes and triggers (repeatable)
      --exclude-virtual  leave out virtual tables (fts5, which D1 cannot export), their shadow
                         tables and the triggers that feed them, and export the rest; each is
                         named on stderr
      --no-data          export the schema only
      --no-schema        export the rows only (INSERT statements)
      --table T          export table T only (repeatable; default: all tables)
      --size-warn-percent N
                         warn when a database is above N% of D1's 10 GB limit (default 80)
      --no-preflight     start the export without first reading the schema; by default a
                         database holding a virtual table (fts5) is not exported, since the
                         export would fail and lock the database for minutes
{COMMON_HELP}

ENVIRONMENT:
    CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_BASE_URL, D1_DATABASE_ID,
    D1_REQUEST_BUDGET

{exit}"
        )
    });

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    pub common: Common,
    pub databases: Vec<String>,
    pub dump: DumpOptions,
    /// Percent of D1's size limit above which a database gets a warning.
    pub size_warn_percent: f64,
    /// Read the schema first and refuse databases with virtual tables (preflight.rs).
    pub preflight: bool,
    /// `--all`: every database of the account.
    pub all: bool,
    pub exclude: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub exclude_virtual: bool,
    /// `--shard I/N`: only the databases of that shard.
    pub shard: Option<d1_core::shard::Shard>,
    /// `--dry-run`: name the databases, start nothing.
    pub dry_run: bool,
}

pub fn parse() -> Result<Args> {
    parse_from(std::env::args_os().skip(1))
}

pub fn parse_from(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Args> {
    let mut a = Args {
        common: Common::default(),
        databases: Vec::new(),
        dump: DumpOptions::default(),
        size_warn_percent: crate::size::DEFAULT_WARN_PERCENT,
        preflight: true,
        all: false,
        exclude: Vec::new(),
        exclude_tables: Vec::new(),
        exclude_virtual: false,
        shard: None,
        dry_run: false,
    };
    let mut p = lexopt::Parser::from_args(argv);
    while let Some(arg) = p.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if a.common.parse(&arg, &mut p, &HELP)? {
            continue;
        }
        match arg {
            Long("no-data") => a.dump.no_data = true,
            Long("no-schema") => a.dump.no_schema = true,
            Long("no-preflight") => a.preflight = false,
            Long("all") => a.all = true,
            Long("exclude") => a.exclude.push(nonempty("--exclude", p.value()?.string()?)?),
            Long("exclude-table") => a
                .exclude_tables
                .push(nonempty("--exclude-table", p.value()?.string()?)?),
            Long("exclude-virtual") => a.exclude_virtual = true,
            Long("shard") => {
                a.shard = Some(d1_core::shard::Shard::parse(&p.value()?.string()?)?);
            }
            Long("dry-run") => a.dry_run = true,
            Long("table") => {
                let t: String = p.value()?.string()?;
                if t.is_empty() {
                    return Err(Error::usage("--table: the table name is empty"));
                }
                a.dump.tables.push(t);
            }
            Long("size-warn-percent") => {
                let v: String = p.value()?.string()?;
                a.size_warn_percent = v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| (0.0..=100.0).contains(n))
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--size-warn-percent: {v:?} is not a number from 0 to 100"
                        ))
                    })?;
            }
            Value(v) => {
                let db = v.string()?;
                if db.trim().is_empty() {
                    return Err(Error::usage("an empty database name was given"));
                }
                a.databases.push(db);
            }
            _ => return Err(cli::unexpected(arg)),
        }
    }
    if a.common.allow_empty {
        return Err(Error::usage(
            "--allow-empty: d1-export-start reads no records (it starts the databases it is given)",
        ));
    }
    if a.all && !a.databases.is_empty() {
        return Err(Error::usage(
            "--all and database names together: give one or the other (--exclude leaves some out)",
        ));
    }
    a.exclude_virtual |= a.all;
    let leaves_out = !a.exclude_tables.is_empty() || a.exclude_virtual;
    if leaves_out && !a.dump.tables.is_empty() {
        return Err(Error::usage(
            "--table names what to export; --exclude-table and --exclude-virtual what to leave \
             out: give one or the other",
        ));
    }
    if leaves_out && !a.preflight {
        return Err(Error::usage(
            "--exclude-table and --exclude-virtual (and --all) read the schema: they do not go \
             with --no-preflight",
        ));
    }
    // wrangler refuses the pair too: an export of neither schema nor data is empty.
    if a.dump.no_data && a.dump.no_schema {
        return Err(Error::usage(
            "--no-data and --no-schema together would export nothing; give at most one",
        ));
    }
    Ok(a)
}

fn nonempty(flag: &str, v: String) -> Result<String> {
    if v.trim().is_empty() {
        return Err(Error::usage(format!("{flag}: the value is empty")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_from(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn databases_tables_and_flags_are_collected_in_order() {
        let a = parse(&["--table", "a", "db1", "--no-data", "db2", "--table", "b"]).unwrap();
        assert_eq!(a.databases, ["db1", "db2"]);
        assert_eq!(a.dump.tables, ["a", "b"]);
        assert!(a.dump.no_data && !a.dump.no_schema);
        assert_eq!(a.size_warn_percent, 80.0);
        assert!(a.preflight, "the preflight is on by default");
        assert!(!parse(&["--no-preflight", "db"]).unwrap().preflight);
    }

    #[test]
    fn all_excludes_and_their_conflicts() {
        let a = parse(&["--all", "--exclude", "tmp-*", "--exclude-table", "log"]).unwrap();
        assert!(
            a.all && a.exclude_virtual,
            "--all implies --exclude-virtual"
        );
        assert_eq!(
            (a.exclude.as_slice(), a.exclude_tables.as_slice()),
            (&["tmp-*".to_string()][..], &["log".to_string()][..])
        );
        for bad in [
            &["--all", "db"][..],
            &["--exclude-table", "a", "--table", "b", "db"],
            &["--exclude-virtual", "--no-preflight", "db"],
            &["--exclude", "", "db"],
        ] {
            assert_eq!(
                parse(bad).unwrap_err().code(),
                d1_core::ExitCode::Usage,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_shard_is_index_of_count_from_zero() {
        let a = parse(&["--all", "--shard", "7/8", "--dry-run"]).unwrap();
        assert_eq!(a.shard.map(|s| s.to_string()).as_deref(), Some("7/8"));
        assert!(a.dry_run);
        for bad in ["8/8", "x", "0/0"] {
            let e = parse(&["--all", "--shard", bad]).unwrap_err();
            assert_eq!(e.code(), d1_core::ExitCode::Usage, "{bad}");
        }
    }

    #[test]
    fn no_data_with_no_schema_is_a_usage_error() {
        let e = parse(&["--no-data", "--no-schema"]).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
    }

    #[test]
    fn size_warn_percent_takes_fractions_and_refuses_nonsense() {
        assert_eq!(
            parse(&["--size-warn-percent", "0.0001"])
                .unwrap()
                .size_warn_percent,
            0.0001
        );
        for bad in ["-1", "101", "x", "NaN"] {
            assert!(parse(&["--size-warn-percent", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_option_is_a_usage_error_with_a_hint() {
        let e = parse(&["--frobnicate"]).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
        assert!(e.message.contains("try --help"), "{}", e.message);
    }
}
