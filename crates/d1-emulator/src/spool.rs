//! Files in the spool folder: finished dumps and uploaded import files. Here, below both the HTTP
//! layer (which streams a dump's file as a response body) and the app (which keeps them in its
//! state), so that neither imports the other for them.

use std::time::Instant;

/// A finished dump: a file in the spool folder (never in the data folder, never in memory, so
/// that a 1 GB export served several times costs no memory), removed when the last download
/// of it ends after it was dropped from the state.
pub struct Dump {
    pub path: tempfile::TempPath,
    pub len: u64,
    pub etag: String,
    pub created: Instant,
}

/// An uploaded import file, spooled the same way.
pub struct Upload {
    pub path: tempfile::TempPath,
    pub etag: String,
}
