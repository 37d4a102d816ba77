//! d1-export-wait: polls D1 exports to completion and prints one `DATABASE_ID SIGNED_URL` line
//! per export as soon as it is ready, flushed at once so that d1-fetch downloads while fresh.
//!
//! The tool is this library; main.rs only calls [`pool::run`] with [`args::parse`]'s result.

pub mod args;
pub mod input;
pub mod poll;
pub mod pool;
