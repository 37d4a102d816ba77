//! d1-prune: retention for D1 backups. The policy ([`policy`], restic's rules) and the
//! verification-aware plan ([`plan`]) are pure functions over `(id, time)` entries, so that a
//! bucket prefix can be pruned by the same rules as a folder; [`scan`] and [`remove`] are the
//! local-folder side, [`report`] what is printed; [`run`] ties them together for the binary.

pub mod args;
pub mod calendar;
pub mod input;
pub mod lock;
pub mod manifest;
pub mod plan;
pub mod policy;
pub mod remove;
pub mod report;
pub mod run;
pub mod scan;
