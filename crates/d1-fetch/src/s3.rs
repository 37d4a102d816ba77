//! `d1-fetch s3://BUCKET/KEY`: the way back from an off-site copy (d1-upload). The object's
//! `.sha256` and `.json` are fetched first and must agree; the dump is then streamed through
//! the same resuming download as a signed URL (a GET presigned with the AWS_* credentials,
//! d1_upload::store), and written only if its SHA-256 is the one the sidecars name. The
//! manifest written beside it is the uploaded one (with its verification verdict), plus where
//! it was restored from.

use crate::args::Args;
use crate::download;
use crate::output::{self, Output, Paths};
use crate::sink::{Digests, Sink};
use crate::writeback::Writeback;
use d1_core::atomic::{self, AtomicFile};
use d1_core::error::Context;
use d1_core::pipe;
use d1_core::record::{self, Record};
use d1_core::retry::{Deadline, Policy};
use d1_core::time::Utc;
use d1_core::{msg, Error, Result};
use d1_upload::crypt;
use d1_upload::store::{Options, S3Url, Store};
use serde_json::{json, Value};
use std::io::Write;

/// Whether a record's value is an object-store URL rather than a signed HTTPS one.
pub fn is_s3(value: &str) -> bool {
    value.starts_with("s3://")
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
    let ids = if u.key.ends_with(".age") {
        let p = args.identity.as_deref().ok_or_else(|| {
            Error::usage(format!(
                "{}: an encrypted copy: give --identity PATH (its age identity file)",
                rec.value
            ))
        })?;
        Some(d1_age::Identities::read(p)?)
    } else {
        None
    };
    let store = Store::from_env(&Options::default(), &u.bucket, *policy, *deadline)?;
    let url = u.url();
    let sha_text = store
        .get_small(&format!("{}.sha256", u.key))
        .ctx(|| format!("{url}: its checksum file"))?;
    let want = String::from_utf8_lossy(&sha_text)
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| Error::failed(format!("{url}.sha256: not a sha256sum line")))?;
    let manifest_bytes = store
        .get_small(&format!("{}.json", u.key))
        .ctx(|| format!("{url}: its manifest"))?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::failed(format!("{url}.json: not a JSON manifest: {e}")))?;
    // For an encrypted copy the .sha256 is the ciphertext's; the manifest's sha256 is the
    // plaintext's, checked after decryption.
    let listed = match ids {
        Some(_) => manifest["encryption"]["ciphertext_sha256"].as_str(),
        None => manifest["sha256"].as_str(),
    };
    if listed != Some(want.as_str()) {
        return Err(Error::failed(format!(
            "{url}: the manifest and the .sha256 file disagree; not fetched"
        )));
    }
    let name = u.key.rsplit('/').next().unwrap_or(&u.key);
    let name = name.strip_suffix(".age").unwrap_or(name).to_string();
    if let Some(ids) = &ids {
        let plain = manifest["sha256"]
            .as_str()
            .ok_or_else(|| Error::failed(format!("{url}.json: no sha256")))?
            .to_string();
        return encrypted(
            args, output, policy, deadline, &store, &u, &want, &plain, ids, manifest, &name,
        );
    }
    let paths = match output {
        Output::Stdout => return to_stdout(&store, &u, &want, policy, deadline),
        Output::File(f) => Paths::for_dump(f.clone()),
        Output::Dir(d) => {
            output::prepare_dir(d)?;
            Paths::for_dump(d.join(&name))
        }
    };
    paths.check_free(args.force)?;
    let force = args.force;
    let file = AtomicFile::create(&paths.dump, force)?;
    let writing = format!("writing {}", file.temp_path().display());
    let out = Writeback::new(file).map_err(|e| Error::io(&writing, e))?;
    let (file, digests) = download_checked(&store, &u, out, &writing, &want, policy, deadline)?;
    finish(args, &paths, manifest, &url, &want, file.into_inner())?;
    Ok(digests)
}

/// Writes the sidecars, commits the set (the dump in place last) and prints the record.
fn finish(
    args: &Args,
    paths: &Paths,
    mut manifest: Value,
    url: &str,
    sha256: &str,
    file: AtomicFile,
) -> Result<()> {
    let force = args.force;
    manifest["restored_from"] = json!(url);
    manifest["restored_at"] = json!(Utc::now().rfc3339());
    // As for a signed URL (fetch.rs): nothing is renamed until the dump and both sidecars are
    // written and fsynced, and the dump goes in place last.
    let [sha, json_file] = crate::manifest::sidecars(paths, &manifest, sha256, force)
        .map_err(|e| e.context("writing the checksum and manifest (nothing was replaced)"))?;
    let path = atomic::commit_set(vec![sha, json_file, file], force)?
        .pop()
        .unwrap_or_else(|| paths.dump.clone());
    if args.common.json {
        manifest["path"] = path.display().to_string().into();
        record::emit_json(&manifest)?;
    } else {
        // The same record as for a signed URL: `DATABASE_ID NAME PATH`.
        let field = |k: &str| manifest[k].as_str().map_or("-".into(), pipe::safe_field);
        let path = path.display().to_string();
        match manifest["database_id"].as_str() {
            Some(_) => record::emit(&[&field("database_id"), &field("database_name"), &path])?,
            None => record::emit(&[&path])?,
        }
    }
    Ok(())
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
    store: &Store,
    u: &S3Url,
    want: &str,
    plain: &str,
    ids: &d1_age::Identities,
    manifest: Value,
    name: &str,
) -> Result<Digests> {
    let url = u.url();
    let (paths, dir) = match output {
        Output::Stdout => (None, std::env::temp_dir()),
        Output::File(f) => {
            let dir = match f.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => std::path::PathBuf::from("."),
            };
            (Some(Paths::for_dump(f.clone())), dir)
        }
        Output::Dir(d) => {
            output::prepare_dir(d)?;
            (Some(Paths::for_dump(d.join(name))), d.clone())
        }
    };
    if let Some(p) = &paths {
        p.check_free(args.force)?;
    }
    let ct = tempfile::Builder::new()
        .prefix(".d1-fetch.")
        .suffix(".age.part")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(&dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    let writing = format!("writing {}", ct.path().display());
    let out = ct
        .as_file()
        .try_clone()
        .map_err(|e| Error::io(&writing, e))?;
    download_checked(store, u, out, &writing, want, policy, deadline)?;
    let input = std::io::BufReader::new(
        std::fs::File::open(ct.path()).map_err(|e| Error::io(&writing, e))?,
    );
    let (sha, bytes) = match &paths {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let r = crypt::open(input, &mut out, ids, &url)?;
            out.flush()
                .map_err(|e| Error::io("writing to standard output", e))?;
            r
        }
        Some(p) => {
            let mut file = AtomicFile::create(&p.dump, args.force)?;
            let r = {
                let mut w = std::io::BufWriter::new(file.file());
                let r = crypt::open(input, &mut w, ids, &url)?;
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
            finish(args, p, manifest, &url, plain, file)?;
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

fn to_stdout(
    store: &Store,
    u: &S3Url,
    want: &str,
    policy: &Policy,
    deadline: &Deadline,
) -> Result<Digests> {
    let url = u.url();
    let out = std::io::stdout().lock();
    // Checked after the bytes went out: too late to take them back, but not too late to fail.
    let writing = "writing to standard output";
    let (_, digests) = download_checked(store, u, out, writing, want, policy, deadline)?;
    msg::info(&format!(
        "wrote {} from {url} to standard output, sha256 {want}",
        msg::human_bytes(digests.stored_bytes)
    ));
    Ok(digests)
}

/// Streams object `u` into `out` through the resuming download and a [`Sink`] (sizes and
/// digests of what arrived), then checks that against the server's length and the `.sha256`
/// (`want`): the one way each of the three destinations (file, encrypted, stdout) is filled.
fn download_checked<W: Write>(
    store: &Store,
    u: &S3Url,
    out: W,
    writing: &str,
    want: &str,
    policy: &Policy,
    deadline: &Deadline,
) -> Result<(W, Digests)> {
    let mut sink = Sink::new(out, None).map_err(|e| Error::io("starting the download", e))?;
    let served = download::download(&store.get_url(&u.key), &mut sink, writing, policy, deadline)?;
    let (out, digests) = sink.finish().ctx(|| writing.to_string())?;
    check(&u.url(), &served, &digests, want)?;
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
