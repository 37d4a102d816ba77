//! `d1-fetch s3://BUCKET/KEY`: the way back from an off-site copy (d1-upload). The object's
//! `.sha256` and `.json` are read first and must agree (d1_archive::set); the dump is then
//! streamed through the same resuming download as a signed URL (a GET presigned with the AWS_*
//! credentials), and written only if its SHA-256 is the one the sidecars name. The manifest
//! written beside it is the uploaded one (with its verification verdict), plus where it was
//! restored from.

use crate::args::Args;
use crate::download;
use crate::output::{self, Output, Paths};
use crate::sink::{Digests, Sink};
use crate::writeback::Writeback;
use d1_archive::s3::{Client, Options, Prefix, S3Url};
use d1_archive::{names, Field, Manifest};
use d1_core::atomic::AtomicFile;
use d1_core::error::Context;
use d1_core::record::Record;
use d1_core::retry::{Deadline, Policy};
use d1_core::time::Utc;
use d1_core::{msg, Error, Result};
use std::io::Write;
use std::sync::Arc;

/// Whether a record's value is an object-store URL rather than a signed HTTPS one.
pub fn is_s3(value: &str) -> bool {
    value.starts_with("s3://")
}

/// The object to fetch, and the client that reaches it.
struct Copy {
    store: Prefix,
    key: String,
    url: String,
}

impl Copy {
    /// The presigned GET of the object (the resuming download takes it as a signed URL).
    fn get_url(&self) -> String {
        self.store.client().presigned_get(&self.key)
    }
}

/// Fetches one `s3://` record to `output`.
pub fn fetch(
    args: &Args,
    output: &Output,
    policy: &Policy,
    deadline: &Deadline,
    rec: &Record,
) -> Result<Digests> {
    let u = S3Url::parse(&rec.value)?;
    if u.key.is_empty() || u.key.ends_with('/') {
        return Err(Error::usage(format!(
            "{}: name an object (s3://BUCKET/PREFIX/DUMP.sql.zst), not a folder",
            rec.value
        )));
    }
    if args.zstd.is_some() {
        return Err(Error::usage(
            "--zstd does not apply to s3://: the copy is written as it was uploaded",
        ));
    }
    // An encrypted copy (d1-upload --encrypt-to) needs the identity: read it before anything
    // is downloaded (a missing or unreadable one is exit 3).
    let ids = if names::is_encrypted_name(&u.key) {
        let p = args.identity.as_deref().ok_or_else(|| {
            Error::usage(format!(
                "{}: an encrypted copy: give --identity PATH (its age identity file)",
                rec.value
            ))
        })?;
        Some(crate::encrypt::identities(p)?)
    } else {
        None
    };
    let client = Client::new(&Options::default(), &u.bucket, *policy, *deadline)?;
    let copy = Copy {
        store: Prefix::new(Arc::new(client), "", false),
        url: u.url(),
        key: u.key.clone(),
    };
    let (want, manifest) = d1_archive::set::read_sidecars(&copy.store, &copy.key)?;
    let name = names::clear_name(names::base_name(&u.key)).to_string();
    if let Some(ids) = &ids {
        let plain = manifest
            .sha256()
            .ok_or_else(|| Error::failed(format!("{}.json: no sha256", copy.url)))?
            .to_string();
        return encrypted(
            args, output, policy, deadline, &copy, &want, &plain, ids, manifest, &name,
        );
    }
    let paths = match output {
        Output::Stdout => return to_stdout(&copy, &want, policy, deadline),
        Output::File(f) => Paths::for_dump(f.clone()),
        Output::Dir(d) => {
            output::prepare_dir(d)?;
            Paths::for_dump(d.join(&name))
        }
    };
    paths.check_free(args.force)?;
    let file = AtomicFile::create(&paths.dump, args.force)?;
    let writing = format!("writing {}", file.temp_path().display());
    let out = Writeback::new(file).map_err(|e| Error::io(&writing, e))?;
    let (file, digests) = download_checked(&copy, out, &writing, &want, policy, deadline)?;
    finish(args, manifest, &copy.url, &want, file.into_inner())?;
    Ok(digests)
}

/// The copy's manifest, with where it was restored from, put in place with the dump.
fn finish(
    args: &Args,
    mut manifest: Manifest,
    url: &str,
    sha256: &str,
    file: AtomicFile,
) -> Result<()> {
    manifest.restored_from = Field::Set(url.to_string());
    manifest.restored_at = Field::Set(Utc::now().rfc3339());
    crate::finish::finish(args, file, &manifest, sha256)
}

/// An encrypted copy: the ciphertext is downloaded into a temporary file beside the target and
/// checked against its .sha256, then decrypted chunk by chunk into the target, whose SHA-256
/// must be the manifest's. A wrong key, a damaged ciphertext: exit 1, nothing written.
#[allow(clippy::too_many_arguments)]
fn encrypted(
    args: &Args,
    output: &Output,
    policy: &Policy,
    deadline: &Deadline,
    copy: &Copy,
    want: &str,
    plain: &str,
    ids: &crate::encrypt::Identities,
    manifest: Manifest,
    name: &str,
) -> Result<Digests> {
    let url = &copy.url;
    let (paths, dir) = match output {
        Output::Stdout => (None, std::env::temp_dir()),
        Output::File(f) => (
            Some(Paths::for_dump(f.clone())),
            d1_core::atomic::parent_dir(f),
        ),
        Output::Dir(d) => {
            output::prepare_dir(d)?;
            (Some(Paths::for_dump(d.join(name))), d.clone())
        }
    };
    if let Some(p) = &paths {
        p.check_free(args.force)?;
    }
    // Named by the one temporary-file rule: a killed run's is cleaned up by the next.
    let ct = d1_core::atomic::scratch(&dir, &names::encrypted_name(name))?;
    let writing = format!("writing {}", ct.path().display());
    let out = ct
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(&writing, e))?;
    download_checked(copy, out, &writing, want, policy, deadline)?;
    let input = std::io::BufReader::new(
        std::fs::File::open(ct.path()).map_err(|e| Error::io(&writing, e))?,
    );
    let (sha, bytes) = match &paths {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let r = crate::encrypt::open(input, &mut out, ids, url)?;
            out.flush()
                .map_err(|e| Error::io("writing to standard output", e))?;
            r
        }
        Some(p) => {
            let mut file = AtomicFile::create(&p.dump, args.force)?;
            let r = {
                let mut w = std::io::BufWriter::new(file.file());
                let r = crate::encrypt::open(input, &mut w, ids, url)?;
                w.flush()
                    .map_err(|e| Error::io("writing the plaintext", e))?;
                r
            };
            if r.0 != plain {
                return Err(Error::failed(format!(
                    "{url}: the decrypted dump's SHA-256 is {} but its manifest says {plain}; nothing written",
                    r.0
                )));
            }
            finish(args, manifest, url, plain, file)?;
            r
        }
    };
    if sha != plain {
        return Err(Error::failed(format!(
            "{url}: the decrypted dump's SHA-256 is {sha} but its manifest says {plain}"
        )));
    }
    Ok(Digests {
        sql_bytes: bytes,
        sql_sha256: sha.clone(),
        sql_md5: None,
        stored_bytes: bytes,
        stored_sha256: sha,
        encrypted: None,
    })
}

fn to_stdout(copy: &Copy, want: &str, policy: &Policy, deadline: &Deadline) -> Result<Digests> {
    let out = std::io::stdout().lock();
    // Checked after the bytes went out: too late to take them back, but not too late to fail.
    let writing = "writing to standard output";
    let (_, digests) = download_checked(copy, out, writing, want, policy, deadline)?;
    msg::info(&format!(
        "wrote {} from {} to standard output, sha256 {want}",
        msg::human_bytes(digests.stored_bytes),
        copy.url
    ));
    Ok(digests)
}

/// Streams the object into `out` through the resuming download and a [`Sink`] (sizes and
/// digests of what arrived), then checks that against the server's length and the `.sha256`
/// (`want`): the one way each of the three destinations (file, encrypted, stdout) is filled.
fn download_checked<W: Write>(
    copy: &Copy,
    out: W,
    writing: &str,
    want: &str,
    policy: &Policy,
    deadline: &Deadline,
) -> Result<(W, Digests)> {
    let mut sink = Sink::new(out, None).map_err(|e| Error::io("starting the download", e))?;
    let served = download::download(&copy.get_url(), &mut sink, writing, policy, deadline)?;
    let (out, digests) = sink.finish().ctx(|| writing.to_string())?;
    check(&copy.url, &served, &digests, want)?;
    Ok((out, digests))
}

/// The bytes received against the sidecars: a copy that differs is not a backup.
fn check(url: &str, served: &download::Served, d: &Digests, want: &str) -> Result<()> {
    if let Some(len) = served.length {
        if d.stored_bytes != len {
            return Err(Error::failed(format!(
                "{url}: received {} bytes but the server declared {len}; nothing written",
                d.stored_bytes
            )));
        }
    }
    if d.stored_sha256 != want {
        return Err(Error::failed(format!(
            "{url}: the copy's SHA-256 is {} but its .sha256 says {want}: the stored object is damaged; nothing written",
            d.stored_sha256
        )));
    }
    Ok(())
}
