//! Input records: `DATABASE_ID BOOKMARK` or a bare `BOOKMARK` (of `--database` or
//! D1_DATABASE_ID), each checked and turned into a [`Job`] that names where it came from.

use d1_core::pipe;
use d1_core::record::Record;
use d1_core::{Error, Result};
use std::time::{Duration, Instant};

/// One export to poll, with what the polling has learnt so far.
#[derive(Debug, Clone)]
pub struct Job {
    /// `line 3` or `argument`, for messages about the input.
    pub source: String,
    /// The database as given: a UUID, or a name still to be resolved.
    pub database: String,
    /// Its name, when known (from the record, or the database given by name).
    pub name: Option<String>,
    /// The bookmark as given, reported in `--json`.
    pub given_bookmark: String,
    /// The latest bookmark received: always the one sent back (docs/d1-emulator.md, "Export").
    pub bookmark: String,
    /// Poll answers received.
    pub polls: u32,
    pub first_poll: Option<Instant>,
    pub last_answer: Option<Instant>,
    /// The last progress message (`Uploaded part N`), for the progress line.
    pub last_message: Option<String>,
    /// When the next poll is due, and the time between the last two (poll.rs,
    /// [`crate::poll::next_interval`]).
    pub due: Instant,
    pub interval: Duration,
    /// API requests this export cost here (polls and their retries).
    pub requests: u64,
    /// What d1-export-start's `--json` line said: its requests for this database, the
    /// database's size, the shard.
    pub start_requests: Option<u64>,
    pub file_size: Option<u64>,
    pub shard: Option<String>,
}

/// Turns a bookmark record (of line `line`, or the argument when `line` is `None`) into a job.
pub fn job(line: Option<usize>, rec: Record, default_db: Option<&str>) -> Result<Job> {
    let source = match line {
        Some(n) => format!("line {n}"),
        None => "argument".to_string(),
    };
    d1_core::export::check_bookmark(&rec.value)
        .map_err(|e| Error::usage(format!("{source}: {}", e.message)))?;
    let database = match rec.database.as_deref().or(default_db) {
        Some(db) => db.to_string(),
        None => {
            return Err(Error::usage(format!(
            "{source}: a bare bookmark and no database: give --database DB or set D1_DATABASE_ID"
        )))
        }
    };
    // A database given by name is its own name until resolved.
    let name = rec
        .name
        .or_else(|| (!d1_core::api::is_uuid(&database)).then(|| database.clone()));
    let from_start = |k: &str| rec.json.as_ref().and_then(|v| v.get(k)).cloned();
    Ok(Job {
        source,
        database,
        name,
        given_bookmark: rec.value.clone(),
        bookmark: rec.value,
        polls: 0,
        first_poll: None,
        last_answer: None,
        last_message: None,
        due: Instant::now(),
        interval: Duration::ZERO,
        requests: 0,
        start_requests: from_start("requests").and_then(|v| v.as_u64()),
        file_size: from_start("file_size").and_then(|v| v.as_u64()),
        shard: from_start("shard").and_then(|v| v.as_str().map(str::to_string)),
    })
}

/// What one input line is: a bookmark to poll, or an upstream failure to pass on.
#[derive(Debug)]
pub enum Input {
    Job(Job),
    Failure(pipe::Failure),
}

/// Parses line `line` (or the argument when `line` is `None`).
pub fn read(line: Option<usize>, text: &str, default_db: Option<&str>) -> Result<Input> {
    let item = pipe::parse(line.unwrap_or(1), text, pipe::BOOKMARK).map_err(|e| match line {
        Some(_) => e,
        // record::parse names a line; an argument has none.
        None => Error::new(
            e.kind,
            format!(
                "argument: {}",
                e.message.strip_prefix("line 1: ").unwrap_or(&e.message)
            ),
        ),
    })?;
    match item {
        pipe::Item::Record(rec) => job(line, rec, default_db).map(Input::Job),
        pipe::Item::Failure(f) => Ok(Input::Failure(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_core::ExitCode;

    fn job_of(line: Option<usize>, text: &str, db: Option<&str>) -> Result<Job> {
        match read(line, text, db)? {
            Input::Job(j) => Ok(j),
            Input::Failure(f) => panic!("{f:?}"),
        }
    }

    #[test]
    fn a_two_field_line_names_its_own_database() {
        let j = job_of(Some(2), "db-1 bm-1", Some("other")).unwrap();
        assert_eq!((j.database.as_str(), j.bookmark.as_str()), ("db-1", "bm-1"));
        assert_eq!(j.source, "line 2");
    }

    #[test]
    fn a_three_field_line_carries_the_name() {
        let j = job_of(
            Some(1),
            "0f3c5a3e-1a2b-4c3d-8e9f-0a1b2c3d4e5f prod bm-1",
            None,
        )
        .unwrap();
        assert_eq!(j.name.as_deref(), Some("prod"));
        let j = job_of(Some(1), "prod bm-1", None).unwrap();
        assert_eq!(
            j.name.as_deref(),
            Some("prod"),
            "a name given as the database"
        );
    }

    #[test]
    fn a_failure_record_is_passed_on_not_polled() {
        match read(
            Some(1),
            "FAIL 2 d1-export-start - prod-dbb no database",
            None,
        )
        .unwrap()
        {
            Input::Failure(f) => assert_eq!(f.exit, ExitCode::Usage),
            Input::Job(j) => panic!("{j:?}"),
        }
    }

    #[test]
    fn a_bare_bookmark_takes_the_default_database_or_fails_naming_the_line() {
        assert_eq!(
            job_of(Some(1), "bm", Some("prod")).unwrap().database,
            "prod"
        );
        let e = job_of(Some(4), "bm", None).unwrap_err();
        assert_eq!(e.code(), ExitCode::Usage);
        assert_eq!(
            e.message,
            "line 4: a bare bookmark and no database: give --database DB or set D1_DATABASE_ID"
        );
        let e = job_of(None, "bm", None).unwrap_err();
        assert!(
            e.message.starts_with("argument: a bare bookmark"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_json_line_of_d1_export_start_is_accepted() {
        let j = job_of(
            Some(1),
            r#"{"database_id":"db-1","bookmark":"bm-1","name":"x"}"#,
            None,
        )
        .unwrap();
        assert_eq!((j.database.as_str(), j.bookmark.as_str()), ("db-1", "bm-1"));
        assert_eq!(j.name.as_deref(), Some("x"));
        let e = job_of(Some(2), r#"{"database_id":"db-1"}"#, None).unwrap_err();
        assert_eq!(
            e.message,
            r#"line 2: JSON record without a "bookmark" string"#
        );
        assert!(job_of(Some(3), "{not json", None).is_err());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = job_of(Some(3), "a b c d", None).unwrap_err();
        assert_eq!(
            e.message,
            "line 3: expected 'DATABASE_ID NAME BOOKMARK', 'DATABASE_ID BOOKMARK' or 'BOOKMARK', got 4 fields"
        );
        let e = job_of(None, "a b c d", None).unwrap_err();
        assert_eq!(
            e.message,
            "argument: expected 'DATABASE_ID NAME BOOKMARK', 'DATABASE_ID BOOKMARK' or 'BOOKMARK', got 4 fields"
        );
        let long = format!("db {}", "b".repeat(2000));
        let e = job_of(Some(5), &long, None).unwrap_err();
        assert_eq!(e.message, "line 5: bookmark longer than 1024 characters");
    }
}
