//! S3 and R2: the client (on d1-core's HTTP layer and retry runner), uploads of whole files,
//! and a bucket prefix as a [`crate::store::Store`].

pub mod answer;
pub mod client;
pub mod config;
pub mod lease;
pub mod prefix;
pub mod upload;
pub mod url;
pub mod xml;

pub use client::{Body, Client};
pub use config::{Options, ENV_HELP};
pub use prefix::Prefix;
pub use url::S3Url;
