//! The command line of d1-upload (lexopt), and its help text.

use d1_archive::s3::upload::{MAX_PART, MIN_PART};
use d1_archive::s3::{Options, ENV_HELP};
use d1_core::argv::OwnedArg;
use d1_core::cli::{self, Common};
use d1_core::{Error, ExitCode, Result};
use lexopt::prelude::*;

pub use d1_archive::s3::prefix::DEFAULT_PART_SIZE;

fn help() -> String {
    format!(
        "\
d1-upload: copy verified D1 dumps and their .sha256 and .json to R2 or S3

Usage: d1-upload [OPTIONS] s3://BUCKET/PREFIX/ [DUMP...]
       ... | d1-verify | d1-upload [OPTIONS] s3://BUCKET/PREFIX/

Reads d1-verify's records ('OK PATH tables=N rows=M' or its --json lines) on stdin, or DUMP
arguments. Only dumps whose manifest (DUMP.json) holds a passing verdict for their bytes go;
each is uploaded with DUMP.sha256 and DUMP.json under PREFIX/, read back (HEAD) and checked,
and recorded in the manifest's \"uploads\". Prints 'DATABASE_ID NAME s3://BUCKET/KEY' per dump.
Failure records from upstream are passed on and counted in the exit status.

Options:
      --part-size SIZE   multipart part size (5MiB to 5GiB; default 64MiB); smaller files go
                         in one PUT
      --endpoint URL     S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
                         the R2 endpoint with --r2, else AWS S3 in AWS_REGION)
      --region NAME      signing region (default: AWS_REGION, auto for R2, else us-east-1)
      --r2               Cloudflare R2: endpoint https://R2_ACCOUNT_ID.r2.cloudflarestorage.com
      --encrypt-to RECIPIENT  encrypt each copy to this age public key (age1...; repeatable);
                         the object is KEY.age
      --recipients-file PATH  encrypt to the recipients in PATH (the age CLI's -R format)
      --allow-unverified
                         upload dumps without a passing verdict too (with a warning)
{allow_empty}
{common}

{ENV_HELP}
Secrets are read from the environment only, never from the command line.

{exit}",
        exit = cli::exit_status(
            &[
                (ExitCode::Ok, "every verified dump uploaded and read back"),
                (
                    ExitCode::Failed,
                    "an upload failed, or its read-back check; a dump without a passing verdict",
                ),
                (
                    ExitCode::Usage,
                    "unknown option, malformed line, missing file"
                ),
                (
                    ExitCode::Credentials,
                    "the object store's keys missing or refused"
                ),
                (ExitCode::Temporary, "retries or deadline used up"),
                (ExitCode::Interrupted, "SIGINT, SIGTERM or SIGHUP"),
            ],
            "The worst of the run, failure records from upstream included. See \
             docs/d1-upload.md.",
        ),
        common = cli::COMMON_HELP,
        allow_empty = cli::ALLOW_EMPTY_HELP,
    )
}

#[derive(Debug, Clone)]
pub struct Args {
    pub common: Common,
    pub store: Options,
    pub destination: String,
    pub paths: Vec<String>,
    pub part_size: u64,
    pub allow_unverified: bool,
    pub allow_empty: bool,
    /// age recipients: the copies are encrypted when there is at least one.
    pub recipients: d1_age::Recipients,
}

pub fn parse() -> Result<Args> {
    parse_from(lexopt::Parser::from_env())
}

pub fn parse_from(mut parser: lexopt::Parser) -> Result<Args> {
    let help = help();
    let mut common = Common::default();
    let mut store = Options::default();
    let mut destination = None;
    let mut paths = Vec::new();
    let mut part_size = DEFAULT_PART_SIZE;
    let mut allow_unverified = false;
    let mut recipients = d1_age::Recipients::new();
    while let Some(arg) = parser.next()? {
        let owned = OwnedArg::from(arg);
        let arg = owned.as_arg();
        if common.parse(&arg, &mut parser, &help)? || store.parse(&arg, &mut parser)? {
            continue;
        }
        match arg {
            Long("part-size") => part_size = parse_size(&parser.value()?.string()?)?,
            Long("allow-unverified") => allow_unverified = true,
            Long("encrypt-to") => recipients.add(&parser.value()?.string()?)?,
            Long("recipients-file") => {
                recipients.add_file(std::path::Path::new(&parser.value()?))?
            }
            Long("access-key-id") | Long("secret-access-key") | Long("session-token") => {
                return Err(Error::usage(
                    "credentials are not taken from the command line (other users can read it in ps); \
                     set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                ))
            }
            Value(v) => {
                let v = v.string()?;
                if destination.is_none() && v.starts_with("s3://") {
                    destination = Some(v);
                } else {
                    paths.push(v);
                }
            }
            _ => return Err(cli::unexpected(arg)),
        }
    }
    let destination = destination
        .ok_or_else(|| Error::usage("no destination: give s3://BUCKET/PREFIX/ (try --help)"))?;
    Ok(Args {
        store,
        destination,
        paths,
        part_size,
        allow_unverified,
        allow_empty: common.allow_empty,
        recipients,
        common,
    })
}

/// `64MiB`, `5M`, `8388608`: binary units (S3's limits are in MiB).
pub fn parse_size(v: &str) -> Result<u64> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| Error::usage(format!("--part-size: {v:?} is not a size (try 64MiB)")))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => {
            return Err(Error::usage(format!(
                "--part-size: unknown unit in {v:?} (use MiB or GiB)"
            )))
        }
    };
    let size = n.saturating_mul(mult);
    if !(MIN_PART..=MAX_PART).contains(&size) {
        return Err(Error::usage(format!(
            "--part-size: {v} is outside S3's limits (5MiB to 5GiB)"
        )));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_and_s3s_limits() {
        assert_eq!(parse_size("5MiB").unwrap(), 5 << 20);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("1MiB").is_err());
        assert!(parse_size("6GiB").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn the_first_s3_url_is_the_destination_and_the_rest_are_dumps() {
        let a = parse_from(lexopt::Parser::from_args([
            "a.sql",
            "s3://b-1/p/",
            "c.sql",
            "--r2",
        ]))
        .unwrap();
        assert_eq!(a.destination, "s3://b-1/p/");
        assert_eq!(a.paths, ["a.sql", "c.sql"]);
        assert!(a.store.r2);
        let e = parse_from(lexopt::Parser::from_args(["--secret-access-key", "x"])).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
    }
}
