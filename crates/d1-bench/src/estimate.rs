//! How many bytes a value takes in a D1 dump (see docs/d1-emulator.md, "Dump format"), so the
//! generator can stop once the dump reaches the requested size without asking the emulator.

/// Length of an integer literal.
pub fn int(v: i64) -> u64 {
    let mut n = u64::from(v < 0);
    let mut a = v.unsigned_abs();
    loop {
        n += 1;
        a /= 10;
        if a == 0 {
            return n;
        }
    }
}

/// Length of a REAL literal. JavaScript and Rust both print the shortest round-trip digits; they
/// differ only in exponent form, which the generator's values (0.01..1e9) never reach.
pub fn real(v: f64) -> u64 {
    format!("{v}").len() as u64
}

/// Length of a text literal: quotes doubled, line breaks as `\n`/`\r` inside `replace(...)`.
pub fn text(s: &str) -> u64 {
    let b = s.as_bytes();
    let quotes = b.iter().filter(|&&c| c == b'\'').count() as u64;
    let nl = b.iter().filter(|&&c| c == b'\n').count() as u64;
    let cr = b.iter().filter(|&&c| c == b'\r').count() as u64;
    let mut n = b.len() as u64 + quotes + nl + cr + 2;
    if cr > 0 {
        n += "replace(,'\\r',char(13))".len() as u64;
    }
    if nl > 0 {
        n += "replace(,'\\n',char(10))".len() as u64;
    }
    n
}

/// `X'..'` with two hex digits per byte.
pub fn blob(len: usize) -> u64 {
    2 * len as u64 + 3
}

pub const NULL: u64 = 4;

/// `INSERT INTO "t" ("a","b") VALUES(` + `);` + the newline joining statements, plus the commas
/// between `columns` values.
pub fn insert_overhead(table: &str, columns: &[&str]) -> u64 {
    let cols: u64 = columns.iter().map(|c| c.len() as u64 + 2).sum();
    let head = "INSERT INTO \"\" (".len() + table.len() + ") VALUES(".len();
    head as u64 + cols + (columns.len() as u64 - 1) * 2 + ");\n".len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_count_their_sign_and_digits() {
        assert_eq!(int(0), 1);
        assert_eq!(int(-7), 2);
        assert_eq!(int(1234), 4);
        assert_eq!(int(i64::MIN), 20);
    }

    #[test]
    fn text_lengths_match_the_dump_literals() {
        assert_eq!(text("it's"), "'it''s'".len() as u64);
        assert_eq!(text("a\nb"), "replace('a\\nb','\\n',char(10))".len() as u64);
        assert_eq!(
            text("x\ry\nz"),
            "replace(replace('x\\ry\\nz','\\r',char(13)),'\\n',char(10))".len() as u64
        );
    }

    #[test]
    fn insert_overhead_matches_the_statement_frame() {
        let frame = "INSERT INTO \"t\" (\"a\",\"bc\") VALUES(,);\n";
        assert_eq!(insert_overhead("t", &["a", "bc"]), frame.len() as u64);
    }
}
