//! Where the inputs come from (a FILE argument, or `PATH` / `DATABASE_ID PATH` lines on stdin)
//! and what goes to stdout: one record line, or one JSON object, per finished import.

use crate::args::Args;
use crate::restore::{self, Done, Options};
use d1_core::record::{self, Lines};
use d1_core::{Error, ExitCode, Result};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::Path;

pub fn run(a: Args) -> Result<ExitCode> {
    let (cfg, client) = a.common.client()?;
    let opts = Options {
        into_nonempty: a.into_nonempty,
        verify_first: a.verify_first,
        policy: a.common.policy(),
    };
    let default_db = a.database.clone().or(cfg.database.clone());
    let no_db =
        || Error::usage("no database to import into: give --database DB or set D1_DATABASE_ID");
    if let Some(file) = &a.file {
        let target = default_db.ok_or_else(no_db)?;
        let done = restore::restore(&client, &target, file, opts)?;
        print(&done, file, a.common.json)?;
        return Ok(ExitCode::Ok);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::usage(
            "no FILE given and standard input is a terminal: give a FILE or pipe PATH lines \
             (try --help)",
        ));
    }
    let mut worst = ExitCode::Ok;
    let mut seen = false;
    for item in Lines::new(stdin.lock()) {
        seen = true;
        let outcome = item.and_then(|(n, text)| {
            let rec = record::parse(n, &text, "path")?;
            let target = rec
                .database
                .clone()
                .or_else(|| default_db.clone())
                .ok_or_else(no_db)
                .map_err(|e| e.context(format!("line {n}")))?;
            let file = Path::new(&rec.value);
            let done = restore::restore(&client, &target, file, opts)
                .map_err(|e| e.context(format!("line {n}")))?;
            print(&done, file, a.common.json)
        });
        match outcome {
            Ok(()) => {}
            // The reader of our stdout went away: stop quietly.
            Err(e) if e.code == ExitCode::Ok => return Err(e),
            Err(e) => {
                d1_core::msg::error(&e.message);
                worst = worst.worst(e.code);
                // The next lines would fail the same way, or the user asked us to stop.
                if matches!(e.code, ExitCode::Credentials | ExitCode::Interrupted) {
                    break;
                }
            }
        }
    }
    if !seen {
        return Err(Error::usage(
            "no input: give a FILE or pipe PATH lines on standard input (try --help)",
        ));
    }
    Ok(worst)
}

/// `DATABASE_ID FINAL_BOOKMARK num_queries=N rows_written=M`, or the whole result as JSON.
fn print(done: &Done, file: &Path, json_out: bool) -> Result<()> {
    let r = &done.result;
    let bookmark = r.final_bookmark.as_deref().unwrap_or("-");
    if json_out {
        record::emit_json(&to_json(done, file))
    } else {
        let count = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        record::emit(&[
            &done.db.uuid,
            bookmark,
            &format!("num_queries={}", count(r.num_queries)),
            &format!("rows_written={}", count(r.rows_written)),
        ])
    }
}

/// The server's `result` object (final_bookmark, num_queries, meta), with what d1-import knows
/// besides: the database, the file, its md5, whether it was uploaded.
fn to_json(done: &Done, file: &Path) -> Value {
    let mut v = match &done.result.raw {
        Value::Object(_) => done.result.raw.clone(),
        _ => json!({}),
    };
    v["database"] = json!(done.db.uuid);
    v["database_name"] = json!(done.db.name);
    v["file"] = json!(file.display().to_string());
    v["etag"] = json!(done.etag);
    v["uploaded"] = json!(done.uploaded);
    v["compressed"] = json!(done.compressed);
    if v.get("final_bookmark").is_none() {
        v["final_bookmark"] = json!(done.result.final_bookmark);
    }
    v
}
