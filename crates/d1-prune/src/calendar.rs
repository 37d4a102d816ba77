//! UTC calendar arithmetic for the policy: instants are seconds since the Unix epoch, and every
//! period (hour, day, ISO week, month, year) is computed in UTC, so there is no DST: a day is
//! always 86 400 s and a dump taken at 03:17 belongs to the same day wherever the host is.

use d1_core::time::Utc;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`,
/// public domain; the inverse of [`Utc::from_unix`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Seconds since the epoch of an RFC 3339 timestamp (`2026-11-09T03:17:00Z`, fractions and
/// `±hh:mm` offsets accepted and converted to UTC). `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
    let day = u32::try_from(day).ok()?;
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
    };
    // A leap second (:60) counts as the next second's start: the same day in every period.
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs - offset)
}

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
    fn days_from_civil_inverts_from_unix() {
        for t in [
            0i64,
            951_782_400,
            1_709_210_096,
            1_735_689_599,
            -86_400,
            4_102_444_800,
        ] {
            let u = Utc::from_unix(t);
            let back = days_from_civil(u.year, u.month, u.day) * 86_400 + t.rem_euclid(86_400);
            assert_eq!(back, t);
        }
    }

    #[test]
    fn rfc3339_accepts_fractions_and_offsets_and_refuses_nonsense() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2024-02-29T12:34:56Z"), 1_709_210_096);
        assert_eq!(at("2024-02-29T12:34:56.789Z"), 1_709_210_096);
        assert_eq!(at("2024-02-29T14:34:56+02:00"), 1_709_210_096);
        assert_eq!(at("2024-02-29T07:04:56-05:30"), 1_709_210_096);
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "yesterday at noon, UTC",
            "2024-01-01T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
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
