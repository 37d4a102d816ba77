//! How the tools speak on stderr: `tool: error: what went wrong: detail`, one line each, always
//! redacted; a progress line only when stderr is a terminal and `-q` was not given.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static TOOL: OnceLock<&'static str> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_tool(name: &'static str) {
    let _ = TOOL.set(name);
}

pub fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("d1")
}

/// `-q`: no progress and no informational messages; warnings and errors still print.
pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn emit(label: &str, ansi: &str, text: &str) {
    // One line per message: a multi-line server message is folded so that logs stay greppable,
    // and a server's control characters (ESC sequences) never reach the terminal.
    let text = printable(&crate::redact::redact(text));
    let label = if label.is_empty() {
        String::new()
    } else if color() {
        format!("\x1b[{ansi}m{label}\x1b[0m: ")
    } else {
        format!("{label}: ")
    };
    // One write of one whole line: under `make -j` several tools share one log, and a
    // message written in pieces interleaves with theirs.
    let line = format!("{}: {label}{text}\n", tool());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

pub fn error(text: &str) {
    clear_progress();
    emit("error", "1;31", text);
}

pub fn warn(text: &str) {
    clear_progress();
    emit("warning", "1;33", text);
}

/// Informational: silenced by `-q`.
pub fn info(text: &str) {
    if !quiet() {
        clear_progress();
        emit("", "", text);
    }
}

static PROGRESS_SHOWN: AtomicBool = AtomicBool::new(false);

fn clear_progress() {
    if PROGRESS_SHOWN.swap(false, Ordering::Relaxed) {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}

/// A single self-overwriting status line on a terminal; nothing at all otherwise, so that logs
/// of cron jobs stay clean.
pub struct Progress {
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            enabled: !quiet() && std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Redraws at most five times a second.
    pub fn update(&mut self, text: impl FnOnce() -> String) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(now);
        let line = printable(&crate::redact::redact(&text()));
        let line = format!("\r\x1b[K{}: {line}", tool());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        PROGRESS_SHOWN.store(true, Ordering::Relaxed);
    }

    pub fn finish(&mut self) {
        clear_progress();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `text` as one line that is safe to print: line breaks and tabs become spaces, other control
/// characters (ESC, BEL, DEL, C1 controls) are dropped. Server text (error messages, export
/// messages) goes through this before it reaches stderr.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// `1.5 MB` style sizes for progress lines and reports.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn server_text_loses_its_control_characters() {
        assert_eq!(
            printable("bad\x1b[2J\x1b]0;pwned\x07 thing\r\nline two\u{9b}31m\u{7f}"),
            "bad[2J]0;pwned thing  line two31m"
        );
        assert_eq!(printable("plain text, ünïcode"), "plain text, ünïcode");
    }
}
