//! The HTTP side of a download: one GET streamed into a [`Sink`], resumed with `Range` after a
//! dropped connection, retried on 429/5xx/connection errors, and checked against the length the
//! server declared. Signed URLs live one hour and dumps reach 10 GB, so a lost connection must
//! not cost the whole download, and a 403 must say what to do next.
//!
//! The blocking HTTP reads run on a helper thread that hands over fixed-size chunks through a
//! small bounded channel: the main thread waits on it in short slices, so SIGINT/SIGTERM and a
//! stalled server are noticed within a fraction of a second whatever the socket is doing.

use crate::chunks::{Pool, CHUNK};
use crate::sink::Sink;
use d1_core::http::{describe_transport, transport_retryable};
use d1_core::msg::{human_bytes, Progress};
use d1_core::retry::{self, Deadline, Failure, Policy};
use d1_core::{Error, Kind, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

/// How long the read thread keeps filling a chunk before it hands over what it has.
const FILL_WAIT: Duration = Duration::from_millis(20);
/// Chunks in flight between the reading thread and the writer.
const IN_FLIGHT: usize = 4;
/// How often the waiting thread looks at the signal flag and the deadline.
const POLL: Duration = Duration::from_millis(100);
/// No byte for this long and the connection is treated as dropped (then resumed).
const STALL: Duration = Duration::from_secs(60);
/// Error bodies (S3 XML) are small; more is not an error body.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// What the server told us about the object, for the final checks.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// Content-Length of the whole object, when declared.
    pub length: Option<u64>,
    /// The ETag when it is a plain MD5 of the body (single-part upload).
    pub etag_md5: Option<String>,
}

pub use d1_core::http::etag_md5;

/// What the reading thread sends.
enum Msg {
    Head(Head),
    Data(Vec<u8>),
    End,
    /// Transport failure (redacted text, worth retrying).
    Failed(String, bool),
}

struct Head {
    status: u16,
    content_length: Option<u64>,
    etag: Option<String>,
    accept_ranges: bool,
    content_range: Option<String>,
    retry_after: Option<Duration>,
    /// Where a 3xx pointed (never followed).
    location: Option<String>,
    /// The body of an error answer (S3 XML), for the message.
    error_body: String,
}

/// Why an attempt ended without the whole body (d1_core's retry runner decides what next).
type Step = Failure;

/// What we know of the object across attempts.
struct Known {
    first: bool,
    length: Option<u64>,
    etag: Option<String>,
    ranges: bool,
}

/// Replaying a restarted download's first bytes: they must hash to what was already stored.
struct Replay {
    left: u64,
    sha: Sha256,
    expect: [u8; 32],
}

/// Downloads `url` into `sink`. `writing` names the output for write errors.
pub fn download<W: Write>(
    url: &str,
    sink: &mut Sink<W>,
    writing: &str,
    policy: &Policy,
    deadline: &Deadline,
) -> Result<Served> {
    let agent = d1_core::http::agent(url, |b| {
        // Headers must come within the stall limit; the body has no total limit (10 GB dumps),
        // the reader's stall watch covers it.
        b.timeout_recv_response(Some(STALL))
    })?;
    let mut known = Known {
        first: true,
        length: None,
        etag: None,
        ranges: false,
    };
    let mut progress = Progress::new();
    let started = Instant::now();
    retry::run(policy, deadline, || {
        let from = if known.ranges { sink.sql_bytes() } else { 0 };
        once(
            &agent,
            url,
            from,
            &mut known,
            sink,
            writing,
            deadline,
            &mut progress,
            started,
        )
    })?;
    progress.finish();
    Ok(Served {
        length: known.length,
        etag_md5: known.etag.as_deref().and_then(etag_md5),
    })
}

/// One GET (from byte `from` when resuming), streamed into the sink.
#[allow(clippy::too_many_arguments)]
fn once<W: Write>(
    agent: &ureq::Agent,
    url: &str,
    from: u64,
    known: &mut Known,
    sink: &mut Sink<W>,
    writing: &str,
    deadline: &Deadline,
    progress: &mut Progress,
    started: Instant,
) -> Result<(), Step> {
    let rx = spawn(
        agent.clone(),
        url.to_string(),
        from,
        known.etag.clone(),
        sink.pool(),
    );
    let head = match next(&rx, deadline)? {
        Some(Msg::Head(h)) => h,
        Some(Msg::Failed(p, true)) => return Err(retry(p, None, false)),
        Some(Msg::Failed(p, false)) => return Err(Step::Fatal(Error::failed(p))),
        Some(_) => return Err(retry("no answer".into(), None, false)),
        None => {
            return Err(retry(
                format!("no answer within {}s", STALL.as_secs()),
                None,
                false,
            ))
        }
    };
    let mut replay = None;
    match head.status {
        200 => {
            if known.first {
                known.first = false;
                known.length = head.content_length;
                known.etag = head.etag.clone();
                known.ranges = head.accept_ranges && head.content_length.is_some();
                if known.etag.as_deref().and_then(etag_md5).is_some() {
                    sink.want_md5();
                }
            } else if head.etag != known.etag || head.content_length != known.length {
                return Err(Step::Fatal(changed()));
            }
            if sink.sql_bytes() > 0 {
                // The server ignored our Range (or we could not use one): start over from byte
                // 0, checking that the bytes already stored come again before appending.
                replay = Some(Replay {
                    left: sink.sql_bytes(),
                    sha: Sha256::new(),
                    expect: sink.prefix_sha256(),
                });
            }
        }
        206 if from > 0 => {
            let fits = head
                .content_range
                .as_deref()
                .and_then(parse_content_range)
                .is_some_and(|(a, b, t)| {
                    a == from && Some(t) == known.length && b.checked_add(1) == Some(t)
                });
            if !fits {
                known.ranges = false;
                return Err(retry(
                    "the resumed answer did not continue where the download stopped".into(),
                    None,
                    true,
                ));
            }
        }
        416 if from > 0 => {
            let real = head
                .content_range
                .as_deref()
                .and_then(|c| c.trim().strip_prefix("bytes */"))
                .and_then(|t| t.trim().parse::<u64>().ok());
            if let (Some(real), Some(declared)) = (real, known.length) {
                if real == from && real != declared {
                    return Err(Step::Fatal(Error::failed(format!(
                        "wrong Content-Length: the server declared {declared} bytes but the dump \
                         has {real}; a download whose length does not check out is not kept"
                    ))));
                }
            }
            known.ranges = false;
            return Err(retry(
                "the server refused to resume (HTTP 416)".into(),
                None,
                true,
            ));
        }
        403 => return Err(Step::Fatal(refused(&head.error_body))),
        300..=399 => {
            return Err(Step::Fatal(d1_core::http::redirect_refused(
                head.status,
                head.location.as_deref(),
            )))
        }
        status if retry::retryable_status(status) => {
            return Err(retry(
                format!("HTTP {status}{}", s3_detail(&head.error_body)),
                head.retry_after,
                false,
            ))
        }
        status => {
            return Err(Step::Fatal(Error::failed(format!(
                "HTTP {status}{}",
                s3_detail(&head.error_body)
            ))))
        }
    }

    loop {
        let buf = match next(&rx, deadline)? {
            Some(Msg::Data(b)) => b,
            Some(Msg::End) => break,
            Some(Msg::Failed(p, _)) => return Err(cut_short(sink.sql_bytes(), known, &p)),
            Some(Msg::Head(_)) => return Err(cut_short(sink.sql_bytes(), known, "bad answer")),
            None => {
                let p = format!("no data for {}s", STALL.as_secs());
                return Err(cut_short(sink.sql_bytes(), known, &p));
            }
        };
        let mut rest = &buf[..];
        if let Some(r) = replay.as_mut() {
            let take = rest
                .len()
                .min(usize::try_from(r.left).unwrap_or(usize::MAX));
            r.sha.update(&rest[..take]);
            r.left -= take as u64;
            rest = &rest[take..];
            if r.left == 0 {
                if <[u8; 32]>::from(r.sha.clone().finalize()) != r.expect {
                    return Err(Step::Fatal(changed()));
                }
                replay = None;
            }
        }
        let written = if rest.len() == buf.len() {
            // The common case: the whole chunk is new, and the MD5 thread can have it.
            sink.write_chunk(buf)
        } else {
            sink.write_all(rest)
        };
        written.map_err(|e| Step::Fatal(Error::io(writing, e)))?;
        let done = sink.sql_bytes();
        progress.update(|| progress_line(done, known.length, started));
    }
    if replay.is_some() || known.length.is_some_and(|t| sink.sql_bytes() != t) {
        return Err(cut_short(
            sink.sql_bytes(),
            known,
            "the connection closed early",
        ));
    }
    Ok(())
}

/// A retryable problem; `cut`: the body was cut short (as opposed to no usable answer at all),
/// so that once the retries are used up what was served cannot be trusted as a backup (exit 1).
fn retry(problem: String, retry_after: Option<Duration>, cut: bool) -> Step {
    if cut {
        Failure::Again {
            problem: format!("download incomplete: {problem}"),
            retry_after,
            exhausted: Kind::Failed,
        }
    } else {
        Failure::again(problem, retry_after)
    }
}

fn cut_short(have: u64, known: &Known, why: &str) -> Step {
    let of = known.length.map(|t| format!(" of {t}")).unwrap_or_default();
    retry(format!("received {have}{of} bytes: {why}"), None, true)
}

fn changed() -> Error {
    Error::failed(
        "the dump changed on the server during the download (a new ETag or different bytes); \
         fetch it again",
    )
}

/// An expired or refused signed URL: nothing to retry, the next step is a fresh URL.
fn refused(body: &str) -> Error {
    let detail = s3_detail(body);
    if body.to_ascii_lowercase().contains("expired") {
        Error::failed(format!(
            "the signed URL has expired (HTTP 403{detail}); signed URLs live one hour: get a \
             fresh one by waiting for the export again (d1-export-wait) and fetch it at once"
        ))
    } else {
        Error::failed(format!(
            "the signed URL was refused (HTTP 403{detail}); it may have expired or been altered: \
             get a fresh one by waiting for the export again (d1-export-wait)"
        ))
    }
}

/// ` Code: Message` from an S3 XML error body, or nothing.
fn s3_detail(body: &str) -> String {
    d1_archive::s3::xml::error_summary(body)
        .map(|d| format!(" {d}"))
        .unwrap_or_default()
}

/// `bytes A-B/T` → (A, B, T).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

fn progress_line(done: u64, total: Option<u64>, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = done as f64 / secs;
    match total {
        Some(t) if t > 0 => {
            let eta = if rate > 0.0 {
                format!(", ETA {:.0}s", t.saturating_sub(done) as f64 / rate)
            } else {
                String::new()
            };
            format!(
                "{} of {} ({:.0}%), {}/s{eta}",
                human_bytes(done),
                human_bytes(t),
                done as f64 * 100.0 / t as f64,
                human_bytes(rate as u64)
            )
        }
        _ => format!("{}, {}/s", human_bytes(done), human_bytes(rate as u64)),
    }
}

/// Waits for the reading thread's next message in short slices. `None`: it stalled.
fn next(rx: &Receiver<Msg>, deadline: &Deadline) -> Result<Option<Msg>> {
    let since = Instant::now();
    loop {
        d1_core::signal::check()?;
        if deadline.expired() {
            return Err(Error::temporary(
                "deadline reached (--timeout) during the download",
            ));
        }
        match rx.recv_timeout(POLL) {
            Ok(m) => return Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) if since.elapsed() >= STALL => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Ok(Some(Msg::Failed("the connection ended".into(), true)))
            }
        }
    }
}

/// Starts the GET on its own thread. The thread ends when the body ends or when the receiver
/// is dropped (a send fails); a thread stuck in a dead socket is abandoned, not waited for.
fn spawn(
    agent: ureq::Agent,
    url: String,
    from: u64,
    etag: Option<String>,
    pool: Pool,
) -> Receiver<Msg> {
    let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
    std::thread::spawn(move || read_thread(&agent, &url, from, etag, &pool, &tx));
    rx
}

fn read_thread(
    agent: &ureq::Agent,
    url: &str,
    from: u64,
    etag: Option<String>,
    pool: &Pool,
    tx: &SyncSender<Msg>,
) {
    // identity: the length and MD5 checks are about the bytes as stored.
    let mut req = agent.get(url).header("Accept-Encoding", "identity");
    if from > 0 {
        req = req.header("Range", format!("bytes={from}-"));
        if let Some(e) = etag {
            // A changed object answers 200 with its new self instead of a mismatched range.
            req = req.header("If-Range", e);
        }
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Failed(describe_transport(&e), transport_retryable(&e)));
            return;
        }
    };
    let header = |name: &str| d1_core::http::header(&resp, name);
    let status = resp.status().as_u16();
    let mut head = Head {
        status,
        content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
        etag: header("etag"),
        accept_ranges: header("accept-ranges")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("bytes")),
        content_range: header("content-range"),
        retry_after: d1_core::http::retry_after(&resp),
        location: header("location"),
        error_body: String::new(),
    };
    let (_, body) = resp.into_parts();
    if !(status == 200 || status == 206) {
        head.error_body = body
            .into_with_config()
            .limit(MAX_ERROR_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        let _ = tx.send(Msg::Head(head));
        return;
    }
    if tx.send(Msg::Head(head)).is_err() {
        return;
    }
    let mut reader = body.into_with_config().limit(u64::MAX).reader();
    loop {
        // Filled whole while bytes pour in (ureq reads 128 KiB at a time): half the hand-overs
        // and writes. A short read or FILL_WAIT hands over what there is, so a slow stream's
        // bytes still reach the file, the stall timer and the progress line as they come.
        let mut buf = pool.take();
        let mut filled = 0;
        let started = Instant::now();
        let last = loop {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break Some(Msg::End),
                Ok(n) => {
                    filled += n;
                    if filled == CHUNK || n < CHUNK / 4 || started.elapsed() >= FILL_WAIT {
                        break None;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(Msg::Failed(d1_core::redact::redact(&e.to_string()), true)),
            }
        };
        buf.truncate(filled);
        // What arrived before a failure is handed over first: a resumed download starts after it.
        if filled > 0 && tx.send(Msg::Data(buf)).is_err() {
            return;
        }
        if let Some(msg) = last {
            let _ = tx.send(msg);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, 200))
        );
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn s3_errors_are_summarised_and_expiry_is_named() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                    <Message>Request has expired</Message></Error>";
        assert_eq!(s3_detail(body), " AccessDenied: Request has expired");
        let e = refused(body);
        assert!(e.message.contains("expired") && e.message.contains("d1-export-wait"));
        assert_eq!(e.code(), d1_core::ExitCode::Failed);
        assert!(refused("<Error><Code>SignatureDoesNotMatch</Code></Error>")
            .message
            .contains("refused"));
        assert_eq!(s3_detail("<html>oops</html>"), "");
    }
}
