//! The file to import, made ready for the upload: the dump as D1's import will take it
//! (`rewrite`), read from the file itself, decompressed on the fly when it is zstd (recognised by
//! the magic bytes, whatever its name). A first pass computes the md5 the import API wants as
//! `etag` and the length; the upload reads the same bytes again with [`Source::open`]. Nothing is
//! written to disk: no decompressed or rewritten copy of a dump that holds production data, and
//! no room needed for one; a 10 GB dump is never held in memory.

use crate::rewrite::{Counts, Reader, Rewriter};
use d1_core::msg::{human_bytes, Progress};
use d1_core::{Error, Result};
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A dump decompressing to more than this is not a D1 dump (a database is at most 10 GB; its
/// text dump, blobs in hex, stays well below) but a decompression bomb.
pub const MAX_DECOMPRESSED: u64 = 64 << 30;

const CHUNK: usize = 256 * 1024;

/// A file ready to upload.
pub struct Source {
    /// The file as the user named it.
    pub path: PathBuf,
    /// Bytes uploaded: the dump as rewritten.
    pub len: u64,
    /// md5 of the uploaded bytes, lowercase hex (the import API's `etag`).
    pub etag: String,
    pub compressed: bool,
    /// What the rewrite changed.
    pub counts: Counts,
}

impl Source {
    /// The bytes to upload, from the file again: the same ones [`prepare`] hashed, as long as
    /// the file did not change in between (the storage's ETag would then differ: nothing is
    /// imported).
    pub fn open(&self) -> Result<Reader<Box<dyn BufRead + Send>>> {
        let (rw, _) = rewriter(&self.path)?;
        Ok(Reader::new(rw))
    }
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

/// The file's statements through the rewrite, and whether it is compressed.
fn rewriter(path: &Path) -> Result<(Rewriter<Box<dyn BufRead + Send>>, bool)> {
    let shown = path.display().to_string();
    let mut f = open(path)?;
    let head = read_head(&mut f, &shown)?;
    let kind = sniff(&head, &shown)?;
    let input = std::io::Cursor::new(head).chain(f);
    let (reader, compressed): (Box<dyn BufRead + Send>, bool) = match kind {
        Kind::Sql | Kind::Empty => (Box::new(BufReader::with_capacity(CHUNK, input)), false),
        Kind::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(input)
                .map_err(|e| Error::io(format!("reading {shown}"), e))?;
            let damaged = Damaged { inner: decoder };
            (Box::new(BufReader::with_capacity(CHUNK, damaged)), true)
        }
    };
    Ok((Rewriter::new(reader, &shown), compressed))
}

/// A zstd decoder whose read errors say that the data is damaged: `InvalidData`, which the
/// rewrite reports as a failed dump (exit 1) rather than an I/O error.
struct Damaged<R> {
    inner: R,
}

impl<R: Read> Read for Damaged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => e,
            _ => std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("damaged zstd data: {e}"),
            ),
        })
    }
}

/// Prepares `path` for upload (see the module comment): one pass through the rewrite, hashing
/// what it gives, checking for signals between chunks.
pub fn prepare(path: &Path) -> Result<Source> {
    let shown = path.display().to_string();
    let (mut rw, compressed) = rewriter(path)?;
    let mut progress = Progress::new();
    let mut md5 = Md5::new();
    let mut len: u64 = 0;
    loop {
        d1_core::signal::check()?;
        let Some(chunk) = rw.next_chunk()? else {
            break;
        };
        md5.update(chunk);
        len += chunk.len() as u64;
        let read = rw.read_bytes();
        if compressed && read > MAX_DECOMPRESSED {
            return Err(Error::usage(format!(
                "{shown}: decompresses to more than {}, not a D1 dump",
                human_bytes(MAX_DECOMPRESSED)
            )));
        }
        progress.update(|| format!("reading {shown}: {}", human_bytes(read)));
    }
    progress.finish();
    if len == 0 {
        return Err(Error::usage(format!("{shown}: holds no SQL statement")));
    }
    Ok(Source {
        path: path.to_path_buf(),
        len,
        etag: hex::encode(md5.finalize()),
        compressed,
        counts: rw.counts(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_core::sniff::ZSTD_MAGIC;

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
    fn a_zstd_dump_is_decompressed_on_the_fly_for_the_hash_and_again_for_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        // Named .sql on purpose: the content decides, not the name.
        let p = dir.path().join("d.sql");
        std::fs::write(&p, zstd::encode_all(DUMP, 3).unwrap()).unwrap();
        let s = prepare(&p).unwrap();
        assert!(s.compressed);
        assert_eq!(s.path, p);
        assert_eq!(s.len, DUMP.len() as u64);
        assert_eq!(s.etag, hex::encode(Md5::digest(DUMP)));
        let mut body = Vec::new();
        s.open().unwrap().read_to_end(&mut body).unwrap();
        assert_eq!(body, DUMP);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no copy beside it"
        );
    }

    #[test]
    fn the_md5_is_the_rewritten_dumps_and_the_upload_reads_those_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tx.sql");
        std::fs::write(&p, "BEGIN TRANSACTION;\nCREATE TABLE t(x);\nCOMMIT;\n").unwrap();
        let s = prepare(&p).unwrap();
        let want = b"CREATE TABLE t(x);";
        assert_eq!((s.len, s.counts.dropped), (want.len() as u64, 2));
        assert_eq!(s.etag, hex::encode(Md5::digest(want)));
        let mut body = Vec::new();
        s.open().unwrap().read_to_end(&mut body).unwrap();
        assert_eq!(body, want);
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
