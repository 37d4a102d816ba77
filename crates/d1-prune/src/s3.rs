//! Finding the backups under a bucket prefix (the off-site copies d1-upload makes): the same
//! [`Scan`] as a local folder's, so that the same plan decides. A dump is `KEY` ending in `.sql`
//! or `.sql.zst`, or their encrypted `.age` form, with its manifest `KEY.json` (d1-upload copies
//! the local manifest, verdict included; an encrypted copy's says its ciphertext's size) and its
//! checksum `KEY.sha256`. Dumps are named `s3://BUCKET/KEY` in [`Dump::path`].
//!
//! Removal ([`remove_dump`], [`finish`]) keeps the local order: the dump, then `.sha256`, then
//! `.json`, so that an interruption leaves a manifest without its dump (finished by the next
//! run), never a dump without its manifest.

use crate::manifest::{self, Verdict};
use crate::scan::{Dump, Orphan, Scan, Skipped, ORPHAN_AGE};
use d1_core::Result;
use d1_upload::store::{Listed, S3Url, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::scan::is_dump_name;

/// The prefix `s3://BUCKET/PREFIX` names, as a folder: empty or ending in `/`.
pub fn prefix_of(url: &S3Url) -> String {
    let mut p = url.key.clone();
    if !p.is_empty() && !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// The key of an object shown as `s3://BUCKET/KEY` (a [`Dump::path`]).
pub fn key_of<'a>(store: &Store, shown: &'a Path) -> Option<&'a str> {
    shown
        .to_str()?
        .strip_prefix(&store.shown(""))
        .filter(|k| !k.is_empty())
}

/// Lists `url`'s prefix (and with `recursive` everything below it) and reads the manifests.
pub fn scan(store: &Store, url: &S3Url, recursive: bool) -> Result<Scan> {
    let prefix = prefix_of(url);
    let listed = store.list(&prefix)?;
    let mut objects: BTreeMap<&str, &Listed> = BTreeMap::new();
    for l in &listed {
        let rel = &l.key[prefix.len().min(l.key.len())..];
        if rel.is_empty() || (!recursive && rel.contains('/')) {
            continue;
        }
        objects.insert(l.key.as_str(), l);
    }
    let mut scan = Scan::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for (key, obj) in &objects {
        let path = PathBuf::from(store.shown(key));
        let base = key.rsplit('/').next().unwrap_or(key);
        if is_dump_name(base) {
            classify_dump(store, obj, &objects, &mut scan)?;
            continue;
        }
        let dump_of = key
            .strip_suffix(".json")
            .or_else(|| key.strip_suffix(".sha256"))
            .filter(|d| is_dump_name(d.rsplit('/').next().unwrap_or(d)));
        match dump_of {
            // A sidecar of a dump that is there.
            Some(d) if objects.contains_key(d) => {}
            Some(d) if key.ends_with(".json") => {
                let age = obj
                    .last_modified
                    .as_deref()
                    .and_then(crate::calendar::parse_rfc3339)
                    .map(|t| now - t);
                let old = age.is_some_and(|a| a >= ORPHAN_AGE.as_secs() as i64);
                if !old {
                    scan.skipped.push(Skipped {
                        path,
                        why: "a manifest whose dump is not there (yet): an upload may be under way"
                            .into(),
                        warn: false,
                    });
                    continue;
                }
                match read_manifest(store, key)? {
                    Ok((m, _)) => {
                        let sha = objects
                            .get(format!("{d}.sha256").as_str())
                            .map_or(0, |o| o.size);
                        scan.orphans.push(Orphan {
                            dump: PathBuf::from(store.shown(d)),
                            manifest: m,
                            bytes: obj.size + sha,
                        })
                    }
                    Err(why) => scan.skipped.push(Skipped {
                        path,
                        why: format!("a manifest without its dump, and not ours: {why}"),
                        warn: false,
                    }),
                }
            }
            Some(d) if !objects.contains_key(format!("{d}.json").as_str()) => {
                scan.skipped.push(Skipped {
                    path,
                    why: "a checksum without its dump or manifest".into(),
                    warn: false,
                })
            }
            // Removed with its orphaned manifest.
            Some(_) => {}
            None => scan.skipped.push(Skipped {
                path,
                why: "not a dump".into(),
                warn: false,
            }),
        }
    }
    Ok(scan)
}

/// Fetches and checks `key` (a manifest). `Ok(Err(why))` says why it is not one d1-prune acts
/// on; `Err` is the store's (credentials, deadline, signal), which ends the run.
type Read = std::result::Result<(manifest::Manifest, d1_archive::Manifest), String>;

fn read_manifest(store: &Store, key: &str) -> Result<Read> {
    use d1_core::ExitCode;
    let bytes = match store.get_small(key) {
        Ok(b) => b,
        Err(e) if matches!(e.code(), ExitCode::Failed | ExitCode::Usage) => {
            return Ok(Err(format!("cannot read it: {}", e.message)))
        }
        Err(e) => return Err(e),
    };
    let shown = store.shown(key);
    let json = match d1_archive::Manifest::from_bytes(&bytes, &shown) {
        Ok(j) => j,
        Err(e) => return Ok(Err(e.message)),
    };
    Ok(match manifest::parse(&json) {
        Ok(m) => Ok((m, json)),
        Err(why) => Err(format!("{shown}: {why}")),
    })
}

fn classify_dump(
    store: &Store,
    obj: &Listed,
    objects: &BTreeMap<&str, &Listed>,
    scan: &mut Scan,
) -> Result<()> {
    let key = obj.key.as_str();
    let path = PathBuf::from(store.shown(key));
    let json_key = format!("{key}.json");
    let sha_key = format!("{key}.sha256");
    let Some(json_obj) = objects.get(json_key.as_str()) else {
        scan.skipped.push(Skipped {
            path,
            why: format!("no manifest {}", store.shown(&json_key)),
            warn: true,
        });
        return Ok(());
    };
    let (m, json) = match read_manifest(store, &json_key)? {
        Ok(x) => x,
        Err(why) => {
            scan.skipped.push(Skipped {
                path,
                why,
                warn: true,
            });
            return Ok(());
        }
    };
    // An encrypted copy's size is its ciphertext's, which its manifest records.
    // (A dump d1-fetch encrypted on the backup host is uploaded as it is: its `stored_bytes`
    // are already the ciphertext's.)
    let expected = if key.ends_with(".age") {
        json.object_bytes(true)
    } else {
        m.stored_bytes
    };
    let sha = objects.get(sha_key.as_str());
    let actual = obj.size;
    let verdict = match expected {
        Some(expected) if expected != actual => Verdict::WrongSize { actual, expected },
        _ if m.verdict == Verdict::Good && sha.is_none() => Verdict::NoChecksum,
        _ => m.verdict.clone(),
    };
    let bytes = actual + sha.map_or(0, |o| o.size) + json_obj.size;
    scan.dumps.push(Dump {
        path,
        manifest: m,
        verdict,
        bytes,
    });
    Ok(())
}

/// Step 1 for one dump (`s3://BUCKET/KEY`): the dump object.
pub fn remove_dump(store: &Store, shown: &Path) -> Result<()> {
    match key_of(store, shown) {
        Some(k) => store.delete(k),
        None => Err(d1_core::Error::failed(format!(
            "{} is not in s3://{}/",
            shown.display(),
            store.bucket_name
        ))),
    }
}

/// Steps 2 and 3: `KEY.sha256`, then `KEY.json`.
pub fn finish(store: &Store, shown: &Path) -> Result<()> {
    let Some(k) = key_of(store, shown) else {
        return Ok(());
    };
    store.delete(&format!("{k}.sha256"))?;
    store.delete(&format!("{k}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_include_encrypted_copies() {
        for n in ["a.sql", "a.sql.zst", "a.sql.age", "a.sql.zst.age"] {
            assert!(is_dump_name(n), "{n}");
        }
        for n in [
            ".sql",
            "a.sql.json",
            "a.sql.age.json",
            "a.age",
            "a.zst",
            "a.sql.sha256",
        ] {
            assert!(!is_dump_name(n), "{n}");
        }
    }

    #[test]
    fn a_prefix_is_a_folder() {
        let u = |s: &str| prefix_of(&S3Url::parse(s).unwrap());
        assert_eq!(u("s3://bucket/p"), "p/");
        assert_eq!(u("s3://bucket/p/"), "p/");
        assert_eq!(u("s3://bucket"), "");
        assert_eq!(u("s3://bucket/"), "");
    }
}
