//! d1-import: restores SQL dumps (`.sql` or `.sql.zst`) into D1 databases through the import
//! API (init, upload, ingest, poll) and prints one `DATABASE_ID FINAL_BOOKMARK ...` line each.
//!
//! The tool is this library; main.rs only calls [`run::run`] with [`args::parse`]'s result.

pub mod args;
pub mod guard;
pub mod outcome;
pub mod restore;
pub mod rewrite;
pub mod run;
pub mod source;
pub mod timetravel;
pub mod upload;
pub mod verify;
