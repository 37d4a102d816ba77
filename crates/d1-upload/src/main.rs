//! d1-upload: parse the command line, run, map the outcome to an exit code (d1_core::cli).

fn main() {
    d1_core::cli::main("d1-upload", || {
        d1_upload::run::run(d1_upload::args::parse()?)
    });
}
