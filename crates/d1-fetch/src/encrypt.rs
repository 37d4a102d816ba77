//! age, both ways. `--encrypt-to` / `--recipients-file`: the dump is encrypted after compression and
//! before it reaches the disk, so that no plaintext is ever written on a backup host that is
//! not trusted (docs/encryption.md). The file gets `.age`; the checksum sidecar and the
//! manifest's `sha256` are the ciphertext's (what is stored and moved), `plaintext_sha256` is
//! the decrypted file's (what a restore checks). `--identity`: an encrypted off-site copy is
//! decrypted on its way back (`d1-fetch s3://….age`).

use crate::output::Output;
use crate::sink::{Digests, Encrypted};
pub use d1_age::Identities;
use d1_age::{EncryptWriter, Recipients};
use d1_archive::manifest::{Encryption, Manifest};
use d1_archive::Field;
use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// The sink's output: as it is, or encrypted on its way.
pub enum Out<W: Write> {
    Clear(W),
    Age(Box<EncryptWriter<W>>, Vec<String>),
}

impl<W: Write> Out<W> {
    pub fn new(out: W, recipients: Option<&Recipients>) -> Result<Out<W>> {
        Ok(match recipients {
            None => Out::Clear(out),
            Some(r) => Out::Age(Box::new(r.encrypt(out)?), r.keys().to_vec()),
        })
    }

    /// Writes age's last chunk; the stored size and SHA-256 become the ciphertext's, and the
    /// sink's become the plaintext's.
    pub fn finish(self, mut d: Digests) -> io::Result<(W, Digests)> {
        match self {
            Out::Clear(w) => Ok((w, d)),
            Out::Age(enc, recipients) => {
                let (w, sealed) = enc.finish()?;
                d.encrypted = Some(Encrypted {
                    recipients,
                    plaintext_bytes: d.stored_bytes,
                    plaintext_sha256: std::mem::replace(&mut d.stored_sha256, sealed.sha256),
                });
                d.stored_bytes = sealed.bytes;
                Ok((w, d))
            }
        }
    }
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Clear(w) => w.write(buf),
            Out::Age(e, _) => e.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Clear(w) => w.write_all(buf),
            Out::Age(e, _) => e.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Clear(w) => w.flush(),
            Out::Age(e, _) => e.flush(),
        }
    }
}

/// A folder's dump name gets `.age` when encrypted; a file named with `-o` must already end
/// in `.age`, so that no name says "SQL" of a file that is not.
pub fn name(path: PathBuf, encrypting: bool) -> PathBuf {
    if !encrypting {
        return path;
    }
    let mut s = path.into_os_string();
    s.push(".age");
    PathBuf::from(s)
}

/// Refuses, before any download, `-o FILE` not ending in `.age` when encrypting, and ending
/// in `.age` when not: the name says whether a key is needed.
pub fn check_output(output: &Output, encrypting: bool) -> Result<()> {
    let Output::File(p) = output else {
        return Ok(());
    };
    match (
        encrypting,
        p.as_os_str().as_encoded_bytes().ends_with(b".age"),
    ) {
        (true, false) => Err(Error::usage(format!(
            "-o {}: an encrypted dump's file name ends in .age (for example {}.age)",
            p.display(),
            p.display()
        ))),
        (false, true) => Err(Error::usage(format!(
            "-o {}: a .age name needs --encrypt-to or --recipients-file (the dump would be \
             in clear)",
            p.display()
        ))),
        _ => Ok(()),
    }
}

/// The manifest's fields for an encrypted dump.
pub fn manifest_fields(m: &mut Manifest, e: &Encrypted) {
    m.encryption = Field::Set(Encryption {
        format: Field::Set("age".into()),
        recipients: Field::Set(e.recipients.clone()),
        ..Encryption::default()
    });
    m.plaintext_bytes = Field::Set(e.plaintext_bytes);
    m.plaintext_sha256 = Field::Set(e.plaintext_sha256.clone());
}

/// The age identities that decrypt `s3://….age` copies (`--identity PATH`).
pub fn identities(path: &std::path::Path) -> Result<Identities> {
    Identities::read(path)
}

/// Decrypts chunk by chunk, with flat memory.
const BUF: usize = 1 << 20;

/// Decrypts `input` into `out`; returns the plaintext's SHA-256 and size. A wrong key, a
/// truncated or tampered ciphertext: exit 1 with a message that says which.
pub fn open(
    input: impl Read,
    out: &mut impl Write,
    ids: &Identities,
    what: &str,
) -> Result<(String, u64)> {
    let mut reader = ids
        .decrypt(input)
        .map_err(|e| e.context(format!("{what} (nothing written)")))?;
    let mut sha = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; BUF];
    loop {
        d1_core::signal::check()?;
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The payload's chunks are authenticated: a changed or missing byte fails here.
            Err(e) => return Err(Error::failed(format!("{what}: {e}; nothing written"))),
        };
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        bytes += n as u64;
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("{what}: writing the plaintext"), e))?;
    }
    Ok((hex::encode(sha.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Sink;
    use sha2::Digest;

    #[test]
    fn the_stored_digest_is_the_ciphertexts_and_the_plaintext_one_is_kept() {
        // A public key whose private half nobody has: enough to check the digests.
        let mut r = Recipients::new();
        r.add("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
            .unwrap();
        let mut sink = Sink::new(Out::new(Vec::new(), Some(&r)).unwrap(), Some(3)).unwrap();
        sink.write_all(b"CREATE TABLE t(x);\n").unwrap();
        let (out, d) = sink.finish().unwrap();
        let plain = d.stored_sha256.clone();
        let (bytes, d) = out.finish(d).unwrap();
        assert!(d1_core::sniff::is_age(&bytes));
        assert_eq!(d.stored_bytes, bytes.len() as u64);
        assert_eq!(d.stored_sha256, hex::encode(sha2::Sha256::digest(&bytes)));
        let e = d.encrypted.unwrap();
        assert_eq!(e.plaintext_sha256, plain);
        assert_ne!(e.plaintext_sha256, d.stored_sha256);
        assert_eq!(e.recipients, r.keys());
    }

    #[test]
    fn names_get_age_and_a_named_file_must_have_it() {
        assert_eq!(
            name("a.sql.zst".into(), true),
            PathBuf::from("a.sql.zst.age")
        );
        assert_eq!(name("a.sql".into(), false), PathBuf::from("a.sql"));
        assert!(check_output(&Output::File("a.sql".into()), true).is_err());
        assert!(check_output(&Output::File("a.sql.age".into()), true).is_ok());
        assert!(check_output(&Output::File("a.sql".into()), false).is_ok());
        assert!(check_output(&Output::File("a.sql.age".into()), false).is_err());
        assert!(Output::File("a.sql.zst.age".into())
            .matches_compression(true)
            .is_ok());
        assert!(Output::File("a.sql.age".into())
            .matches_compression(true)
            .is_err());
    }
}
