//! The account's request budget, shared by every d1-tool on this host (issue 23). Cloudflare
//! allows 1200 API requests per 5 minutes per account and then refuses every request for the
//! rest of the window (429, code 971): a night of polling dozens of exports at once, from one
//! process or from `make -j`, must stay under it or every backup fails together.
//!
//! A token bucket in a small file per account, taken under an exclusive lock: `BURST` requests
//! at once, then `rate` per second. Any 5-minute window then holds at most
//! `BURST + rate × 300` requests, which the default keeps below 1200 with room for other
//! clients of the account (wrangler, dashboards).

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Requests that may go at once before pacing starts.
const BURST: f64 = 60.0;
/// The window Cloudflare counts in.
const WINDOW_SECS: f64 = 300.0;
/// Default requests per 5 minutes, for this host's tools together.
pub const DEFAULT_PER_5M: u32 = 1000;

/// A budget for one account: `per_5m` requests per 5 minutes (0 = no pacing).
#[derive(Debug, Clone)]
pub struct Budget {
    path: PathBuf,
    rate: f64,
}

/// `D1_REQUESTS_PER_5M` (default [`DEFAULT_PER_5M`]; `0` turns pacing off). Config::load
/// checks it, so that a typo is a usage error and not silently the default.
pub fn per_5m() -> Result<u32> {
    match std::env::var("D1_REQUESTS_PER_5M") {
        Ok(v) => v.trim().parse::<u32>().map_err(|_| {
            Error::usage(format!(
                "D1_REQUESTS_PER_5M: {v:?} is not a whole number (0 turns pacing off)"
            ))
        }),
        Err(_) => Ok(DEFAULT_PER_5M),
    }
}

impl Budget {
    /// The budget of `account` at the API `base_url` on this host, kept in
    /// `$XDG_RUNTIME_DIR/d1-tools/` (else `$TMPDIR` or `/tmp`, in a folder of this user's);
    /// `None` when pacing is off. Each API (Cloudflare, an emulator on its port) has its own.
    pub fn for_account(base_url: &str, account: &str, per_5m: u32) -> Option<Budget> {
        if per_5m == 0 {
            return None;
        }
        let dir = state_dir();
        let name: String = format!("{account}-{base_url}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(160)
            .collect();
        Some(Budget::at(dir.join(format!("requests-{name}")), per_5m))
    }

    pub fn at(path: PathBuf, per_5m: u32) -> Budget {
        // What the burst leaves of the window, spread over it.
        let rate = ((f64::from(per_5m) - BURST).max(1.0)) / WINDOW_SECS;
        Budget { path, rate }
    }

    /// Takes one request from the budget, waiting while it is spent. The wait is announced
    /// (once per call) when it is long enough for a person to wonder.
    pub fn take(&self) -> Result<()> {
        let mut told = false;
        loop {
            crate::signal::check()?;
            let wait = match self.try_take() {
                Ok(w) => w,
                // The budget is a courtesy to the account; a state file we cannot use must not
                // stop a backup.
                Err(_) => return Ok(()),
            };
            if wait.is_zero() {
                return Ok(());
            }
            if !told && wait > Duration::from_secs(1) {
                crate::msg::info(&format!(
                    "pacing requests to stay within the account's API limit (D1_REQUESTS_PER_5M); \
                     next in {:.1}s",
                    wait.as_secs_f64()
                ));
                told = true;
            }
            std::thread::sleep(wait.min(Duration::from_millis(200)));
        }
    }

    /// One locked read-modify-write of the bucket: zero when a token was taken, else how long
    /// until the next one.
    fn try_take(&self) -> std::io::Result<Duration> {
        let mut f = open(&self.path)?;
        f.lock()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let now = now_secs();
        let (tokens, last) = parse(&text).unwrap_or((BURST, now));
        let (tokens, wait) = refill_and_take(tokens, last, now, self.rate);
        f.set_len(0)?;
        f.rewind()?;
        writeln!(f, "{tokens:.6} {now:.6}")?;
        Ok(wait)
    }
}

/// The bucket at `now`: refilled since `last`, one token taken when there is one. Returns the
/// tokens left and how long to wait (zero when a token was taken).
fn refill_and_take(tokens: f64, last: f64, now: f64, rate: f64) -> (f64, Duration) {
    let tokens = (tokens + (now - last).max(0.0) * rate).min(BURST);
    if tokens >= 1.0 {
        (tokens - 1.0, Duration::ZERO)
    } else {
        (tokens, Duration::from_secs_f64((1.0 - tokens) / rate))
    }
}

fn parse(text: &str) -> Option<(f64, f64)> {
    let mut it = text.split_whitespace();
    let tokens: f64 = it.next()?.parse().ok()?;
    let last: f64 = it.next()?.parse().ok()?;
    (tokens.is_finite() && last.is_finite()).then_some((tokens.clamp(0.0, BURST), last))
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("d1-tools");
    }
    let base = std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    // Per user: another user's folder in /tmp must not be ours to write.
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    base.join(format!("d1-tools-{uid}"))
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_goes_at_once_then_requests_are_paced() {
        let rate = Budget::at(PathBuf::from("/x"), 360).rate; // 60 at once, then 1 per second
        assert_eq!(rate, 1.0);
        let (mut tokens, now) = (BURST, 1000.0);
        for i in 0..60 {
            let (t, wait) = refill_and_take(tokens, now, now, rate);
            assert_eq!(wait, Duration::ZERO, "request {i}");
            tokens = t;
        }
        assert_eq!(
            refill_and_take(tokens, now, now, rate).1,
            Duration::from_secs(1)
        );
        assert_eq!(
            refill_and_take(tokens, now, now + 0.25, rate).1,
            Duration::from_millis(750)
        );
        assert_eq!(
            refill_and_take(tokens, now, now + 1.0, rate).1,
            Duration::ZERO
        );
        // A long pause refills the burst, no more.
        assert_eq!(refill_and_take(0.0, now, now + 1e6, rate).0, BURST - 1.0);
    }

    #[test]
    fn the_state_file_is_taken_from_by_each_call() {
        let dir = tempfile::tempdir().unwrap();
        let b = Budget::at(dir.path().join("requests-x"), 61); // 60 at once, then 1 per 300 s
        for _ in 0..60 {
            b.try_take().unwrap();
        }
        // However slow the machine, 60 calls took far less than 300 s of refill.
        assert!(b.try_take().unwrap() > Duration::ZERO);
    }

    #[test]
    fn two_budgets_on_one_file_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-shared");
        let (a, b) = (Budget::at(p.clone(), 61), Budget::at(p, 61));
        for _ in 0..30 {
            a.try_take().unwrap();
            b.try_take().unwrap();
        }
        assert!(
            a.try_take().unwrap() > Duration::ZERO,
            "60 taken between the two"
        );
    }

    #[test]
    fn any_five_minutes_stay_under_the_limit() {
        // BURST + rate × 300 for the default.
        let b = Budget::at(PathBuf::from("/nonexistent"), DEFAULT_PER_5M);
        let most = BURST + b.rate * WINDOW_SECS;
        assert!(most <= 1000.5, "{most}");
        assert!(most < 1200.0);
    }

    #[test]
    fn a_garbled_state_file_starts_a_fresh_bucket() {
        assert_eq!(parse("x y"), None);
        assert_eq!(parse("1e999 5"), None);
        assert_eq!(
            parse("500 7"),
            Some((BURST, 7.0)),
            "tokens capped at the burst"
        );
    }
}
