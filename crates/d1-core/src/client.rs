//! The Cloudflare API client over the one HTTP layer (`http.rs`): bearer auth, the envelope
//! decoded into a result or a typed error, retries (`retry::run`) on connection errors, 429 and
//! 5xx (never on other 4xx), no redirects, one deadline for the whole operation, and every
//! message redacted.

use crate::budget::Priority;
use crate::config::Config;
use crate::envelope::{self, ApiError};
use crate::error::{Error, Result};
use crate::retry::{self, Deadline, Failure, Policy};
use serde_json::Value;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// API requests this process sent (every attempt counts: retries are requests too).
static SENT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The same count for this thread: a tool that works on one database per thread at a time
    /// (d1-export-wait's workers) learns what each database cost.
    static SENT_HERE: Cell<u64> = const { Cell::new(0) };
}

/// API requests sent by this process so far.
pub fn requests_sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// API requests sent by this thread so far.
pub fn requests_sent_here() -> u64 {
    SENT_HERE.with(Cell::get)
}

/// No single API call waits longer than this, whatever the overall deadline: a long poll is
/// held for seconds, not minutes, so a silent server is treated as a failed attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Bodies of API answers are small JSON; a larger one is not an API answer.
const MAX_API_BODY: u64 = 64 * 1024 * 1024;

/// The hint a 403 on a D1 endpoint carries: a read-only token's error looks like a wrong
/// account id (docs/d1-emulator.md, "Endpoints").
pub const D1_EDIT_HINT: &str =
    "the API token needs the D1 Edit permission, even for export, and CLOUDFLARE_ACCOUNT_ID must \
     be the account that owns the database: D1 answers a read-only token and a wrong account id \
     alike";

// The transport helpers moved to the one HTTP layer; kept here under their old names.
pub use crate::http::{describe_transport, transport_retryable};

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
    /// Whose requests these are, for the budget: d1-export-wait's keep exports alive.
    priority: Priority,
}

impl Client {
    /// A client for the API at `cfg`'s base URL. Fails (exit 2) when the environment names a
    /// proxy that is not a valid URL.
    pub fn new(cfg: &Config, policy: Policy, deadline: Deadline) -> Result<Client> {
        let limit = crate::budget::limit().unwrap_or(Some(crate::budget::DEFAULT));
        let d1_url = cfg.d1_url();
        Ok(Client {
            agent: crate::http::agent(&d1_url, |b| b)?,
            auth: format!("Bearer {}", cfg.token),
            d1_url,
            policy,
            deadline,
            budget: limit
                .map(|l| crate::budget::Budget::for_account(&cfg.base_url, &cfg.account_id, l)),
            priority: Priority::Normal,
        })
    }

    /// The same client for requests that keep running exports alive: the budget serves them
    /// first (budget.rs).
    pub fn keeping_exports_alive(mut self) -> Client {
        self.priority = Priority::KeepAlive;
        self
    }

    /// The same client for a run of shard `shard`: the budget is this host's share of the
    /// account's (budget.rs).
    pub fn in_shard(mut self, shard: crate::shard::Shard) -> Client {
        if let Some(b) = &mut self.budget {
            b.set_shard(shard);
        }
        self
    }

    /// How many databases each of the N shards backs up (`sizes`): this shard's share of the
    /// account's budget from now on (budget.rs, `weight`).
    pub fn set_shard_sizes(&mut self, shard: crate::shard::Shard, sizes: &[usize]) {
        if let Some(b) = &mut self.budget {
            b.set_weight(crate::budget::weight(shard, sizes));
        }
    }

    /// The same client with no retries and its own short deadline, for one last question
    /// after an interruption.
    pub fn impatient(&self, timeout: Duration) -> Client {
        Client {
            agent: self.agent.clone(),
            auth: self.auth.clone(),
            d1_url: self.d1_url.clone(),
            policy: Policy {
                retries: 0,
                ..self.policy
            },
            deadline: Deadline::after(Some(timeout)),
            budget: self.budget.clone(),
            priority: self.priority,
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
        self.call_once(method, url, body)
            .map_err(|e| self.explain_forbidden(e, url))
    }

    /// D1 answers a token without D1 Edit and a wrong account id with the same 403 / 7403
    /// (docs/d1-emulator.md, "Endpoints"). One question to the account's token-verify endpoint
    /// tells them apart: a token valid for this account lacks the permission; one refused there is
    /// for another account, or the account id is wrong. Any other answer leaves both causes named.
    fn explain_forbidden(&self, e: Error, url: &str) -> Error {
        let Some(account_url) = self.d1_url.strip_suffix("/d1/database") else {
            return e;
        };
        let verify = format!("{account_url}/tokens/verify");
        if e.code() != crate::ExitCode::Credentials
            || !e.message.contains(D1_EDIT_HINT)
            || url == verify
        {
            return e;
        }
        let account = account_url.rsplit('/').next().unwrap_or_default();
        let answer = self
            .impatient(Duration::from_secs(10))
            .call_once("GET", &verify, None);
        let text = e.message.replace(&format!(" ({D1_EDIT_HINT})"), "");
        match answer {
            Ok(a) if a.result["status"] == "active" => Error::credentials(format!(
                "{text} (the token is valid for account {account}: it needs the D1 Edit \
                 permission, even for export)"
            )),
            Err(v) if v.code() == crate::ExitCode::Credentials => Error::credentials(format!(
                "{text} (the token is not accepted for account {account} either: check \
                 CLOUDFLARE_ACCOUNT_ID, or use a token of that account)"
            )),
            _ => e,
        }
    }

    fn call_once(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Answer> {
        retry::run(&self.policy, &self.deadline, || {
            if let Some(b) = &self.budget {
                b.take(self.priority, &self.deadline)?;
            }
            SENT.fetch_add(1, Ordering::Relaxed);
            SENT_HERE.with(|n| n.set(n.get() + 1));
            let timeout = self.deadline.cap(REQUEST_TIMEOUT);
            let sent = match self.send_interruptibly(method, url, body, timeout)? {
                Ok(sent) => sent,
                Err(e) if transport_retryable(&e) => {
                    return Err(Failure::again(describe_transport(&e), None))
                }
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    return Err(Failure::Fatal(Error::failed(format!(
                        "the API answered more than {} MiB, which no API answer is",
                        MAX_API_BODY >> 20
                    ))))
                }
                Err(e) => return Err(Failure::Fatal(Error::failed(describe_transport(&e)))),
            };
            if (300..400).contains(&sent.status) {
                return Err(Failure::Fatal(crate::http::redirect_refused(
                    sent.status,
                    sent.location.as_deref(),
                )));
            }
            match envelope::decode(sent.status, &sent.content_type, &sent.bytes) {
                Ok((result, messages)) => Ok(Answer { result, messages }),
                // Busy with an export: not retried, whatever the status (busy.rs).
                Err(api) if crate::busy::is_busy(&api) => Err(Failure::Fatal(api_error(api))),
                Err(api) if crate::retry::retryable_status(sent.status) => {
                    Err(Failure::again(api.describe(), sent.retry_after))
                }
                Err(api) => Err(Failure::Fatal(api_error(api))),
            }
        })
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
        let agent = self.agent.clone();
        let auth = self.auth.clone();
        let is_get = method == "GET";
        let url = url.to_string();
        let body = body.map(Value::to_string);
        crate::signal::interruptibly(move || send(&agent, &auth, is_get, &url, body, timeout))
    }
}

/// What one request came back with.
struct Sent {
    status: u16,
    retry_after: Option<Duration>,
    /// Where a 3xx pointed (never followed).
    location: Option<String>,
    content_type: String,
    bytes: Vec<u8>,
}

type SendResult = Result<Sent, ureq::Error>;

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
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_API_BODY)
        .read_to_vec()?;
    Ok(Sent {
        status: resp.status().as_u16(),
        retry_after: crate::http::retry_after(&resp),
        location: crate::http::header(&resp, "location"),
        content_type: crate::http::header(&resp, "content-type").unwrap_or_default(),
        bytes,
    })
}

/// Maps a non-retryable API error to the exit code docs/README.md gives it ("Exit codes").
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
