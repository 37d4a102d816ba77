//! The export endpoint: start (snapshot the dump at once), long-polled progress, completion with
//! a signed URL; cancellation of exports nobody polls; optional rotating bookmarks.

use crate::app::{App, Export, State, Status};
use crate::busy::Busy;
use crate::dbs::{self, DbInfo};
use crate::dump::{self, DumpError, DumpOptions};
use crate::envelope;
use crate::faults::{Endpoint, Fault, Kind};
use crate::http::{Request, Response};
use crate::spool::Dump;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn bad(msg: &str) -> Response {
    envelope::error(400, 7400, msg)
}

fn unknown_bookmark(b: &str) -> Response {
    envelope::error(
        400,
        7500,
        &format!("Export not found for bookmark {b}: it may have been cancelled because it was not polled"),
    )
}

fn parse_options(body: &Value) -> Result<DumpOptions, String> {
    let mut o = DumpOptions::default();
    let Some(d) = body.get("dump_options") else {
        return Ok(o);
    };
    if d.is_null() {
        return Ok(o);
    }
    let flag = |k: &str| -> Result<bool, String> {
        match d.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("dump_options.{k} must be a boolean")),
        }
    };
    o.no_data = flag("no_data")?;
    o.no_schema = flag("no_schema")?;
    match d.get("tables") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for t in a {
                match t.as_str() {
                    Some(s) => o.tables.push(s.to_string()),
                    None => return Err("dump_options.tables must be an array of strings".into()),
                }
            }
        }
        Some(_) => return Err("dump_options.tables must be an array of strings".into()),
    }
    if o.no_data && o.no_schema {
        return Err("dump_options: no_data and no_schema cannot both be true".into());
    }
    Ok(o)
}

impl App {
    pub fn export(&self, db: &DbInfo, req: &Request, fault: Option<&Fault>) -> Response {
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad("Request body must be a JSON object"),
        };
        match body.get("current_bookmark") {
            None | Some(Value::Null) => self.export_start(db, &body),
            Some(Value::String(b)) => self.export_poll(db, b, fault),
            Some(_) => bad("current_bookmark must be a string"),
        }
    }

    /// `--bookmark-changes`: another bookmark of the same state, recorded in its history.
    fn new_bookmark(&self, db: &DbInfo) -> String {
        self.travel().mint(&db.uuid)
    }

    fn export_start(&self, db: &DbInfo, body: &Value) -> Response {
        let mut opts = match parse_options(body) {
            Ok(o) => o,
            Err(e) => return bad(&e),
        };
        opts.legacy = self.opts.legacy_dump;
        {
            // An export already running for this database: answer with it (joining it) rather
            // than starting a second one; a retried start call then does no harm.
            let mut st = self.state();
            self.expire_exports(&mut st);
            if let Some(e) = st
                .exports
                .iter_mut()
                .find(|e| e.database == db.uuid && e.status == Status::Active)
            {
                e.last_touch = Instant::now();
                return envelope::ok(json!({
                    "success": true, "type": "export", "status": "active",
                    "at_bookmark": e.bookmark, "messages": ["Export already in progress"],
                }));
            }
            // Not exporting, but a failed export still holds the database, or an import runs.
            if let Some(why @ (Busy::Locked | Busy::Importing)) = self.busy(&mut st, &db.uuid) {
                return self.refuse(&mut st, Endpoint::ExportStart.name(), why);
            }
        }
        // The snapshot is taken now, outside the lock (a big database takes a while), into a
        // file of the spool folder, with its md5 (the download's ETag) computed on the way.
        let bookmark = self.record_bookmark(db);
        let generated = self.write_dump(db, &opts);
        let mut st = self.state();
        self.expire_dumps(&mut st);
        st.seq += 1;
        let id = st.seq;
        let stamp = dbs::compact_timestamp(SystemTime::now());
        let mut filename = format!("{}-{}-{}.sql", db.name, &db.uuid[..8], stamp);
        if st.dumps.contains_key(&filename) {
            filename = format!("{}-{}-{}-{}.sql", db.name, &db.uuid[..8], stamp, id);
        }
        let outcome = match generated {
            Ok(dump) => {
                st.dumps.insert(filename.clone(), Arc::new(dump));
                Ok(filename.clone())
            }
            Err(e) => Err(e.to_string()),
        };
        let mut export = Export {
            id,
            bookmark,
            database: db.uuid.clone(),
            status: Status::Active,
            active_answers: 0,
            polls: 0,
            answers: 0,
            last_touch: Instant::now(),
            outcome,
        };
        let answer = if self.opts.export_polls == 0 {
            let answer = self.finish(&mut export, vec![format!("Generating {filename}")]);
            if export.outcome.is_err() {
                self.lock(&mut st, &db.uuid);
            }
            answer
        } else {
            export.active_answers = 1;
            export.answers = 1;
            active(&export.bookmark, vec![format!("Generating {filename}")])
        };
        st.exports.push(export);
        envelope::ok(answer)
    }

    /// Generates the dump of `db` into a new file of the spool folder.
    fn write_dump(&self, db: &DbInfo, opts: &DumpOptions) -> Result<Dump, DumpError> {
        let file = tempfile::Builder::new()
            .prefix("dump-")
            .tempfile_in(&self.spool)
            .map_err(DumpError::Io)?;
        let mut sink = HashingWriter {
            inner: std::io::BufWriter::with_capacity(
                1 << 20,
                file.as_file().try_clone().map_err(DumpError::Io)?,
            ),
            md5: Md5::new(),
            len: 0,
        };
        let conn = dbs::open_ro(&db.path)?;
        dump::generate_to(&conn, opts, &mut sink)?;
        sink.inner.flush().map_err(DumpError::Io)?;
        let HashingWriter { inner, md5, len } = sink;
        drop(inner);
        let etag = hex::encode(md5.finalize());
        Ok(Dump {
            path: file.into_temp_path(),
            len,
            etag,
            created: Instant::now(),
        })
    }

    /// Forgets dumps whose signed URLs have all expired (`--url-ttl`): their files go when the
    /// last download of them ends. A URL is signed in an export's answer, and every answer
    /// touches its export, so a dump is kept while its export was touched within the TTL.
    fn expire_dumps(&self, st: &mut State) {
        let ttl = Duration::from_secs(self.opts.url_ttl);
        let live: std::collections::HashSet<String> = st
            .exports
            .iter()
            .filter(|e| e.last_touch.elapsed() <= ttl)
            .filter_map(|e| e.outcome.as_ref().ok().cloned())
            .collect();
        st.dumps
            .retain(|name, d| d.created.elapsed() <= ttl || live.contains(name));
    }

    fn export_poll(&self, db: &DbInfo, bookmark: &str, fault: Option<&Fault>) -> Response {
        let id = {
            let mut st = self.state();
            self.expire_exports(&mut st);
            let Some(e) = st.exports.iter_mut().find(|e| {
                e.bookmark == bookmark && e.database == db.uuid && e.status != Status::Cancelled
            }) else {
                return unknown_bookmark(bookmark);
            };
            e.polls += 1;
            e.last_touch = Instant::now();
            e.id
        };
        // Long poll: the server holds the answer a while, as D1 does.
        std::thread::sleep(Duration::from_millis(self.opts.poll_hold_ms));
        let mut st = self.state();
        let rotate = self.opts.bookmark_changes;
        let mut new_bm = None;
        if rotate {
            new_bm = Some(self.new_bookmark(db));
        }
        let Some(e) = st.exports.iter_mut().find(|e| e.id == id) else {
            return unknown_bookmark(bookmark);
        };
        if e.bookmark != bookmark || e.status == Status::Cancelled {
            // A concurrent poll moved the bookmark on, or the export went away meanwhile.
            return unknown_bookmark(bookmark);
        }
        e.last_touch = Instant::now();
        if let Some(b) = new_bm {
            e.bookmark = b;
        }
        e.answers += 1;
        let was_active = e.status == Status::Active;
        let answer = match e.status.clone() {
            Status::Complete | Status::Error(_) => self.finish(e, Vec::new()),
            Status::Cancelled => unreachable!("checked above"),
            Status::Active => {
                if let Some(f) = fault.filter(|f| f.kind == Kind::ExportError) {
                    let msg = f
                        .message
                        .clone()
                        .unwrap_or_else(|| "D1 Export error: internal error".to_string());
                    e.status = Status::Error(msg);
                    self.finish(e, vec![format!("Uploaded part {}", e.active_answers)])
                } else if e.active_answers < self.opts.export_polls {
                    e.active_answers += 1;
                    // Parts are reported out of order on purpose, as D1 does.
                    let n = e.active_answers;
                    active(
                        &e.bookmark,
                        vec![
                            format!("Uploaded part {}", n + 1),
                            format!("Uploaded part {n}"),
                        ],
                    )
                } else {
                    self.finish(e, vec![format!("Uploaded part {}", e.active_answers + 1)])
                }
            }
        };
        // The database itself made the export fail (a virtual table): it stays locked a while.
        // An `export-error` fault ends the export without locking anything.
        if was_active && e.outcome.is_err() && matches!(e.status, Status::Error(_)) {
            self.lock(&mut st, &db.uuid);
        }
        envelope::ok(answer)
    }

    /// Moves an export to its final status (if not yet) and renders that final answer.
    fn finish(&self, e: &mut Export, mut messages: Vec<String>) -> Value {
        if e.status == Status::Active {
            e.status = match &e.outcome {
                Ok(_) => Status::Complete,
                Err(msg) => Status::Error(msg.clone()),
            };
        }
        match (&e.status, &e.outcome) {
            (Status::Error(msg), _) | (_, Err(msg)) => {
                messages.push(msg.clone());
                json!({
                    "success": false, "type": "export", "status": "error",
                    "at_bookmark": e.bookmark, "error": msg, "messages": messages,
                })
            }
            (_, Ok(filename)) => {
                messages.push(format!("Finished uploading {filename}"));
                json!({
                    "success": true, "type": "export", "status": "complete",
                    "at_bookmark": e.bookmark, "messages": messages,
                    "result": {
                        "filename": filename,
                        "signed_url": self.signed_url(&format!("/dumps/{filename}")),
                    },
                })
            }
        }
    }
}

/// Passes bytes on while counting them and computing their md5.
struct HashingWriter<W> {
    inner: W,
    md5: Md5,
    len: u64,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn active(bookmark: &str, messages: Vec<String>) -> Value {
    json!({
        "success": true, "type": "export", "status": "active",
        "at_bookmark": bookmark, "messages": messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_options_are_validated() {
        assert!(parse_options(&json!({})).is_ok());
        let o =
            parse_options(&json!({"dump_options": {"tables": ["a"], "no_data": true}})).unwrap();
        assert_eq!(o.tables, vec!["a".to_string()]);
        assert!(o.no_data);
        assert!(
            parse_options(&json!({"dump_options": {"no_data": true, "no_schema": true}})).is_err()
        );
        assert!(parse_options(&json!({"dump_options": {"tables": [1]}})).is_err());
        assert!(parse_options(&json!({"dump_options": {"no_data": "yes"}})).is_err());
    }
}
