//! The account rate limit, as an opt-in fault (`--rate-limit 1200/300`): Cloudflare allows 1200
//! API requests per 5 minutes per user, then blocks every API call for the rest of the window
//! with HTTP 429 and error code 971 (Cloudflare's API docs; the code is what D1 clients see).
//! Both numbers are options so that tests can reach the limit in a second. A fixed window: it
//! starts with the first request after the previous one ended. Refused requests do not count.
//! Only API calls count (`/client/v4/...`), not the object store's downloads and uploads.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub window: Duration,
}

/// Parses `REQUESTS/SECONDS` (`1200/300`).
pub fn parse(s: &str) -> Result<Limit, String> {
    let bad = || format!("--rate-limit needs REQUESTS/SECONDS (like 1200/300), got {s:?}");
    let (n, secs) = s.split_once('/').ok_or_else(bad)?;
    let requests: u32 = n.trim().parse().map_err(|_| bad())?;
    let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
    if requests == 0 || secs == 0 {
        return Err(bad());
    }
    Ok(Limit {
        requests,
        window: Duration::from_secs(secs),
    })
}

#[derive(Debug)]
pub struct Window {
    pub limit: Limit,
    start: Option<Instant>,
    pub used: u32,
    pub refused: u64,
}

impl Window {
    pub fn new(limit: Limit) -> Window {
        Window {
            limit,
            start: None,
            used: 0,
            refused: 0,
        }
    }

    /// Counts a request made at `now`; `Err(seconds)` when it is refused, with the seconds left
    /// in the window (Retry-After, rounded up).
    pub fn admit(&mut self, now: Instant) -> Result<(), u64> {
        let start = match self.start {
            Some(s) if now.duration_since(s) < self.limit.window => s,
            _ => {
                self.start = Some(now);
                self.used = 0;
                now
            }
        };
        if self.used < self.limit.requests {
            self.used += 1;
            return Ok(());
        }
        self.refused += 1;
        let left = self.limit.window.saturating_sub(now.duration_since(start));
        Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_as_requests_per_seconds() {
        assert_eq!(
            parse("1200/300").unwrap(),
            Limit {
                requests: 1200,
                window: Duration::from_secs(300)
            }
        );
        for bad in ["1200", "0/300", "5/0", "x/3", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_limit_blocks_for_the_rest_of_the_window_then_resets() {
        let mut w = Window::new(parse("2/10").unwrap());
        let t0 = Instant::now();
        assert_eq!(w.admit(t0), Ok(()));
        assert_eq!(w.admit(t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(w.admit(t0 + Duration::from_secs(3)), Err(7));
        assert_eq!(w.admit(t0 + Duration::from_millis(9500)), Err(1));
        assert_eq!(w.refused, 2);
        assert_eq!(w.admit(t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(w.used, 1);
    }
}
