//! Where the downloaded SQL goes: hashed (SHA-256, and MD5 when the server's ETag lets us
//! check it), optionally zstd-compressed, then written to a file or stdout whose stored bytes
//! are hashed too. Fixed-size state whatever the dump's size.

use crate::chunks::Pool;
use d1_core::hashing::Hashing;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// MD5 on its own thread. It is the slowest digest (~500 MB/s against SHA-256's ~1.5 GB/s with
/// SHA-NI) and, done inline, it was half of d1-fetch's CPU time on the download's critical path
/// (docs/performance.md). Chunks are copied to it through a small bounded channel, so memory
/// stays a few chunks.
struct Md5Worker {
    tx: Option<SyncSender<Vec<u8>>>,
    handle: JoinHandle<Md5>,
}

impl Md5Worker {
    fn start(pool: Pool) -> Md5Worker {
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let handle = std::thread::spawn(move || {
            let mut md5 = Md5::new();
            for chunk in rx {
                md5.update(&chunk);
                pool.give(chunk);
            }
            md5
        });
        Md5Worker {
            tx: Some(tx),
            handle,
        }
    }

    fn update(&mut self, buf: Vec<u8>) {
        if let Some(tx) = &self.tx {
            // A send fails only if the thread died (a panic): finish() then reports no MD5.
            let _ = tx.send(buf);
        }
    }

    fn finish(mut self) -> Option<String> {
        drop(self.tx.take());
        self.handle.join().ok().map(|m| hex::encode(m.finalize()))
    }
}

pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// zstd workers: the machines that run backups are small; two threads keep up with a network
/// download without starving the rest (zstd's multithreaded mode still writes one standard frame).
const ZSTD_WORKERS: u32 = 2;

/// Bytes per zstd job (see `Sink::new`).
const ZSTD_JOB: u32 = 2 << 20;

/// What the encryption (encrypt.rs) changed: the plaintext's size and digest, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub recipients: Vec<String>,
    pub plaintext_bytes: u64,
    pub plaintext_sha256: String,
}

/// Digests and sizes of what was received and what was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sql_bytes: u64,
    pub sql_sha256: String,
    /// MD5 of the SQL, when it was computed (to compare with a plain-MD5 ETag).
    pub sql_md5: Option<String>,
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// Set when the stored bytes are age ciphertext (encrypt.rs).
    pub encrypted: Option<Encrypted>,
}

enum Inner<W: Write> {
    /// Stored bytes are the SQL bytes: their digests are the SQL's.
    Plain(W),
    Zstd(Box<zstd::stream::write::Encoder<'static, Hashing<W>>>),
}

pub struct Sink<W: Write> {
    inner: Inner<W>,
    sha: Sha256,
    md5: Option<Md5Worker>,
    bytes: u64,
    pool: Pool,
}

impl<W: Write> Sink<W> {
    /// `zstd`: compression level, or `None` to store the SQL as it comes.
    pub fn new(out: W, zstd: Option<i32>) -> io::Result<Sink<W>> {
        let inner = match zstd {
            None => Inner::Plain(out),
            Some(level) => {
                // The stored (compressed) bytes are counted and hashed on their way out.
                let stored = Hashing::new(out);
                let mut enc = zstd::stream::write::Encoder::new(stored, level)?;
                enc.multithread(ZSTD_WORKERS)?;
                // zstd sizes multithreaded jobs from the window (8 MiB at level 3) and holds
                // input and output per worker: ~60 MB. 2 MiB jobs keep it near 24 MB; 1 MiB
                // (16 MB) re-reads more overlap between jobs and was 5-10 % slower on 1 GB
                // (docs/performance.md).
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
                // A checksum in the frame lets `zstd -t` check the file without our sidecar.
                enc.include_checksum(true)?;
                Inner::Zstd(Box::new(enc))
            }
        };
        Ok(Sink {
            inner,
            sha: Sha256::new(),
            md5: None,
            bytes: 0,
            pool: Pool::default(),
        })
    }

    /// Also computes the MD5 of the SQL (to compare with a plain-MD5 ETag, known only once the
    /// first answer arrives). Only before any byte was written; later it stays off.
    pub fn want_md5(&mut self) {
        if self.bytes == 0 && self.md5.is_none() {
            self.md5 = Some(Md5Worker::start(self.pool.clone()));
        }
    }

    /// SQL bytes received so far.
    pub fn sql_bytes(&self) -> u64 {
        self.bytes
    }

    /// SHA-256 of the SQL bytes received so far, to check that a restarted download replays
    /// the same bytes before it continues.
    pub fn prefix_sha256(&self) -> [u8; 32] {
        self.sha.clone().finalize().into()
    }

    /// Appends SQL bytes.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.store(buf)?;
        if let Some(m) = self.md5.as_mut() {
            m.update(buf.to_vec());
        }
        Ok(())
    }

    /// Appends a chunk taken from `pool()`: the MD5 thread takes it without a copy, and it
    /// goes back to the pool once hashed.
    pub fn write_chunk(&mut self, buf: Vec<u8>) -> io::Result<()> {
        self.store(&buf)?;
        match self.md5.as_mut() {
            Some(m) => m.update(buf),
            None => self.pool.give(buf),
        }
        Ok(())
    }

    /// Where the chunks for `write_chunk` come from.
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    fn store(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(w) => w.write_all(buf)?,
            Inner::Zstd(e) => e.write_all(buf)?,
        }
        self.sha.update(buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    /// Ends the zstd frame and flushes; returns the output and the digests.
    pub fn finish(self) -> io::Result<(W, Digests)> {
        let sql_sha256 = hex::encode(self.sha.finalize());
        let sql_md5 = self.md5.and_then(Md5Worker::finish);
        let sql_bytes = self.bytes;
        let (out, stored_bytes, stored_sha256) = match self.inner {
            Inner::Plain(mut w) => {
                w.flush()?;
                (w, sql_bytes, sql_sha256.clone())
            }
            Inner::Zstd(e) => e.finish()?.finish()?,
        };
        Ok((
            out,
            Digests {
                sql_bytes,
                sql_sha256,
                sql_md5,
                stored_bytes,
                stored_sha256,
                encrypted: None,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &[u8] = b"PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE t(x);";

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn plain_output_is_the_input_with_its_digests() {
        let mut s = Sink::new(Vec::new(), None).unwrap();
        s.want_md5();
        s.write_all(&SQL[..10]).unwrap();
        s.write_all(&SQL[10..]).unwrap();
        let (out, d) = s.finish().unwrap();
        assert_eq!(out, SQL);
        assert_eq!(d.sql_sha256, sha(SQL));
        assert_eq!(d.stored_sha256, sha(SQL));
        assert_eq!(d.stored_bytes, SQL.len() as u64);
        assert_eq!(d.sql_md5.unwrap(), hex::encode(Md5::digest(SQL)));
    }

    #[test]
    fn zstd_output_is_one_standard_frame_and_its_digest_is_of_the_compressed_bytes() {
        let big: Vec<u8> = SQL.iter().cycle().take(3_000_000).copied().collect();
        let mut s = Sink::new(Vec::new(), Some(3)).unwrap();
        for chunk in big.chunks(256 * 1024) {
            s.write_all(chunk).unwrap();
        }
        let (out, d) = s.finish().unwrap();
        assert_eq!(zstd::decode_all(&out[..]).unwrap(), big);
        assert_eq!(d.sql_sha256, sha(&big));
        assert_eq!(d.stored_sha256, sha(&out));
        assert_eq!(d.stored_bytes, out.len() as u64);
        assert!(d.sql_md5.is_none());
    }

    #[test]
    fn prefix_digest_is_that_of_the_bytes_so_far() {
        let mut s = Sink::new(Vec::new(), None).unwrap();
        s.write_all(&SQL[..7]).unwrap();
        assert_eq!(hex::encode(s.prefix_sha256()), sha(&SQL[..7]));
        s.write_all(&SQL[7..]).unwrap();
        assert_eq!(s.sql_bytes(), SQL.len() as u64);
    }
}
