//! The one error type of the d1-tools, and the one place that maps errors to exit codes
//! (design.md, "Exit codes": identical in every tool).

use std::fmt;

/// Exit codes a shell can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    Ok = 0,
    /// Export error, dump failed verification, non-retryable HTTP error.
    Failed = 1,
    /// Usage or bad input.
    Usage = 2,
    /// Token missing, invalid, or lacking D1 Edit.
    Credentials = 3,
    /// Retries or deadline used up: a scheduler may try again later (EX_TEMPFAIL).
    Temporary = 75,
    /// SIGINT or SIGTERM.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The class a number names (a failure record's EXIT field).
    pub fn from_code(n: i32) -> Option<ExitCode> {
        [
            ExitCode::Ok,
            ExitCode::Failed,
            ExitCode::Usage,
            ExitCode::Credentials,
            ExitCode::Temporary,
            ExitCode::Interrupted,
        ]
        .into_iter()
        .find(|c| c.code() == n)
    }

    /// Which of two outcomes a multi-record run reports: the one that most needs a human.
    /// A permanent failure outranks a temporary one (a retry later will not fix it).
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Ok => 0,
                ExitCode::Temporary => 1,
                ExitCode::Failed => 2,
                ExitCode::Usage => 3,
                ExitCode::Credentials => 4,
                ExitCode::Interrupted => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error with the exit code it maps to and a one-line message for stderr.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: ExitCode,
    pub message: String,
    /// Text for stdout instead of an error (`--help`, `--version`): returned as a value by the
    /// argument parser, written by `cli::main` (a closed pipe there is a quiet exit 0).
    pub stdout: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            stdout: None,
        }
    }

    /// Ends the run successfully after printing `text` on stdout (`--help`, `--version`).
    pub fn show(text: impl Into<String>) -> Error {
        Error {
            code: ExitCode::Ok,
            message: String::new(),
            stdout: Some(text.into()),
        }
    }
    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(ExitCode::Failed, message)
    }
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ExitCode::Usage, message)
    }
    pub fn credentials(message: impl Into<String>) -> Error {
        Error::new(ExitCode::Credentials, message)
    }
    pub fn temporary(message: impl Into<String>) -> Error {
        Error::new(ExitCode::Temporary, message)
    }
    pub fn interrupted() -> Error {
        Error::new(ExitCode::Interrupted, "interrupted")
    }

    /// An error whose message is already on stderr (and whose failure record, if any, went
    /// out or could not): it ends the run with its code and nothing more is printed.
    pub fn reported(code: ExitCode) -> Error {
        Error::new(code, "")
    }

    pub fn is_reported(&self) -> bool {
        self.message.is_empty() && self.code != ExitCode::Ok
    }

    /// Prefixes what was being done: `fetching URL: connection refused`.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// An I/O error while doing `what`. Interrupted system calls after a signal map to 130.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Error {
        if crate::signal::interrupted() {
            return Error::interrupted();
        }
        Error::failed(format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::usage(format!("{e} (try --help)"))
    }
}

/// Adds context to any result, for `?` chains: `read(path).ctx(|| format!("reading {path}"))`.
pub trait Context<T> {
    fn ctx<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn ctx<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> Context<T> for Result<T, Error> {
    fn ctx<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| {
            if e.code == ExitCode::Interrupted {
                e
            } else {
                e.context(what())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_prefers_human_attention_over_retryable() {
        assert_eq!(ExitCode::Ok.worst(ExitCode::Temporary), ExitCode::Temporary);
        assert_eq!(
            ExitCode::Temporary.worst(ExitCode::Failed),
            ExitCode::Failed
        );
        assert_eq!(
            ExitCode::Failed.worst(ExitCode::Credentials),
            ExitCode::Credentials
        );
        assert_eq!(
            ExitCode::Interrupted.worst(ExitCode::Usage),
            ExitCode::Interrupted
        );
    }
}
