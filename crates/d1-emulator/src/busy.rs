//! A database that is exporting does not serve queries (docs/d1-emulator.md), and one whose export
//! just failed on a virtual table stays locked a while longer (`--export-lock-ms`): what users of
//! D1 hit when a backup job retries at once. Both are refused with the same error. A database that
//! is importing is refused the same way with the word "import" ("Imports block the D1 for their
//! duration", API reference; the wording is the emulator's choice).

use crate::app::{App, State, Status};
use crate::envelope;
use crate::http::Response;
use std::time::{Duration, Instant};

/// The refusal's message; the status is 400 and the code 7500, like D1's other SQL errors.
pub const BUSY_MESSAGE: &str = "D1_ERROR: Currently processing a long-running export.";
/// The same refusal while an import runs.
pub const IMPORT_BUSY_MESSAGE: &str = "D1_ERROR: Currently processing a long-running import.";

/// Why a database refuses work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Busy {
    /// An export of it is active.
    Exporting,
    /// An export of it failed a moment ago.
    Locked,
    /// An import into it is running.
    Importing,
}

impl App {
    /// Whether database `uuid` is exporting or locked right now.
    pub fn busy(&self, st: &mut State, uuid: &str) -> Option<Busy> {
        self.expire_exports(st);
        if st
            .imports
            .iter()
            .any(|i| i.database == uuid && i.status == Status::Active)
        {
            return Some(Busy::Importing);
        }
        if st
            .exports
            .iter()
            .any(|e| e.database == uuid && e.status == Status::Active)
        {
            return Some(Busy::Exporting);
        }
        let now = Instant::now();
        st.locks.retain(|_, until| *until > now);
        st.locks.contains_key(uuid).then_some(Busy::Locked)
    }

    /// Locks database `uuid` for `--export-lock-ms` from now.
    pub fn lock(&self, st: &mut State, uuid: &str) {
        if self.opts.export_lock_ms > 0 {
            let until = Instant::now() + Duration::from_millis(self.opts.export_lock_ms);
            st.locks.insert(uuid.to_string(), until);
        }
    }

    /// Counts the refusal (per endpoint, for `/__emulator/state`) and renders it.
    pub fn refuse(&self, st: &mut State, endpoint: &'static str, why: Busy) -> Response {
        *st.refused.entry(endpoint).or_insert(0) += 1;
        let msg = match why {
            Busy::Importing => IMPORT_BUSY_MESSAGE,
            Busy::Exporting | Busy::Locked => BUSY_MESSAGE,
        };
        envelope::error(400, 7500, msg)
    }
}
