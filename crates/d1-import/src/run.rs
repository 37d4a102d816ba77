//! Where the inputs come from (a FILE argument, or `PATH` / `DATABASE_ID PATH` lines on stdin)
//! and what goes to stdout: one record line, or one JSON object, per finished import.

use crate::args::Args;
use crate::restore::{self, Done, Options};
use d1_core::pipe;
use d1_core::record;
use d1_core::{Error, ExitCode, Kind, Result};
use std::path::Path;

pub fn run(a: Args) -> Result<ExitCode> {
    let (cfg, client) = a.common.client()?;
    let opts = Options {
        into_nonempty: a.into_nonempty,
        verify_first: a.verify_first,
        policy: a.common.policy(),
    };
    if let (true, Some(name)) = (a.create, a.database.as_deref()) {
        ensure_exists(&client, name)?;
    }
    let default_db = a.database.clone().or(cfg.database.clone());
    let no_db =
        || Error::usage("no database to import into: give --database DB or set D1_DATABASE_ID");
    if let Some(b) = &a.undo {
        let target = default_db.ok_or_else(no_db)?;
        crate::timetravel::undo(&client, &target, b, a.common.json)?;
        return Ok(ExitCode::Ok);
    }
    let rewind = |target: &str, file: &Path, bookmark: Option<&str>| {
        let json = a.common.json;
        crate::timetravel::rewind(&client, target, file, opts, bookmark, a.dry_run, json)
    };
    if let Some(file) = &a.file {
        let target = default_db.ok_or_else(no_db)?;
        if a.rewind {
            rewind(&target, file, None)?;
            return Ok(ExitCode::Ok);
        }
        let done = restore::restore(&client, &target, file, opts)?;
        print(&done, file, a.common.json)?;
        return Ok(ExitCode::Ok);
    }
    let opts_in = pipe::Options {
        kind: pipe::PATH,
        allow_empty: a.common.allow_empty,
    };
    pipe::run(opts_in, |rec| {
        let n = rec.line;
        if rec.database.is_none() {
            // d1-verify's `OK PATH` line names no database; the dump's manifest does, and a
            // restore must not land in another database without --retarget.
            from_manifest(rec);
        }
        let target = match (&rec.database, &a.database) {
            (Some(from), Some(given)) if from != given && !a.retarget => {
                same_database(&client, from, given).map_err(|e| e.context(format!("line {n}")))?;
                given.clone()
            }
            (_, Some(given)) if a.retarget => given.clone(),
            (Some(from), _) => from.clone(),
            (None, _) => default_db
                .clone()
                .ok_or_else(no_db)
                .map_err(|e| e.context(format!("line {n}")))?,
        };
        if a.retarget || rec.database.is_none() {
            // The failure record names where the import went.
            let is_id = d1_core::api::is_uuid(&target);
            rec.database = is_id.then(|| target.clone());
            rec.name = (!is_id).then(|| target.clone());
        }
        let file = Path::new(&rec.value);
        if a.rewind {
            rewind(&target, file, rec.bookmark.as_deref())
                .map_err(|e| e.context(format!("line {n}")))?;
            return Ok(ExitCode::Ok);
        }
        let done = restore::restore(&client, &target, file, opts)
            .map_err(|e| e.context(format!("line {n}")))?;
        print(&done, file, a.common.json)?;
        Ok(ExitCode::Ok)
    })
}

/// The database id and name of the manifest beside the record's dump, if any.
fn from_manifest(rec: &mut d1_core::record::Record) {
    let side = d1_archive::names::manifest_path(Path::new(&rec.value));
    if let Ok(Some(m)) = d1_archive::Manifest::load(&side) {
        rec.database = m.database_id().map(str::to_string);
        rec.name = rec
            .name
            .take()
            .or_else(|| m.database_name().map(str::to_string));
    }
}

/// `--create`: makes the database when the account has none of that name. An existing one is
/// left to the usual checks (a database that holds tables is refused without --into-nonempty).
fn ensure_exists(client: &d1_core::client::Client, name: &str) -> Result<()> {
    match d1_core::api::resolve(client, name) {
        Ok(_) => Ok(()),
        Err(e) if e.kind == Kind::NotFound => {
            let db = d1_core::api::create_database(client, name)?;
            d1_core::msg::info(&format!("created database {name} ({})", db.uuid));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A record's database and `--database` may name one database two ways (id and name); two
/// different databases are a usage error: the user must say which wins (`--retarget`).
fn same_database(client: &d1_core::client::Client, from: &str, given: &str) -> Result<()> {
    let a = d1_core::api::resolve(client, from)?;
    let b = d1_core::api::resolve(client, given)?;
    if a.uuid == b.uuid {
        return Ok(());
    }
    Err(Error::usage(format!(
        "the record is for database {from} but --database says {given}: add --retarget to \
         import into {given} anyway, or drop --database"
    )))
}

/// `DATABASE_ID NAME FINAL_BOOKMARK num_queries=N rows_written=M`, or the whole result as JSON.
fn print(done: &Done, file: &Path, json_out: bool) -> Result<()> {
    let r = &done.result;
    let bookmark = r.final_bookmark.as_deref().unwrap_or("-");
    if json_out {
        record::emit_json(&done.to_json(file))
    } else {
        let count = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        record::emit(&[
            &done.db.uuid,
            &pipe::safe_field(&done.db.name),
            bookmark,
            &format!("num_queries={}", count(r.num_queries)),
            &format!("rows_written={}", count(r.rows_written)),
        ])
    }
}
