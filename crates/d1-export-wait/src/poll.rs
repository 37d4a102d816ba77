//! One poll of one export: send the latest bookmark, read the answer, and either keep the job
//! running, print its signed URL, or fail with a message that names the database.

use crate::input::Job;
use d1_core::api::{self, Database, DumpOptions, Status};
use d1_core::client::Client;
use d1_core::msg::Progress;
use d1_core::{record, Error, ExitCode, Result};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The server holds each poll (long poll) and wrangler polls again at once; this floor only
/// guards against a server that answers instantly (docs/d1-emulator.md, "Export").
pub const POLL_FLOOR: Duration = Duration::from_millis(250);

/// The longest wait between two polls of one export. Each poll costs a request of the account's
/// budget (1200 per 5 minutes), and D1 cancels an export nobody polls for a while (seconds, the
/// emulator's default is 5): an export still running after its first polls is polled once a
/// second, no more, no less.
pub const POLL_MAX: Duration = Duration::from_secs(1);

/// The time between the sending of two polls of an export running for `elapsed`: the floor for
/// its first second, growing with its age to [`POLL_MAX`] by its fourth. A small export
/// completes within its first polls; a long one costs one request a second, not four. Counted
/// from when the poll was sent, so a poll the server held that long goes again at once.
pub fn next_interval(elapsed: Duration) -> Duration {
    (elapsed / 4).clamp(POLL_FLOOR, POLL_MAX)
}

/// What every worker shares.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
    pub progress: Mutex<Progress>,
    /// Databases named by name, resolved once.
    resolved: Mutex<HashMap<String, Database>>,
    /// Sizes of the account's databases for `--json`, from one reading of the list, when the
    /// input did not carry them (`None`: not read yet).
    sizes: Mutex<Option<HashMap<String, Option<u64>>>>,
}

impl Ctx {
    pub fn new(client: Client, json: bool) -> Ctx {
        Ctx {
            client,
            json,
            progress: Mutex::new(Progress::new()),
            resolved: Mutex::new(HashMap::new()),
            sizes: Mutex::new(None),
        }
    }

    /// The UUID of a database given as a UUID or a name (names looked up once).
    fn uuid_of(&self, db: &str) -> Result<String> {
        if api::is_uuid(db) {
            return Ok(db.to_string());
        }
        if let Some(d) = lock(&self.resolved).get(db) {
            return Ok(d.uuid.clone());
        }
        let d = api::resolve(&self.client, db)?;
        let uuid = d.uuid.clone();
        lock(&self.resolved).insert(db.to_string(), d);
        Ok(uuid)
    }

    /// The database's size for `--json`, if the API says: from the input (d1-export-start
    /// --json), a name resolved here, or the account's list read once for the whole run (not
    /// one request per database). A failure here must not fail an export that completed.
    fn file_size(&self, job: &Job, uuid: &str) -> Option<u64> {
        if job.file_size.is_some() {
            return job.file_size;
        }
        if let Some(d) = lock(&self.resolved).get(&job.database) {
            return d.file_size;
        }
        let mut sizes = lock(&self.sizes);
        let sizes = sizes.get_or_insert_with(|| {
            api::list_databases(&self.client, None)
                .map(|all| all.into_iter().map(|d| (d.uuid, d.file_size)).collect())
                .unwrap_or_default()
        });
        sizes.get(uuid).copied().flatten()
    }
}

/// A poisoned lock only means another worker panicked; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Polls `job` once. `Ok(false)`: still running; `Ok(true)`: complete and printed.
pub fn poll_once(ctx: &Ctx, job: &mut Job) -> Result<bool> {
    let uuid = ctx
        .uuid_of(&job.database)
        .map_err(|e| e.context(&job.source))?;
    step(ctx, job, &uuid).map_err(|e| explain(e, ctx, job, &uuid))
}

/// Polls once, when the pool found the job due (pool.rs keeps the schedule).
fn step(ctx: &Ctx, job: &mut Job, uuid: &str) -> Result<bool> {
    let deadline = ctx.client.deadline();
    if deadline.expired() {
        return Err(Error::temporary("deadline reached (--timeout)"));
    }
    let first = *job.first_poll.get_or_insert_with(Instant::now);
    // Polls carry the default dump options: the export's own were fixed when it started.
    let before = d1_core::client::requests_sent_here();
    let sent = Instant::now();
    let ans = api::export(
        &ctx.client,
        uuid,
        Some(&job.bookmark),
        &DumpOptions::default(),
    );
    job.requests += d1_core::client::requests_sent_here() - before;
    let ans = ans?;
    job.polls += 1;
    job.last_answer = Some(Instant::now());
    job.interval = next_interval(first.elapsed());
    job.due = sent + job.interval;
    if let Some(b) = ans.at_bookmark.as_deref() {
        if d1_core::export::check_bookmark(b).is_ok() {
            job.bookmark = b.to_string();
        }
    }
    if let Some(m) = ans.messages.last() {
        job.last_message = Some(m.clone());
    }
    match ans.status {
        Status::Running => {
            let elapsed = first.elapsed().as_secs();
            let text = job.last_message.clone().unwrap_or_else(|| "running".into());
            let who = job.name.as_deref().unwrap_or_else(|| short(uuid));
            lock(&ctx.progress).update(|| format!("{who}: {text}, {elapsed}s"));
            Ok(false)
        }
        Status::Error => Err(Error::failed(format!(
            "export failed: {}",
            d1_core::export::describe_failure(&ans)
        ))),
        Status::Complete => {
            let url = ans.signed_url.as_deref().unwrap_or_default();
            if url.is_empty() {
                return Err(Error::failed(
                    "the export completed without a signed_url in the answer",
                ));
            }
            // A signed URL carries production data: https only (loopback for the emulator).
            // It becomes one field of a record line: a newline in it would forge a second record.
            d1_core::url::check(url).map_err(|e| {
                Error::failed(e.message).context("the signed URL the export API answered")
            })?;
            let out = if ctx.json {
                let mut rec = json!({
                    "database_id": uuid,
                    "database_name": job.name,
                    "bookmark": job.given_bookmark,
                    "at_bookmark": job.bookmark,
                    "filename": ans.filename,
                    "signed_url": url,
                    "elapsed_seconds": (first.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                    "polls": job.polls,
                    "requests": job.start_requests.unwrap_or(0) + job.requests,
                    "file_size": ctx.file_size(job, uuid),
                });
                if let Some(s) = &job.shard {
                    rec["shard"] = json!(s);
                }
                record::emit_json(&rec)
            } else {
                let name = job
                    .name
                    .as_deref()
                    .map_or("-".into(), d1_core::pipe::safe_field);
                record::emit(&[uuid, &name, &job.bookmark, url])
            };
            out.map(|()| true)
        }
    }
}

/// `0c7fd0a4…` for the progress line.
fn short(uuid: &str) -> &str {
    uuid.get(..8).unwrap_or(uuid)
}

/// Puts a failure in words a user can act on, naming the database.
fn explain(e: Error, ctx: &Ctx, job: &Job, uuid: &str) -> Error {
    let db = match job.name.as_deref() {
        Some(n) if n != uuid => format!("database {n} ({uuid})"),
        _ => format!("database {uuid}"),
    };
    match e.code() {
        _ if e.ends_run() => e,
        ExitCode::Temporary
            if ctx.client.deadline().expired() || e.message.contains("--timeout") =>
        {
            Error::temporary(format!(
                "{db}: export not complete when --timeout ran out ({} polls); start it again later",
                job.polls
            ))
        }
        // A 4xx on a poll (not auth): D1 no longer knows this bookmark, because the export was
        // cancelled for lack of polling, or never existed. Only a new export helps.
        ExitCode::Failed | ExitCode::Usage if e.message.starts_with("HTTP 4") => {
            Error::failed(format!(
                "{db}: export not found ({}); it was cancelled or never existed: start the export \
                 again and pipe d1-export-start into d1-export-wait at once (bookmarks are \
                 perishable: D1 cancels an export nobody polls)",
                e.message
            ))
        }
        _ => e.context(&db),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_young_export_is_polled_at_the_floor_an_old_one_once_a_second() {
        assert_eq!(next_interval(Duration::ZERO), POLL_FLOOR);
        assert_eq!(next_interval(Duration::from_millis(900)), POLL_FLOOR);
        assert_eq!(
            next_interval(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(next_interval(Duration::from_secs(4)), POLL_MAX);
        assert_eq!(next_interval(Duration::from_secs(3600)), POLL_MAX);
    }
}
