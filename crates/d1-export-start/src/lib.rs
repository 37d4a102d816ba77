//! d1-export-start: starts a D1 export for each database named and prints one
//! `DATABASE_ID BOOKMARK` line per database, flushed at once, for d1-export-wait to poll.
//!
//! The tool is this library; main.rs only calls [`start::run`] with [`args::parse`]'s result.

pub mod args;
pub mod exclude;
pub mod preflight;
pub mod size;
pub mod start;
