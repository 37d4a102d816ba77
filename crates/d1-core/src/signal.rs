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
