//! SIGINT/SIGTERM/SIGHUP: the tools stop at the next safe point, remove temporary files and exit 130.

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
        // A closed terminal or a stopped session: clean up as for the others.
        signal_hook::consts::SIGHUP,
    ] {
        // Registration fails only for forbidden signals; these are allowed.
        let _ = signal_hook::flag::register(sig, Arc::clone(flag));
    }
}

/// True once SIGINT, SIGTERM or SIGHUP arrived.
pub fn interrupted() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// An error to return when interrupted, for `?` at safe points.
pub fn check() -> crate::Result<()> {
    if interrupted() {
        Err(crate::Error::interrupted())
    } else {
        Ok(())
    }
}
