//! A writer that counts and SHA-256-hashes the bytes that reach its output: what a stored file
//! (a compressed dump, an age ciphertext) is, for its `.sha256` sidecar and its manifest.

use sha2::{Digest, Sha256};
use std::io::{self, Write};

pub struct Hashing<W> {
    out: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(out: W) -> Hashing<W> {
        Hashing {
            out,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    /// Flushes; returns the output, the bytes written and their SHA-256 (hex).
    pub fn finish(mut self) -> io::Result<(W, u64, String)> {
        self.out.flush()?;
        Ok((self.out, self.bytes, hex::encode(self.sha.finalize())))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Only what the output took is counted: a short write is not a lie in the digest.
        let n = self.out.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_hashes_what_was_written() {
        let mut h = Hashing::new(Vec::new());
        h.write_all(b"ab").unwrap();
        h.write_all(b"c").unwrap();
        let (out, n, sha) = h.finish().unwrap();
        assert_eq!((out.as_slice(), n), (&b"abc"[..], 3));
        // sha256("abc"), FIPS 180-2's example.
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
