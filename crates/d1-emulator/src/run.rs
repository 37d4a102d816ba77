//! The emulator's entry point: the command line, then bind, seed, serve until a signal.

use crate::{app, cli, dbs, http, seed};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;

/// The whole program: parses the command line, serves, and returns the exit status (0, 1 a
/// failure to start, 2 usage).
pub fn main() -> i32 {
    // The emulator holds a bearer token too: no core dumps (d1-core/src/cli.rs).
    d1_core::cli::no_core_dumps();
    match cli::parse(std::env::args_os()) {
        Ok(cli::Command::Help) => {
            let _ = std::io::stdout().lock().write_all(cli::help().as_bytes());
            0
        }
        Ok(cli::Command::Version) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "d1-emulator {}",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        Ok(cli::Command::Run(opts)) => match run(*opts) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("d1-emulator: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("d1-emulator: {e} (try --help)");
            2
        }
    }
}

/// Binds, seeds, prints the base URL, serves until SIGTERM/SIGINT, then removes a temporary
/// data folder.
pub fn run(opts: cli::Options) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut temp = None;
    let dir = match &opts.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("creating data folder {}: {e}", d.display()))?;
            d.clone()
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("d1-emulator-")
                .tempdir()
                .map_err(|e| format!("creating a temporary data folder: {e}"))?;
            let p = t.path().to_path_buf();
            temp = Some(t);
            p
        }
    };
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("installing signal handlers: {e}"))?;
    let listener = TcpListener::bind(("127.0.0.1", opts.port))
        .map_err(|e| format!("binding 127.0.0.1:{}: {e}", opts.port))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("reading the bound address: {e}"))?
        .port();
    let dbs = dbs::Databases::new(&dir);
    if opts.seed_sample {
        seed::seed(&dbs)?;
    }
    for (name, file) in &opts.seeds {
        seed::seed_named(&dbs, name, file.as_deref())?;
    }
    seed::seed_count(&dbs, opts.seed_count)?;
    let base = format!("http://127.0.0.1:{port}");
    if opts.verbose {
        eprintln!("d1-emulator: data folder {}", dir.display());
    }
    let verbose = opts.verbose;
    // Dumps and uploads live here, not in memory: a 1 GB export served three times, or a 1 GB
    // upload, must not cost gigabytes. TMPDIR chooses the disk.
    let spool = tempfile::Builder::new()
        .prefix("d1-emulator-spool-")
        .tempdir()
        .map_err(|e| format!("creating a temporary spool folder: {e}"))?;
    let app = app::App::new(opts, base.clone(), dbs, spool.path());
    let handler = Arc::new(move |req: &http::Request| app.handle(req));
    let spool_dir = spool.path().to_path_buf();
    std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || http::serve(listener, handler, verbose, &spool_dir))
        .map_err(|e| format!("starting the server thread: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        // A closed stdout only means nobody reads the URL; keep serving.
        let _ = writeln!(out, "{base}/client/v4");
        let _ = out.flush();
    }
    let _ = signals.forever().next();
    let _ = spool.close();
    if let Some(t) = temp {
        let _ = t.close();
    }
    Ok(())
}
