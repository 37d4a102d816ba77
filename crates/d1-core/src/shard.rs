//! Shards (issue 35): `--shard I/N` splits an account's databases between N jobs that a
//! scheduler runs (a Kubernetes Indexed Job, an Actions matrix), by a stable function of each
//! database's id alone. So every database is in exactly one shard, and a database added or
//! removed moves no other: its id decides, and nothing else does. The function is the first 8
//! bytes of SHA-256 of the id (lower case), as a number, modulo N: even in expectation, and
//! measured in docs/schedulers.md.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::fmt;

/// Most shards a job may be split into.
pub const MAX_COUNT: u32 = 10_000;

/// Shard `index` of `count`, `index` from 0 (Kubernetes' `JOB_COMPLETION_INDEX` counts from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Reads `I/N` (`3/8`): N from 1 to [`MAX_COUNT`], I from 0 to N-1.
    pub fn parse(v: &str) -> Result<Shard> {
        let bad = |why: &str| Error::usage(format!("--shard: {v:?} {why}"));
        let (i, n) = v
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("is not I/N (like 3/8: shard 3 of 8, counted from 0)"))?;
        let (Ok(index), Ok(count)) = (i.parse::<u32>(), n.parse::<u32>()) else {
            return Err(bad("is not I/N (like 3/8: shard 3 of 8, counted from 0)"));
        };
        if count == 0 || count > MAX_COUNT {
            return Err(bad(&format!("has N out of range (1 to {MAX_COUNT})")));
        }
        if index >= count {
            return Err(bad(&format!(
                "has I out of range: shards are counted from 0, so I is 0 to {}",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// Whether the database `id` belongs to this shard.
    pub fn takes(&self, id: &str) -> bool {
        of(id, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (0 to `count`-1) of the database `id`.
pub fn of(id: &str, count: u32) -> u32 {
    let d = Sha256::digest(id.trim().to_ascii_lowercase().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(b) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize, salt: &str) -> Vec<String> {
        (0..n)
            .map(|i| {
                let h = hex::encode(Sha256::digest(format!("{salt}{i}").as_bytes()));
                format!(
                    "{}-{}-4{}-8{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[13..16],
                    &h[17..20],
                    &h[20..32]
                )
            })
            .collect()
    }

    #[test]
    fn shards_are_read_as_index_of_count_from_zero() {
        assert_eq!(Shard::parse("3/8").unwrap(), Shard { index: 3, count: 8 });
        assert_eq!(Shard::parse("0/1").unwrap().to_string(), "0/1");
        for bad in ["8/8", "1/0", "x/8", "3", "-1/8", "3/8/1", "", "0/10001"] {
            let e = Shard::parse(bad).unwrap_err();
            assert_eq!(e.code(), crate::ExitCode::Usage, "{bad:?}");
        }
        assert!(Shard::parse("8/8")
            .unwrap_err()
            .message
            .contains("I is 0 to 7"));
    }

    #[test]
    fn every_database_is_in_exactly_one_shard_and_ids_are_read_case_blind() {
        for id in ids(200, "a") {
            let takers: Vec<u32> = (0..8)
                .filter(|i| {
                    Shard {
                        index: *i,
                        count: 8,
                    }
                    .takes(&id)
                })
                .collect();
            assert_eq!(takers.len(), 1, "{id}");
            assert_eq!(of(&id, 8), of(&id.to_uppercase(), 8));
        }
    }

    #[test]
    fn adding_or_removing_databases_moves_no_other() {
        let before: std::collections::HashMap<String, u32> = ids(1000, "a")
            .into_iter()
            .map(|id| (id.clone(), of(&id, 8)))
            .collect();
        let mut after = ids(1000, "a")[5..].to_vec();
        after.extend(ids(10, "new"));
        let moved = after
            .iter()
            .filter(|id| before.get(*id).is_some_and(|s| *s != of(id, 8)))
            .count();
        assert_eq!(moved, 0);
    }

    #[test]
    fn the_split_is_even_within_a_few_standard_deviations() {
        // 1000 ids in 8 shards: 125 each in expectation, standard deviation about 10.5; the
        // fullest of 8 shards is usually 1.5 to 3 deviations above, so 4 bound it.
        let mut counts = [0usize; 8];
        for id in ids(1000, "even") {
            counts[of(&id, 8) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), 1000);
        for c in counts {
            assert!((83..=167).contains(&c), "{counts:?}");
        }
    }
}
