//! d1-export-wait: polls D1 exports to completion and prints one `DATABASE_ID SIGNED_URL` line
//! per export as soon as it is ready, flushed at once so that d1-fetch downloads while fresh.

mod args;
mod input;
mod poll;
mod pool;

fn main() {
    d1_core::cli::main("d1-export-wait", || pool::run(args::parse()?));
}
