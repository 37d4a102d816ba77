//! d1-ls: lists backups; the tool is the library (src/lib.rs).

fn main() {
    d1_core::cli::main("d1-ls", || d1_ls::run::run(d1_ls::args::parse()?))
}
