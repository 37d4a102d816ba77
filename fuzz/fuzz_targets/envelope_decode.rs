#![no_main]
//! API answers: any body with any status must decode to a result or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d1_core::fuzzing::envelope(data);
});
