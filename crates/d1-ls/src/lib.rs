//! d1-ls: which backups are there, where, and are they good? Lists the backups of folders and
//! bucket prefixes (d1_archive's catalog of each store), grouped by database ([`listing`]),
//! as a table, records or JSON ([`show`]); [`run`] ties them together for the binary.

pub mod args;
pub mod listing;
pub mod run;
pub mod show;
