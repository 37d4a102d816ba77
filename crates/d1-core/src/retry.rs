//! Retries with exponential backoff and jitter, honouring `Retry-After`, under one deadline for
//! the whole operation (design.md, "Rules every tool keeps").

use crate::error::{Error, Result};
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

impl Policy {
    /// The wait before retry number `attempt` (1-based): the server's `Retry-After` when it
    /// gave one, else `base * 2^(attempt-1)` with jitter in [50%, 100%] so that many clients
    /// hit by the same outage do not come back in step.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(jitter())
    }
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
/// this API and are treated as absent.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if !(0.0..=86_400.0).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Parses `--timeout` values: `90`, `90s`, `500ms`, `5m`, `1h`.
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
        _ => {
            return Err(Error::usage(format!(
                "invalid duration unit in {v:?} (use ms, s, m or h)"
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
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn sleeping_past_the_deadline_is_temporary() {
        let dl = Deadline::after(Some(Duration::from_millis(10)));
        let e = sleep(Duration::from_secs(5), &dl, "HTTP 503").unwrap_err();
        assert_eq!(e.code, crate::ExitCode::Temporary);
    }
}
