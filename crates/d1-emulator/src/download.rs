//! The object-store side: signed dump downloads (GET/HEAD, Range) and import uploads (PUT),
//! answering errors the S3 way (XML), with the download faults applied to the body.

use crate::app::App;
use crate::envelope::s3_error;
use crate::faults::{Fault, Kind};
use crate::http::{Body, Delivery, Request, Response};
use crate::signing::Refusal;
use crate::spool::Upload;
use md5::{Digest, Md5};
use std::sync::Arc;

/// A parsed `Range` header against a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Range {
    /// No (usable) Range header: the whole body.
    Full,
    /// Inclusive byte range.
    Part(usize, usize),
    Unsatisfiable,
}

/// Supports one range: `bytes=N-`, `bytes=N-M`, `bytes=-S`. Anything else is ignored (full body),
/// as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: usize) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(suffix) = b.parse::<usize>() else {
            return Range::Full;
        };
        if suffix == 0 || len == 0 {
            return Range::Unsatisfiable;
        }
        return Range::Part(len.saturating_sub(suffix), len - 1);
    }
    let Ok(start) = a.parse::<usize>() else {
        return Range::Full;
    };
    let end = if b.is_empty() {
        usize::MAX
    } else {
        match b.parse::<usize>() {
            Ok(e) if e >= start => e,
            _ => return Range::Full,
        }
    };
    if start >= len {
        return Range::Unsatisfiable;
    }
    Range::Part(start, end.min(len - 1))
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::Missing => s3_error(
            403,
            "AccessDenied",
            "Query-string authentication requires the X-Amz-Expires and X-Amz-Signature parameters",
        ),
        Refusal::BadSignature => s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ),
        Refusal::Expired => s3_error(403, "AccessDenied", "Request has expired"),
    }
}

impl App {
    fn check_signature(&self, req: &Request) -> Result<(), Response> {
        let expires = req.query_param("X-Amz-Expires");
        let sig = req.query_param("X-Amz-Signature");
        self.signer
            .verify(&req.path, expires.as_deref(), sig.as_deref())
            .map_err(refusal)
    }

    pub fn download(&self, req: &Request, fault: Option<&Fault>) -> Response {
        if let Err(resp) = self.check_signature(req) {
            return resp;
        }
        let name = crate::http::percent_decode(req.path.trim_start_matches("/dumps/"));
        let Some(dump) = self.state().dumps.get(&name).cloned() else {
            return s3_error(404, "NoSuchKey", "The specified key does not exist.");
        };
        let kind = fault.map(|f| &f.kind);
        if kind == Some(&Kind::Gzip) {
            // A fault for tests: the (small) dump is read into memory to be compressed.
            let body = match std::fs::read(&dump.path) {
                Ok(b) => b,
                Err(e) => return s3_error(500, "InternalError", &format!("reading the dump: {e}")),
            };
            let gz = gzip_stored(&body);
            let etag = hex::encode(Md5::digest(&gz));
            return Response::new(200, "application/sql", gz)
                .with_header("Content-Encoding", "gzip")
                .with_header("ETag", format!("\"{etag}\""));
        }
        let len = dump.len as usize;
        let range = if kind == Some(&Kind::NoRange) {
            Range::Full
        } else {
            parse_range(req.header("Range"), len)
        };
        let (status, span, content_range) = match range {
            Range::Full => (200, 0..len as u64, None),
            Range::Part(a, b) => (
                206,
                a as u64..b as u64 + 1,
                Some(format!("bytes {a}-{b}/{len}")),
            ),
            Range::Unsatisfiable => {
                return s3_error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                )
                .with_header("Content-Range", format!("bytes */{len}"))
            }
        };
        let etag = dump.etag.clone();
        let sent = span.end - span.start;
        let mut flip = None;
        let mut delivery = Delivery::Normal;
        match (kind, fault) {
            (Some(Kind::ResetMidBody | Kind::Truncate), Some(f)) => {
                let send = f.after.map_or(sent / 2, |a| a as u64).min(sent);
                delivery = Delivery::Cut {
                    declared: sent,
                    send,
                };
            }
            (Some(Kind::WrongLength), _) => {
                delivery = Delivery::Cut {
                    declared: sent + 100,
                    send: sent,
                };
            }
            // One byte in the middle goes out with its low bit flipped.
            (Some(Kind::Corrupt), _) if sent > 0 => flip = Some(sent / 2),
            _ => {}
        }
        let body = Body::File {
            dump,
            range: span,
            flip,
        };
        let mut resp = Response::new(status, "application/sql", Vec::new())
            .with_header("ETag", format!("\"{etag}\""))
            .with_header("Accept-Ranges", "bytes");
        resp.body = body;
        if let Some(cr) = content_range {
            resp = resp.with_header("Content-Range", cr);
        }
        resp.delivery = delivery;
        resp
    }

    pub fn upload(&self, req: &Request, fault: Option<&Fault>) -> Response {
        if let Err(resp) = self.check_signature(req) {
            return resp;
        }
        let name = crate::http::percent_decode(req.path.trim_start_matches("/uploads/"));
        let taken = req
            .body_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(path) = taken else {
            return s3_error(400, "IncompleteBody", "The request body was not received.");
        };
        let mut etag = match md5_of(&path) {
            Ok(e) => e,
            Err(e) => return s3_error(500, "InternalError", &format!("reading the upload: {e}")),
        };
        self.state().uploads.insert(
            name,
            Arc::new(Upload {
                path,
                etag: etag.clone(),
            }),
        );
        if fault.is_some_and(|f| f.kind == Kind::EtagMismatch) {
            etag = hex::encode(Md5::digest(format!("not {etag}").as_bytes()));
        }
        Response::new(200, "application/xml", Vec::new()).with_header("ETag", format!("\"{etag}\""))
    }
}

/// md5 of a file, lowercase hex, read in chunks.
fn md5_of(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(h.finalize())),
            n => h.update(&buf[..n]),
        }
    }
}

/// `data` as a gzip member (RFC 1952) of stored deflate blocks: valid gzip that any client
/// with gzip decoding would undo, without a compression library.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let n = c.len() as u16;
        out.push(last);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_members_carry_the_crc_and_length() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let gz = gzip_stored(b"hello");
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(&gz[gz.len() - 4..], &5u32.to_le_bytes());
        assert_eq!(
            gzip_stored(&[0u8; 70_000]).len(),
            10 + 5 + 65_535 + 5 + 4_465 + 8
        );
    }

    #[test]
    fn ranges_parse_like_s3() {
        assert_eq!(parse_range(None, 10), Range::Full);
        assert_eq!(parse_range(Some("bytes=2-"), 10), Range::Part(2, 9));
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Range::Part(2, 4));
        assert_eq!(parse_range(Some("bytes=2-400"), 10), Range::Part(2, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Range::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Range::Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Range::Full);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Range::Full);
    }
}
