//! SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session): the tools stop at the next safe
//! point, remove temporary files and exit 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs handlers that set a flag. Blocking reads are given short timeouts by the tools,
/// so the flag is seen within a fraction of a second.
pub fn install() {
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        // Registration fails only for forbidden signals; these three are allowed.
        let _ = signal_hook::flag::register(sig, Arc::clone(flag));
    }
}

/// True once SIGINT, SIGTERM or SIGHUP arrived.
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Forgets a signal that arrived, for one last short step that learns whether the work was
/// already done elsewhere (d1-import: an import runs on D1's side whatever the client does).
/// A new signal during that step interrupts it as usual.
pub fn clear() {
    if let Some(f) = FLAG.get() {
        f.store(false, Ordering::Relaxed);
    }
}

/// Records the signal again after [`clear`] when the last step did not find the work done.
pub fn raise() {
    if let Some(f) = FLAG.get() {
        f.store(true, Ordering::Relaxed);
    }
}

/// An error to return when interrupted, for `?` at safe points.
pub fn check() -> crate::Result<()> {
    if interrupted() {
        Err(crate::Error::interrupted())
    } else {
        Ok(())
    }
}

/// Runs `f` (a blocking call: an HTTP request) on a helper thread and waits for it in short
/// slices, so that SIGINT/SIGTERM/SIGHUP is answered within a fraction of a second whatever
/// the call is doing. The call itself is abandoned, not stopped: the process is ending.
pub fn interruptibly<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> crate::Result<T> {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(r) => return Ok(r),
            Err(RecvTimeoutError::Timeout) => check()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(crate::Error::failed("the request ended without an answer"))
            }
        }
    }
}
