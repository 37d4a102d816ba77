//! SQL text as SQLite reads it, written once for every reader: [`lex`] (SQLite's tokens,
//! resumable over a growing buffer), [`split`] (complete statements from a stream, with their
//! line) and [`ident`] (a name quoted for SQL). d1-verify restores and checks dumps with them;
//! the emulator's import splits an uploaded file with the same splitter.

pub mod ident;
pub mod lex;
pub mod split;
