//! d1-verify: restores each dump into a sandboxed in-memory SQLite database, checks it, and
//! reports — a backup that has never been restored is only a hope.

mod against;
mod atof;
mod check;
mod compat;
mod fastpath;
mod fingerprint;
mod metrics;
mod quirks;
mod report;
mod restore;
mod sandbox;
mod source;
mod split;
mod verify;

use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::record::{self, Lines};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::io::IsTerminal;
use std::path::PathBuf;

const HELP: &str = "\
d1-verify: restore D1 dumps into a sandboxed SQLite database and check them

Usage: d1-verify [OPTIONS] [FILE...]
       d1-fetch ... | d1-verify [OPTIONS]

Each FILE (or each stdin line `PATH` or `DATABASE_ID PATH`) is a dump: plain SQL or zstd
(detected by content). `-` reads the dump itself from standard input. Prints one line per dump:
`OK PATH tables=N rows=M` or `FAIL PATH REASON`.

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
      --metrics-file PATH    update PATH, a Prometheus textfile (node_exporter), after
                             each dump: last success time, duration, rows restored
      --against[=DB]         compare the restore with the live database (DB, else the
                             record's DATABASE_ID, FILE.json's database_id, --database,
                             D1_DATABASE_ID): row counts, types, byte lengths, integer sums
      --database DB          the database for --against when nothing else names one
      --allow-drift          with --against, tables whose row count changed are warnings
";

const EXTRA_HELP: &str = "
Exit status: 0 all dumps OK, 1 a dump failed, 2 usage or unreadable input, 3 credentials
(--against: token missing, invalid or without D1 Edit), 75 temporary (--against: retries or
--timeout used up), 130 interrupted.
";

struct Args {
    common: Common,
    files: Vec<String>,
    opts: verify::Options,
    metrics: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let help = format!("{HELP}{}\n{EXTRA_HELP}", cli::COMMON_HELP);
    let mut common = Common::default();
    let mut files = Vec::new();
    let mut metrics = None;
    let mut opts = verify::Options {
        settings: restore::Settings {
            max_statement: 1 << 30,
            // An internal switch for tests that compare the fast path with SQLite's parser.
            fast_path: std::env::var_os("D1_VERIFY_NO_FASTPATH").is_none_or(|v| v != "1"),
        },
        schema: None,
        db: None,
        force: false,
        checksum: true,
        expect_tables: Vec::new(),
        min_rows: Vec::new(),
        against: None,
        d1_compat: false,
    };
    // --against: (given, its =DB), --database, --allow-drift.
    let (mut against, mut database, mut allow_drift) = (None, None, false);
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
            opts.against = Some(against::Settings::new(&common, db, database, allow_drift)?)
        }
        None if database.is_some() || allow_drift => {
            return Err(Error::usage(
                "--database and --allow-drift go with --against",
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

/// Verifies every dump, printing a line for each as it finishes; per-dump failures do not
/// stop the others. Returns the worst outcome.
fn run(args: Args) -> Result<ExitCode> {
    let mut worst = ExitCode::Ok;
    let mut one = |path: &str, db: Option<String>| -> Result<()> {
        let r = verify::verify(path, db, &args.opts);
        if r.code() == ExitCode::Interrupted {
            return Err(Error::interrupted());
        }
        worst = worst.worst(r.code());
        worst = worst.worst(metrics::record(args.metrics.as_deref(), &r));
        report::print(&r, args.common.json)
    };
    if !args.files.is_empty() {
        for f in &args.files {
            one(f, None)?;
        }
        return Ok(worst);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::usage(
            "no dump given: name FILEs or pipe paths on stdin (try --help)",
        ));
    }
    let mut bad_input = false;
    let mut any = false;
    for item in Lines::new(stdin.lock()) {
        any = true;
        let rec = item.and_then(|(n, text)| record::parse(n, &text, "path"));
        match rec {
            Ok(rec) if rec.value == "-" => {
                d1_core::msg::error(&format!(
                    "line {}: `-` cannot be used when paths come from standard input",
                    rec.line
                ));
                bad_input = true;
            }
            Ok(rec) => one(&rec.value, rec.database)?,
            Err(e) if e.code == ExitCode::Interrupted => return Err(e),
            Err(e) => {
                d1_core::msg::error(&e.message);
                bad_input = true;
            }
        }
    }
    if bad_input {
        worst = worst.worst(ExitCode::Usage);
    }
    if !any {
        // A warning, not an error: under `set -o pipefail` the failed upstream step's exit
        // code is then the pipeline's.
        d1_core::msg::warn("no dump paths on standard input: nothing verified");
    }
    Ok(worst)
}

fn main() {
    cli::main("d1-verify", || run(parse_args()?))
}
