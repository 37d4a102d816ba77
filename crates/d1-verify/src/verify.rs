//! One dump, start to finish: sidecar checksum, open, restore into a sandboxed database, check,
//! compare with expectations, and (with `--db`) move the restored file into place only when
//! everything passed.

use crate::check::{self, FkViolation, Inventory};
use crate::limits::Budget;
use crate::quirks::{Quirks, Warning};
use crate::restore::{self, Settings, Stats};
use crate::sandbox::{self, Denied};
use crate::source::{self, Sidecar};
use d1_core::atomic::AtomicFile;
use d1_core::{Error, Result};
use std::path::PathBuf;
use std::time::Instant;

pub struct Options {
    pub settings: Settings,
    pub schema: Option<String>,
    pub db: Option<PathBuf>,
    pub force: bool,
    pub checksum: bool,
    pub expect_tables: Vec<String>,
    pub min_rows: Vec<(String, u64)>,
    pub against: Option<crate::against::Settings>,
    /// `--d1-compat`: what D1's import would refuse fails the dump (compat.rs).
    pub d1_compat: bool,
    /// `--identity`: the keys that decrypt an age-encrypted dump.
    pub identity: Option<d1_core::age::Identities>,
}

/// Everything known about one dump, whether it passed or not.
#[derive(Default)]
pub struct Report {
    pub path: String,
    pub database: Option<String>,
    /// The database's name, from the record or the dump's manifest.
    pub name: Option<String>,
    pub failure: Option<Error>,
    pub compressed: bool,
    /// The SHA-256 the sidecar confirmed, when there was one.
    pub checksum: Option<String>,
    pub inventory: Inventory,
    pub fk: Vec<FkViolation>,
    pub quirks: Quirks,
    pub compat: crate::compat::Compat,
    pub stats: Stats,
    pub against: Option<crate::against::Outcome>,
    pub load_ms: u128,
    pub check_ms: u128,
    pub total_ms: u128,
}

pub fn verify(
    path: &str,
    database: Option<String>,
    name: Option<String>,
    opts: &Options,
) -> Report {
    let t0 = Instant::now();
    let mut r = Report {
        path: path.to_string(),
        database,
        name,
        ..Report::default()
    };
    if let Err(e) = run(path, opts, &mut r) {
        r.failure = Some(e);
    }
    // A signal stops SQLite wherever it is (limits.rs); whatever error that surfaced as, the
    // check did not finish and is reported as interrupted, never as OK or FAIL.
    if d1_core::signal::interrupted() {
        r.failure = Some(Error::interrupted());
    }
    r.total_ms = t0.elapsed().as_millis();
    r
}

fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::failed(format!("{what}: {e}"))
}

fn run(path: &str, opts: &Options, r: &mut Report) -> Result<()> {
    if opts.checksum {
        match source::check_sidecar(path)? {
            Sidecar::Matches(h) => r.checksum = Some(h),
            // d1-fetch puts the sidecars in place before the dump: a manifest without its
            // checksum is a backup someone broke, not one to call verified.
            Sidecar::Absent if path != "-" && crate::verdict::has_manifest(path) => {
                return Err(Error::failed(format!(
                    "{path}.sha256 is missing although {path}.json exists: an incomplete backup"
                )))
            }
            Sidecar::Absent => {}
        }
    }
    let src = source::open(path, opts.identity.as_ref())?;
    r.compressed = src.compressed;
    let target = match &opts.db {
        Some(p) => Some(AtomicFile::create(p, opts.force)?),
        None => None,
    };
    let conn = sandbox::open(target.as_ref().map(|t| t.temp_path()))
        .map_err(sql("opening the restore database"))?;
    // One transaction around the whole load: SQLite then writes each page once.
    conn.execute_batch("BEGIN")
        .map_err(sql("starting the restore"))?;
    let denied = Denied::default();
    sandbox::guard(&conn, &denied);
    // A --db target keeps a page cache of up to 1 GiB besides the data (sandbox.rs).
    let budget = Budget::new(if opts.db.is_some() { 1 << 30 } else { 0 });
    budget.install(&conn);
    // Accepted losses are counted in one line at the end (against.rs); -q then silences the
    // quirk warnings one by one.
    let quiet_quirks =
        d1_core::msg::quiet() && opts.against.as_ref().is_some_and(|a| a.accept_losses);
    let warn = |w: &Warning| {
        if !quiet_quirks {
            d1_core::msg::warn(&format!("{path} line {}: {}", w.line, w.message))
        }
    };
    r.compat = crate::compat::Compat::new(path, opts.d1_compat);

    let t = Instant::now();
    if let Some(schema) = &opts.schema {
        let s = source::open(schema, opts.identity.as_ref())?;
        let label = format!("schema {schema} line");
        let mut ignore = Quirks::default();
        restore::load(
            &conn,
            &denied,
            &budget,
            s.reader,
            &label,
            &opts.settings,
            &mut Stats::default(),
            &mut ignore,
            &mut r.compat,
            |_| {},
        )?;
    }
    restore::load(
        &conn,
        &denied,
        &budget,
        src.reader,
        "line",
        &opts.settings,
        &mut r.stats,
        &mut r.quirks,
        &mut r.compat,
        warn,
    )?;
    r.load_ms = t.elapsed().as_millis();
    r.compat.finish();
    for (kind, n) in r.quirks.hidden().into_iter().filter(|_| !quiet_quirks) {
        d1_core::msg::warn(&format!(
            "{path}: {n} more {} warning(s) not shown",
            Quirks::kind_name(kind)
        ));
    }
    sandbox::unguard(&conn);
    budget.lift();
    conn.execute_batch("COMMIT")
        .map_err(sql("committing the restore"))?;
    if r.stats.statements == 0 {
        return Err(Error::failed("empty dump: no SQL statements"));
    }

    let t = Instant::now();
    let integrity = check::integrity(&conn).map_err(sql("integrity_check"))?;
    r.fk = check::foreign_keys(&conn).map_err(sql("foreign_key_check"))?;
    r.inventory = check::inventory(&conn).map_err(sql("listing the restored database"))?;
    r.check_ms = t.elapsed().as_millis();
    if let Err(problems) = integrity {
        return Err(Error::failed(format!(
            "integrity_check: {}",
            problems.join("; ")
        )));
    }
    if let Some(v) = r.fk.first() {
        let rowid = v.rowid.map_or("(none)".to_string(), |i| i.to_string());
        return Err(Error::failed(format!(
            "{} foreign key violation(s); first: table {} rowid {} references missing row in {}",
            r.fk.len(),
            v.table,
            rowid,
            v.parent
        )));
    }
    expectations(&r.inventory, opts)?;
    if let Some(a) = &opts.against {
        crate::against::check(
            &conn,
            path,
            r.database.as_deref(),
            a,
            &r.quirks,
            &mut r.against,
        )?;
    }
    if r.inventory.tables.is_empty() {
        d1_core::msg::warn(&format!("{path}: the dump holds no tables"));
    }
    if let Some(t) = target {
        conn.close()
            .map_err(|(_, e)| sql("closing the restored database")(e))?;
        t.commit(opts.force)?;
    }
    Ok(())
}

fn expectations(inv: &Inventory, opts: &Options) -> Result<()> {
    let rows_of = |name: &str| inv.tables.iter().find(|t| t.name == name).map(|t| t.rows);
    for name in &opts.expect_tables {
        if rows_of(name).is_none() {
            return Err(Error::failed(format!(
                "expected table {name} is missing ({} tables restored)",
                inv.tables.len()
            )));
        }
    }
    for (name, min) in &opts.min_rows {
        match rows_of(name) {
            None => return Err(Error::failed(format!("expected table {name} is missing"))),
            Some(n) if n < *min => {
                return Err(Error::failed(format!(
                    "table {name} has {n} rows, expected at least {min}"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}
