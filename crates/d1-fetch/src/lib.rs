//! d1-fetch: downloads D1 dumps from their signed URLs into files that are either whole and
//! checksummed or not there at all. Reads `DATABASE_ID SIGNED_URL` lines (d1-export-wait's
//! output) or one URL argument; prints the path of each file written.
//!
//! The tool is this library; main.rs only calls [`fetch::run`] with [`args::parse`]'s result.

pub mod args;
pub mod chunks;
pub mod download;
pub mod encrypt;
pub mod fetch;
pub mod finish;
pub mod manifest;
pub mod metrics;
pub mod output;
pub mod s3;
pub mod sink;
pub mod writeback;
