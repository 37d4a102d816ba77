#![no_main]
//! Stdin records: any bytes must give lines or errors, never a panic or unbounded memory.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d1_core::fuzzing::records(data);
});
