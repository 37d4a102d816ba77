//! The Cloudflare API client on ureq: bearer auth, the envelope decoded into a result or a
//! typed error, retries on connection errors, 429 and 5xx (never on other 4xx), one deadline for
//! the whole operation, and every message redacted.

use crate::config::Config;
use crate::envelope::{self, ApiError};
use crate::error::{Error, Result};
use crate::retry::{self, Deadline, Policy};
use serde_json::Value;
use std::time::Duration;

/// No single API call waits longer than this, whatever the overall deadline: a long poll is
/// held for seconds, not minutes, so a silent server is treated as a failed attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Bodies of API answers are small JSON; a larger one is not an API answer.
const MAX_API_BODY: u64 = 64 * 1024 * 1024;

/// The hint a 403 on a D1 endpoint carries: a read-only token's error looks like a wrong
/// account id (d1-api.md, "Auth").
pub const D1_EDIT_HINT: &str =
    "the API token needs the D1 Edit permission, even for export, and CLOUDFLARE_ACCOUNT_ID must \
     be the account that owns the database: D1 answers a read-only token and a wrong account id \
     alike";

/// An agent with the settings every tool shares: HTTP errors as responses (so that the
/// envelope is read), no redirects carrying credentials, the given per-call timeout.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .timeout_connect(Some(Duration::from_secs(15)))
        .user_agent(concat!("d1-tools/", env!("CARGO_PKG_VERSION")))
        .build();
    config.into()
}

/// Whether a transport-level failure is worth another attempt. Malformed URLs and TLS
/// configuration problems will not fix themselves.
pub fn transport_retryable(e: &ureq::Error) -> bool {
    !matches!(
        e,
        ureq::Error::BadUri(_)
            | ureq::Error::Http(_)
            | ureq::Error::InvalidProxyUrl
            | ureq::Error::Tls(_)
            | ureq::Error::Rustls(_)
            | ureq::Error::TooManyRedirects
            | ureq::Error::RedirectFailed
    )
}

/// A transport error as one redacted line.
pub fn describe_transport(e: &ureq::Error) -> String {
    let text = match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::Io(io) => format!("connection error: {io}"),
        other => other.to_string(),
    };
    crate::redact::redact(&text)
}

/// What an API call returned: the envelope's `result` and `messages`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub result: Value,
    pub messages: Vec<String>,
}

pub struct Client {
    agent: ureq::Agent,
    auth: String,
    d1_url: String,
    policy: Policy,
    deadline: Deadline,
    /// The account's request budget on this host (budget.rs).
    budget: Option<crate::budget::Budget>,
}

impl Client {
    pub fn new(cfg: &Config, policy: Policy, deadline: Deadline) -> Client {
        let per_5m = crate::budget::per_5m().unwrap_or(crate::budget::DEFAULT_PER_5M);
        Client {
            agent: agent(None),
            auth: format!("Bearer {}", cfg.token),
            d1_url: cfg.d1_url(),
            policy,
            deadline,
            budget: crate::budget::Budget::for_account(&cfg.base_url, &cfg.account_id, per_5m),
        }
    }

    /// `{base}/accounts/{account}/d1/database`.
    pub fn d1_url(&self) -> &str {
        &self.d1_url
    }

    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    pub fn get(&self, url: &str) -> Result<Answer> {
        self.call("GET", url, None)
    }

    pub fn post(&self, url: &str, body: &Value) -> Result<Answer> {
        self.call("POST", url, Some(body))
    }

    /// One API call with retries. A 401/403 is exit 3 with the D1 Edit hint, a 404 exit 2,
    /// another 4xx exit 1; 429, 5xx and connection errors are retried and, once the retries
    /// or the deadline are used up, exit 75. D1's "busy with an export" is exit 75 at once.
    pub fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Answer> {
        let mut attempt: u32 = 0;
        loop {
            crate::signal::check()?;
            if self.deadline.expired() {
                return Err(Error::temporary("deadline reached (--timeout)"));
            }
            if let Some(b) = &self.budget {
                b.take()?;
            }
            let timeout = self.deadline.cap(REQUEST_TIMEOUT);
            let (problem, retry_after) = match self
                .send_interruptibly(method, url, body, timeout)?
            {
                Ok((status, retry_after, content_type, bytes)) => {
                    match envelope::decode(status, &content_type, &bytes) {
                        Ok((result, messages)) => return Ok(Answer { result, messages }),
                        // Busy with an export: not retried, whatever the status (busy.rs).
                        Err(api) if crate::busy::is_busy(&api) => return Err(api_error(api)),
                        Err(api) if status == 429 || status >= 500 => (api.describe(), retry_after),
                        Err(api) => return Err(api_error(api)),
                    }
                }
                Err(e) if transport_retryable(&e) => (describe_transport(&e), None),
                Err(e) => return Err(Error::failed(describe_transport(&e))),
            };
            attempt += 1;
            if attempt > self.policy.retries {
                return Err(Error::temporary(format!(
                    "{problem} (gave up after {attempt} attempts)"
                )));
            }
            let wait = self.policy.delay(attempt, retry_after);
            retry::sleep(wait, &self.deadline, &problem)?;
        }
    }

    /// Sends once on a helper thread, so that SIGINT/SIGTERM is answered within a fraction of a
    /// second even while a long poll or a slow server holds the request (ureq's calls block).
    fn send_interruptibly(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<SendResult> {
        let (tx, rx) = std::sync::mpsc::channel();
        let agent = self.agent.clone();
        let auth = self.auth.clone();
        let is_get = method == "GET";
        let url = url.to_string();
        let body = body.map(Value::to_string);
        std::thread::spawn(move || {
            let _ = tx.send(send(&agent, &auth, is_get, &url, body, timeout));
        });
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => return Ok(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => crate::signal::check()?,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::failed("the request ended without an answer"))
                }
            }
        }
    }
}

/// `(status, Retry-After, Content-Type, body)` or the transport error.
type SendResult = Result<(u16, Option<Duration>, String, Vec<u8>), ureq::Error>;

fn send(
    agent: &ureq::Agent,
    auth: &str,
    is_get: bool,
    url: &str,
    body: Option<String>,
    timeout: Duration,
) -> SendResult {
    let mut resp = if is_get {
        agent
            .get(url)
            .header("Authorization", auth)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()?
    } else {
        agent
            .post(url)
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body.unwrap_or_default())?
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after").and_then(|v| retry::parse_retry_after(&v));
    let content_type = header("content-type").unwrap_or_default();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_API_BODY)
        .read_to_vec()?;
    Ok((status, retry_after, content_type, bytes))
}

/// Maps a non-retryable API error to the exit code design.md gives it.
pub fn api_error(api: ApiError) -> Error {
    if crate::busy::is_busy(&api) {
        return Error::temporary(crate::busy::describe(&api));
    }
    let text = api.describe();
    match api.status {
        // Cloudflare answers an unknown or revoked token with 401 / code 10000; a valid token
        // without D1 Edit gets 403 / 7403, which reads like a wrong account id.
        401 => Error::credentials(format!(
            "{text} (the API token was not accepted: check CLOUDFLARE_API_TOKEN or --token-file)"
        )),
        403 => Error::credentials(format!("{text} ({D1_EDIT_HINT})")),
        404 => Error::usage(text),
        429 | 500..=599 => Error::temporary(text),
        _ => Error::failed(text),
    }
}
