//! d1-fetch: the entry point; the tool is the library (src/lib.rs).

fn main() {
    d1_core::cli::main(
        "d1-fetch",
        || d1_fetch::fetch::run(d1_fetch::args::parse()?),
    );
}
