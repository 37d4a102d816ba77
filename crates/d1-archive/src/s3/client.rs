//! The S3/R2 client: requests signed by rusty-s3 (SigV4 presigned URLs, sans-IO), sent with
//! d1-core's one agent (its proxy rule: loopback never proxied, upper-case `HTTP_PROXY` not
//! read; no redirects) and retried by d1-core's one runner (`retry::run`: connection errors,
//! 429 and 5xx, `Retry-After` capped and announced, one deadline). S3's XML errors become the
//! tools' exit codes (`answer.rs`).
//!
//! A store that accepts a connection and never answers is given [`Target::answer_wait`] per
//! request (30 s unless `D1_S3_ANSWER_WAIT` says otherwise), and one more try; after that the
//! client stops sending for the rest of the run, so that a hung endpoint costs a run about a
//! minute, not minutes per object.

use super::answer::{self, Answer};
use super::config::{Options, Target};
use d1_core::http::{describe_transport, transport_retryable};
use d1_core::retry::{self, Deadline, Failure, Policy};
use d1_core::{Error, Kind, Result};
use rusty_s3::S3Action;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a presigned request stays valid. Each attempt is signed afresh, so this only has
/// to cover one request (a 64 MiB part on a slow link).
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Error bodies and small answers (XML listings) are bounded: more is not an answer.
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// Attempts in a row without an answer before the client gives up on the store.
const SILENT_ATTEMPTS: u32 = 2;
/// How long the clean-up of an interrupted upload may take.
const CLEANUP: Duration = Duration::from_secs(30);

/// A request body, made anew for each attempt.
pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `offset` (a part, or a whole dump), streamed.
    File {
        file: std::fs::File,
        offset: u64,
        len: u64,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Body::Empty => Box::new(std::io::empty()),
            Body::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
            Body::File { file, offset, len } => {
                use std::io::Seek;
                let mut f = file.try_clone()?;
                f.seek(std::io::SeekFrom::Start(*offset))?;
                Box::new(f.take(*len))
            }
        })
    }

    /// Whether the request carries a Content-Length: every request with a body, and POST/PUT
    /// even when empty (without one, ureq would send an empty POST chunked, which S3 refuses
    /// and some servers wait on).
    fn declared(&self, method: &str) -> bool {
        !matches!(self, Body::Empty) || matches!(method, "POST" | "PUT")
    }
}

/// One request: what it is for (messages), and how it is sent and read.
pub struct Request<'a> {
    pub what: String,
    pub method: &'static str,
    pub headers: &'a [(&'a str, String)],
    pub body: &'a Body,
    /// Statuses besides 2xx that are an answer, not an error (404 for "is it there?").
    pub accept: &'a [u16],
    /// The answer's body is read up to this many bytes (more is an error, not a shorter body).
    pub limit: u64,
}

impl<'a> Request<'a> {
    pub fn new(what: String, method: &'static str, body: &'a Body) -> Request<'a> {
        Request {
            what,
            method,
            headers: &[],
            body,
            accept: &[],
            limit: MAX_ANSWER,
        }
    }
}

pub struct Client {
    target: Target,
    agent: ureq::Agent,
    policy: Policy,
    deadline: Deadline,
    /// Set once the store left requests unanswered: the run's other requests fail at once.
    silent: AtomicBool,
}

impl Client {
    /// The client for `bucket`, configured from `opts` and the environment.
    pub fn new(opts: &Options, bucket: &str, policy: Policy, deadline: Deadline) -> Result<Client> {
        let target = Target::from_env(opts, bucket)?;
        let agent = d1_core::http::agent(&target.endpoint, |b| b)?;
        Ok(Client {
            target,
            agent,
            policy,
            deadline,
            silent: AtomicBool::new(false),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.target.endpoint
    }

    pub fn bucket_name(&self) -> &str {
        &self.target.bucket_name
    }

    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// `s3://BUCKET/KEY`, for messages and records.
    pub fn shown(&self, key: &str) -> String {
        format!("s3://{}/{}", self.target.bucket_name, key)
    }

    /// A presigned GET URL for `key` (d1-fetch streams it with its own resuming download).
    pub fn presigned_get(&self, key: &str) -> String {
        let t = &self.target;
        t.bucket
            .get_object(Some(&t.creds), key)
            .sign(SIGNED_FOR)
            .to_string()
    }

    /// Signs `action` with `headers` (signed too: Content-MD5, `x-amz-meta-*`, conditions).
    fn sign<'b>(&self, mut action: impl S3Action<'b>, headers: &[(&'b str, String)]) -> String {
        for (k, v) in headers {
            action.headers_mut().insert(*k, v.clone());
        }
        action.sign(SIGNED_FOR).to_string()
    }

    /// PUT of a whole object.
    pub fn put(&self, key: &str, headers: &[(&str, String)], body: &Body) -> Result<Answer> {
        let t = &self.target;
        let mut r = Request::new(format!("uploading {}", self.shown(key)), "PUT", body);
        r.headers = headers;
        self.send(&r, || {
            self.sign(t.bucket.put_object(Some(&t.creds), key), headers)
        })
    }

    /// PUT only where nothing is stored yet (`If-None-Match: *`); `Ok(false)` when something is.
    pub fn put_if_absent(&self, key: &str, body: &Body) -> Result<bool> {
        let t = &self.target;
        let headers = [("if-none-match", "*".to_string())];
        let mut r = Request::new(format!("creating {}", self.shown(key)), "PUT", body);
        r.headers = &headers;
        // 412: something is there; 409: another conditional write to it is under way.
        r.accept = &[409, 412];
        let a = self.send(&r, || {
            self.sign(t.bucket.put_object(Some(&t.creds), key), &headers)
        })?;
        Ok(a.status < 300)
    }

    /// HEAD of an object; `Ok(None)` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<Answer>> {
        let t = &self.target;
        let mut r = Request::new(
            format!("reading back {}", self.shown(key)),
            "HEAD",
            &Body::Empty,
        );
        r.accept = &[404];
        let a = self.send(&r, || {
            self.sign(t.bucket.head_object(Some(&t.creds), key), &[])
        })?;
        Ok((a.status != 404).then_some(a))
    }

    /// GET of a small object (a sidecar) into memory, refused above `limit` bytes; `Ok(None)`
    /// when there is no such object.
    pub fn get_small(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let t = &self.target;
        let mut r = Request::new(format!("fetching {}", self.shown(key)), "GET", &Body::Empty);
        r.accept = &[404];
        r.limit = limit;
        let a = self.send(&r, || {
            self.sign(t.bucket.get_object(Some(&t.creds), key), &[])
        })?;
        if a.status == 404 {
            if a.code().as_deref() == Some("NoSuchBucket") {
                return Err(answer::status_error(&r.what, &a));
            }
            return Ok(None);
        }
        Ok(Some(a.body))
    }

    /// GET of an object whose body is read as it arrives. Retried until the answer's head
    /// arrives; a body that stalls for the answer wait is an error of the reader.
    pub fn get_stream(&self, key: &str) -> Result<Box<dyn Read + Send>> {
        let t = &self.target;
        let what = format!("fetching {}", self.shown(key));
        let url = || self.sign(t.bucket.get_object(Some(&t.creds), key), &[]);
        let mut silent = 0;
        let run = retry::run(&self.policy, &self.deadline, || {
            self.check_answering(&what)?;
            let req = ureq::http::Request::builder()
                .method("GET")
                .uri(url())
                .body(())
                .map_err(|e| Error::failed(format!("{what}: {e}")))?;
            let waits = self.waits();
            let agent = self.agent.clone();
            let got = d1_core::signal::interruptibly(move || {
                agent.run(waits.apply(agent.configure_request(req)).build())
            })?;
            match got {
                Ok(resp) if resp.status().as_u16() < 300 => {
                    let body = resp.into_body();
                    Ok(Box::new(body.into_with_config().limit(u64::MAX).reader())
                        as Box<dyn Read + Send>)
                }
                Ok(mut resp) => {
                    let a = answer::read(&mut resp, "GET", MAX_ANSWER)
                        .map_err(|e| Failure::Fatal(transport_error(&what, &e)))?;
                    Err(self.judge(&what, &a))
                }
                Err(e) => Err(self.transport_failure(&what, &e, &mut silent)),
            }
        });
        run.map_err(|e| in_context(e, &what))
    }

    /// Deletes an object; one that is not there is already deleted.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.delete_as(key, false)
    }

    /// Deletes an object as a clean-up (a lock being released: see [`Client::cleanup`]).
    pub fn cleanup_delete(&self, key: &str) -> Result<()> {
        self.delete_as(key, true)
    }

    fn delete_as(&self, key: &str, cleanup: bool) -> Result<()> {
        let t = &self.target;
        let mut r = Request::new(
            format!("deleting {}", self.shown(key)),
            "DELETE",
            &Body::Empty,
        );
        r.accept = &[404];
        let sign = || self.sign(t.bucket.delete_object(Some(&t.creds), key), &[]);
        if cleanup {
            self.cleanup(&r, sign)
        } else {
            self.send(&r, sign).map(|_| ())
        }
    }

    /// One page of a listing (ListObjectsV2) of the keys under `prefix`.
    pub fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<rusty_s3::actions::ListObjectsV2Response> {
        let t = &self.target;
        let r = Request::new(
            format!("listing {}", self.shown(prefix)),
            "GET",
            &Body::Empty,
        );
        let a = self.send(&r, || {
            let mut l = t.bucket.list_objects_v2(Some(&t.creds));
            if !prefix.is_empty() {
                l.with_prefix(prefix);
            }
            if let Some(t) = token {
                l.with_continuation_token(t);
            }
            if let Some(n) = max_keys {
                l.with_max_keys(n);
            }
            l.sign(SIGNED_FOR).to_string()
        })?;
        let text = String::from_utf8_lossy(&a.body);
        rusty_s3::actions::ListObjectsV2::parse_response(&text)
            .map_err(|e| Error::failed(format!("{}: the answer is not a listing: {e}", r.what)))
    }

    /// Starts a multipart upload; returns its id.
    pub fn create_multipart(&self, key: &str, headers: &[(&str, String)]) -> Result<String> {
        let t = &self.target;
        let mut r = Request::new(
            format!("starting the multipart upload of {}", self.shown(key)),
            "POST",
            &Body::Empty,
        );
        r.headers = headers;
        let a = self.send(&r, || {
            self.sign(
                t.bucket.create_multipart_upload(Some(&t.creds), key),
                headers,
            )
        })?;
        let text = String::from_utf8_lossy(&a.body);
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&text)
            .map_err(|e| Error::failed(format!("{}: unexpected answer: {e}", r.what)))?;
        Ok(parsed.upload_id().to_string())
    }

    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<Answer> {
        let t = &self.target;
        let mut r = Request::new(
            format!("uploading part {number} of {}", self.shown(key)),
            "PUT",
            body,
        );
        r.headers = headers;
        self.send(&r, || {
            self.sign(
                t.bucket.upload_part(Some(&t.creds), key, number, upload_id),
                headers,
            )
        })
    }

    /// Completes a multipart upload; returns the object's ETag. S3 may answer 200 with an
    /// `<Error>` body (it completes asynchronously), which is a failure.
    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<String> {
        let t = &self.target;
        let action = t.bucket.complete_multipart_upload(
            Some(&t.creds),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR).to_string();
        let body = Body::Bytes(action.body().into_bytes());
        let r = Request::new(
            format!("completing the multipart upload of {}", self.shown(key)),
            "POST",
            &body,
        );
        let a = self.send(&r, || url.clone())?;
        answer::completed_etag(&a).map_err(|why| Error::failed(format!("{}: {why}", r.what)))
    }

    /// Aborts a multipart upload so that its parts are deleted (a clean-up: see
    /// [`Client::cleanup`]).
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let t = &self.target;
        let mut r = Request::new(
            format!("aborting the multipart upload of {}", self.shown(key)),
            "DELETE",
            &Body::Empty,
        );
        // 404 NoSuchUpload: already gone.
        r.accept = &[404];
        self.cleanup(&r, || {
            self.sign(
                t.bucket
                    .abort_multipart_upload(Some(&t.creds), key, upload_id),
                &[],
            )
        })
        .map_err(|e| {
            Error::failed(format!(
                "{} (the parts stay stored until the bucket's lifecycle rule removes them)",
                e.message
            ))
        })
    }

    /// Sends a clean-up request: it runs even after SIGINT/SIGTERM (the signal is set aside for
    /// its few quick attempts, and raised again after), within [`CLEANUP`].
    fn cleanup(&self, r: &Request, sign: impl Fn() -> String) -> Result<()> {
        let interrupted = d1_core::signal::interrupted();
        d1_core::signal::clear();
        let quick = Policy {
            retries: 3,
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        };
        let done = self.send_with(&quick, &Deadline::after(Some(CLEANUP)), r, sign);
        if interrupted {
            d1_core::signal::raise();
        }
        done.map(|_| ())
    }

    /// Whether the store is still worth asking (see the module comment).
    fn check_answering(&self, what: &str) -> Result<(), Failure> {
        if self.silent.load(Ordering::Relaxed) {
            return Err(Failure::Fatal(Error::temporary(format!(
                "{what}: not sent: the object store did not answer earlier in this run"
            ))));
        }
        Ok(())
    }

    fn waits(&self) -> Waits {
        Waits {
            global: self.deadline.remaining(),
            answer: self.target.answer_wait,
        }
    }

    /// What an answer that is not a success means for the attempt.
    fn judge(&self, what: &str, a: &Answer) -> Failure {
        if retry::retryable_status(a.status) {
            Failure::again(format!("{what}: {}", a.describe()), a.retry_after)
        } else {
            Failure::Fatal(answer::status_error(what, a))
        }
    }

    /// What a transport error means for the attempt; counts the attempts without an answer.
    fn transport_failure(&self, what: &str, e: &ureq::Error, silent: &mut u32) -> Failure {
        match e {
            ureq::Error::Timeout(ureq::Timeout::Global) => Failure::Fatal(Error::temporary(
                format!("{what}: deadline reached (--timeout)"),
            )),
            ureq::Error::Timeout(t)
                if !matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve) =>
            {
                *silent += 1;
                let wait = self.target.answer_wait.as_secs_f64();
                if *silent >= SILENT_ATTEMPTS {
                    self.silent.store(true, Ordering::Relaxed);
                    return Failure::Fatal(Error::temporary(format!(
                        "{what}: no answer within {wait}s, {silent} times in a row: the object \
                         store accepts connections but does not answer; giving up on it for this \
                         run (D1_S3_ANSWER_WAIT sets the wait)"
                    )));
                }
                d1_core::msg::info(&format!(
                    "{what}: no answer within {wait}s; trying once more"
                ));
                Failure::again(format!("{what}: no answer within {wait}s"), None)
            }
            e if transport_retryable(e) => {
                Failure::again(format!("{what}: {}", describe_transport(e)), None)
            }
            e => Failure::Fatal(transport_error(what, e)),
        }
    }

    /// Sends one request, retried by d1-core's runner; `sign` makes a fresh URL for each
    /// attempt.
    pub fn send(&self, r: &Request, sign: impl Fn() -> String) -> Result<Answer> {
        self.send_with(&self.policy, &self.deadline, r, sign)
    }

    fn send_with(
        &self,
        policy: &Policy,
        deadline: &Deadline,
        r: &Request,
        sign: impl Fn() -> String,
    ) -> Result<Answer> {
        let mut silent = 0;
        let run = retry::run(policy, deadline, || {
            self.check_answering(&r.what)?;
            let got = self.exchange(r, sign())?;
            match got {
                Ok(a) if a.status < 300 || r.accept.contains(&a.status) => Ok(a),
                Ok(a) => Err(self.judge(&r.what, &a)),
                Err(e) => Err(self.transport_failure(&r.what, &e, &mut silent)),
            }
        });
        run.map_err(|e| in_context(e, &r.what))
    }

    /// One attempt, on a helper thread so that a signal is answered within a fraction of a
    /// second even while a large part is on the wire (ureq's calls block).
    fn exchange(&self, r: &Request, url: String) -> Result<Result<Answer, ureq::Error>> {
        let reader = r
            .body
            .reader()
            .map_err(|e| Error::io("reading the file to upload", e))?;
        let len = r.body.len();
        let declared = r.body.declared(r.method);
        let mut builder = ureq::http::Request::builder().method(r.method).uri(url);
        for (k, v) in r.headers {
            builder = builder.header(*k, v.as_str());
        }
        let agent = self.agent.clone();
        let (method, limit) = (r.method, r.limit);
        let waits = self.waits();
        d1_core::signal::interruptibly(move || {
            let mut resp = if declared {
                // S3 refuses chunked uploads (411): the length is declared.
                let req = builder
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(ureq::Error::from)?;
                agent.run(waits.apply(agent.configure_request(req)).build())?
            } else {
                let req = builder.body(()).map_err(ureq::Error::from)?;
                agent.run(waits.apply(agent.configure_request(req)).build())?
            };
            answer::read(&mut resp, method, limit)
        })
    }
}

/// Per-request timeouts: the run's deadline, how long to wait for the answer, and how long a
/// read or a write may make no progress (a stalled transfer is a silent store too).
#[derive(Clone, Copy)]
struct Waits {
    global: Option<Duration>,
    answer: Duration,
}

impl Waits {
    fn apply<S: ureq::AsSendBody>(
        self,
        c: ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>>,
    ) -> ureq::config::ConfigBuilder<ureq::typestate::HttpCrateScope<S>> {
        let wait = Some(self.answer);
        c.timeout_global(self.global)
            .timeout_recv_response(wait)
            .timeout_per_read(wait)
            .timeout_per_write(wait)
    }
}

fn transport_error(what: &str, e: &ureq::Error) -> Error {
    Error::failed(format!("{what}: {}", describe_transport(e)))
}

/// The runner's own errors (deadline, retries used up) say what was being done; the others
/// already do, and an interruption stays the bare word.
fn in_context(e: Error, what: &str) -> Error {
    if e.kind == Kind::Interrupted || e.message.starts_with(what) {
        e
    } else {
        e.context(what)
    }
}
