//! Where the object store is and who we are to it, from the variables users already have
//! (`AWS_*`, an R2 shorthand); flags override the environment.

use d1_core::config::var;
use d1_core::{Error, Result};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use std::time::Duration;

/// Where the tools find the object store, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--endpoint URL`.
    pub endpoint: Option<String>,
    /// `--region NAME`.
    pub region: Option<String>,
    /// `--r2`: Cloudflare R2, endpoint from `R2_ACCOUNT_ID` (or `CLOUDFLARE_ACCOUNT_ID`).
    pub r2: bool,
}

impl Options {
    /// Consumes `arg` if it is one of the object store's options; `Ok(false)` leaves it to the
    /// tool.
    pub fn parse(&mut self, arg: &lexopt::Arg, parser: &mut lexopt::Parser) -> Result<bool> {
        use lexopt::prelude::*;
        match arg {
            Long("endpoint") => self.endpoint = Some(parser.value()?.string()?),
            Long("region") => self.region = Some(parser.value()?.string()?),
            Long("r2") => self.r2 = true,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The help lines for [`Options`] and the variables, shared by every tool that reaches a bucket.
pub const ENV_HELP: &str = "\
Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional), AWS_REGION,
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (S3-compatible servers, path-style), R2_ACCOUNT_ID
(Cloudflare R2: https://ACCOUNT_ID.r2.cloudflarestorage.com, region auto), D1_S3_ANSWER_WAIT
(how long a request waits for the store's answer, default 30s).";

/// How long a request waits for the store's answer (the status line) once it is sent, unless
/// `D1_S3_ANSWER_WAIT` says otherwise.
pub const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The bucket as rusty-s3 signs for it, the keys, and where it is.
pub struct Target {
    pub bucket: Bucket,
    pub creds: Credentials,
    /// The endpoint, for manifests and messages (never holds credentials).
    pub endpoint: String,
    pub bucket_name: String,
    pub answer_wait: Duration,
}

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

impl Target {
    /// Reads the credentials and the endpoint for `bucket`. Missing keys are exit 3; a bad
    /// endpoint (plain http to a non-loopback host included) exit 2.
    pub fn from_env(opts: &Options, bucket: &str) -> Result<Target> {
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
        let answer_wait = match var(&["D1_S3_ANSWER_WAIT"]) {
            Some(v) => {
                d1_core::retry::parse_duration(&v).map_err(|e| e.context("D1_S3_ANSWER_WAIT"))?
            }
            None => ANSWER_WAIT,
        };
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
        Ok(Target {
            bucket: b,
            creds,
            endpoint,
            bucket_name: bucket.to_string(),
            answer_wait,
        })
    }
}
