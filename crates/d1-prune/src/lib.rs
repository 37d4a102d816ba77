//! d1-prune: retention for D1 backups. The policy ([`policy`], restic's rules) and the
//! verification-aware plan ([`plan`]) are pure functions over `(id, time)` entries; the backups
//! come from d1_archive's catalog of a store (a folder or a bucket prefix alike), [`remove`]
//! takes them away through the store, [`report`] says what happened; [`run`] ties them
//! together for the binary.

pub mod args;
pub mod calendar;
pub mod plan;
pub mod policy;
pub mod remove;
pub mod report;
pub mod run;
