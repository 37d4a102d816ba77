//! The verification-aware plan for one database, still pure (no files): the policy of
//! [`crate::policy`] runs over the good backups only, and two guarantees are laid over it.
//! - The newest good backup is never removed, whatever the flags.
//! - A backup that is not good (failed, never verified, verified for other bytes) is removed
//!   only when a newer good one exists; until then it may be the only copy there is.

use crate::policy::{self, Policy, Reason};

/// One backup of one database, wherever it is stored.
#[derive(Debug, Clone)]
pub struct Backup<K> {
    pub id: K,
    /// Seconds since the epoch, UTC: when the export was taken.
    pub time: i64,
    /// A passing d1-verify verdict for these bytes (contract: a "good backup").
    pub good: bool,
}

/// Why a backup is kept or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Kept by the policy's rules.
    Policy(Vec<Reason>),
    /// Kept: the newest good backup, which nothing removes.
    NewestGood,
    /// Kept: not good, and no newer good backup exists.
    NoNewerGood,
    /// Kept: not good, and `--keep-unverified` was given.
    KeepUnverified,
    /// Removed: good, but no rule keeps it.
    NotKept,
    /// Removed: not good, and a newer good backup exists.
    NewerGood,
}

impl Why {
    pub fn keeps(&self) -> bool {
        matches!(
            self,
            Why::Policy(_) | Why::NewestGood | Why::NoNewerGood | Why::KeepUnverified
        )
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Policy(r) => {
                let parts: Vec<String> = r.iter().map(|r| r.to_string()).collect();
                f.write_str(&parts.join(", "))
            }
            Why::NewestGood => f.write_str("newest verified backup"),
            Why::NoNewerGood => f.write_str("no newer verified backup"),
            Why::KeepUnverified => f.write_str("--keep-unverified"),
            Why::NotKept => f.write_str("no rule keeps it"),
            Why::NewerGood => f.write_str("a newer verified backup exists"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Decision<K> {
    pub id: K,
    pub time: i64,
    pub good: bool,
    pub why: Why,
}

impl<K> Decision<K> {
    pub fn keep(&self) -> bool {
        self.why.keeps()
    }
}

/// Decides every backup of one database; returns them newest first.
pub fn decide<K>(
    policy: &Policy,
    backups: Vec<Backup<K>>,
    keep_unverified: bool,
    now: i64,
) -> Vec<Decision<K>> {
    // The newest good backup, chosen as d1-ls chooses it (d1_archive::select).
    let newest = d1_archive::select::newest_good(&backups, None, |b| b.time, |b| b.good);
    let newest_good = newest.map(|i| backups[i].time);
    let mut good = Vec::new();
    let mut other = Vec::new();
    for (i, b) in backups.into_iter().enumerate() {
        if b.good {
            good.push(((i, b.id), b.time));
        } else {
            other.push((b.id, b.time));
        }
    }
    let verdicts = policy::apply(policy, good, now);
    let mut out: Vec<Decision<K>> = verdicts
        .into_iter()
        .map(|v| {
            let kept = v.kept();
            let (i, id) = v.id;
            let why = if kept {
                Why::Policy(v.reasons)
            } else if Some(i) == newest {
                Why::NewestGood
            } else {
                Why::NotKept
            };
            Decision {
                id,
                time: v.time,
                good: true,
                why,
            }
        })
        .collect();
    for (id, time) in other {
        let why = if keep_unverified {
            Why::KeepUnverified
        } else if newest_good.is_some_and(|g| g > time) {
            Why::NewerGood
        } else {
            Why::NoNewerGood
        };
        out.push(Decision {
            id,
            time,
            good: false,
            why,
        });
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.time));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{format, parse_rfc3339};

    /// `n` nights at 03:17 UTC ending on 2026-11-09 (newest first), `failed[i]` marking the
    /// night `i` days before the newest as not good.
    fn nights(n: i64, failed: &[i64]) -> Vec<Backup<i64>> {
        let start = parse_rfc3339("2026-11-09T03:17:00Z").unwrap();
        (0..n)
            .map(|i| Backup {
                id: i,
                time: start - i * 86_400,
                good: !failed.contains(&i),
            })
            .collect()
    }

    fn kept_ids(d: &[Decision<i64>]) -> Vec<i64> {
        d.iter().filter(|d| d.keep()).map(|d| d.id).collect()
    }

    fn daily(n: u32) -> Policy {
        Policy {
            daily: Some(n),
            ..Policy::default()
        }
    }

    const NOW: i64 = 1_794_268_800; // 2026-11-10T00:00:00Z

    #[test]
    fn failed_nights_do_not_fill_keep_slots() {
        // Nights 1 and 3 failed: the 3 daily slots go to nights 0, 2, 4. The failed ones are
        // removed: a newer good backup exists for each.
        let d = decide(&daily(3), nights(10, &[1, 3]), false, NOW);
        assert_eq!(kept_ids(&d), [0, 2, 4]);
        let night1 = d.iter().find(|d| d.id == 1).unwrap();
        assert_eq!(night1.why, Why::NewerGood);
        assert_eq!(format(night1.time), "2026-11-08T03:17:00Z");
    }

    #[test]
    fn the_newest_good_backup_survives_ten_failed_nights_and_a_policy_of_one() {
        // The last 10 nights failed: they are kept (no newer good backup exists); night 10,
        // the newest good one, takes the one daily slot; every older night goes.
        let d = decide(
            &daily(1),
            nights(40, &(0..10).collect::<Vec<_>>()),
            false,
            NOW,
        );
        assert_eq!(kept_ids(&d), (0..=10).collect::<Vec<_>>());
        assert!(d
            .iter()
            .filter(|d| d.id > 10)
            .all(|d| d.why == Why::NotKept));
    }

    #[test]
    fn the_newest_good_backup_is_kept_when_no_rule_would_keep_it() {
        // Every rule keeps the newest good backup (it opens every period; --keep-within counts
        // from it), so check the guarantee with a policy that keeps nothing by construction.
        let none = Policy::default();
        let d = decide(&none, nights(5, &[0]), false, NOW);
        assert_eq!(kept_ids(&d), [0, 1]);
        assert_eq!(d[1].why, Why::NewestGood);
    }

    #[test]
    fn without_any_good_backup_nothing_is_removed() {
        let d = decide(&daily(1), nights(5, &[0, 1, 2, 3, 4]), false, NOW);
        assert_eq!(kept_ids(&d), [0, 1, 2, 3, 4]);
        assert!(d.iter().all(|d| d.why == Why::NoNewerGood));
    }

    #[test]
    fn keep_unverified_keeps_every_backup_that_is_not_good() {
        let d = decide(&daily(2), nights(6, &[1, 5]), true, NOW);
        assert_eq!(kept_ids(&d), [0, 1, 2, 5]);
        assert_eq!(d[5].why, Why::KeepUnverified);
    }

    #[test]
    fn an_unverified_backup_as_old_as_the_newest_good_one_is_kept() {
        let t = parse_rfc3339("2026-11-09T03:17:00Z").unwrap();
        let backups = vec![
            Backup {
                id: 0,
                time: t,
                good: true,
            },
            Backup {
                id: 1,
                time: t,
                good: false,
            },
        ];
        let d = decide(&daily(1), backups, false, NOW);
        assert_eq!(kept_ids(&d), [0, 1]);
    }
}
