//! The emulator's shared state and its router: classify the request, count it, fire a fault if
//! one is armed for it, check auth, then hand over to the endpoint.

use crate::cli::Options;
use crate::dbs::{self, Databases, DbInfo};
use crate::envelope;
use crate::faults::{self, Endpoint, Fault, Faults, Kind};
use crate::http::{Request, Response};
use crate::signing::Signer;
use crate::spool::{Dump, Upload};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Active,
    Complete,
    Error(String),
    Cancelled,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Complete => "complete",
            Status::Error(_) => "error",
            Status::Cancelled => "cancelled",
        }
    }
}

pub struct Export {
    pub id: u64,
    pub bookmark: String,
    pub database: String,
    pub status: Status,
    /// `active` answers given so far (the start call included).
    pub active_answers: u32,
    pub polls: u32,
    pub answers: u32,
    pub last_touch: Instant,
    /// The dump's file name, or the error the export ends with.
    pub outcome: Result<String, String>,
}

pub struct Import {
    pub bookmark: String,
    pub database: String,
    pub etag: String,
    pub status: Status,
    pub polls: u32,
    /// The finished answer's `result` (complete) for init shortcuts and polls.
    pub result: Value,
    /// While active: the database as `describe` showed it before the import (its file is not
    /// opened while the import writes it).
    pub before: Option<Value>,
    /// Once finished: the database file's fingerprint, to tell whether it changed since.
    pub after: Option<dbs::Fingerprint>,
}

#[derive(Default)]
pub struct State {
    pub faults: Faults,
    pub counters: BTreeMap<&'static str, u64>,
    pub exports: Vec<Export>,
    pub dumps: HashMap<String, Arc<Dump>>,
    pub uploads: HashMap<String, Arc<Upload>>,
    pub imports: Vec<Import>,
    pub seq: u64,
    /// Databases locked after a failed export, with the end of the lock.
    pub locks: HashMap<String, Instant>,
    /// Requests refused because their database was exporting or locked, per endpoint.
    pub refused: BTreeMap<&'static str, u64>,
    /// `--rate-limit`: the current window.
    pub rate: Option<crate::ratelimit::Window>,
    /// API requests per database id (the routes that name one), refused ones included.
    pub by_database: BTreeMap<String, u64>,
}

pub struct App {
    /// Itself, for the threads it starts (imports).
    me: std::sync::Weak<App>,
    pub opts: Options,
    /// Where dumps and uploads are spooled (a temporary folder main removes at exit).
    pub spool: std::path::PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub dbs: Databases,
    pub signer: Signer,
    state: Mutex<State>,
    /// Every database's Time Travel history (timetravel.rs); its own lock, since keeping a
    /// state copies a database.
    pub travel: Mutex<crate::history::Histories>,
}

/// Counted endpoint names, reported (zeros included) by `/__emulator/state`.
const COUNTED: &[Endpoint] = &[
    Endpoint::List,
    Endpoint::Get,
    Endpoint::Create,
    Endpoint::Query,
    Endpoint::ExportStart,
    Endpoint::ExportPoll,
    Endpoint::Download,
    Endpoint::Import,
    Endpoint::Upload,
    Endpoint::Bookmark,
    Endpoint::Restore,
    Endpoint::Delete,
    Endpoint::Other,
];

/// What the router made of a request.
enum Route {
    List,
    Create,
    Get(String),
    Query(String),
    Export(String),
    Import(String),
    Bookmark(String),
    Restore(String),
    Delete(String),
    Download,
    Upload,
    Verify,
    NotFound,
    BadMethod,
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

impl App {
    pub fn new(opts: Options, base: String, dbs: Databases, spool: &std::path::Path) -> Arc<App> {
        let mut state = State::default();
        state.faults.arm(opts.faults.clone());
        state.rate = opts.rate_limit.map(crate::ratelimit::Window::new);
        for ep in COUNTED {
            state.counters.insert(ep.name(), 0);
        }
        for ep in [Endpoint::Query, Endpoint::ExportStart, Endpoint::Import] {
            state.refused.insert(ep.name(), 0);
        }
        Arc::new_cyclic(|me| App {
            me: me.clone(),
            opts,
            spool: spool.to_path_buf(),
            base,
            dbs,
            signer: Signer::new(),
            state: Mutex::new(state),
            travel: Mutex::new(Default::default()),
        })
    }

    /// An owning handle on the app, for a thread that outlives the request.
    pub fn me(&self) -> Arc<App> {
        self.me
            .upgrade()
            .expect("the app lives as long as the server")
    }

    /// The state lock; a panicking handler must not wedge every other request.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn signed_url(&self, path: &str) -> String {
        format!("{}{}", self.base, self.signer.sign(path, self.opts.url_ttl))
    }

    /// Answers one request. A panic in an endpoint is a 500 in Cloudflare's envelope, for this
    /// request only (the state lock survives it, [`App::state`]).
    pub fn handle(&self, req: &Request) -> Response {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(req)))
            .unwrap_or_else(|_| envelope::error(500, 7500, "Internal error in d1-emulator"))
    }

    fn dispatch(&self, req: &Request) -> Response {
        if let Some(rest) = req.path.strip_prefix("/__emulator/") {
            return self.control(rest, req);
        }
        let (route, account) = route(req);
        let endpoint = match &route {
            Route::List => Endpoint::List,
            Route::Create => Endpoint::Create,
            Route::Get(_) => Endpoint::Get,
            Route::Query(_) => Endpoint::Query,
            Route::Export(_) => {
                let polling = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v.get("current_bookmark").cloned())
                    .is_some_and(|b| !b.is_null());
                if polling {
                    Endpoint::ExportPoll
                } else {
                    Endpoint::ExportStart
                }
            }
            Route::Import(_) => Endpoint::Import,
            Route::Bookmark(_) => Endpoint::Bookmark,
            Route::Restore(_) => Endpoint::Restore,
            Route::Delete(_) => Endpoint::Delete,
            Route::Download => Endpoint::Download,
            Route::Upload => Endpoint::Upload,
            Route::Verify | Route::NotFound | Route::BadMethod => Endpoint::Other,
        };
        let s3 = matches!(endpoint, Endpoint::Download | Endpoint::Upload);
        let fault = {
            let mut st = self.state();
            *st.counters.entry(endpoint.name()).or_insert(0) += 1;
            if let Route::Get(id) | Route::Query(id) | Route::Export(id) | Route::Import(id) =
                &route
            {
                *st.by_database.entry(id.to_ascii_lowercase()).or_insert(0) += 1;
            }
            // The account limit covers API calls, not the object store behind signed URLs.
            if let (false, Some(w)) = (s3, st.rate.as_mut()) {
                if let Err(secs) = w.admit(Instant::now()) {
                    return envelope::error(
                        429,
                        971,
                        "Please wait and consider throttling your request speed",
                    )
                    .with_header("Retry-After", secs.to_string());
                }
            }
            if endpoint == Endpoint::Other {
                None
            } else if matches!(route, Route::Import(_)) {
                // `lost` and `hold` act on an import's ingest, not on its init or polls.
                let ingest = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .is_some_and(|v| v.get("action").and_then(Value::as_str) == Some("ingest"));
                st.faults.take_if(endpoint, false, |k| {
                    ingest || !matches!(k, Kind::ImportLost | Kind::ImportHold)
                })
            } else {
                st.faults.take(endpoint, req.method == "HEAD")
            }
        };
        if fault.as_ref().is_some_and(|f| f.kind == Kind::Redirect) {
            return self.redirect(req);
        }
        let fault = match fault {
            Some(f) => match early_fault(&f, s3) {
                Some(resp) => return resp,
                None => Some(f),
            },
            None => None,
        };
        match route {
            Route::Download => return self.download(req, fault.as_ref()),
            Route::Upload => return self.upload(req, fault.as_ref()),
            Route::NotFound => return envelope::error(404, 7000, "No route for that URI"),
            Route::BadMethod => return envelope::error(405, 7001, "Method not allowed"),
            _ => {}
        }
        if let Err(resp) = self.authorize(req, account.as_deref(), matches!(route, Route::Verify)) {
            return resp;
        }
        match route {
            Route::Verify => envelope::ok(json!({
                "id": "emulator-token-id", "status": "active",
                "not_before": null, "expires_on": null
            })),
            Route::List => self.list(req),
            Route::Create => self.create(req),
            Route::Get(id) => match self.dbs.find(&id) {
                Some(db) => envelope::ok(self.describe(&db)),
                None => not_found(&id),
            },
            Route::Query(id) => self.with_db(&id, |db| self.query(db, req)),
            Route::Export(id) => self.with_db(&id, |db| self.export(db, req, fault.as_ref())),
            Route::Import(id) => self.with_db(&id, |db| self.import(db, req, fault.as_ref())),
            Route::Bookmark(id) => {
                self.with_db(&id, |db| self.tt_bookmark(db, req, fault.as_ref()))
            }
            Route::Restore(id) => self.with_db(&id, |db| self.tt_restore(db, req, fault.as_ref())),
            Route::Delete(id) => self.with_db(&id, |db| self.delete_db(db)),
            _ => envelope::error(404, 7000, "No route for that URI"),
        }
    }

    fn with_db(&self, id: &str, f: impl FnOnce(&DbInfo) -> Response) -> Response {
        match self.dbs.find(id) {
            Some(db) => f(&db),
            None => not_found(id),
        }
    }

    /// Bearer token, then account id. A read-only token is valid but refused on D1 endpoints.
    fn authorize(
        &self,
        req: &Request,
        account: Option<&str>,
        verify: bool,
    ) -> Result<(), Response> {
        let token = req
            .header("Authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let read_only = self.opts.read_only_token.as_deref();
        match token {
            Some(t) if t == self.opts.token => {}
            Some(t) if Some(t) == read_only => {
                if !verify {
                    return Err(forbidden());
                }
            }
            _ => return Err(envelope::error(401, 10000, "Authentication error")),
        }
        if let Some(acct) = account {
            if acct != self.opts.account_id {
                return Err(forbidden());
            }
        }
        Ok(())
    }

    /// `describe`, except for a database being imported: its file is not opened while the
    /// import writes it, and the answer is the database as it was before the import.
    fn describe(&self, db: &DbInfo) -> Value {
        let before = self
            .state()
            .imports
            .iter()
            .find(|i| i.database == db.uuid && i.status == Status::Active)
            .and_then(|i| i.before.clone());
        before.unwrap_or_else(|| dbs::describe(db))
    }

    /// `GET .../d1/database`: D1's paging (`page` from 1, `per_page` 10 to 10000, default
    /// 100, `result_info`), the `name` filter and the `fields` selection (`?fields=uuid,name`,
    /// which wrangler 4.102 and later uses to resolve a name).
    fn list(&self, req: &Request) -> Response {
        let number = |k: &str, default: usize| match req.query_param(k) {
            None => Ok(default),
            Some(v) => v.parse::<usize>().map_err(|_| v),
        };
        let (page, per_page) = match (number("page", 1), number("per_page", 100)) {
            (Ok(p), Ok(pp)) => (p, pp),
            _ => return envelope::error(400, 7400, "page and per_page must be whole numbers"),
        };
        // Out of range is refused rather than clamped: a client that relied on clamping here
        // would break against D1 (the range is documented, the answer to a value outside it
        // is not; the emulator takes the strict reading).
        if page < 1 {
            return envelope::error(400, 7400, "page must be at least 1");
        }
        if !(10..=10_000).contains(&per_page) {
            return envelope::error(400, 7400, "per_page must be between 10 and 10000");
        }
        let fields: Option<Vec<String>> = req.query_param("fields").map(|f| {
            f.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        });
        let name = req.query_param("name").unwrap_or_default();
        // Cloudflare filters by name loosely; here: a substring match (exact names match too).
        let all: Vec<DbInfo> = self
            .dbs
            .list()
            .into_iter()
            .filter(|d| name.is_empty() || d.name.contains(&name))
            .collect();
        let total = all.len();
        let items: Vec<Value> = all
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .map(|d| match &fields {
                // Only the fields asked for (and known); nothing opened for uuid and name.
                Some(f) => {
                    let full = if f.iter().all(|x| x == "uuid" || x == "name") {
                        json!({"uuid": d.uuid, "name": d.name})
                    } else {
                        self.describe(d)
                    };
                    let mut obj = serde_json::Map::new();
                    for k in f {
                        if let Some(v) = full.get(k.as_str()) {
                            obj.insert(k.clone(), v.clone());
                        }
                    }
                    Value::Object(obj)
                }
                None => self.describe(d),
            })
            .collect();
        let info =
            json!({"page": page, "per_page": per_page, "count": items.len(), "total_count": total});
        envelope::ok_with(Value::Array(items), &[("result_info", info)])
    }

    fn create(&self, req: &Request) -> Response {
        let name = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string));
        let Some(name) = name else {
            return envelope::error(
                400,
                7400,
                "Request body must be JSON with a \"name\" string",
            );
        };
        if !dbs::valid_name(&name) {
            return envelope::error(
                400,
                7400,
                "Invalid database name: use letters, digits, '-' and '_', at most 64 characters",
            );
        }
        let _guard = self.state(); // serialise creations
        if self.dbs.by_name(&name).is_some() {
            return envelope::error(
                409,
                7502,
                &format!("A database with the name {name} already exists"),
            );
        }
        match self.dbs.create(&name) {
            Ok(db) => envelope::ok(dbs::describe(&db)),
            Err(e) => envelope::error(500, 7500, &e),
        }
    }

    fn query(&self, db: &DbInfo, req: &Request) -> Response {
        let body: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return envelope::error(400, 7400, "Request body must be JSON"),
        };
        let Some(sql) = body.get("sql").and_then(Value::as_str) else {
            return envelope::error(400, 7400, "Request body must have a \"sql\" string");
        };
        let params = match body.get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return envelope::error(400, 7400, "\"params\" must be an array"),
        };
        {
            let mut st = self.state();
            if let Some(why) = self.busy(&mut st, &db.uuid) {
                return self.refuse(&mut st, Endpoint::Query.name(), why);
            }
        }
        let mut conn = match dbs::open_rw(&db.path) {
            Ok(c) => c,
            Err(e) => return envelope::error(500, 7500, &e.to_string()),
        };
        let writes = crate::history::may_write(&conn, sql);
        if writes {
            if let Err(e) = self.before_write(db) {
                return envelope::error(500, 7500, &e);
            }
        }
        let answer = match crate::query::run(&mut conn, sql, &params) {
            Ok((result, _)) => envelope::ok_raw(&result),
            Err(f) => envelope::error(400, 7500, &f.message),
        };
        drop(conn);
        if writes {
            self.after_write(db);
        }
        answer
    }

    fn control(&self, what: &str, req: &Request) -> Response {
        match (req.method.as_str(), what) {
            ("POST", "faults") => {
                let text = String::from_utf8_lossy(&req.body);
                match faults::parse_many(&text) {
                    Ok(fs) => {
                        let n = fs.len();
                        let mut st = self.state();
                        st.faults.arm(fs);
                        envelope::json_response(
                            200,
                            &json!({"armed": n, "pending": st.faults.pending()}),
                        )
                    }
                    Err(e) => envelope::json_response(400, &json!({"error": e})),
                }
            }
            ("DELETE", "faults") => {
                self.state().faults.clear();
                envelope::json_response(200, &json!({"pending": 0}))
            }
            ("GET", "state") => {
                let mut st = self.state();
                self.expire_exports(&mut st);
                let exports: Vec<Value> = st
                    .exports
                    .iter()
                    .map(|e| {
                        let error = match &e.status {
                            Status::Error(m) => Some(m.clone()),
                            _ => None,
                        };
                        json!({"bookmark": e.bookmark, "database": e.database,
                                    "status": e.status.name(), "polls": e.polls, "error": error})
                    })
                    .collect();
                let now = Instant::now();
                st.locks.retain(|_, until| *until > now);
                let mut locks: Vec<Value> = st
                    .locks
                    .iter()
                    .map(|(db, until)| {
                        let left = until.saturating_duration_since(now).as_millis() as u64;
                        json!({"database": db, "remaining_ms": left})
                    })
                    .collect();
                locks.sort_by(|a, b| a["database"].as_str().cmp(&b["database"].as_str()));
                let imports: Vec<Value> = st
                    .imports
                    .iter()
                    .map(|i| {
                        json!({"bookmark": i.bookmark, "database": i.database,
                                    "status": i.status.name(), "polls": i.polls, "etag": i.etag})
                    })
                    .collect();
                let rate = st.rate.as_ref().map(|w| {
                    json!({"requests": w.limit.requests, "window_seconds": w.limit.window.as_secs(),
                           "used": w.used, "refused": w.refused})
                });
                envelope::json_response(
                    200,
                    &json!({"exports": exports, "imports": imports, "locks": locks,
                            "faults_pending": st.faults.pending(), "requests": st.counters,
                            "requests_by_database": st.by_database,
                            "refused": st.refused, "rate_limit": rate}),
                )
            }
            _ => envelope::json_response(404, &json!({"error": "unknown control endpoint"})),
        }
    }

    /// Cancels active exports nobody polled for `--cancel-after-ms`.
    pub fn expire_exports(&self, st: &mut State) {
        let limit = Duration::from_millis(self.opts.cancel_after_ms);
        for e in st.exports.iter_mut() {
            if e.status == Status::Active && e.last_touch.elapsed() > limit {
                e.status = Status::Cancelled;
            }
        }
    }
}

impl App {
    /// The `redirect` fault: the same request sent to 127.0.0.1 spelled as one decimal number,
    /// over plain HTTP (faults.rs).
    fn redirect(&self, req: &Request) -> Response {
        let base = self.base.replacen("127.0.0.1", "2130706433", 1);
        let query = if req.query.is_empty() {
            String::new()
        } else {
            format!("?{}", req.query)
        };
        Response::new(302, "text/plain", b"Found".to_vec())
            .with_header("Location", format!("{base}{}{query}", req.path))
    }
}

fn forbidden() -> Response {
    envelope::error(
        403,
        7403,
        "The given account is not valid or is not authorized to access this service",
    )
}

fn not_found(id: &str) -> Response {
    envelope::error(404, 7404, &format!("The database {id} could not be found"))
}

/// Faults answered before the endpoint runs: statuses, HTML, resets; `slow` sleeps here.
fn early_fault(f: &Fault, s3: bool) -> Option<Response> {
    match f.kind {
        Kind::Status(code) => {
            let mut resp = match (code, s3) {
                (429, false) => envelope::error(
                    429,
                    971,
                    "Please wait and consider throttling your request speed",
                ),
                (429, true) | (503, true) => {
                    envelope::s3_error(code, "SlowDown", "Please reduce your request rate.")
                }
                (_, true) => envelope::s3_error(
                    code,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ),
                (503, false) => envelope::error(503, 7500, "Service unavailable"),
                _ => envelope::error(code, 7500, "Internal error"),
            };
            if let Some(secs) = f.retry_after {
                resp = resp.with_header("Retry-After", secs.to_string());
            }
            Some(resp)
        }
        Kind::Html502 => Some(envelope::html_502()),
        Kind::Reset => Some(Response::reset()),
        Kind::Slow => {
            std::thread::sleep(Duration::from_millis(f.ms));
            None
        }
        _ => None,
    }
}

/// Maps method and path to a route, with the account id from the path when there is one.
fn route(req: &Request) -> (Route, Option<String>) {
    let m = req.method.as_str();
    if req.path.starts_with("/dumps/") {
        return (
            if m == "GET" || m == "HEAD" {
                Route::Download
            } else {
                Route::BadMethod
            },
            None,
        );
    }
    if req.path.starts_with("/uploads/") {
        return (
            if m == "PUT" {
                Route::Upload
            } else {
                Route::BadMethod
            },
            None,
        );
    }
    let Some(rest) = req.path.strip_prefix("/client/v4/") else {
        return (Route::NotFound, None);
    };
    let seg: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(crate::http::percent_decode)
        .collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let r = match seg.as_slice() {
        ["user", "tokens", "verify"] => {
            return (
                if m == "GET" {
                    Route::Verify
                } else {
                    Route::BadMethod
                },
                None,
            )
        }
        ["accounts", acct, "tokens", "verify"] => {
            return (
                if m == "GET" {
                    Route::Verify
                } else {
                    Route::BadMethod
                },
                Some(acct.to_string()),
            )
        }
        ["accounts", _, "d1", "database"] => match m {
            "GET" => Route::List,
            "POST" => Route::Create,
            _ => Route::BadMethod,
        },
        ["accounts", _, "d1", "database", id] if m == "GET" => Route::Get(id.to_string()),
        ["accounts", _, "d1", "database", id] if m == "DELETE" => Route::Delete(id.to_string()),
        ["accounts", _, "d1", "database", id, "time_travel", "bookmark"] if m == "GET" => {
            Route::Bookmark(id.to_string())
        }
        ["accounts", _, "d1", "database", id, "time_travel", "restore"] if m == "POST" => {
            Route::Restore(id.to_string())
        }
        ["accounts", _, "d1", "database", _, "time_travel", _] => Route::BadMethod,
        ["accounts", _, "d1", "database", id, "query"] if m == "POST" => {
            Route::Query(id.to_string())
        }
        ["accounts", _, "d1", "database", id, "export"] if m == "POST" => {
            Route::Export(id.to_string())
        }
        ["accounts", _, "d1", "database", id, "import"] if m == "POST" => {
            Route::Import(id.to_string())
        }
        ["accounts", _, "d1", "database", _] | ["accounts", _, "d1", "database", _, _] => {
            Route::BadMethod
        }
        _ => Route::NotFound,
    };
    let account = match seg.as_slice() {
        ["accounts", acct, ..] => Some(acct.to_string()),
        _ => None,
    };
    (r, account)
}
