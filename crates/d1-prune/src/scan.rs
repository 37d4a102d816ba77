//! Finding the backups in local folders: which files are dumps of ours (a `.sql` or `.sql.zst`
//! file with a manifest naming its database), which are sidecars left by an interrupted removal,
//! and which are not ours and are never touched.

use crate::manifest::{self, Manifest, Verdict};
use d1_core::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A dump with its manifest.
#[derive(Debug, Clone)]
pub struct Dump {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The dump's own verdict, with its size checked against `stored_bytes`.
    pub verdict: Verdict,
    /// Bytes of the dump and its two sidecars.
    pub bytes: u64,
}

impl Dump {
    pub fn good(&self) -> bool {
        self.verdict == Verdict::Good
    }
    pub fn sha256_path(&self) -> PathBuf {
        sidecar(&self.path, "sha256")
    }
    pub fn json_path(&self) -> PathBuf {
        sidecar(&self.path, "json")
    }
}

/// `DUMP.json` (or `.sha256`) of our own whose dump is gone: what a removal interrupted after
/// its first step leaves (see [`crate::remove`]). Finishing it is safe: no dump depends on it.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// The missing dump's path.
    pub dump: PathBuf,
    pub manifest: Manifest,
    pub bytes: u64,
}

/// A file left alone, and why; `warn` when it looks like a dump (it is then never pruned,
/// which a user should know), otherwise a note.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
    pub warn: bool,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub dumps: Vec<Dump>,
    pub orphans: Vec<Orphan>,
    pub skipped: Vec<Skipped>,
}

pub fn sidecar(dump: &Path, ext: &str) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// A dump's name: `.sql`, `.sql.zst`, and their age-encrypted forms (`d1-fetch --encrypt-to`
/// writes `DUMP.sql.zst.age`; `d1-upload --encrypt-to` uploads `KEY.age`), whose manifests are
/// `DUMP.age.json` like any other's.
pub fn is_dump_name(name: &str) -> bool {
    let plain = name.strip_suffix(".age").unwrap_or(name);
    (plain.ends_with(".sql") && plain.len() > 4) || (plain.ends_with(".sql.zst") && plain.len() > 8)
}

/// The folders to prune: each root, and with `recursive` every folder below it (hidden folders
/// and symbolic links excepted), each once, sorted. A root that is not a folder is bad input.
pub fn folders(roots: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = Vec::new();
    for r in roots {
        let meta =
            std::fs::metadata(r).map_err(|e| Error::usage(format!("{}: {e}", r.display())))?;
        if !meta.is_dir() {
            return Err(Error::usage(format!("{} is not a folder", r.display())));
        }
        todo.push(r.clone());
    }
    while let Some(dir) = todo.pop() {
        let canon = std::fs::canonicalize(&dir)
            .map_err(|e| Error::io(format!("resolving {}", dir.display()), e))?;
        if !seen.insert(canon) {
            continue;
        }
        if recursive {
            let mut subs = Vec::new();
            for entry in read_dir(&dir)? {
                let name = entry.file_name();
                let hidden = name.to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().is_ok_and(|t| t.is_dir()) {
                    subs.push(entry.path());
                }
            }
            todo.extend(subs);
        }
        out.push(dir);
    }
    out.sort();
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    let mut v = Vec::new();
    for e in rd {
        v.push(e.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?);
    }
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// Classifies the files of one folder (not its subfolders) into `scan`.
pub fn scan_folder(dir: &Path, scan: &mut Scan) -> Result<()> {
    let entries = read_dir(dir)?;
    let mut names = BTreeSet::new();
    for e in &entries {
        if let Some(n) = e.file_name().to_str() {
            names.insert(n.to_string());
        }
    }
    for e in &entries {
        let path = e.path();
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            scan.skipped.push(Skipped {
                path,
                why: "not ours (name is not UTF-8)".into(),
                warn: false,
            });
            continue;
        };
        // Hidden files: in-progress temporaries of d1-fetch and d1-verify (`.NAME.XXXXXX.part`,
        // d1_core::atomic), lock files. Never backups.
        if name.starts_with('.') {
            continue;
        }
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(_) => continue,
        };
        if ft.is_dir() {
            continue;
        }
        if is_dump_name(&name) {
            classify_dump(path, ft.is_file(), scan);
            continue;
        }
        let dump_of = name
            .strip_suffix(".json")
            .or_else(|| name.strip_suffix(".sha256"))
            .filter(|d| is_dump_name(d));
        match dump_of {
            // A sidecar of a dump that is there: handled with the dump.
            Some(d) if names.contains(d) => {}
            Some(d) if name.ends_with(".json") => {
                let writing = names
                    .iter()
                    .any(|n| n.starts_with(&format!(".{d}.")) && n.ends_with(".part"));
                classify_orphan(dir.join(d), writing, scan)
            }
            // A lone checksum: our removal takes the .sha256 before the .json, so a lone
            // .sha256 is not what it leaves. Not ours to judge.
            Some(d) if !names.contains(&format!("{d}.json")) => scan.skipped.push(Skipped {
                path,
                why: "a checksum without its dump or manifest".into(),
                warn: false,
            }),
            // Removed with its orphaned manifest.
            Some(_) => {}
            None => scan.skipped.push(Skipped {
                path,
                why: "not a dump".into(),
                warn: false,
            }),
        }
    }
    Ok(())
}

fn size(p: &Path) -> u64 {
    p.symlink_metadata().map(|m| m.len()).unwrap_or(0)
}

fn classify_dump(path: PathBuf, regular: bool, scan: &mut Scan) {
    if !regular {
        scan.skipped.push(Skipped {
            path,
            why: "not a regular file".into(),
            warn: true,
        });
        return;
    }
    let m = match manifest::read(&sidecar(&path, "json")) {
        Ok(m) => m,
        Err(why) => {
            scan.skipped.push(Skipped {
                path,
                why,
                warn: true,
            });
            return;
        }
    };
    let actual = size(&path);
    let has_checksum = sidecar(&path, "sha256")
        .symlink_metadata()
        .is_ok_and(|m| m.is_file());
    let verdict = match m.stored_bytes {
        Some(expected) if expected != actual => Verdict::WrongSize { actual, expected },
        _ if m.verdict == Verdict::Good && !has_checksum => Verdict::NoChecksum,
        _ => m.verdict.clone(),
    };
    let bytes = actual + size(&sidecar(&path, "sha256")) + size(&sidecar(&path, "json"));
    scan.dumps.push(Dump {
        path,
        manifest: m,
        verdict,
        bytes,
    });
}

/// How old a manifest without its dump must be before it counts as left by an interrupted
/// removal. d1-fetch puts a new dump's sidecars in place just before the dump itself
/// (`d1_core::atomic::commit_set`, so that a crash never leaves a dump without them): in that
/// instant the manifest is there and the dump not yet. Its manifest was written moments
/// before; an hour-old one is not being committed.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

fn classify_orphan(dump: PathBuf, writing: bool, scan: &mut Scan) {
    let json = sidecar(&dump, "json");
    let young = json
        .symlink_metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < ORPHAN_AGE);
    if writing || young {
        scan.skipped.push(Skipped {
            path: json,
            why: "a manifest whose dump is not there (yet): d1-fetch may be putting it in place"
                .into(),
            warn: false,
        });
        return;
    }
    match manifest::read(&json) {
        Ok(manifest) => {
            let bytes = size(&json) + size(&sidecar(&dump, "sha256"));
            scan.orphans.push(Orphan {
                dump,
                manifest,
                bytes,
            });
        }
        Err(why) => scan.skipped.push(Skipped {
            path: json,
            why: format!("a manifest without its dump, and not ours: {why}"),
            warn: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(db: &str) -> String {
        format!(
            r#"{{"database_id":"{db}","exported_at":"2026-11-09T03:17:00Z","sha256":"aa","stored_bytes":2,"verification":{{"status":"ok","sha256":"aa"}}}}"#
        )
    }

    #[test]
    fn dumps_sidecars_temporaries_orphans_and_foreign_files_are_told_apart() {
        // Only an hour-old manifest without its dump, with no temporary of that dump beside it,
        // is an interrupted removal; a fresh one may be d1-fetch's commit in progress.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
        w("a-20261109T031700Z.sql", "ok");
        w(
            "a-20261109T031700Z.sql.sha256",
            "aa  a-20261109T031700Z.sql\n",
        );
        w("a-20261109T031700Z.sql.json", &manifest("db-a"));
        w("b.sql.zst", "toolong");
        w("c.sql", "ok");
        w("c.sql.json", &manifest("db-c"));
        w("b.sql.zst.json", &manifest("db-b"));
        w("gone.sql.json", &manifest("db-a"));
        w("gone.sql.sha256", "aa  gone.sql\n");
        w("new.sql.json", &manifest("db-a"));
        w("new.sql.sha256", "aa  new.sql\n");
        w("coming.sql.json", &manifest("db-a"));
        w(".coming.sql.Qx81Zp.part", "being renamed");
        let long_ago = std::time::SystemTime::now() - ORPHAN_AGE * 2;
        for f in ["gone.sql.json", "coming.sql.json"] {
            let file = std::fs::File::options()
                .write(true)
                .open(d.join(f))
                .unwrap();
            file.set_modified(long_ago).unwrap();
        }
        w("lone.sql.sha256", "aa  lone.sql\n");
        w("notes.txt", "mine");
        w("nomanifest.sql", "x");
        w(".c.sql.zst.Ab12Cd.part", "in progress");
        w(".d1-prune.lock", "");
        std::fs::create_dir(d.join("sub")).unwrap();

        let mut s = Scan::default();
        scan_folder(d, &mut s).unwrap();
        let names = |v: Vec<&PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(s.dumps.iter().map(|x| &x.path).collect()),
            ["a-20261109T031700Z.sql", "b.sql.zst", "c.sql"]
        );
        assert_eq!(s.dumps[2].verdict, Verdict::NoChecksum);
        assert!(s.dumps[0].good());
        assert_eq!(
            s.dumps[1].verdict,
            Verdict::WrongSize {
                actual: 7,
                expected: 2
            }
        );
        assert_eq!(
            names(s.orphans.iter().map(|x| &x.dump).collect()),
            ["gone.sql"]
        );
        let skipped: Vec<(String, bool)> = s
            .skipped
            .iter()
            .map(|k| {
                (
                    k.path.file_name().unwrap().to_string_lossy().into_owned(),
                    k.warn,
                )
            })
            .collect();
        assert_eq!(
            skipped,
            [
                ("coming.sql.json".to_string(), false),
                ("lone.sql.sha256".to_string(), false),
                ("new.sql.json".to_string(), false),
                ("nomanifest.sql".to_string(), true),
                ("notes.txt".to_string(), false),
            ]
        );
    }

    #[test]
    fn an_encrypted_dump_is_a_dump_with_its_own_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
        w("a.sql.zst.age", "ok");
        w("a.sql.zst.age.sha256", "aa  a.sql.zst.age\n");
        w("a.sql.zst.age.json", &manifest("db-a"));
        w("b.age", "ok");
        let mut s = Scan::default();
        scan_folder(d, &mut s).unwrap();
        assert_eq!(s.dumps.len(), 1);
        assert!(s.dumps[0].good() && s.dumps[0].path.ends_with("a.sql.zst.age"));
        assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    }

    #[test]
    fn recursive_folders_are_listed_once_without_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["x", "x/y", ".hidden", "z"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let got = folders(&[d.to_path_buf(), d.join("x")], true).unwrap();
        let rel: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["", "x", "x/y", "z"]);
        assert_eq!(folders(&[d.to_path_buf()], false).unwrap().len(), 1);
        let e = folders(&[d.join("nope")], false).unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Usage);
    }
}
