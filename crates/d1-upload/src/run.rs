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
                bookmark: None,
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
                    exit: e.code(),
                    tool: msg::tool().to_string(),
                    database_id: who.0,
                    name: who.1,
                    reason: e.message.clone(),
                    path: Some(rec.value.clone()),
                };
                msg::error(&f.reason);
                f.emit()?;
                Ok(e.code())
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
        let recipients = &self.args.recipients;
        let encrypted = !recipients.is_empty();
        // Encrypted: the object is the age ciphertext (KEY.age); its .sha256 is the
        // ciphertext's (what the transport checks), and the manifest uploaded beside it says
        // to whom it is encrypted and keeps the plaintext's sha256 (what the restore checks).
        let sealed = if encrypted {
            let s = crate::crypt::seal(dump, recipients)?;
            if s.plaintext_sha256 != sha256 {
                return Err(Error::failed(format!(
                    "{path}: its SHA-256 is {} but the manifest says {sha256}: the file changed since it was verified; not uploaded",
                    s.plaintext_sha256
                )));
            }
            Some(s)
        } else {
            None
        };
        let object_name = if encrypted {
            format!("{name}.age")
        } else {
            name.clone()
        };
        let key = format!("{}{object_name}", self.prefix);
        let recipient_texts: Vec<&str> = recipients.keys().iter().map(String::as_str).collect();
        let (stored, sha_file, manifest_bytes) = match &sealed {
            None => (
                upload::file(&self.store, dump, &key, &sha256, self.args.part_size)?,
                upload::read_small(&manifest::sha256_path_for(dump))?,
                upload::read_small(&manifest::path_for(dump))?,
            ),
            Some(s) => {
                let stored = upload::file(
                    &self.store,
                    s.file.path(),
                    &key,
                    &s.ciphertext_sha256,
                    self.args.part_size,
                )?;
                let mut m = m.clone();
                m["encryption"] = json!({
                    "format": "age-encryption.org/v1",
                    "recipients": recipient_texts,
                    "ciphertext_sha256": s.ciphertext_sha256,
                    "ciphertext_bytes": s.ciphertext_bytes,
                });
                let mut text = serde_json::to_string_pretty(&m).unwrap_or_default();
                text.push('\n');
                let line = format!("{}  {object_name}\n", s.ciphertext_sha256);
                (stored, line.into_bytes(), text.into_bytes())
            }
        };
        // The sidecars go after the dump, the manifest last: a listing that finds KEY.json finds
        // a complete copy.
        upload::bytes(&self.store, &format!("{key}.sha256"), &sha_file)?;
        upload::bytes(&self.store, &format!("{key}.json"), &manifest_bytes)?;
        let url = self.store.shown(&key);
        let entry = json!({
            "url": url,
            "bucket": self.store.bucket_name,
            "key": key,
            "endpoint": self.store.endpoint,
            "etag": stored.etag.trim_matches('"'),
            "size": stored.size,
            "sha256": sha256,
            "parts": stored.parts,
            "uploaded_at": Utc::now().rfc3339(),
            "encrypted": encrypted,
            "recipients": recipient_texts,
            "ciphertext_sha256": sealed.as_ref().map(|s| s.ciphertext_sha256.clone()),
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
