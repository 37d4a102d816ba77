//! A dump encrypted with age (d1-fetch --encrypt-to, or the age CLI), recognised by its
//! content: decrypted in memory while it is restored, never written anywhere in clear, with the
//! key from `--identity`. The decrypted bytes are checked against the manifest's
//! `plaintext_sha256` when it has one: the sidecar checks the ciphertext, this the content.

use d1_age::Identities;
use d1_core::sniff::{is_age, is_age_armored};
use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;

/// Whether the first bytes of a dump are an age file (binary or armored).
pub fn is_encrypted(head: &[u8]) -> bool {
    is_age(head) || is_age_armored(head)
}

/// The plaintext of the age file `raw` (whose first bytes are `head`).
pub fn open(
    path: &str,
    head: &[u8],
    raw: Box<dyn Read + Send>,
    identity: Option<&Identities>,
) -> Result<Box<dyn Read + Send>> {
    if is_age_armored(head) {
        return Err(Error::failed(format!(
            "{path}: an ASCII-armored age file; decrypt it with age -d, or encrypt without -a"
        )));
    }
    let Some(ids) = identity else {
        return Err(Error::credentials(format!(
            "{path} is encrypted (age): give --identity KEYFILE to verify it"
        )));
    };
    let plain = ids.decrypt(raw).map_err(|e| e.context(path))?;
    let want = match path {
        "-" => None,
        p => d1_archive::Manifest::load(&d1_archive::names::manifest_path(Path::new(p)))
            .ok()
            .flatten()
            .and_then(|m| m.plaintext_sha256.as_deref().map(str::to_ascii_lowercase)),
    };
    Ok(match want {
        Some(want) => Box::new(Checked {
            inner: plain,
            sha: Sha256::new(),
            want,
            done: false,
        }),
        None => Box::new(plain),
    })
}

/// Hashes the plaintext; at its end, compares with the manifest. A mismatch is a read error,
/// so the restore fails at that point as for any damaged dump.
struct Checked<R> {
    inner: R,
    sha: Sha256,
    want: String,
    done: bool,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.sha.update(&buf[..n]);
        } else if !std::mem::replace(&mut self.done, true) {
            let got = hex::encode(self.sha.clone().finalize());
            if got != self.want {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the decrypted dump's SHA-256 is {got} but the manifest's \
                         plaintext_sha256 is {}",
                        self.want
                    ),
                ));
            }
        }
        Ok(n)
    }
}
