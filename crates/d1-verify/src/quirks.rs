//! D1's data-loss quirks that the dump text alone reveals (docs/d1-verify.md, "Warnings: D1
//! quirks visible in the text"): D1's dump generator passes integers through JavaScript numbers,
//! so integers at or beyond 2^53 may have lost precision and -2^63 comes out as
//! `-9223372036854776000` (which SQLite reads back as a REAL); an infinite REAL is written
//! `9e999` (current) or `Infinity` (older, and it does not load back).

use d1_sql::lex::{self, Kind as Token};
use serde_json::json;
use std::ops::Range;

/// What the fast path (fastpath.rs) notes of a parsed INSERT for this scan, so that it need not
/// lex the statement again: numeric literals that may be beyond 2^53 or beyond a double's range
/// (as byte ranges of the statement, with their sign), and `'\n',char(10))` placeholders.
#[derive(Debug, Default)]
pub struct Notes {
    pub numbers: Vec<(Range<usize>, bool)>,
    pub newline_placeholders: u64,
}

/// Warnings of one kind printed before the rest are only counted.
const SHOWN_PER_KIND: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    BeyondSafeInteger,
    MinInt64,
    InfiniteReal,
    InfinityWord,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::BeyondSafeInteger => "integer-beyond-2^53",
            Kind::MinInt64 => "min-int64-as-real",
            Kind::InfiniteReal => "infinite-real",
            Kind::InfinityWord => "infinity-identifier",
        }
    }

    fn explain(self, token: &str) -> String {
        match self {
            Kind::BeyondSafeInteger => format!(
                "integer {token} is at or beyond 2^53: D1 writes integers through JavaScript \
                 numbers, so its last digits may have been lost"
            ),
            Kind::MinInt64 => format!(
                "{token} is how D1 writes -9223372036854775808 (-2^63); it restores as a REAL, \
                 not the original INTEGER"
            ),
            Kind::InfiniteReal => {
                format!("{token} is an infinite REAL (D1's way of writing Infinity)")
            }
            Kind::InfinityWord => "Infinity is how older D1 dumps wrote an infinite REAL; \
                 SQLite reads it as a column name, so this statement does not load"
                .to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Warning {
    pub line: u64,
    pub kind: Kind,
    pub message: String,
}

/// The warnings of one dump: the first few of each kind, and counts of all.
#[derive(Default)]
pub struct Quirks {
    pub shown: Vec<Warning>,
    counts: Vec<(Kind, u64)>,
    /// Values written with D1's `replace(…,'\n',char(10))` form: not a warning (most such
    /// text is fine), but the evidence that a backslash-n may have become a newline.
    pub newline_placeholders: u64,
}

impl Quirks {
    /// Counts one `kind`; the first few become warnings (`token` is only asked for those).
    fn add(
        &mut self,
        line: impl FnOnce() -> u64,
        kind: Kind,
        token: impl FnOnce() -> String,
    ) -> Option<&Warning> {
        let count = match self.counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((kind, 1));
                1
            }
        };
        if count as usize > SHOWN_PER_KIND {
            return None;
        }
        self.shown.push(Warning {
            line: line(),
            kind,
            message: kind.explain(&token()),
        });
        self.shown.last()
    }

    /// Scans one statement starting on `line`; calls `report` for each warning to print now.
    pub fn scan(&mut self, text: &[u8], line: u64, mut report: impl FnMut(&Warning)) {
        // A warning's line is counted only for the few that are shown.
        let line_of =
            |at: usize| move || line + memchr::memchr_iter(b'\n', &text[..at]).count() as u64;
        for t in lex::tokens(text) {
            let tok = t.text(text);
            match t.kind {
                Token::Number => {
                    let neg = t.start > 0 && text[t.start - 1] == b'-';
                    self.number(tok, neg, line_of(t.start), &mut report);
                }
                Token::Word if tok == b"Infinity" => {
                    let w = self.add(line_of(t.start), Kind::InfinityWord, || "Infinity".into());
                    if let Some(w) = w {
                        report(w);
                    }
                }
                // `replace('…','\n',char(10))`: D1 wrote real newlines as the two characters
                // \n; any \n the text held before now reads as a newline too.
                Token::Str if tok == b"'\\n'" && text[t.end..].starts_with(b",char(10))") => {
                    self.newline_placeholders += 1;
                }
                _ => {}
            }
        }
    }

    /// The same as `scan` for a statement the fast path parsed, from what its parse noted
    /// (`Notes`) instead of lexing it again.
    pub fn noted(
        &mut self,
        text: &[u8],
        line: u64,
        notes: &Notes,
        mut report: impl FnMut(&Warning),
    ) {
        for (at, neg) in &notes.numbers {
            let line_of = || line + memchr::memchr_iter(b'\n', &text[..at.start]).count() as u64;
            self.number(&text[at.clone()], *neg, line_of, &mut report);
        }
        self.newline_placeholders += notes.newline_placeholders;
    }

    fn number(
        &mut self,
        tok: &[u8],
        neg: bool,
        line: impl FnOnce() -> u64,
        report: &mut impl FnMut(&Warning),
    ) {
        let Ok(s) = std::str::from_utf8(tok) else {
            return;
        };
        let shown = || if neg { format!("-{s}") } else { s.to_string() };
        if tok.iter().all(u8::is_ascii_digit) {
            let digits = s.trim_start_matches('0');
            // 2^53 = 9007199254740992 has 16 digits.
            let big = digits.len() > 16 || (digits.len() == 16 && digits >= "9007199254740992");
            if !big {
                return;
            }
            let kind = if neg && digits == "9223372036854776000" {
                Kind::MinInt64
            } else {
                Kind::BeyondSafeInteger
            };
            if let Some(w) = self.add(line, kind, shown) {
                report(w);
            }
        } else if could_overflow(tok) && s.parse::<f64>().is_ok_and(f64::is_infinite) {
            if let Some(w) = self.add(line, Kind::InfiniteReal, shown) {
                report(w);
            }
        }
    }

    /// How many of `kind` the scan found.
    pub fn count(&self, kind: Kind) -> u64 {
        self.counts
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Counts beyond what was shown, for the closing summary: `(kind, hidden)`.
    pub fn hidden(&self) -> Vec<(Kind, u64)> {
        self.counts
            .iter()
            .filter(|(_, n)| *n as usize > SHOWN_PER_KIND)
            .map(|&(k, n)| (k, n - SHOWN_PER_KIND as u64))
            .collect()
    }

    pub fn kind_name(kind: Kind) -> &'static str {
        kind.name()
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "shown": self.shown.iter().map(|w| json!({
                "line": w.line, "kind": w.kind.name(), "message": w.message,
            })).collect::<Vec<_>>(),
            "counts": self.counts.iter().map(|(k, n)| (k.name().to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// Whether a numeric literal is one `number` could warn about: 16 digits or more (2^53 has
/// 16), or a REAL that could be beyond a double's range. The fast path notes only these.
pub fn may_matter(lit: &[u8]) -> bool {
    lit.len() >= 16 || could_overflow(lit)
}

/// Whether a REAL literal can be beyond f64's range: only with an exponent or over 300 digits
/// (parsing every REAL of a dump to find out cost more than the rest of the scan).
fn could_overflow(tok: &[u8]) -> bool {
    tok.len() > 300 || tok.iter().any(|b| matches!(b, b'e' | b'E'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_fast_path_notes_gives_the_warnings_a_second_lexing_gives() {
        let statements = [
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(9007199254740993,-9223372036854776000);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(1e999,-1e999);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(0000000000000000001,12345678901234567890123);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(replace('x\\ny','\\n',char(10)),\n9007199254740992);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES(replace(replace('a\\rb\\nc','\\r',char(13)),'\\n',char(10)),1.5);",
            "INSERT INTO \"t\" (\"a\",\"b\") VALUES('it''s\n9007199254740993',\n\n-9007199254740993);",
            "INSERT INTO \"t\" VALUES(1.7976931348623157e308,18446744073709551616.0);",
        ];
        let (mut warned, mut placeholders) = (0, 0);
        for (i, st) in statements.iter().enumerate() {
            let parsed = crate::fastpath::Parsed::of(st).unwrap_or_else(|| panic!("{st}"));
            let (mut lexed, mut noted) = (Quirks::default(), Quirks::default());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let line = 10 * i as u64 + 1;
            lexed.scan(st.as_bytes(), line, |w| a.push((w.line, w.message.clone())));
            noted.noted(st.as_bytes(), line, &parsed.notes, |w| {
                b.push((w.line, w.message.clone()))
            });
            assert_eq!(a, b, "{st}");
            assert_eq!(lexed.counts, noted.counts, "{st}");
            assert_eq!(
                lexed.newline_placeholders, noted.newline_placeholders,
                "{st}"
            );
            warned += a.len();
            placeholders += noted.newline_placeholders;
        }
        assert!(warned == 7 && placeholders == 2, "{warned} {placeholders}");
    }

    #[test]
    fn the_newline_placeholder_form_is_counted_silently() {
        let mut q = Quirks::default();
        let mut shown = 0;
        q.scan(
            br#"INSERT INTO "t" ("s") VALUES(replace('a\nb','\n',char(10)));"#,
            1,
            |_| shown += 1,
        );
        q.scan(br#"INSERT INTO "t" ("s") VALUES('\n');"#, 2, |_| shown += 1);
        assert_eq!((q.newline_placeholders, shown), (1, 0));
    }

    fn kinds(sql: &str) -> Vec<(u64, Kind)> {
        let mut q = Quirks::default();
        q.scan(sql.as_bytes(), 10, |_| {});
        q.shown.iter().map(|w| (w.line, w.kind)).collect()
    }

    #[test]
    fn big_integers_min_int64_and_infinities_are_found_outside_strings() {
        let got = kinds(
            "INSERT INTO \"t\" VALUES(9007199254740992,9007199254740991,'9007199254740993',\n\
             -9223372036854776000,9e999,-9e999,1e308,Infinity,\"Infinity\",'Infinity');",
        );
        assert_eq!(
            got,
            vec![
                (10, Kind::BeyondSafeInteger),
                (11, Kind::MinInt64),
                (11, Kind::InfiniteReal),
                (11, Kind::InfiniteReal),
                (11, Kind::InfinityWord),
            ]
        );
    }

    #[test]
    fn identifiers_with_digits_and_small_numbers_are_quiet() {
        assert!(kinds(
            "INSERT INTO t2 (c9007199254740993) VALUES(1.5,-3,0,X'99999999999999999999');"
        )
        .is_empty());
    }

    #[test]
    fn only_the_first_few_of_a_kind_are_shown_and_the_rest_counted() {
        let mut q = Quirks::default();
        for i in 0..12 {
            q.scan(b"INSERT INTO t VALUES(99999999999999999);", i, |_| {});
        }
        assert_eq!(q.shown.len(), SHOWN_PER_KIND);
        assert_eq!(q.hidden(), vec![(Kind::BeyondSafeInteger, 7)]);
    }
}
