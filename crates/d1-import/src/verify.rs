//! d1-verify beside the import: the tools compose, so d1-import does not re-implement
//! d1-verify's restore test; it runs the `d1-verify` binary on the file (the one installed beside
//! d1-import, else the first on PATH) with `--json`. Its table list and row counts are what the
//! restore is checked against afterwards (`outcome`); with `--verify-first` its verdict also
//! comes first, and a rejected dump is not imported.

use crate::outcome::Counts;
use d1_core::{Error, Result};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const VERIFY: &str = "d1-verify";
/// d1-verify prints one summary line per dump; more than this is not worth keeping.
const MAX_OUTPUT: u64 = 1 << 20;

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `d1-verify` beside our own executable (a release tarball, `target/debug`), else on PATH.
pub fn find() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(VERIFY)));
    if let Some(p) = beside.filter(|p| is_executable(p)) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(VERIFY))
        .find(|p| is_executable(p))
}

/// The line that says why: d1-verify's last stdout line (its summary), else its last stderr line.
pub fn summary(stdout: &str, stderr: &str) -> String {
    let last = |s: &str| {
        s.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_string)
    };
    last(stdout)
        .or_else(|| last(stderr))
        .unwrap_or_else(|| "no output".to_string())
}

fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut r) = r {
            let _ = (&mut r).take(MAX_OUTPUT).read_to_end(&mut s);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// A `d1-verify -q --json FILE` running beside the import: killed if dropped unfinished.
pub struct Running {
    child: std::process::Child,
    out: Option<std::thread::JoinHandle<String>>,
    err: Option<std::thread::JoinHandle<String>>,
    bin: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What d1-verify said about the dump.
#[derive(Debug)]
pub struct Verdict {
    pub ok: bool,
    /// `exit N` or `killed by a signal`.
    pub how: String,
    /// Its reason (a failure), else its last line.
    pub summary: String,
    /// The dump's tables and their rows, when d1-verify restored it.
    pub tables: Option<Counts>,
}

/// Starts d1-verify on `file`. It is what tells d1-import which tables and how many rows the
/// dump restores, so it is needed with and without `--verify-first`.
pub fn start(file: &Path) -> Result<Running> {
    let bin = find().ok_or_else(|| {
        Error::usage(format!(
            "{VERIFY} is neither beside d1-import nor on PATH: d1-import runs it to know the \
             dump's tables and rows, and checks the restore against them"
        ))
    })?;
    // A relative name starting with '-' would be read as an option.
    let arg = if file.is_relative() && file.to_string_lossy().starts_with('-') {
        Path::new(".").join(file)
    } else {
        file.to_path_buf()
    };
    let mut child = Command::new(&bin)
        .args(["-q", "--json"])
        .arg(&arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failed(format!("running {}: {e}", bin.display())))?;
    let out = Some(drain(child.stdout.take()));
    let err = Some(drain(child.stderr.take()));
    Ok(Running {
        child,
        out,
        err,
        bin,
    })
}

impl Running {
    /// Waits for d1-verify's verdict (SIGINT/SIGTERM kill it and end d1-import).
    pub fn wait(mut self) -> Result<Verdict> {
        let status = loop {
            if d1_core::signal::interrupted() {
                return Err(Error::interrupted());
            }
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(Error::io(format!("waiting for {}", self.bin.display()), e)),
            }
        };
        let stdout = self
            .out
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .err
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let how = match status.code() {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        };
        let report: Option<Value> = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l.trim()).ok());
        let reason = report
            .as_ref()
            .and_then(|r| r.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let tables = report
            .as_ref()
            .and_then(|r| r.get("tables"))
            .and_then(Value::as_array)
            .and_then(|ts| {
                ts.iter()
                    .map(|t| {
                        Some((
                            t.get("name")?.as_str()?.to_string(),
                            t.get("rows")?.as_u64()?,
                        ))
                    })
                    .collect::<Option<Counts>>()
            });
        Ok(Verdict {
            ok: status.success(),
            how,
            summary: reason.unwrap_or_else(|| summary(&stdout, &stderr)),
            tables,
        })
    }
}

impl Verdict {
    /// `--verify-first`: a rejected dump is this import's failure (exit 1), before any upload.
    pub fn gate(self, file: &Path) -> Result<Verdict> {
        if self.ok {
            return Ok(self);
        }
        Err(Error::failed(format!(
            "--verify-first: {VERIFY} rejected {} ({}): {:?}; nothing was imported",
            file.display(),
            self.how,
            self.summary
        )))
    }

    /// The dump's tables and rows, which the restore is checked against.
    pub fn expected(&self, file: &Path) -> Result<&Counts> {
        match &self.tables {
            // A failed verdict still counts the tables when the restore itself went through.
            Some(t) if self.ok || !t.is_empty() => Ok(t),
            _ => Err(Error::failed(format!(
                "{VERIFY} could not restore {} ({}): {:?}; the import's outcome cannot be \
                 checked against the dump",
                file.display(),
                self.how,
                self.summary
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_stdout_line_else_the_last_stderr_line() {
        assert_eq!(summary("a\nFAIL d.sql: x\n\n", "err"), "FAIL d.sql: x");
        assert_eq!(
            summary("", "d1-verify: error: bad\n"),
            "d1-verify: error: bad"
        );
        assert_eq!(summary("", ""), "no output");
    }
}
