//! The one error type of the d1-tools, and the one place that maps errors to exit codes
//! (docs/README.md, "Exit codes": the same in every tool).

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
        EXIT_CODES.iter().map(|e| e.code).find(|c| c.code() == n)
    }

    /// The class's row of [`EXIT_CODES`].
    pub fn class(self) -> &'static ExitClass {
        EXIT_CODES
            .iter()
            .find(|e| e.code == self)
            .expect("every exit code has its row in EXIT_CODES")
    }

    /// The class's one-word name: `failed`, `usage`, `temporary`, ….
    pub fn name(self) -> &'static str {
        self.class().name
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

/// One row of the exit-code table: the number, the class's name, what it means.
#[derive(Debug)]
pub struct ExitClass {
    pub code: ExitCode,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// THE exit-code table (docs/README.md, "Exit codes": the same in every tool). Every tool's
/// `--help` "Exit status" section is generated from it ([`crate::cli::exit_status`]: a tool
/// says which codes it returns and why, never what a number means), and docs/README.md's table
/// and each docs page's exit codes are checked against it (tests/tests/exit_codes.rs). To
/// change what a number means, change it here; to change which errors get it, [`Kind::exit_code`].
pub const EXIT_CODES: [ExitClass; 6] = [
    ExitClass {
        code: ExitCode::Ok,
        name: "ok",
        meaning: "success",
    },
    ExitClass {
        code: ExitCode::Failed,
        name: "failed",
        meaning: "the step failed: export error, dump failed verification, refused or expired \
                  URL, non-retryable HTTP error",
    },
    ExitClass {
        code: ExitCode::Usage,
        name: "usage",
        meaning: "usage or bad input: unknown option, malformed record, unknown database, \
                  missing file",
    },
    ExitClass {
        code: ExitCode::Credentials,
        name: "credentials",
        meaning: "credentials: token (or object store key, age identity) missing, invalid, or \
                  lacking the permission needed",
    },
    ExitClass {
        code: ExitCode::Temporary,
        name: "temporary",
        meaning: "temporary: retries or the deadline used up (rate limits, 5xx, network), or \
                  the database is busy",
    },
    ExitClass {
        code: ExitCode::Interrupted,
        name: "interrupted",
        meaning: "interrupted by SIGINT, SIGTERM or SIGHUP",
    },
];

/// What went wrong, as the sites that construct errors know it. The exit code is not chosen at
/// each site: [`Kind::exit_code`] maps every kind to its class, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A bad command line, or input that is not what the tool reads (a malformed record, a
    /// file that is not a dump, an unknown option): fix the invocation or the input.
    Usage,
    /// What the user named does not exist (no database of that name).
    NotFound,
    /// A token or key missing, invalid, or without the permission needed; an age identity
    /// that is unreadable or cannot decrypt.
    Credentials,
    /// The step failed for good: an export or import error, a dump that fails verification,
    /// a non-retryable HTTP answer.
    Failed,
    /// Reading or writing a file, a socket or a pipe failed (not because of a signal).
    Io,
    /// Retries or the deadline used up, or the server said it is busy: a scheduler may try
    /// again later.
    Temporary,
    /// SIGINT, SIGTERM or SIGHUP arrived.
    Interrupted,
    /// The reader of stdout went away (`| head`): the run ends quietly, successfully.
    StdoutClosed,
    /// Not an error: text for stdout (`--help`, `--version`) that ends the run successfully.
    Show,
}

impl Kind {
    /// The one mapping of kinds to exit codes (docs/README.md, "Exit codes").
    pub fn exit_code(self) -> ExitCode {
        match self {
            Kind::Usage | Kind::NotFound => ExitCode::Usage,
            Kind::Credentials => ExitCode::Credentials,
            Kind::Failed | Kind::Io => ExitCode::Failed,
            Kind::Temporary => ExitCode::Temporary,
            Kind::Interrupted => ExitCode::Interrupted,
            Kind::StdoutClosed | Kind::Show => ExitCode::Ok,
        }
    }

    /// The plain kind of an exit class that came as a number (a failure record's EXIT field,
    /// the worst of a run's records).
    pub fn of_class(code: ExitCode) -> Kind {
        match code {
            ExitCode::Ok => Kind::StdoutClosed,
            ExitCode::Failed => Kind::Failed,
            ExitCode::Usage => Kind::Usage,
            ExitCode::Credentials => Kind::Credentials,
            ExitCode::Temporary => Kind::Temporary,
            ExitCode::Interrupted => Kind::Interrupted,
        }
    }
}

/// An error: what kind it is (hence its exit code) and a one-line message for stderr.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// Text for stdout instead of an error (`--help`, `--version`; kind [`Kind::Show`]):
    /// returned as a value by the argument parser, written by `cli::main` (a closed pipe there
    /// is a quiet exit 0).
    pub stdout: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            stdout: None,
        }
    }

    /// The exit code this error ends a run with ([`Kind::exit_code`]).
    pub fn code(&self) -> ExitCode {
        self.kind.exit_code()
    }

    /// Ends the run successfully after printing `text` on stdout (`--help`, `--version`).
    pub fn show(text: impl Into<String>) -> Error {
        Error {
            kind: Kind::Show,
            message: String::new(),
            stdout: Some(text.into()),
        }
    }
    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(Kind::Failed, message)
    }
    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Kind::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, message)
    }
    pub fn credentials(message: impl Into<String>) -> Error {
        Error::new(Kind::Credentials, message)
    }
    pub fn temporary(message: impl Into<String>) -> Error {
        Error::new(Kind::Temporary, message)
    }
    pub fn interrupted() -> Error {
        Error::new(Kind::Interrupted, "interrupted")
    }

    /// The reader of our stdout went away (`| head`): the run ends quietly (docs/README.md, "Rules
    /// every tool keeps").
    pub fn stdout_closed() -> Error {
        Error::new(Kind::StdoutClosed, "standard output closed")
    }

    /// An error whose message is already on stderr (and whose failure record, if any, went
    /// out or could not): it ends the run with its code and nothing more is printed.
    pub fn reported(code: ExitCode) -> Error {
        Error::new(Kind::of_class(code), "")
    }

    pub fn is_reported(&self) -> bool {
        self.message.is_empty() && self.code() != ExitCode::Ok
    }

    /// Whether this ends the whole run rather than one record: a signal, or a closed stdout.
    pub fn ends_run(&self) -> bool {
        matches!(self.kind, Kind::Interrupted | Kind::StdoutClosed)
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
        Error::new(Kind::Io, format!("{what}: {err}"))
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
            if e.kind == Kind::Interrupted {
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
    fn each_kind_has_its_class_and_a_class_number_gives_back_a_kind_of_that_class() {
        use Kind::*;
        let table = [
            (Usage, 2),
            (NotFound, 2),
            (Credentials, 3),
            (Failed, 1),
            (Io, 1),
            (Temporary, 75),
            (Interrupted, 130),
            (StdoutClosed, 0),
            (Show, 0),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code().code(), code, "{kind:?}");
            assert_eq!(
                Kind::of_class(kind.exit_code()).exit_code(),
                kind.exit_code()
            );
        }
        assert!(Error::stdout_closed().ends_run() && Error::interrupted().ends_run());
        assert!(!Error::failed("x").ends_run());
        assert!(Error::reported(ExitCode::Temporary).is_reported());
        assert!(!Error::stdout_closed().is_reported() && !Error::show("help").is_reported());
    }

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
