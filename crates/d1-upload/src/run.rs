//! One run: records in (or PATH arguments), one upload per verified dump, one record out per
//! dump uploaded; failure records from upstream are passed on and counted, and a dump that
//! cannot go becomes a failure record of ours.

use crate::args::Args;
use crate::input::{self, Failure, Line};
use crate::manifest;
use crate::store::{S3Url, Store};
use crate::upload;
use d1_core::record::{self, Lines};
use d1_core::time::Utc;
use d1_core::{msg, Error, ExitCode, Result};
use serde_json::json;
use std::io::IsTerminal;
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
    let mut worst = ExitCode::Ok;
    let mut seen = 0usize;
    if !args.paths.is_empty() {
        for p in &args.paths {
            seen += 1;
            worst = worst.worst(run.line(Line::Dump(p.clone()))?);
        }
    } else {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(Error::usage(
                "no dump: give PATH arguments or pipe d1-verify's records into stdin (try --help)",
            ));
        }
        for item in Lines::new(stdin.lock()) {
            seen += 1;
            let outcome = item.and_then(|(n, text)| input::parse(n, &text));
            match outcome {
                Ok(line) => worst = worst.worst(run.line(line)?),
                Err(e) if e.code == ExitCode::Interrupted => return Err(e),
                Err(e) => {
                    msg::error(&e.message);
                    run.emit_failure(&input::own_failure(&e, None, None, None))?;
                    worst = worst.worst(e.code);
                }
            }
        }
    }
    if seen == 0 && !args.allow_empty {
        // Silence is not success (design.md): the step upstream printed nothing at all.
        return Err(Error::failed(
            "no record on standard input: nothing uploaded (--allow-empty accepts that)",
        ));
    }
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
    /// Handles one line; `Err` only for what ends the run (a signal, a closed stdout).
    fn line(&mut self, line: Line) -> Result<ExitCode> {
        match line {
            Line::Failure(f) => {
                self.emit_failure(&f)?;
                Ok(f.code)
            }
            Line::Dump(path) => {
                let mut who = (None, None);
                match self.dump(&path, &mut who) {
                    Ok(()) => Ok(ExitCode::Ok),
                    Err(e) if matches!(e.code, ExitCode::Interrupted | ExitCode::Ok) => Err(e),
                    Err(e) => {
                        msg::error(&e.message);
                        let f =
                            input::own_failure(&e, who.0.as_deref(), who.1.as_deref(), Some(&path));
                        self.emit_failure(&f)?;
                        Ok(e.code)
                    }
                }
            }
        }
    }

    fn emit_failure(&self, f: &Failure) -> Result<()> {
        if self.args.common.json {
            record::emit_json(&serde_json::from_str(&f.render(true)).unwrap_or(f.json.clone()))
        } else {
            record::emit(&[&f.render(false)])
        }
    }

    fn dump(&mut self, path: &str, who: &mut (Option<String>, Option<String>)) -> Result<()> {
        let dump = Path::new(path);
        if !dump.is_file() {
            return Err(Error::failed(format!("{path}: no such dump")));
        }
        let m = manifest::read(dump)?;
        *who = manifest::database(&m);
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
            record::emit(&[
                who.0.as_deref().unwrap_or("-"),
                who.1.as_deref().unwrap_or("-"),
                &url,
            ])
        }
    }
}
