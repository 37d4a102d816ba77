//! Entry points shared by the fuzz targets (fuzz/) and the regression tests that replay every
//! input the fuzzer ever found (fuzz/regressions/), so a fixed crash stays fixed.

/// Reads `data` as stdin records and parses every line as a tool would.
pub fn records(data: &[u8]) {
    for (line, text) in crate::record::Lines::new(data).flatten() {
        if let Ok(r) = crate::record::parse(line, &text, "bookmark") {
            assert!(!r.value.is_empty());
            assert!(r.value.len() <= crate::record::MAX_LINE);
        }
    }
}

/// Decodes `data` as an API answer; the first byte picks the HTTP status.
pub fn envelope(data: &[u8]) {
    let status = match data.first() {
        Some(b) => [200, 400, 403, 404, 429, 500, 502][usize::from(*b) % 7],
        None => 200,
    };
    let body = data.get(1..).unwrap_or_default();
    if let Err(e) = crate::envelope::decode(status, "application/json", body) {
        let _ = e.describe();
        let _ = crate::client::api_error(e);
    }
    let _ = crate::redact::redact(&String::from_utf8_lossy(body));
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Replays `fuzz/regressions/TARGET/*` (crashes once found, kept forever).
    fn replay(target: &str, f: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions")
            .join(target);
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let data = std::fs::read(e.path()).expect("regression input");
                f(&data);
                n += 1;
            }
        }
        n
    }

    #[test]
    fn every_input_the_fuzzer_found_is_replayed_without_panic() {
        let n = replay("record_parse", super::records) + replay("envelope_decode", super::envelope);
        // The seed inputs are always there; a missing folder would make this test prove nothing.
        assert!(n >= 2, "fuzz/regressions is missing");
    }
}
