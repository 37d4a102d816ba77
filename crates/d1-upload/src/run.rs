//! One run: records in (or PATH arguments), one upload per verified dump, one record out per
//! dump uploaded. The record loop is d1_core::pipe's: failure records from upstream are passed
//! on and counted, and a dump that cannot go becomes a failure record of ours (with the
//! database's id and name from its manifest, and its path).

use crate::args::Args;
use crate::manifest;
use d1_archive::manifest::{Encryption, Upload};
use d1_archive::names::{self, Sidecar};
use d1_archive::s3::{Prefix, S3Url};
use d1_archive::store::{Source, Store};
use d1_archive::{checksum, folder, Field};
use d1_core::pipe::{self, Failure, Tally};
use d1_core::record::{self, Record};
use d1_core::time::Utc;
use d1_core::{msg, Error, ExitCode, Result};
use serde_json::json;
use std::path::Path;

struct Run<'a> {
    args: &'a Args,
    store: Prefix,
    uploaded: usize,
}

/// Uploads every dump named on the command line or on stdin; returns the worst outcome seen,
/// upstream failures included.
pub fn run(args: Args) -> Result<ExitCode> {
    pipe::set_json(args.common.json);
    let dest = S3Url::parse(&args.destination)?;
    // Credentials and endpoint first: a wrong setup fails before any input is read.
    let store = Prefix::open(
        &args.store,
        &dest,
        args.common.policy(),
        args.common.deadline(),
        false,
    )?
    .with_part_size(args.part_size);
    let mut run = Run {
        args: &args,
        store,
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
            "{} dump{} uploaded to {}",
            run.uploaded,
            if run.uploaded == 1 { "" } else { "s" },
            run.store.location()
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
        *who = (
            m.database_id().map(str::to_string).or(who.0.take()),
            m.database_name().map(str::to_string).or(who.1.take()),
        );
        let verdict = m.verdict();
        let sha256 = match m.sha256() {
            Some(sha) if verdict.is_good() => sha.to_string(),
            Some(sha) if self.args.allow_unverified => {
                msg::warn(&format!(
                    "{path}: {verdict}; uploading anyway (--allow-unverified)"
                ));
                sha.to_string()
            }
            _ if self.args.allow_unverified => {
                return Err(Error::failed(format!("{path}: the manifest has no sha256")))
            }
            _ => {
                return Err(Error::failed(format!(
                    "{path}: not uploaded: {verdict} (--allow-unverified uploads it anyway)"
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
            names::encrypted_name(&name)
        } else {
            name.clone()
        };
        let key = self.store.key(&object_name);
        let recipient_texts: Vec<String> = recipients.keys().to_vec();
        let (stored, sha_file, manifest_bytes) = match &sealed {
            None => (
                self.store.write(
                    &object_name,
                    Source::File {
                        path: dump,
                        sha256: &sha256,
                    },
                )?,
                local_sidecar(&names::checksum_path(dump), checksum::MAX_BYTES)?,
                local_sidecar(&names::manifest_path(dump), manifest::MAX_BYTES)?,
            ),
            Some(s) => {
                let stored = self.store.write(
                    &object_name,
                    Source::File {
                        path: s.file.path(),
                        sha256: &s.ciphertext_sha256,
                    },
                )?;
                let mut m = m.clone();
                m.encryption = Field::Set(Encryption {
                    format: Field::Set("age-encryption.org/v1".into()),
                    recipients: Field::Set(recipient_texts.clone()),
                    ciphertext_sha256: Field::Set(s.ciphertext_sha256.clone()),
                    ciphertext_bytes: Field::Set(s.ciphertext_bytes),
                    ..Encryption::default()
                });
                let text = m.to_text(&format!("{path}.json"))?;
                let line = checksum::line(&s.ciphertext_sha256, &object_name);
                (stored, line.into_bytes(), text.into_bytes())
            }
        };
        // The sidecars go after the dump, the manifest last: a listing that finds KEY.json finds
        // a complete copy.
        let checksum_key = Sidecar::Checksum.key(&object_name);
        self.store.write(&checksum_key, Source::Bytes(&sha_file))?;
        let manifest_key = Sidecar::Manifest.key(&object_name);
        self.store
            .write(&manifest_key, Source::Bytes(&manifest_bytes))?;
        let url = self.store.shown(&object_name);
        let text = |v: &str| Field::Set(v.to_string());
        let entry = Upload {
            url: text(&url),
            bucket: text(self.store.client().bucket_name()),
            key: text(&key),
            endpoint: text(self.store.client().endpoint()),
            etag: text(stored.etag.trim_matches('"')),
            size: Field::Set(stored.size),
            sha256: text(&sha256),
            parts: Field::Set(u64::from(stored.parts)),
            uploaded_at: Field::Set(Utc::now().rfc3339()),
            encrypted: Field::Set(encrypted),
            recipients: Field::Set(recipient_texts),
            ciphertext_sha256: sealed.as_ref().map(|s| s.ciphertext_sha256.clone()).into(),
            d1_upload_version: text(env!("CARGO_PKG_VERSION")),
            ..Upload::default()
        };
        let out = serde_json::to_value(&entry).unwrap_or_default();
        manifest::add_upload(dump, entry)?;
        self.uploaded += 1;
        if self.args.common.json {
            let mut out = out;
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

/// A sidecar of the local dump, as it is (it is copied byte for byte).
fn local_sidecar(path: &Path, limit: u64) -> Result<Vec<u8>> {
    folder::read_small(path, limit)?
        .ok_or_else(|| Error::failed(format!("reading {}: no such file", path.display())))
}
