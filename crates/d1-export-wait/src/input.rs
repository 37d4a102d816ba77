//! Input records: `DATABASE_ID BOOKMARK` or a bare `BOOKMARK` (of `--database` or
//! D1_DATABASE_ID), each checked and turned into a [`Job`] that names where it came from.

use d1_core::{record, Error, Result};
use std::time::Instant;

/// One export to poll, with what the polling has learnt so far.
#[derive(Debug, Clone)]
pub struct Job {
    /// `line 3` or `argument`, for messages about the input.
    pub source: String,
    /// The database as given: a UUID, or a name still to be resolved.
    pub database: String,
    /// The bookmark as given, reported in `--json`.
    pub given_bookmark: String,
    /// The latest bookmark received: always the one sent back (d1-api.md, "Export").
    pub bookmark: String,
    /// Poll answers received.
    pub polls: u32,
    pub first_poll: Option<Instant>,
    pub last_answer: Option<Instant>,
    /// The last progress message (`Uploaded part N`), for the progress line.
    pub last_message: Option<String>,
}

/// Parses line `line` (or the argument when `line` is `None`) into a job.
pub fn job(line: Option<usize>, text: &str, default_db: Option<&str>) -> Result<Job> {
    let source = match line {
        Some(n) => format!("line {n}"),
        None => "argument".to_string(),
    };
    let in_source = |e: Error| match line {
        Some(_) => e,
        // record::parse names a line; an argument has none.
        None => Error::new(
            e.code,
            format!(
                "argument: {}",
                e.message.strip_prefix("line 1: ").unwrap_or(&e.message)
            ),
        ),
    };
    let rec = if text.trim_start().starts_with('{') {
        from_json(&source, text)?
    } else {
        record::parse(line.unwrap_or(1), text, "bookmark").map_err(in_source)?
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
    Ok(Job {
        source,
        database,
        given_bookmark: rec.value.clone(),
        bookmark: rec.value,
        polls: 0,
        first_poll: None,
        last_answer: None,
        last_message: None,
    })
}

/// A line of `d1-export-start --json`, so that its JSON output can be piped in too.
fn from_json(source: &str, text: &str) -> Result<record::Record> {
    let bad = || {
        Error::usage(format!(
            "{source}: a JSON record needs a \"bookmark\" string (and a \"database_id\")"
        ))
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let value = field("bookmark").ok_or_else(bad)?;
    Ok(record::Record {
        line: 0,
        database: field("database_id").filter(|d| !d.trim().is_empty()),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_core::ExitCode;

    #[test]
    fn a_two_field_line_names_its_own_database() {
        let j = job(Some(2), "db-1 bm-1", Some("other")).unwrap();
        assert_eq!((j.database.as_str(), j.bookmark.as_str()), ("db-1", "bm-1"));
        assert_eq!(j.source, "line 2");
    }

    #[test]
    fn a_bare_bookmark_takes_the_default_database_or_fails_naming_the_line() {
        assert_eq!(job(Some(1), "bm", Some("prod")).unwrap().database, "prod");
        let e = job(Some(4), "bm", None).unwrap_err();
        assert_eq!(e.code, ExitCode::Usage);
        assert_eq!(
            e.message,
            "line 4: a bare bookmark and no database: give --database DB or set D1_DATABASE_ID"
        );
        let e = job(None, "bm", None).unwrap_err();
        assert!(
            e.message.starts_with("argument: a bare bookmark"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_json_line_of_d1_export_start_is_accepted() {
        let j = job(
            Some(1),
            r#"{"database_id":"db-1","bookmark":"bm-1","name":"x"}"#,
            None,
        )
        .unwrap();
        assert_eq!((j.database.as_str(), j.bookmark.as_str()), ("db-1", "bm-1"));
        let e = job(Some(2), r#"{"database_id":"db-1"}"#, None).unwrap_err();
        assert_eq!(
            e.message,
            r#"line 2: a JSON record needs a "bookmark" string (and a "database_id")"#
        );
        assert!(job(Some(3), "{not json", None).is_err());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let e = job(Some(3), "a b c", None).unwrap_err();
        assert_eq!(
            e.message,
            "line 3: expected 'DATABASE_ID BOOKMARK' or 'BOOKMARK', got 3 fields"
        );
        let e = job(None, "a b c", None).unwrap_err();
        assert_eq!(
            e.message,
            "argument: expected 'DATABASE_ID BOOKMARK' or 'BOOKMARK', got 3 fields"
        );
        let long = format!("db {}", "b".repeat(2000));
        let e = job(Some(5), &long, None).unwrap_err();
        assert_eq!(e.message, "line 5: bookmark longer than 1024 characters");
    }
}
