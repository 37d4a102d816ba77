//! The import endpoint (init, upload through a signed URL, ingest, poll). Ingest runs the whole
//! file in one transaction: all or nothing, as D1 promises.

use crate::app::{random_hex, App, Import, Status};
use crate::dbs::{self, DbInfo};
use crate::envelope;
use crate::http::{Request, Response};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

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
    pub fn import(&self, db: &DbInfo, req: &Request) -> Response {
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
                let st = self.state();
                if let Some(done) = st.imports.iter().rev().find(|i| {
                    i.database == db.uuid && i.etag == etag && i.status == Status::Complete
                }) {
                    return envelope::ok(answer(done));
                }
                let filename = format!("{etag}.sql");
                envelope::ok(json!({
                    "success": true,
                    "filename": filename,
                    "upload_url": self.signed_url(&format!("/uploads/{filename}")),
                }))
            }
            Some("ingest") => {
                let (Some(filename), Some(etag)) = (field("filename"), field("etag")) else {
                    return bad("ingest needs \"filename\" and \"etag\"");
                };
                let Some(data) = self.state().uploads.get(&filename).cloned() else {
                    return envelope::error(
                        400,
                        7500,
                        &format!("No uploaded file named {filename}"),
                    );
                };
                let actual = hex::encode(Md5::digest(&*data));
                if !actual.eq_ignore_ascii_case(&etag) {
                    return envelope::error(
                        400,
                        7500,
                        &format!("Uploaded file {filename} has etag {actual}, not {etag}"),
                    );
                }
                let import = self.ingest(db, &data, actual);
                let resp = json!({
                    "success": true, "type": "import", "status": "active",
                    "at_bookmark": import.bookmark, "messages": ["Starting import"],
                });
                self.state().imports.push(import);
                envelope::ok(resp)
            }
            Some("poll") => {
                let Some(bookmark) = field("current_bookmark") else {
                    return bad("poll needs \"current_bookmark\"");
                };
                let mut st = self.state();
                match st
                    .imports
                    .iter_mut()
                    .find(|i| i.bookmark == bookmark && i.database == db.uuid)
                {
                    Some(i) => {
                        i.polls += 1;
                        envelope::ok(answer(i))
                    }
                    None => envelope::error(
                        400,
                        7500,
                        &format!("Import not found for bookmark {bookmark}"),
                    ),
                }
            }
            _ => bad("action must be one of init, ingest, poll"),
        }
    }

    fn ingest(&self, db: &DbInfo, data: &Arc<Vec<u8>>, etag: String) -> Import {
        let started = Instant::now();
        let bookmark = {
            let mut st = self.state();
            st.seq += 1;
            format!("{:08x}-{}", st.seq, random_hex(16))
        };
        let outcome = std::str::from_utf8(data)
            .map_err(|_| "the file is not UTF-8 text".to_string())
            .and_then(|sql| {
                let mut conn = dbs::open_rw(&db.path).map_err(|e| e.to_string())?;
                crate::query::run(&mut conn, sql, &[]).map_err(|f| match f.statement {
                    Some(n) => format!("statement {n}: {}", f.message),
                    None => format!("at commit: {}", f.message),
                })
            });
        let size_after = std::fs::metadata(&db.path).map(|m| m.len()).unwrap_or(0);
        let (status, result) = match outcome {
            Ok((_, t)) => (
                Status::Complete,
                json!({
                    "success": true, "type": "import",
                    "final_bookmark": format!("{bookmark}-final"),
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
            Err(msg) => (Status::Error(msg), Value::Null),
        };
        Import {
            bookmark,
            database: db.uuid.clone(),
            etag,
            status,
            polls: 0,
            result,
        }
    }
}
