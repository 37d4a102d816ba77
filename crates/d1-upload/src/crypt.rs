//! Encrypted off-site copies in the age format (age-encryption.org/v1), through the rage
//! project's `age` crate, so that the age CLI reads what we write and the other way round. A
//! D1 dump is the whole database in clear text: in a bucket, anyone with the bucket's keys (or
//! a public-access mistake) would read every row.
//!
//! Streaming with flat memory: the dump is encrypted into a temporary file beside it (mode
//! 0600, removed when dropped), which is then uploaded like any dump; on the way back the
//! ciphertext is checked, then decrypted chunk by chunk into the target.

use d1_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use tempfile::NamedTempFile;

const BUF: usize = 1 << 20;

/// A recipient: an age X25519 public key (`age1…`, from `age-keygen`).
#[derive(Clone)]
pub struct Recipient {
    key: age::x25519::Recipient,
    pub text: String,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses one recipient. SSH keys (which age also accepts) are refused with a clear message:
/// this build reads X25519 recipients only.
pub fn recipient(text: &str) -> Result<Recipient> {
    let t = text.trim();
    if t.starts_with("ssh-") || t.starts_with("ecdsa-") {
        return Err(Error::usage(format!(
            "{}: SSH keys are not supported as recipients here; use an age key (age-keygen)",
            short(t)
        )));
    }
    let key = t
        .parse::<age::x25519::Recipient>()
        .map_err(|e| Error::usage(format!("{}: not an age recipient (age1…): {e}", short(t))))?;
    Ok(Recipient {
        key,
        text: t.to_string(),
    })
}

fn short(t: &str) -> String {
    let s: String = t.chars().take(24).collect();
    if s.len() < t.len() {
        format!("{s}…")
    } else {
        s
    }
}

/// A recipients file in the age CLI's `-R` format: one recipient per line, blank lines and
/// `#` comments ignored.
pub fn recipients_file(path: &Path) -> Result<Vec<Recipient>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("reading recipients file {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        out.push(recipient(l).map_err(|e| e.context(format!("{}:{}", path.display(), i + 1)))?);
    }
    if out.is_empty() {
        return Err(Error::usage(format!(
            "recipients file {} holds no recipient",
            path.display()
        )));
    }
    Ok(out)
}

/// What encrypting a dump produced.
pub struct Sealed {
    /// The ciphertext, in a temporary file beside the dump (removed when dropped).
    pub file: NamedTempFile,
    pub ciphertext_sha256: String,
    pub ciphertext_bytes: u64,
    /// The SHA-256 of the plaintext read, to compare with the manifest's.
    pub plaintext_sha256: String,
}

/// Counts and hashes what goes through.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts `src` to `recipients` into a temporary file in `src`'s folder.
pub fn seal(src: &Path, recipients: &[Recipient]) -> Result<Sealed> {
    let shown = src.display();
    let dir = match src.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".d1-upload.")
        .suffix(".age.part")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(&dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    let out = temp
        .as_file()
        .try_clone()
        .map_err(|e| Error::io("encrypting", e))?;
    let hashing = Hashing {
        inner: BufWriter::with_capacity(BUF, out),
        sha: Sha256::new(),
        bytes: 0,
    };
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| &r.key as &dyn age::Recipient))
            .map_err(|e| Error::usage(format!("the recipients: {e}")))?;
    let mut writer = encryptor
        .wrap_output(hashing)
        .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
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
    let mut hashing = writer
        .finish()
        .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
    hashing
        .flush()
        .map_err(|e| Error::io(format!("encrypting {shown}"), e))?;
    Ok(Sealed {
        file: temp,
        ciphertext_sha256: hex::encode(hashing.sha.finalize()),
        ciphertext_bytes: hashing.bytes,
        plaintext_sha256: hex::encode(plain.finalize()),
    })
}

/// Keys that decrypt: the identities of an identity file.
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// The identities of an age identity file (`age-keygen` output). A missing or unreadable file,
/// or one without a key, is a credentials problem (exit 3). The key itself never appears in a
/// message.
pub fn identities(path: &Path) -> Result<Identities> {
    let shown = path.display();
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned()).map_err(|e| {
        Error::credentials(format!("reading the identity file {shown}: {}", e.kind()))
    })?;
    let ids = file.into_identities().map_err(|_| {
        Error::credentials(format!(
            "{shown}: not an age identity file (age-keygen writes one)"
        ))
    })?;
    if ids.is_empty() {
        return Err(Error::credentials(format!(
            "{shown}: holds no age identity"
        )));
    }
    Ok(ids)
}

/// Decrypts `input` into `out`; returns the plaintext's SHA-256 and size. A wrong key, a
/// truncated or tampered ciphertext: exit 1 with a message that says which.
pub fn open(
    input: impl Read,
    out: &mut impl Write,
    ids: &[Box<dyn age::Identity + Send + Sync>],
    what: &str,
) -> Result<(String, u64)> {
    let decryptor = age::Decryptor::new(input).map_err(|e| decrypt_error(what, e))?;
    let mut reader = decryptor
        .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| decrypt_error(what, e))?;
    let mut sha = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; BUF];
    loop {
        d1_core::signal::check()?;
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The payload's chunks are authenticated: a changed or missing byte fails here.
            Err(e) => {
                return Err(Error::failed(format!(
                    "{what}: the ciphertext is damaged or truncated ({e}); nothing written"
                )))
            }
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

fn decrypt_error(what: &str, e: age::DecryptError) -> Error {
    match e {
        age::DecryptError::NoMatchingKeys => Error::failed(format!(
            "{what}: not encrypted to this identity (--identity names the wrong key); nothing written"
        )),
        other => Error::failed(format!(
            "{what}: cannot decrypt ({other}): damaged, truncated or not an age file; nothing written"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn sealed_bytes_open_with_the_identity_and_not_with_another() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("x.sql");
        let text = b"INSERT INTO t VALUES('secret row');\n".repeat(5000);
        std::fs::write(&src, &text).unwrap();
        let id = age::x25519::Identity::generate();
        let r = recipient(&id.to_public().to_string()).unwrap();
        let sealed = seal(&src, &[r]).unwrap();
        let ct = std::fs::read(sealed.file.path()).unwrap();
        assert!(!ct.windows(10).any(|w| w == b"secret row"));
        assert_eq!(ct.len() as u64, sealed.ciphertext_bytes);
        assert_eq!(hex::encode(Sha256::digest(&ct)), sealed.ciphertext_sha256);
        assert_eq!(hex::encode(Sha256::digest(&text)), sealed.plaintext_sha256);

        let key = dir.path().join("key.txt");
        std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
        let ids = identities(&key).unwrap();
        let mut out = Vec::new();
        let (sha, n) = open(&ct[..], &mut out, &ids, "x").unwrap();
        assert_eq!(out, text);
        assert_eq!(
            (sha, n),
            (sealed.plaintext_sha256.clone(), text.len() as u64)
        );

        let other = age::x25519::Identity::generate();
        std::fs::write(&key, format!("{}\n", other.to_string().expose_secret())).unwrap();
        let e = open(&ct[..], &mut Vec::new(), &identities(&key).unwrap(), "x").unwrap_err();
        assert!(
            e.message.contains("not encrypted to this identity"),
            "{}",
            e.message
        );

        let mut bad = ct.clone();
        let at = bad.len() - 100;
        bad[at] ^= 1;
        let e = open(&bad[..], &mut Vec::new(), &ids, "x").unwrap_err();
        assert!(e.message.contains("damaged or truncated"), "{}", e.message);
    }

    #[test]
    fn recipients_files_skip_comments_and_refuse_what_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.txt");
        let a = age::x25519::Identity::generate().to_public().to_string();
        std::fs::write(&p, format!("# backups\n\n{a}\n")).unwrap();
        assert_eq!(recipients_file(&p).unwrap()[0].text, a);
        std::fs::write(&p, "nonsense\n").unwrap();
        let e = recipients_file(&p).unwrap_err();
        assert!(e.message.contains(":1"), "{}", e.message);
        assert!(recipient("ssh-ed25519 AAAA")
            .unwrap_err()
            .message
            .contains("SSH"));
        let e = identities(&dir.path().join("none"))
            .err()
            .expect("no such file");
        assert_eq!(e.code, d1_core::ExitCode::Credentials);
    }
}
