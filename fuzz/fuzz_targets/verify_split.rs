#![no_main]
//! d1-verify's statement splitter on arbitrary bytes: never a panic, and the same statements
//! whatever the read size (a statement split across reads must come out whole).
use libfuzzer_sys::fuzz_target;

use d1_verify::split;

fuzz_target!(|data: &[u8]| {
    d1_split_check(data);
});

fn statements(data: &[u8], chunk: usize) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let r = std::io::BufReader::with_capacity(chunk, data);
    let mut s = split::Splitter::new(r, 1 << 20);
    let mut out = Vec::new();
    loop {
        match s.next() {
            Ok(Some(st)) => {
                assert!(!st.text.is_empty(), "empty statement");
                out.push((st.line, st.text.to_vec()));
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

fn d1_split_check(data: &[u8]) {
    let whole = statements(data, 1 << 16);
    for chunk in [1, 3, 7] {
        assert_eq!(statements(data, chunk), whole, "read size {chunk}");
    }
}
