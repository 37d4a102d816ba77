//! Where backups are kept: a folder or a bucket prefix, behind one interface (litestream's
//! `ReplicaClient` is the model). Listing, reading, atomic writing, deletion and a lock are the
//! same words for both, so that retention (d1-prune) and listing (d1-ls) are written once and
//! never ask which store they talk to.
//!
//! Keys are relative to the store's root (a folder's path, a prefix), `/`-separated.

use d1_core::retry::Deadline;
use d1_core::Result;
use std::io::Read;
use std::path::Path;

/// The name of the lock a store's pruner holds (a file in a folder, an object in a prefix).
pub const LOCK_NAME: &str = ".d1-prune.lock";

/// What an entry of a listing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file, or an object.
    File,
    /// Something else with a name (a symbolic link, a FIFO): never a backup's file.
    Other,
    /// A name that is not UTF-8 (its key is shown lossily): never ours.
    BadName,
}

/// One file or object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub size: u64,
    /// Last modified, in seconds since the epoch, when known.
    pub modified: Option<i64>,
    pub kind: EntryKind,
}

/// What to write.
pub enum Source<'a> {
    Bytes(&'a [u8]),
    /// A file whose bytes must have this SHA-256 (the bytes a verdict is for): a file that
    /// changed since is refused, and nothing is left at the key.
    File {
        path: &'a Path,
        sha256: &'a str,
    },
}

/// What a write stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    /// The object's ETag (a bucket's; empty in a folder).
    pub etag: String,
    /// Parts of a multipart upload (1 otherwise).
    pub parts: u32,
}

/// A held lock; dropping it releases it.
pub struct Lock {
    _held: Box<dyn Send>,
}

impl Lock {
    pub fn new(held: impl Send + 'static) -> Lock {
        Lock {
            _held: Box::new(held),
        }
    }
}

pub trait Store {
    /// The root as the user names it: `backups/`, `s3://bucket/prefix/`.
    fn location(&self) -> String;

    /// A key as the user names it: a path, or an `s3://` URL (what records carry).
    fn shown(&self, key: &str) -> String;

    /// Every entry under the root (a bucket is read a page at a time), sorted by key.
    fn list(&self) -> Result<Vec<Entry>>;

    /// The whole of a small entry (a sidecar); `Ok(None)` when there is none. More than
    /// `limit` bytes is an error, never a shorter answer.
    fn read_small(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>>;

    /// An entry's bytes as they are read.
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>>;

    /// Writes `key` so that it appears whole or not at all: a temporary file fsynced and
    /// renamed in a folder; a single PUT or a multipart upload, read back and checked, in a
    /// bucket. What was there before is replaced.
    fn write(&self, key: &str, source: Source) -> Result<Written>;

    /// Deletes `key`; one that is not there is already deleted.
    fn delete(&self, key: &str) -> Result<()>;

    /// Makes the deletions so far durable (a folder's fsync; a bucket's are at once).
    fn sync(&self) -> Result<()>;

    /// Takes the store's pruning lock, waiting for another holder until `deadline` (exit 75).
    fn lock(&self, deadline: &Deadline) -> Result<Lock>;
}
