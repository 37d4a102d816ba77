//! Encrypted off-site copies in the age format, on the d1-age crate (one implementation
//! for every tool: d1-fetch --encrypt-to, d1-verify --identity, these copies). A D1 dump is the
//! whole database in clear text: in a bucket, anyone with the bucket's keys (or a
//! public-access mistake) would read every row.
//!
//! Streaming with flat memory: the dump is encrypted into a temporary file beside it (mode
//! 0600, removed when dropped, named by d1_core::atomic's one rule so that the next run's
//! clean-up removes it when a killed run leaves it), which is then uploaded like any dump.

use d1_age::Recipients;
use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use tempfile::NamedTempFile;

const BUF: usize = 1 << 20;

/// What encrypting a dump produced.
pub struct Sealed {
    /// The ciphertext, in a temporary file beside the dump (removed when dropped).
    pub file: NamedTempFile,
    pub ciphertext_sha256: String,
    pub ciphertext_bytes: u64,
    /// The SHA-256 of the plaintext read, to compare with the manifest's.
    pub plaintext_sha256: String,
}

/// Encrypts `src` to `recipients` into a temporary file in `src`'s folder.
pub fn seal(src: &Path, recipients: &Recipients) -> Result<Sealed> {
    let shown = src.display();
    let name = src
        .file_name()
        .map(|n| d1_archive::names::encrypted_name(&n.to_string_lossy()))
        .unwrap_or_default();
    let temp = d1_core::atomic::scratch(&d1_core::atomic::parent_dir(src), &name)?;
    let out = temp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io("encrypting", e))?;
    let mut writer = recipients.encrypt(BufWriter::with_capacity(BUF, out))?;
    let mut input =
        std::fs::File::open(src).map_err(|e| Error::io(format!("opening {shown}"), e))?;
    let mut plain = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        d1_core::signal::check()?;
        let n = input
            .read(&mut buf)
            .map_err(|e| Error::io(format!("reading {shown}"), e))?;
        if n == 0 {
            break;
        }
        plain.update(&buf[..n]);
        writer
            .write_all(&buf[..n])
            .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
    }
    let (mut out, sealed) = writer
        .finish()
        .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
    out.flush()
        .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
    Ok(Sealed {
        file: temp,
        ciphertext_sha256: sealed.sha256,
        ciphertext_bytes: sealed.bytes,
        plaintext_sha256: hex::encode(plain.finalize()),
    })
}
