//! `--metrics-file`: the fetch side of the backup's Prometheus metrics. d1-fetch owns these
//! families (d1-verify owns `d1_backup_verify_*` and `d1_backup_rows_restored`), so both tools can
//! write one file without erasing each other's series (d1_core::metrics merges by family).

use crate::manifest::Export;
use crate::sink::Digests;
use d1_core::metrics::{self, Family};
use d1_core::Result;
use std::path::Path;

const LAST_SUCCESS: &str = "d1_backup_last_success_timestamp_seconds";
const EXPORT_DURATION: &str = "d1_backup_export_duration_seconds";
const DUMP_BYTES: &str = "d1_backup_dump_bytes";
const STORED_BYTES: &str = "d1_backup_stored_bytes";
const DATABASE_BYTES: &str = "d1_backup_database_size_bytes";
const RUN_SUCCESS: &str = "d1_backup_last_run_success";
const RUN_TIME: &str = "d1_backup_last_run_timestamp_seconds";
const EXPORT_REQUESTS: &str = "d1_backup_export_requests";

const FAMILIES: &[Family] = &[
    Family {
        name: LAST_SUCCESS,
        help: "Unix time the last dump was fetched, checked and stored by d1-fetch.",
    },
    Family {
        name: EXPORT_DURATION,
        help: "Seconds the last fetched dump's export took (from d1-export-wait --json).",
    },
    Family {
        name: DUMP_BYTES,
        help: "Size of the last fetched dump's SQL, uncompressed.",
    },
    Family {
        name: STORED_BYTES,
        help: "Bytes stored for the last fetched dump (compressed with --zstd).",
    },
    Family {
        name: DATABASE_BYTES,
        help: "The database's size the D1 API reported at the last export (from d1-export-wait --json).",
    },
    Family {
        name: EXPORT_REQUESTS,
        help: "API requests the last fetched dump's export cost (from d1-export-wait --json).",
    },
    Family {
        name: RUN_SUCCESS,
        help: "1 if d1-fetch's last run for this database succeeded, 0 if it failed.",
    },
    Family {
        name: RUN_TIME,
        help: "Unix time of d1-fetch's last run for this database, successful or not.",
    },
];

/// What d1-export-wait's `--json` line says about the export besides the manifest's fields:
/// what it cost in API requests, and the shard that made it.
#[derive(Debug, Default, Clone)]
pub struct Cost {
    pub requests: Option<f64>,
    pub shard: Option<String>,
}

impl Cost {
    pub fn from_json(v: &serde_json::Value) -> Cost {
        Cost {
            requests: v["requests"].as_f64(),
            shard: v["shard"].as_str().map(str::to_string),
        }
    }
}

/// Records one record's outcome. A failure sets the run gauges and keeps the last-success
/// values the file holds; an interrupted run, or one whose reader went away, records nothing.
pub fn record(
    path: &Path,
    database: Option<&str>,
    name: Option<&str>,
    export: &Export,
    cost: &Cost,
    outcome: &Result<Digests>,
) -> Result<()> {
    let now = metrics::unix_now();
    let values: Vec<(&str, Option<f64>)> = match outcome {
        Err(e) if e.ends_run() => return Ok(()),
        Err(_) => vec![(RUN_SUCCESS, Some(0.0)), (RUN_TIME, Some(now))],
        Ok(d) => vec![
            (LAST_SUCCESS, Some(now)),
            // Measured only when the input was d1-export-wait's JSON: cleared otherwise, so
            // that a stale duration does not pass for today's.
            (EXPORT_DURATION, export.elapsed_seconds),
            (DATABASE_BYTES, export.file_size.map(|n| n as f64)),
            (EXPORT_REQUESTS, cost.requests),
            (DUMP_BYTES, Some(d.sql_bytes as f64)),
            (STORED_BYTES, Some(d.stored_bytes as f64)),
            (RUN_SUCCESS, Some(1.0)),
            (RUN_TIME, Some(now)),
        ],
    };
    metrics::update_in_shard(
        path,
        FAMILIES,
        database.unwrap_or(metrics::UNKNOWN),
        name,
        cost.shard.as_deref(),
        &values,
    )
}
