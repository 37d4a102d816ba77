//! Retries with exponential backoff and jitter, honouring `Retry-After` up to a cap, under one
//! deadline for the whole operation (docs/README.md, "Rules every tool keeps"). [`run`] is the one
//! retry loop of the tools: the API client, the download and the upload give it one attempt as
//! a closure and it owns the counting, the waits and the messages.

use crate::error::{Error, Kind, Result};
use std::time::{Duration, Instant};

/// One deadline for a whole operation (`--timeout`); `None` waits as long as it takes.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Option<Instant>,
}

impl Deadline {
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline {
            end: timeout.map(|t| Instant::now() + t),
        }
    }

    pub fn none() -> Deadline {
        Deadline { end: None }
    }

    pub fn remaining(&self) -> Option<Duration> {
        self.end
            .map(|e| e.saturating_duration_since(Instant::now()))
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// `d`, shortened to what is left before the deadline.
    pub fn cap(&self, d: Duration) -> Duration {
        match self.remaining() {
            Some(r) => d.min(r),
            None => d,
        }
    }
}

/// Retry policy: `retries` further attempts after the first, delays doubling from `base`.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub retries: u32,
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            retries: 5,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// The longest `Retry-After` a run obeys. A server asking for more (`Retry-After: 86400`) gets
/// no waiting process: D1 cancels an export nobody polls and a signed URL lives one hour, so
/// the run ends with exit 75 and a scheduler tries again later.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Waits at least this long are announced on stderr (`-q` silences them); shorter ones only on
/// the progress line, so that a recovered blip stays silent in cron logs.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

impl Policy {
    /// The wait before retry number `attempt` (1-based): the server's `Retry-After` when it
    /// gave one, else `base * 2^(attempt-1)` with jitter in [50%, 100%] so that many clients
    /// hit by the same outage do not come back in step. A `Retry-After` above
    /// [`MAX_RETRY_AFTER`] is not waited for: use [`Policy::wait`] to have it refused.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(MAX_RETRY_AFTER);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(jitter())
    }
}

/// Why an attempt did not succeed, as [`run`] needs to know it.
#[derive(Debug)]
pub enum Failure {
    /// Not worth another attempt.
    Fatal(Error),
    /// Worth another attempt after a wait.
    Again {
        /// One redacted line: `HTTP 503`, `connection failed`.
        problem: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// The error's kind once the retries are used up: temporary (75) unless the caller
        /// knows better (a download that keeps arriving short is a failure, 1).
        exhausted: Kind,
    },
}

impl Failure {
    /// A temporary problem, retried.
    pub fn again(problem: impl Into<String>, retry_after: Option<Duration>) -> Failure {
        Failure::Again {
            problem: problem.into(),
            retry_after,
            exhausted: Kind::Temporary,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Fatal(e)
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retries (`policy.retries` after the
/// first try) or the deadline are used up. Between attempts it waits (backoff with jitter, or
/// the server's `Retry-After` up to [`MAX_RETRY_AFTER`]), announcing waits of
/// [`ANNOUNCE_WAIT`] or more on stderr, and answers SIGINT/SIGTERM/SIGHUP at once.
pub fn run<T>(
    policy: &Policy,
    deadline: &Deadline,
    mut attempt: impl FnMut() -> Result<T, Failure>,
) -> Result<T> {
    let mut failures: u32 = 0;
    loop {
        crate::signal::check()?;
        if deadline.expired() {
            return Err(Error::temporary("deadline reached (--timeout)"));
        }
        let (problem, retry_after, exhausted) = match attempt() {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Again {
                problem,
                retry_after,
                exhausted,
            }) => (problem, retry_after, exhausted),
        };
        failures += 1;
        if failures > policy.retries {
            return Err(Error::new(
                exhausted,
                format!("{problem} (gave up after {failures} attempts)"),
            ));
        }
        let wait = policy.wait(failures, retry_after, &problem)?;
        if wait >= ANNOUNCE_WAIT {
            let why = if retry_after.is_some() {
                " (the server's Retry-After)"
            } else {
                ""
            };
            crate::msg::info(&format!(
                "{problem}; retrying in {:.0}s{why}",
                wait.as_secs_f64().ceil()
            ));
        }
        sleep(wait, deadline, &problem)?;
    }
}

impl Policy {
    /// [`Policy::delay`], refusing a `Retry-After` above [`MAX_RETRY_AFTER`] with exit 75.
    pub fn wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        problem: &str,
    ) -> Result<Duration> {
        if let Some(ra) = retry_after.filter(|ra| *ra > MAX_RETRY_AFTER) {
            return Err(Error::temporary(format!(
                "{problem}: the server asked to wait {}s before trying again (Retry-After), more \
                 than the {}s a run waits; try again later",
                ra.as_secs(),
                MAX_RETRY_AFTER.as_secs()
            )));
        }
        Ok(self.delay(attempt, retry_after))
    }
}

/// Whether an HTTP status is worth another attempt, for every caller: 429 (slow down) and the
/// 5xx (the server's trouble). Any other 4xx is the request's own fault and fails at once;
/// a 408 is not retried either (no server the tools talk to sends one for a request it wants
/// again).
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// A uniform number in [0, 1).
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// Sleeps `d` in short slices so that SIGINT/SIGTERM is answered promptly. Fails with exit 75
/// when the deadline would pass first.
pub fn sleep(d: Duration, deadline: &Deadline, why: &str) -> Result<()> {
    if deadline.remaining().is_some_and(|r| r < d) {
        return Err(Error::temporary(format!(
            "{why}; the next try would be after the deadline (--timeout)"
        )));
    }
    let end = Instant::now() + d;
    loop {
        crate::signal::check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Parses a `Retry-After` header given in seconds (Cloudflare's form). HTTP dates are rare on
/// this API and are treated as absent. A huge value is kept (saturated), so that the cap
/// refuses it instead of the backoff silently replacing it.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(1e9)))
}

/// Parses `--timeout` values: `90`, `90s`, `500ms`, `5m`, `1h`, `2d` (up to 30 days).
pub fn parse_duration(v: &str) -> Result<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| Error::usage(format!("invalid duration {v:?} (try 90, 90s, 5m, 500ms)")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => {
            return Err(Error::usage(format!(
                "invalid duration unit in {v:?} (use ms, s, m, h or d)"
            )))
        }
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 30.0 * 86_400.0 {
        return Err(Error::usage(format!("duration {v:?} out of range")));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitCode;

    #[test]
    fn backoff_doubles_with_jitter_and_obeys_retry_after() {
        let p = Policy::default();
        for attempt in 1..=4 {
            let full = Duration::from_millis(500) * (1 << (attempt - 1));
            let d = p.delay(attempt, None);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(p.delay(30, None) <= p.max_delay);
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn a_retry_after_above_the_cap_is_a_temporary_failure_not_a_wait() {
        let p = Policy::default();
        let day = parse_retry_after("86400");
        assert_eq!(day, Some(Duration::from_secs(86_400)));
        let e = p.wait(1, day, "HTTP 429").unwrap_err();
        assert_eq!(e.code(), ExitCode::Temporary);
        assert!(e.message.contains("Retry-After") && e.message.contains("86400s"));
        assert_eq!(
            p.wait(1, Some(MAX_RETRY_AFTER), "x").unwrap(),
            MAX_RETRY_AFTER
        );
        assert!(parse_retry_after("1e30").is_some());
        assert_eq!(parse_retry_after("-5"), None);
        assert_eq!(parse_retry_after("NaN"), None);
    }

    #[test]
    fn the_runner_counts_attempts_and_keeps_the_exhausted_class() {
        let p = Policy {
            retries: 2,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let mut n = 0;
        let e = run(&p, &Deadline::none(), || -> Result<(), Failure> {
            n += 1;
            Err(Failure::Again {
                problem: "cut short".into(),
                retry_after: None,
                exhausted: Kind::Failed,
            })
        })
        .unwrap_err();
        assert_eq!(n, 3);
        assert_eq!(e.code(), ExitCode::Failed);
        assert!(
            e.message.contains("gave up after 3 attempts"),
            "{}",
            e.message
        );
        let mut n = 0;
        let v = run(&p, &Deadline::none(), || {
            n += 1;
            if n < 2 {
                Err(Failure::again("HTTP 503", None))
            } else {
                Ok(n)
            }
        });
        assert_eq!(v.unwrap(), 2);
        let e = run(&p, &Deadline::none(), || -> Result<(), Failure> {
            Err(Error::failed("HTTP 404").into())
        })
        .unwrap_err();
        assert_eq!(e.code(), ExitCode::Failed);
    }

    #[test]
    fn sleeping_past_the_deadline_is_temporary() {
        let dl = Deadline::after(Some(Duration::from_millis(10)));
        let e = sleep(Duration::from_secs(5), &dl, "HTTP 503").unwrap_err();
        assert_eq!(e.code(), ExitCode::Temporary);
    }
}
