//! d1-core: what the d1-tools share — configuration, the Cloudflare API client, pipe records,
//! errors and exit codes, redaction, messages, atomic files. Each module holds one idea.
//! The API client and its HTTP layer are the default feature `client` (Cargo.toml), which the
//! emulator turns off.

#[cfg(feature = "client")]
pub mod api;
pub mod argv;
pub mod atomic;
pub mod budget;
pub mod busy;
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
pub mod envelope;
pub mod error;
#[cfg(feature = "client")]
pub mod export;
#[cfg(feature = "client")]
pub mod fuzzing;
pub mod hashing;
#[cfg(feature = "client")]
pub mod http;
#[cfg(feature = "client")]
pub mod import;
pub mod metrics;
pub mod msg;
pub mod pipe;
pub mod record;
pub mod redact;
pub mod retry;
pub mod shard;
pub mod signal;
pub mod sniff;
pub mod time;
pub mod upstream;
pub mod url;

pub use config::Config;
pub use error::{Error, ExitCode, Kind, Result};
