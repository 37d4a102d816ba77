//! D1's walls around user SQL, enforced on the query endpoint and on import alike: no transaction
//! control (D1 wraps every request in its own), no writes to its reserved `_cf_` tables, no
//! ATTACH or DETACH (D1 has no file system to attach; in the emulator an ATTACH would create a
//! file anywhere the emulator may write), and no statement longer than 100 000 bytes. An SQLite authorizer does the first two, so quoting,
//! comments, `END`, `RELEASE` or a trigger body cannot slip past a text match.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// D1's limit on one SQL statement, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 100_000;

/// D1's answer to BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT and RELEASE (workerd's wording).
pub const TRANSACTION_REFUSED: &str = "To execute a transaction, please use the \
state.storage.transaction() or state.storage.transactionSync() APIs instead of the SQL BEGIN \
TRANSACTION or SAVEPOINT statements. The JavaScript API is safer because it will automatically \
roll back on exceptions, and because it interacts correctly with Durable Objects' automatic \
atomic write coalescing.";

/// Creating, writing, altering or dropping a `_cf_` table (SQLite's own authorizer wording).
pub const NOT_AUTHORIZED: &str = "not authorized: SQLITE_AUTH";

/// A statement over `MAX_STATEMENT_BYTES` (SQLite's own wording for its length limit).
pub const TOO_LONG: &str = "statement too long: SQLITE_TOOBIG";

const ALLOWED: u8 = 0;
const TRANSACTION: u8 = 1;
const RESERVED: u8 = 2;

/// The authorizer while it is installed; remembers why it last refused, for the message.
pub struct Guard {
    why: Arc<AtomicU8>,
}

/// `_cf_` tables belong to Cloudflare (`_cf_KV`, `_cf_METADATA`); SQLite names are
/// case-insensitive, so is the prefix.
pub fn reserved(name: &str) -> bool {
    name.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"_cf_"))
}

fn judge(action: AuthAction<'_>) -> u8 {
    use AuthAction::*;
    let table = match action {
        Transaction { .. } | Savepoint { .. } => return TRANSACTION,
        // D1 answers ATTACH with SQLite's authorizer error, as for `_cf_` tables.
        Attach { .. } | Detach { .. } => return RESERVED,
        CreateTable { table_name }
        | CreateTempTable { table_name }
        | Insert { table_name }
        | Update { table_name, .. }
        | Delete { table_name }
        | DropTable { table_name }
        | DropTempTable { table_name }
        | AlterTable { table_name, .. }
        | CreateIndex { table_name, .. }
        | CreateTempIndex { table_name, .. }
        | DropIndex { table_name, .. }
        | DropTempIndex { table_name, .. }
        | CreateTrigger { table_name, .. }
        | CreateTempTrigger { table_name, .. }
        | DropTrigger { table_name, .. }
        | DropTempTrigger { table_name, .. }
        | CreateVtable { table_name, .. }
        | DropVtable { table_name, .. } => table_name,
        CreateView { view_name } | CreateTempView { view_name } => view_name,
        _ => return ALLOWED,
    };
    if reserved(table) {
        RESERVED
    } else {
        ALLOWED
    }
}

impl Guard {
    /// Installs the authorizer. Install it after the emulator's own BEGIN and remove it before
    /// its COMMIT or ROLLBACK, which it would refuse too.
    pub fn install(conn: &mut Connection) -> rusqlite::Result<Guard> {
        let why = Arc::new(AtomicU8::new(ALLOWED));
        let seen = Arc::clone(&why);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| match judge(ctx.action) {
            ALLOWED => Authorization::Allow,
            reason => {
                seen.store(reason, Ordering::Relaxed);
                Authorization::Deny
            }
        }))?;
        Ok(Guard { why })
    }

    pub fn remove(conn: &mut Connection) -> rusqlite::Result<()> {
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
    }

    /// The D1 message for an error; an authorizer refusal gets the wording of its reason.
    pub fn message(&self, e: &rusqlite::Error) -> String {
        let denied = matches!(e, rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::AuthorizationForStatementDenied);
        match (denied, self.why.load(Ordering::Relaxed)) {
            (true, TRANSACTION) => TRANSACTION_REFUSED.to_string(),
            (true, _) => NOT_AUTHORIZED.to_string(),
            (false, _) => sqlite_message(e),
        }
    }
}

/// D1-style message: the SQLite message plus the primary result code's name.
pub fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(err, msg) => {
            let name = match err.code {
                rusqlite::ErrorCode::ConstraintViolation => "SQLITE_CONSTRAINT",
                rusqlite::ErrorCode::DatabaseBusy => "SQLITE_BUSY",
                rusqlite::ErrorCode::ReadOnly => "SQLITE_READONLY",
                rusqlite::ErrorCode::TypeMismatch => "SQLITE_MISMATCH",
                rusqlite::ErrorCode::TooBig => "SQLITE_TOOBIG",
                rusqlite::ErrorCode::ApiMisuse => "SQLITE_MISUSE",
                rusqlite::ErrorCode::ParameterOutOfRange => "SQLITE_RANGE",
                rusqlite::ErrorCode::AuthorizationForStatementDenied => "SQLITE_AUTH",
                _ => "SQLITE_ERROR",
            };
            let text = msg.clone().unwrap_or_else(|| err.to_string());
            format!("{text}: {name}")
        }
        other => format!("{other}: SQLITE_ERROR"),
    }
}

/// Whether a prepared statement's text is over D1's limit. SQLite keeps the text from the end
/// of the previous statement, and so does D1's count: the whitespace between them included, as
/// on import (load.rs).
pub fn too_long(stmt: &rusqlite::Statement<'_>) -> bool {
    stmt.expanded_sql()
        .is_some_and(|s| s.len() > MAX_STATEMENT_BYTES)
}

/// A transaction begun by hand: rusqlite installs an authorizer only through `&mut Connection`,
/// which a `rusqlite::Transaction` does not lend. Like a `Transaction`, it rolls back when
/// dropped unfinished (an error, or a panic the HTTP layer caught), with the authorizer removed
/// first so that the ROLLBACK is not refused.
pub struct Tx<'c>(pub &'c mut Connection);

impl<'c> Tx<'c> {
    /// `begin` is `BEGIN` or `BEGIN IMMEDIATE`.
    pub fn begin(conn: &'c mut Connection, begin: &str) -> rusqlite::Result<Tx<'c>> {
        conn.execute_batch(begin)?;
        Ok(Tx(conn))
    }

    /// On failure the transaction is still open, and dropping `self` rolls it back.
    pub fn commit(self) -> rusqlite::Result<()> {
        self.0.execute_batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = Guard::remove(self.0);
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cf_prefix_is_reserved_in_any_case() {
        assert!(reserved("_cf_KV"));
        assert!(reserved("_CF_x"));
        assert!(!reserved("_cf"));
        assert!(!reserved("cf_KV"));
        assert!(!reserved("é_cf_"));
    }
}
