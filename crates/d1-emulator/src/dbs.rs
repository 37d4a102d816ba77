//! The databases: `DIR/NAME.sqlite` files, each with a UUID derived from its name so that a
//! restart on the same folder gives the same ids. A database deleted through the API leaves
//! `DIR/.NAME.generation` behind, and one created again under that name gets an id of its own
//! (as in D1, where the new database is another database).

use d1_core::time::Utc;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct DbInfo {
    pub name: String,
    pub uuid: String,
    pub path: PathBuf,
}

/// `sha256("d1-emulator:" + name)`, first 16 bytes, laid out as a version-4 UUID.
pub fn uuid_for(name: &str) -> String {
    let d = Sha256::digest(format!("d1-emulator:{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// D1 names: letters, digits, `-` and `_`, at most 64 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

pub struct Databases {
    dir: PathBuf,
}

impl Databases {
    pub fn new(dir: &Path) -> Databases {
        Databases {
            dir: dir.to_path_buf(),
        }
    }

    /// Every `*.sqlite` file with a valid name, sorted by name.
    pub fn list(&self) -> Vec<DbInfo> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let path = e.path();
                if path.extension().and_then(|x| x.to_str()) != Some("sqlite") {
                    continue;
                }
                let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                if !valid_name(name) {
                    continue;
                }
                out.push(DbInfo {
                    name: name.to_string(),
                    uuid: self.uuid_of(name),
                    path,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn find(&self, uuid: &str) -> Option<DbInfo> {
        self.list()
            .into_iter()
            .find(|d| d.uuid.eq_ignore_ascii_case(uuid))
    }

    pub fn by_name(&self, name: &str) -> Option<DbInfo> {
        self.list().into_iter().find(|d| d.name == name)
    }

    /// Where database `name`'s file is (or would be).
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sqlite"))
    }

    /// Creates an empty database file; `Err` when it exists or cannot be created.
    pub fn create(&self, name: &str) -> Result<DbInfo, String> {
        let path = self.dir.join(format!("{name}.sqlite"));
        if path.exists() {
            return Err(format!("A database with the name {name} already exists"));
        }
        let conn = open_rw(&path).map_err(|e| format!("could not create database: {e}"))?;
        // Writing the header makes the file a real (if empty) SQLite database at once.
        conn.execute_batch("PRAGMA user_version=0; VACUUM;")
            .map_err(|e| format!("could not create database: {e}"))?;
        Ok(DbInfo {
            name: name.to_string(),
            uuid: self.uuid_of(name),
            path,
        })
    }

    fn generation_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.generation"))
    }

    /// How many times a database of this name was deleted through the API.
    fn generation(&self, name: &str) -> u64 {
        std::fs::read_to_string(self.generation_file(name))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn uuid_of(&self, name: &str) -> String {
        match self.generation(name) {
            0 => uuid_for(name),
            n => uuid_for(&format!("{name}#{n}")),
        }
    }

    /// Removes the database's file (and its journal or WAL files) and counts the deletion, so
    /// that a database created again under the name gets another id.
    pub fn delete(&self, db: &DbInfo) -> Result<(), String> {
        let next = self.generation(&db.name) + 1;
        std::fs::write(self.generation_file(&db.name), format!("{next}\n"))
            .map_err(|e| format!("could not delete database: {e}"))?;
        std::fs::remove_file(&db.path).map_err(|e| format!("could not delete database: {e}"))?;
        for ext in ["-wal", "-shm", "-journal"] {
            let mut side = db.path.as_os_str().to_owned();
            side.push(ext);
            let _ = std::fs::remove_file(side);
        }
        Ok(())
    }
}

pub fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // D1 always enforces foreign keys.
    conn.execute_batch("PRAGMA foreign_keys=ON;")?;
    Ok(conn)
}

pub fn open_ro(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// The object the list and get endpoints return.
pub fn describe(db: &DbInfo) -> Value {
    let meta = std::fs::metadata(&db.path).ok();
    let file_size = meta.as_ref().map(|m| m.len()).unwrap_or(0);
    let created = meta
        .as_ref()
        .and_then(|m| m.created().or_else(|_| m.modified()).ok())
        .unwrap_or(UNIX_EPOCH);
    let num_tables = open_ro(&db.path)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type='table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap_or(0);
    json!({
        "uuid": db.uuid,
        "name": db.name,
        "version": "production",
        "num_tables": num_tables,
        "file_size": file_size,
        "created_at": rfc3339(created),
    })
}

/// `created_at` as Cloudflare writes it: RFC 3339 with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    Utc::from_system(t).rfc3339_millis()
}

/// `20240501T123456Z`, for export file names.
pub fn compact_timestamp(t: SystemTime) -> String {
    Utc::from_system(t).compact()
}

/// What tells whether a database file changed since an import: SQLite's file change counter
/// (header bytes 24..28, bumped by every write transaction in rollback-journal mode), the size
/// and the modification time, and those of a `-wal` file beside it (a database in WAL mode
/// writes there first). Any difference means "changed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    counter: [u8; 4],
    len: u64,
    modified: Option<SystemTime>,
    wal: Option<(u64, Option<SystemTime>)>,
}

pub fn fingerprint(path: &std::path::Path) -> Option<Fingerprint> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    let mut head = [0u8; 28];
    std::fs::File::open(path).ok()?.read_exact(&mut head).ok()?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Some(Fingerprint {
        counter: [head[24], head[25], head[26], head[27]],
        len: meta.len(),
        modified: meta.modified().ok(),
        wal: std::fs::metadata(wal)
            .ok()
            .map(|m| (m.len(), m.modified().ok())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_and_version_4_shaped() {
        let u = uuid_for("sample");
        assert_eq!(u, uuid_for("sample"));
        assert_ne!(u, uuid_for("other"));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_714_566_896_789);
        assert_eq!(rfc3339(t), "2024-05-01T12:34:56.789Z");
        assert_eq!(compact_timestamp(t), "20240501T123456Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
