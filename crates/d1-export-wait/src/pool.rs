//! The pool: a reader thread turns stdin lines into jobs as they arrive (a bookmark must be
//! polled at once, not after stdin closes), and a few workers poll them round-robin, one poll
//! at a time, so that more exports than workers all stay polled (D1 cancels an export nobody
//! polls) while the number of threads and connections stays bounded.

use crate::args::Args;
use crate::input::{self, Input, Job};
use crate::poll::{self, lock, Ctx};
use d1_core::pipe::{self, Tally};
use d1_core::record::{self, Lines};
use d1_core::retry::Deadline;
use d1_core::{Error, ExitCode, Kind, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Queue {
    ready: VecDeque<Job>,
    /// Jobs not finished yet: queued or being polled.
    open: usize,
    input_done: bool,
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
}

impl Shared {
    fn push(&self, job: Job) {
        let mut q = lock(&self.queue);
        q.open += 1;
        q.ready.push_back(job);
        self.wake.notify_one();
    }

    fn requeue(&self, job: Job) {
        lock(&self.queue).ready.push_back(job);
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
            if let Some(j) = q.ready.pop_front() {
                return Some(j);
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
            // A timeout, so that a signal is noticed while idle.
            q = self
                .wake
                .wait_timeout(q, Duration::from_millis(100))
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
    let ctx = Ctx::new(client, args.common.json);
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
    let tally = std::mem::take(&mut *lock(&shared.tally));
    tally.finish(args.common.allow_empty, "bookmark")
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
        match poll::poll_once(ctx, &mut job) {
            Ok(false) => {
                shared.requeue(job);
                continue;
            }
            Ok(true) => {}
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
