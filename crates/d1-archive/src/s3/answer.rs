//! What the object store answered, and what an answer that is not a success means: 401/403 and
//! refused temporary credentials are the credentials (exit 3), a missing bucket is bad input
//! (exit 2), the rest failed (exit 1). Retryable answers (429, 5xx) are d1-core's rule
//! (`retry::retryable_status`).

use super::xml;
use d1_core::Error;
use std::time::Duration;

/// What a request returned.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub length: Option<u64>,
    /// `x-amz-meta-sha256`.
    pub meta_sha256: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The S3 error code of the body (`NoSuchKey`, `ExpiredToken`), when it has one.
    pub fn code(&self) -> Option<String> {
        xml::tag(&String::from_utf8_lossy(&self.body), "Code")
    }

    /// `HTTP 403: InvalidAccessKeyId: ...`, redacted.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        match xml::error_summary(&text) {
            Some(s) => d1_core::redact::redact(&format!("HTTP {}: {s}", self.status)),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// An error's body (S3 XML) is small; more is not an error body.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// Reads an answer: its headers and its body (none for HEAD), up to `limit` bytes for a
/// success.
pub fn read(
    resp: &mut ureq::http::Response<ureq::Body>,
    method: &str,
    limit: u64,
) -> Result<Answer, ureq::Error> {
    let header = |name: &str| d1_core::http::header(resp, name).map(|s| s.trim().to_string());
    let mut a = Answer {
        status: resp.status().as_u16(),
        etag: header("etag"),
        length: header("content-length").and_then(|v| v.parse().ok()),
        meta_sha256: header("x-amz-meta-sha256"),
        retry_after: d1_core::http::retry_after(resp),
        body: Vec::new(),
    };
    let limit = if a.status < 300 {
        limit
    } else {
        MAX_ERROR_BODY
    };
    if method != "HEAD" {
        a.body = resp.body_mut().with_config().limit(limit).read_to_vec()?;
    }
    Ok(a)
}

/// Temporary credentials (`AWS_SESSION_TOKEN`) that expired or that the store does not take:
/// the credentials, whatever status comes with them (S3 answers 400).
const TOKEN_REFUSED: &[&str] = &["ExpiredToken", "InvalidToken", "TokenRefreshRequired"];

/// A non-retryable answer as an error with the exit code it deserves.
pub fn status_error(what: &str, a: &Answer) -> Error {
    let text = a.describe();
    let code = a.code().unwrap_or_default();
    if TOKEN_REFUSED.contains(&code.as_str()) {
        return Error::credentials(format!(
            "{what}: {text} (the temporary credentials expired or were refused: renew \
             AWS_SESSION_TOKEN with its AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        ));
    }
    match a.status {
        401 | 403 => Error::credentials(format!(
            "{what}: {text} (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key's permissions on the bucket)"
        )),
        404 if code == "NoSuchBucket" => Error::usage(format!("{what}: {text}")),
        300..=399 => d1_core::http::redirect_refused(a.status, None).context(what),
        _ => Error::failed(format!("{what}: {text}")),
    }
}

/// The ETag of a completed multipart upload; the reason otherwise. S3 may answer 200 with an
/// `<Error>` body (it completes asynchronously).
pub fn completed_etag(a: &Answer) -> Result<String, String> {
    let text = String::from_utf8_lossy(&a.body);
    if let Ok(parsed) = rusty_s3::actions::CompleteMultipartUploadResponse::parse(&text) {
        return Ok(parsed.etag().to_string());
    }
    // rusty-s3's parser refuses some servers' answers that are valid (moto 5.2.1's
    // `<Location>…<Bucket>…<Key>…<ETag>` body, for one): a completed upload is that root
    // element with an ETag, and the read-back HEAD checks the object anyway.
    match xml::tag(&text, "ETag") {
        Some(etag) if text.contains("<CompleteMultipartUploadResponse") && !etag.is_empty() => {
            Ok(etag.replace("&quot;", "\""))
        }
        _ => Err(xml::error_summary(&text).unwrap_or_else(|| {
            let start: String = text.chars().take(120).collect();
            format!("unexpected answer (HTTP {}): {start:?}", a.status)
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use d1_core::ExitCode;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            ..Answer::default()
        }
    }

    #[test]
    fn forbidden_is_credentials_and_missing_bucket_is_usage() {
        let a = answer(
            403,
            "<Error><Code>InvalidAccessKeyId</Code><Message>nope</Message></Error>",
        );
        let e = status_error("uploading s3://b/k", &a);
        assert_eq!(e.code(), ExitCode::Credentials);
        assert!(
            e.message.contains("InvalidAccessKeyId: nope"),
            "{}",
            e.message
        );
        let a = answer(404, "<Error><Code>NoSuchBucket</Code></Error>");
        assert_eq!(status_error("x", &a).code(), ExitCode::Usage);
        assert_eq!(
            status_error("x", &answer(400, "<Error><Code>Bad</Code></Error>")).code(),
            ExitCode::Failed
        );
    }

    #[test]
    fn refused_temporary_credentials_are_the_credentials_whatever_the_status() {
        for code in TOKEN_REFUSED {
            let a = answer(
                400,
                &format!("<Error><Code>{code}</Code><Message>The provided token has expired.</Message></Error>"),
            );
            let e = status_error("listing s3://b/p/", &a);
            assert_eq!(e.code(), ExitCode::Credentials, "{code}");
            assert!(e.message.contains("AWS_SESSION_TOKEN"), "{}", e.message);
        }
    }
}
