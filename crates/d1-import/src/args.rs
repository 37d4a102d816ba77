//! Command line of d1-import: a plain lexopt loop into [`Args`], the help text beside it.

use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common, ALLOW_EMPTY_HELP, COMMON_HELP};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::path::PathBuf;
use std::sync::LazyLock;

static HELP: LazyLock<String> = LazyLock::new(|| {
    let exit = cli::exit_status(
        &[
            (ExitCode::Ok, "every dump imported"),
            (
                ExitCode::Failed,
                "import error, upload corrupted, database not empty, --verify-first rejected \
                 the dump, a dump d1-import cannot make D1's import take",
            ),
            (
                ExitCode::Usage,
                "unknown option, missing file, unknown database",
            ),
            (
                ExitCode::Credentials,
                "token missing or invalid, or lacking D1 Edit",
            ),
            (ExitCode::Temporary, "--timeout or retries used up"),
            (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
        ],
        "With several files, the worst outcome.",
    );
    format!(
        "\
d1-import: restore a SQL dump into a D1 database through the import API

USAGE:
    d1-import [OPTIONS] --database DB FILE
    d1-fetch ... | d1-import [OPTIONS] --database DB
    echo 'DATABASE_ID PATH' | d1-import [OPTIONS]

FILE is a dump as D1 exports it, plain (.sql) or zstd-compressed (.sql.zst, recognised by its
content). Without FILE, reads records from stdin: `PATH`, `DATABASE_ID [NAME] PATH`, d1-verify's
`OK PATH ...` lines, or any tool's --json lines; failure records are passed on. A record without
a database goes to --database, else D1_DATABASE_ID; DB is a name or a UUID. A record that names
another database than --database is refused unless --retarget. Prints one line per import:
`DATABASE_ID NAME FINAL_BOOKMARK num_queries=N rows_written=M`.

A database that already has tables is refused unless --into-nonempty. A D1 import is all or
nothing: when a statement fails, the database is left as it was.

What is uploaded is the dump as D1's import takes it, made on the fly (never written to disk):
transaction control (BEGIN, COMMIT, END, SAVEPOINT, RELEASE) is dropped, and a statement over
D1's limit of 100000 bytes (a row with a large text or blob) is split into statements under it.
One line on stderr counts what was rewritten. A dump that cannot be made importable (a ROLLBACK,
a long statement that is not an INSERT of values) is refused before anything is uploaded.

OPTIONS:
      --database DB      the database to import into (UUID or name)
      --create           create --database (a name) when the account has no such database; an
                         existing one is used as it is (and refused when it holds tables,
                         unless --into-nonempty): nothing is ever replaced
      --retarget         import every record into --database, even one that names another
                         database (a restore into staging from production's records)
      --into-nonempty    import even when the database already has tables
      --verify-first     run d1-verify on the file first; do not import a dump it rejects
      --rewind           put a live database back to the backup: by Time Travel to the
                         bookmark its manifest records when D1 still has it (seconds), else by
                         emptying the database and importing the dump; prints the bookmark
                         that undoes it (docs/bad-day.md)
      --dry-run          with --rewind: say which way it would go and why; change nothing
      --undo BOOKMARK    restore --database to BOOKMARK by Time Travel (the undo= of a rewind)
{ALLOW_EMPTY_HELP}
{COMMON_HELP}

ENVIRONMENT:
    CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_BASE_URL, D1_DATABASE_ID

{exit}"
    )
});

/// What the command line asks for.
#[derive(Debug)]
pub struct Args {
    pub common: Common,
    /// The file given as an argument instead of stdin records.
    pub file: Option<PathBuf>,
    /// `--database`: the target of a file argument and of bare-path lines.
    pub database: Option<String>,
    pub into_nonempty: bool,
    pub verify_first: bool,
    /// `--retarget`: --database wins over the database a record names.
    pub retarget: bool,
    /// `--create`: create --database when it does not exist.
    pub create: bool,
    /// `--rewind`, `--dry-run`, `--undo BOOKMARK` (timetravel.rs).
    pub rewind: bool,
    pub dry_run: bool,
    pub undo: Option<String>,
}

pub fn parse() -> Result<Args> {
    parse_from(std::env::args_os().skip(1))
}

pub fn parse_from(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Args> {
    let mut a = Args {
        common: Common::default(),
        file: None,
        database: None,
        into_nonempty: false,
        verify_first: false,
        retarget: false,
        create: false,
        rewind: false,
        dry_run: false,
        undo: None,
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
            Long("into-nonempty") => a.into_nonempty = true,
            Long("verify-first") => a.verify_first = true,
            Long("retarget") => a.retarget = true,
            Long("create") => a.create = true,
            Long("rewind") => a.rewind = true,
            Long("dry-run") => a.dry_run = true,
            Long("undo") => {
                let b: String = p.value()?.string()?;
                if !d1_core::record::looks_like_bookmark(&b) {
                    return Err(Error::usage(format!(
                        "--undo: {b:?} is not a D1 bookmark (hex digits and dashes)"
                    )));
                }
                a.undo = Some(b);
            }
            Value(v) if a.file.is_none() => a.file = Some(PathBuf::from(v)),
            Value(_) => {
                return Err(Error::usage(
                    "one FILE at most as an argument; pipe several paths on standard input",
                ))
            }
            _ => return Err(cli::unexpected(arg)),
        }
    }
    if a.create && a.database.as_deref().is_none_or(d1_core::api::is_uuid) {
        return Err(Error::usage(
            "--create needs --database NAME: the name of the database to create",
        ));
    }
    if a.retarget && a.database.is_none() {
        return Err(Error::usage("--retarget goes with --database"));
    }
    if a.dry_run && !a.rewind {
        return Err(Error::usage("--dry-run goes with --rewind"));
    }
    if a.rewind && a.into_nonempty {
        return Err(Error::usage(
            "--rewind replaces what the database holds; --into-nonempty adds to it: choose one",
        ));
    }
    if a.undo.is_some() && (a.rewind || a.file.is_some()) {
        return Err(Error::usage(
            "--undo BOOKMARK restores a database by itself: no FILE and no --rewind with it",
        ));
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
    fn defaults_read_stdin_and_refuse_nonempty_targets() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.file, None);
        assert_eq!(a.database, None);
        assert!(!a.into_nonempty && !a.verify_first);
    }

    #[test]
    fn a_file_a_database_and_the_switches() {
        let a = parse(&[
            "--database",
            "restore",
            "d.sql.zst",
            "--into-nonempty",
            "--verify-first",
            "-q",
        ])
        .unwrap();
        assert_eq!(a.file, Some(PathBuf::from("d.sql.zst")));
        assert_eq!(a.database.as_deref(), Some("restore"));
        assert!(a.into_nonempty && a.verify_first && a.common.quiet);
    }

    #[test]
    fn two_files_unknown_options_and_an_empty_database_are_usage_errors() {
        for bad in [
            &["a.sql", "b.sql"][..],
            &["--nope"],
            &["--database", " "],
            &["--token", "x"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code(), d1_core::ExitCode::Usage, "{bad:?}");
        }
    }
}
