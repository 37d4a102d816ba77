//! The retention policy, in restic's vocabulary (`restic forget --keep-*`), as a pure function
//! over `(id, time)` entries: it knows nothing of files, folders or buckets, so a local folder
//! and a bucket prefix are pruned by the same rules. Every period is a UTC period.
//!
//! The semantics (docs/d1-prune.md, "Policy"), the same as restic's:
//! - entries are taken newest first (equal times: in the order given);
//! - `--keep-last N` keeps the N newest;
//! - `--keep-hourly/daily/weekly/monthly/yearly N` each keep the newest entry of each of the
//!   N newest periods that hold an entry (periods without one do not count); when fewer than N
//!   periods hold entries, the oldest entry of all is kept too (the longest history the count
//!   allows);
//! - `--keep-within DURATION` keeps every entry taken less than DURATION before the newest entry
//!   (not counting entries dated after `now`, a clock that ran ahead);
//! - an entry is kept when any rule keeps it.

use crate::calendar;
use d1_core::{Error, Result};
use std::fmt;

/// How far back `--keep-within` reaches: calendar years and months, then days and hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Within {
    pub months: i64,
    pub days: i64,
    pub hours: i64,
}

impl Within {
    /// `7d`, `2w`, `1m`, `1y`, `36h`, or several: `1y6m`, `2d12h`. Units: `y` years, `m` months,
    /// `w` weeks, `d` days, `h` hours. A zero duration is refused: it would keep nothing.
    pub fn parse(text: &str) -> Result<Within> {
        let bad = || {
            Error::usage(format!(
                "--keep-within: {text:?} is not a duration like 7d, 2w, 1m, 1y, 36h or 1y6m"
            ))
        };
        let mut w = Within::default();
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad())?;
            if n > 100_000 {
                return Err(bad());
            }
            digits.clear();
            match c {
                'y' => w.months += 12 * n,
                'm' => w.months += n,
                'w' => w.days += 7 * n,
                'd' => w.days += n,
                'h' => w.hours += n,
                _ => return Err(bad()),
            }
        }
        if !digits.is_empty() || w == Within::default() {
            return Err(bad());
        }
        Ok(w)
    }

    /// The earliest instant strictly after which an entry is "within" of `latest`.
    pub fn cutoff(&self, latest: i64) -> i64 {
        calendar::minus_months(latest, self.months) - self.days * 86_400 - self.hours * 3600
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m) = (self.months / 12, self.months % 12);
        for (n, unit) in [(y, 'y'), (m, 'm'), (self.days, 'd'), (self.hours, 'h')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// What to keep. `None` is "rule not given"; a given count is at least 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub within: Option<Within>,
}

impl Policy {
    /// No rule at all: the caller refuses to run (an empty policy never means "delete all").
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// Which rule kept an entry, and for which period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Last,
    Hourly(String),
    Daily(String),
    Weekly(String),
    Monthly(String),
    Yearly(String),
    /// The oldest entry, kept because this rule's count was not used up.
    Oldest(&'static str),
    Within(Within),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last => f.write_str("last"),
            Reason::Hourly(p) => write!(f, "hourly {p}"),
            Reason::Daily(p) => write!(f, "daily {p}"),
            Reason::Weekly(p) => write!(f, "weekly {p}"),
            Reason::Monthly(p) => write!(f, "monthly {p}"),
            Reason::Yearly(p) => write!(f, "yearly {p}"),
            Reason::Oldest(rule) => write!(f, "oldest ({rule} count not used up)"),
            Reason::Within(w) => write!(f, "within {w}"),
        }
    }
}

/// One entry's outcome: kept when `reasons` is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<K> {
    pub id: K,
    pub time: i64,
    pub reasons: Vec<Reason>,
}

impl<K> Verdict<K> {
    pub fn kept(&self) -> bool {
        !self.reasons.is_empty()
    }
}

type Period = fn(i64) -> (i64, String);

fn hour(t: i64) -> (i64, String) {
    let u = d1_core::time::Utc::from_unix(t);
    let label = format!("{:04}-{:02}-{:02}T{:02}", u.year, u.month, u.day, u.hour);
    (t.div_euclid(3600), label)
}

fn day(t: i64) -> (i64, String) {
    let u = d1_core::time::Utc::from_unix(t);
    let label = format!("{:04}-{:02}-{:02}", u.year, u.month, u.day);
    (t.div_euclid(86_400), label)
}

fn week(t: i64) -> (i64, String) {
    let (y, w) = calendar::iso_week(t);
    (y * 100 + i64::from(w), format!("{y:04}-W{w:02}"))
}

fn month(t: i64) -> (i64, String) {
    let u = d1_core::time::Utc::from_unix(t);
    (
        u.year * 12 + i64::from(u.month),
        format!("{:04}-{:02}", u.year, u.month),
    )
}

fn year(t: i64) -> (i64, String) {
    let y = d1_core::time::Utc::from_unix(t).year;
    (y, format!("{y:04}"))
}

/// Applies `policy` to `entries`; returns every entry, newest first, with the reasons it is
/// kept (none: not kept). `now` only bounds which entry counts as the newest for
/// `--keep-within`. Pure: the same input gives the same answer.
pub fn apply<K>(policy: &Policy, entries: Vec<(K, i64)>, now: i64) -> Vec<Verdict<K>> {
    let mut list: Vec<Verdict<K>> = entries
        .into_iter()
        .map(|(id, time)| Verdict {
            id,
            time,
            reasons: Vec::new(),
        })
        .collect();
    // Stable: equal times keep the caller's order.
    list.sort_by_key(|v| std::cmp::Reverse(v.time));
    let n = list.len();

    /// One counting rule: how many periods it may still keep, and the last period it kept.
    struct Bucket {
        count: u32,
        name: &'static str,
        period: Option<Period>,
        make: fn(String) -> Reason,
        last: Option<i64>,
    }
    let rule = |count: Option<u32>, name, period, make| {
        count.filter(|c| *c > 0).map(|count| Bucket {
            count,
            name,
            period,
            make,
            last: None,
        })
    };
    let mut buckets: Vec<Bucket> = [
        rule(policy.last, "last", None, |_| Reason::Last),
        rule(
            policy.hourly,
            "hourly",
            Some(hour as Period),
            Reason::Hourly,
        ),
        rule(policy.daily, "daily", Some(day), Reason::Daily),
        rule(policy.weekly, "weekly", Some(week), Reason::Weekly),
        rule(policy.monthly, "monthly", Some(month), Reason::Monthly),
        rule(policy.yearly, "yearly", Some(year), Reason::Yearly),
    ]
    .into_iter()
    .flatten()
    .collect();

    // The newest entry not dated in the future: the reference for --keep-within.
    let latest = list.iter().map(|v| v.time).filter(|t| *t <= now).max();
    let cutoff = match (policy.within, latest) {
        (Some(w), Some(l)) => Some((w, w.cutoff(l))),
        // Every entry is in the future: all are within.
        (Some(w), None) => Some((w, i64::MIN)),
        _ => None,
    };

    for (i, v) in list.iter_mut().enumerate() {
        if let Some((w, cut)) = cutoff {
            if v.time > cut {
                v.reasons.push(Reason::Within(w));
            }
        }
        for b in buckets.iter_mut().filter(|b| b.count > 0) {
            // --keep-last: every entry is a period of its own.
            let (key, label) = match b.period {
                Some(p) => p(v.time),
                None => (i as i64, String::new()),
            };
            if b.last != Some(key) {
                b.last = Some(key);
                b.count -= 1;
                v.reasons.push((b.make)(label));
            } else if i == n - 1 {
                b.count -= 1;
                v.reasons.push(Reason::Oldest(b.name));
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_rfc3339;

    fn t(s: &str) -> i64 {
        parse_rfc3339(s).unwrap_or_else(|| panic!("{s}"))
    }

    /// Runs the policy on timestamps and returns the kept ones, newest first.
    fn kept(policy: &Policy, times: &[&str], now: &str) -> Vec<String> {
        let entries = times.iter().map(|s| (s.to_string(), t(s))).collect();
        apply(policy, entries, t(now))
            .into_iter()
            .filter(|v| v.kept())
            .map(|v| v.id)
            .collect()
    }

    /// `n` nights at 03:17 UTC, the newest on `newest` (YYYY-MM-DD), newest first.
    fn nights(newest: &str, n: i64) -> Vec<String> {
        let start = t(&format!("{newest}T03:17:00Z"));
        (0..n)
            .map(|i| calendar::format(start - i * 86_400))
            .collect()
    }

    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    #[test]
    fn no_rule_is_an_empty_policy_and_keeps_nothing() {
        let p = Policy::default();
        assert!(p.is_empty());
        assert!(kept(&p, &["2026-11-09T03:17:00Z"], "2026-11-10T00:00:00Z").is_empty());
    }

    #[test]
    fn keep_last_keeps_the_newest_n_whatever_their_dates() {
        let p = Policy {
            last: Some(3),
            ..Policy::default()
        };
        let times = [
            "2026-11-09T03:17:00Z",
            "2026-11-09T03:16:00Z",
            "2026-11-09T03:18:00Z",
            "2026-01-01T00:00:00Z",
        ];
        assert_eq!(
            kept(&p, &times, "2026-11-10T00:00:00Z"),
            [
                "2026-11-09T03:18:00Z",
                "2026-11-09T03:17:00Z",
                "2026-11-09T03:16:00Z"
            ]
        );
    }

    #[test]
    fn several_dumps_in_one_day_keep_only_the_newest_of_that_day() {
        let p = Policy {
            daily: Some(2),
            ..Policy::default()
        };
        let times = [
            "2026-11-09T01:00:00Z",
            "2026-11-09T23:59:59Z",
            "2026-11-09T12:00:00Z",
            "2026-11-08T00:00:00Z",
            "2026-11-08T18:00:00Z",
            "2026-11-07T18:00:00Z",
            "2026-11-06T18:00:00Z",
        ];
        assert_eq!(
            kept(&p, &times, "2026-11-10T00:00:00Z"),
            ["2026-11-09T23:59:59Z", "2026-11-08T18:00:00Z"]
        );
    }

    #[test]
    fn days_are_utc_days_with_no_dst_shift() {
        // 2026-03-29 is the night Europe moves its clocks; in UTC nothing happens. 23:30 and
        // 00:30 UTC are different days, 00:30 and 23:30 of one date the same day.
        let p = Policy {
            daily: Some(3),
            ..Policy::default()
        };
        let times = [
            "2026-03-30T00:30:00Z",
            "2026-03-29T23:30:00Z",
            "2026-03-29T00:30:00Z",
            "2026-03-28T23:30:00Z",
            "2026-03-28T01:00:00Z",
        ];
        assert_eq!(
            kept(&p, &times, "2026-03-31T00:00:00Z"),
            [
                "2026-03-30T00:30:00Z",
                "2026-03-29T23:30:00Z",
                "2026-03-28T23:30:00Z"
            ]
        );
        // An offset is converted to UTC before the day is taken.
        assert_eq!(
            day(t("2026-03-30T01:30:00+02:00")).1,
            "2026-03-29",
            "01:30 at +02:00 is 23:30 UTC the day before"
        );
    }

    #[test]
    fn weekly_uses_iso_weeks_across_a_year_boundary() {
        // 2026-12-28 (Mon) .. 2027-01-03 (Sun) is one ISO week, 2026-W53.
        let p = Policy {
            weekly: Some(3),
            ..Policy::default()
        };
        let all = nights("2027-01-05", 20);
        let got = kept(&p, &strs(&all), "2027-01-06T00:00:00Z");
        assert_eq!(
            got,
            [
                "2027-01-05T03:17:00Z", // 2027-W01 (Tuesday)
                "2027-01-03T03:17:00Z", // 2026-W53: Sunday, newest of a week spanning the years
                "2026-12-27T03:17:00Z", // 2026-W52
            ]
        );
        let v = apply(&p, vec![((), t("2027-01-03T03:17:00Z"))], 0);
        assert_eq!(v[0].reasons, [Reason::Weekly("2026-W53".into())]);
    }

    #[test]
    fn monthly_keeps_the_last_night_of_months_of_every_length() {
        let p = Policy {
            monthly: Some(4),
            ..Policy::default()
        };
        // Every night from 2024-01-15 to 2024-05-02: months of 31, 29 (leap), 31, 30 days.
        let all = nights("2024-05-02", 109);
        assert_eq!(all.last().map(String::as_str), Some("2024-01-15T03:17:00Z"));
        let got = kept(&p, &strs(&all), "2024-05-03T00:00:00Z");
        assert_eq!(
            got,
            [
                "2024-05-02T03:17:00Z",
                "2024-04-30T03:17:00Z",
                "2024-03-31T03:17:00Z",
                "2024-02-29T03:17:00Z",
            ]
        );
    }

    #[test]
    fn yearly_and_hourly_periods() {
        let p = Policy {
            yearly: Some(2),
            hourly: Some(2),
            ..Policy::default()
        };
        let times = [
            "2026-06-01T10:59:59Z",
            "2026-06-01T10:00:00Z",
            "2026-06-01T09:30:00Z",
            "2026-06-01T08:30:00Z",
            "2025-12-31T23:59:59Z",
            "2025-06-01T00:00:00Z",
            "2024-12-31T00:00:00Z",
        ];
        assert_eq!(
            kept(&p, &times, "2026-06-02T00:00:00Z"),
            [
                "2026-06-01T10:59:59Z", // hourly 10h and yearly 2026
                "2026-06-01T09:30:00Z", // hourly 09h
                "2025-12-31T23:59:59Z", // yearly 2025
            ]
        );
    }

    #[test]
    fn a_count_not_used_up_also_keeps_the_oldest_entry() {
        // Ten days asked for, three days of dumps: every day's newest, and the very oldest too.
        let p = Policy {
            daily: Some(10),
            ..Policy::default()
        };
        let times = [
            "2026-11-09T03:00:00Z",
            "2026-11-08T03:00:00Z",
            "2026-11-07T03:00:00Z",
            "2026-11-07T01:00:00Z",
            "2026-11-07T00:00:00Z",
        ];
        let got = kept(&p, &times, "2026-11-10T00:00:00Z");
        assert_eq!(
            got,
            [
                "2026-11-09T03:00:00Z",
                "2026-11-08T03:00:00Z",
                "2026-11-07T03:00:00Z",
                "2026-11-07T00:00:00Z"
            ]
        );
    }

    #[test]
    fn keep_within_counts_back_from_the_newest_entry_not_from_now() {
        let p = Policy {
            within: Some(Within::parse("3d").unwrap()),
            ..Policy::default()
        };
        let all = nights("2026-11-09", 10);
        // A month after the last dump, the last three days' dumps are still kept: the newest
        // one is the reference, so a backup job that stopped does not empty the folder.
        let got = kept(&p, &strs(&all), "2026-12-09T00:00:00Z");
        // Strictly less than 3 days older than the newest: the one exactly 3 days older goes.
        assert_eq!(
            got,
            [
                "2026-11-09T03:17:00Z",
                "2026-11-08T03:17:00Z",
                "2026-11-07T03:17:00Z"
            ]
        );
        // An entry dated in the future (a clock ahead) is kept but is not the reference.
        let mut with_future = strs(&all);
        with_future.push("2027-01-01T00:00:00Z");
        let got = kept(&p, &with_future, "2026-11-10T00:00:00Z");
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], "2027-01-01T00:00:00Z");
    }

    #[test]
    fn keep_within_a_month_is_a_calendar_month() {
        let p = Policy {
            within: Some(Within::parse("1m").unwrap()),
            ..Policy::default()
        };
        // From 2026-03-31 one month back is 2026-02-28 (clamped): the 31 nights of March are
        // kept, 2026-02-28 itself (exactly one month older) is not.
        let all = nights("2026-03-31", 40);
        let got = kept(&p, &strs(&all), "2026-04-01T00:00:00Z");
        assert_eq!(got.len(), 31);
        assert_eq!(got.last().map(String::as_str), Some("2026-03-01T03:17:00Z"));
    }

    #[test]
    fn rules_are_a_union() {
        // 40 nights ending on Monday 2026-11-09: 7 days, plus the Sundays of the two older
        // weeks among the last four (the other two weeks' newest are among the 7 days).
        let p = Policy {
            daily: Some(7),
            weekly: Some(4),
            ..Policy::default()
        };
        let all = nights("2026-11-09", 40);
        let got = kept(&p, &strs(&all), "2026-11-10T00:00:00Z");
        let mut want: Vec<String> = nights("2026-11-09", 7);
        want.push("2026-11-01T03:17:00Z".into());
        want.push("2026-10-25T03:17:00Z".into());
        assert_eq!(got, want);
    }

    #[test]
    fn durations_parse_like_restic() {
        let w = |s| Within::parse(s).unwrap();
        assert_eq!(
            w("7d"),
            Within {
                days: 7,
                ..Within::default()
            }
        );
        assert_eq!(
            w("2w"),
            Within {
                days: 14,
                ..Within::default()
            }
        );
        assert_eq!(
            w("1m"),
            Within {
                months: 1,
                ..Within::default()
            }
        );
        assert_eq!(
            w("1y"),
            Within {
                months: 12,
                ..Within::default()
            }
        );
        assert_eq!(
            w("36h"),
            Within {
                hours: 36,
                ..Within::default()
            }
        );
        assert_eq!(
            w("1y6m2d12h"),
            Within {
                months: 18,
                days: 2,
                hours: 12
            }
        );
        assert_eq!(w("1y6m2d12h").to_string(), "1y6m2d12h");
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "0d",
            "-1d",
            "1.5d",
            "7 d",
            "99999999999d",
        ] {
            assert!(Within::parse(bad).is_err(), "{bad}");
        }
    }
}
