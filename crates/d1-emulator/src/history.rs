//! Each database's Time Travel history: the bookmarks handed out as it changed, and the states
//! they name. A state is kept as a copy of the database file in the spool folder, taken just
//! before the first write that leaves it (copy before write), so a database nobody writes to
//! costs nothing and exporting never copies. Several bookmarks may name one state (an export of
//! an unchanged database records the current one again; a restore names the state it brought
//! back). History is bounded twice: entries older than the window are dropped, and at most
//! `--time-travel-snapshots` copies are kept per database, the oldest going first (a bookmark
//! whose copy went is answered as outside the window). It lives in memory and the spool: a
//! restarted emulator starts every history anew, at the database as it finds it.

use crate::dbs::Fingerprint;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tempfile::TempPath;

/// One bookmark: when it was handed out and the state (version) it names.
#[derive(Debug, Clone)]
pub struct Entry {
    pub bookmark: String,
    /// Microseconds since the epoch; also the bookmark's first two fields.
    pub tick: u64,
    pub version: u64,
}

/// One database's history.
#[derive(Debug, Default)]
pub struct History {
    /// Ascending by tick (and so by bookmark).
    pub entries: Vec<Entry>,
    /// The version the live file holds, and its fingerprint when last seen.
    pub live: u64,
    print: Option<Fingerprint>,
    /// Copies of versions, in the spool folder; a version may share its copy with another.
    snaps: BTreeMap<u64, Arc<TempPath>>,
    /// Microseconds since the epoch before which nothing is remembered (a `forget` fault).
    pub since: u64,
    /// When each restore of the last window was made, for D1's limit.
    pub restores: VecDeque<Instant>,
}

/// Every database's history, by database id, and the clock bookmarks are minted from.
#[derive(Debug, Default)]
pub struct Histories {
    pub by_db: HashMap<String, History>,
    last_tick: u64,
}

/// A bookmark's moment: microseconds since the epoch, from its first two fields.
pub fn tick_of(bookmark: &str) -> Option<u64> {
    let parts: Vec<&str> = bookmark.split('-').collect();
    let ok = parts.len() == 4
        && [8, 8, 8, 32]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return None;
    }
    let secs = u64::from_str_radix(parts[0], 16).ok()?;
    let micros = u64::from_str_radix(parts[1], 16).ok()?;
    (micros < 1_000_000).then(|| secs * 1_000_000 + micros)
}

pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// `SSSSSSSS-UUUUUUUU-VVVVVVVV-HHHH…`: seconds and microseconds of the moment (so that bookmarks
/// sort by time as text), the version, and 16 bytes of a hash of the database id and the moment
/// (so that a bookmark of one database is not one of another).
fn format_bookmark(db: &str, tick: u64, version: u64) -> String {
    let h = Sha256::digest(format!("d1-emulator-bookmark:{db}:{tick}").as_bytes());
    format!(
        "{:08x}-{:08x}-{:08x}-{}",
        tick / 1_000_000,
        tick % 1_000_000,
        version as u32,
        hex::encode(&h[..16])
    )
}

impl Histories {
    /// A moment later than every one handed out before.
    fn tick(&mut self) -> u64 {
        self.last_tick = micros(SystemTime::now()).max(self.last_tick + 1);
        self.last_tick
    }

    /// Hands out a new bookmark of `db` for its live version.
    pub fn mint(&mut self, db: &str) -> String {
        let tick = self.tick();
        let h = self.by_db.entry(db.to_string()).or_default();
        let bookmark = format_bookmark(db, tick, h.live);
        h.entries.push(Entry {
            bookmark: bookmark.clone(),
            tick,
            version: h.live,
        });
        bookmark
    }

    /// Brings `db`'s history up to its file: a first look, or a file that changed since the
    /// last (a write through the API, or behind the emulator's back), starts a new version with
    /// a new bookmark. Returns the current bookmark.
    pub fn observe(&mut self, db: &str, print: Option<Fingerprint>) -> String {
        let known = self.by_db.get(db);
        let same = known.is_some_and(|h| h.print == print && !h.entries.is_empty());
        if same {
            return self.current(db).unwrap_or_default();
        }
        let h = self.by_db.entry(db.to_string()).or_default();
        h.live += 1;
        h.print = print;
        self.mint(db)
    }

    /// The latest bookmark of `db`: the one naming its live version.
    pub fn current(&self, db: &str) -> Option<String> {
        self.by_db
            .get(db)
            .and_then(|h| h.entries.last())
            .map(|e| e.bookmark.clone())
    }

    /// Forgets `db` (a deleted database loses its history; its copies go with it).
    pub fn drop_db(&mut self, db: &str) {
        self.by_db.remove(db);
    }
}

impl History {
    /// Whether the live version still needs a copy before it is written over.
    pub fn needs_copy(&self) -> bool {
        !self.snaps.contains_key(&self.live)
    }

    pub fn copy_of(&self, version: u64) -> Option<Arc<TempPath>> {
        self.snaps.get(&version).cloned()
    }

    /// Keeps `copy` as the state of `version`, then drops the oldest copies beyond `cap` (never
    /// the live version's).
    pub fn keep(&mut self, version: u64, copy: Arc<TempPath>, cap: usize) {
        self.snaps.insert(version, copy);
        while self.snaps.len() > cap.max(1) {
            let Some(oldest) = self.snaps.keys().copied().find(|v| *v != self.live) else {
                break;
            };
            self.snaps.remove(&oldest);
        }
    }

    /// After a restore: the live file now holds a copy of `version` under a new version.
    pub fn restored(&mut self, copy: Arc<TempPath>, print: Option<Fingerprint>, cap: usize) {
        self.live += 1;
        self.print = print;
        self.keep(self.live, copy, cap);
    }

    /// The oldest moment still remembered: `window` before `now`, or later when the history
    /// starts later (a fresh emulator: the whole second of its first look, as D1's timestamps
    /// are seconds; a `forget` fault).
    pub fn start(&self, now: u64, window: Duration) -> u64 {
        let first = self
            .entries
            .first()
            .map_or(now, |e| e.tick / 1_000_000 * 1_000_000);
        now.saturating_sub(window.as_micros() as u64)
            .max(self.since)
            .max(first)
    }

    /// Drops the entries whose state had ended before `start`: an entry stays while its state
    /// lasted into the window (the next entry is at or after `start`, or there is none, as for
    /// the live version's), and so do the copies the entries left still name.
    pub fn prune(&mut self, start: u64) {
        let keep_from = self
            .entries
            .iter()
            .position(|e| e.tick >= start)
            .unwrap_or(self.entries.len())
            .saturating_sub(1);
        self.entries.drain(..keep_from);
        let named: std::collections::BTreeSet<u64> =
            self.entries.iter().map(|e| e.version).collect();
        let live = self.live;
        self.snaps.retain(|v, _| named.contains(v) || *v == live);
    }

    pub fn find(&self, bookmark: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.bookmark == bookmark)
    }

    /// The latest entry at or before `tick`; the first when `tick` lies in the second of the
    /// history's start, before its first entry.
    pub fn at_or_before(&self, tick: u64) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.tick <= tick)
            .or_else(|| self.entries.first())
    }

    /// Counts a restore made at `now` against `limit` per `window`; `Err(seconds)` to wait.
    pub fn admit_restore(
        &mut self,
        now: Instant,
        limit: usize,
        window: Duration,
    ) -> Result<(), u64> {
        while self
            .restores
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.restores.pop_front();
        }
        if self.restores.len() >= limit {
            let oldest = self.restores.front().copied().unwrap_or(now);
            let left = window.saturating_sub(now.duration_since(oldest));
            return Err(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        self.restores.push_back(now);
        Ok(())
    }
}

/// Whether a query may change the database: some statement of it is not read-only, or cannot
/// be prepared on its own (it may need a table an earlier one creates). Nothing is run.
pub fn may_write(conn: &rusqlite::Connection, sql: &str) -> bool {
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut batch = rusqlite::Batch::new(conn, sql);
    loop {
        match batch.next() {
            Ok(Some(stmt)) if stmt.readonly() => continue,
            Ok(None) => return false,
            _ => return true,
        }
    }
}

/// A `?timestamp=`: Unix seconds, or an RFC 3339 / JavaScript date-time string (D1 takes both).
/// Microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok()?.checked_mul(1_000_000);
    }
    let secs = d1_core::time::parse_rfc3339(s)?;
    let frac = s
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|f| {
            f.bytes()
                .take_while(u8::is_ascii_digit)
                .collect::<Vec<u8>>()
        })
        .unwrap_or_default();
    let mut micros = 0u64;
    for i in 0..6 {
        micros = micros * 10 + u64::from(frac.get(i).map_or(0, |d| d - b'0'));
    }
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookmarks_have_d1s_shape_sort_by_time_and_name_their_database() {
        let mut hs = Histories::default();
        let a = hs.observe("db-a", None);
        let b = hs.mint("db-a");
        let c = hs.mint("db-b");
        for bm in [&a, &b, &c] {
            let parts: Vec<usize> = bm.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 8, 8, 32], "{bm}");
            assert!(tick_of(bm).is_some(), "{bm}");
        }
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(tick_of(&a) < tick_of(&b));
        assert_eq!(hs.current("db-a").as_deref(), Some(b.as_str()));
        assert!(hs.by_db["db-a"].find(&c).is_none(), "another database's");
        assert_eq!(tick_of("00000001-000f4240-00000000-00"), None);
    }

    #[test]
    fn an_unchanged_file_keeps_its_bookmark_and_a_changed_one_gets_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.sqlite");
        std::fs::write(&f, vec![0u8; 100]).unwrap();
        let mut hs = Histories::default();
        let one = hs.observe("d", crate::dbs::fingerprint(&f));
        assert_eq!(hs.observe("d", crate::dbs::fingerprint(&f)), one);
        let mut bytes = vec![0u8; 100];
        bytes[24] = 1;
        std::fs::write(&f, bytes).unwrap();
        let two = hs.observe("d", crate::dbs::fingerprint(&f));
        assert_ne!(two, one);
        let h = &hs.by_db["d"];
        assert_eq!((h.find(&one).unwrap().version, h.live), (1, 2));
    }

    #[test]
    fn the_window_drops_old_entries_but_never_the_current_one() {
        let mut hs = Histories::default();
        let old = hs.observe("d", None);
        let now = hs.mint("d");
        let h = hs.by_db.get_mut("d").unwrap();
        let later = h.entries[1].tick + 1;
        h.prune(later);
        assert!(h.find(&old).is_none());
        assert!(
            h.find(&now).is_some(),
            "the live version's last bookmark stays"
        );
        assert!(h.start(later, Duration::from_secs(1)) <= h.entries[0].tick);
        assert_eq!(h.start(later, Duration::ZERO), later);
    }

    #[test]
    fn ten_restores_per_window_then_the_wait_is_named() {
        let mut h = History::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(600);
        for _ in 0..10 {
            assert!(h.admit_restore(t0, 10, w).is_ok());
        }
        let wait = h
            .admit_restore(t0 + Duration::from_secs(100), 10, w)
            .unwrap_err();
        assert_eq!(wait, 500);
        assert!(h.admit_restore(t0 + w, 10, w).is_ok());
    }

    #[test]
    fn timestamps_in_both_forms() {
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000_000_000));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.000+01:00"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
