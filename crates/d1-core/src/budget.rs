//! The account's request budget, shared by every d1-tool on this host (issue 23). Cloudflare
//! allows 1200 API requests per 5 minutes per account and then refuses every request for the
//! rest of the window (429, code 971): a night of polling dozens of exports at once, from one
//! process or from `make -j`, must stay under it or every backup fails together.
//!
//! A token bucket in a small file per account, taken under an exclusive lock: a burst of a tenth
//! of the budget (at most 60) at once, then the rest spread over the window. Any window then
//! holds at most the budget, which the default (1000 per 300 s) keeps below 1200 with room for
//! other clients of the account (wrangler, dashboards). `D1_REQUEST_BUDGET=N/SECONDS` sets it;
//! `0` turns pacing off.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most requests that may go at once before pacing starts.
const MAX_BURST: f64 = 60.0;

/// Requests per window for this host's tools together: `requests` per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub requests: u32,
    pub seconds: u32,
}

/// 1000 per 5 minutes: under Cloudflare's 1200, with room for other clients.
pub const DEFAULT: Limit = Limit {
    requests: 1000,
    seconds: 300,
};

/// A budget for one account.
#[derive(Debug, Clone)]
pub struct Budget {
    path: PathBuf,
    burst: f64,
    rate: f64,
}

/// `D1_REQUEST_BUDGET` (`N/SECONDS`, default [`DEFAULT`]; `0` turns pacing off). Config::load
/// checks it, so that a typo is a usage error and not silently the default.
pub fn limit() -> Result<Option<Limit>> {
    match std::env::var("D1_REQUEST_BUDGET") {
        Ok(v) => parse_limit(&v),
        Err(_) => Ok(Some(DEFAULT)),
    }
}

fn parse_limit(v: &str) -> Result<Option<Limit>> {
    let v = v.trim();
    if v == "0" {
        return Ok(None);
    }
    let parsed = v.split_once('/').and_then(|(n, s)| {
        let (n, s) = (n.parse::<u32>().ok()?, s.parse::<u32>().ok()?);
        (n > 0 && s > 0).then_some(Limit {
            requests: n,
            seconds: s,
        })
    });
    parsed.map(Some).ok_or_else(|| {
        Error::usage(format!(
            "D1_REQUEST_BUDGET: {v:?} is not REQUESTS/SECONDS (like 1000/300), or 0 for no pacing"
        ))
    })
}

impl Budget {
    /// The budget of `account` at the API `base_url` on this host, kept in
    /// `$XDG_RUNTIME_DIR/d1-tools/` (else `$TMPDIR` or `/tmp`, in a folder of this user's).
    /// Each API (Cloudflare, an emulator on its port) has its own.
    pub fn for_account(base_url: &str, account: &str, limit: Limit) -> Budget {
        let dir = state_dir();
        let name: String = format!("{account}-{base_url}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(160)
            .collect();
        Budget::at(dir.join(format!("requests-{name}")), limit)
    }

    pub fn at(path: PathBuf, limit: Limit) -> Budget {
        let n = f64::from(limit.requests);
        let burst = (n / 10.0).clamp(1.0, MAX_BURST);
        // What the burst leaves of the window, spread over it.
        let rate = (n - burst).max(1.0) / f64::from(limit.seconds);
        Budget { path, burst, rate }
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
                    "pacing requests to stay within the account's API limit (D1_REQUEST_BUDGET); \
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
        let (tokens, last) = parse(&text, self.burst).unwrap_or((self.burst, now));
        let (tokens, wait) = refill_and_take(tokens, last, now, self.rate, self.burst);
        f.set_len(0)?;
        f.rewind()?;
        writeln!(f, "{tokens:.6} {now:.6}")?;
        Ok(wait)
    }
}

/// The bucket at `now`: refilled since `last`, one token taken when there is one. Returns the
/// tokens left and how long to wait (zero when a token was taken).
fn refill_and_take(tokens: f64, last: f64, now: f64, rate: f64, burst: f64) -> (f64, Duration) {
    let tokens = (tokens + (now - last).max(0.0) * rate).min(burst);
    if tokens >= 1.0 {
        (tokens - 1.0, Duration::ZERO)
    } else {
        (tokens, Duration::from_secs_f64((1.0 - tokens) / rate))
    }
}

fn parse(text: &str, burst: f64) -> Option<(f64, f64)> {
    let mut it = text.split_whitespace();
    let tokens: f64 = it.next()?.parse().ok()?;
    let last: f64 = it.next()?.parse().ok()?;
    (tokens.is_finite() && last.is_finite()).then_some((tokens.clamp(0.0, burst), last))
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

    fn limit(requests: u32, seconds: u32) -> Limit {
        Limit { requests, seconds }
    }

    #[test]
    fn the_burst_goes_at_once_then_requests_are_paced() {
        // 600 per 300 s: 60 at once, then 540 over 300 s, 1.8 per second.
        let b = Budget::at(PathBuf::from("/x"), limit(600, 300));
        assert_eq!((b.burst, b.rate), (60.0, 1.8));
        let (mut tokens, now) = (b.burst, 1000.0);
        for i in 0..60 {
            let (t, wait) = refill_and_take(tokens, now, now, b.rate, b.burst);
            assert_eq!(wait, Duration::ZERO, "request {i}");
            tokens = t;
        }
        let (_, wait) = refill_and_take(tokens, now, now, b.rate, b.burst);
        assert!((wait.as_secs_f64() - 1.0 / 1.8).abs() < 1e-9, "{wait:?}");
        assert_eq!(
            refill_and_take(tokens, now, now + 1.0, b.rate, b.burst).1,
            Duration::ZERO
        );
        // A long pause refills the burst, no more.
        assert_eq!(
            refill_and_take(0.0, now, now + 1e6, b.rate, b.burst).0,
            b.burst - 1.0
        );
    }

    #[test]
    fn the_state_file_is_taken_from_by_each_call() {
        let dir = tempfile::tempdir().unwrap();
        // 10 at once (a tenth of 100), then 90 over a day.
        let b = Budget::at(dir.path().join("requests-x"), limit(100, 86_400));
        for _ in 0..10 {
            assert_eq!(b.try_take().unwrap(), Duration::ZERO);
        }
        assert!(b.try_take().unwrap() > Duration::ZERO);
    }

    #[test]
    fn two_budgets_on_one_file_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-shared");
        let (a, b) = (
            Budget::at(p.clone(), limit(100, 86_400)),
            Budget::at(p, limit(100, 86_400)),
        );
        for _ in 0..5 {
            a.try_take().unwrap();
            b.try_take().unwrap();
        }
        assert!(
            a.try_take().unwrap() > Duration::ZERO,
            "10 taken between the two"
        );
    }

    #[test]
    fn any_window_stays_under_the_budget() {
        for l in [DEFAULT, limit(40, 10), limit(1200, 300)] {
            let b = Budget::at(PathBuf::from("/x"), l);
            let most = b.burst + b.rate * f64::from(l.seconds);
            assert!(most <= f64::from(l.requests) + 1e-9, "{l:?}: {most}");
        }
    }

    #[test]
    fn the_budget_is_read_as_requests_per_seconds() {
        let read = parse_limit;
        assert_eq!(read("40/10").unwrap(), Some(limit(40, 10)));
        assert_eq!(read("0").unwrap(), None);
        for bad in ["", "x", "10", "0/10", "10/0", "-1/5"] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_garbled_state_file_starts_a_fresh_bucket() {
        assert_eq!(parse("x y", 60.0), None);
        assert_eq!(parse("1e999 5", 60.0), None);
        assert_eq!(
            parse("500 7", 60.0),
            Some((60.0, 7.0)),
            "tokens capped at the burst"
        );
    }
}
