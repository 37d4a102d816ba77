//! The account's request budget, shared by every d1-tool on this host (issue 23). Cloudflare
//! allows 1200 API requests per 5 minutes per account and then refuses every request for the
//! rest of the window (429, code 971): a night of polling dozens of exports at once, from one
//! process or from `make -j`, must stay under it or every backup fails together.
//!
//! A token bucket in a small file per account, taken under an exclusive lock: a burst of a tenth
//! of the budget (at most 60) at once, then the rest spread over the window. Any window then
//! holds at most the budget, which the default (1000 per 300 s) keeps below 1200 with room for
//! other clients of the account (wrangler, dashboards). `D1_REQUEST_BUDGET=N/SECONDS` sets it;
//! `0` turns pacing off.
//!
//! Three rules on top (issues 30 and 35):
//! - **Polls first.** D1 cancels an export nobody polls, so a request that keeps a running export
//!   alive ([`Priority::KeepAlive`], d1-export-wait's) may take the last tokens, while any other
//!   leaves half the burst in reserve, and waits while a keep-alive request is waiting. Starting
//!   exports thus only ever spends what polling leaves over.
//! - **Shards share the account.** A tool of shard I of N (`d1-export-start --shard`) records its
//!   shard in the file with its weight ([`weight`]: its share of the databases, at least half
//!   of 1/N). The bucket then holds the weights of the shards seen on this host, for every
//!   tool that uses the file, d1-export-wait included. N hosts running one shard each stay within
//!   the budget together; every shard keeps enough to poll its exports, and a fuller shard (a
//!   hash never splits evenly) gets more. The shards are forgotten once the file has been idle
//!   for a window.
//! - **The file is ours or unused.** Its folder must be a directory of this user's that nobody
//!   else may write, the file a regular file of ours opened without following links, the lock
//!   waited for a bounded time, and every wait bounded by the run's deadline and answering
//!   signals. A state file that cannot be used this way is not a reason to fail a backup: the
//!   process paces itself alone, and says so.

use crate::error::{Error, Result};
use crate::retry::Deadline;
use crate::shard::Shard;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Most requests that may go at once before pacing starts.
const MAX_BURST: f64 = 60.0;

/// How long a tool waits for another process's lock on the state file (held for microseconds by
/// a well-behaved tool) before it paces itself alone.
const LOCK_PATIENCE: Duration = Duration::from_millis(2000);

/// A waiting keep-alive request holds the others back this long past its expected turn.
const KEEPALIVE_GRACE: f64 = 0.5;

/// The state file is one short line; more is not ours.
const MAX_STATE: u64 = 4096;

/// Requests per window for this host's tools together: `requests` per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub requests: u32,
    pub seconds: u32,
}

/// 1000 per 5 minutes: under Cloudflare's 1200, with room for other clients.
pub const DEFAULT: Limit = Limit {
    requests: 1000,
    seconds: 300,
};

/// Who asks for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Anything that can wait: listing, the preflight, starting an export.
    Normal,
    /// A poll that keeps a running export alive.
    KeepAlive,
}

/// A budget for one account.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The state file; `None` when its folder is not usable (this process paces alone).
    path: Option<PathBuf>,
    limit: Limit,
    shard: Option<Part>,
    /// The bucket of this process alone, once the file proved unusable.
    memory: Arc<Mutex<State>>,
    on_file: Arc<AtomicBool>,
}

/// Nanoseconds this process spent waiting for the budget.
static PACED_NANOS: AtomicU64 = AtomicU64::new(0);
static ANNOUNCED: AtomicBool = AtomicBool::new(false);
static FILE_WARNED: AtomicBool = AtomicBool::new(false);

/// How long this process waited for the budget so far (for the run's summary).
pub fn paced() -> Duration {
    Duration::from_nanos(PACED_NANOS.load(Ordering::Relaxed))
}

/// `D1_REQUEST_BUDGET` (`N/SECONDS`, default [`DEFAULT`]; `0` turns pacing off). Config::load
/// checks it, so that a typo is a usage error and not silently the default.
pub fn limit() -> Result<Option<Limit>> {
    match std::env::var("D1_REQUEST_BUDGET") {
        Ok(v) => parse_limit(&v),
        Err(_) => Ok(Some(DEFAULT)),
    }
}

fn parse_limit(v: &str) -> Result<Option<Limit>> {
    let v = v.trim();
    if v == "0" {
        return Ok(None);
    }
    let parsed = v.split_once('/').and_then(|(n, s)| {
        let (n, s) = (n.parse::<u32>().ok()?, s.parse::<u32>().ok()?);
        (n > 0 && s > 0).then_some(Limit {
            requests: n,
            seconds: s,
        })
    });
    parsed.map(Some).ok_or_else(|| {
        Error::usage(format!(
            "D1_REQUEST_BUDGET: {v:?} is not REQUESTS/SECONDS (like 1000/300), or 0 for no pacing"
        ))
    })
}

/// A shard seen on this host, and its weight: the share of the account's budget it may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    pub shard: Shard,
    pub weight: f64,
}

impl Part {
    /// Shard `shard` with an even share, 1/N.
    pub fn even(shard: Shard) -> Part {
        Part {
            shard,
            weight: 1.0 / f64::from(shard.count.max(1)),
        }
    }

    /// `I/N=WEIGHT` (`I/N` alone: the even share).
    fn parse(w: &str) -> Option<Part> {
        let (s, weight) = match w.split_once('=') {
            Some((s, wt)) => (s, Some(wt.parse::<f64>().ok()?)),
            None => (w, None),
        };
        let shard = Shard::parse(s).ok()?;
        let weight = weight.unwrap_or(1.0 / f64::from(shard.count));
        (weight.is_finite() && (0.0..=1.0).contains(&weight)).then_some(Part { shard, weight })
    }
}

/// The bucket: tokens left at `last` (Unix seconds), until when a keep-alive request waits,
/// and the shards seen on this host.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    tokens: Option<f64>,
    last: f64,
    keepalive_until: f64,
    shards: Vec<Part>,
}

/// What a budget allows once shared: `burst` at once, then `rate` a second; a `reserve` of
/// the burst that only keep-alive requests may take.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shape {
    burst: f64,
    rate: f64,
    reserve: f64,
    /// This host's share of the budget (1 unsharded).
    share: f64,
}

impl Shape {
    fn of(limit: Limit, share: f64) -> Shape {
        let n = f64::from(limit.requests) * share;
        // At least two, so that the poll after a start always has its token (the reserve): an
        // export started on the last token would wait a whole token's time for its first poll,
        // longer than D1 keeps an export nobody polls when the budget is small.
        let burst = (n / 10.0).clamp(2.0, MAX_BURST);
        // What the burst leaves of the window, spread over it.
        let rate = (n - burst).max(1.0) / f64::from(limit.seconds);
        let reserve = (burst / 2.0).floor();
        Shape {
            burst,
            rate,
            reserve,
            share,
        }
    }
}

/// The weight of shard `shard` given how many databases each of the N shards backs up (`sizes`,
/// counted by every shard alike from the same list): its part of the databases, so that the
/// shards end together however unevenly the hash split them; but never less than half an even
/// share, so that a shard holding few databases can still poll its exports; scaled so that the
/// N weights add up to 1.
pub fn weight(shard: Shard, sizes: &[usize]) -> f64 {
    let n = shard.count.max(1) as usize;
    let total: usize = sizes.iter().sum();
    if sizes.len() != n || total == 0 {
        return 1.0 / n as f64;
    }
    let floor = 0.5 / n as f64;
    let part = |k: usize| (k as f64 / total as f64).max(floor);
    let all: f64 = sizes.iter().map(|k| part(*k)).sum();
    (part(sizes[shard.index as usize]) / all).clamp(0.0, 1.0)
}

/// The share of the budget for the shards on one host: their weights, at most the whole.
fn share(shards: &[Part]) -> f64 {
    if shards.is_empty() {
        return 1.0;
    }
    shards.iter().map(|p| p.weight).sum::<f64>().min(1.0)
}

impl State {
    fn parse(text: &str) -> State {
        let mut it = text.split_whitespace();
        let mut num = || it.next().and_then(|w| w.parse::<f64>().ok());
        let (Some(tokens), Some(last)) = (num(), num()) else {
            return State::default();
        };
        if !tokens.is_finite() || !last.is_finite() {
            return State::default();
        }
        let keepalive_until = num().filter(|v| v.is_finite()).unwrap_or(0.0);
        let shards = text
            .split_whitespace()
            .skip(3)
            .filter_map(Part::parse)
            .collect();
        State {
            tokens: Some(tokens.max(0.0)),
            last,
            keepalive_until,
            shards,
        }
    }

    fn render(&self) -> String {
        let mut s = format!(
            "{:.6} {:.6} {:.6}",
            self.tokens.unwrap_or(0.0),
            self.last,
            self.keepalive_until
        );
        for p in &self.shards {
            s.push_str(&format!(" {}={:.6}", p.shard, p.weight));
        }
        s.push('\n');
        s
    }

    /// One request at `now`: zero when it may go (a token taken), else how long until it may.
    fn take(&mut self, limit: Limit, me: Option<Part>, priority: Priority, now: f64) -> Duration {
        if now - self.last > f64::from(limit.seconds) {
            // Idle for a whole window: the shards of an earlier night are gone.
            self.shards.clear();
            self.keepalive_until = 0.0;
        }
        if let Some(me) = me {
            self.shards.retain(|p| p.shard != me.shard);
            self.shards.push(me);
        }
        let shape = Shape::of(limit, share(&self.shards));
        let tokens = match self.tokens {
            Some(t) => (t + (now - self.last).max(0.0) * shape.rate).min(shape.burst),
            None => shape.burst,
        };
        self.last = now;
        let (tokens, wait) = match priority {
            Priority::KeepAlive if tokens >= 1.0 => (tokens - 1.0, 0.0),
            Priority::KeepAlive => {
                let wait = (1.0 - tokens) / shape.rate;
                self.keepalive_until = self.keepalive_until.max(now + wait + KEEPALIVE_GRACE);
                (tokens, wait)
            }
            Priority::Normal if now < self.keepalive_until => (tokens, self.keepalive_until - now),
            Priority::Normal if tokens >= 1.0 + shape.reserve => (tokens - 1.0, 0.0),
            Priority::Normal => (tokens, (1.0 + shape.reserve - tokens) / shape.rate),
        };
        self.tokens = Some(tokens);
        Duration::from_secs_f64(wait.clamp(0.0, 1e12))
    }
}

/// Why the state file could not be used this time.
enum FileTrouble {
    /// Not usable at all (not ours, a link, a FIFO, locked for long): pace alone from now on.
    Unusable(String),
    /// The run must end (a signal, the deadline).
    End(Error),
}

impl Budget {
    /// The budget of `account` at the API `base_url` on this host, kept in
    /// `$XDG_RUNTIME_DIR/d1-tools/` (else `$TMPDIR` or `/tmp`, in a folder `d1-tools-UID` of this
    /// user's). Each API (Cloudflare, an emulator on its port) has its own.
    pub fn for_account(base_url: &str, account: &str, limit: Limit) -> Budget {
        let name: String = format!("{account}-{base_url}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(160)
            .collect();
        match state_dir() {
            Ok(dir) => Budget::at(dir.join(format!("requests-{name}")), limit),
            Err(why) => {
                warn_alone(&why);
                let mut b = Budget::at(PathBuf::new(), limit);
                b.path = None;
                b
            }
        }
    }

    pub fn at(path: PathBuf, limit: Limit) -> Budget {
        Budget {
            path: Some(path),
            limit,
            shard: None,
            memory: Arc::new(Mutex::new(State::default())),
            on_file: Arc::new(AtomicBool::new(true)),
        }
    }

    /// This process runs shard `shard`, with an even share until [`Budget::set_weight`]: the
    /// bucket holds the share of the shards on this host.
    pub fn set_shard(&mut self, shard: Shard) {
        self.shard = Some(Part::even(shard));
    }

    /// The share of the account's budget this shard may use ([`weight`]).
    pub fn set_weight(&mut self, weight: f64) {
        if let Some(p) = &mut self.shard {
            p.weight = weight.clamp(0.0, 1.0);
        }
    }

    /// Takes one request from the budget, waiting while it is spent. The first wait of the
    /// process is announced once; a wait that would end after `deadline` is exit 75 at once.
    pub fn take(&self, priority: Priority, deadline: &Deadline) -> Result<()> {
        loop {
            crate::signal::check()?;
            let (wait, shards) = self.try_take(priority, deadline)?;
            if wait.is_zero() {
                return Ok(());
            }
            self.announce(wait, &shards);
            if deadline.remaining().is_some_and(|r| r < wait) {
                return Err(Error::temporary(format!(
                    "pacing requests to the account's budget (D1_REQUEST_BUDGET={}/{}): the next \
                     request would be after the deadline (--timeout), in {}",
                    self.limit.requests,
                    self.limit.seconds,
                    human_wait(wait)
                )));
            }
            let slice = wait.min(Duration::from_millis(100));
            std::thread::sleep(slice);
            PACED_NANOS.fetch_add(slice.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// One look at the bucket: zero when a token was taken, else how long until the next; and
    /// the shards the bucket is shared by.
    fn try_take(&self, priority: Priority, deadline: &Deadline) -> Result<(Duration, Vec<Part>)> {
        if let Some(path) = self.path.as_deref().filter(|_| self.on_file()) {
            match self.take_from_file(path, priority, deadline) {
                Ok(taken) => return Ok(taken),
                Err(FileTrouble::End(e)) => return Err(e),
                Err(FileTrouble::Unusable(why)) => {
                    warn_alone(&why);
                    self.on_file.store(false, Ordering::Relaxed);
                }
            }
        }
        let mut st = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let wait = st.take(self.limit, self.shard, priority, now_secs());
        Ok((wait, st.shards.clone()))
    }

    fn on_file(&self) -> bool {
        self.on_file.load(Ordering::Relaxed)
    }

    /// One locked read-modify-write of the state file.
    fn take_from_file(
        &self,
        path: &Path,
        priority: Priority,
        deadline: &Deadline,
    ) -> std::result::Result<(Duration, Vec<Part>), FileTrouble> {
        let mut f = open_state(path).map_err(FileTrouble::Unusable)?;
        lock(&f, path, deadline)?;
        let mut text = String::new();
        let read = (&f).take(MAX_STATE).read_to_string(&mut text);
        let mut st = match read {
            Ok(_) => State::parse(&text),
            Err(_) => State::default(),
        };
        let wait = st.take(self.limit, self.shard, priority, now_secs());
        let written = f
            .set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(st.render().as_bytes()));
        if let Err(e) = written {
            return Err(FileTrouble::Unusable(format!(
                "the request budget's state file {} cannot be written ({e})",
                path.display()
            )));
        }
        Ok((wait, st.shards))
    }

    fn announce(&self, wait: Duration, shards: &[Part]) {
        if ANNOUNCED.swap(true, Ordering::Relaxed) {
            return;
        }
        let shape = Shape::of(self.limit, share(shards));
        let host = if shape.share < 1.0 {
            let names: Vec<String> = shards.iter().map(|p| p.shard.to_string()).collect();
            format!(
                ", this host's share {:.3} for shard(s) {}",
                shape.share,
                names.join(" ")
            )
        } else {
            String::new()
        };
        crate::msg::info(&format!(
            "pacing API requests to the account's budget (D1_REQUEST_BUDGET={}/{}{host}: {} at \
             once, then one every {}): the run takes longer{}",
            self.limit.requests,
            self.limit.seconds,
            shape.burst.floor(),
            human_wait(Duration::from_secs_f64(1.0 / shape.rate)),
            if wait >= Duration::from_secs(1) {
                format!(", the next request in {}", human_wait(wait))
            } else {
                String::new()
            },
        ));
    }
}

fn human_wait(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 86_400.0 * 2.0 {
        format!("{:.0} days", s / 86_400.0)
    } else if s >= 120.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn warn_alone(why: &str) {
    if !FILE_WARNED.swap(true, Ordering::Relaxed) {
        crate::msg::warn(&format!(
            "{why}; pacing this process's requests on its own, without the other tools of this \
             host"
        ));
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The folder of the state files, made if absent, and checked: a directory (not a link) of this
/// user's that no one else can write or read. `Err` says why it is not usable.
fn state_dir() -> std::result::Result<PathBuf, String> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("d1-tools"),
        None => {
            let base = std::env::var_os("TMPDIR")
                .filter(|d| !d.is_empty())
                .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
            // Per user: another user's folder in /tmp must not be ours to write.
            base.join(format!("d1-tools-{}", euid()))
        }
    };
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "the request budget's folder {} cannot be made ({e})",
                dir.display()
            ))
        }
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| {
        format!(
            "the request budget's folder {} cannot be read ({e})",
            dir.display()
        )
    })?;
    let not_yours = |why: String| {
        format!(
            "the request budget's folder {} is not yours ({why}): another user may have made \
             it; remove it, or set XDG_RUNTIME_DIR",
            dir.display()
        )
    };
    if !meta.file_type().is_dir() {
        return Err(not_yours("not a directory".into()));
    }
    if meta.uid() != euid() {
        return Err(not_yours(format!("owned by uid {}", meta.uid())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(not_yours(format!(
            "mode {:o}: others may write in it",
            meta.permissions().mode() & 0o777
        )));
    }
    Ok(dir)
}

/// Opens the state file without following a link and without blocking on a FIFO, and checks
/// that it is a regular file of ours that only we can write, with no other name.
fn open_state(path: &Path) -> std::result::Result<File, String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let refused = |why: String| {
        format!(
            "the request budget's state file {} is not a regular file of yours ({why})",
            path.display()
        )
    };
    let f = match f {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused("a symbolic link".into()))
        }
        Err(e) => return Err(refused(e.to_string())),
    };
    let meta = f.metadata().map_err(|e| refused(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(refused("a FIFO, a device or a folder".into()));
    }
    if meta.uid() != euid() {
        return Err(refused(format!("owned by uid {}", meta.uid())));
    }
    if meta.nlink() != 1 {
        return Err(refused("it has other names (hard links)".into()));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(refused("others may write it".into()));
    }
    Ok(f)
}

/// Takes the file's lock, trying again for [`LOCK_PATIENCE`]; a signal or the deadline ends the
/// wait.
fn lock(f: &File, path: &Path, deadline: &Deadline) -> std::result::Result<(), FileTrouble> {
    let start = std::time::Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(FileTrouble::Unusable(format!(
                    "the request budget's state file {} cannot be locked ({e})",
                    path.display()
                )))
            }
        }
        crate::signal::check().map_err(FileTrouble::End)?;
        if deadline.expired() {
            return Err(FileTrouble::End(Error::temporary(format!(
                "deadline reached (--timeout) while waiting for the lock of the request budget's \
                 state file {}",
                path.display()
            ))));
        }
        if start.elapsed() > LOCK_PATIENCE {
            return Err(FileTrouble::Unusable(format!(
                "the request budget's state file {} is locked by another process for more than \
                 {} s",
                path.display(),
                LOCK_PATIENCE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(requests: u32, seconds: u32) -> Limit {
        Limit { requests, seconds }
    }

    fn fresh(tokens: f64, last: f64) -> State {
        State {
            tokens: Some(tokens),
            last,
            ..State::default()
        }
    }

    #[test]
    fn the_burst_goes_at_once_then_requests_are_paced() {
        // 600 per 300 s: 60 at once, then 540 over 300 s, 1.8 per second.
        let s = Shape::of(limit(600, 300), 1.0);
        assert_eq!((s.burst, s.rate, s.reserve), (60.0, 1.8, 30.0));
        // However small, a budget keeps one token for the poll after a start.
        let s = Shape::of(limit(9, 5), 1.0);
        assert_eq!((s.burst, s.reserve), (2.0, 1.0));
        let mut st = State::default();
        for i in 0..60 {
            let w = st.take(limit(600, 300), None, Priority::KeepAlive, 1000.0);
            assert_eq!(w, Duration::ZERO, "request {i}");
        }
        let w = st.take(limit(600, 300), None, Priority::KeepAlive, 1000.0);
        assert!((w.as_secs_f64() - 1.0 / 1.8).abs() < 1e-9, "{w:?}");
        // A long pause refills the burst, no more.
        let mut st = fresh(0.0, 1000.0);
        st.take(limit(600, 300), None, Priority::KeepAlive, 1000.0 + 200.0);
        assert_eq!(st.tokens, Some(59.0));
    }

    #[test]
    fn other_requests_leave_half_the_burst_to_the_polls_and_yield_to_a_waiting_poll() {
        let l = limit(600, 300);
        let mut st = State::default();
        let normal = (0..60)
            .take_while(|_| st.take(l, None, Priority::Normal, 1000.0).is_zero())
            .count();
        assert_eq!(normal, 30, "half the burst is kept for polls");
        let polls = (0..60)
            .take_while(|_| st.take(l, None, Priority::KeepAlive, 1000.0).is_zero())
            .count();
        assert_eq!(polls, 30);
        // A poll now waits; until its turn has passed, the others wait behind it even when
        // tokens came back.
        assert!(!st.take(l, None, Priority::KeepAlive, 1000.0).is_zero());
        let mut later = st.clone();
        later.tokens = Some(50.0);
        assert!(!later.take(l, None, Priority::Normal, 1000.1).is_zero());
        assert!(later.take(l, None, Priority::KeepAlive, 1000.1).is_zero());
    }

    #[test]
    fn shards_on_a_host_share_the_budget_and_are_forgotten_after_an_idle_window() {
        let l = limit(1000, 300);
        let s = |i| Part::even(Shard { index: i, count: 8 });
        let mut st = State::default();
        st.take(l, Some(s(3)), Priority::Normal, 1000.0);
        assert_eq!(st.shards, [s(3)]);
        // Another tool of the host (d1-export-wait) knows no shard: it gets the host's share.
        let mut others = st.clone();
        others.tokens = Some(0.0);
        let w = others.take(l, None, Priority::KeepAlive, 1000.0);
        let one_eighth = Shape::of(l, 0.125);
        assert!(
            (w.as_secs_f64() - 1.0 / one_eighth.rate).abs() < 1e-6,
            "{w:?}"
        );
        // Two shards of eight on the host: a quarter.
        st.take(l, Some(s(5)), Priority::Normal, 1001.0);
        assert_eq!(share(&st.shards), 0.25);
        // A shard that learnt its weight from the list replaces its even share.
        let heavy = Part {
            weight: 0.154,
            ..s(5)
        };
        st.take(l, Some(heavy), Priority::Normal, 1002.0);
        assert!((share(&st.shards) - 0.279).abs() < 1e-9, "{:?}", st.shards);
        // Idle for a window: forgotten.
        st.take(l, None, Priority::Normal, 1002.0 + 301.0);
        assert!(st.shards.is_empty());
        // N shards together never exceed the budget in any window.
        for n in [1u32, 2, 8, 100] {
            let sh = Shape::of(l, share(&[Part::even(Shard { index: 0, count: n })]));
            let total = f64::from(n) * (sh.burst + sh.rate * 300.0);
            assert!(total <= 1000.0 + 1e-6, "{n}: {total}");
        }
        // Weights as the list gives them (the emulator's 1,000 ids in 8 shards) add up to the
        // whole, however uneven, and follow the databases: the shards end together.
        let counts = [154, 103, 120, 113, 141, 132, 120, 117];
        let weights: Vec<f64> = (0..8)
            .map(|i| weight(Shard { index: i, count: 8 }, &counts))
            .collect();
        assert!(
            (weights.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "{weights:?}"
        );
        assert!((weights[0] - 0.154).abs() < 1e-9, "{weights:?}");
        let total: f64 = weights
            .iter()
            .map(|w| {
                let sh = Shape::of(l, *w);
                sh.burst + sh.rate * 300.0
            })
            .sum();
        assert!(total <= 1000.0 + 1e-6, "{total}");
        // A shard of one database in 32 still gets about a sixteenth of the budget, and the
        // weights still add up to 1.
        let sizes = [1, 5, 5, 5, 4, 4, 4, 4];
        let w: Vec<f64> = (0..8)
            .map(|i| weight(Shard { index: i, count: 8 }, &sizes))
            .collect();
        assert!(w[0] > 1.0 / 17.0, "{w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{w:?}");
        // Sizes that are not N shards' (a bug, or names) give the even share.
        assert_eq!(weight(Shard { index: 0, count: 8 }, &[3]), 0.125);
    }

    #[test]
    fn any_window_stays_under_the_budget() {
        for l in [DEFAULT, limit(40, 10), limit(1200, 300)] {
            let s = Shape::of(l, 1.0);
            let most = s.burst + s.rate * f64::from(l.seconds);
            assert!(most <= f64::from(l.requests) + 1e-9, "{l:?}: {most}");
        }
    }

    #[test]
    fn the_budget_is_read_as_requests_per_seconds() {
        let read = parse_limit;
        assert_eq!(read("40/10").unwrap(), Some(limit(40, 10)));
        assert_eq!(read("0").unwrap(), None);
        for bad in ["", "x", "10", "0/10", "10/0", "-1/5"] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_state_round_trips_and_garbage_starts_a_fresh_bucket() {
        let st = State {
            tokens: Some(3.5),
            last: 7.0,
            keepalive_until: 9.0,
            shards: vec![Part {
                shard: Shard { index: 1, count: 4 },
                weight: 0.5,
            }],
        };
        assert_eq!(State::parse(&st.render()), st);
        assert_eq!(State::parse("x y"), State::default());
        assert_eq!(State::parse("1e999 5"), State::default());
        // The older two-field form is read, and a shard without a weight has an even share.
        assert_eq!(State::parse("500 7").tokens, Some(500.0));
        assert_eq!(State::parse("1 2 3 2/8").shards[0].weight, 0.125);
        assert!(State::parse("1 2 3 2/8=7").shards.is_empty());
    }

    #[test]
    fn two_budgets_on_one_file_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("requests-shared");
        let (a, b) = (
            Budget::at(p.clone(), limit(100, 86_400)),
            Budget::at(p, limit(100, 86_400)),
        );
        let dl = Deadline::none();
        for _ in 0..5 {
            assert!(a.try_take(Priority::KeepAlive, &dl).unwrap().0.is_zero());
            assert!(b.try_take(Priority::KeepAlive, &dl).unwrap().0.is_zero());
        }
        assert!(
            !a.try_take(Priority::KeepAlive, &dl).unwrap().0.is_zero(),
            "10 taken between the two"
        );
    }

    #[test]
    fn a_state_file_that_is_not_ours_is_left_alone_and_the_process_paces_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep\n").unwrap();
        let link = dir.path().join("requests-link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_state(&link).unwrap_err();
        assert!(e.contains("a symbolic link"), "{e}");
        let b = Budget::at(link, limit(100, 86_400));
        let dl = Deadline::none();
        for _ in 0..10 {
            assert!(b.try_take(Priority::KeepAlive, &dl).unwrap().0.is_zero());
        }
        assert!(!b.try_take(Priority::KeepAlive, &dl).unwrap().0.is_zero());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
        let shared = dir.path().join("requests-open");
        std::fs::write(&shared, "").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(open_state(&shared)
            .unwrap_err()
            .contains("others may write"));
    }
}
