//! Which backups a store holds: every dump of ours with its manifest and its verdict, the
//! sidecars an interrupted removal left behind, and what is not ours (never touched, said why).
//! One reading for a folder and a bucket prefix, for whoever needs to know (d1-prune, d1-ls).
//!
//! A dump of ours: a dump's name (`names::is_dump_name`) with a manifest beside it that names
//! its database, when it was taken (RFC 3339) and its SHA-256. Anything else is left alone.

use crate::manifest::{Manifest, MAX_BYTES};
use crate::names::{self, Sidecar};
use crate::store::{Entry, EntryKind, Store};
use crate::verdict::Verdict;
use d1_core::{ExitCode, Result};
use std::collections::BTreeMap;

/// How old a manifest without its dump must be before it counts as left by an interrupted
/// removal. d1-fetch puts a new dump's sidecars in place just before the dump itself
/// (`d1_core::atomic::commit_set`, so that a crash never leaves a dump without them), and
/// d1-upload sends the manifest last: in that instant the manifest is there and the dump not
/// (yet). Its manifest was written moments before; an hour-old one is not being put in place.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A backup: a dump of ours in a store.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Which store (the index the caller gave [`Catalog::scan`]).
    pub store: usize,
    /// The dump's key in its store.
    pub key: String,
    /// The dump as the user names it (a path, an `s3://` URL).
    pub shown: String,
    pub manifest: Manifest,
    pub database_id: String,
    /// When the backup's data was taken, in seconds since the epoch.
    pub time: i64,
    /// The manifest's verdict, with the dump's files checked against it.
    pub verdict: Verdict,
    /// Bytes of the dump's own file.
    pub size: u64,
    /// Bytes of the dump and its two sidecars.
    pub bytes: u64,
}

impl Backup {
    pub fn good(&self) -> bool {
        self.verdict.is_good()
    }

    pub fn database_name(&self) -> Option<&str> {
        self.manifest.database_name()
    }

    pub fn encrypted(&self) -> bool {
        names::is_encrypted_name(&self.key) || self.manifest.encryption.is_set()
    }
}

/// The manifest (and checksum) of a dump that is gone: what a removal interrupted after its
/// first step leaves. Finishing it is safe: no dump depends on it.
#[derive(Debug, Clone)]
pub struct Orphan {
    pub store: usize,
    /// The missing dump's key.
    pub key: String,
    pub shown: String,
    pub bytes: u64,
}

/// An entry left alone, and why; `warn` when it looks like a dump (it is then never pruned nor
/// listed, which a user should know), otherwise a note.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub shown: String,
    pub why: String,
    pub warn: bool,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub backups: Vec<Backup>,
    pub orphans: Vec<Orphan>,
    pub skipped: Vec<Skipped>,
}

/// Why a manifest is not one of ours; `Ok` with the database and the time otherwise.
pub fn ours(m: &Manifest) -> Result<(String, i64), String> {
    let id = m
        .database_id()
        .filter(|s| s.chars().all(|c| c.is_ascii_graphic()))
        .ok_or("no database_id (a dump fetched from a bare URL is never pruned)")?;
    let taken = m.taken_at().ok_or("neither exported_at nor fetched_at")?;
    let time = d1_core::time::parse_rfc3339(taken)
        .ok_or_else(|| format!("exported_at/fetched_at {taken:?} is not an RFC 3339 time"))?;
    if m.sha256.is_absent() {
        return Err("no sha256".into());
    }
    Ok((id.to_string(), time))
}

/// A manifest read from a store: `Ok(Err(why))` when it is not one of ours or cannot be read;
/// `Err` is the store's (credentials, deadline, signal), which ends the run.
type Read = std::result::Result<(Manifest, String, i64), String>;

fn read_manifest(store: &dyn Store, key: &str) -> Result<Read> {
    let shown = store.shown(key);
    let bytes = match store.read_small(key, MAX_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Err(format!("no manifest {shown}"))),
        Err(e) if matches!(e.code(), ExitCode::Failed | ExitCode::Usage) => {
            return Ok(Err(e.message))
        }
        Err(e) => return Err(e),
    };
    let m = match Manifest::from_bytes(&bytes, &shown) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e.message)),
    };
    Ok(match ours(&m) {
        Ok((id, time)) => Ok((m, id, time)),
        Err(why) => Err(format!("{shown}: {why}")),
    })
}

impl Catalog {
    /// Reads one store's listing and the manifests of its dumps into the catalog.
    pub fn scan(&mut self, index: usize, store: &dyn Store) -> Result<()> {
        let entries = store.list()?;
        let by_key: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
        let now = d1_core::time::unix_now();
        for e in &entries {
            let base = names::base_name(&e.key);
            if e.kind == EntryKind::BadName {
                self.note(store.shown(&e.key), "not ours (name is not UTF-8)");
                continue;
            }
            // Temporary files (d1_core::atomic), lock files: never backups.
            if names::is_hidden(base) {
                continue;
            }
            if names::is_dump_name(base) {
                self.dump(index, store, e, &by_key)?;
                continue;
            }
            match names::sidecar_of(&e.key) {
                // A sidecar of a dump that is there: read with the dump.
                Some((d, _)) if by_key.contains_key(d) => {}
                Some((d, Sidecar::Manifest)) => {
                    let young = e
                        .modified
                        .is_none_or(|m| now - m < ORPHAN_AGE.as_secs() as i64);
                    let writing = entries.iter().any(|t| is_temp_of(&t.key, d));
                    if young || writing {
                        self.note(
                            store.shown(&e.key),
                            "a manifest whose dump is not there (yet): d1-fetch may be putting it in place, or d1-upload sending it",
                        );
                        continue;
                    }
                    match read_manifest(store, &e.key)? {
                        Ok(_) => {
                            let sha = by_key
                                .get(Sidecar::Checksum.key(d).as_str())
                                .map_or(0, |c| c.size);
                            self.orphans.push(Orphan {
                                store: index,
                                key: d.to_string(),
                                shown: store.shown(d),
                                bytes: e.size + sha,
                            });
                        }
                        Err(why) => self.note(
                            store.shown(&e.key),
                            &format!("a manifest without its dump, and not ours: {why}"),
                        ),
                    }
                }
                // A lone checksum: a removal takes the .sha256 before the .json, so a lone
                // .sha256 is not what it leaves. Not ours to judge.
                Some((d, Sidecar::Checksum))
                    if !by_key.contains_key(Sidecar::Manifest.key(d).as_str()) =>
                {
                    self.note(
                        store.shown(&e.key),
                        "a checksum without its dump or manifest",
                    )
                }
                // Finished with its orphaned manifest.
                Some(_) => {}
                None => self.note(store.shown(&e.key), "not a dump"),
            }
        }
        Ok(())
    }

    fn note(&mut self, shown: String, why: &str) {
        self.skipped.push(Skipped {
            shown,
            why: why.to_string(),
            warn: false,
        });
    }

    fn dump(
        &mut self,
        index: usize,
        store: &dyn Store,
        e: &Entry,
        by_key: &BTreeMap<&str, &Entry>,
    ) -> Result<()> {
        let shown = store.shown(&e.key);
        let mut warn = |why: String| {
            self.skipped.push(Skipped {
                shown: shown.clone(),
                why,
                warn: true,
            })
        };
        if e.kind != EntryKind::File {
            warn("not a regular file".into());
            return Ok(());
        }
        let json_key = Sidecar::Manifest.key(&e.key);
        let Some(json) = by_key.get(json_key.as_str()) else {
            warn(format!("no manifest {}", store.shown(&json_key)));
            return Ok(());
        };
        if json.kind != EntryKind::File {
            warn(format!("{} is not a regular file", store.shown(&json_key)));
            return Ok(());
        }
        let (manifest, database_id, time) = match read_manifest(store, &json_key)? {
            Ok(x) => x,
            Err(why) => {
                warn(why);
                return Ok(());
            }
        };
        let checksum = by_key
            .get(Sidecar::Checksum.key(&e.key).as_str())
            .filter(|c| c.kind == EntryKind::File);
        let expected = manifest.object_bytes(names::is_encrypted_name(&e.key));
        let verdict = manifest
            .verdict()
            .with_files(checksum.is_some(), expected.map(|x| (e.size, x)));
        self.backups.push(Backup {
            store: index,
            key: e.key.clone(),
            shown,
            manifest,
            database_id,
            time,
            verdict,
            size: e.size,
            bytes: e.size + checksum.map_or(0, |c| c.size) + json.size,
        });
        Ok(())
    }
}

/// Whether `key` is a temporary file of the dump `dump` (in the same folder): the dump being
/// put in place.
fn is_temp_of(key: &str, dump: &str) -> bool {
    let (dir, name) = key.rsplit_once('/').map_or(("", key), |(d, n)| (d, n));
    let (ddir, dname) = dump.rsplit_once('/').map_or(("", dump), |(d, n)| (d, n));
    dir == ddir && d1_core::atomic::temp_target(name) == Some(dname)
}
