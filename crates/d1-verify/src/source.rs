//! Opening a dump: a file or standard input, plain SQL or zstd (told apart by magic bytes,
//! never by name), refusing a SQLite database file given where a dump belongs; and the
//! `FILE.sha256` sidecar check (sha256sum's format, as d1-fetch writes it).

use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const BUF: usize = 256 * 1024;

pub struct Source {
    pub reader: Box<dyn BufRead + Send>,
    pub compressed: bool,
}

/// Opens `path` (`-` is standard input). A missing path, a directory or a SQLite file is a
/// usage error (exit 2) naming it. An age file is decrypted with `identity` (encrypted.rs).
pub fn open(path: &str, identity: Option<&d1_core::age::Identities>) -> Result<Source> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        let p = Path::new(path);
        match p.metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::usage(format!("{path}: no such file")))
            }
            Err(e) => return Err(Error::usage(format!("{path}: {e}"))),
            Ok(m) if m.is_dir() => {
                return Err(Error::usage(format!("{path}: is a directory, not a dump")))
            }
            Ok(_) => {}
        }
        Box::new(File::open(p).map_err(|e| Error::usage(format!("{path}: {e}")))?)
    };
    let (mut head, mut raw) = peek(raw).map_err(|e| Error::io(format!("reading {path}"), e))?;
    if crate::encrypted::is_encrypted(&head) {
        let plain = crate::encrypted::open(path, &head, raw, identity)?;
        (head, raw) = peek(plain).map_err(|e| Error::failed(format!("{path}: {e}")))?;
    }
    let compressed = head.starts_with(&ZSTD_MAGIC);
    let sql: Box<dyn Read + Send> = if compressed {
        let dec = zstd::stream::read::Decoder::new(raw)
            .map_err(|e| Error::io(format!("reading {path}"), e))?;
        let (inner, dec) = peek(Box::new(dec))
            .map_err(|e| Error::failed(format!("{path}: not a valid zstd stream: {e}")))?;
        refuse_sqlite(path, &inner)?;
        dec
    } else {
        refuse_sqlite(path, &head)?;
        raw
    };
    Ok(Source {
        reader: Box::new(BufReader::with_capacity(BUF, sql)),
        compressed,
    })
}

fn refuse_sqlite(path: &str, head: &[u8]) -> Result<()> {
    if head.starts_with(SQLITE_MAGIC) {
        // wrangler refuses the same mistake with the same words.
        return Err(Error::usage(format!(
            "{path}: this is a SQLite database file, not a SQL dump"
        )));
    }
    Ok(())
}

/// Reads up to 32 bytes (enough for the zstd, SQLite and age signatures) and gives back a
/// reader that still yields them.
fn peek(mut r: Box<dyn Read + Send>) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0u8; 32];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let again = Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

/// The sidecar's verdict.
pub enum Sidecar {
    /// No `FILE.sha256` next to the file (or standard input).
    Absent,
    Matches(String),
}

/// Checks `FILE.sha256` when it exists. A mismatch or an unreadable sidecar is a failure.
pub fn check_sidecar(path: &str) -> Result<Sidecar> {
    if path == "-" {
        return Ok(Sidecar::Absent);
    }
    let side = format!("{path}.sha256");
    let text = match std::fs::read(&side) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sidecar::Absent),
        Err(e) => return Err(Error::io(format!("reading {side}"), e)),
    };
    let text = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
    let want = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Error::failed(format!("{side}: not a sha256sum line (HEX  NAME)")))?;
    let mut f = File::open(path).map_err(|e| Error::usage(format!("{path}: {e}")))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        d1_core::signal::check()?;
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format!("reading {path}"), e)),
        };
        h.update(&buf[..n]);
    }
    let got = hex::encode(h.finalize());
    if got != want {
        return Err(Error::failed(format!(
            "checksum mismatch: {side} says {want}, the file's SHA-256 is {got}"
        )));
    }
    Ok(Sidecar::Matches(got))
}
