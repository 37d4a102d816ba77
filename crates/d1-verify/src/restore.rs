//! The load loop: statements from the splitter go through the fast path when they are the
//! dump's plain INSERTs, and otherwise through a gate (shape.rs: only the statement shapes a D1
//! dump or `sqlite3 .dump` contains) to SQLite's own parser. The first failing statement ends the load
//! with its line, SQLite's message and the statement's start.

use crate::excerpt::quote_start;
use crate::fastpath::Parsed;
use crate::limits::{self, Budget, Stop};
use crate::quirks::{Quirks, Warning};
use crate::sandbox::Denied;
use crate::shape::{gate, Gate};
use d1_core::{Error, Result};
use d1_sql::split::{SplitError, Splitter};
use rusqlite::Connection;
use std::collections::HashMap;
use std::io::BufRead;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub max_statement: usize,
    pub fast_path: bool,
    /// What the progress line calls the input (the dump's path), and its SQL size when known
    /// (a plain file's size, or the manifest's `sql_bytes` for a compressed one).
    pub name: String,
    pub total: Option<u64>,
}

#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub statements: u64,
    pub fast_rows: u64,
    pub bytes: u64,
}

fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        // A syntax error: SQLite's message without rusqlite's copy of the statement.
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

/// SQLite failing to write, rather than refusing the SQL: the dump is not at fault, so the
/// message says where SQLite writes (a large `CREATE INDEX` spills its sort to a temporary
/// file, sandbox.rs).
fn storage_failure(e: &rusqlite::Error) -> Option<String> {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, SystemIoFailure};
    match e.sqlite_error_code()? {
        DiskFull | SystemIoFailure | CannotOpen => Some(format!(
            "SQLite could not write its working files ({}): a large CREATE INDEX sorts in a \
             temporary file in TMPDIR (else /var/tmp or /tmp), and --db writes beside its \
             target; make room there or point TMPDIR elsewhere",
            sqlite_message(e)
        )),
        _ => None,
    }
}

/// Prepared INSERTs by their text up to `VALUES(` and value count; None when SQLite would
/// not prepare it (the statement then always takes the slow path, which reports the error).
/// A dump's rows come table by table: the last statement used is tried before the map.
#[derive(Default)]
struct Cache<'c> {
    slots: Vec<Slot<'c>>,
    index: HashMap<(Vec<u8>, usize), usize>,
    last: usize,
}

struct Slot<'c> {
    head: Vec<u8>,
    values: usize,
    stmt: Option<rusqlite::Statement<'c>>,
}

impl<'c> Cache<'c> {
    /// The statement for `head` with `values` values, prepared with `sql()` the first time.
    fn get(
        &mut self,
        conn: &'c Connection,
        head: &[u8],
        values: usize,
        sql: impl FnOnce() -> String,
    ) -> Option<&mut rusqlite::Statement<'c>> {
        let hit = self
            .slots
            .get(self.last)
            .is_some_and(|s| s.values == values && s.head == head);
        if !hit {
            self.last = match self.index.get(&(head.to_vec(), values)) {
                Some(&i) => i,
                None => {
                    self.slots.push(Slot {
                        head: head.to_vec(),
                        values,
                        stmt: conn.prepare(&sql()).ok(),
                    });
                    let i = self.slots.len() - 1;
                    self.index.insert((head.to_vec(), values), i);
                    i
                }
            };
        }
        self.slots[self.last].stmt.as_mut()
    }
}

/// Runs a parsed INSERT through the fast path: `Ok(false)` when it failed in a way SQLite's
/// parser explains best (the INSERT was rolled back; the slow path then gives the canonical
/// error), `Err` when it failed for good (memory, storage, a signal: running it again would
/// only meet a database left in an error state).
fn try_fast<'c>(
    conn: &'c Connection,
    denied: &Denied,
    cache: &mut Cache<'c>,
    text: &str,
    ins: &Parsed,
) -> rusqlite::Result<bool> {
    let head = ins.head(text).as_bytes();
    let Some(stmt) = cache.get(conn, head, ins.value_count(), || ins.prepared_sql(text)) else {
        return Ok(false);
    };
    match ins.execute(text, stmt) {
        Ok(()) => Ok(true),
        Err(e) if is_final(&e) => Err(e),
        Err(_) => {
            // A denial is reported by the slow path when it meets it again.
            let _ = denied.take();
            Ok(false)
        }
    }
}

/// Failures that say nothing about the statement's SQL but about the restore's resources.
fn is_final(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(
            OutOfMemory
                | SystemIoFailure
                | DiskFull
                | OperationInterrupted
                | DatabaseCorrupt
                | NotADatabase
        )
    )
}

/// What the reader thread hands to the SQLite thread: statements in dump order, their texts
/// side by side in one buffer (one allocation a batch, not one a statement).
struct Batch {
    text: String,
    items: Vec<Item>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            text: String::with_capacity(BATCH * 256),
            items: Vec::with_capacity(BATCH),
        }
    }
}

enum Item {
    Statement {
        line: u64,
        /// Where the statement's text is in the batch's buffer.
        text: Range<usize>,
        /// The fast path's parse, done on the reader thread: `None` for anything but the
        /// dump's plain INSERT (or with the fast path off).
        fast: Option<Parsed>,
    },
    Warning(Warning),
    /// The reader stopped here: a split, UTF-8 or D1-compatibility failure.
    Stop(Error),
}

/// Statements per hand-over: enough to make the channel's cost negligible per statement.
const BATCH: usize = 512;

/// Loads one SQL stream. `label` prefixes lines in messages (`line 7` or `schema line 7`).
///
/// Two threads, because the machine has two cores and the work splits cleanly: one reads,
/// decompresses, splits and scans the text (quirks, D1 compatibility) and parses the fast
/// path's INSERTs, the other binds and executes in SQLite. Order is kept: items travel in dump order, so the first failure reported is still
/// the first in the dump. Memory stays bounded by the channel (a few batches).
#[allow(clippy::too_many_arguments)]
pub fn load(
    conn: &Connection,
    denied: &Denied,
    budget: &Budget,
    reader: Box<dyn BufRead + Send>,
    label: &str,
    settings: &Settings,
    stats: &mut Stats,
    quirks: &mut Quirks,
    compat: &mut crate::compat::Compat,
    mut warn: impl FnMut(&Warning),
) -> Result<()> {
    let bytes_read = AtomicU64::new(0);
    let start_bytes = stats.bytes;
    let (tx, rx) = sync_channel::<Batch>(4);
    // Executed batches go back to the reader to be filled again: their buffers are reused
    // instead of freed and allocated afresh (fresh pages cost a page fault each, on both sides).
    let (back_tx, back_rx) = channel::<Batch>();
    let failed = std::thread::scope(|scope| {
        let reading = scope.spawn(|| {
            read_ahead(
                reader,
                settings,
                label,
                quirks,
                compat,
                &bytes_read,
                (tx, back_rx),
            )
        });
        let outcome = execute(
            conn,
            denied,
            budget,
            (rx, back_tx),
            stats,
            label,
            settings,
            &mut warn,
            || bytes_read.load(Ordering::Relaxed),
        );
        // `rx` is gone with `execute`: a reader still running stops at its next hand-over.
        let read = reading.join();
        (outcome, read)
    });
    stats.bytes = start_bytes + bytes_read.load(Ordering::Relaxed);
    budget.loaded(bytes_read.load(Ordering::Relaxed));
    match failed {
        (Ok(()), Ok(())) => Ok(()),
        (Err(Failure::Error(e)), _) => Err(e),
        (
            Err(Failure::Sqlite {
                message,
                line,
                text,
            }),
            _,
        ) => {
            // Only now is `compat` free again: the reader thread has ended.
            let msg = compat.explain_failure(message, line, label);
            Err(Error::failed(format!(
                "{label} {line}: {msg}: {}",
                quote_start(&text)
            )))
        }
        (Ok(()), Err(_)) => Err(Error::failed("the dump reader thread failed")),
    }
}

/// Splits, checks and scans the dump, sending statements in batches. Ends at the end of the
/// dump, at the first problem (sent as `Item::Stop`), or when the SQLite side hung up.
fn read_ahead(
    reader: Box<dyn BufRead + Send>,
    settings: &Settings,
    label: &str,
    quirks: &mut Quirks,
    compat: &mut crate::compat::Compat,
    bytes_read: &AtomicU64,
    (tx, back): (SyncSender<Batch>, Receiver<Batch>),
) {
    let mut sp = Splitter::new(reader, settings.max_statement);
    let mut batch = Batch::new();
    loop {
        let stop = match sp.next() {
            Ok(Some(st)) => {
                let line = st.line;
                // SIMD validation: this pass over every byte of the dump was a tenth of the
                // reader's time with std's validator on unicode-heavy text.
                match simdutf8::basic::from_utf8(st.text) {
                    Err(_) => Some(Error::failed(format!(
                        "{label} {line}: statement is not valid UTF-8"
                    ))),
                    Ok(text) => {
                        let fast = settings.fast_path.then(|| Parsed::of(text)).flatten();
                        let warn = |w: &Warning| batch.items.push(Item::Warning(w.clone()));
                        match &fast {
                            Some(p) => quirks.noted(st.text, line, &p.notes, warn),
                            None => quirks.scan(st.text, line, warn),
                        }
                        // Before anything runs: what D1's import would refuse (a warning, or
                        // with --d1-compat the failure, even for statements this restore skips).
                        match compat.scan(text, line, label) {
                            Ok(()) => {
                                let at = batch.text.len();
                                batch.text.push_str(text);
                                batch.items.push(Item::Statement {
                                    line,
                                    text: at..batch.text.len(),
                                    fast,
                                });
                                None
                            }
                            Err(e) => Some(e),
                        }
                    }
                }
            }
            Ok(None) => {
                bytes_read.store(sp.bytes(), Ordering::Relaxed);
                let _ = tx.send(batch);
                return;
            }
            Err(SplitError::Io(e)) => Some(Error::io("reading the dump", e)),
            Err(SplitError::Incomplete { line }) => Some(Error::failed(format!(
                "{label} {line}: incomplete statement at end of dump (truncated?)"
            ))),
            Err(SplitError::TooLong { line, max }) => Some(Error::failed(format!(
                "{label} {line}: statement longer than {max} bytes (see --max-statement-bytes)"
            ))),
        };
        bytes_read.store(sp.bytes(), Ordering::Relaxed);
        if let Some(e) = stop {
            batch.items.push(Item::Stop(e));
            let _ = tx.send(batch);
            return;
        }
        if batch.items.len() >= BATCH {
            let next = back.try_recv().unwrap_or_else(|_| Batch::new());
            let full = std::mem::replace(&mut batch, next);
            if tx.send(full).is_err() {
                return;
            }
        }
    }
}

/// Why the SQLite side stopped.
enum Failure {
    Error(Error),
    /// SQLite refused a statement: explained once the reader has ended (see `load`).
    Sqlite {
        message: String,
        line: u64,
        text: String,
    },
}

/// `backups/x.sql: 21.2 MB of 100.0 MB (21%), 12s left`, or without a known size
/// `backups/x.sql: 21.2 MB restored`.
fn progress_line(s: &Settings, read: u64, elapsed: std::time::Duration) -> String {
    let done = d1_core::msg::human_bytes(read);
    match s.total.filter(|t| *t > 0) {
        Some(total) => {
            let share = (read as f64 / total as f64).min(1.0);
            let left = if share > 0.01 {
                let secs = elapsed.as_secs_f64() * (1.0 - share) / share;
                format!(", {secs:.0}s left")
            } else {
                String::new()
            };
            format!(
                "{}: {done} of {} ({:.0}%){left}",
                s.name,
                d1_core::msg::human_bytes(total),
                share * 100.0
            )
        }
        None => format!("{}: {done} restored", s.name),
    }
}

/// Executes the statements the reader sends, in order.
#[allow(clippy::too_many_arguments)]
fn execute(
    conn: &Connection,
    denied: &Denied,
    budget: &Budget,
    (rx, back): (Receiver<Batch>, Sender<Batch>),
    stats: &mut Stats,
    label: &str,
    settings: &Settings,
    warn: &mut impl FnMut(&Warning),
    bytes: impl Fn() -> u64,
) -> std::result::Result<(), Failure> {
    let mut cache = Cache::default();
    let mut progress = d1_core::msg::Progress::new();
    let started = std::time::Instant::now();
    for mut batch in rx {
        d1_core::signal::check().map_err(Failure::Error)?;
        // The reader is ahead of this batch: its statements are within the bytes read.
        let read = bytes();
        budget.grant(read);
        progress.update(|| progress_line(settings, read, started.elapsed()));
        for item in batch.items.drain(..) {
            let (line, text, fast) = match item {
                Item::Warning(w) => {
                    warn(&w);
                    continue;
                }
                Item::Stop(e) => return Err(Failure::Error(e)),
                Item::Statement { line, text, fast } => (line, &batch.text[text], fast),
            };
            stats.statements += 1;
            let fast = match &fast {
                Some(ins) => try_fast(conn, denied, &mut cache, text, ins),
                None => Ok(false),
            };
            let outcome = match fast {
                Ok(true) => {
                    stats.fast_rows += 1;
                    continue;
                }
                Err(e) => Err(e),
                Ok(false) => {
                    match gate(text) {
                        Gate::Skip => continue,
                        Gate::Refuse(why) => {
                            return Err(Failure::Error(Error::failed(format!(
                                "{label} {line}: refused: {why}: {}",
                                quote_start(text)
                            ))));
                        }
                        Gate::Run => {}
                    }
                    let run = || -> rusqlite::Result<()> {
                        let mut s = conn.prepare(text)?;
                        let mut rows = s.raw_query();
                        while rows.next()?.is_some() {}
                        Ok(())
                    };
                    run()
                }
            };
            if let Err(e) = outcome {
                match budget.take_stop() {
                    Some(Stop::Interrupted) => return Err(Failure::Error(Error::interrupted())),
                    Some(Stop::OverCpu { steps }) => {
                        return Err(Failure::Error(Error::failed(format!(
                            "{label} {line}: refused: the statement ran over the restore's CPU \
                             budget ({} million SQLite steps for {} of SQL; a dump's statements \
                             only store what it carries): {}",
                            steps / 1_000_000,
                            d1_core::msg::human_bytes(bytes()),
                            quote_start(text)
                        ))))
                    }
                    None if limits::is_out_of_memory(&e) => {
                        return Err(Failure::Error(Error::failed(format!(
                            "{label} {line}: refused: the statement needs more memory than the \
                             restore's budget ({} for {} of SQL): {}",
                            d1_core::msg::human_bytes(budget.heap_for(bytes())),
                            d1_core::msg::human_bytes(bytes()),
                            quote_start(text)
                        ))))
                    }
                    None => {}
                }
                return Err(match denied.take() {
                    Some(why) => Failure::Error(Error::failed(format!(
                        "{label} {line}: refused: {why}: {}",
                        quote_start(text)
                    ))),
                    None => match storage_failure(&e) {
                        Some(why) => Failure::Error(Error::failed(format!(
                            "{label} {line}: {why}: {}",
                            quote_start(text)
                        ))),
                        None => Failure::Sqlite {
                            message: sqlite_message(&e),
                            line,
                            text: text.to_string(),
                        },
                    },
                });
            }
        }
        batch.text.clear();
        // The reader may have ended: then the batch is simply dropped.
        let _ = back.send(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_names_the_dump_and_its_share_when_the_size_is_known() {
        let mut s = Settings {
            name: "b/x.sql".into(),
            total: Some(100_000_000),
            ..Settings::default()
        };
        let t = std::time::Duration::from_secs(3);
        assert_eq!(
            progress_line(&s, 25_000_000, t),
            "b/x.sql: 25.0 MB of 100.0 MB (25%), 9s left"
        );
        s.total = None;
        assert_eq!(
            progress_line(&s, 25_000_000, t),
            "b/x.sql: 25.0 MB restored"
        );
    }

    #[test]
    fn a_full_disk_is_reported_as_where_sqlite_writes_not_as_a_bad_dump() {
        let failure = |code, msg: &str| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(msg.to_string()))
        };
        let full = storage_failure(&failure(
            rusqlite::ffi::SQLITE_FULL,
            "database or disk is full",
        ));
        let full = full.unwrap_or_default();
        assert!(
            full.contains("database or disk is full") && full.contains("TMPDIR"),
            "{full}"
        );
        let io = failure(rusqlite::ffi::SQLITE_IOERR_WRITE, "disk I/O error");
        assert!(storage_failure(&io).is_some());
        let constraint = failure(
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: t.k",
        );
        assert_eq!(storage_failure(&constraint), None);
    }
}
