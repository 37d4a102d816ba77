#![no_main]
//! d1-verify's statement splitter on arbitrary bytes: never a panic, and the same statements
//! whatever the read size (a statement split across reads must come out whole).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    d1_verify::fuzzing::split(data);
});
