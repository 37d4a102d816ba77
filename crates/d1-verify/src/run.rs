//! d1-verify's run: each dump named on the command line, or each record on stdin, through
//! [`verify::verify`], its verdict recorded, its line printed.

use crate::args::Args;
use crate::{metrics, report, verdict, verify};
use d1_core::{Error, ExitCode, Result};

/// Verifies every dump, printing a line for each as it finishes and keeping its verdict in
/// its manifest; per-dump failures do not stop the others. Returns the worst outcome, failures
/// passed on from upstream included.
pub fn run(args: Args) -> Result<ExitCode> {
    let one = |path: &str, db: Option<String>, name: Option<String>| -> Result<ExitCode> {
        let (m_db, m_name) = verdict::identity(path);
        let mut r = verify::verify(path, db.or(m_db), name.or(m_name), &args.opts);
        if r.code() == ExitCode::Interrupted {
            // An interrupted check is no verdict: nothing printed, nothing recorded.
            return Err(Error::interrupted());
        }
        if let Err(e) = verdict::record(&r) {
            d1_core::msg::error(&e.message);
            r.failure
                .get_or_insert(e.context("recording the verdict in the manifest"));
        }
        let code = r.code().worst(metrics::record(args.metrics.as_deref(), &r));
        if let Some(f) = report::failure(&r) {
            // stdout carries the record; stderr, the log a cron mail ends with, names it too.
            // The reason starts with the path: a dump known by its path only is not named twice.
            match (&f.database_id, &f.name) {
                (None, None) => d1_core::msg::error(&f.reason),
                _ => d1_core::msg::error(&format!("{}: {}", f.subject(), f.reason)),
            }
        }
        report::print(&r, args.common.json)?;
        Ok(code)
    };
    if !args.files.is_empty() {
        let mut worst = ExitCode::Ok;
        for f in &args.files {
            worst = worst.worst(one(f, None, None)?);
        }
        return Ok(worst);
    }
    let opts = d1_core::pipe::Options {
        kind: d1_core::pipe::PATH,
        allow_empty: args.common.allow_empty,
    };
    d1_core::pipe::run(opts, |rec| {
        if rec.value == "-" {
            return Err(Error::usage(format!(
                "line {}: `-` cannot be used when paths come from standard input",
                rec.line
            )));
        }
        // The dump's own FAIL line is its failure record: counted, not printed again.
        one(&rec.value, rec.database.clone(), rec.name.clone())
    })
}
