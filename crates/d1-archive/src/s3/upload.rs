//! One file (or a few bytes) to one object, written so that nothing is visible at the key until
//! it is complete and checked. One file to one object: a single PUT up to the part size, a multipart upload above it (S3
//! and R2 refuse single PUTs over 5 GiB, and dumps reach 10 GB). Memory stays flat: each part
//! is read twice from the file (hashed, then streamed), never held whole.
//!
//! Integrity, end to end: every request carries the part's Content-MD5 (servers that check it
//! refuse damaged bytes), every answer's ETag is compared with the MD5 we computed (servers
//! that do not check it still tell us what they stored), the object carries the dump's SHA-256
//! (`x-amz-meta-sha256`), and a HEAD after the upload compares size, SHA-256 and ETag before
//! success is reported. A failed or interrupted multipart upload is aborted, so that no parts
//! stay stored; an object found damaged after a single PUT is deleted.

use super::client::{Body, Client};
use base64_md5::content_md5;
use d1_core::http::etag_md5 as plain_md5;
use d1_core::msg::{human_bytes, Progress};
use d1_core::{Error, Result};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fs::File;
use std::path::Path;

/// S3's smallest part (every part but the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// S3's limit on the number of parts.
const MAX_PARTS: u64 = 10_000;
/// Read buffer for hashing.
const BUF: usize = 1 << 20;

/// What was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub sha256: String,
    pub parts: u32,
}

/// Uploads `path` to `key`. `sha256` is what the manifest says the file's SHA-256 is (the
/// verdict is for those bytes): a file whose bytes no longer match is refused, and nothing is
/// left in the bucket.
pub fn file(
    store: &Client,
    path: &Path,
    key: &str,
    sha256: &str,
    part_size: u64,
) -> Result<Stored> {
    let f = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .len();
    let part_size = effective_part_size(size, part_size);
    let mut progress = Progress::new();
    let shown = store.shown(key);
    let meta = [("x-amz-meta-sha256", sha256.to_string())];
    if size <= part_size {
        let mut sha = Sha256::new();
        let md5 = hash_region(&f, 0, size, &mut sha, path)?;
        check_sha(&hex::encode(sha.finalize()), sha256, path)?;
        let headers = [meta[0].clone(), ("content-md5", content_md5(&md5))];
        progress.update(|| format!("uploading {shown}: {}", human_bytes(size)));
        let a = store.put(
            key,
            &headers,
            &Body::File {
                file: clone(&f, path)?,
                offset: 0,
                len: size,
            },
        )?;
        let want = hex::encode(md5);
        if let Some(got) = a.etag.as_deref().and_then(plain_md5) {
            if got != want {
                let _ = store.delete(key);
                return Err(Error::failed(format!(
                    "{shown}: the server stored different bytes (its ETag is MD5 {got}, the file's is {want}); the object was deleted"
                )));
            }
        }
        let etag = a.etag.unwrap_or_default();
        read_back(store, key, size, sha256, &Expected::Md5(want))?;
        return Ok(Stored {
            key: key.to_string(),
            etag,
            size,
            sha256: sha256.to_string(),
            parts: 1,
        });
    }
    let id = store.create_multipart(key, &meta)?;
    let outcome = parts(
        store,
        &f,
        path,
        key,
        &id,
        size,
        part_size,
        sha256,
        &mut progress,
    );
    progress.finish();
    match outcome {
        Ok((etags, md5s)) => {
            let etag = match store.complete_multipart(key, &id, &etags) {
                Ok(e) => e,
                Err(e) => {
                    let _ = store.abort_multipart(key, &id);
                    return Err(e);
                }
            };
            read_back(store, key, size, sha256, &Expected::Multipart(md5s))?;
            Ok(Stored {
                key: key.to_string(),
                etag,
                size,
                sha256: sha256.to_string(),
                parts: etags.len() as u32,
            })
        }
        Err(e) => {
            // Whatever went wrong (a signal included), the parts must not stay stored.
            match store.abort_multipart(key, &id) {
                Ok(()) => Err(e),
                Err(abort) => {
                    d1_core::msg::error(&abort.message);
                    Err(e)
                }
            }
        }
    }
}

/// The part size actually used: at least S3's minimum, and large enough that the file fits in
/// 10,000 parts (rounded up to whole MiB), as the AWS CLI does.
pub fn effective_part_size(size: u64, wanted: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    wanted.max(needed).clamp(MIN_PART, MAX_PART)
}

#[allow(clippy::too_many_arguments)]
fn parts(
    store: &Client,
    f: &File,
    path: &Path,
    key: &str,
    id: &str,
    size: u64,
    part_size: u64,
    sha256: &str,
    progress: &mut Progress,
) -> Result<(Vec<String>, Vec<[u8; 16]>)> {
    let mut sha = Sha256::new();
    let mut etags = Vec::new();
    let mut md5s = Vec::new();
    let count = size.div_ceil(part_size);
    let shown = store.shown(key);
    let mut offset = 0;
    let mut number: u16 = 0;
    while offset < size {
        number += 1;
        let len = part_size.min(size - offset);
        let md5 = hash_region(f, offset, len, &mut sha, path)?;
        progress.update(|| {
            format!(
                "uploading {shown}: part {number}/{count}, {} of {}",
                human_bytes(offset),
                human_bytes(size)
            )
        });
        let headers = [("content-md5", content_md5(&md5))];
        let body = Body::File {
            file: clone(f, path)?,
            offset,
            len,
        };
        let a = store.upload_part(key, id, number, &headers, &body)?;
        let want = hex::encode(md5);
        let etag = a.etag.unwrap_or_default();
        if let Some(got) = plain_md5(&etag) {
            if got != want {
                return Err(Error::failed(format!(
                    "{shown}: the server stored different bytes for part {number} (ETag MD5 {got}, ours {want}); the upload was aborted"
                )));
            }
        }
        etags.push(etag);
        md5s.push(md5);
        offset += len;
    }
    // The parts were hashed as they went: the file must still be the one that was verified.
    check_sha(&hex::encode(sha.finalize()), sha256, path)?;
    Ok((etags, md5s))
}

/// What the object's ETag must be: the MD5 of a single PUT, or S3's multipart form (the MD5 of
/// the parts' MD5s, `-N`).
enum Expected {
    Md5(String),
    Multipart(Vec<[u8; 16]>),
}

impl Expected {
    fn etag(&self) -> String {
        match self {
            Expected::Md5(m) => m.clone(),
            Expected::Multipart(md5s) => {
                let mut h = Md5::new();
                for m in md5s {
                    h.update(m);
                }
                format!("{}-{}", hex::encode(h.finalize()), md5s.len())
            }
        }
    }
}

/// HEAD after the upload: what the server says it stores must be what we sent. A mismatch
/// deletes the object (nothing damaged stays under the final key) and fails.
fn read_back(
    store: &Client,
    key: &str,
    size: u64,
    sha256: &str,
    expected: &Expected,
) -> Result<()> {
    let a = store.head(key)?.unwrap_or_default();
    let shown = store.shown(key);
    let mut problems = Vec::new();
    if a.length != Some(size) {
        problems.push(format!(
            "size {} instead of {size}",
            a.length.map_or("unknown".into(), |n| n.to_string())
        ));
    }
    if a.meta_sha256.as_deref() != Some(sha256) {
        problems.push(format!(
            "sha256 {} instead of {sha256}",
            a.meta_sha256.as_deref().unwrap_or("missing")
        ));
    }
    let etag = a
        .etag
        .as_deref()
        .unwrap_or_default()
        .trim_matches('"')
        .to_ascii_lowercase();
    // Only an ETag of the form expected is compared: one that is not MD5-shaped (SSE-KMS on
    // AWS), or a multipart object's ETag without S3's `-N` form, says nothing we can check.
    let comparable = match expected {
        Expected::Md5(_) => plain_md5(&etag).is_some(),
        Expected::Multipart(_) => md5_shaped(&etag) && etag.contains('-'),
    };
    if comparable && etag != expected.etag() {
        problems.push(format!("ETag {etag} instead of {}", expected.etag()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let _ = store.delete(key);
    Err(Error::failed(format!(
        "{shown}: the server stored different bytes ({}); the object was deleted",
        problems.join(", ")
    )))
}

fn md5_shaped(etag: &str) -> bool {
    let (hexpart, n) = etag.split_once('-').unwrap_or((etag, "1"));
    hexpart.len() == 32
        && hexpart.bytes().all(|b| b.is_ascii_hexdigit())
        && n.parse::<u32>().is_ok()
}

fn check_sha(got: &str, want: &str, path: &Path) -> Result<()> {
    if got != want {
        return Err(Error::failed(format!(
            "{}: its SHA-256 is {got} but the manifest says {want}: the file changed since it was verified; not uploaded",
            path.display()
        )));
    }
    Ok(())
}

fn clone(f: &File, path: &Path) -> Result<File> {
    f.try_clone()
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// MD5 of `len` bytes from `offset`, feeding the same bytes to `sha` (the whole file's hash).
fn hash_region(f: &File, offset: u64, len: u64, sha: &mut Sha256, path: &Path) -> Result<[u8; 16]> {
    use std::os::unix::fs::FileExt;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; BUF];
    let mut done = 0u64;
    while done < len {
        d1_core::signal::check()?;
        let want = (len - done).min(BUF as u64) as usize;
        let n = f
            .read_at(&mut buf[..want], offset + done)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            return Err(Error::failed(format!(
                "{}: the file shrank while it was being uploaded",
                path.display()
            )));
        }
        md5.update(&buf[..n]);
        sha2::Digest::update(sha, &buf[..n]);
        done += n as u64;
    }
    Ok(md5.finalize().into())
}

/// Small bytes (a sidecar) to `key`, with Content-MD5 and the ETag checked.
pub fn bytes(store: &Client, key: &str, data: &[u8]) -> Result<String> {
    let md5: [u8; 16] = Md5::digest(data).into();
    let headers = [("content-md5", content_md5(&md5))];
    let a = store.put(key, &headers, &Body::Bytes(data.to_vec()))?;
    let etag = a.etag.unwrap_or_default();
    if let Some(got) = plain_md5(&etag) {
        if got != hex::encode(md5) {
            let _ = store.delete(key);
            return Err(Error::failed(format!(
                "{}: the server stored different bytes (ETag {got}); the object was deleted",
                store.shown(key)
            )));
        }
    }
    Ok(etag)
}

mod base64_md5 {
    /// `Content-MD5`: the digest in base64 (RFC 1864), not hex.
    pub fn content_md5(md5: &[u8; 16]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(24);
        for chunk in md5.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_is_base64_of_the_digest() {
        // RFC 1864's example value for an empty body: MD5 d41d8cd98f00b204e9800998ecf8427e.
        let md5: [u8; 16] = Md5::digest(b"").into();
        assert_eq!(content_md5(&md5), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn part_size_grows_to_fit_ten_thousand_parts_and_stays_in_s3s_limits() {
        assert_eq!(effective_part_size(100, 1), MIN_PART);
        assert_eq!(effective_part_size(100, 64 << 20), 64 << 20);
        let ten_tb = 10u64 << 40;
        let p = effective_part_size(ten_tb, 64 << 20);
        assert!(ten_tb.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1 << 20), 0);
    }

    #[test]
    fn multipart_etag_is_the_md5_of_the_parts_md5s() {
        let a: [u8; 16] = Md5::digest(b"a").into();
        let b: [u8; 16] = Md5::digest(b"b").into();
        let mut h = Md5::new();
        h.update(a);
        h.update(b);
        let want = format!("{}-2", hex::encode(h.finalize()));
        assert_eq!(Expected::Multipart(vec![a, b]).etag(), want);
        assert!(md5_shaped(&want));
        assert!(!md5_shaped("not-an-md5"));
    }
}
