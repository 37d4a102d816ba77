//! Opening a dump: a file or standard input, plain SQL or zstd (d1_core::sniff: told apart by
//! magic bytes, never by name; gzip, a SQLite database file or other binary data is bad input,
//! exit 2, before and inside zstd); and the
//! `FILE.sha256` sidecar check (sha256sum's format, as d1-fetch writes it).

use d1_core::sniff::{sniff, Kind};
use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

const BUF: usize = 256 * 1024;

/// Whether the dump has a manifest (`PATH.json`, d1-fetch's) beside it.
pub fn has_manifest(dump: &str) -> bool {
    d1_archive::names::manifest_path(Path::new(dump)).exists()
}

pub struct Source {
    pub reader: Box<dyn BufRead + Send>,
    pub compressed: bool,
}

/// Opens `path` (`-` is standard input). A missing path, a directory or a file that is not a
/// dump (d1_core::sniff) is a usage error (exit 2) naming it. An age file is decrypted with
/// `identity` (encrypted.rs).
pub fn open(path: &str, identity: Option<&d1_age::Identities>) -> Result<Source> {
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
    let compressed = sniff(&head, path)? == Kind::Zstd;
    let sql: Box<dyn Read + Send> = if compressed {
        let dec = zstd::stream::read::Decoder::new(raw)
            .map_err(|e| Error::io(format!("reading {path}"), e))?;
        let (inner, dec) = peek(Box::new(dec))
            .map_err(|e| Error::failed(format!("{path}: not a valid zstd stream: {e}")))?;
        // What the zstd frame holds must be SQL too (a compressed SQLite file is no dump).
        if sniff(&inner, path)? == Kind::Zstd {
            return Err(Error::usage(format!(
                "{path}: zstd data inside zstd data, not a SQL dump"
            )));
        }
        dec
    } else {
        raw
    };
    Ok(Source {
        reader: Box::new(BufReader::with_capacity(BUF, sql)),
        compressed,
    })
}

/// Reads the bytes `sniff` looks at and gives back a reader that still yields them.
fn peek(mut r: Box<dyn Read + Send>) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0u8; d1_core::sniff::HEAD];
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
    let side = d1_archive::names::checksum_path(Path::new(path));
    let shown = side.display().to_string();
    let mut text = Vec::new();
    match File::open(&side) {
        Ok(f) => f
            .take(d1_archive::checksum::MAX_BYTES)
            .read_to_end(&mut text)
            .map_err(|e| Error::io(format!("reading {shown}"), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sidecar::Absent),
        Err(e) => return Err(Error::io(format!("reading {shown}"), e)),
    };
    let want = d1_archive::checksum::parse(&text, &shown)?;
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
            "checksum mismatch: {shown} says {want}, the file's SHA-256 is {got}"
        )));
    }
    Ok(Sidecar::Matches(got))
}
