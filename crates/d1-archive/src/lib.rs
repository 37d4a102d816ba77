//! d1-archive: what a backup is and where it is kept. A backup is three files that travel
//! together (the dump, its `.sha256`, its `.json` manifest); every tool that reads, writes,
//! copies, lists or removes backups does it through this crate, and no tool crate owns it.

pub mod checksum;
pub mod field;
pub mod manifest;
pub mod names;
pub mod set;
pub mod verdict;

pub use field::Field;
pub use manifest::Manifest;
pub use verdict::Verdict;
