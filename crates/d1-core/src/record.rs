//! Records on stdin/stdout (docs/records.md): one per line, fields separated by a space,
//! the last field the value the next tool needs, an optional first field the database id.

use crate::error::{Error, Result};
use std::io::{BufRead, Write};

/// The longest line accepted. Signed URLs are a few hundred bytes; a 100 MB line is hostile
/// input and must not be buffered.
pub const MAX_LINE: usize = 64 * 1024;

/// One parsed input line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// 1-based line number, for messages.
    pub line: usize,
    pub database: Option<String>,
    /// The database's name, travelling with its id to file names, manifests and messages.
    pub name: Option<String>,
    /// The export's `at_bookmark` (d1-export-wait's `DATABASE_ID NAME BOOKMARK SIGNED_URL`, or
    /// its `--json` line): the point in the database's Time Travel history the dump holds.
    pub bookmark: Option<String>,
    pub value: String,
    /// The whole line when it was the previous tool's `--json` object (for its other fields).
    pub json: Option<serde_json::Value>,
}

/// Reads lines of at most [`MAX_LINE`] bytes; a longer line is skipped without being held in
/// memory and reported as an error naming it.
pub struct Lines<R> {
    inner: R,
    line: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            line: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    /// `(line number, text without the line ending)`.
    type Item = Result<(usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = Vec::new();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    if crate::signal::interrupted() {
                        self.done = true;
                        return Some(Err(Error::interrupted()));
                    }
                    continue;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(Error::io("reading standard input", e)));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if !saw_any {
                    return None;
                }
                break;
            }
            saw_any = true;
            let (part, found_newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            if !too_long {
                if buf.len() + part.len() > MAX_LINE {
                    too_long = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(part);
                }
            }
            let used = part.len() + usize::from(found_newline);
            self.inner.consume(used);
            if found_newline {
                break;
            }
        }
        self.line += 1;
        let n = self.line;
        if too_long {
            return Some(Err(Error::usage(format!(
                "line {n}: longer than {MAX_LINE} bytes, not a record"
            ))));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        match String::from_utf8(buf) {
            Ok(s) => Some(Ok((n, s))),
            Err(_) => Some(Err(Error::usage(format!("line {n}: not valid UTF-8")))),
        }
    }
}

/// Parses `VALUE`, `DATABASE_ID VALUE`, `DATABASE_ID NAME VALUE` (`-` for an unknown name) or
/// `DATABASE_ID NAME BOOKMARK VALUE`. `what` names the value for messages ("bookmark").
pub fn parse(line: usize, text: &str, what: &str) -> Result<Record> {
    if text.trim().is_empty() {
        return Err(Error::usage(format!(
            "line {line}: blank line, expected a {what}"
        )));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(Error::usage(format!(
            "line {line}: control character {:?} in {what} record",
            c
        )));
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [value] => Ok(Record {
            line,
            value: value.to_string(),
            ..Record::default()
        }),
        [db, value] => Ok(Record {
            line,
            database: Some(db.to_string()),
            value: value.to_string(),
            ..Record::default()
        }),
        [db, name, value] => Ok(Record {
            line,
            database: Some(db.to_string()),
            name: (*name != "-").then(|| name.to_string()),
            value: value.to_string(),
            ..Record::default()
        }),
        [db, name, bookmark, value] if looks_like_bookmark(bookmark) => Ok(Record {
            line,
            database: Some(db.to_string()),
            name: (*name != "-").then(|| name.to_string()),
            bookmark: (*bookmark != "-").then(|| bookmark.to_string()),
            value: value.to_string(),
            ..Record::default()
        }),
        _ => {
            let v = what.to_uppercase().replace(' ', "_");
            Err(Error::usage(format!(
                "line {line}: expected 'DATABASE_ID NAME {v}', 'DATABASE_ID {v}' or '{v}', got {} fields",
                fields.len()
            )))
        }
    }
}

/// D1's bookmarks are long runs of hex digits joined by dashes
/// (`00000085-0000024c-00004c6d-8e61…`), `-` when unknown: a third field of any other shape is
/// not one, and a four-field line with it stays refused (a path split by a space must not pass
/// as a bookmark and a shorter path).
pub fn looks_like_bookmark(s: &str) -> bool {
    s == "-"
        || ((16..=1024).contains(&s.len())
            && s.contains('-')
            && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

/// Writes one record line to stdout and flushes it at once, so the next tool in the pipeline
/// starts on it while this one goes on (a signed URL is perishable).
pub fn emit(fields: &[&str]) -> Result<()> {
    emit_line(&fields.join(" "))
}

/// Writes one JSON object as a line (`--json`).
pub fn emit_json(value: &serde_json::Value) -> Result<()> {
    emit_line(&value.to_string())
}

fn emit_line(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                stdout_closed()
            } else {
                Error::io("writing to standard output", e)
            }
        })
}

/// The reader of our stdout went away (`| head`): end quietly (docs/README.md, "Rules every tool
/// keeps").
pub fn stdout_closed() -> Error {
    Error::stdout_closed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitCode;

    fn lines(input: &[u8]) -> Vec<Result<(usize, String)>> {
        Lines::new(input).collect()
    }

    #[test]
    fn two_fields_are_database_and_value() {
        let r = parse(3, "db1 bm-1", "bookmark").unwrap();
        assert_eq!(r.database.as_deref(), Some("db1"));
        assert_eq!(r.value, "bm-1");
        assert_eq!(r.line, 3);
    }

    #[test]
    fn five_fields_or_four_without_a_bookmark_name_the_line() {
        let e = parse(7, "a b c d e", "signed URL").unwrap_err();
        assert_eq!(e.code(), ExitCode::Usage);
        assert_eq!(
            e.message,
            "line 7: expected 'DATABASE_ID NAME SIGNED_URL', 'DATABASE_ID SIGNED_URL' or 'SIGNED_URL', got 5 fields"
        );
        let e = parse(7, "id name my dump.sql", "path").unwrap_err();
        assert!(e.message.ends_with("got 4 fields"), "{}", e.message);
        assert!(
            parse(7, "a b c d", "path").is_err(),
            "one hex digit is no bookmark"
        );
        assert!(
            parse(7, "a b deadbeefdeadbeef d", "path").is_err(),
            "no dash"
        );
        let r = parse(8, "id prod-db u", "signed URL").unwrap();
        assert_eq!(r.name.as_deref(), Some("prod-db"));
        assert_eq!(r.bookmark, None);
    }

    #[test]
    fn four_fields_carry_the_bookmark_before_the_value() {
        let bm = "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683";
        let r = parse(2, &format!("id prod-db {bm} https://x/d.sql"), "signed URL").unwrap();
        assert_eq!(r.database.as_deref(), Some("id"));
        assert_eq!(r.name.as_deref(), Some("prod-db"));
        assert_eq!(r.bookmark.as_deref(), Some(bm));
        assert_eq!(r.value, "https://x/d.sql");
        let r = parse(3, "id - - u", "signed URL").unwrap();
        assert_eq!((r.name, r.bookmark), (None, None));
    }

    #[test]
    fn blank_and_control_characters_are_refused() {
        assert!(parse(1, "  ", "bookmark")
            .unwrap_err()
            .message
            .contains("blank line"));
        let e = parse(2, "db bm\u{1b}[31m", "bookmark").unwrap_err();
        assert!(
            e.message.starts_with("line 2: control character"),
            "{}",
            e.message
        );
    }

    #[test]
    fn crlf_and_missing_final_newline_are_accepted() {
        let got = lines(b"a b\r\nc");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap(), &(1, "a b".to_string()));
        assert_eq!(got[1].as_ref().unwrap(), &(2, "c".to_string()));
    }

    #[test]
    fn a_huge_line_is_skipped_without_buffering_and_later_lines_still_read() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert!(got[0]
            .as_ref()
            .unwrap_err()
            .message
            .contains("line 1: longer than"));
        assert_eq!(got[1].as_ref().unwrap(), &(2, "next".to_string()));
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"").is_empty());
    }
}
