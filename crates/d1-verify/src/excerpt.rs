//! How a message quotes a statement: its start, on one line (a FAIL line of the restore, a
//! `--d1-compat` finding).

/// How much of a statement a message quotes.
const QUOTE_CHARS: usize = 200;

/// The start of a statement for a one-line message.
pub fn quote_start(text: &str) -> String {
    let mut s: String = text.chars().take(QUOTE_CHARS).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_statement_is_quoted_by_its_first_200_characters_on_one_line() {
        let q = quote_start(&format!("INSERT\nINTO t VALUES('{}');", "é".repeat(500)));
        assert!(q.starts_with("INSERT INTO t VALUES('é"));
        assert_eq!(q.chars().count(), 203);
    }
}
