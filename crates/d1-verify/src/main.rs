//! d1-verify: restores each dump into a sandboxed in-memory SQLite database, checks it, and
//! reports — a backup that has never been restored is only a hope. The tool is the library
//! (`d1_verify::args`, `d1_verify::run`); this is its entry point.

fn main() {
    d1_core::cli::main("d1-verify", || {
        d1_verify::run::run(d1_verify::args::parse()?)
    })
}
