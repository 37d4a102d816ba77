//! d1-import: restores SQL dumps (`.sql` or `.sql.zst`) into D1 databases through the import
//! API (init, upload, ingest, poll) and prints one `DATABASE_ID FINAL_BOOKMARK ...` line each.

mod args;
mod guard;
mod outcome;
mod restore;
mod run;
mod source;
mod upload;
mod verify;

fn main() {
    d1_core::cli::main("d1-import", || run::run(args::parse()?));
}
