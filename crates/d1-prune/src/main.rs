//! d1-prune: removes old backups by policy, per database, never the newest verified one.

fn main() {
    d1_core::cli::main("d1-prune", d1_prune::run::main_run)
}
