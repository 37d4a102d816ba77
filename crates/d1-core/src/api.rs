//! The D1 endpoints the tools use (docs/d1-emulator.md): databases, query, export. Results are
//! decoded tolerantly: unknown fields are ignored, missing optional ones are `None`.

use crate::client::Client;
use crate::error::{Error, Result};
use serde_json::{json, Value};

/// One entry of the database list.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub uuid: String,
    pub name: String,
    pub file_size: Option<u64>,
    pub num_tables: Option<u64>,
}

impl Database {
    fn from_json(v: &Value) -> Result<Database> {
        let uuid = v
            .get("uuid")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::failed("database entry without a uuid in the API answer"))?;
        // It travels as one field of a record line and becomes part of file names.
        if uuid.is_empty() || !uuid.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::failed(format!(
                "the API answered a database uuid with spaces or control characters: {:?}",
                crate::msg::printable(uuid)
            )));
        }
        Ok(Database {
            uuid: uuid.to_string(),
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            file_size: v.get("file_size").and_then(Value::as_u64),
            num_tables: v.get("num_tables").and_then(Value::as_u64),
        })
    }
}

/// Whether `s` looks like a D1 database id (a UUID), as opposed to a name.
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Percent-encodes a query value (names may hold anything).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Databases a list page asks for (D1 takes 10 to 10,000): a thousand keeps an account of
/// 1,000 databases to one request and a page's answer small.
const PER_PAGE: usize = 1000;
/// D1's limit is 1,000,000 databases an account, 1,000 pages: a listing that has not ended by
/// twice that is a server that never gives a short page, an error rather than a silent cut.
const MAX_PAGES: usize = 2000;

/// Lists databases (all pages), filtered by `name` on the server when given.
pub fn list_databases(c: &Client, name: Option<&str>) -> Result<Vec<Database>> {
    let mut all = Vec::new();
    for page in 1..=MAX_PAGES {
        let mut url = format!("{}?page={page}&per_page={PER_PAGE}", c.d1_url());
        if let Some(n) = name {
            url.push_str(&format!("&name={}", encode(n)));
        }
        let ans = c.get(&url).map_err(|e| e.context("listing databases"))?;
        let items = ans.result.as_array().cloned().unwrap_or_default();
        for it in &items {
            all.push(Database::from_json(it)?);
        }
        if items.len() < PER_PAGE {
            return Ok(all);
        }
    }
    Err(Error::failed(format!(
        "listing databases: the list had not ended after {MAX_PAGES} pages of {PER_PAGE} \
         ({} databases); refusing to go on with a list that may be incomplete",
        all.len()
    )))
}

pub fn get_database(c: &Client, uuid: &str) -> Result<Database> {
    let ans = c
        .get(&format!("{}/{uuid}", c.d1_url()))
        .map_err(|e| e.context(format!("database {uuid}")))?;
    Database::from_json(&ans.result)
}

/// Creates a database (`POST …/d1/database {"name"}`), for a restore into a new one.
pub fn create_database(c: &Client, name: &str) -> Result<Database> {
    let ans = c
        .post(c.d1_url(), &json!({ "name": name }))
        .map_err(|e| e.context(format!("creating database {name:?}")))?;
    Database::from_json(&ans.result)
}

/// Resolves a UUID or a name to a database. An unknown or ambiguous name is exit 2.
pub fn resolve(c: &Client, name_or_uuid: &str) -> Result<Database> {
    if is_uuid(name_or_uuid) {
        return get_database(c, name_or_uuid);
    }
    // The server's name filter may match more loosely than equality: keep exact matches.
    let found: Vec<Database> = list_databases(c, Some(name_or_uuid))?
        .into_iter()
        .filter(|d| d.name == name_or_uuid)
        .collect();
    match found.len() {
        0 => Err(Error::not_found(format!(
            "no database named {name_or_uuid:?}{}",
            suggest(c, name_or_uuid)
        ))),
        1 => found
            .into_iter()
            .next()
            .ok_or_else(|| Error::failed("database list changed while reading it")),
        n => Err(Error::usage(format!(
            "{n} databases are named {name_or_uuid:?}; name one by its id: {}",
            found
                .iter()
                .map(|d| d.uuid.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `; did you mean "prod-db"?` when the account has databases with close names (a typo in a
/// crontab is the usual cause); nothing when there are none or the list cannot be read.
fn suggest(c: &Client, name: &str) -> String {
    let Ok(all) = list_databases(c, None) else {
        return String::new();
    };
    let mut close: Vec<(usize, String)> = all
        .into_iter()
        .map(|d| {
            (
                distance(&d.name.to_lowercase(), &name.to_lowercase()),
                d.name,
            )
        })
        .filter(|(dist, n)| *dist <= (n.chars().count() / 3).max(2))
        .collect();
    close.sort();
    let names: Vec<String> = close
        .into_iter()
        .take(3)
        .map(|(_, n)| format!("{n:?}"))
        .collect();
    match names.len() {
        0 => String::new(),
        _ => format!("; did you mean {}?", names.join(" or ")),
    }
}

/// Levenshtein distance, for the suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Runs SQL through the `query` endpoint; one entry per statement, each its rows as objects.
pub fn query(c: &Client, uuid: &str, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>> {
    let ans = c.post(
        &format!("{}/{uuid}/query", c.d1_url()),
        &json!({"sql": sql, "params": params}),
    )?;
    let stmts = ans
        .result
        .as_array()
        .ok_or_else(|| Error::failed("query answer without a result array"))?;
    Ok(stmts
        .iter()
        .map(|s| {
            s.get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect())
}

/// `dump_options` of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpOptions {
    pub no_data: bool,
    pub no_schema: bool,
    pub tables: Vec<String>,
}

impl DumpOptions {
    pub fn to_json(&self) -> Value {
        let mut o = json!({"no_data": self.no_data, "no_schema": self.no_schema});
        if !self.tables.is_empty() {
            o["tables"] = json!(self.tables);
        }
        o
    }
}

/// Where an export (or import) stands. Anything but `complete` and `error` is still running
/// (docs/d1-emulator.md, "Export": the reference lists two values, wrangler adds `active`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    Complete,
    Error,
}

/// One answer of the export endpoint.
#[derive(Debug, Clone)]
pub struct ExportAnswer {
    pub status: Status,
    pub at_bookmark: Option<String>,
    pub messages: Vec<String>,
    pub error: Option<String>,
    pub filename: Option<String>,
    pub signed_url: Option<String>,
    pub raw: Value,
}

impl ExportAnswer {
    pub fn from_json(v: Value) -> ExportAnswer {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let status = match v.get("status").and_then(Value::as_str) {
            Some("complete") => Status::Complete,
            Some("error") => Status::Error,
            _ => Status::Running,
        };
        // `success: false` with an error string is a failure, not a retry (docs/d1-emulator.md).
        let failed = v.get("success").and_then(Value::as_bool) == Some(false);
        let inner = v.get("result");
        let inner_s = |k: &str| {
            inner
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        ExportAnswer {
            status: if failed { Status::Error } else { status },
            at_bookmark: s("at_bookmark"),
            messages: v
                .get("messages")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            error: s("error"),
            filename: inner_s("filename"),
            signed_url: inner_s("signed_url"),
            raw: v,
        }
    }
}

/// Starts an export (no bookmark) or polls one (the latest bookmark received).
pub fn export(
    c: &Client,
    uuid: &str,
    bookmark: Option<&str>,
    opts: &DumpOptions,
) -> Result<ExportAnswer> {
    let mut body = json!({"output_format": "polling", "dump_options": opts.to_json()});
    if let Some(b) = bookmark {
        body["current_bookmark"] = json!(b);
    }
    let ans = c.post(&format!("{}/{uuid}/export", c.d1_url()), &body)?;
    Ok(ExportAnswer::from_json(ans.result))
}

/// `GET …/time_travel/bookmark[?timestamp=]`: the database's current bookmark, or the one at
/// or before `timestamp` (RFC 3339 or Unix seconds).
pub fn bookmark(c: &Client, uuid: &str, timestamp: Option<&str>) -> Result<String> {
    let mut url = format!("{}/{uuid}/time_travel/bookmark", c.d1_url());
    if let Some(t) = timestamp {
        url.push_str(&format!("?timestamp={}", encode(t)));
    }
    let ans = c.get(&url)?;
    let b = ans.result["bookmark"]
        .as_str()
        .ok_or_else(|| Error::failed("the Time Travel answer has no bookmark"))?;
    bookmark_of(b, "the Time Travel answer")?;
    Ok(b.to_string())
}

/// What a Time Travel restore answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The database's bookmark after the restore.
    pub bookmark: String,
    /// Its bookmark before: restoring to it undoes the restore.
    pub previous_bookmark: Option<String>,
    pub message: Option<String>,
}

/// `POST …/time_travel/restore?bookmark=…`: rewinds the database in place. `Ok(Err(reason))`
/// when D1 refused the bookmark itself (outside the window, unknown: a 4xx other than
/// credentials, not found and rate limit), so that the caller can take another way back.
pub fn restore(c: &Client, uuid: &str, bookmark: &str) -> Result<Result<Restored, String>> {
    let url = format!(
        "{}/{uuid}/time_travel/restore?bookmark={}",
        c.d1_url(),
        encode(bookmark)
    );
    let ans = match c.call("POST", &url, None) {
        Ok(a) => a,
        Err(e) if refused(&e) => return Ok(Err(e.message)),
        Err(e) => return Err(e),
    };
    let s = |k: &str| ans.result[k].as_str().map(str::to_string);
    let new = s("bookmark").ok_or_else(|| Error::failed("the restore answer has no bookmark"))?;
    for b in [Some(&new), s("previous_bookmark").as_ref()]
        .into_iter()
        .flatten()
    {
        bookmark_of(b, "the restore answer")?;
    }
    Ok(Ok(Restored {
        bookmark: new,
        previous_bookmark: s("previous_bookmark"),
        message: s("message"),
    }))
}

/// A bookmark from a Time Travel answer: it travels as one field of a record line.
fn bookmark_of(b: &str, what: &str) -> Result<()> {
    if b != "-" && crate::record::looks_like_bookmark(b) {
        return Ok(());
    }
    Err(Error::failed(format!(
        "{what} holds {:?}, which is not a D1 bookmark",
        crate::msg::printable(b)
    )))
}

/// A 4xx answer that is about the request (the client's `api_error` makes those `Failed`, with
/// the envelope's `HTTP 4xx: …` description), not about credentials, existence or pace.
fn refused(e: &Error) -> bool {
    e.kind == crate::Kind::Failed && e.message.starts_with("HTTP 4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_uuid_that_would_split_a_record_is_refused() {
        let e = Database::from_json(&json!({"uuid": "a\nforged-id", "name": "x"})).unwrap_err();
        assert_eq!(e.code(), crate::ExitCode::Failed);
        assert!(!e.message.contains('\n'));
        assert!(Database::from_json(&json!({"uuid": "a b"})).is_err());
        assert!(Database::from_json(&json!({"uuid": "0c7fd0a4-6d3e"})).is_ok());
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("prod-db", "prod-dbb"), 1);
        assert_eq!(distance("prod-db", "prdo-db"), 2);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn uuids_are_told_from_names() {
        assert!(is_uuid("0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a11"));
        assert!(!is_uuid("prod-db"));
        assert!(!is_uuid("0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a1z"));
    }

    #[test]
    fn export_answer_reads_complete_and_error_and_unknown_status() {
        let a = ExportAnswer::from_json(json!({"status":"complete","at_bookmark":"b",
            "result":{"filename":"f.sql","signed_url":"https://x/f.sql?s=1"}}));
        assert_eq!(a.status, Status::Complete);
        assert_eq!(a.signed_url.as_deref(), Some("https://x/f.sql?s=1"));
        let e = ExportAnswer::from_json(json!({"success":false,"status":"active","error":"boom"}));
        assert_eq!(e.status, Status::Error);
        let r = ExportAnswer::from_json(json!({"status":"queued"}));
        assert_eq!(r.status, Status::Running);
    }
}
