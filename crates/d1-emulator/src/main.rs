//! d1-emulator: the entry point; the emulator is the library (src/lib.rs).

fn main() {
    std::process::exit(d1_emulator::run::main());
}
