//! UTC timestamps for file names and manifests, without a date crate: the civil-from-days
//! conversion is a few lines (Howard Hinnant's algorithm, public domain).

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    pub fn now() -> Utc {
        Utc::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Utc {
        // A clock before 1970 is a broken clock; the epoch is as good a name as any then.
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Utc {
            millis: d.subsec_millis(),
            ..Utc::from_unix(d.as_secs() as i64)
        }
    }

    pub fn from_unix(secs: i64) -> Utc {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            millis: 0,
        }
    }

    /// `20250131T235959Z`: sorts as text, and has no `:` (awkward in file names).
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 3339: `2025-01-31T23:59:59Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// RFC 3339 with milliseconds, as Cloudflare's API writes `created_at`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Utc;
    use std::time::UNIX_EPOCH;

    #[test]
    fn known_instants_format_in_both_forms() {
        assert_eq!(Utc::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
        // 2024-02-29 (a leap day) 12:34:56 UTC.
        let t = Utc::from_unix(1_709_210_096);
        assert_eq!(t.rfc3339(), "2024-02-29T12:34:56Z");
        assert_eq!(t.compact(), "20240229T123456Z");
        assert_eq!(
            Utc::from_unix(1_735_689_599).rfc3339(),
            "2024-12-31T23:59:59Z"
        );
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_714_566_896_789);
        assert_eq!(
            Utc::from_system(t).rfc3339_millis(),
            "2024-05-01T12:34:56.789Z"
        );
    }
}
