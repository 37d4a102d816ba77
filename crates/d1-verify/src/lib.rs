//! d1-verify as a library: restores a dump into a sandboxed in-memory SQLite database, checks
//! it, and reports. [`args`] parses the command line and [`run`] is the record loop over the rest;
//! main.rs only calls them. The tests and the fuzz targets use these modules directly.

pub mod against;
pub mod args;
pub mod atof;
pub mod check;
pub mod compat;
pub mod encrypted;
pub mod excerpt;
pub mod fastpath;
pub mod fingerprint;
pub mod fuzzing;
pub mod limits;
pub mod metrics;
pub mod parallel;
pub mod quirks;
pub mod report;
pub mod restore;
pub mod run;
pub mod sandbox;
pub mod shape;
pub mod source;
pub mod verdict;
pub mod verify;
