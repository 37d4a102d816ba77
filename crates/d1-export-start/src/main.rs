//! d1-export-start: the entry point; the tool is the library (src/lib.rs).

fn main() {
    d1_core::cli::main("d1-export-start", || {
        d1_export_start::start::run(d1_export_start::args::parse()?)
    });
}
