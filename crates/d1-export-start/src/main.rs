//! d1-export-start: starts a D1 export for each database named and prints one
//! `DATABASE_ID BOOKMARK` line per database, flushed at once, for d1-export-wait to poll.

mod args;
mod exclude;
mod preflight;
mod size;
mod start;

fn main() {
    d1_core::cli::main("d1-export-start", || start::run(args::parse()?));
}
