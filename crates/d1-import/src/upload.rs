//! Step 2 of an import: `PUT` the file to the signed upload URL the API answered, streamed from
//! disk with its Content-Length (a 10 GB dump is never held in memory), retried on 429, 5xx and
//! connection errors, and checked: the object store's `ETag` must be the md5 we announced, else
//! the bytes that arrived are not the ones we sent. The URL's query (its signature) is
//! redacted in every message.

use crate::source::Source;
use d1_core::client::{describe_transport, transport_retryable};
use d1_core::msg::{human_bytes, Progress};
use d1_core::retry::{self, Deadline, Policy};
use d1_core::{Error, Result};
use std::io::Read;
use std::time::Duration;

/// A write that makes no progress for this long is a dead connection, not a slow one.
const STALL: Duration = Duration::from_secs(60);
/// The object store answers a PUT as soon as the body is in; this leaves room for checksums.
const ANSWER: Duration = Duration::from_secs(120);

/// The file as a request body: stops at once on SIGINT/SIGTERM (ureq would otherwise send the
/// whole file first), and draws the progress line.
struct Body {
    file: std::fs::File,
    sent: u64,
    len: u64,
    progress: Progress,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if d1_core::signal::interrupted() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        let n = self.file.read(buf)?;
        self.sent += n as u64;
        let (sent, len) = (self.sent, self.len);
        self.progress
            .update(|| format!("uploading {} of {}", human_bytes(sent), human_bytes(len)));
        Ok(n)
    }
}

/// An ETag header as the md5 it should be: quotes stripped, lowercase.
pub fn etag_value(header: &str) -> String {
    header.trim().trim_matches('"').to_ascii_lowercase()
}

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
    let agent = d1_core::client::agent(None);
    let mut attempt: u32 = 0;
    loop {
        d1_core::signal::check()?;
        if deadline.expired() {
            return Err(Error::temporary(format!(
                "upload to {shown} not started: deadline reached (--timeout)"
            )));
        }
        let (problem, retry_after) = match send(&agent, url, src, deadline) {
            Ok(Sent::Done(etag)) => {
                return match etag {
                    Some(e) if etag_value(&e) == src.etag => Ok(()),
                    got => Err(Error::failed(format!(
                        "upload corrupted: ETag mismatch (sent {} bytes with md5 {}, the storage \
                         answered {}); nothing was imported",
                        src.len,
                        src.etag,
                        got.map(|e| format!("ETag {}", etag_value(&e)))
                            .unwrap_or_else(|| "no ETag".to_string())
                    ))),
                }
            }
            Ok(Sent::Status(status, what, ra)) if status == 429 || status >= 500 => {
                (format!("HTTP {status}{what}"), ra)
            }
            Ok(Sent::Status(status, what, _)) => {
                return Err(Error::failed(format!(
                    "upload to {shown} failed: HTTP {status}{what}"
                )))
            }
            Err(_) if d1_core::signal::interrupted() => return Err(Error::interrupted()),
            Err(e) if transport_retryable(&e) => (describe_transport(&e), None),
            Err(e) => {
                return Err(Error::failed(format!(
                    "upload to {shown} failed: {}",
                    describe_transport(&e)
                )))
            }
        };
        attempt += 1;
        let problem = format!("upload to {shown} failed: {problem}");
        if attempt > policy.retries {
            return Err(Error::temporary(format!(
                "{problem} (gave up after {attempt} attempts)"
            )));
        }
        let wait = policy.delay(attempt, retry_after);
        d1_core::msg::info(&format!(
            "{problem}; retrying in {:.1}s",
            wait.as_secs_f64()
        ));
        retry::sleep(wait, deadline, &problem)?;
    }
}

/// What one PUT came back with.
enum Sent {
    /// 2xx, with its ETag header.
    Done(Option<String>),
    /// Any other status, with the storage's error when it gave one, and its Retry-After.
    Status(u16, String, Option<Duration>),
}

fn send(
    agent: &ureq::Agent,
    url: &str,
    src: &Source,
    deadline: &Deadline,
) -> Result<Sent, ureq::Error> {
    let file = std::fs::File::open(&src.path)?;
    let mut body = Body {
        file,
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
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let etag = header("etag");
    let retry_after = header("retry-after").and_then(|v| retry::parse_retry_after(&v));
    // The body is a small XML document at most; read it so the connection can be reused.
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let what = d1_core::s3::error_summary(&text)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    Ok(match status {
        200..=299 => Sent::Done(etag),
        _ => Sent::Status(status, what, retry_after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_upload_url_off_loopback_is_refused_without_its_signature() {
        let e = check_url("http://storage.example/u.sql?X-Amz-Signature=s3cret").unwrap_err();
        assert_eq!(e.code, d1_core::ExitCode::Failed);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(check_url("https://storage.example/u.sql?sig=1").is_ok());
    }

    #[test]
    fn etags_compare_without_quotes_or_case() {
        assert_eq!(etag_value("\"ABCdef\""), "abcdef");
        assert_eq!(etag_value(" abc "), "abc");
    }
}
