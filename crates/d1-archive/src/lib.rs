//! d1-archive: what a backup is and where it is kept. A backup is three files that travel
//! together (the dump, its `.sha256`, its `.json` manifest); every tool that reads, writes,
//! copies, lists or removes backups does it through this crate, and no tool crate owns it.

pub mod catalog;
pub mod checksum;
pub mod field;
pub mod folder;
pub mod manifest;
pub mod names;
pub mod places;
pub mod s3;
pub mod select;
pub mod set;
pub mod store;
pub mod verdict;

pub use field::Field;
pub use folder::Folder;
pub use manifest::Manifest;
pub use store::Store;
pub use verdict::Verdict;
