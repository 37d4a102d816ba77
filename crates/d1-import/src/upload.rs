//! Step 2 of an import: `PUT` the dump to the signed upload URL the API answered, streamed from
//! the file through the rewrite (`source`) with its Content-Length (a 10 GB dump is never held in
//! memory), retried on 429, 5xx and connection errors, and checked: the object store's `ETag`
//! must be the md5 we announced, else the bytes that arrived are not the ones we sent. The URL's
//! query (its signature) is redacted in every message.

use crate::source::Source;
use d1_core::http::{describe_transport, transport_retryable};
use d1_core::msg::{human_bytes, Progress};
use d1_core::retry::{self, Deadline, Failure, Policy};
use d1_core::{Error, Result};
use std::io::Read;
use std::time::Duration;

/// A write that makes no progress for this long is a dead connection, not a slow one.
const STALL: Duration = Duration::from_secs(60);
/// The object store answers a PUT as soon as the body is in; this leaves room for checksums.
const ANSWER: Duration = Duration::from_secs(120);

/// The dump as a request body: stops at once on SIGINT/SIGTERM (ureq would otherwise send the
/// whole file first), draws the progress line, and never sends more than the announced length.
struct Body<R> {
    reader: R,
    sent: u64,
    len: u64,
    progress: Progress,
}

impl<R: Read> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if d1_core::signal::interrupted() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        let n = self.reader.read(buf)?;
        self.sent += n as u64;
        if self.sent > self.len || (n == 0 && !buf.is_empty() && self.sent < self.len) {
            return Err(std::io::Error::other(format!(
                "the dump changed since it was read: {} bytes instead of {}",
                self.sent, self.len
            )));
        }
        let (sent, len) = (self.sent, self.len);
        self.progress
            .update(|| format!("uploading {} of {}", human_bytes(sent), human_bytes(len)));
        Ok(n)
    }
}

/// An ETag header as the md5 it should be: quotes stripped, lowercase.
pub use d1_core::http::etag_value;

/// The upload URL comes from the server, not the user: one that is not HTTPS (or loopback) is
/// the server's fault (exit 1), and nothing is sent to it.
pub fn check_url(url: &str) -> Result<()> {
    d1_core::url::check(url)
        .map_err(|e| Error::failed(e.message).context("the upload URL the import API answered"))
}

/// Uploads `src` to `url` (see the module comment).
pub fn upload(url: &str, src: &Source, deadline: &Deadline, policy: Policy) -> Result<()> {
    let shown = d1_core::redact::url(url);
    check_url(url)?;
    let agent = d1_core::http::agent(url, |b| b)?;
    retry::run(&policy, deadline, || {
        let failed = |what: String| {
            Failure::Fatal(Error::failed(format!("upload to {shown} failed: {what}")))
        };
        match send(&agent, url, src, deadline) {
            Ok(Sent::Done(etag)) => match etag {
                Some(e) if etag_value(&e) == src.etag => Ok(()),
                got => Err(Failure::Fatal(Error::failed(format!(
                    "upload corrupted: ETag mismatch (sent {} bytes with md5 {}, the storage \
                     answered {}); nothing was imported",
                    src.len,
                    src.etag,
                    got.map(|e| format!("ETag {}", etag_value(&e)))
                        .unwrap_or_else(|| "no ETag".to_string())
                )))),
            },
            Ok(Sent::Status(status, what, ra)) if retry::retryable_status(status) => Err(
                Failure::again(format!("upload to {shown} failed: HTTP {status}{what}"), ra),
            ),
            Ok(Sent::Redirect(status, location)) => Err(Failure::Fatal(
                d1_core::http::redirect_refused(status, location.as_deref()),
            )),
            Ok(Sent::Status(status, what, _)) => Err(failed(format!("HTTP {status}{what}"))),
            Err(_) if d1_core::signal::interrupted() => Err(Failure::Fatal(Error::interrupted())),
            Err(e) if transport_retryable(&e) => Err(Failure::again(
                format!("upload to {shown} failed: {}", describe_transport(&e)),
                None,
            )),
            Err(e) => Err(failed(describe_transport(&e))),
        }
    })
}

/// What one PUT came back with.
enum Sent {
    /// 2xx, with its ETag header.
    Done(Option<String>),
    /// A 3xx and where it pointed (never followed).
    Redirect(u16, Option<String>),
    /// Any other status, with the storage's error when it gave one, and its Retry-After.
    Status(u16, String, Option<Duration>),
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    src: &Source,
    deadline: &Deadline,
) -> Result<Sent, ureq::Error> {
    let reader = src.open().map_err(|e| std::io::Error::other(e.message))?;
    let mut body = Body {
        reader,
        sent: 0,
        len: src.len,
        progress: Progress::new(),
    };
    let mut resp = agent
        .put(url)
        .header("Content-Length", src.len.to_string())
        .config()
        .timeout_global(deadline.remaining())
        .timeout_per_write(Some(STALL))
        .timeout_recv_response(Some(ANSWER))
        .build()
        .send(ureq::SendBody::from_reader(&mut body))?;
    body.progress.finish();
    let status = resp.status().as_u16();
    let etag = d1_core::http::header(&resp, "etag");
    let retry_after = d1_core::http::retry_after(&resp);
    let location = d1_core::http::header(&resp, "location");
    // The body is a small XML document at most; read it so the connection can be reused.
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let what = d1_archive::s3::xml::error_summary(&text)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    Ok(match status {
        200..=299 => Sent::Done(etag),
        300..=399 => Sent::Redirect(status, location),
        _ => Sent::Status(status, what, retry_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_upload_url_off_loopback_is_refused_without_its_signature() {
        let e = check_url("http://storage.example/u.sql?X-Amz-Signature=s3cret").unwrap_err();
        assert_eq!(e.code(), d1_core::ExitCode::Failed);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(check_url("https://storage.example/u.sql?sig=1").is_ok());
    }

    #[test]
    fn etags_compare_without_quotes_or_case() {
        assert_eq!(etag_value("\"ABCdef\""), "abcdef");
        assert_eq!(etag_value(" abc "), "abc");
    }
}
