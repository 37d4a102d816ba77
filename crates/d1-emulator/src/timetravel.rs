//! D1's Time Travel: `GET …/time_travel/bookmark[?timestamp=]` and
//! `POST …/time_travel/restore?bookmark=|timestamp=`, the hooks that move a database's history
//! as it changes (a write, an import, a restore), and `DELETE …/d1/database/{id}`, which loses
//! it. The history is kept by `history.rs`; the errors D1 gives are not all documented, so the
//! wording and codes here are the emulator's choice (docs/d1-emulator.md, "Time Travel").

use crate::app::App;
use crate::dbs::{self, DbInfo};
use crate::envelope;
use crate::faults::{Endpoint, Fault, Kind};
use crate::history::{self, Histories, History};
use crate::http::{Request, Response};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tempfile::TempPath;

/// D1's limit: 10 restores per 10 minutes per database (D1's limits page).
pub const RESTORES: usize = 10;
pub const RESTORE_WINDOW: Duration = Duration::from_secs(600);

/// The code of every Time Travel refusal but the rate limit (D1's generic bad-request code).
const BAD: u32 = 7400;
/// The code of the restore limit's 429.
const TOO_MANY: u32 = 7429;

fn bad(msg: &str) -> Response {
    envelope::error(400, BAD, msg)
}

/// Copies database file `src` into a new file of the spool folder with SQLite's online backup,
/// in one step: the copy is one consistent state even while others read.
fn copy_out(spool: &Path, src: &Path) -> Result<TempPath, String> {
    let tmp = tempfile::Builder::new()
        .prefix("timetravel-")
        .tempfile_in(spool)
        .map_err(|e| format!("keeping the database's state: {e}"))?
        .into_temp_path();
    let from = dbs::open_ro(src).map_err(|e| format!("keeping the database's state: {e}"))?;
    let mut to = rusqlite::Connection::open(&tmp)
        .map_err(|e| format!("keeping the database's state: {e}"))?;
    backup(&from, &mut to).map_err(|e| format!("keeping the database's state: {e}"))?;
    Ok(tmp)
}

fn backup(from: &rusqlite::Connection, to: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::backup::{Backup, StepResult};
    let b = Backup::new(from, to)?;
    match b.step(-1)? {
        StepResult::Done => Ok(()),
        _ => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("the database is busy".into()),
        )),
    }
}

impl App {
    pub fn travel(&self) -> MutexGuard<'_, Histories> {
        self.travel.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.opts.time_travel_window)
    }

    /// The database's current bookmark, its history brought up to its file first.
    pub fn bookmark_now(&self, db: &DbInfo) -> String {
        self.travel().observe(&db.uuid, dbs::fingerprint(&db.path))
    }

    /// A new bookmark for the database's current state (an export's `at_bookmark`: every
    /// export has its own, and restoring to it brings back the state the dump holds).
    pub fn record_bookmark(&self, db: &DbInfo) -> String {
        let mut t = self.travel();
        t.observe(&db.uuid, dbs::fingerprint(&db.path));
        t.mint(&db.uuid)
    }

    /// Before a write: keeps a copy of the state the write leaves, unless one is kept already.
    pub fn before_write(&self, db: &DbInfo) -> Result<(), String> {
        if self.opts.time_travel_snapshots == 0 {
            return Ok(());
        }
        let mut t = self.travel();
        t.observe(&db.uuid, dbs::fingerprint(&db.path));
        let Some(h) = t.by_db.get_mut(&db.uuid) else {
            return Ok(());
        };
        self.keep_live(db, h)
    }

    fn keep_live(&self, db: &DbInfo, h: &mut History) -> Result<(), String> {
        if !h.needs_copy() {
            return Ok(());
        }
        let copy = copy_out(&self.spool, &db.path)?;
        let live = h.live;
        h.keep(live, Arc::new(copy), self.opts.time_travel_snapshots);
        Ok(())
    }

    /// After a write (or an import): a changed file gets a new bookmark. Returns the current.
    pub fn after_write(&self, db: &DbInfo) -> String {
        self.bookmark_now(db)
    }

    /// `GET …/time_travel/bookmark[?timestamp=]`.
    pub fn tt_bookmark(&self, db: &DbInfo, req: &Request, fault: Option<&Fault>) -> Response {
        let mut t = self.travel();
        let current = t.observe(&db.uuid, dbs::fingerprint(&db.path));
        let now = history::micros(SystemTime::now());
        let Some(h) = t.by_db.get_mut(&db.uuid) else {
            return envelope::error(500, 7500, "Internal error in d1-emulator");
        };
        self.age(h, now, fault);
        let Some(ts) = req.query_param("timestamp") else {
            return envelope::ok(json!({ "bookmark": current }));
        };
        match self.at_time(h, &ts, now) {
            Ok(e) => envelope::ok(json!({ "bookmark": e.bookmark })),
            Err(resp) => resp,
        }
    }

    /// A `forget` fault moves the history's start to now; then old entries go.
    fn age(&self, h: &mut History, now: u64, fault: Option<&Fault>) {
        if fault.is_some_and(|f| f.kind == Kind::Forget) {
            h.since = now;
        }
        let start = h.start(now, self.window());
        h.prune(start);
    }

    /// The entry a `?timestamp=` names: the latest at or before it.
    fn at_time(&self, h: &History, ts: &str, now: u64) -> Result<history::Entry, Response> {
        let Some(tick) = history::parse_timestamp(ts) else {
            return Err(bad(&format!(
                "Invalid timestamp {ts}: expected Unix seconds or an ISO 8601 date-time"
            )));
        };
        let start = h.start(now, self.window());
        if tick < start {
            return Err(self.outside(&format!("timestamp {ts}")));
        }
        h.at_or_before(tick)
            .cloned()
            .ok_or_else(|| self.outside(&format!("timestamp {ts}")))
    }

    fn outside(&self, what: &str) -> Response {
        let days = self.opts.time_travel_window as f64 / 86_400.0;
        let window = if days >= 1.0 && days.fract() == 0.0 {
            format!("{days} days")
        } else {
            format!("{} seconds", self.opts.time_travel_window)
        };
        bad(&format!(
            "The {what} is outside the Time Travel window of this database ({window}): it cannot \
             be used as a restore point"
        ))
    }

    /// The entry a `?bookmark=` names: one of this database's, inside the window.
    fn at_bookmark(
        &self,
        db: &DbInfo,
        h: &History,
        b: &str,
        now: u64,
    ) -> Result<history::Entry, Response> {
        let Some(tick) = history::tick_of(b) else {
            return Err(bad(&format!(
                "Invalid bookmark {b}: a bookmark looks like \
                 00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683"
            )));
        };
        if let Some(e) = h.find(b) {
            return Ok(e.clone());
        }
        if tick < h.start(now, self.window()) {
            return Err(self.outside(&format!("bookmark {b}")));
        }
        Err(bad(&format!(
            "Bookmark {b} not found: it is not a bookmark of database {}",
            db.uuid
        )))
    }

    /// `POST …/time_travel/restore?bookmark=…|timestamp=…`.
    pub fn tt_restore(&self, db: &DbInfo, req: &Request, fault: Option<&Fault>) -> Response {
        let bookmark = req.query_param("bookmark").filter(|b| !b.is_empty());
        let timestamp = req.query_param("timestamp").filter(|t| !t.is_empty());
        if bookmark.is_some() == timestamp.is_some() {
            return bad("A restore needs either a bookmark or a timestamp (one of them)");
        }
        {
            let mut st = self.state();
            if let Some(why) = self.busy(&mut st, &db.uuid) {
                return self.refuse(&mut st, Endpoint::Restore.name(), why);
            }
        }
        let mut t = self.travel();
        let previous = t.observe(&db.uuid, dbs::fingerprint(&db.path));
        let now = history::micros(SystemTime::now());
        let Some(h) = t.by_db.get_mut(&db.uuid) else {
            return envelope::error(500, 7500, "Internal error in d1-emulator");
        };
        self.age(h, now, fault);
        let target = match (&bookmark, &timestamp) {
            (Some(b), _) => self.at_bookmark(db, h, b, now),
            (_, Some(ts)) => self.at_time(h, ts, now),
            _ => return bad("A restore needs a bookmark or a timestamp"),
        };
        let target = match target {
            Ok(e) => e,
            Err(resp) => return resp,
        };
        let copy = if target.version == h.live {
            None
        } else {
            match h.copy_of(target.version) {
                Some(c) => Some(c),
                None => return self.outside(&format!("bookmark {}", target.bookmark)),
            }
        };
        if let Err(secs) = h.admit_restore(Instant::now(), RESTORES, RESTORE_WINDOW) {
            return envelope::error(
                429,
                TOO_MANY,
                &format!(
                    "Too many restores: a database can be restored at most {RESTORES} times in \
                     {} minutes; try again in {secs} seconds",
                    RESTORE_WINDOW.as_secs() / 60
                ),
            )
            .with_header("Retry-After", secs.to_string());
        }
        if let Some(copy) = copy {
            if let Err(e) = self.keep_live(db, h) {
                return envelope::error(500, 7500, &e);
            }
            let written = dbs::open_ro(&copy)
                .and_then(|from| dbs::open_rw(&db.path).and_then(|mut to| backup(&from, &mut to)));
            if let Err(e) = written {
                return envelope::error(500, 7500, &format!("Restore failed: {e}"));
            }
            h.restored(
                copy,
                dbs::fingerprint(&db.path),
                self.opts.time_travel_snapshots,
            );
        }
        let new = t.mint(&db.uuid);
        envelope::ok(json!({
            "bookmark": new,
            "previous_bookmark": previous,
            "message": format!("Database restored to bookmark {}", target.bookmark),
        }))
    }

    /// `DELETE …/d1/database/{id}`: the file goes, and its history with it.
    pub fn delete_db(&self, db: &DbInfo) -> Response {
        {
            let mut st = self.state();
            if let Some(why) = self.busy(&mut st, &db.uuid) {
                return self.refuse(&mut st, Endpoint::Delete.name(), why);
            }
            if let Err(e) = self.dbs.delete(db) {
                return envelope::error(500, 7500, &e);
            }
        }
        self.travel().drop_db(&db.uuid);
        envelope::ok(serde_json::Value::Null)
    }
}
