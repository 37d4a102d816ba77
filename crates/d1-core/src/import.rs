//! The import endpoint (docs/d1-emulator.md, "Import"): init, ingest and poll, with their answers
//! decoded tolerantly. The upload itself goes to the object store's signed URL, not to this API,
//! and lives with the tool that streams it (d1-import).

use crate::api::Status;
use crate::client::Client;
use crate::error::{Error, Result};
use serde_json::{json, Value};

/// What `init` answered.
#[derive(Debug, Clone)]
pub enum Init {
    /// Upload the file to `upload_url`, then ingest `filename`.
    Upload {
        filename: String,
        upload_url: String,
    },
    /// The same file (same md5) was uploaded before: the server answers with a polling
    /// response straight away (wrangler: "File already uploaded. Processing.").
    AlreadyUploaded(ImportAnswer),
}

/// The counts of a complete import (`result` of the last answer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportResult {
    pub final_bookmark: Option<String>,
    pub num_queries: Option<u64>,
    pub rows_read: Option<u64>,
    pub rows_written: Option<u64>,
    /// The whole `result` object, for `--json`.
    pub raw: Value,
}

/// One polling answer of the import endpoint (`type: "import"`).
#[derive(Debug, Clone)]
pub struct ImportAnswer {
    pub status: Status,
    pub at_bookmark: Option<String>,
    pub messages: Vec<String>,
    /// `errors` (strings), and `error` when the server gave a single one.
    pub errors: Vec<String>,
    /// Present once `status` is complete.
    pub result: Option<ImportResult>,
    pub raw: Value,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| match m {
                Value::String(s) => s.clone(),
                // Tolerate `{code, message}` objects like the envelope's.
                other => other
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| other.to_string()),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl ImportAnswer {
    pub fn from_json(v: Value) -> ImportAnswer {
        let status = match v.get("status").and_then(Value::as_str) {
            Some("complete") => Status::Complete,
            Some("error") => Status::Error,
            _ => Status::Running,
        };
        // wrangler treats `success: false` as a failure whatever the status says.
        let failed = v.get("success").and_then(Value::as_bool) == Some(false);
        let mut errors = strings(v.get("errors"));
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            if !errors.iter().any(|x| x == e) {
                errors.insert(0, e.to_string());
            }
        }
        let result = match (&status, v.get("result")) {
            (Status::Complete, Some(r)) if r.is_object() => {
                let meta = r.get("meta");
                let meta_u64 = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_u64);
                Some(ImportResult {
                    final_bookmark: r
                        .get("final_bookmark")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    num_queries: r.get("num_queries").and_then(Value::as_u64),
                    rows_read: meta_u64("rows_read"),
                    rows_written: meta_u64("rows_written"),
                    raw: r.clone(),
                })
            }
            _ => None,
        };
        ImportAnswer {
            status: if failed { Status::Error } else { status },
            at_bookmark: v
                .get("at_bookmark")
                .and_then(Value::as_str)
                .map(str::to_string),
            messages: strings(v.get("messages")),
            errors,
            result,
            raw: v,
        }
    }

    /// The server's errors on one line, else its messages, else a generic sentence.
    pub fn describe_failure(&self) -> String {
        let errs: Vec<&str> = self
            .errors
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .collect();
        if !errs.is_empty() {
            return errs.join("; ");
        }
        let msgs: Vec<&str> = self
            .messages
            .iter()
            .map(|m| m.trim())
            .filter(|m| !m.is_empty())
            .collect();
        if msgs.is_empty() {
            "the import ended with status error and no error message".to_string()
        } else {
            msgs.join("; ")
        }
    }
}

fn import_url(c: &Client, uuid: &str) -> String {
    format!("{}/{uuid}/import", c.d1_url())
}

/// Step 1: announces a file by its md5 (lowercase hex).
pub fn init(c: &Client, uuid: &str, etag: &str) -> Result<Init> {
    let ans = c.post(
        &import_url(c, uuid),
        &json!({"action": "init", "etag": etag}),
    )?;
    let r = ans.result;
    let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    match (s("upload_url"), s("filename")) {
        (Some(upload_url), Some(filename)) => Ok(Init::Upload {
            filename,
            upload_url,
        }),
        (Some(_), None) => Err(Error::failed(
            "import init answered an upload URL without a filename",
        )),
        _ if r.get("status").is_some() || r.get("at_bookmark").is_some() => {
            Ok(Init::AlreadyUploaded(ImportAnswer::from_json(r)))
        }
        _ => Err(Error::failed(
            "import init answered neither an upload URL nor an import in progress",
        )),
    }
}

/// Step 3: starts the import of an uploaded file.
pub fn ingest(c: &Client, uuid: &str, filename: &str, etag: &str) -> Result<ImportAnswer> {
    let ans = c.post(
        &import_url(c, uuid),
        &json!({"action": "ingest", "filename": filename, "etag": etag}),
    )?;
    Ok(ImportAnswer::from_json(ans.result))
}

/// Step 4: asks how the import stands, with the latest bookmark received.
pub fn poll(c: &Client, uuid: &str, bookmark: &str) -> Result<ImportAnswer> {
    let ans = c.post(
        &import_url(c, uuid),
        &json!({"action": "poll", "current_bookmark": bookmark}),
    )?;
    Ok(ImportAnswer::from_json(ans.result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_answer_carries_the_bookmark_and_the_counts() {
        let a = ImportAnswer::from_json(json!({"success":true,"type":"import","status":"complete",
            "at_bookmark":"b1","messages":["Import complete"],
            "result":{"final_bookmark":"fb","num_queries":7,
                      "meta":{"rows_read":3,"rows_written":5,"served_by":"x"}}}));
        assert_eq!(a.status, Status::Complete);
        let r = a.result.unwrap();
        assert_eq!(r.final_bookmark.as_deref(), Some("fb"));
        assert_eq!(r.num_queries, Some(7));
        assert_eq!(r.rows_written, Some(5));
        assert_eq!(r.raw["meta"]["served_by"], "x");
    }

    #[test]
    fn an_error_answer_lists_the_server_errors_once() {
        let a = ImportAnswer::from_json(json!({"success":false,"status":"error",
            "error":"no such table: t","errors":["no such table: t","second"]}));
        assert_eq!(a.status, Status::Error);
        assert_eq!(a.describe_failure(), "no such table: t; second");
        let b = ImportAnswer::from_json(json!({"success":false,"status":"active"}));
        assert_eq!(b.status, Status::Error);
        assert_eq!(
            b.describe_failure(),
            "the import ended with status error and no error message"
        );
    }

    #[test]
    fn unknown_status_is_still_running() {
        let a = ImportAnswer::from_json(json!({"status":"queued","at_bookmark":"b"}));
        assert_eq!(a.status, Status::Running);
        assert_eq!(a.at_bookmark.as_deref(), Some("b"));
        assert!(a.result.is_none());
    }
}
