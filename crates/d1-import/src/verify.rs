//! `--verify-first`: the tools compose, so d1-import does not re-implement d1-verify's restore
//! test; it runs the `d1-verify` binary on the file (the one installed beside d1-import, else
//! the first on PATH) and imports nothing when it fails.

use d1_core::{Error, Result};
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

/// Runs `d1-verify -q FILE`; its non-zero exit is this import's failure (exit 1).
pub fn verify_first(file: &Path) -> Result<()> {
    let shown = file.display();
    let bin = find().ok_or_else(|| {
        Error::usage(format!(
            "--verify-first: {VERIFY} is neither beside d1-import nor on PATH"
        ))
    })?;
    // A relative name starting with '-' would be read as an option.
    let arg = if file.is_relative() && file.to_string_lossy().starts_with('-') {
        Path::new(".").join(file)
    } else {
        file.to_path_buf()
    };
    let mut child = Command::new(&bin)
        .arg("-q")
        .arg(&arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failed(format!("--verify-first: running {}: {e}", bin.display())))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = loop {
        if d1_core::signal::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::interrupted());
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(Error::io(
                    format!("--verify-first: waiting for {VERIFY}"),
                    e,
                ))
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let how = match status.code() {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".to_string(),
    };
    Err(Error::failed(format!(
        "--verify-first: {VERIFY} rejected {shown} ({how}): {:?}; nothing was imported",
        summary(&stdout, &stderr)
    )))
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
