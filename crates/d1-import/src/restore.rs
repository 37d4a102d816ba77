//! One import, start to end (docs/d1-emulator.md, "Import"): check the target, prepare the file,
//! init, upload (skipped when the server already has the file), ingest, poll until complete, then
//! read the tables back and check them against the dump (`outcome`): "complete" is a claim.

use crate::{guard, outcome, source, upload, verify};
use d1_core::api::{self, Database, Status};
use d1_core::client::Client;
use d1_core::import::{self, ImportAnswer, ImportResult, Init};
use d1_core::msg::Progress;
use d1_core::retry::Policy;
use d1_core::{Error, ExitCode, Kind, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The server holds each poll (long poll), as for exports, and wrangler polls again at once;
/// this floor only guards against a server that answers instantly.
pub const POLL_FLOOR: Duration = Duration::from_millis(250);

/// How long the last poll after an interruption may take.
const LAST_LOOK: Duration = Duration::from_secs(3);

/// What the caller asked for besides the file and the database.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub into_nonempty: bool,
    pub verify_first: bool,
    pub policy: Policy,
}

/// A finished import.
#[derive(Debug)]
pub struct Done {
    pub db: Database,
    pub result: ImportResult,
    /// False when the server already had the file (same md5) and nothing was uploaded.
    pub uploaded: bool,
    pub compressed: bool,
    pub etag: String,
    /// What was rewritten for D1's import.
    pub rewritten: crate::rewrite::Counts,
}

impl Done {
    /// The server's `result` object (final_bookmark, num_queries, meta), with what d1-import knows
    /// besides: the database, the file, its md5, whether it was uploaded.
    pub fn to_json(&self, file: &Path) -> Value {
        let mut v = match &self.result.raw {
            Value::Object(_) => self.result.raw.clone(),
            _ => json!({}),
        };
        v["database"] = json!(self.db.uuid);
        v["database_id"] = json!(self.db.uuid);
        v["database_name"] = json!(self.db.name);
        v["file"] = json!(file.display().to_string());
        v["etag"] = json!(self.etag);
        v["uploaded"] = json!(self.uploaded);
        v["compressed"] = json!(self.compressed);
        let r = &self.rewritten;
        v["rewritten"] = json!({"split": r.split, "split_into": r.split_into,
            "transaction_dropped": r.dropped});
        if v.get("final_bookmark").is_none() {
            v["final_bookmark"] = json!(self.result.final_bookmark);
        }
        v
    }
}

/// Imports `file` into the database named `target` (a name or a UUID).
pub fn restore(c: &Client, target: &str, file: &Path, opts: Options) -> Result<Done> {
    // Cheap checks first, so that a typo costs no API call and no decompression.
    source::check(file)?;
    let db = api::resolve(c, target)?;
    // Rows already there: an import into a non-empty database adds the dump's to them.
    let before = if opts.into_nonempty {
        outcome::snapshot(c, &db)?
    } else {
        guard::refuse_nonempty(&db, &guard::tables(c, &db)?)?;
        outcome::Counts::new()
    };
    // d1-verify counts the dump's tables and rows: first with --verify-first (its verdict
    // decides), otherwise while the file uploads and imports.
    let verifier = verify::start(file)?;
    let verifier = if opts.verify_first {
        Ok(verifier.wait()?.gate(file)?)
    } else {
        Err(verifier)
    };
    let src = source::prepare(file)?;
    if src.counts.any() {
        d1_core::msg::info(&src.counts.describe(&file.display().to_string()));
    }
    let (first, uploaded, replayed) = match import::init(c, &db.uuid, &src.etag)
        .map_err(|e| e.context("starting the import (init)"))?
    {
        Init::Upload {
            filename,
            upload_url,
        } => {
            upload::upload(&upload_url, &src, c.deadline(), opts.policy)?;
            let ans = import::ingest(c, &db.uuid, &filename, &src.etag)
                .map_err(|e| e.context("starting the import (ingest)"))?;
            (ans, true, false)
        }
        Init::AlreadyUploaded(ans) => {
            // Answered as done at once: D1 replays the result of this file's earlier import.
            let replayed = ans.status == Status::Complete;
            d1_core::msg::info(&format!(
                "{}: already uploaded (md5 {}): not uploading it again, going on with the import",
                file.display(),
                src.etag
            ));
            (ans, false, replayed)
        }
    };
    let last = poll(c, &db, first)?;
    let verdict = match verifier {
        Ok(done) => done,
        Err(running) => running.wait()?,
    };
    outcome::check(c, &db, verdict.expected(file)?, &before, replayed)?;
    let result = last.result.clone().unwrap_or_else(|| ImportResult {
        final_bookmark: last.at_bookmark.clone(),
        ..ImportResult::default()
    });
    Ok(Done {
        db,
        result,
        uploaded,
        compressed: src.compressed,
        etag: src.etag.clone(),
        rewritten: src.counts,
    })
}

/// Polls with the latest bookmark until the import is complete; `status: "error"` is exit 1.
fn poll(c: &Client, db: &Database, first: ImportAnswer) -> Result<ImportAnswer> {
    let mut ans = first;
    let mut bookmark: Option<String> = None;
    let mut progress = Progress::new();
    let mut sent = Instant::now();
    loop {
        match ans.status {
            Status::Complete => return Ok(ans),
            Status::Error => {
                return Err(Error::failed(format!(
                    "the import into {} ({}) failed and the database was left unchanged \
                     (D1 imports are all or nothing): {}",
                    db.name,
                    db.uuid,
                    ans.describe_failure()
                )))
            }
            Status::Running => {}
        }
        if let Some(b) = ans.at_bookmark.take() {
            d1_core::export::check_bookmark(&b)
                .map_err(|e| Error::failed(e.message).context("the import API's bookmark"))?;
            bookmark = Some(b);
        }
        let Some(b) = bookmark.as_deref() else {
            return Err(Error::failed(
                "the import API answered an import in progress without a bookmark to poll",
            ));
        };
        if let Some(m) = ans.messages.last() {
            progress.update(|| format!("importing into {}: {m}", db.name));
        }
        let since = sent.elapsed();
        let next = (|| {
            if since < POLL_FLOOR {
                d1_core::retry::sleep(POLL_FLOOR - since, c.deadline(), "waiting for the import")?;
            }
            sent = Instant::now();
            import::poll(c, &db.uuid, b).map_err(|e| e.context("polling the import"))
        })();
        ans = match next {
            Err(e) if e.code() == ExitCode::Interrupted => return last_look(c, db, b),
            other => other?,
        };
    }
}

/// Interrupted while polling: the import was handed to D1 and runs there whatever the client
/// does, so it may be complete already. One short poll tells: complete is the import's record
/// and exit 0 (saying "interrupted" would hide a finished import); otherwise exit 130, saying
/// that the import goes on.
fn last_look(c: &Client, db: &Database, bookmark: &str) -> Result<ImportAnswer> {
    d1_core::signal::clear();
    match import::poll(&c.impatient(LAST_LOOK), &db.uuid, bookmark) {
        Ok(ans) if ans.status == Status::Complete => Ok(ans),
        _ => {
            d1_core::signal::raise();
            Err(Error::new(
                Kind::Interrupted,
                format!(
                    "interrupted while waiting for the import into {} ({}); the import was \
                     already handed to D1, goes on there and is not cancelled: check the \
                     database before importing again",
                    db.name, db.uuid
                ),
            ))
        }
    }
}
