//! A streaming SQL statement splitter: reads bytes and yields one complete statement at a time
//! with the line it starts on, so that a 10 GB dump never sits in memory (design.md, streaming).
//!
//! It knows SQLite's lexical rules that matter for finding the end of a statement: `'...'`
//! strings (`''` escapes), `"..."`, `` `...` `` and `[...]` identifiers, `--` and `/* */`
//! comments. A `;` outside those ends a statement, except inside a `CREATE TRIGGER ... BEGIN
//! ... END;` body: for statements starting with CREATE, SQLite's own `sqlite3_complete` has the
//! last word (it is what the sqlite3 shell uses for the same job).

use std::io::BufRead;

/// One statement: its first line (1-based) and its text from its first token to its `;`
/// (leading whitespace and comments are dropped).
pub struct Statement<'a> {
    pub line: u64,
    pub text: &'a [u8],
}

#[derive(Debug)]
pub enum SplitError {
    Io(std::io::Error),
    /// The input ended inside a statement (a truncated download).
    Incomplete {
        line: u64,
    },
    /// A statement longer than the cap: refused rather than buffered without bound.
    TooLong {
        line: u64,
        max: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Normal,
    /// Saw `-` in normal text: a comment if another `-` follows.
    Dash,
    /// Saw `/` in normal text: a comment if `*` follows.
    Slash,
    Single,
    Double,
    Backtick,
    Bracket,
    LineComment,
    BlockComment,
    /// Saw `*` inside a block comment: it ends if `/` follows.
    BlockStar,
}

pub struct Splitter<R> {
    reader: R,
    buf: Vec<u8>,
    /// The current line (1-based) at the reading position.
    line: u64,
    state: State,
    /// Where the current statement's first token is in `buf`, and its line.
    content: Option<(usize, u64)>,
    /// Position and line of a `-` or `/` that may start a comment or may be content.
    pending: (usize, u64),
    max: usize,
    bytes: u64,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

impl<R: BufRead> Splitter<R> {
    pub fn new(reader: R, max: usize) -> Splitter<R> {
        Splitter {
            reader,
            buf: Vec::with_capacity(64 * 1024),
            line: 1,
            state: State::Normal,
            content: None,
            pending: (0, 1),
            max,
            bytes: 0,
        }
    }

    /// Bytes consumed so far (of the decompressed SQL).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The next statement, `Ok(None)` at a clean end of input.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Statement<'_>>, SplitError> {
        self.buf.clear();
        self.content = None;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SplitError::Io(e)),
            };
            if chunk.is_empty() {
                // A `-` or `/` left pending at the end is content (and so an incomplete statement).
                if matches!(self.state, State::Dash | State::Slash) && self.content.is_none() {
                    self.content = Some(self.pending);
                }
                return match self.content {
                    Some((_, line)) => Err(SplitError::Incomplete { line }),
                    None => Ok(None),
                };
            }
            let base = self.buf.len();
            let mut end = None;
            let mut i = 0;
            while i < chunk.len() {
                let b = chunk[i];
                let pos = base + i;
                match self.state {
                    State::Single | State::Double | State::Backtick | State::Bracket => {
                        let close = match self.state {
                            State::Single => b'\'',
                            State::Double => b'"',
                            State::Backtick => b'`',
                            _ => b']',
                        };
                        // Fast scan to the closing quote, counting lines on the way.
                        let rest = &chunk[i..];
                        let n = rest.iter().position(|&c| c == close).unwrap_or(rest.len());
                        self.line += rest[..n].iter().filter(|&&c| c == b'\n').count() as u64;
                        i += n;
                        if i < chunk.len() {
                            self.state = State::Normal;
                            i += 1;
                        }
                        continue;
                    }
                    State::LineComment => {
                        if b == b'\n' {
                            self.state = State::Normal;
                        }
                    }
                    State::BlockComment => {
                        if b == b'*' {
                            self.state = State::BlockStar;
                        }
                    }
                    State::BlockStar => {
                        self.state = match b {
                            b'/' => State::Normal,
                            b'*' => State::BlockStar,
                            _ => State::BlockComment,
                        }
                    }
                    State::Dash | State::Slash => {
                        let opener = if self.state == State::Dash {
                            b'-'
                        } else {
                            b'*'
                        };
                        if b == opener {
                            self.state = if opener == b'-' {
                                State::LineComment
                            } else {
                                State::BlockComment
                            };
                        } else {
                            // The `-` or `/` was an operator: content. Look at `b` afresh.
                            if self.content.is_none() {
                                self.content = Some(self.pending);
                            }
                            self.state = State::Normal;
                            continue;
                        }
                    }
                    State::Normal => match b {
                        b'-' => {
                            self.pending = (pos, self.line);
                            self.state = State::Dash;
                        }
                        b'/' => {
                            self.pending = (pos, self.line);
                            self.state = State::Slash;
                        }
                        b';' => {
                            if let Some((start, _)) = self.content {
                                // The first word, which may straddle the chunk boundary.
                                let first: Vec<u8> = self.buf[start.min(base)..]
                                    .iter()
                                    .chain(&chunk[start.saturating_sub(base)..=i])
                                    .take(6)
                                    .copied()
                                    .collect();
                                let needs_check = first.eq_ignore_ascii_case(b"CREATE");
                                if !needs_check || {
                                    let mut text = self.buf[start.min(base)..].to_vec();
                                    text.extend_from_slice(&chunk[start.saturating_sub(base)..=i]);
                                    complete(&text)
                                } {
                                    end = Some(i);
                                    break;
                                }
                            }
                        }
                        _ if is_space(b) => {}
                        _ => {
                            if self.content.is_none() {
                                self.content = Some((pos, self.line));
                            }
                            match b {
                                b'\'' => self.state = State::Single,
                                b'"' => self.state = State::Double,
                                b'`' => self.state = State::Backtick,
                                b'[' => self.state = State::Bracket,
                                _ => {}
                            }
                        }
                    },
                }
                if b == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            let used = end.map_or(chunk.len(), |e| e + 1);
            // Keep only what belongs to a statement: trivia before the first token is dropped.
            match self.content {
                Some((start, line)) if start >= base => {
                    let from = start - base;
                    self.buf.clear();
                    self.buf.extend_from_slice(&chunk[from..used]);
                    self.content = Some((0, line));
                }
                Some(_) => self.buf.extend_from_slice(&chunk[..used]),
                None => {
                    self.buf.clear();
                    // A `-` or `/` that ended the chunk may still turn out to be content.
                    if matches!(self.state, State::Dash | State::Slash) {
                        self.buf.push(chunk[used - 1]);
                        self.pending.0 = 0;
                    }
                }
            }
            self.reader.consume(used);
            self.bytes += used as u64;
            if self.buf.len() > self.max {
                let line = self.content.map_or(self.line, |(_, l)| l);
                return Err(SplitError::TooLong {
                    line,
                    max: self.max,
                });
            }
            if end.is_some() {
                let (start, line) = self.content.unwrap_or((0, self.line));
                return Ok(Some(Statement {
                    line,
                    text: &self.buf[start..],
                }));
            }
        }
    }
}

/// SQLite's own judgement of whether `text` ends a complete statement (trigger bodies).
fn complete(text: &[u8]) -> bool {
    match std::ffi::CString::new(text) {
        // SAFETY: a valid NUL-terminated string that outlives the call.
        Ok(c) => unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 },
        // A NUL inside: let SQLite's parser report whatever it makes of it.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `input` read in chunks of `chunk` bytes, to exercise every boundary.
    fn split(input: &str, chunk: usize) -> Result<Vec<(u64, String)>, SplitError> {
        let r = std::io::BufReader::with_capacity(chunk, input.as_bytes());
        let mut s = Splitter::new(r, 1 << 20);
        let mut out = Vec::new();
        while let Some(st) = s.next()? {
            out.push((st.line, String::from_utf8(st.text.to_vec()).unwrap()));
        }
        Ok(out)
    }

    fn all_chunkings(input: &str) -> Vec<(u64, String)> {
        let want = split(input, 1 << 16).unwrap();
        for c in 1..12 {
            assert_eq!(split(input, c).unwrap(), want, "chunk size {c}");
        }
        want
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_do_not_end_a_statement() {
        let sql = "INSERT INTO \"a;b\" VALUES('x;''y', [c;d], `e;f`);\n-- c;\n/* d; */ SELECT 1;";
        let got = all_chunkings(sql);
        assert_eq!(
            got,
            vec![
                (
                    1,
                    "INSERT INTO \"a;b\" VALUES('x;''y', [c;d], `e;f`);".into()
                ),
                (3, "SELECT 1;".into()),
            ]
        );
    }

    #[test]
    fn a_trigger_body_is_one_statement() {
        let sql = "CREATE TABLE t(a);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  INSERT INTO t VALUES(1);\n  DELETE FROM t;\nEND;\nINSERT INTO t VALUES(2);";
        let got = all_chunkings(sql);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, 2);
        assert!(got[1].1.ends_with("END;"));
        assert_eq!(got[2], (6, "INSERT INTO t VALUES(2);".into()));
    }

    #[test]
    fn line_numbers_count_newlines_inside_strings() {
        let sql = "INSERT INTO t VALUES('a\nb\nc');\n\nINSERT INTO t VALUES(-1);";
        let got = all_chunkings(sql);
        assert_eq!(got[1], (5, "INSERT INTO t VALUES(-1);".into()));
    }

    #[test]
    fn minus_and_slash_are_content_when_not_comments() {
        let got = all_chunkings("-1;\n/2;\n  -- x\n/* y */-3;");
        assert_eq!(
            got,
            vec![(1, "-1;".into()), (2, "/2;".into()), (4, "-3;".into())]
        );
    }

    #[test]
    fn a_truncated_statement_names_its_line() {
        for input in [
            "SELECT 1;\nINSERT INTO t VALUES('abc",
            "SELECT 1;\nINSERT",
            "SELECT 1;\n-",
        ] {
            match split(input, 3) {
                Err(SplitError::Incomplete { line }) => assert_eq!(line, 2, "{input}"),
                other => panic!("{input}: {:?}", other.map(|v| v.len())),
            }
        }
        // Trailing whitespace and comments are not a statement.
        assert_eq!(all_chunkings("SELECT 1;\n -- end\n/* x */\n").len(), 1);
    }

    #[test]
    fn empty_statements_are_skipped() {
        assert_eq!(
            all_chunkings(";;\n;SELECT 1;;"),
            vec![(2, "SELECT 1;".into())]
        );
    }

    #[test]
    fn a_statement_over_the_cap_is_an_error_not_a_buffer() {
        let big = format!("INSERT INTO t VALUES('{}');", "x".repeat(5000));
        let r = std::io::BufReader::with_capacity(100, big.as_bytes());
        let mut s = Splitter::new(r, 1000);
        assert!(matches!(
            s.next(),
            Err(SplitError::TooLong { line: 1, max: 1000 })
        ));
    }
}
