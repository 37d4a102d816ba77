//! One dump, start to finish: sidecar checksum, open, restore into a sandboxed database, check,
//! compare with expectations, and (with `--db`) move the restored file into place only when
//! everything passed.

use crate::check::{FkViolation, Inventory};
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
    pub identity: Option<d1_age::Identities>,
}

/// Everything known about one dump, whether it passed or not.
#[derive(Default)]
pub struct Report {
    pub path: String,
    pub database: Option<String>,
    /// The database's name, from the record or the dump's manifest.
    pub name: Option<String>,
    pub failure: Option<Error>,
    /// The checks the dump passed, in the order they ran (the verdict lists them).
    pub passed: Vec<&'static str>,
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
            Sidecar::Matches(h) => {
                r.checksum = Some(h);
                r.passed.push("checksum");
            }
            // d1-fetch puts the sidecars in place before the dump: a manifest without its
            // checksum is a backup someone broke, not one to call verified.
            Sidecar::Absent if path != "-" && source::has_manifest(path) => {
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
    let place = match &target {
        Some(t) => sandbox::Place::File(t.temp_path().to_path_buf()),
        None => sandbox::Place::Memory,
    };
    let mut conn = sandbox::open(&place).map_err(sql("opening the restore database"))?;
    // One transaction around the whole load: SQLite then writes each page once.
    conn.execute_batch("BEGIN")
        .map_err(sql("starting the restore"))?;
    let denied = Denied::default();
    sandbox::guard(&mut conn, &denied).map_err(sql("installing the restore's authorizer"))?;
    // A --db target keeps a page cache of up to 1 GiB besides the data (sandbox.rs).
    let budget = Budget::new(if opts.db.is_some() { 1 << 30 } else { 0 });
    budget
        .install(&mut conn)
        .map_err(sql("installing the restore's limits"))?;
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
    let settings = restore::Settings {
        name: path.to_string(),
        total: expected_sql_bytes(path, src.compressed),
        ..opts.settings.clone()
    };
    // A data-only dump needs its schema first, but the schema's triggers after the data, as a
    // full dump orders them: a trigger that fires on each restored row (an audit log) would
    // otherwise write rows of its own and collide with the dump's.
    let schema = match &opts.schema {
        Some(file) => Some((file, schema_parts(file, opts)?)),
        None => None,
    };
    let load_schema = |file: &String, text: Vec<u8>, compat: &mut crate::compat::Compat| {
        let label = format!("schema {file} line");
        restore::load(
            &conn,
            &denied,
            &budget,
            Box::new(std::io::Cursor::new(text)),
            &label,
            &opts.settings,
            &mut Stats::default(),
            &mut Quirks::default(),
            compat,
            |_| {},
        )
    };
    let mut triggers = None;
    if let Some((file, (first, last))) = schema {
        load_schema(file, first, &mut r.compat)?;
        triggers = Some((file, last));
    }
    restore::load(
        &conn,
        &denied,
        &budget,
        src.reader,
        "line",
        &settings,
        &mut r.stats,
        &mut r.quirks,
        &mut r.compat,
        warn,
    )?;
    if let Some((file, last)) = triggers.filter(|(_, t)| !t.is_empty()) {
        load_schema(file, last, &mut r.compat)?;
    }
    r.load_ms = t.elapsed().as_millis();
    r.compat.finish();
    for (kind, n) in r.quirks.hidden().into_iter().filter(|_| !quiet_quirks) {
        d1_core::msg::warn(&format!(
            "{path}: {n} more {} warning(s) not shown",
            Quirks::kind_name(kind)
        ));
    }
    sandbox::unguard(&mut conn).map_err(sql("removing the restore's authorizer"))?;
    budget.lift();
    conn.execute_batch("COMMIT")
        .map_err(sql("committing the restore"))?;
    if r.stats.statements == 0 {
        return Err(Error::failed("empty dump: no SQL statements"));
    }
    r.passed.push("restore");

    let t = Instant::now();
    sandbox::share(&conn).map_err(sql("ending the restore's exclusive lock"))?;
    let checked = crate::parallel::run(&conn, &sandbox::Checkers::new(&conn, &place))?;
    let integrity = checked.integrity;
    r.fk = checked.fk;
    r.inventory = checked.inventory;
    r.check_ms = t.elapsed().as_millis();
    if let Err(problems) = integrity {
        return Err(Error::failed(format!(
            "integrity_check: {}",
            problems.join("; ")
        )));
    }
    r.passed.push("integrity_check");
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
    r.passed.push("foreign_key_check");
    if !opts.expect_tables.is_empty() || !opts.min_rows.is_empty() {
        expectations(&r.inventory, opts)?;
        r.passed.push("expectations");
    }
    if opts.d1_compat {
        r.passed.push("d1_compat");
    }
    if let Some(a) = &opts.against {
        crate::against::check(
            &conn,
            path,
            r.database.as_deref(),
            a,
            &r.quirks,
            &mut r.against,
        )?;
        r.passed.push("against");
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

/// The SQL size a progress line can count towards: a plain file's size, or for a compressed
/// one the `sql_bytes` its manifest records.
fn expected_sql_bytes(path: &str, compressed: bool) -> Option<u64> {
    if path == "-" {
        return None;
    }
    if !compressed {
        return std::fs::metadata(path).ok().map(|m| m.len());
    }
    let m = d1_archive::names::manifest_path(std::path::Path::new(path));
    let m = d1_archive::Manifest::load(&m);
    m.ok().flatten().and_then(|m| m.sql_bytes.get().copied())
}

/// A `--schema` file split in two: everything but its triggers, then its triggers.
fn schema_parts(file: &str, opts: &Options) -> Result<(Vec<u8>, Vec<u8>)> {
    let src = source::open(file, opts.identity.as_ref())?;
    let mut split = d1_sql::split::Splitter::new(src.reader, opts.settings.max_statement);
    let (mut first, mut last) = (Vec::new(), Vec::new());
    loop {
        let st = match split.next() {
            Ok(Some(st)) => st,
            Ok(None) => break,
            Err(d1_sql::split::SplitError::Io(e)) => {
                return Err(Error::io(format!("reading schema {file}"), e))
            }
            Err(d1_sql::split::SplitError::Incomplete { line }) => {
                return Err(Error::failed(format!(
                    "schema {file} line {line}: the file ends inside a statement"
                )))
            }
            Err(d1_sql::split::SplitError::TooLong { line, max }) => {
                return Err(Error::failed(format!(
                    "schema {file} line {line}: a statement longer than {max} bytes"
                )))
            }
        };
        let target = if is_create_trigger(st.text) {
            &mut last
        } else {
            &mut first
        };
        target.extend_from_slice(st.text);
        target.push(b'\n');
    }
    Ok((first, last))
}

/// `CREATE [TEMP|TEMPORARY] TRIGGER …`, after any leading comments and white space.
fn is_create_trigger(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    let words: Vec<String> = text
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    match words.as_slice() {
        [c, t, ..] if c == "CREATE" && t == "TRIGGER" => true,
        [c, tmp, t] if c == "CREATE" && (tmp == "TEMP" || tmp == "TEMPORARY") && t == "TRIGGER" => {
            true
        }
        _ => false,
    }
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
