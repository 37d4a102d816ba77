//! The pool: a reader thread turns stdin lines into jobs as they arrive (a bookmark must be
//! polled at once, not after stdin closes), and a few workers poll them, one poll at a time, the
//! job whose poll is due first (poll.rs sets each export's next poll), so that more exports than
//! workers all stay polled (D1 cancels an export nobody polls) while the number of threads and
//! connections stays bounded. When the request budget holds polls back, the export that waited
//! longest is polled first.

use crate::args::Args;
use crate::input::{self, Input, Job};
use crate::poll::{self, lock, Ctx};
use d1_core::pipe::{self, Tally};
use d1_core::record::{self, Lines};
use d1_core::retry::Deadline;
use d1_core::{Error, ExitCode, Kind, Result};
use std::cmp::{Ordering as Cmp, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A job in the schedule: the earliest due first, then the earliest queued.
struct Queued {
    key: Reverse<(Instant, u64)>,
    job: Job,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Cmp> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Cmp {
        self.key.cmp(&other.key)
    }
}

#[derive(Default)]
struct Queue {
    ready: BinaryHeap<Queued>,
    seq: u64,
    /// Jobs not finished yet: queued or being polled.
    open: usize,
    input_done: bool,
}

impl Queue {
    fn insert(&mut self, job: Job) {
        self.seq += 1;
        self.ready.push(Queued {
            key: Reverse((job.due, self.seq)),
            job,
        });
    }
}

/// What the reader and the workers share.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    tally: Mutex<Tally>,
    /// Set when stdout closed or a signal came: everyone stops.
    stop: AtomicBool,
    stdout_closed: AtomicBool,
    /// Exports complete, and polls answered, for the summary.
    complete: AtomicU64,
    polls: AtomicU64,
}

impl Shared {
    fn push(&self, mut job: Job) {
        job.due = Instant::now();
        let mut q = lock(&self.queue);
        q.open += 1;
        q.insert(job);
        self.wake.notify_one();
    }

    fn requeue(&self, job: Job) {
        lock(&self.queue).insert(job);
        self.wake.notify_one();
    }

    fn finished(&self) {
        let mut q = lock(&self.queue);
        q.open = q.open.saturating_sub(1);
        self.wake.notify_all();
    }

    fn input_done(&self) {
        lock(&self.queue).input_done = true;
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || d1_core::signal::interrupted()
    }

    /// The next job to poll; `None` once the input is done and every job finished, or when
    /// the deadline passes with nothing left to poll but stdin still open (a stalled upstream
    /// must not hold the run past `--timeout`).
    fn next(&self, deadline: &Deadline) -> Option<Job> {
        let mut q = lock(&self.queue);
        loop {
            if self.stopped() {
                return None;
            }
            let now = Instant::now();
            let mut nap = Duration::from_millis(100);
            if let Some(top) = q.ready.peek() {
                let due = top.key.0 .0;
                if due <= now {
                    return q.ready.pop().map(|t| t.job);
                }
                nap = nap.min(due - now);
            }
            if q.input_done && q.open == 0 {
                return None;
            }
            if q.open == 0 && deadline.expired() {
                if !self.stop.swap(true, Ordering::Relaxed) {
                    self.fail(
                        &Error::temporary("standard input still open when --timeout ran out"),
                        None,
                    );
                }
                return None;
            }
            // A timeout, so that a due poll and a signal are noticed while idle.
            q = self
                .wake
                .wait_timeout(q, nap)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Reports a failure of one record (stderr, and a failure record on stdout); the run goes
    /// on with the others.
    fn fail(&self, e: &Error, job: Option<&Job>) {
        let mut f = pipe::Failure::of(e, None);
        if let Some(j) = job {
            if d1_core::api::is_uuid(&j.database) {
                f.database_id = Some(j.database.clone());
            }
            f.name = j.name.clone();
        }
        self.outcome(lock(&self.tally).fail_with(f));
    }

    /// An upstream failure record: passed on and counted.
    fn pass(&self, f: pipe::Failure) {
        self.outcome(lock(&self.tally).pass(f));
    }

    fn outcome(&self, r: Result<()>) {
        if let Err(e) = r {
            if e.kind == Kind::StdoutClosed {
                self.stdout_closed.store(true, Ordering::Relaxed);
            }
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Polls every export to completion; the worst outcome of all records.
pub fn run(args: Args) -> Result<ExitCode> {
    let default_db = args
        .database
        .clone()
        .or_else(d1_core::config::default_database);
    // An argument is checked before the credentials: a usage error is the first thing to fix.
    let arg_job = match &args.record {
        Some(text) => match input::read(None, text, default_db.as_deref())? {
            Input::Job(j) => Some(j),
            Input::Failure(f) => {
                return Err(Error::usage(format!(
                    "argument: a failure record, not a bookmark: {}",
                    f.plain()
                )))
            }
        },
        None => None,
    };
    let (_cfg, client) = args.common.client()?;
    let ctx = Ctx::new(client.keeping_exports_alive(), args.common.json);
    let shared = Arc::new(Shared::default());
    match arg_job {
        Some(job) => {
            lock(&shared.tally).arrived();
            shared.push(job);
            shared.input_done();
        }
        None => {
            let s = Arc::clone(&shared);
            // Detached: a reader blocked on a silent stdin must not keep an interrupted run
            // alive; the workers decide when the run ends.
            std::thread::spawn(move || read_stdin(&s, default_db.as_deref()));
        }
    }
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| work(&ctx, &shared));
        }
    });
    lock(&ctx.progress).finish();
    if shared.stdout_closed.load(Ordering::Relaxed) {
        return Err(record::stdout_closed());
    }
    d1_core::signal::check()?;
    summary(&shared);
    let tally = std::mem::take(&mut *lock(&shared.tally));
    tally.finish(args.common.allow_empty, "bookmark")
}

/// One line on stderr at the end when the request budget held polls back (silenced by `-q`):
/// what completed, what it cost in API requests, how long the budget held it. A run the budget
/// did not slow says nothing: quiet when all is well.
fn summary(shared: &Shared) {
    let complete = shared.complete.load(Ordering::Relaxed);
    let polls = shared.polls.load(Ordering::Relaxed);
    let paced = d1_core::budget::paced();
    if (complete == 0 && polls == 0) || paced < Duration::from_millis(100) {
        return;
    }
    let total = d1_core::client::requests_sent();
    let per = if complete > 0 {
        format!(
            ", {:.2} per export complete",
            total as f64 / complete as f64
        )
    } else {
        String::new()
    };
    d1_core::msg::info(&format!(
        "{complete} export(s) complete; {polls} poll(s), {total} API request(s){per}; {:.1} s \
         waiting for the request budget",
        paced.as_secs_f64()
    ));
}

fn read_stdin(shared: &Shared, default_db: Option<&str>) {
    let stdin = std::io::stdin();
    for item in Lines::new(stdin.lock()) {
        if shared.stopped() {
            break;
        }
        lock(&shared.tally).arrived();
        match item.and_then(|(n, text)| input::read(Some(n), &text, default_db)) {
            Ok(Input::Job(job)) => shared.push(job),
            Ok(Input::Failure(f)) => shared.pass(f),
            Err(e) if e.code() == ExitCode::Interrupted => break,
            Err(e) => shared.fail(&e, None),
        }
    }
    shared.input_done();
}

fn work(ctx: &Ctx, shared: &Shared) {
    while let Some(mut job) = shared.next(ctx.client.deadline()) {
        let polls = job.polls;
        let outcome = poll::poll_once(ctx, &mut job);
        shared
            .polls
            .fetch_add(u64::from(job.polls - polls), Ordering::Relaxed);
        match outcome {
            Ok(false) => {
                shared.requeue(job);
                continue;
            }
            Ok(true) => {
                shared.complete.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if e.kind == Kind::StdoutClosed => {
                shared.stdout_closed.store(true, Ordering::Relaxed);
                shared.stop.store(true, Ordering::Relaxed);
            }
            Err(e) if e.code() == ExitCode::Interrupted => {
                shared.stop.store(true, Ordering::Relaxed);
            }
            Err(e) => shared.fail(&e, Some(&job)),
        }
        shared.finished();
    }
}
