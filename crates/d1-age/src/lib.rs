//! Encryption in the age format (age-encryption.org/v1), through the `age` crate of the rage
//! project: no cryptography of our own. Recipients are public keys (`age1…` X25519, or SSH
//! `ssh-ed25519`/`ssh-rsa` keys as age allows), given one by one or in a file in the age CLI's
//! `-R` format; identities (private keys) come from a file only, never from the command line,
//! and are registered with [`d1_core::redact`] so that no message can print them.
//!
//! Both directions stream in age's 64 KiB chunks: memory stays flat whatever the dump's size.
//! A file we write is read by `age -d -i KEY` and a file `age -r`/`-R` writes is read by us
//! (tests/tests/age.rs proves both with the reference CLI).
//!
//! A crate of its own so that only the tools that encrypt or decrypt (d1-fetch, d1-verify,
//! d1-upload) compile the age crate and the hundred-odd crates behind it. Telling an age file
//! by its first bytes needs none of them: that is `d1_core::sniff::is_age`.

use d1_core::error::{Error, Result};
use d1_core::hashing::Hashing;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

type DynRecipient = dyn ::age::Recipient + Send + Sync;

/// The public keys a dump is encrypted to. Every one of them can decrypt it.
#[derive(Clone, Default)]
pub struct Recipients {
    keys: Vec<String>,
    parsed: Vec<Arc<DynRecipient>>,
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

impl Recipients {
    pub fn new() -> Recipients {
        Recipients::default()
    }

    /// Adds one recipient (an `--encrypt-to` value). A value that is not a supported public
    /// key is a usage error (exit 2) naming what it looks like.
    pub fn add(&mut self, text: &str) -> Result<()> {
        let (key, parsed) = parse_recipient(text.trim()).map_err(Error::usage)?;
        if !self.keys.contains(&key) {
            self.keys.push(key);
            self.parsed.push(parsed);
        }
        Ok(())
    }

    /// Adds every recipient of a file in the age CLI's `-R` format: one public key per line,
    /// `#` comments and blank lines ignored. An unreadable file or a bad line is a usage error
    /// (exit 2) naming the line; a file without any recipient too (encrypting to nobody would
    /// make a backup no one can read).
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::usage(format!("recipients file {shown}: {e}")))?;
        let mut any = false;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| Error::usage(format!("recipients file {shown}: {e}")))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            any = true;
            let (key, parsed) = parse_recipient(line).map_err(|e| {
                Error::usage(format!("recipients file {shown} line {}: {e}", i + 1))
            })?;
            if !self.keys.contains(&key) {
                self.keys.push(key);
                self.parsed.push(parsed);
            }
        }
        if !any {
            return Err(Error::usage(format!(
                "recipients file {shown}: no recipient in it (one public key per line)"
            )));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public keys, as the manifest records them (`age1…`, or `ssh-ed25519 AAAA…` without
    /// the comment).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Starts an age file on `out` (writes its header) and returns the writer that encrypts
    /// what is written to it. [`EncryptWriter::finish`] must be called to write the last chunk.
    pub fn encrypt<W: Write>(&self, out: W) -> Result<EncryptWriter<W>> {
        if self.parsed.is_empty() {
            return Err(Error::usage("encryption needs at least one recipient"));
        }
        let enc = ::age::Encryptor::with_recipients(
            self.parsed
                .iter()
                .map(|r| r.as_ref() as &dyn ::age::Recipient),
        )
        .map_err(|e| Error::usage(format!("age: {e}")))?;
        // The ciphertext is counted and hashed on its way out.
        let counted = Hashing::new(out);
        let stream = enc
            .wrap_output(counted)
            .map_err(|e| Error::io("writing the age header", e))?;
        Ok(EncryptWriter { stream })
    }
}

/// One recipient: its canonical text and the key. The message says what is wrong without
/// echoing more than a prefix of the value.
fn parse_recipient(text: &str) -> std::result::Result<(String, Arc<DynRecipient>), String> {
    if let Some(rest) = text.strip_prefix("age1") {
        return match text.parse::<::age::x25519::Recipient>() {
            Ok(r) => Ok((r.to_string(), Arc::new(r))),
            Err(_) if text.contains(char::is_whitespace) => Err(format!(
                "{}…: one age recipient per value (no spaces)",
                prefix(text)
            )),
            // age1<name>1… (a second bech32 separator) is a plugin recipient (a YubiKey, a
            // cloud KMS) or a post-quantum one: it would need a plugin binary at backup time.
            Err(_) if rest.contains('1') => Err(format!(
                "{}…: not an X25519 age recipient (plugin and post-quantum recipients are not \
                 supported)",
                prefix(text)
            )),
            Err(e) => Err(format!("{}…: not a valid age recipient: {e}", prefix(text))),
        };
    }
    if text.starts_with("ssh-") || text.starts_with("sk-ssh-") || text.starts_with("ecdsa-") {
        use ::age::ssh::ParseRecipientKeyError as P;
        return match text.parse::<::age::ssh::Recipient>() {
            Ok(r) => Ok((r.to_string(), Arc::new(r))),
            Err(P::Unsupported(kind)) => Err(format!(
                "SSH key type {kind} is not supported by age (ssh-ed25519 and ssh-rsa are)"
            )),
            Err(P::RsaModulusTooSmall) => Err("ssh-rsa key shorter than 2048 bits".into()),
            Err(P::RsaModulusTooLarge) => Err("ssh-rsa key longer than 4096 bits".into()),
            Err(_) => Err(format!("{}…: not a valid SSH public key", prefix(text))),
        };
    }
    if text.starts_with("AGE-SECRET-KEY-") || text.starts_with("-----BEGIN") {
        // A private key where a public one belongs: say so, and never repeat it.
        return Err(
            "this is a private key (an identity), not a recipient; give its public key \
             (age-keygen -y KEY.txt, or the .pub file of an SSH key)"
                .into(),
        );
    }
    Err(format!(
        "{}…: not a recipient (expected an age1… public key or an ssh-ed25519/ssh-rsa key)",
        prefix(text)
    ))
}

/// The first characters of a value, for messages (a public key is not secret, but a line of a
/// wrong file might be).
fn prefix(text: &str) -> String {
    text.chars().take(12).collect()
}

/// What was written to the underlying writer: the ciphertext's size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: u64,
    pub sha256: String,
}

/// Encrypts what is written to it, one 64 KiB chunk at a time.
pub struct EncryptWriter<W: Write> {
    stream: ::age::stream::StreamWriter<Hashing<W>>,
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the last chunk (without it the file does not decrypt: age refuses a truncated
    /// file), flushes, and returns the writer with the ciphertext's size and SHA-256.
    pub fn finish(self) -> io::Result<(W, Sealed)> {
        let (out, bytes, sha256) = self.stream.finish()?.finish()?;
        Ok((out, Sealed { bytes, sha256 }))
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

type DynIdentity = dyn ::age::Identity + Send + Sync;

/// Private keys read from an identity file: `age-keygen` output (`AGE-SECRET-KEY-1…` lines,
/// `#` comments), or an unencrypted OpenSSH ed25519/RSA private key as `age -i` accepts.
#[derive(Clone)]
pub struct Identities {
    path: String,
    keys: Vec<Arc<DynIdentity>>,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({}, {} key(s))", self.path, self.keys.len())
    }
}

/// Identity files are a few lines; a bigger one is not an identity file.
const IDENTITY_MAX: u64 = 1 << 20;

impl Identities {
    /// Reads an identity file. Missing, unreadable, empty, or not an identity: exit 3
    /// (credentials), naming the file and never its content.
    pub fn read(path: &Path) -> Result<Identities> {
        let shown = path.display().to_string();
        let cred = |what: &str| Error::credentials(format!("identity file {shown}: {what}"));
        let file = std::fs::File::open(path).map_err(|e| cred(&e.to_string()))?;
        let mut text = Vec::new();
        file.take(IDENTITY_MAX + 1)
            .read_to_end(&mut text)
            .map_err(|e| cred(&e.to_string()))?;
        let text = Zeroed(text);
        if text.0.len() as u64 > IDENTITY_MAX {
            return Err(cred("too large to be an identity file"));
        }
        let s = std::str::from_utf8(&text.0).map_err(|_| cred("not a text file"))?;
        let keys: Vec<Arc<DynIdentity>> = if s.trim_start().starts_with("-----BEGIN") {
            vec![ssh_identity(s).map_err(|e| cred(&e))?]
        } else {
            for line in s.lines() {
                let line = line.trim();
                if line.starts_with("AGE-SECRET-KEY-") {
                    d1_core::redact::add_secret(line);
                }
            }
            let file = ::age::IdentityFile::from_buffer(s.as_bytes()).map_err(|e| {
                // The crate's message names a line number, never the line.
                cred(&e.to_string().replace("identity file ", ""))
            })?;
            file.into_identities()
                .map_err(|e| cred(&e.to_string()))?
                .into_iter()
                .map(Arc::<DynIdentity>::from)
                .collect()
        };
        if keys.is_empty() {
            return Err(cred(
                "no identity in it (expected AGE-SECRET-KEY-1… lines, as age-keygen writes)",
            ));
        }
        Ok(Identities { path: shown, keys })
    }

    /// Reads an age file from `input`: checks the header, finds a key that opens it, and
    /// returns the reader of the plaintext. Not an age file, or no key of ours opens it: exit 1.
    pub fn decrypt<R: Read>(&self, input: R) -> Result<DecryptReader<R>> {
        let dec = ::age::Decryptor::new(input).map_err(|e| self.failure(e))?;
        let stream = dec
            .decrypt(self.keys.iter().map(|k| k.as_ref() as &dyn ::age::Identity))
            .map_err(|e| self.failure(e))?;
        Ok(DecryptReader { stream })
    }

    fn failure(&self, e: ::age::DecryptError) -> Error {
        use ::age::DecryptError as D;
        Error::failed(match e {
            D::NoMatchingKeys => format!(
                "no identity in {} can decrypt this file (it was encrypted to other recipients)",
                self.path
            ),
            D::InvalidHeader | D::UnknownFormat => {
                "not a valid age file (damaged header, or a newer format)".to_string()
            }
            D::InvalidMac => "the age header was altered (its MAC does not match)".to_string(),
            D::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                "the age file is truncated (it ends inside its header)".to_string()
            }
            D::Io(e) => format!("reading the age header: {e}"),
            other => format!("age: {other}"),
        })
    }
}

/// An unencrypted OpenSSH private key (ed25519 or RSA). A passphrase-protected one cannot be
/// used by an unattended tool: said so.
fn ssh_identity(s: &str) -> std::result::Result<Arc<DynIdentity>, String> {
    use ::age::ssh::Identity as S;
    let id = S::from_buffer(s.as_bytes(), None).map_err(|_| "not a valid SSH private key")?;
    match id {
        S::Unencrypted(_) => Ok(Arc::new(id)),
        S::Encrypted(_) => Err(
            "the SSH private key is protected by a passphrase, which an unattended tool \
             cannot type; use an age identity (age-keygen) instead"
                .into(),
        ),
        S::Unsupported(_) => Err("this SSH key type is not supported by age".into()),
    }
}

/// Key bytes wiped when dropped, whatever path the function leaves by.
struct Zeroed(Vec<u8>);
impl Drop for Zeroed {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// Decrypts an age file chunk by chunk: every 64 KiB is authenticated before a byte of it is
/// returned, and the end of the file is authenticated too, so a truncated, altered or reordered
/// file ends in an error (`InvalidData`) with a clear message, never in short plaintext.
pub struct DecryptReader<R: Read> {
    stream: ::age::stream::StreamReader<R>,
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::new(
                io::ErrorKind::InvalidData,
                "the encrypted dump is truncated (age: its last chunk is missing)",
            ),
            io::ErrorKind::InvalidData => io::Error::new(
                io::ErrorKind::InvalidData,
                "the encrypted dump was altered or is truncated (age: a chunk failed \
                 authentication)",
            ),
            _ => e,
        })
    }
}

/// What a [`DecryptWriter`] wrote: the plaintext's size and SHA-256 (to compare with the
/// manifest's `plaintext_sha256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub bytes: u64,
    pub sha256: String,
}

/// Decryption for a writer that is pushed to (a download): the ciphertext written to it is
/// decrypted on its own thread and the plaintext written to `out`. Memory stays a few chunks
/// (a bounded channel). The first error (a wrong key, a damaged chunk) fails the next write
/// and [`DecryptWriter::finish`], which also catches a file cut short.
pub struct DecryptWriter<W: Write + Send + 'static> {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    handle: Option<std::thread::JoinHandle<Result<(W, Opened)>>>,
    failed: Option<Error>,
}

impl Identities {
    /// A [`DecryptWriter`] writing the plaintext to `out`.
    pub fn decrypt_to<W: Write + Send + 'static>(&self, out: W) -> DecryptWriter<W> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let ids = self.clone();
        let handle = std::thread::spawn(move || -> Result<(W, Opened)> {
            let input = Channel {
                rx,
                buf: Vec::new(),
                pos: 0,
            };
            let mut plain = ids.decrypt(input)?;
            let mut out = out;
            let (mut sha, mut bytes) = (Sha256::new(), 0u64);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match plain.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::failed(e.to_string())),
                };
                out.write_all(&buf[..n])
                    .map_err(|e| Error::io("writing the decrypted dump", e))?;
                sha.update(&buf[..n]);
                bytes += n as u64;
            }
            out.flush()
                .map_err(|e| Error::io("writing the decrypted dump", e))?;
            let sha256 = hex::encode(sha.finalize());
            Ok((out, Opened { bytes, sha256 }))
        });
        DecryptWriter {
            tx: Some(tx),
            handle: Some(handle),
            failed: None,
        }
    }
}

impl<W: Write + Send + 'static> DecryptWriter<W> {
    /// Ends the ciphertext and waits for the last plaintext: the output, the plaintext's size
    /// and SHA-256; or the first error (exit 1: wrong key, truncated or altered file).
    pub fn finish(mut self) -> Result<(W, Opened)> {
        drop(self.tx.take());
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.join()
    }

    fn join(&mut self) -> Result<(W, Opened)> {
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::failed("the decryption thread failed")),
            None => Err(Error::failed("decryption already ended")),
        }
    }
}

impl<W: Write + Send + 'static> Write for DecryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.message.clone()));
        }
        let sent = self.tx.as_ref().map(|tx| tx.send(buf.to_vec()));
        if let Some(Ok(())) = sent {
            return Ok(buf.len());
        }
        // The thread ended early: its error says why (a wrong key is found at the header).
        drop(self.tx.take());
        let e = match self.join() {
            Err(e) => e,
            Ok(_) => Error::failed("data after the end of the age file"),
        };
        let message = e.message.clone();
        self.failed = Some(e);
        Err(io::Error::other(message))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The ciphertext as the decryption thread reads it: what the writer sent, in order; the end
/// of the file when the writer is finished (its sender dropped).
struct Channel {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Channel {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::age::secrecy::ExposeSecret;
    use d1_core::sniff::is_age;
    use d1_core::ExitCode;

    /// A fresh X25519 identity written to `dir/key.txt` as age-keygen writes it; returns the
    /// path, the public key and the secret key's text.
    fn keygen(dir: &Path) -> (std::path::PathBuf, String, String) {
        let id = ::age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        let secret = id.to_string().expose_secret().to_string();
        let path = dir.join("key.txt");
        std::fs::write(
            &path,
            format!("# created: 2026-11-30T00:00:00Z\n# public key: {public}\n{secret}\n"),
        )
        .unwrap();
        (path, public, secret)
    }

    fn encrypt(r: &Recipients, plain: &[u8]) -> (Vec<u8>, Sealed) {
        let mut w = r.encrypt(Vec::new()).unwrap();
        for piece in plain.chunks(10_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn decrypt(ids: &Identities, cipher: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ids.decrypt(cipher).unwrap().read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn what_is_encrypted_decrypts_to_the_same_bytes_whatever_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public, _) = keygen(dir.path());
        let mut r = Recipients::new();
        r.add(&public).unwrap();
        let ids = Identities::read(&key).unwrap();
        for len in [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 300_001] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let (cipher, sealed) = encrypt(&r, &plain);
            assert!(is_age(&cipher));
            assert_eq!(sealed.bytes, cipher.len() as u64);
            assert_eq!(sealed.sha256, hex::encode(Sha256::digest(&cipher)));
            assert_eq!(decrypt(&ids, &cipher).unwrap(), plain, "length {len}");
        }
    }

    #[test]
    fn a_file_for_another_key_is_a_failure_naming_the_identity_file() {
        let dir = tempfile::tempdir().unwrap();
        let (key, _, _) = keygen(dir.path());
        let other = ::age::x25519::Identity::generate().to_public().to_string();
        let mut r = Recipients::new();
        r.add(&other).unwrap();
        let (cipher, _) = encrypt(&r, b"CREATE TABLE t(x);");
        let ids = Identities::read(&key).unwrap();
        let e = ids.decrypt(&cipher[..]).err().unwrap();
        assert_eq!(e.code(), ExitCode::Failed);
        assert!(e.message.contains("no identity in"), "{}", e.message);
        assert!(e.message.contains("key.txt"), "{}", e.message);
    }

    #[test]
    fn truncated_or_altered_ciphertext_never_reads_as_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public, _) = keygen(dir.path());
        let mut r = Recipients::new();
        r.add(&public).unwrap();
        let ids = Identities::read(&key).unwrap();
        let plain = vec![b'x'; 200_000];
        let (cipher, _) = encrypt(&r, &plain);
        // The header ends with the MAC line; the payload starts with a 16-byte nonce.
        let body = cipher.windows(4).position(|w| w == b"\n---").unwrap();
        let payload = cipher[body + 1..].iter().position(|b| *b == b'\n').unwrap() + body + 2;
        let first_chunk_end = payload + 16 + 65_536 + 16;
        for cut in [
            cipher.len() - 1,
            first_chunk_end,
            first_chunk_end + 2 * 65_552,
        ] {
            let e = decrypt(&ids, &cipher[..cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cut at {cut}");
            assert!(e.to_string().contains("truncated"), "{e}");
        }
        let mut tampered = cipher.clone();
        tampered[first_chunk_end + 100] ^= 1;
        let e = decrypt(&ids, &tampered).unwrap_err();
        assert!(e.to_string().contains("altered"), "{e}");
        let mut header = cipher.clone();
        header[30] ^= 1;
        assert_eq!(
            ids.decrypt(&header[..]).err().unwrap().code(),
            ExitCode::Failed
        );
        let e = ids.decrypt(&cipher[..40]).err().unwrap();
        assert_eq!(e.code(), ExitCode::Failed);
    }

    #[test]
    fn a_missing_or_empty_identity_file_is_a_credentials_error_that_never_shows_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = Identities::read(&dir.path().join("nope.txt")).unwrap_err();
        assert_eq!(e.code(), ExitCode::Credentials);
        assert!(e.message.contains("nope.txt"), "{}", e.message);
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "# nothing\n").unwrap();
        assert_eq!(
            Identities::read(&empty).unwrap_err().code(),
            ExitCode::Credentials
        );
        let (key, public, secret) = keygen(dir.path());
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, format!("{secret}\n{public}\n")).unwrap();
        let e = Identities::read(&bad).unwrap_err();
        assert_eq!(e.code(), ExitCode::Credentials);
        assert!(!e.message.contains(&secret), "{}", e.message);
        Identities::read(&key).unwrap();
        assert_eq!(
            d1_core::redact::redact(&format!("oops {secret}")),
            format!("oops {}", d1_core::redact::MASK)
        );
    }

    #[test]
    fn recipients_files_take_comments_blank_lines_and_ssh_keys() {
        let dir = tempfile::tempdir().unwrap();
        let a = ::age::x25519::Identity::generate().to_public().to_string();
        let ssh =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHjUQeVPc6behBarvciuJDc5ld7Cnz9QG4r+MFDzIC67";
        let path = dir.path().join("recipients.txt");
        std::fs::write(
            &path,
            format!("# ops team\n\n{a}\n  {ssh} alice@laptop\n{a}\n"),
        )
        .unwrap();
        let mut r = Recipients::new();
        r.add_file(&path).unwrap();
        assert_eq!(
            r.keys(),
            &[a.clone(), ssh.to_string()],
            "comment dropped, no duplicate"
        );
        let (cipher, _) = encrypt(&r, b"x");
        assert!(is_age(&cipher));

        std::fs::write(&path, format!("{a}\nage1nope\n")).unwrap();
        let e = Recipients::new().add_file(&path).unwrap_err();
        assert_eq!(e.code(), ExitCode::Usage);
        assert!(e.message.contains("line 2"), "{}", e.message);
        std::fs::write(&path, "# nobody\n").unwrap();
        assert_eq!(
            Recipients::new().add_file(&path).unwrap_err().code(),
            ExitCode::Usage
        );
    }

    #[test]
    fn a_private_key_given_as_a_recipient_is_refused_without_being_repeated() {
        let secret = ::age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_string();
        let e = Recipients::new().add(&secret).unwrap_err();
        assert_eq!(e.code(), ExitCode::Usage);
        assert!(!e.message.contains(&secret[15..]), "{}", e.message);
        assert!(e.message.contains("private key"), "{}", e.message);
        let e = Recipients::new()
            .add("ssh-dss AAAAB3NzaC1kc3MAAACBAP")
            .unwrap_err();
        assert_eq!(e.code(), ExitCode::Usage);
        assert!(Recipients::new().encrypt(Vec::new()).is_err());
    }

    #[test]
    fn a_pushed_download_decrypts_on_its_thread_and_reports_the_plaintext_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public, _) = keygen(dir.path());
        let mut r = Recipients::new();
        r.add(&public).unwrap();
        let ids = Identities::read(&key).unwrap();
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let (cipher, _) = encrypt(&r, &plain);
        let mut w = ids.decrypt_to(Vec::new());
        for piece in cipher.chunks(7_000) {
            w.write_all(piece).unwrap();
        }
        let (out, opened) = w.finish().unwrap();
        assert_eq!(out, plain);
        assert_eq!(opened.bytes, plain.len() as u64);
        assert_eq!(opened.sha256, hex::encode(Sha256::digest(&plain)));

        // Cut short: only finish() can tell, and it does.
        let mut w = ids.decrypt_to(Vec::new());
        w.write_all(&cipher[..cipher.len() - 10]).unwrap();
        let e = w.finish().unwrap_err();
        assert_eq!(e.code(), ExitCode::Failed);
        assert!(e.message.contains("truncated"), "{}", e.message);

        // Another key: a write fails soon (the header is read first), and finish() says why.
        let other = tempfile::tempdir().unwrap();
        let (wrong, _, _) = keygen(other.path());
        let mut w = Identities::read(&wrong).unwrap().decrypt_to(Vec::new());
        let mut write_failed = false;
        for piece in cipher.chunks(1_000) {
            if w.write_all(piece).is_err() {
                write_failed = true;
                break;
            }
        }
        assert!(write_failed, "a wrong key stops the download");
        let e = w.finish().unwrap_err();
        assert!(e.message.contains("no identity in"), "{}", e.message);
    }
}
