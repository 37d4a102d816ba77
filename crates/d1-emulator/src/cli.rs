//! Command line: a plain lexopt loop into `Options`, with the help text beside it.

use crate::faults::{self, Fault};
use std::path::PathBuf;

pub const HELP: &str = "\
d1-emulator: a local, faithful Cloudflare D1 REST API backed by SQLite files

USAGE:
    d1-emulator [OPTIONS]

Prints `http://127.0.0.1:PORT/client/v4` on stdout once listening; stops on SIGTERM/SIGINT.

OPTIONS:
    --data-dir DIR          folder of databases, DIR/NAME.sqlite each (default: a temporary
                            folder removed on exit)
    --port N                port on 127.0.0.1 (default 0: any free port)
    --token T               accepted bearer token (default emulator-token); visible in ps:
                            prefer --token-file on a shared machine
    --token-file PATH       read the accepted token from PATH (first line)
    --read-only-token T     a valid token without D1 Edit: 403/7403 on every D1 endpoint
    --account-id ID         account id (default emulator-account)
    --seed-sample           create database `sample` with tricky data if absent
    --seed NAME[=FILE]      create database NAME if absent: empty, or from the SQL in FILE
                            (repeatable)
    --seed-count N          create databases db-0001 … db-N if absent, each one small table
    --export-polls N        active answers before an export completes, the start call
                            counting as the first (default 2)
    --poll-hold-ms MS       how long each export poll is held (default 100)
    --bookmark-changes      new bookmark on every export answer; only the latest is accepted
    --cancel-after-ms MS    cancel an active export nobody polled for this long (default 5000)
    --export-lock-ms MS     after an export fails on a virtual table, refuse queries and new
                            exports of that database this long (default 2000)
    --url-ttl SECS          signed URL lifetime (default 3600)
    --legacy-dump           older dump form: INSERTs without columns, Infinity/-Infinity
    --time-travel-window SECS
                            how long Time Travel history is kept (default 2592000: D1's 30
                            days; 604800 is the free plan's 7)
    --time-travel-snapshots N
                            copies of past states kept per database, the oldest dropped first
                            (default 32; 0: no history, nothing is ever copied)
    --fault SPEC            arm a fault, ENDPOINT:FAULT[:key=val,...] (repeatable)
    --rate-limit LIMIT      the account rate limit, LIMIT = REQUESTS/SECONDS: after REQUESTS
                            API calls in a window of SECONDS, 429 (code 971) with Retry-After
                            until the window ends (Cloudflare's is 1200/300; default: none)
    -v, --verbose           log requests to stderr
    -h, --help              print this help
    -V, --version           print the version

See docs/d1-emulator.md for endpoints and fault syntax.
";

/// The whole `--help`: [`HELP`] and the exit status section (d1-core's table).
pub fn help() -> String {
    use d1_core::ExitCode;
    let exit = d1_core::cli::exit_status(
        &[
            (ExitCode::Ok, "stopped by SIGTERM or SIGINT"),
            (
                ExitCode::Failed,
                "could not start (port taken, folder not writable)",
            ),
            (ExitCode::Usage, "unknown option or bad value"),
        ],
        "",
    );
    format!("{HELP}\n{exit}")
}

#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: Option<PathBuf>,
    pub port: u16,
    pub token: String,
    pub read_only_token: Option<String>,
    pub account_id: String,
    pub seed_sample: bool,
    /// `--seed NAME[=FILE]`: databases to create, each empty or from a SQL file.
    pub seeds: Vec<(String, Option<PathBuf>)>,
    /// `--seed-count N`: that many small databases.
    pub seed_count: u32,
    pub export_polls: u32,
    pub poll_hold_ms: u64,
    pub bookmark_changes: bool,
    pub cancel_after_ms: u64,
    pub export_lock_ms: u64,
    pub url_ttl: u64,
    pub legacy_dump: bool,
    pub time_travel_window: u64,
    pub time_travel_snapshots: usize,
    pub faults: Vec<Fault>,
    pub rate_limit: Option<crate::ratelimit::Limit>,
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            port: 0,
            token: "emulator-token".into(),
            read_only_token: None,
            account_id: "emulator-account".into(),
            seed_sample: false,
            seeds: Vec::new(),
            seed_count: 0,
            export_polls: 2,
            poll_hold_ms: 100,
            bookmark_changes: false,
            cancel_after_ms: 5000,
            export_lock_ms: 2000,
            url_ttl: 3600,
            legacy_dump: false,
            time_travel_window: 30 * 86_400,
            time_travel_snapshots: 32,
            faults: Vec::new(),
            rate_limit: None,
            verbose: false,
        }
    }
}

/// What the command line asks for.
pub enum Command {
    Run(Box<Options>),
    Help,
    Version,
}

fn num<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T, String> {
    let v = p.value().map_err(|e| e.to_string())?;
    let s = v.to_string_lossy().into_owned();
    s.parse()
        .map_err(|_| format!("{flag} needs a whole number, got {s:?}"))
}

fn text(p: &mut lexopt::Parser) -> Result<String, String> {
    let v = p.value().map_err(|e| e.to_string())?;
    v.into_string()
        .map_err(|v| format!("not valid UTF-8: {}", v.to_string_lossy()))
}

/// The first line of `path`, trimmed (`--token-file`: a token in argv is visible in `ps`).
fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(format!(
            "--token-file {}: no token in the file",
            path.display()
        ));
    }
    Ok(token)
}

/// `args` starts with the program name, as `std::env::args_os()` does.
pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut o = Options::default();
    let mut p = lexopt::Parser::from_iter(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data-dir") => o.data_dir = Some(p.value().map_err(|e| e.to_string())?.into()),
            Long("port") => o.port = num(&mut p, "--port")?,
            Long("token") => o.token = text(&mut p)?,
            Long("token-file") => {
                let path = PathBuf::from(p.value().map_err(|e| e.to_string())?);
                o.token = read_token(&path)?;
            }
            Long("read-only-token") => o.read_only_token = Some(text(&mut p)?),
            Long("account-id") => o.account_id = text(&mut p)?,
            Long("seed-sample") => o.seed_sample = true,
            Long("seed") => {
                let v = text(&mut p)?;
                let (name, file) = match v.split_once('=') {
                    Some((n, f)) if !f.is_empty() => (n.to_string(), Some(PathBuf::from(f))),
                    Some(_) => return Err(format!("--seed {v:?}: no FILE after =")),
                    None => (v, None),
                };
                if !crate::dbs::valid_name(&name) {
                    return Err(format!(
                        "--seed {name:?}: a database name is 1 to 64 letters, digits, '-' or '_'"
                    ));
                }
                o.seeds.push((name, file));
            }
            Long("seed-count") => {
                o.seed_count = num(&mut p, "--seed-count")?;
                if o.seed_count > 100_000 {
                    return Err("--seed-count: at most 100000".into());
                }
            }
            Long("export-polls") => o.export_polls = num(&mut p, "--export-polls")?,
            Long("poll-hold-ms") => o.poll_hold_ms = num(&mut p, "--poll-hold-ms")?,
            Long("bookmark-changes") => o.bookmark_changes = true,
            Long("cancel-after-ms") => o.cancel_after_ms = num(&mut p, "--cancel-after-ms")?,
            Long("export-lock-ms") => o.export_lock_ms = num(&mut p, "--export-lock-ms")?,
            Long("url-ttl") => {
                o.url_ttl = num(&mut p, "--url-ttl")?;
                if o.url_ttl == 0 {
                    return Err("--url-ttl must be at least 1".into());
                }
            }
            Long("legacy-dump") => o.legacy_dump = true,
            Long("time-travel-window") => {
                o.time_travel_window = num(&mut p, "--time-travel-window")?
            }
            Long("time-travel-snapshots") => {
                o.time_travel_snapshots = num(&mut p, "--time-travel-snapshots")?
            }
            Long("fault") => o.faults.push(faults::parse(&text(&mut p)?)?),
            Long("rate-limit") => o.rate_limit = Some(crate::ratelimit::parse(&text(&mut p)?)?),
            Short('v') | Long("verbose") => o.verbose = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if o.token.is_empty() {
        return Err("--token must not be empty".into());
    }
    Ok(Command::Run(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_opts(args: &[&str]) -> Result<Options, String> {
        let argv = std::iter::once("d1-emulator")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from);
        match parse(argv)? {
            Command::Run(o) => Ok(*o),
            _ => Err("not a run".into()),
        }
    }

    #[test]
    fn seeds_are_names_with_an_optional_sql_file() {
        let o = run_opts(&["--seed", "a", "--seed", "b=x.sql", "--seed-count", "3"]).unwrap();
        assert_eq!(
            o.seeds,
            [
                ("a".to_string(), None),
                ("b".to_string(), Some(PathBuf::from("x.sql")))
            ]
        );
        assert_eq!(o.seed_count, 3);
        for bad in ["b=", "no/slash", ""] {
            assert!(run_opts(&["--seed", bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_token_can_come_from_a_file_instead_of_argv() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "tok-from-file-123\n").unwrap();
        let o = run_opts(&["--token-file", f.to_str().unwrap()]).unwrap();
        assert_eq!(o.token, "tok-from-file-123");
        std::fs::write(&f, "\n").unwrap();
        assert!(run_opts(&["--token-file", f.to_str().unwrap()])
            .unwrap_err()
            .contains("no token"));
        assert!(run_opts(&["--token-file", "/nonexistent/t"]).is_err());
    }
}
