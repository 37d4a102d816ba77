//! The S3/R2 client both d1-upload and `d1-fetch s3://` use: configuration from the variables
//! users already have (`AWS_*`, an R2 shorthand), requests signed by rusty-s3 (SigV4 presigned
//! URLs, sans-IO) and sent with ureq, retried on connection errors, 429 and 5xx under one
//! deadline, and S3's XML errors mapped to the tools' exit codes.

use d1_core::client::{describe_transport, transport_retryable};
use d1_core::retry::{self, Deadline, Policy};
use d1_core::{Error, Result};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::io::Read;
use std::time::Duration;

/// How long a presigned request stays valid. Each attempt is signed afresh, so this only has
/// to cover one request (a 64 MiB part on a slow link).
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Error bodies and small answers (XML) are bounded: more is not an answer.
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// No answer this long after the request was sent: the attempt failed.
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// Where the tools find the object store, from the command line (flags override the
/// environment, design.md).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--endpoint URL`.
    pub endpoint: Option<String>,
    /// `--region NAME`.
    pub region: Option<String>,
    /// `--r2`: Cloudflare R2, endpoint from `R2_ACCOUNT_ID` (or `CLOUDFLARE_ACCOUNT_ID`).
    pub r2: bool,
}

/// The help lines for [`Options`] and the variables, shared by d1-upload and d1-fetch.
pub const ENV_HELP: &str = "\
Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional), AWS_REGION,
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (S3-compatible servers, path-style), R2_ACCOUNT_ID
(Cloudflare R2: https://ACCOUNT_ID.r2.cloudflarestorage.com, region auto).";

/// `s3://BUCKET/KEY`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parses `s3://BUCKET[/KEY]`. Bucket names follow S3's rules (lowercase letters, digits,
    /// `-` and `.`), which also keeps them safe in a host name and a path.
    pub fn parse(text: &str) -> Result<S3Url> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| Error::usage(format!("not an s3:// URL: {text}")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !ok {
            return Err(Error::usage(format!(
                "{text}: {bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, '-', '.')"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "{text}: control character in the key"
            )));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What a request returned.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub length: Option<u64>,
    /// `x-amz-meta-sha256`.
    pub meta_sha256: Option<String>,
    pub body: Vec<u8>,
}

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
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// RFC 3339, as the server gave it.
    pub last_modified: Option<String>,
}

pub struct Store {
    bucket: Bucket,
    creds: Credentials,
    agent: ureq::Agent,
    policy: Policy,
    deadline: Deadline,
    /// The endpoint, for manifests and messages (never holds credentials).
    pub endpoint: String,
    pub bucket_name: String,
}

use d1_core::config::var;

fn secret_var(name: &str) -> Result<Option<String>> {
    let Some(v) = var(&[name]) else {
        return Ok(None);
    };
    // A credential goes into a signature and a header: whitespace or control characters are a
    // copy-paste accident, never a valid key.
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) || !v.is_ascii() {
        return Err(Error::credentials(format!(
            "{name} contains spaces or control characters; check how it was set"
        )));
    }
    Ok(Some(v))
}

impl Store {
    /// Reads the credentials and the endpoint for `bucket`. Missing keys are exit 3; a bad
    /// endpoint (plain http to a non-loopback host included) exit 2.
    pub fn from_env(
        opts: &Options,
        bucket: &str,
        policy: Policy,
        deadline: Deadline,
    ) -> Result<Store> {
        let key = secret_var("AWS_ACCESS_KEY_ID")?.ok_or_else(|| {
            Error::credentials("AWS_ACCESS_KEY_ID is not set (the object store's access key id)")
        })?;
        let secret = secret_var("AWS_SECRET_ACCESS_KEY")?.ok_or_else(|| {
            Error::credentials("AWS_SECRET_ACCESS_KEY is not set (the object store's secret key)")
        })?;
        let token = secret_var("AWS_SESSION_TOKEN")?;
        d1_core::redact::add_secret(&secret);
        if let Some(t) = &token {
            d1_core::redact::add_secret(t);
        }
        let r2_account = var(&["R2_ACCOUNT_ID"]);
        let custom = opts
            .endpoint
            .clone()
            .or_else(|| var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]));
        let r2 = opts.r2 || (custom.is_none() && r2_account.is_some());
        let region = opts
            .region
            .clone()
            .or_else(|| var(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| if r2 { "auto" } else { "us-east-1" }.to_string());
        let (endpoint, style) = match custom {
            // S3-compatible servers (MinIO, moto, R2 given explicitly) are addressed path-style:
            // their host names do not take a bucket prefix.
            Some(e) => (e.trim_end_matches('/').to_string(), UrlStyle::Path),
            None if r2 => {
                let account = r2_account
                    .or_else(|| var(&["CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID"]))
                    .ok_or_else(|| {
                        Error::usage("--r2 needs R2_ACCOUNT_ID (or CLOUDFLARE_ACCOUNT_ID)")
                    })?;
                if !account.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(Error::usage("R2_ACCOUNT_ID must be letters and digits"));
                }
                (
                    format!("https://{account}.r2.cloudflarestorage.com"),
                    UrlStyle::Path,
                )
            }
            None => (
                format!("https://s3.{region}.amazonaws.com"),
                UrlStyle::VirtualHost,
            ),
        };
        d1_core::url::check(&endpoint).map_err(|e| e.context("the S3 endpoint"))?;
        if endpoint.contains('@') || endpoint.contains('?') {
            return Err(Error::usage(
                "the S3 endpoint must not carry credentials or a query string",
            ));
        }
        let parsed = endpoint
            .parse()
            .map_err(|e| Error::usage(format!("the S3 endpoint {endpoint}: {e}")))?;
        let b = Bucket::new(parsed, style, bucket.to_string(), region)
            .map_err(|e| Error::usage(format!("bucket {bucket:?} at {endpoint}: {e}")))?;
        let creds = match token {
            Some(t) => Credentials::new_with_token(key, secret, t),
            None => Credentials::new(key, secret),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(ANSWER_WAIT))
            .user_agent(concat!("d1-tools/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build()
            .into();
        Ok(Store {
            bucket: b,
            creds,
            agent,
            policy,
            deadline,
            endpoint,
            bucket_name: bucket.to_string(),
        })
    }

    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// `s3://BUCKET/KEY` for messages.
    pub fn shown(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket_name, key)
    }

    /// A presigned GET URL for `key` (d1-fetch streams it with its own resuming download).
    pub fn get_url(&self, key: &str) -> String {
        self.bucket
            .get_object(Some(&self.creds), key)
            .sign(SIGNED_FOR)
            .to_string()
    }

    /// PUT of a whole object; `headers` are signed (Content-MD5, `x-amz-meta-*`).
    pub fn put(&self, key: &str, headers: &[(&str, String)], body: &Body) -> Result<Answer> {
        let what = format!("uploading {}", self.shown(key));
        self.send(&what, "PUT", body, headers, || {
            let mut a = self.bucket.put_object(Some(&self.creds), key);
            for (k, v) in headers {
                a.headers_mut().insert(*k, v.clone());
            }
            a.sign(SIGNED_FOR).to_string()
        })
    }

    pub fn head(&self, key: &str) -> Result<Answer> {
        let what = format!("reading back {}", self.shown(key));
        self.send(&what, "HEAD", &Body::Empty, &[], || {
            self.bucket
                .head_object(Some(&self.creds), key)
                .sign(SIGNED_FOR)
                .to_string()
        })
    }

    /// GET of a small object (a sidecar) into memory.
    pub fn get_small(&self, key: &str) -> Result<Vec<u8>> {
        let what = format!("fetching {}", self.shown(key));
        let a = self.send(&what, "GET", &Body::Empty, &[], || {
            self.bucket
                .get_object(Some(&self.creds), key)
                .sign(SIGNED_FOR)
                .to_string()
        })?;
        Ok(a.body)
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        let what = format!("deleting {}", self.shown(key));
        self.send(&what, "DELETE", &Body::Empty, &[], || {
            self.bucket
                .delete_object(Some(&self.creds), key)
                .sign(SIGNED_FOR)
                .to_string()
        })
        .map(|_| ())
    }

    /// Every object under `prefix` (ListObjectsV2, paged with continuation tokens), sorted by
    /// key. A listing that does not parse is a failure, never a short list.
    pub fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        self.list_paged(prefix, None)
    }

    /// [`Store::list`] with at most `page` keys per request (the server's default, 1000, when
    /// `None`): tests page through a small prefix.
    pub fn list_paged(&self, prefix: &str, page: Option<usize>) -> Result<Vec<Listed>> {
        let what = format!("listing {}", self.shown(prefix));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let a = self.send(&what, "GET", &Body::Empty, &[], || {
                let mut l = self.bucket.list_objects_v2(Some(&self.creds));
                if !prefix.is_empty() {
                    l.with_prefix(prefix);
                }
                if let Some(t) = &token {
                    l.with_continuation_token(t.as_str());
                }
                if let Some(n) = page {
                    l.with_max_keys(n);
                }
                l.sign(SIGNED_FOR).to_string()
            })?;
            let text = String::from_utf8_lossy(&a.body);
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&text)
                .map_err(|e| Error::failed(format!("{what}: the answer is not a listing: {e}")))?;
            for c in page.contents {
                out.push(Listed {
                    size: c.size.unwrap_or(0),
                    last_modified: c.last_modified,
                    key: c.key,
                });
            }
            match page.next_continuation_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                Some(_) => {
                    return Err(Error::failed(format!(
                        "{what}: the server gave the same continuation token twice"
                    )))
                }
                None => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// Starts a multipart upload; returns its id.
    pub fn create_multipart(&self, key: &str, headers: &[(&str, String)]) -> Result<String> {
        let what = format!("starting the multipart upload of {}", self.shown(key));
        let a = self.send(&what, "POST", &Body::Empty, headers, || {
            let mut a = self.bucket.create_multipart_upload(Some(&self.creds), key);
            for (k, v) in headers {
                a.headers_mut().insert(*k, v.clone());
            }
            a.sign(SIGNED_FOR).to_string()
        })?;
        let text = String::from_utf8_lossy(&a.body);
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&text)
            .map_err(|e| Error::failed(format!("{what}: unexpected answer: {e}")))?;
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
        let what = format!("uploading part {number} of {}", self.shown(key));
        self.send(&what, "PUT", body, headers, || {
            let mut a = self
                .bucket
                .upload_part(Some(&self.creds), key, number, upload_id);
            for (k, v) in headers {
                a.headers_mut().insert(*k, v.clone());
            }
            a.sign(SIGNED_FOR).to_string()
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
        let what = format!("completing the multipart upload of {}", self.shown(key));
        let action = self.bucket.complete_multipart_upload(
            Some(&self.creds),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR).to_string();
        let body = Body::Bytes(action.body().into_bytes());
        let a = self.send(&what, "POST", &body, &[], || url.clone())?;
        let text = String::from_utf8_lossy(&a.body);
        if let Ok(parsed) = rusty_s3::actions::CompleteMultipartUploadResponse::parse(&text) {
            return Ok(parsed.etag().to_string());
        }
        // rusty-s3's parser refuses some servers' answers that are valid (moto 5.2.1's
        // `<Location>…<Bucket>…<Key>…<ETag>` body, for one): a completed upload is that root
        // element with an ETag, and the read-back HEAD checks the object anyway.
        match d1_core::s3::tag(&text, "ETag") {
            Some(etag) if text.contains("<CompleteMultipartUploadResponse") && !etag.is_empty() => {
                Ok(etag.replace("&quot;", "\""))
            }
            _ => {
                let summary = d1_core::s3::error_summary(&text).unwrap_or_else(|| {
                    let start: String = text.chars().take(120).collect();
                    format!("unexpected answer (HTTP {}): {start:?}", a.status)
                });
                Err(Error::failed(format!("{what}: {summary}")))
            }
        }
    }

    /// Aborts a multipart upload so that its parts are deleted. Runs even after SIGINT/SIGTERM
    /// (it is the clean-up), with a few quick attempts of its own.
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let what = format!("aborting the multipart upload of {}", self.shown(key));
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 << attempt));
            }
            let url = self
                .bucket
                .abort_multipart_upload(Some(&self.creds), key, upload_id)
                .sign(SIGNED_FOR);
            match send_once(
                &self.agent,
                "DELETE",
                url.as_str(),
                &[],
                &Body::Empty,
                Some(Duration::from_secs(30)),
            ) {
                // 404 NoSuchUpload: already gone.
                Ok(a) if a.status < 300 || a.status == 404 => return Ok(()),
                Ok(a) => last = describe_status(&a),
                Err(e) => last = describe_transport(&e),
            }
        }
        Err(Error::failed(format!(
            "{what}: {last} (the parts stay stored until the bucket's lifecycle rule removes them)"
        )))
    }

    /// Sends one request with retries. `sign` makes a fresh URL for each attempt.
    fn send(
        &self,
        what: &str,
        method: &'static str,
        body: &Body,
        headers: &[(&str, String)],
        sign: impl Fn() -> String,
    ) -> Result<Answer> {
        let mut attempt: u32 = 0;
        loop {
            d1_core::signal::check()?;
            if self.deadline.expired() {
                return Err(Error::temporary(format!(
                    "{what}: deadline reached (--timeout)"
                )));
            }
            let url = sign();
            let owned: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let problem = match self.send_interruptibly(method, url, owned, body)? {
                Ok(a) if a.status < 300 => return Ok(a),
                Ok(a) if a.status == 429 || a.status >= 500 || a.status == 408 => {
                    (describe_status(&a), retry_after(&a))
                }
                Ok(a) => return Err(status_error(what, &a)),
                Err(e) if transport_retryable(&e) => (describe_transport(&e), None),
                Err(e) => return Err(Error::failed(format!("{what}: {}", describe_transport(&e)))),
            };
            attempt += 1;
            if attempt > self.policy.retries {
                return Err(Error::temporary(format!(
                    "{what}: {} (gave up after {attempt} attempts)",
                    problem.0
                )));
            }
            let wait = self.policy.delay(attempt, problem.1);
            d1_core::msg::info(&format!(
                "{what}: {}; trying again in {:.1}s",
                problem.0,
                wait.as_secs_f64()
            ));
            retry::sleep(wait, &self.deadline, &format!("{what}: {}", problem.0))?;
        }
    }

    /// Sends on a helper thread so that a signal is answered within a fraction of a second even
    /// while a large part is on the wire (ureq's calls block).
    fn send_interruptibly(
        &self,
        method: &'static str,
        url: String,
        headers: Vec<(String, String)>,
        body: &Body,
    ) -> Result<Result<Answer, ureq::Error>> {
        let reader = body
            .reader()
            .map_err(|e| Error::io("reading the file to upload", e))?;
        let len = body.len();
        let has_body = declares_length(method, body);
        let agent = self.agent.clone();
        let limit = self.deadline.remaining();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let h: Vec<(&str, String)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let r = send_reader(
                &agent,
                method,
                &url,
                &h,
                has_body.then_some((reader, len)),
                limit,
            );
            let _ = tx.send(r);
        });
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => return Ok(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => d1_core::signal::check()?,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::failed("the request ended without an answer"))
                }
            }
        }
    }
}

fn send_once(
    agent: &ureq::Agent,
    method: &'static str,
    url: &str,
    headers: &[(&str, String)],
    body: &Body,
    limit: Option<Duration>,
) -> Result<Answer, ureq::Error> {
    let reader = body.reader().map_err(ureq::Error::Io)?;
    let with = declares_length(method, body).then_some((reader, body.len()));
    send_reader(agent, method, url, headers, with, limit)
}

/// Whether the request carries a Content-Length: every request with a body, and POST/PUT even
/// when empty (without one, ureq would send an empty POST chunked, which S3 refuses and some
/// servers wait on).
fn declares_length(method: &str, body: &Body) -> bool {
    !matches!(body, Body::Empty) || matches!(method, "POST" | "PUT")
}

fn send_reader(
    agent: &ureq::Agent,
    method: &'static str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<(Box<dyn Read + Send>, u64)>,
    limit: Option<Duration>,
) -> Result<Answer, ureq::Error> {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let mut resp = match body {
        Some((reader, len)) => {
            // S3 refuses chunked uploads (411): the length is declared.
            let req = req
                .header("content-length", len.to_string())
                .body(ureq::SendBody::from_owned_reader(reader))
                .map_err(ureq::Error::from)?;
            agent.run(agent.configure_request(req).timeout_global(limit).build())?
        }
        None => {
            let req = req.body(()).map_err(ureq::Error::from)?;
            agent.run(agent.configure_request(req).timeout_global(limit).build())?
        }
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
    };
    let etag = header("etag");
    let length = header("content-length").and_then(|v| v.parse().ok());
    let meta_sha256 = header("x-amz-meta-sha256");
    let retry_after = header("retry-after");
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        resp.body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()?
    };
    let mut a = Answer {
        status,
        etag,
        length,
        meta_sha256,
        body,
    };
    if let Some(ra) = retry_after {
        // Kept in the body's place for errors only; successful answers ignore it.
        if status >= 300 {
            a.body
                .extend_from_slice(format!("<RetryAfter>{ra}</RetryAfter>").as_bytes());
        }
    }
    Ok(a)
}

fn retry_after(a: &Answer) -> Option<Duration> {
    let text = String::from_utf8_lossy(&a.body);
    let start = text.find("<RetryAfter>")? + "<RetryAfter>".len();
    let end = text[start..].find('<')? + start;
    retry::parse_retry_after(&text[start..end])
}

/// `HTTP 403: InvalidAccessKeyId: ...`.
fn describe_status(a: &Answer) -> String {
    let text = String::from_utf8_lossy(&a.body);
    match d1_core::s3::error_summary(&text) {
        Some(s) => d1_core::redact::redact(&format!("HTTP {}: {s}", a.status)),
        None => format!("HTTP {}", a.status),
    }
}

/// A non-retryable answer as the exit code design.md gives it: 401/403 are the credentials (3),
/// a missing bucket is bad input (2), the rest failed (1).
fn status_error(what: &str, a: &Answer) -> Error {
    let text = describe_status(a);
    let code = String::from_utf8_lossy(&a.body);
    match a.status {
        401 | 403 => Error::credentials(format!(
            "{what}: {text} (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key's permissions on the bucket)"
        )),
        404 if code.contains("NoSuchBucket") => Error::usage(format!("{what}: {text}")),
        _ => Error::failed(format!("{what}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_key_and_bad_buckets_are_refused() {
        let u = S3Url::parse("s3://backups/d1/x.sql.zst").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("backups", "d1/x.sql.zst")
        );
        assert_eq!(S3Url::parse("s3://backups").unwrap().key, "");
        assert!(S3Url::parse("s3://Bad_Bucket/x").is_err());
        assert!(S3Url::parse("https://backups/x").is_err());
        assert!(S3Url::parse("s3://ab/x").is_err());
    }

    #[test]
    fn forbidden_is_credentials_and_missing_bucket_is_usage() {
        let a = Answer {
            status: 403,
            etag: None,
            length: None,
            meta_sha256: None,
            body: b"<Error><Code>InvalidAccessKeyId</Code><Message>nope</Message></Error>".to_vec(),
        };
        let e = status_error("uploading s3://b/k", &a);
        assert_eq!(e.code(), d1_core::ExitCode::Credentials);
        assert!(
            e.message.contains("InvalidAccessKeyId: nope"),
            "{}",
            e.message
        );
        let a = Answer {
            status: 404,
            body: b"<Error><Code>NoSuchBucket</Code></Error>".to_vec(),
            ..a
        };
        assert_eq!(status_error("x", &a).code(), d1_core::ExitCode::Usage);
    }
}
