//! One run: records in, one download per record as soon as its line arrives, the path of each
//! dump out. A failed record is reported on its own line and the others are still fetched.

use crate::download::{self, Served};
use crate::manifest::{self, Export, Facts};
use crate::output::{self, Output, Paths};
use crate::sink::{Digests, Sink};
use crate::writeback::Writeback;
use crate::Args;
use d1_core::atomic::{self, AtomicFile};
use d1_core::error::Context;
use d1_core::record::{self, Lines, Record};
use d1_core::retry::{Deadline, Policy};
use d1_core::time::Utc;
use d1_core::{msg, Error, ExitCode, Result};
use std::io::IsTerminal;
use std::path::Path;

struct Run {
    args: Args,
    output: Output,
    policy: Policy,
    deadline: Deadline,
    fetched: usize,
}

/// Fetches the URL argument, or every record on stdin; returns the worst outcome.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut run = Run {
        output: Output::from_arg(args.output.as_deref()),
        policy: args.common.policy(),
        deadline: args.common.deadline(),
        args,
        fetched: 0,
    };
    if let Some(url) = run.args.url.clone() {
        let rec = Record {
            line: 0,
            database: None,
            value: url,
        };
        let outcome = run.one(&rec, &Export::default());
        let metrics = run.metrics(None, &Export::default(), &outcome);
        outcome?;
        return Ok(metrics);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::usage(
            "no URL: give one as an argument or pipe 'DATABASE_ID SIGNED_URL' lines (d1-export-wait) into stdin",
        ));
    }
    let mut worst = ExitCode::Ok;
    let mut seen = 0;
    for item in Lines::new(stdin.lock()) {
        seen += 1;
        let mut database = None;
        let mut export = Export::default();
        let outcome = item.and_then(|(n, text)| {
            let (rec, measured) = parse_line(n, &text)?;
            database = rec.database.clone();
            export = measured;
            run.one(&rec, &export).ctx(|| format!("line {n}"))
        });
        worst = worst.worst(run.metrics(database.as_deref(), &export, &outcome));
        match outcome {
            Ok(_) => {}
            // Stop at once on a signal; end quietly when our reader went away.
            Err(e) if matches!(e.code, ExitCode::Interrupted | ExitCode::Ok) => return Err(e),
            Err(e) => {
                msg::error(&e.message);
                worst = worst.worst(e.code);
            }
        }
    }
    if seen == 0 {
        // Exit 0: under `set -o pipefail` the failing step upstream then gives the exit code.
        msg::warn("no signed URL on standard input: nothing fetched");
    }
    Ok(worst)
}

impl Run {
    /// Updates `--metrics-file` for this record; a file that cannot be written is an error of
    /// its own (exit 1): the alert built on it would otherwise go quiet.
    fn metrics(
        &self,
        database: Option<&str>,
        export: &Export,
        outcome: &Result<Digests>,
    ) -> ExitCode {
        let Some(path) = &self.args.metrics else {
            return ExitCode::Ok;
        };
        match crate::metrics::record(path, database, export, outcome) {
            Ok(()) => ExitCode::Ok,
            Err(e) => {
                msg::error(&e.message);
                e.code
            }
        }
    }

    fn one(&mut self, rec: &Record, export: &Export) -> Result<Digests> {
        if crate::s3::is_s3(&rec.value) {
            if self.output.single() && self.fetched > 0 {
                return Err(Error::usage(
                    "-o FILE and -o - take one dump; use -o DIR/ for several",
                ));
            }
            self.fetched += 1;
            let (policy, deadline) = (self.policy, self.deadline);
            return crate::s3::fetch(&self.args, &self.output, &policy, &deadline, rec);
        }
        d1_core::url::check(&rec.value)?;
        if let Some(db) = rec.database.as_deref() {
            output::check_database_id(db)?;
        }
        if self.output.single() && self.fetched > 0 {
            return Err(Error::usage(
                "-o FILE and -o - take one dump; use -o DIR/ for several",
            ));
        }
        self.fetched += 1;
        let now = Utc::now();
        let paths = match &self.output {
            Output::Stdout => return self.to_stdout(rec),
            Output::File(f) => Paths::for_dump(f.clone()),
            Output::Dir(d) => {
                output::prepare_dir(d)?;
                Paths::for_dump(output::name_in(
                    d,
                    rec.database.as_deref(),
                    self.args.zstd.is_some(),
                    &now,
                ))
            }
        };
        // Before downloading: the signed URL may be gone by the time a late error is noticed.
        paths.check_free(self.args.force)?;
        self.to_file(rec, export, &paths, &now)
    }

    fn to_file(&self, rec: &Record, export: &Export, paths: &Paths, now: &Utc) -> Result<Digests> {
        let force = self.args.force;
        // Created before the download: an unwritable folder fails at once.
        let file = AtomicFile::create(&paths.dump, force)?;
        let writing = format!("writing {}", file.temp_path().display());
        let mut sink = Sink::new(
            Writeback::new(file).map_err(|e| Error::io(&writing, e))?,
            self.args.zstd,
        )
        .map_err(|e| Error::io("starting zstd", e))?;
        let served = download::download(
            &rec.value,
            &mut sink,
            &writing,
            &self.policy,
            &self.deadline,
        )?;
        let (file, digests) = sink.finish().ctx(|| writing.clone())?;
        let file = file.into_inner();
        check(&served, &digests)?;
        let path = file.commit(force)?;
        let manifest = manifest::build(&Facts {
            database: rec.database.as_deref(),
            export,
            url: &rec.value,
            digests: &digests,
            zstd: self.args.zstd,
            fetched_at: now,
            md5_checked: served.etag_md5.is_some(),
        });
        if let Err(e) = manifest::write_sidecars(paths, &manifest, &digests.stored_sha256, force) {
            remove_all(paths);
            return Err(e.context("writing the checksum and manifest (the dump was removed)"));
        }
        if self.args.common.json {
            let mut m = manifest;
            m["path"] = path.display().to_string().into();
            record::emit_json(&m)?;
        } else {
            record::emit(&[&path.display().to_string()])?;
        }
        Ok(digests)
    }

    fn to_stdout(&self, rec: &Record) -> Result<Digests> {
        let out = std::io::stdout().lock();
        let mut sink = Sink::new(out, self.args.zstd).map_err(|e| Error::io("starting zstd", e))?;
        let writing = "writing to standard output";
        let served =
            download::download(&rec.value, &mut sink, writing, &self.policy, &self.deadline)?;
        let (_, digests) = sink.finish().ctx(|| writing)?;
        check(&served, &digests)?;
        msg::info(&format!(
            "wrote {} to standard output, sha256 {}",
            msg::human_bytes(digests.stored_bytes),
            digests.stored_sha256
        ));
        Ok(digests)
    }
}

/// A record line: `DATABASE_ID SIGNED_URL`, `SIGNED_URL`, or the JSON object that
/// `d1-export-wait --json` prints (`signed_url`, and `database_id` when known, and what it
/// measured about the export).
fn parse_line(n: usize, text: &str) -> Result<(Record, Export)> {
    if !text.trim_start().starts_with('{') {
        return Ok((record::parse(n, text, "signed URL")?, Export::default()));
    }
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::usage(format!("line {n}: not a JSON record: {e}")))?;
    let url = v["signed_url"].as_str().ok_or_else(|| {
        Error::usage(format!(
            "line {n}: JSON record without a \"signed_url\" string"
        ))
    })?;
    let rec = Record {
        line: n,
        database: v["database_id"].as_str().map(str::to_string),
        value: url.to_string(),
    };
    Ok((rec, Export::from_json(&v)))
}

/// The received body against what the server declared: the length, and the MD5 when the ETag
/// is one (a corrupted body must not become a backup).
fn check(served: &Served, d: &Digests) -> Result<()> {
    if let Some(len) = served.length {
        if d.sql_bytes != len {
            return Err(Error::failed(format!(
                "received {} bytes but the server declared {len}",
                d.sql_bytes
            )));
        }
    }
    if let (Some(want), Some(got)) = (served.etag_md5.as_deref(), d.sql_md5.as_deref()) {
        if want != got {
            return Err(Error::failed(format!(
                "the download is corrupt: its MD5 is {got} but the server's ETag says {want}"
            )));
        }
    }
    Ok(())
}

fn remove_all(paths: &Paths) {
    for p in paths.all() {
        let _ = std::fs::remove_file(p);
    }
    if let Some(dir) = paths.dump.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let _ = atomic::sync_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn lines_are_plain_records_or_export_wait_json() {
        let (r, e) = parse_line(1, "db1 https://h/x.sql?s=1").unwrap();
        assert_eq!(r.database.as_deref(), Some("db1"));
        assert_eq!(e, Default::default());
        let (r, e) = parse_line(
            2,
            r#"{"database_id":"db2","signed_url":"https://h/y.sql?s=2","polls":3,"elapsed_seconds":1.25,"file_size":null}"#,
        )
        .unwrap();
        assert_eq!(r.database.as_deref(), Some("db2"));
        assert_eq!(r.value, "https://h/y.sql?s=2");
        assert_eq!(
            (e.polls, e.elapsed_seconds, e.file_size),
            (Some(3), Some(1.25), None)
        );
        let e = parse_line(3, r#"{"database_id":"db2"}"#).unwrap_err();
        assert!(
            e.message.starts_with("line 3: JSON record without"),
            "{}",
            e.message
        );
        assert!(parse_line(4, "{oops").is_err());
    }
}
