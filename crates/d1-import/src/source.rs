//! The file to import, made ready for the upload: a plain `.sql` is used in place; a `.sql.zst`
//! (recognised by the zstd magic bytes, whatever its name) is decompressed to a temporary file
//! with mode 0600 (dumps hold production data), which is removed when the [`Source`] is dropped:
//! on success, on error and on SIGINT/SIGTERM alike. The md5 the import API wants as `etag` is
//! computed in the same pass, so a 10 GB dump is read once and never held in memory.

use d1_core::msg::{human_bytes, Progress};
use d1_core::{Error, Result};
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A decompressed dump larger than this is not a D1 dump (a database is at most 10 GB; its
/// text dump, blobs in hex, stays well below) but a decompression bomb filling the disk.
pub const MAX_DECOMPRESSED: u64 = 64 << 30;

const CHUNK: usize = 256 * 1024;

/// A file ready to upload.
pub struct Source {
    /// What is uploaded: the file itself, or the decompressed temporary copy.
    pub path: PathBuf,
    pub len: u64,
    /// md5 of the uploaded bytes, lowercase hex (the import API's `etag`).
    pub etag: String,
    pub compressed: bool,
    /// Removes the decompressed copy when dropped.
    _temp: Option<tempfile::TempPath>,
}

/// Opens a file named by the user: anything wrong with it is bad input (exit 2).
pub fn open(path: &Path) -> Result<File> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(Error::usage(format!("{shown}: is a directory"))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(format!("{shown}: no such file")))
        }
        Err(e) => return Err(Error::usage(format!("{shown}: {e}"))),
    }
    File::open(path).map_err(|e| Error::usage(format!("{shown}: {e}")))
}

/// Everything about the file that can be told without the network: it exists, is a file, and
/// its first bytes are SQL text or zstd.
pub fn check(path: &Path) -> Result<Kind> {
    let shown = path.display().to_string();
    let mut f = open(path)?;
    sniff(&read_head(&mut f, &shown)?, &shown)
}

pub use d1_core::sniff::Kind;

/// Sniffs the first bytes (d1_core::sniff, the answer every tool gives): zstd or SQL text.
/// Gzip, an SQLite database file, other binary data and an empty file are refused before
/// anything is uploaded.
pub fn sniff(head: &[u8], shown: &str) -> Result<Kind> {
    match d1_core::sniff::sniff(head, shown)? {
        Kind::Empty => Err(Error::usage(format!("{shown}: the file is empty"))),
        kind => Ok(kind),
    }
}

/// Reads the first bytes without consuming more than needed for [`sniff`].
fn read_head(f: &mut File, shown: &str) -> Result<Vec<u8>> {
    let mut head = vec![0u8; d1_core::sniff::HEAD];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => d1_core::signal::check()?,
            Err(e) => return Err(Error::io(format!("reading {shown}"), e)),
        }
    }
    head.truncate(n);
    Ok(head)
}

/// Prepares `path` for upload (see the module comment).
pub fn prepare(path: &Path) -> Result<Source> {
    let shown = path.display().to_string();
    let mut f = open(path)?;
    let head = read_head(&mut f, &shown)?;
    let kind = sniff(&head, &shown)?;
    let mut progress = Progress::new();
    match kind {
        Kind::Sql | Kind::Empty => {
            let mut input = std::io::Cursor::new(head).chain(f);
            let (len, etag) = copy_hashing(&mut input, None, &mut progress, &shown, "hashing")?;
            Ok(Source {
                path: path.to_path_buf(),
                len,
                etag,
                compressed: false,
                _temp: None,
            })
        }
        Kind::Zstd => {
            let temp = tempfile::Builder::new()
                .prefix("d1-import.")
                .suffix(".sql")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .tempfile()
                .map_err(|e| Error::io("creating a temporary file (TMPDIR)", e))?;
            let (file, temp_path) = temp.into_parts();
            let mut out = std::io::BufWriter::with_capacity(CHUNK, file);
            let input = std::io::Cursor::new(head).chain(f);
            let mut decoder = zstd::stream::read::Decoder::new(input)
                .map_err(|e| Error::io(format!("reading {shown}"), e))?;
            let (len, etag) = copy_hashing(
                &mut decoder,
                Some(&mut out),
                &mut progress,
                &shown,
                "decompressing",
            )?;
            let file = out
                .into_inner()
                .map_err(|e| Error::io("writing the decompressed dump", e.into_error()))?;
            file.sync_all()
                .map_err(|e| Error::io("writing the decompressed dump", e))?;
            if len == 0 {
                return Err(Error::usage(format!(
                    "{shown}: decompresses to an empty file"
                )));
            }
            Ok(Source {
                path: temp_path.to_path_buf(),
                len,
                etag,
                compressed: true,
                _temp: Some(temp_path),
            })
        }
    }
}

/// Copies `input` to `out` (when given) while hashing it, checking for signals between chunks.
/// Read errors from a zstd decoder mean damaged data (exit 1); write errors (a full disk) too.
fn copy_hashing(
    input: &mut dyn Read,
    mut out: Option<&mut dyn Write>,
    progress: &mut Progress,
    shown: &str,
    doing: &str,
) -> Result<(u64, String)> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        d1_core::signal::check()?;
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if out.is_some() => {
                return Err(Error::failed(format!("{shown}: damaged zstd data: {e}")))
            }
            Err(e) => return Err(Error::io(format!("reading {shown}"), e)),
        };
        md5.update(&buf[..n]);
        total += n as u64;
        if let Some(w) = out.as_mut() {
            if total > MAX_DECOMPRESSED {
                return Err(Error::usage(format!(
                    "{shown}: decompresses to more than {}, not a D1 dump",
                    human_bytes(MAX_DECOMPRESSED)
                )));
            }
            w.write_all(&buf[..n])
                .map_err(|e| Error::io("writing the decompressed dump", e))?;
        }
        progress.update(|| format!("{doing} {shown}: {}", human_bytes(total)));
    }
    progress.finish();
    Ok((total, hex::encode(md5.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_core::sniff::ZSTD_MAGIC;
    use std::os::unix::fs::PermissionsExt;

    const DUMP: &[u8] =
        b"PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(x);\nINSERT INTO \"t\" VALUES(1);";

    #[test]
    fn a_plain_dump_is_used_in_place_with_its_md5() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(&p, DUMP).unwrap();
        let s = prepare(&p).unwrap();
        assert_eq!(s.path, p);
        assert_eq!(s.len, DUMP.len() as u64);
        assert_eq!(s.etag, hex::encode(Md5::digest(DUMP)));
        assert!(!s.compressed);
    }

    #[test]
    fn a_zstd_dump_is_decompressed_to_a_private_temporary_file_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        // Named .sql on purpose: the content decides, not the name.
        let p = dir.path().join("d.sql");
        std::fs::write(&p, zstd::encode_all(DUMP, 3).unwrap()).unwrap();
        let s = prepare(&p).unwrap();
        assert!(s.compressed);
        assert_ne!(s.path, p);
        assert_eq!(std::fs::read(&s.path).unwrap(), DUMP);
        assert_eq!(s.etag, hex::encode(Md5::digest(DUMP)));
        let mode = std::fs::metadata(&s.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let temp = s.path.clone();
        drop(s);
        assert!(!temp.exists());
    }

    #[test]
    fn damaged_zstd_is_a_failed_dump_not_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql.zst");
        let mut z = zstd::encode_all(&DUMP.repeat(1000)[..], 3).unwrap();
        z.truncate(z.len() / 2);
        std::fs::write(&p, z).unwrap();
        let e = prepare(&p).err().unwrap();
        assert_eq!(e.code(), d1_core::ExitCode::Failed, "{}", e.message);
        assert!(e.message.contains("damaged zstd data"), "{}", e.message);
    }

    #[test]
    fn missing_empty_and_binary_files_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let missing = prepare(&dir.path().join("nope.sql")).err().unwrap();
        assert_eq!(missing.code(), d1_core::ExitCode::Usage);
        assert!(missing.message.ends_with("no such file"));
        assert!(sniff(b"", "e").unwrap_err().message.contains("empty"));
        assert!(sniff(&[0x1f, 0x8b, 8, 0], "g")
            .unwrap_err()
            .message
            .contains("gzip"));
        assert!(sniff(b"SQLite format 3\0...", "s").is_err());
        assert!(sniff(b"ab\0cd", "b").is_err());
        assert_eq!(sniff(b"CREATE TABLE", "ok").unwrap(), Kind::Sql);
        assert_eq!(sniff(&ZSTD_MAGIC, "z").unwrap(), Kind::Zstd);
    }
}
