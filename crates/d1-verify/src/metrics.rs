//! `--metrics-file`: the verify side of the backup's Prometheus metrics. d1-verify owns these
//! families and d1-fetch owns its own (`d1_backup_last_success_timestamp_seconds`, ...), so both
//! tools can write one file without erasing each other's series (d1_core::metrics merges).

use crate::verify::Report;
use d1_core::metrics::{self, Family};
use d1_core::{msg, ExitCode};
use std::path::Path;

const LAST_SUCCESS: &str = "d1_backup_verify_last_success_timestamp_seconds";
const DURATION: &str = "d1_backup_verify_duration_seconds";
const ROWS: &str = "d1_backup_rows_restored";
const RUN_SUCCESS: &str = "d1_backup_verify_last_run_success";
const RUN_TIME: &str = "d1_backup_verify_last_run_timestamp_seconds";

const FAMILIES: &[Family] = &[
    Family {
        name: LAST_SUCCESS,
        help: "Unix time a dump of this database last restored and passed every check.",
    },
    Family {
        name: DURATION,
        help: "Seconds the last successful verification took (restore and checks).",
    },
    Family {
        name: ROWS,
        help: "Rows restored from the last dump that passed verification.",
    },
    Family {
        name: RUN_SUCCESS,
        help: "1 if d1-verify's last run for this database passed, 0 if it failed.",
    },
    Family {
        name: RUN_TIME,
        help: "Unix time of d1-verify's last run for this database, passed or not.",
    },
];

/// Records one dump's verdict in `path` (when `--metrics-file` was given). A failed dump sets
/// the run gauges and keeps the last-success values the file holds. Returns the exit code a
/// file that cannot be written adds (1, after printing why): the alert built on it would
/// otherwise go quiet.
pub fn record(path: Option<&Path>, r: &Report) -> ExitCode {
    let Some(path) = path else {
        return ExitCode::Ok;
    };
    if r.code() == ExitCode::Interrupted {
        return ExitCode::Ok;
    }
    let now = metrics::unix_now();
    let values: Vec<(&str, Option<f64>)> = if r.failure.is_some() {
        vec![(RUN_SUCCESS, Some(0.0)), (RUN_TIME, Some(now))]
    } else {
        vec![
            (LAST_SUCCESS, Some(now)),
            (DURATION, Some(r.total_ms as f64 / 1000.0)),
            (ROWS, Some(r.total_rows() as f64)),
            (RUN_SUCCESS, Some(1.0)),
            (RUN_TIME, Some(now)),
        ]
    };
    let database = database(r);
    match metrics::update(path, FAMILIES, &database, r.name.as_deref(), &values) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            msg::error(&e.message);
            e.code()
        }
    }
}

/// The series' label: the record's database id, else the `database_id` of the manifest d1-fetch
/// wrote beside the dump (`FILE.json`; d1-fetch prints bare paths), else `unknown`.
fn database(r: &Report) -> String {
    if let Some(d) = r.database.as_deref() {
        return d.to_string();
    }
    if r.path == "-" {
        return metrics::UNKNOWN.to_string();
    }
    crate::against::manifest_database(&format!("{}.json", r.path))
        .ok()
        .flatten()
        .unwrap_or_else(|| metrics::UNKNOWN.to_string())
}
