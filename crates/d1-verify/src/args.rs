//! d1-verify's command line: the help text and the options, parsed into [`Args`].

use crate::{against, restore, verify};
use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::path::PathBuf;

const HELP: &str = "\
d1-verify: restore D1 dumps into a sandboxed SQLite database and check them

Usage: d1-verify [OPTIONS] [FILE...]
       d1-fetch ... | d1-verify [OPTIONS]

Each FILE (or each stdin record: `DATABASE_ID NAME PATH` as d1-fetch prints it, `PATH`, or
d1-fetch --json) is a dump: plain SQL, zstd, or age-encrypted (read with --identity), told
apart by content. `-` reads the dump itself from standard input. Prints one line per dump:
`OK PATH tables=N rows=M`, or a failure record `FAIL 1 d1-verify DATABASE_ID NAME PATH: REASON`;
failure records from upstream are passed on.
The verdict is also written into the dump's manifest (PATH.json), when it has one.

Options:
      --schema FILE          load FILE first (for a data-only dump)
      --expect-table T       fail unless table T is restored (repeatable)
      --min-rows T=N         fail unless table T has at least N rows (repeatable)
      --no-checksum          do not check FILE.sha256 even when it exists
      --db PATH              restore into the SQLite file PATH (one dump only; written only
                             when every check passed)
      --force                with --db, replace an existing PATH
      --max-statement-bytes N  longest statement accepted (default 1073741824)
      --d1-compat            fail a dump that D1's import would refuse (transaction control,
                             _cf_ tables, statements over 100000 bytes, rows before their
                             foreign key's parent table); without it these are warnings
      --identity PATH        decrypt age-encrypted dumps (d1-fetch --encrypt-to) in memory
                             with the age identity file PATH (age-keygen output, or an
                             unencrypted SSH key); never written in clear
      --metrics-file PATH    update PATH, a Prometheus textfile (node_exporter), after
                             each dump: last success time, duration, rows restored
      --against[=DB]         compare the restore with the live database (DB, else the
                             record's DATABASE_ID, FILE.json's database_id, --database,
                             D1_DATABASE_ID): row counts, types, byte lengths, integer sums
      --database DB          the database for --against when nothing else names one
      --allow-drift          with --against, tables whose row count changed are warnings
      --accept-d1-losses     with --against, differences explained by a D1 dump quirk that
                             the scan found in this dump (integers beyond 2^53, -2^63 as a
                             REAL, infinite REALs) are warnings, counted in one line; -q
                             silences them one by one. Anything else still fails
";

fn exit_help() -> String {
    cli::exit_status(
        &[
            (ExitCode::Ok, "all dumps OK"),
            (ExitCode::Failed, "a dump failed"),
            (
                ExitCode::Usage,
                "unknown option, or an input that is not a dump",
            ),
            (
                ExitCode::Credentials,
                "--against: token missing, invalid or without D1 Edit; an encrypted dump \
                 without a usable identity",
            ),
            (
                ExitCode::Temporary,
                "--against: retries or deadline used up",
            ),
            (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
        ],
        "The worst of all dumps and of the failures passed on from upstream. No record at all on
stdin is 1 (unless --allow-empty).",
    )
}

/// The parsed command line.
pub struct Args {
    pub common: Common,
    pub files: Vec<String>,
    pub opts: verify::Options,
    pub metrics: Option<PathBuf>,
}

/// Parses the command line (`--help`, `--version` come back as [`Error::show`] values).
pub fn parse() -> Result<Args> {
    let help = format!(
        "{HELP}{}\n{}\n\n{}",
        cli::ALLOW_EMPTY_HELP,
        cli::COMMON_HELP,
        exit_help()
    );
    let mut common = Common::default();
    let mut files = Vec::new();
    let mut metrics = None;
    let mut opts = verify::Options {
        settings: restore::Settings {
            max_statement: 1 << 30,
            // An internal switch for tests that compare the fast path with SQLite's parser.
            fast_path: std::env::var_os("D1_VERIFY_NO_FASTPATH").is_none_or(|v| v != "1"),
            ..restore::Settings::default()
        },
        schema: None,
        db: None,
        force: false,
        checksum: true,
        expect_tables: Vec::new(),
        min_rows: Vec::new(),
        against: None,
        d1_compat: false,
        identity: None,
    };
    // --against: (given, its =DB), --database, --allow-drift.
    let (mut against, mut database, mut allow_drift, mut accept) = (None, None, false, false);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if common.parse(&arg, &mut p, &help)? {
            continue;
        }
        match arg {
            Long("schema") => opts.schema = Some(p.value()?.string()?),
            Long("expect-table") => opts.expect_tables.push(p.value()?.string()?),
            Long("min-rows") => {
                let v = p.value()?.string()?;
                let parsed = v
                    .rsplit_once('=')
                    .and_then(|(t, n)| Some((t.to_string(), n.parse::<u64>().ok()?)))
                    .filter(|(t, _)| !t.is_empty());
                opts.min_rows.push(parsed.ok_or_else(|| {
                    Error::usage(format!("--min-rows: expected TABLE=N, got {v:?}"))
                })?);
            }
            Long("no-checksum") => opts.checksum = false,
            Long("metrics-file") => metrics = Some(PathBuf::from(p.value()?)),
            Long("db") => opts.db = Some(PathBuf::from(p.value()?)),
            Long("force") => opts.force = true,
            Long("d1-compat") => opts.d1_compat = true,
            Long("identity") => {
                opts.identity = Some(d1_age::Identities::read(&PathBuf::from(p.value()?))?)
            }
            Long("max-statement-bytes") => {
                let v = p.value()?.string()?;
                opts.settings.max_statement =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::usage(format!(
                            "--max-statement-bytes: {v:?} is not a positive number"
                        ))
                    })?;
            }
            Long("against") => against = Some(p.optional_value().map(|v| v.string()).transpose()?),
            Long("database") => database = Some(p.value()?.string()?),
            Long("allow-drift") => allow_drift = true,
            Long("accept-d1-losses") => accept = true,
            Value(v) => files.push(v.string()?),
            _ => return Err(cli::unexpected(arg)),
        }
    }
    if opts.db.is_some() && files.len() != 1 {
        return Err(Error::usage(
            "--db restores exactly one dump: give one FILE argument",
        ));
    }
    match against {
        Some(db) => {
            opts.against = Some(against::Settings::new(
                &common,
                db,
                database,
                allow_drift,
                accept,
            )?)
        }
        None if database.is_some() || allow_drift || accept => {
            return Err(Error::usage(
                "--database, --allow-drift and --accept-d1-losses go with --against",
            ))
        }
        None => {}
    }
    if files.iter().filter(|f| *f == "-").count() > 1 {
        return Err(Error::usage("standard input (-) can be read only once"));
    }
    Ok(Args {
        common,
        files,
        opts,
        metrics,
    })
}
