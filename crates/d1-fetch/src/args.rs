//! d1-fetch's command line: the help text and the options, parsed into [`Args`].

use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;

const HELP: &str = concat!(
    "\
d1-fetch: download D1 dumps from their signed URLs, checksummed and written atomically

Usage: d1-fetch [OPTIONS] [URL]
       d1-export-wait ... | d1-fetch [OPTIONS]
       d1-fetch [OPTIONS] s3://BUCKET/KEY     (an off-site copy made by d1-upload)

Reads 'DATABASE_ID NAME [BOOKMARK] SIGNED_URL' lines (or 'SIGNED_URL', or --json ones) on stdin,
or one URL argument, and downloads each as soon as its line arrives. Prints 'DATABASE_ID NAME
PATH' for each dump written; failure records from upstream are passed on (docs/records.md).
An s3:// URL is fetched with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL,
AWS_REGION, R2_ACCOUNT_ID as for d1-upload), with its .sha256 and .json, and checked against them.
Prefer stdin to a URL argument: an argument is visible to every user in ps, and a signed URL
is a credential for an hour.

Options:
  -o, --output PATH      where to write: a folder (DIR/, created if missing, or an existing
                         folder; names are NAME-YYYYMMDDTHHMMSSZ.sql), a FILE ending in .sql
                         or .zst (+ .age when encrypting; one record only), or - for stdout
                         (default: the current folder)
      --zstd[=LEVEL]     compress while downloading (.sql.zst), level 1-19 (default 3)
      --force            overwrite an existing dump and its .sha256/.json files
      --encrypt-to RECIPIENT  encrypt the file (age) to this public key: age1... or an SSH
                         ed25519/RSA public key; repeatable. The file gets .age and no
                         plaintext touches the disk (docs/encryption.md)
      --recipients-file PATH  encrypt to every public key in PATH (age -R format: one per
                         line, # comments)
      --metrics-file PATH  update PATH, a Prometheus textfile (node_exporter), after each record:
                         last success time, export duration, dump size, last run's outcome
      --identity PATH    age identity file (age-keygen) that decrypts s3://....age copies
",
    "      --json             print the manifest (plus \"path\") as one JSON line instead of the path
      --timeout DUR      deadline for the whole run (90, 90s, 10m, 1h); exit 75 when reached
      --retries N        further attempts after a failed request or a dropped connection (default 5)
      --token-file PATH  accepted as in every tool, unused: a signed URL carries its own authorisation
      --allow-empty      no record on stdin is not a failure (by default it is: the step
                         before died without a word)
  -q, --quiet            no progress line and no informational messages
  -h, --help             print this help
  -V, --version          print the version

Files: DUMP, DUMP.sha256 (sha256sum -c format) and DUMP.json (manifest), mode 0600.
"
);

fn help() -> String {
    let exit = cli::exit_status(
        &[
            (ExitCode::Ok, "every dump written and checked"),
            (
                ExitCode::Failed,
                "a download failed: expired or refused URL, truncated, corrupt, disk full",
            ),
            (
                ExitCode::Usage,
                "unknown option, malformed line, existing target without --force",
            ),
            (
                ExitCode::Credentials,
                "s3:// only: keys missing or refused, or an unusable --identity",
            ),
            (ExitCode::Temporary, "retries or --timeout used up"),
            (
                ExitCode::Interrupted,
                "SIGINT, SIGTERM or SIGHUP; nothing left at the target",
            ),
        ],
        "The worst of the run, failure records from upstream included. See docs/d1-fetch.md.",
    );
    format!("{HELP}\n{exit}")
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub common: Common,
    pub output: Option<OsString>,
    /// zstd level when compressing.
    pub zstd: Option<i32>,
    pub force: bool,
    pub url: Option<String>,
    pub metrics: Option<PathBuf>,
    /// `--encrypt-to` / `--recipients-file`: encrypt the stored file to these (age).
    pub encrypt: Option<d1_age::Recipients>,
    /// `--identity PATH`: the age identity file that decrypts `s3://….age` copies.
    pub identity: Option<PathBuf>,
}

/// Parses the command line (`--help`, `--version` come back as [`Error::show`] values).
pub fn parse() -> Result<Args> {
    let help = help();
    let mut parser = lexopt::Parser::from_env();
    let mut args = Args {
        common: Common::default(),
        output: None,
        zstd: None,
        force: false,
        url: None,
        metrics: None,
        encrypt: None,
        identity: None,
    };
    let mut recipients = d1_age::Recipients::new();
    while let Some(arg) = parser.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if args.common.parse(&arg, &mut parser, &help)? {
            continue;
        }
        match arg {
            Short('o') | Long("output") => args.output = Some(parser.value()?),
            Long("zstd") => {
                args.zstd = Some(match parser.optional_value() {
                    Some(v) => parse_level(&v.string()?)?,
                    None => crate::sink::DEFAULT_ZSTD_LEVEL,
                })
            }
            Long("force") => args.force = true,
            Long("metrics-file") => args.metrics = Some(parser.value()?.into()),
            Long("encrypt-to") => recipients.add(&parser.value()?.string()?)?,
            Long("recipients-file") => recipients.add_file(&PathBuf::from(parser.value()?))?,
            Long("identity") => args.identity = Some(parser.value()?.into()),
            Value(v) if args.url.is_none() => args.url = Some(v.string()?),
            Value(v) => {
                return Err(Error::usage(format!(
                    "one URL argument at most, got another: {} (try --help)",
                    d1_core::redact::url(&v.to_string_lossy())
                )))
            }
            _ => return Err(cli::unexpected(arg)),
        }
    }
    args.encrypt = (!recipients.is_empty()).then_some(recipients);
    Ok(args)
}

fn parse_level(v: &str) -> Result<i32> {
    v.parse()
        .ok()
        .filter(|l| (1..=19).contains(l))
        .ok_or_else(|| Error::usage(format!("--zstd: level {v:?} is not a number from 1 to 19")))
}
