//! SQL text as SQLite reads it, written once for every reader: [`lex`] (SQLite's tokens,
//! resumable over a growing buffer), [`split`] (complete statements from a stream, with their
//! line), [`ident`] (a name quoted for SQL) and [`importable`] (a statement D1's import
//! refuses, rewritten into ones it takes). d1-verify restores and checks dumps with them; the
//! emulator's import splits an uploaded file with the same splitter; d1-import rewrites a dump
//! for D1 with `importable`, which d1-verify's compatibility report also asks.

pub mod ident;
pub mod importable;
pub mod lex;
pub mod split;
