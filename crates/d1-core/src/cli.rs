//! What every binary's `main` shares: the options all tools take, `--help`/`--version`, and
//! the one place where an outcome becomes an exit code (docs/architecture.md: thin mains).

use crate::error::{Error, ExitCode, Kind, Result};
use crate::retry::{Deadline, Policy};
use lexopt::prelude::*;
use lexopt::Arg;
use std::path::PathBuf;
use std::time::Duration;

/// Options every tool takes the same way.
#[derive(Debug, Clone)]
pub struct Common {
    pub json: bool,
    pub quiet: bool,
    pub timeout: Option<Duration>,
    pub token_file: Option<PathBuf>,
    pub retries: u32,
    /// No input record is not a failure (pipe.rs): for a pipeline that may have nothing to do.
    pub allow_empty: bool,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            json: false,
            quiet: false,
            timeout: None,
            token_file: None,
            retries: Policy::default().retries,
            allow_empty: false,
        }
    }
}

/// The help line of `--allow-empty`, for the tools that read records on stdin.
pub const ALLOW_EMPTY_HELP: &str =
    "      --allow-empty      no record on stdin is not a failure (by default it is: the step
                         before died without a word)";

/// The help lines for [`Common`], for each tool's help text.
pub const COMMON_HELP: &str = concat!(
    // Not a `\` line continuation: that would eat the first line's indentation.
    "      --json             one JSON object per line on stdout instead of plain records\n",
    "      --timeout DUR      deadline for the whole run (90, 90s, 10m, 1h); exit 75 when reached
      --retries N        retries of a failed request before giving up (default 5)
      --token-file PATH  read the API token from PATH instead of CLOUDFLARE_API_TOKEN
  -q, --quiet            no progress line and no informational messages
  -h, --help             print this help
  -V, --version          print the version"
);

impl Common {
    /// Consumes `arg` if it is a common option; `Ok(false)` leaves it to the tool.
    pub fn parse(&mut self, arg: &Arg, parser: &mut lexopt::Parser, help: &str) -> Result<bool> {
        match arg {
            Long("json") => {
                self.json = true;
                crate::pipe::set_json(true);
            }
            Short('q') | Long("quiet") => {
                self.quiet = true;
                crate::msg::set_quiet(true);
            }
            Long("timeout") => {
                let v: String = parser.value()?.string()?;
                self.timeout = Some(crate::retry::parse_duration(&v)?);
            }
            Long("retries") => {
                let v: String = parser.value()?.string()?;
                self.retries = v.parse().ok().filter(|n| *n <= 100).ok_or_else(|| {
                    Error::usage(format!("--retries: {v:?} is not a number from 0 to 100"))
                })?;
            }
            Long("token-file") => self.token_file = Some(parser.value()?.into()),
            Long("allow-empty") => self.allow_empty = true,
            Long("token") => return Err(Error::usage(
                "the token is not taken from the command line (other users can read it in ps); \
                     set CLOUDFLARE_API_TOKEN or use --token-file",
            )),
            // Returned as values, written by `main` (docs/architecture.md: no exit from library
            // code).
            Short('h') | Long("help") => return Err(Error::show(help)),
            Short('V') | Long("version") => {
                return Err(Error::show(format!(
                    "{} {}\n",
                    crate::msg::tool(),
                    env!("CARGO_PKG_VERSION")
                )))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn policy(&self) -> Policy {
        Policy {
            retries: self.retries,
            ..Policy::default()
        }
    }

    pub fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout)
    }

    /// Loads the configuration and builds an API client under this run's deadline.
    #[cfg(feature = "client")]
    pub fn client(&self) -> Result<(crate::Config, crate::client::Client)> {
        let cfg = crate::Config::load(self.token_file.as_deref())?;
        let client = crate::client::Client::new(&cfg, self.policy(), self.deadline())?;
        Ok((cfg, client))
    }
}

/// A tool's "Exit status" section for its `--help`: one line for each code the tool can return,
/// with the class's name from the one table ([`crate::error::EXIT_CODES`]) and the tool's own
/// reason, then `note` (how several records combine). A tool never says what a number means;
/// tests/tests/exit_codes.rs checks every tool's section against the table.
pub fn exit_status(reasons: &[(ExitCode, &str)], note: &str) -> String {
    const WIDTH: usize = 96;
    const INDENT: &str = "        ";
    let mut out = String::from("Exit status:\n");
    for (code, reason) in reasons {
        let mut line = format!("  {:<4}  {}:", code.code(), code.name());
        for word in reason.split_whitespace() {
            if line.len() + 1 + word.len() > WIDTH {
                out.push_str(&line);
                out.push('\n');
                line = INDENT.to_string();
            } else {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
    if !note.is_empty() {
        out.push_str(note.trim_end());
        out.push('\n');
    }
    out
}

/// Marks the process non-dumpable and sets its core size limit to 0: a core dump (or another
/// process of the same user reading its memory through /proc or ptrace) would hold the bearer
/// token and the signed URLs. Called first thing by [`main`].
pub fn no_core_dumps() {
    // SAFETY: plain system calls with constant arguments; failures are ignored (a hardening
    // measure, not a reason to refuse to run).
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// A usage error for an argument the tool does not know, with the hint to try --help.
pub fn unexpected(arg: Arg) -> Error {
    Error::usage(format!("{} (try --help)", arg.unexpected()))
}

/// Runs a tool: sets its name for messages, installs the signal handlers, prints the final
/// error (redacted, one line) and exits with the code docs/README.md gives it ("Exit codes"). `run`
/// returns the worst outcome of the records it handled, having reported each failure itself. An
/// error that ends the whole run also goes down the pipe as a failure record (pipe.rs), so that the
/// last tool of a pipeline under plain `sh` exits with this class, not 0.
pub fn main(tool: &'static str, run: impl FnOnce() -> Result<ExitCode>) -> ! {
    no_core_dumps();
    crate::msg::set_tool(tool);
    crate::signal::install();
    let code = match run() {
        Ok(code) => code,
        // --help, --version: a closed stdout (`--help | true`) is a quiet success too.
        Err(Error {
            stdout: Some(text), ..
        }) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            ExitCode::Ok
        }
        // stdout closed by the reader (`| head`): end quietly.
        Err(e) if e.kind == Kind::StdoutClosed => ExitCode::Ok,
        Err(e) if e.is_reported() => e.code(),
        Err(e) => {
            crate::msg::error(&e.message);
            // Best effort: stdout may be the very thing that failed.
            let _ = crate::pipe::Failure::of(&e, None).emit();
            e.code()
        }
    };
    let code = if crate::signal::interrupted() {
        if code != ExitCode::Interrupted {
            // The run ended normally around the signal: the pipe still hears of it.
            let _ = crate::pipe::Failure::of(&Error::interrupted(), None).emit();
        }
        ExitCode::Interrupted
    } else {
        code
    };
    std::process::exit(code.code())
}
