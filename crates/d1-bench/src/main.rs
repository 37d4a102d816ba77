//! d1-bench-gen: builds a deterministic SQLite database whose D1 dump is about a requested size,
//! for `make bench` (scripts/bench.sh) to serve through d1-emulator.

mod estimate;
mod gen;
mod rng;
mod size;
mod text;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
d1-bench-gen: build a deterministic D1-style SQLite database of a given dump size

USAGE:
    d1-bench-gen --size SIZE --out DIR/NAME.sqlite [--shape SHAPE] [--seed N] [--force]

The same SIZE and seed always give the same rows. Serve the folder with
`d1-emulator --data-dir DIR`; its export of NAME is then about SIZE bytes.

OPTIONS:
    --size SIZE     dump size: bytes, or with K, M, G (binary multiples), e.g. 100M, 1G
    --out PATH      database to write (NAME must be letters, digits, - or _ for the emulator)
    --shape SHAPE   app (default): users, order items, attachments with blobs;
                    text: a text-heavy forum (long unicode rows, line breaks, integers
                    beyond 2^53, many foreign keys, a WITHOUT ROWID table)
    --seed N        PRNG seed (default 3405691582)
    --force         replace PATH if it exists (otherwise that is an error)
    -h, --help      print this help
    -V, --version   print the version

Prints PATH on stdout, and a summary on stderr.
";

const DEFAULT_SEED: u64 = 0xCAFE_BABE;

/// Which database `--shape` asks for.
#[derive(Clone, Copy)]
enum Shape {
    App,
    Text,
}

struct Args {
    size: u64,
    out: PathBuf,
    shape: Shape,
    seed: u64,
    force: bool,
}

enum Command {
    Run(Args),
    Help,
    Version,
}

fn parse_args() -> Result<Command, String> {
    use lexopt::prelude::*;
    let (mut size, mut out, mut seed, mut force) = (None, None, DEFAULT_SEED, false);
    let mut shape = Shape::App;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("size") => {
                let v = p.value().map_err(|e| e.to_string())?;
                size = Some(size::parse(&v.to_string_lossy())?);
            }
            Long("out") | Short('o') => {
                out = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?))
            }
            Long("seed") => {
                let v = p.value().map_err(|e| e.to_string())?;
                seed = v
                    .to_string_lossy()
                    .parse()
                    .map_err(|_| format!("--seed needs a whole number, got {v:?}"))?;
            }
            Long("force") => force = true,
            Long("shape") => {
                shape = match p.value().map_err(|e| e.to_string())?.to_str() {
                    Some("app") => Shape::App,
                    Some("text") => Shape::Text,
                    other => return Err(format!("--shape: app or text, not {other:?}")),
                }
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let size = size.ok_or("--size is required")?;
    let out = out.ok_or("--out is required")?;
    Ok(Command::Run(Args {
        size,
        out,
        shape,
        seed,
        force,
    }))
}

/// Builds under a temporary name beside PATH and renames it into place, so an interrupted run
/// never leaves a half-filled database that the benchmark cache would reuse.
fn run(args: &Args) -> Result<gen::Summary, String> {
    if args.out.exists() && !args.force {
        return Err(format!(
            "{} exists (use --force to replace it)",
            args.out.display()
        ));
    }
    let tmp = tmp_path(&args.out);
    let _ = std::fs::remove_file(&tmp);
    let result = build(&tmp, args);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    let summary = result?;
    std::fs::rename(&tmp, &args.out)
        .map_err(|e| format!("renaming into {}: {e}", args.out.display()))?;
    Ok(summary)
}

fn build(tmp: &Path, args: &Args) -> Result<gen::Summary, String> {
    let what = |e: rusqlite::Error| format!("building {}: {e}", tmp.display());
    let mut conn = Connection::open(tmp).map_err(what)?;
    // A scratch file: no journal, no fsync per commit; the rename is what publishes it.
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;",
    )
    .map_err(what)?;
    let summary = match args.shape {
        Shape::App => gen::generate(&mut conn, args.size, args.seed),
        Shape::Text => text::generate(&mut conn, args.size, args.seed),
    }
    .map_err(what)?;
    conn.close().map_err(|(_, e)| what(e))?;
    Ok(summary)
}

fn tmp_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    out.with_file_name(name)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Command::Run(a)) => a,
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("d1-bench-gen {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("d1-bench-gen: {e}\nTry 'd1-bench-gen --help' for more information.");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(s) => {
            let file = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
            let rows: Vec<String> = s.tables.iter().map(|(t, n)| format!("{n} {t}")).collect();
            eprintln!(
                "d1-bench-gen: {}: {}; dump about {} bytes, file {} bytes",
                args.out.display(),
                rows.join(", "),
                s.dump_bytes,
                file
            );
            println!("{}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("d1-bench-gen: {e}");
            ExitCode::from(1)
        }
    }
}
