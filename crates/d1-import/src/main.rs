//! d1-import: the entry point; the tool is the library (src/lib.rs).

fn main() {
    d1_core::cli::main("d1-import", || {
        d1_import::run::run(d1_import::args::parse()?)
    });
}
