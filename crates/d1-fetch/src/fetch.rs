//! One run: records in, one download per record as soon as its line arrives, the path of each
//! dump out. A failed record is reported on its own line and the others are still fetched.

use crate::args::Args;
use crate::download::{self, Served};
use crate::encrypt::{self, Out};
use crate::manifest::{self, Export, Facts};
use crate::output::{self, Output, Paths};
use crate::sink::{Digests, Sink};
use crate::writeback::Writeback;
use d1_core::atomic::AtomicFile;
use d1_core::error::Context;
use d1_core::pipe;
use d1_core::record::Record;
use d1_core::retry::{Deadline, Policy};
use d1_core::time::Utc;
use d1_core::{msg, Error, ExitCode, Result};

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
        output: Output::from_arg(args.output.as_deref())?
            .printable(args.common.json)?
            .matches_compression(args.zstd.is_some())?,
        policy: args.common.policy(),
        deadline: args.common.deadline(),
        args,
        fetched: 0,
    };
    encrypt::check_output(&run.output, run.args.encrypt.is_some())?;
    if let Some(url) = run.args.url.clone() {
        let rec = Record {
            value: url,
            ..Record::default()
        };
        let outcome = run.one(&rec, &Export::default());
        let metrics = run.metrics(
            None,
            None,
            &Export::default(),
            &Default::default(),
            &outcome,
        );
        outcome?;
        metrics?;
        return Ok(ExitCode::Ok);
    }
    let opts = pipe::Options {
        kind: pipe::SIGNED_URL,
        allow_empty: run.args.common.allow_empty,
    };
    pipe::run(opts, |rec| {
        let export = rec.json.as_ref().map(Export::from_json).unwrap_or_default();
        let cost = rec
            .json
            .as_ref()
            .map(crate::metrics::Cost::from_json)
            .unwrap_or_default();
        let outcome = run.one(rec, &export).ctx(|| format!("line {}", rec.line));
        let metrics = run.metrics(
            rec.database.as_deref(),
            rec.name.as_deref(),
            &export,
            &cost,
            &outcome,
        );
        outcome?;
        metrics.map(|()| ExitCode::Ok)
    })
}

impl Run {
    /// Updates `--metrics-file` for this record; a file that cannot be written is an error of
    /// its own (exit 1): the alert built on it would otherwise go quiet.
    fn metrics(
        &self,
        database: Option<&str>,
        name: Option<&str>,
        export: &Export,
        cost: &crate::metrics::Cost,
        outcome: &Result<Digests>,
    ) -> Result<()> {
        match &self.args.metrics {
            Some(path) => crate::metrics::record(path, database, name, export, cost, outcome),
            None => Ok(()),
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
                let name = output::name_in(
                    d,
                    rec.database.as_deref(),
                    rec.name.as_deref(),
                    self.args.zstd.is_some(),
                    &now,
                );
                Paths::for_dump(encrypt::name(name, self.args.encrypt.is_some()))
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
        let out = Writeback::new(file).map_err(|e| Error::io(&writing, e))?;
        let mut sink = Sink::new(Out::new(out, self.args.encrypt.as_ref())?, self.args.zstd)
            .map_err(|e| Error::io("starting zstd", e))?;
        let served = download::download(
            &rec.value,
            &mut sink,
            &writing,
            &self.policy,
            &self.deadline,
        )?;
        let (file, digests) = sink.finish().ctx(|| writing.clone())?;
        let (file, digests) = file.finish(digests).ctx(|| writing.clone())?;
        let file = file.into_inner();
        check(&served, &digests)?;
        let manifest = manifest::build(&Facts {
            database: rec.database.as_deref(),
            name: rec.name.as_deref(),
            bookmark: rec.bookmark.as_deref(),
            export,
            url: &rec.value,
            digests: &digests,
            zstd: self.args.zstd,
            fetched_at: now,
            md5_checked: served.etag_md5.is_some(),
        });
        crate::finish::finish(&self.args, file, &manifest, &digests.stored_sha256)?;
        Ok(digests)
    }

    fn to_stdout(&self, rec: &Record) -> Result<Digests> {
        let out = Out::new(std::io::stdout().lock(), self.args.encrypt.as_ref())?;
        let mut sink = Sink::new(out, self.args.zstd).map_err(|e| Error::io("starting zstd", e))?;
        let writing = "writing to standard output";
        let served =
            download::download(&rec.value, &mut sink, writing, &self.policy, &self.deadline)?;
        let (out, digests) = sink.finish().ctx(|| writing)?;
        let (_, digests) = out.finish(digests).ctx(|| writing)?;
        check(&served, &digests)?;
        msg::info(&format!(
            "wrote {} to standard output, sha256 {}",
            msg::human_bytes(digests.stored_bytes),
            digests.stored_sha256
        ));
        Ok(digests)
    }
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
