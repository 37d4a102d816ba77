//! The import endpoint (init, upload through a signed URL, ingest, poll), as docs/d1-emulator.md
//! ("Import") and wrangler's `d1 execute --file` have it. Ingest answers at once and loads the file
//! on a thread of its own (`load`: one transaction, its own connection), so that a large import is
//! polled like an export instead of holding one request past every client's timeout; a client that
//! retries its ingest joins the running import instead of starting a second one.
//!
//! What the emulator chose where D1 is silent (docs/d1-emulator.md lists it):
//! - While an import runs, its database answers queries and export starts with a 400/7500
//!   refusal ("Imports block the D1 for their duration", API reference), and `describe` reports
//!   the database as it was before the import.
//! - `init` with the etag of the last completed import replays that import's result only while
//!   the database is unchanged since; once it changed (rows deleted, tables dropped, a file
//!   truncated), `init` answers an upload URL and the file is imported again. wrangler starts
//!   a new import whenever it gets an upload URL, so a restore is never skipped by mistake.
//! - A second ingest while one runs for the same file joins it; another file is refused.

use crate::app::{random_hex, App, Import, Status};
use crate::busy::Busy;
use crate::dbs::{self, DbInfo};
use crate::envelope;
use crate::faults::{Endpoint, Fault, Kind};
use crate::http::{Request, Response};
use crate::load::{self, Finish};
use crate::spool::Upload;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bad(msg: &str) -> Response {
    envelope::error(400, 7400, msg)
}

fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

fn answer(i: &Import) -> Value {
    match &i.status {
        Status::Complete => json!({
            "success": true, "type": "import", "status": "complete",
            "at_bookmark": i.bookmark, "messages": ["Import complete"], "result": i.result,
        }),
        Status::Error(msg) => json!({
            "success": false, "type": "import", "status": "error",
            "at_bookmark": i.bookmark, "error": msg, "errors": [msg], "messages": [],
        }),
        _ => json!({
            "success": true, "type": "import", "status": "active",
            "at_bookmark": i.bookmark, "messages": ["Import in progress"],
        }),
    }
}

impl App {
    pub fn import(&self, db: &DbInfo, req: &Request, fault: Option<&Fault>) -> Response {
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("Request body must be a JSON object"),
        };
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        match field("action").as_deref() {
            Some("init") => {
                let Some(etag) = field("etag").map(|e| e.to_ascii_lowercase()) else {
                    return bad("init needs an \"etag\" (md5 hex of the file)");
                };
                if !is_md5_hex(&etag) {
                    return bad("etag must be 32 hex digits (the md5 of the file)");
                }
                self.import_init(db, &etag)
            }
            Some("ingest") => {
                let (Some(filename), Some(etag)) = (field("filename"), field("etag")) else {
                    return bad("ingest needs \"filename\" and \"etag\"");
                };
                self.import_ingest(db, &filename, &etag.to_ascii_lowercase(), fault)
            }
            Some("poll") => {
                let Some(bookmark) = field("current_bookmark") else {
                    return bad("poll needs \"current_bookmark\"");
                };
                self.import_poll(db, &bookmark)
            }
            _ => bad("action must be one of init, ingest, poll"),
        }
    }

    fn import_init(&self, db: &DbInfo, etag: &str) -> Response {
        let now = dbs::fingerprint(&db.path);
        let st = self.state();
        let last = st.imports.iter().rev().find(|i| i.database == db.uuid);
        if let Some(i) = last {
            // The same file, already importing: join it (a retried init does no harm).
            if i.status == Status::Active && i.etag == etag {
                return envelope::ok(answer(i));
            }
            // The same file, imported last, and the database untouched since: D1 answers the
            // finished import again instead of an upload URL.
            if i.status == Status::Complete && i.etag == etag && i.after.is_some() && i.after == now
            {
                return envelope::ok(answer(i));
            }
        }
        let filename = format!("{etag}.sql");
        envelope::ok(json!({
            "success": true,
            "filename": filename,
            "upload_url": self.signed_url(&format!("/uploads/{filename}")),
        }))
    }

    fn import_ingest(
        &self,
        db: &DbInfo,
        filename: &str,
        etag: &str,
        fault: Option<&Fault>,
    ) -> Response {
        let upload: Arc<Upload> = {
            let mut st = self.state();
            if let Some(i) = st
                .imports
                .iter()
                .find(|i| i.database == db.uuid && i.status == Status::Active)
            {
                // A retried ingest of the same file joins the running import.
                if i.etag == etag {
                    return envelope::ok(answer(i));
                }
                return self.refuse(&mut st, Endpoint::Import.name(), Busy::Importing);
            }
            if let Some(why) = self.busy(&mut st, &db.uuid) {
                return self.refuse(&mut st, Endpoint::Import.name(), why);
            }
            match st.uploads.get(filename) {
                Some(u) => Arc::clone(u),
                None => {
                    return envelope::error(
                        400,
                        7500,
                        &format!("No uploaded file named {filename}"),
                    )
                }
            }
        };
        if !upload.etag.eq_ignore_ascii_case(etag) {
            return envelope::error(
                400,
                7500,
                &format!(
                    "Uploaded file {filename} has etag {}, not {etag}",
                    upload.etag
                ),
            );
        }
        let finish = if fault.is_some_and(|f| f.kind == Kind::ImportLost) {
            Finish::RollbackAndPretend
        } else {
            Finish::Commit
        };
        let hold = fault
            .filter(|f| f.kind == Kind::ImportHold)
            .map(|f| Duration::from_millis(f.ms));
        let mut st = self.state();
        st.seq += 1;
        let bookmark = format!("{:08x}-{}", st.seq, random_hex(16));
        let import = Import {
            bookmark: bookmark.clone(),
            database: db.uuid.clone(),
            etag: upload.etag.clone(),
            status: Status::Active,
            polls: 0,
            result: Value::Null,
            before: Some(dbs::describe(db)),
            after: None,
        };
        let resp = envelope::ok(json!({
            "success": true, "type": "import", "status": "active",
            "at_bookmark": bookmark, "messages": ["Starting import"],
        }));
        st.imports.push(import);
        drop(st);
        let app = self.me();
        let db = db.clone();
        let spawned = std::thread::Builder::new()
            .name("import".into())
            .spawn(move || {
                if let Some(d) = hold {
                    std::thread::sleep(d);
                }
                // A panic must not leave the database blocked by an import that never ends.
                let run = std::panic::AssertUnwindSafe(|| {
                    app.run_import(&db, &upload, &bookmark, finish)
                });
                if std::panic::catch_unwind(run).is_err() {
                    let mut st = app.state();
                    if let Some(i) = st.imports.iter_mut().find(|i| i.bookmark == bookmark) {
                        i.status = Status::Error("internal error in d1-emulator".into());
                        i.before = None;
                    }
                }
            });
        if let Err(e) = spawned {
            let mut st = self.state();
            if let Some(i) = st.imports.last_mut() {
                i.status = Status::Error(format!("could not start the import: {e}"));
            }
        }
        resp
    }

    /// The import thread: loads the file, then records the outcome for the polls.
    fn run_import(&self, db: &DbInfo, upload: &Upload, bookmark: &str, finish: Finish) {
        let started = Instant::now();
        // The state before the import stays reachable by Time Travel, as in D1.
        let outcome = match self.before_write(db) {
            Ok(()) => load::load(&upload.path, &db.path, finish),
            Err(message) => Err(load::LoadError {
                statement: None,
                message,
            }),
        };
        let final_bookmark = self.after_write(db);
        let size_after = std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
        let after = dbs::fingerprint(&db.path);
        let (status, result) = match outcome {
            Ok(t) => (
                Status::Complete,
                json!({
                    "success": true, "type": "import",
                    "final_bookmark": final_bookmark,
                    "num_queries": t.statements,
                    "meta": {
                        "duration": started.elapsed().as_secs_f64() * 1000.0,
                        "rows_read": t.rows_read, "rows_written": t.rows_written,
                        "size_after": size_after, "changes": t.changes,
                        "last_row_id": t.last_row_id, "changed_db": t.changed_db,
                        "served_by": "d1-emulator",
                    },
                }),
            ),
            Err(e) => (Status::Error(e.to_string()), Value::Null),
        };
        let mut st = self.state();
        if let Some(i) = st.imports.iter_mut().find(|i| i.bookmark == bookmark) {
            i.status = status;
            i.result = result;
            i.after = after;
            i.before = None;
        }
    }

    fn import_poll(&self, db: &DbInfo, bookmark: &str) -> Response {
        // Long poll: hold the answer until the import ends or `--poll-hold-ms` passed.
        let until = Instant::now() + Duration::from_millis(self.opts.poll_hold_ms);
        loop {
            {
                let mut st = self.state();
                let Some(i) = st
                    .imports
                    .iter_mut()
                    .find(|i| i.bookmark == bookmark && i.database == db.uuid)
                else {
                    return envelope::error(
                        400,
                        7500,
                        &format!("Import not found for bookmark {bookmark}"),
                    );
                };
                if i.status != Status::Active || Instant::now() >= until {
                    i.polls += 1;
                    return envelope::ok(answer(i));
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
