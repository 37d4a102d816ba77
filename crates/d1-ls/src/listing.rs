//! The backups of all the locations given, grouped by database, newest first, and what is said
//! of each database: its count, its bytes, its oldest and newest verified backup, whether it is
//! fresh. Pure: no store, no output.

use crate::args::Select;
use d1_archive::catalog::Backup;
use d1_archive::select;
use d1_core::msg::human_bytes;
use d1_core::time::Utc;
use std::collections::BTreeMap;

/// One database's backups, wherever they are.
#[derive(Debug)]
pub struct Database {
    pub id: String,
    /// The newest backup's name for it (a database can be renamed).
    pub name: Option<String>,
    /// Newest first; backups taken at the same time in the order the locations were given.
    pub backups: Vec<Backup>,
}

/// `2026-11-09T03:17:00Z`.
pub fn when(t: i64) -> String {
    Utc::from_unix(t).rfc3339()
}

impl Database {
    /// `name (id)`, or the id.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.id),
            None => self.id.clone(),
        }
    }

    /// Whether `wanted` names this database: its id, or a name any of its backups gives it.
    pub fn is(&self, wanted: &str) -> bool {
        self.id == wanted
            || self
                .backups
                .iter()
                .any(|b| b.database_name() == Some(wanted))
    }

    /// The newest verified backup, taken at or before `at` when given.
    pub fn newest_good(&self, at: Option<i64>) -> Option<&Backup> {
        select::newest_good(&self.backups, at, |b| b.time, Backup::good).map(|i| &self.backups[i])
    }

    /// The backups `select` shows.
    pub fn selected(&self, select: Select) -> Vec<&Backup> {
        match select {
            Select::All => self.backups.iter().collect(),
            Select::Latest => self.newest_good(None).into_iter().collect(),
            Select::At(t) => self.newest_good(Some(t)).into_iter().collect(),
        }
    }

    /// `3 backups, 1.2 MiB; oldest verified …, newest verified …` (or `no verified backup`).
    pub fn summary(&self) -> String {
        let n = self.backups.len();
        let bytes: u64 = self.backups.iter().map(|b| b.size).sum();
        let good = |b: &&Backup| b.good();
        let oldest = self.backups.iter().rev().find(good);
        let newest = self.newest_good(None);
        let verified = match (oldest, newest) {
            (Some(o), Some(n)) => format!(
                "oldest verified {}, newest verified {}",
                when(o.time),
                when(n.time)
            ),
            _ => "no verified backup".to_string(),
        };
        format!(
            "{n} backup{}, {}; {verified}",
            if n == 1 { "" } else { "s" },
            human_bytes(bytes)
        )
    }

    /// Why the database is not fresh (its newest verified backup older than `max_age`
    /// seconds before `now`); `None` when it is.
    pub fn stale(&self, now: i64, max_age: i64) -> Option<String> {
        match self.newest_good(None) {
            None => Some("no verified backup".to_string()),
            Some(b) if now - b.time > max_age => Some(format!(
                "its newest verified backup, {}, is {} old, older than {}",
                when(b.time),
                age(now - b.time),
                age(max_age)
            )),
            Some(_) => None,
        }
    }
}

/// `2d 3h`, `26h 5m`, `40s`: a duration as a person reads it, to its two largest units (the
/// second one only when it is not zero), so that "3 days" does not read `3d 1s` because a second
/// passed while the listing ran.
fn age(secs: i64) -> String {
    let units = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let Some(first) = units.iter().position(|(n, _)| *n > 0) else {
        return "0s".into();
    };
    units[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Groups `backups` by database, sorted by name then id.
pub fn by_database(backups: Vec<Backup>) -> Vec<Database> {
    let mut by_id: BTreeMap<String, Vec<Backup>> = BTreeMap::new();
    for b in backups {
        by_id.entry(b.database_id.clone()).or_default().push(b);
    }
    let mut out: Vec<Database> = by_id
        .into_iter()
        .map(|(id, mut backups)| {
            backups.sort_by_key(|b| std::cmp::Reverse(b.time));
            let name = backups
                .iter()
                .find_map(|b| b.database_name().map(str::to_string));
            Database { id, name, backups }
        })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_write_them() {
        assert_eq!(age(93_600 + 300), "1d 2h");
        assert_eq!(age(26 * 3600), "1d 2h");
        assert_eq!(age(3600 * 5 + 61), "5h 1m");
        assert_eq!(age(40), "40s");
        assert_eq!(age(0), "0s");
        assert_eq!(
            age(3 * 86_400 + 1),
            "3d",
            "a second more is not worth a word"
        );
        assert_eq!(age(86_400 + 59), "1d");
    }
}
