//! d1-export-wait: the entry point; the tool is the library (src/lib.rs).

fn main() {
    d1_core::cli::main("d1-export-wait", || {
        d1_export_wait::pool::run(d1_export_wait::args::parse()?)
    });
}
