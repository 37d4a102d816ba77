//! The connection a dump is restored into. The dump is untrusted input (docs/d1-verify.md,
//! "Sandbox": restoring must not touch the file system), so besides a statement gate in restore.rs
//! there are SQLite's own guards: defensive mode, untrusted schema, no attached databases,
//! extension loading left off, and an authorizer that denies whatever a D1 dump never does.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{config::DbConfig, Connection, OpenFlags};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where a dump is restored: the file at a path (`--db`, a temporary name), or memory. In
/// memory it is SQLite's memdb VFS rather than `:memory:`: a memdb database is one buffer,
/// which the checks' read-only connections can read in place (`Checkers`).
pub enum Place {
    File(PathBuf),
    Memory,
}

/// A private memdb database (a name without a leading `/` is not shared).
const MEMDB: &str = "file:d1-verify-restore?vfs=memdb";

/// Why the authorizer last said no, for the FAIL line (SQLite itself only says "not authorized").
#[derive(Clone, Default)]
pub struct Denied(Arc<Mutex<Option<String>>>);

impl Denied {
    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
    fn set(&self, why: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(why);
        }
    }
}

/// Pragmas found in D1 dumps and `sqlite3 .dump` output; all others are refused.
const PRAGMAS: [&str; 2] = ["defer_foreign_keys", "foreign_keys"];

/// SQL functions that read or write files or load code. None is in the bundled SQLite's
/// default build; they are denied all the same, in case a build ever adds them.
const FUNCTIONS: [&str; 6] = [
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "sqlite_dbpage",
];

/// Opens the target: in memory, or the file at `file` (a temporary name; restore.rs renames
/// it into place). Tuned for one bulk load: no journal, no syncs.
///
/// `CREATE INDEX` sorts every row of its table. With `temp_store=MEMORY` that sort stays in
/// RAM whole (50 MB over the database at 1 GB), so it is left to spill, as the sqlite3 CLI's
/// does, in runs of `cache_size` to an unnamed file in `$TMPDIR` (SQLite unlinks it before it
/// writes a byte, mode 0600). The dump's SQL still reaches no file: temporary tables are denied.
/// In memory the database is the memdb buffer, and the page cache a copy of its hottest pages
/// (a miss is a 4 KB memcpy): it gets SQLite's default 2 MB, as the sqlite3 CLI does, which
/// keeps the peak within the CLI's; a file target gets a large cache for the load.
pub fn open(place: &Place) -> rusqlite::Result<Connection> {
    let (conn, cache_kib) = match place {
        Place::File(p) => (Connection::open(p)?, 1 << 20),
        Place::Memory => {
            let conn = Connection::open_with_flags(
                MEMDB,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            unlimited_size(&conn)?;
            (conn, 2 << 10)
        }
    };
    conn.execute_batch(&format!(
        // Foreign keys off (the bundled SQLite turns them on by default): D1 defers them and a
        // dump's rows come in table order, so they are judged once, by foreign_key_check.
        "PRAGMA foreign_keys=OFF; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; \
         PRAGMA cache_size=-{cache_kib}; PRAGMA locking_mode=EXCLUSIVE;",
    ))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    // SAFETY: the handle is valid for the connection's lifetime; sqlite3_limit only sets a
    // per-connection number. No database can be attached, whatever the SQL says.
    unsafe {
        rusqlite::ffi::sqlite3_limit(conn.handle(), rusqlite::ffi::SQLITE_LIMIT_ATTACHED, 0);
    }
    Ok(conn)
}

/// A memdb database stops at 1 GiB unless told otherwise; the restore's heap budget
/// (limits.rs) is what bounds it.
fn unlimited_size(conn: &Connection) -> rusqlite::Result<()> {
    let mut limit: i64 = i64::MAX / 2;
    // SAFETY: the handle is valid, "main" is a NUL-terminated name, and SQLITE_FCNTL_SIZE_LIMIT
    // takes a pointer to an sqlite3_int64 that lives across the call.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_SIZE_LIMIT,
            (&mut limit as *mut i64).cast(),
        )
    };
    match rc {
        rusqlite::ffi::SQLITE_OK => Ok(()),
        code => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            Some("setting the in-memory database's size limit".into()),
        )),
    }
}

/// After the load and its COMMIT: the restore's connection gives up the exclusive lock it
/// kept for the load, so that `open_checker` connections can read.
pub fn share(conn: &Connection) -> rusqlite::Result<()> {
    // The lock goes at the next access after the switch (SQLite's documentation).
    conn.execute_batch("PRAGMA locking_mode=NORMAL; SELECT count(*) FROM sqlite_schema;")
}

/// Read-only connections to the restored database, one for each thread of the checks
/// (check.rs). A file is opened again; a memdb database is lent: each checker reads the
/// restore's own buffer through SQLite's memory map, without copying a page and without a
/// lock shared with the other checker.
pub struct Checkers<'c> {
    source: Source<'c>,
}

enum Source<'c> {
    File(&'c Path),
    Memory {
        data: *mut u8,
        len: i64,
        /// The buffer belongs to the restore's connection and lives as long as it does.
        _owner: PhantomData<&'c Connection>,
    },
    /// Nothing to lend (an empty database): the checks use the restore's connection.
    None,
}

// SAFETY: the buffer is only read, by SQLite, through connections that `open` marks
// read-only; the restore's connection writes nothing while `Checkers` borrows it (check.rs
// runs only reading statements on it, and only when no checker could be opened).
unsafe impl Send for Checkers<'_> {}
unsafe impl Sync for Checkers<'_> {}

impl<'c> Checkers<'c> {
    /// Checkers for the database `conn` restored at `place`, after its COMMIT and `share`.
    pub fn new(conn: &'c Connection, place: &'c Place) -> Checkers<'c> {
        let source = match place {
            Place::File(p) => Source::File(p),
            Place::Memory => {
                let mut len: i64 = 0;
                // SAFETY: a valid handle and schema name; with NOCOPY SQLite returns the memdb
                // buffer itself (or NULL), owned by the connection, without allocating.
                let data = unsafe {
                    rusqlite::ffi::sqlite3_serialize(
                        conn.handle(),
                        c"main".as_ptr(),
                        &mut len,
                        rusqlite::ffi::SQLITE_SERIALIZE_NOCOPY,
                    )
                };
                if data.is_null() || len <= 0 {
                    Source::None
                } else {
                    Source::Memory {
                        data,
                        len,
                        _owner: PhantomData,
                    }
                }
            }
        };
        Checkers { source }
    }

    /// A new read-only connection, with the restore's guards, a small page cache and a handler
    /// that stops its statements on SIGINT/SIGTERM.
    pub fn open(&self) -> rusqlite::Result<Connection> {
        let mut conn = match &self.source {
            Source::File(p) => Connection::open_with_flags(
                p,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Source::Memory { data, len, .. } => {
                let conn = Connection::open_in_memory_with_flags(
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // SAFETY: `data` holds `len` bytes of a database and outlives this connection
                // (see `Source`). READONLY without FREEONCLOSE or RESIZEABLE: SQLite never
                // writes, grows or frees it.
                let rc = unsafe {
                    rusqlite::ffi::sqlite3_deserialize(
                        conn.handle(),
                        c"main".as_ptr(),
                        *data,
                        *len,
                        *len,
                        rusqlite::ffi::SQLITE_DESERIALIZE_READONLY,
                    )
                };
                if rc != rusqlite::ffi::SQLITE_OK {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rc),
                        Some("lending the restored database to a checker".into()),
                    ));
                }
                // Pages read in place from the buffer, not copied into the page cache.
                conn.execute_batch(&format!("PRAGMA mmap_size={len};"))?;
                conn
            }
            Source::None => {
                return Err(rusqlite::Error::InvalidPath(PathBuf::from(
                    "an empty in-memory database",
                )))
            }
        };
        conn.execute_batch(
            "PRAGMA query_only=ON; PRAGMA cache_size=-2048; PRAGMA temp_store=FILE;",
        )?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        // SAFETY: as in `open`.
        unsafe {
            rusqlite::ffi::sqlite3_limit(conn.handle(), rusqlite::ffi::SQLITE_LIMIT_ATTACHED, 0);
        }
        conn.progress_handler(1000, Some(d1_core::signal::interrupted))?;
        Ok(conn)
    }
}

/// Installs the authorizer for the dump's statements.
pub fn guard(conn: &mut Connection, denied: &Denied) -> rusqlite::Result<()> {
    let denied = denied.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        match verdict(&ctx.action) {
            Some(why) => {
                denied.set(why);
                Authorization::Deny
            }
            None => Authorization::Allow,
        }
    }))
}

/// Removes the authorizer, for the checks that run our own statements after the load.
pub fn unguard(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
}

/// `Some(reason)` for an action a restore must not perform.
fn verdict(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Attach { .. } => Some("ATTACH is not allowed".into()),
        AuthAction::Detach { .. } => Some("DETACH is not allowed".into()),
        AuthAction::Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            FUNCTIONS
                .contains(&f.as_str())
                .then(|| format!("the function {f}() is not allowed"))
        }
        AuthAction::Pragma { pragma_name, .. } => {
            let p = pragma_name.to_ascii_lowercase();
            (!PRAGMAS.contains(&p.as_str())).then(|| {
                format!("PRAGMA {p} is not allowed (a D1 dump only sets foreign-key pragmas)")
            })
        }
        AuthAction::CreateVtable { module_name, .. } => Some(format!(
            "virtual tables ({module_name}) are not allowed (D1 cannot export them)"
        )),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("transaction control is not allowed inside the restore".into())
        }
        AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. } => {
            Some("temporary objects are not allowed (a dump never creates them)".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> (Connection, Denied) {
        let mut conn = open(&Place::Memory).unwrap();
        let denied = Denied::default();
        guard(&mut conn, &denied).unwrap();
        (conn, denied)
    }

    #[test]
    fn an_in_memory_restore_keeps_a_2_mib_page_cache_and_sorts_that_may_spill() {
        // The memory target rests on these two: temp_store=MEMORY kept whole sorts in RAM, and
        // the memdb database is all in memory already (the cache would be a second copy).
        let conn = open(&Place::Memory).unwrap();
        let pragma = |p: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pragma("temp_store"), 1, "1 = FILE");
        assert_eq!(pragma("cache_size"), -2048);
    }

    #[test]
    fn attach_is_refused_and_creates_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.db");
        let (conn, _denied) = guarded();
        let sql = format!("ATTACH '{}' AS x; CREATE TABLE x.t(a);", target.display());
        assert!(conn.execute_batch(&sql).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn load_extension_and_unknown_pragmas_are_denied_with_a_reason() {
        let (conn, denied) = guarded();
        assert!(conn
            .execute_batch("SELECT load_extension('/tmp/evil.so');")
            .is_err());
        assert!(denied.take().unwrap().contains("load_extension"));
        assert!(conn.execute_batch("PRAGMA writable_schema=ON;").is_err());
        assert!(denied.take().unwrap().contains("writable_schema"));
        conn.execute_batch("PRAGMA defer_foreign_keys=TRUE; PRAGMA foreign_keys=OFF;")
            .unwrap();
    }

    #[test]
    fn a_trigger_cannot_smuggle_a_denied_function_into_an_insert() {
        let (conn, denied) = guarded();
        conn.execute_batch(
            "CREATE TABLE t(a); CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT load_extension('x'); END;",
        )
        .unwrap();
        assert!(conn.execute_batch("INSERT INTO t VALUES(1);").is_err());
        assert!(denied.take().is_some());
    }

    #[test]
    fn vacuum_into_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("copy.db");
        let (conn, _denied) = guarded();
        conn.execute_batch("CREATE TABLE t(a);").unwrap();
        let _ = conn.execute_batch(&format!("VACUUM INTO '{}';", target.display()));
        assert!(
            !target.exists(),
            "the restore gate refuses VACUUM before this layer"
        );
    }
}
