//! d1-emulator: serves a faithful local Cloudflare D1 REST API on 127.0.0.1 from a folder of
//! SQLite files, with signed dump URLs and fault injection. See docs/d1-emulator.md.
//!
//! The emulator is this library; main.rs only calls [`run::main`].

pub mod app;
pub mod busy;
pub mod cli;
pub mod dbs;
pub mod download;
pub mod dump;
pub mod envelope;
pub mod export;
pub mod faults;
pub mod history;
pub mod http;
pub mod import;
pub mod jsnum;
pub mod load;
pub mod query;
pub mod ratelimit;
pub mod rules;
pub mod run;
pub mod seed;
pub mod signing;
pub mod spool;
pub mod timetravel;
