#![no_main]
//! d1-verify's fast path against SQLite's own parser: for any statement it either steps aside
//! or stores exactly what SQLite stores (d1_verify::fuzzing::compare).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d1_verify::fuzzing::fastpath(data);
});
