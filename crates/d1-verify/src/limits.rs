//! How much CPU and memory a restore may use, and SIGINT/SIGTERM inside a long statement.
//!
//! A dump is untrusted input, and a few bytes of SQL can ask for years of work or terabytes
//! (issue 17: 2.7 KB with a six-way cross join ran for minutes deaf to signals, and with
//! `SELECT 1` instead of `count(*)` grew to 22 GB). A dump's statements store what the dump
//! carries, so the work and the memory they need grow with the dump's size: the budget is a
//! fixed floor plus an allowance per byte of SQL read so far.
//!
//! - CPU: SQLite calls a progress handler every `PERIOD` virtual-machine instructions; it
//!   counts them and interrupts the statement once the allowance is spent. The same handler
//!   interrupts on SIGINT/SIGTERM (d1_core::signal), so a signal is honoured within
//!   microseconds of SQLite work, not at the end of the statement.
//! - Memory: `sqlite3_hard_heap_limit64`, past which SQLite's allocations fail (SQLITE_NOMEM).
//!   It is process-wide; d1-verify restores one dump at a time, and lifts it after the load.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Instructions between two calls of the progress handler.
const PERIOD: u64 = 1000;
/// Instructions any dump may use (a fraction of a second of SQLite work), and per byte of SQL.
/// Measured: a 23 MB dump of 220,000 rows with a CHECK, a foreign key and four indexes took
/// 12.9 million, 0.55 per byte (a row's INSERT costs tens, each index a few more); 200 per byte
/// leaves a margin of hundreds for CHECK constraints and generated columns.
pub const BASE_STEPS: u64 = 100_000_000;
pub const STEPS_PER_BYTE: u64 = 200;
/// Heap any restore may use, and per byte of SQL: the restored database is smaller than its
/// dump (numbers and hex blobs are longer as text), indexes add to it. Measured: the 23 MB
/// dump above peaked at 42 MB of resident memory in all.
pub const BASE_HEAP: u64 = 256 << 20;
pub const HEAP_PER_BYTE: u64 = 8;

const RUNNING: u8 = 0;
const INTERRUPTED: u8 = 1;
const OVER_CPU: u8 = 2;

/// Why the handler stopped a statement.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Interrupted,
    OverCpu { steps: u64 },
}

#[derive(Default)]
struct Inner {
    steps: AtomicU64,
    limit: AtomicU64,
    stop: AtomicU8,
    /// SQL bytes of the loads before this one (a --schema file, then the dump).
    earlier: AtomicU64,
}

/// One restore's budget: `install` it on the connection, `grant` as the dump is read.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
    /// Heap for what is not the dump's: a `--db` target's page cache.
    extra_heap: u64,
    base_steps: u64,
}

impl Budget {
    /// A budget for a restore whose own settings need `extra_heap` bytes besides the data.
    pub fn new(extra_heap: u64) -> Budget {
        let b = Budget {
            inner: Arc::default(),
            extra_heap,
            // An internal switch for the tests that need a statement to outlast a signal.
            base_steps: std::env::var("D1_VERIFY_BASE_STEPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(BASE_STEPS),
        };
        b.grant(0);
        b
    }

    /// Installs the progress handler on `conn`.
    pub fn install(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        let inner = Arc::clone(&self.inner);
        conn.progress_handler(
            PERIOD as i32,
            Some(move || {
                if d1_core::signal::interrupted() {
                    inner.stop.store(INTERRUPTED, Ordering::Relaxed);
                    return true;
                }
                let steps = inner.steps.fetch_add(PERIOD, Ordering::Relaxed) + PERIOD;
                if steps > inner.limit.load(Ordering::Relaxed) {
                    inner.stop.store(OVER_CPU, Ordering::Relaxed);
                    return true;
                }
                false
            }),
        )
    }

    /// Sets the allowance for `bytes` of SQL read so far by the current load.
    pub fn grant(&self, bytes: u64) {
        let bytes = bytes.saturating_add(self.inner.earlier.load(Ordering::Relaxed));
        let steps = self
            .base_steps
            .saturating_add(bytes.saturating_mul(STEPS_PER_BYTE));
        self.inner.limit.store(steps, Ordering::Relaxed);
        set_heap_limit(self.heap_for(bytes));
    }

    /// A load ended after `bytes` of SQL: the next one starts from there.
    pub fn loaded(&self, bytes: u64) {
        self.inner.earlier.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The heap allowance for `bytes` of SQL.
    pub fn heap_for(&self, bytes: u64) -> u64 {
        BASE_HEAP
            .saturating_add(self.extra_heap)
            .saturating_add(bytes.saturating_mul(HEAP_PER_BYTE))
    }

    /// After the load: our own checks run without a CPU or memory limit (signals still stop
    /// them).
    pub fn lift(&self) {
        self.inner.limit.store(u64::MAX, Ordering::Relaxed);
        set_heap_limit(0);
    }

    /// Why the last interrupted statement was stopped, if the handler stopped it.
    pub fn take_stop(&self) -> Option<Stop> {
        match self.inner.stop.swap(RUNNING, Ordering::Relaxed) {
            INTERRUPTED => Some(Stop::Interrupted),
            OVER_CPU => Some(Stop::OverCpu {
                steps: self.inner.steps.load(Ordering::Relaxed),
            }),
            _ => None,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        set_heap_limit(0);
    }
}

/// 0 is no limit.
fn set_heap_limit(bytes: u64) {
    let n = i64::try_from(bytes).unwrap_or(i64::MAX);
    // SAFETY: sets a process-wide number inside SQLite; callable at any time.
    unsafe {
        rusqlite::ffi::sqlite3_hard_heap_limit64(n);
    }
}

/// SQLite ran out of memory: with the limit set, the budget was spent.
pub fn is_out_of_memory(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::OutOfMemory)
}
