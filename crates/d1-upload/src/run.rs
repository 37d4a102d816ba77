//! One run: records in (or PATH arguments), one upload per verified dump, one record out per
//! dump uploaded. The record loop is d1_core::pipe's: failure records from upstream are passed
//! on and counted, and a dump that cannot go becomes a failure record of ours (with the
//! database's id and name from its manifest, and its path).

use crate::args::Args;
use crate::manifest;
use crate::store::{S3Url, Store};
use crate::upload;
use d1_core::pipe::{self, Failure, Tally};
use d1_core::record::{self, Record};
use d1_core::time::Utc;
use d1_core::{msg, Error, ExitCode, Result};
use serde_json::json;
use std::path::Path;

struct Run<'a> {
    args: &'a Args,
    store: Store,
    prefix: String,
    uploaded: usize,
}

/// Uploads every dump named on the command line or on stdin; returns the worst outcome seen,
/// upstream failures included.
pub fn run(args: Args) -> Result<ExitCode> {
    pipe::set_json(args.common.json);
    let dest = S3Url::parse(&args.destination)?;
    let mut prefix = dest.key.clone();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    // Credentials and endpoint first: a wrong setup fails before any input is read.
    let store = Store::from_env(
        &args.store,
        &dest.bucket,
        args.common.policy(),
        args.common.deadline(),
    )?;
    let mut run = Run {
        args: &args,
        store,
        prefix,
        uploaded: 0,
    };
    let worst = if args.paths.is_empty() {
        let opts = pipe::Options {
            kind: pipe::PATH,
            allow_empty: args.allow_empty,
        };
        pipe::run(opts, |rec| run.step(rec))?
    } else {
        let mut tally = Tally::default();
        for (i, p) in args.paths.iter().enumerate() {
            tally.arrived();
            let rec = Record {
                line: i + 1,
                database: None,
                name: None,
                value: p.clone(),
                json: None,
            };
            tally.count(run.step(&rec)?);
        }
        tally.finish(true, "path")?
    };
    if run.uploaded > 0 {
        msg::info(&format!(
            "{} dump{} uploaded to s3://{}/{}",
            run.uploaded,
            if run.uploaded == 1 { "" } else { "s" },
            run.store.bucket_name,
            run.prefix
        ));
    }
    Ok(worst)
}

impl Run<'_> {
    /// One dump. Its failure is reported here (stderr, and a failure record naming the
    /// database from the manifest); `Err` only for what ends the run (a signal, a closed
    /// stdout).
    fn step(&mut self, rec: &Record) -> Result<ExitCode> {
        let mut who = (rec.database.clone(), rec.name.clone());
        match self.dump(&rec.value, &mut who) {
            Ok(()) => Ok(ExitCode::Ok),
            Err(e) if pipe::ends_run(&e) => Err(e),
            Err(e) => {
                let f = Failure {
                    exit: e.code,
                    tool: msg::tool().to_string(),
                    database_id: who.0,
                    name: who.1,
                    reason: e.message.clone(),
                    path: Some(rec.value.clone()),
                };
                msg::error(&f.reason);
                f.emit()?;
                Ok(e.code)
            }
        }
    }

    fn dump(&mut self, path: &str, who: &mut (Option<String>, Option<String>)) -> Result<()> {
        let dump = Path::new(path);
        if !dump.is_file() {
            return Err(Error::failed(format!("{path}: no such dump")));
        }
        let m = manifest::read(dump)?;
        let (id, name) = manifest::database(&m);
        *who = (id.or(who.0.take()), name.or(who.1.take()));
        let sha256 = match manifest::good_backup(&m) {
            Ok(sha) => sha,
            Err(why) if self.args.allow_unverified => {
                msg::warn(&format!(
                    "{path}: {why}; uploading anyway (--allow-unverified)"
                ));
                m["sha256"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::failed(format!("{path}: the manifest has no sha256")))?
            }
            Err(why) => {
                return Err(Error::failed(format!(
                    "{path}: not uploaded: {why} (--allow-unverified uploads it anyway)"
                )))
            }
        };
        let name = dump
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::usage(format!("{path}: not a file name")))?;
        let key = format!("{}{name}", self.prefix);
        let sha_file = upload::read_small(&manifest::sha256_path_for(dump))?;
        let stored = upload::file(&self.store, dump, &key, &sha256, self.args.part_size)?;
        // The sidecars go after the dump, the manifest last: a listing that finds KEY.json finds
        // a complete copy.
        upload::bytes(&self.store, &format!("{key}.sha256"), &sha_file)?;
        let manifest_bytes = upload::read_small(&manifest::path_for(dump))?;
        upload::bytes(&self.store, &format!("{key}.json"), &manifest_bytes)?;
        let url = self.store.shown(&key);
        let entry = json!({
            "url": url,
            "bucket": self.store.bucket_name,
            "key": key,
            "endpoint": self.store.endpoint,
            "etag": stored.etag.trim_matches('"'),
            "size": stored.size,
            "sha256": stored.sha256,
            "parts": stored.parts,
            "uploaded_at": Utc::now().rfc3339(),
            "encrypted": false,
            "recipients": [],
            "ciphertext_sha256": null,
            "d1_upload_version": env!("CARGO_PKG_VERSION"),
        });
        manifest::add_upload(dump, entry.clone())?;
        self.uploaded += 1;
        if self.args.common.json {
            let mut out = entry;
            out["database_id"] = json!(who.0);
            out["database_name"] = json!(who.1);
            out["path"] = json!(path);
            record::emit_json(&out)
        } else {
            let field = |v: &Option<String>| v.as_deref().map_or("-".into(), pipe::safe_field);
            record::emit(&[&field(&who.0), &field(&who.1), &url])
        }
    }
}
