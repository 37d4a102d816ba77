//! UTC calendar arithmetic for the policy: instants are seconds since the Unix epoch, and every
//! period (hour, day, ISO week, month, year) is computed in UTC, so there is no DST: a day is
//! always 86 400 s and a dump taken at 03:17 belongs to the same day wherever the host is.

use d1_core::time::Utc;

// The calendar arithmetic the emulator's Time Travel shares lives in d1-core.
pub use d1_core::time::{days_from_civil, days_in_month, is_leap, parse_rfc3339};

/// `2026-11-09T03:17:00Z`.
pub fn format(t: i64) -> String {
    Utc::from_unix(t).rfc3339()
}

/// The ISO 8601 week of an instant: `(ISO year, week 1..=53)`. Weeks start on Monday and week 1
/// is the one holding the year's first Thursday, so 2026-12-31 (a Thursday) is in 2026-W53 and
/// 2027-01-01..03 too, while 2024-12-30 (a Monday) is already 2025-W01.
pub fn iso_week(t: i64) -> (i64, u32) {
    let days = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday: with Monday = 0 it is weekday 3.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let year = Utc::from_unix(thursday * 86_400).year;
    let ordinal = thursday - days_from_civil(year, 1, 1);
    (year, (ordinal / 7 + 1) as u32)
}

/// `t` moved back by whole calendar years and months, the day of the month clamped to the
/// target month's length (2026-03-31 minus one month is 2026-02-28), the time of day kept.
pub fn minus_months(t: i64, months: i64) -> i64 {
    let u = Utc::from_unix(t);
    let index = u.year * 12 + i64::from(u.month) - 1 - months;
    let (year, month) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    let day = u.day.min(days_in_month(year, month));
    days_from_civil(year, month, day) * 86_400 + t.rem_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn iso_weeks_across_year_boundaries() {
        assert_eq!(iso_week(at("2024-12-29T23:59:59Z")), (2024, 52)); // Sunday
        assert_eq!(iso_week(at("2024-12-30T00:00:00Z")), (2025, 1)); // Monday
        assert_eq!(iso_week(at("2025-01-05T12:00:00Z")), (2025, 1));
        assert_eq!(iso_week(at("2025-01-06T00:00:00Z")), (2025, 2));
        assert_eq!(iso_week(at("2026-12-31T03:17:00Z")), (2026, 53)); // Thursday
        assert_eq!(iso_week(at("2027-01-03T03:17:00Z")), (2026, 53)); // Sunday
        assert_eq!(iso_week(at("2027-01-04T03:17:00Z")), (2027, 1));
        assert_eq!(iso_week(at("2021-01-03T00:00:00Z")), (2020, 53));
        assert_eq!(iso_week(at("2026-11-09T03:17:00Z")), (2026, 46));
    }

    #[test]
    fn months_back_clamp_to_shorter_months() {
        assert_eq!(
            minus_months(at("2026-03-31T03:17:00Z"), 1),
            at("2026-02-28T03:17:00Z")
        );
        assert_eq!(
            minus_months(at("2024-03-31T03:17:00Z"), 1),
            at("2024-02-29T03:17:00Z")
        );
        assert_eq!(
            minus_months(at("2026-01-15T00:00:00Z"), 1),
            at("2025-12-15T00:00:00Z")
        );
        assert_eq!(
            minus_months(at("2024-02-29T12:00:00Z"), 12),
            at("2023-02-28T12:00:00Z")
        );
    }
}
