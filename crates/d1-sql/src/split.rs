//! A streaming SQL statement splitter: reads bytes and yields one complete statement at a time
//! with the line it starts on, so that a 10 GB dump never sits in memory (docs/README.md, "Rules
//! every tool keeps").
//!
//! Tokens come from lex.rs, SQLite's lexical rules: a `;` outside strings, quoted names and
//! comments ends a statement, except inside a `CREATE TRIGGER ... BEGIN ... END;` body, which
//! the `sqlite3_complete` automaton (lex::Ender) follows token by token. Every byte is lexed
//! once, so the time is linear in the dump's size (issue 17: the splitter used to copy the
//! statement and call `sqlite3_complete` at every `;` of a trigger body, 204 s for 200,000).

use crate::lex::{self, Ender, Kind, Lexer, Next};
use std::io::BufRead;

/// One statement: its first line (1-based) and its text from its first token to its `;`
/// (leading whitespace and comments are dropped).
pub struct Statement<'a> {
    pub line: u64,
    pub text: &'a [u8],
    /// Bytes from the end of the previous statement to the end of this one, the whitespace and
    /// comments between them included: what D1's import counts against its statement limit
    /// (`ingestSql` prepares that piece whole,
    /// https://github.com/cloudflare/workerd/blob/main/src/workerd/util/sqlite.c++).
    pub piece: u64,
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

pub struct Splitter<R> {
    reader: R,
    /// Bytes read and not yet handed out: `buf[head..]`, lexed up to `pos`.
    buf: Vec<u8>,
    head: usize,
    pos: usize,
    lexer: Lexer,
    ender: Ender,
    /// The line (1-based) at `counted`: newlines are counted a statement at a time, with
    /// memchr, not token by token.
    line: u64,
    counted: usize,
    /// Where the current statement's first token is in `buf`, and its line.
    content: Option<(usize, u64)>,
    max: usize,
    /// Bytes read from `reader`.
    read: u64,
    eof: bool,
    /// The end of input ends a statement that has no `;` (see `ending_at_eof`).
    eof_ends: bool,
    /// Where the last statement handed out ended, in bytes of input.
    last_end: u64,
}

impl<R: BufRead> Splitter<R> {
    pub fn new(reader: R, max: usize) -> Splitter<R> {
        Splitter {
            reader,
            buf: Vec::with_capacity(64 * 1024),
            head: 0,
            pos: 0,
            lexer: Lexer::default(),
            ender: Ender::default(),
            line: 1,
            counted: 0,
            content: None,
            max,
            read: 0,
            eof: false,
            eof_ends: false,
            last_end: 0,
        }
    }

    /// A last statement without its `;` is a statement (its text up to its last token), as
    /// SQLite's shell and D1's import run it, instead of `SplitError::Incomplete` (a truncated
    /// dump, to d1-verify).
    pub fn ending_at_eof(mut self) -> Splitter<R> {
        self.eof_ends = true;
        self
    }

    /// Bytes consumed so far (of the decompressed SQL).
    pub fn bytes(&self) -> u64 {
        self.read - (self.buf.len() - self.head) as u64
    }

    /// The next statement, `Ok(None)` at a clean end of input.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Statement<'_>>, SplitError> {
        self.content = None;
        self.ender.reset();
        loop {
            if let Some(end) = self.lex()? {
                let (start, line) = self.content.unwrap_or((end, self.line));
                let piece = self.piece_to(end);
                return Ok(Some(Statement {
                    line,
                    text: &self.buf[start..end],
                    piece,
                }));
            }
            if self.eof {
                return match self.content {
                    Some((start, line)) if self.eof_ends => {
                        let rest = &self.buf[start..];
                        let end = lex::tokens(rest)
                            .filter(|t| !t.kind.is_trivia())
                            .last()
                            .map_or(rest.len(), |t| t.end);
                        self.head = self.buf.len();
                        let piece = self.piece_to(self.buf.len());
                        let rest = &self.buf[start..];
                        Ok(Some(Statement {
                            line,
                            text: &rest[..end],
                            piece,
                        }))
                    }
                    Some((_, line)) => Err(SplitError::Incomplete { line }),
                    None => Ok(None),
                };
            }
            self.fill()?;
        }
    }

    /// The bytes since the last statement handed out, to `end` in `buf`; `end` becomes the
    /// last statement's end.
    fn piece_to(&mut self, end: usize) -> u64 {
        let at = self.read - (self.buf.len() - end) as u64;
        let piece = at - self.last_end;
        self.last_end = at;
        piece
    }

    /// Lexes what has been read: `Some(end)` when a statement ends there.
    fn lex(&mut self) -> Result<Option<usize>, SplitError> {
        while let Next::Token(t) = self.lexer.next(&self.buf, &mut self.pos, self.eof) {
            let ends = self.ender.feed(&t, &self.buf);
            match (t.kind, self.content) {
                // Space, comments and empty statements before a statement's first token.
                (Kind::Space | Kind::Comment | Kind::Semi, None) => {
                    self.head = t.end;
                    self.ender.reset();
                }
                (_, None) => self.content = Some((t.start, self.line_at(t.start))),
                _ => {}
            }
            if ends && self.content.is_some() {
                self.head = t.end;
                let (start, line) = self.content.unwrap_or((t.start, self.line));
                if t.end - start > self.max {
                    return Err(SplitError::TooLong {
                        line,
                        max: self.max,
                    });
                }
                return Ok(Some(t.end));
            }
        }
        let from = self.content.map_or(self.head, |(s, _)| s);
        if self.buf.len() - from > self.max {
            let line = match self.content {
                Some((_, l)) => l,
                None => self.line_at(self.head),
            };
            return Err(SplitError::TooLong {
                line,
                max: self.max,
            });
        }
        Ok(None)
    }

    /// The line at `pos` (not before the last position asked for).
    fn line_at(&mut self, pos: usize) -> u64 {
        if pos > self.counted {
            self.line += memchr::memchr_iter(b'\n', &self.buf[self.counted..pos]).count() as u64;
            self.counted = pos;
        }
        self.line
    }

    /// Reads the next chunk, first dropping what was handed out when that is cheap (no more to
    /// move than was dropped, so moving costs no more than reading).
    fn fill(&mut self) -> Result<(), SplitError> {
        if self.head > 0 && self.head >= self.buf.len() - self.head {
            let n = self.head;
            self.line_at(n);
            self.counted -= n;
            self.buf.drain(..n);
            self.head = 0;
            self.pos -= n;
            self.lexer.shift(n);
            if let Some((s, _)) = &mut self.content {
                *s -= n;
            }
        }
        loop {
            match self.reader.fill_buf() {
                Ok([]) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(chunk) => {
                    let n = chunk.len();
                    self.buf.extend_from_slice(chunk);
                    self.reader.consume(n);
                    self.read += n as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SplitError::Io(e)),
            }
        }
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
    fn ending_at_eof_a_last_statement_without_its_semicolon_is_a_statement() {
        for chunk in 1..12 {
            let r = std::io::BufReader::with_capacity(
                chunk,
                &b"SELECT 1;\n\nSELECT 'a;\nb' -- c\n "[..],
            );
            let mut s = Splitter::new(r, 1 << 20).ending_at_eof();
            let mut got = Vec::new();
            while let Some(st) = s.next().unwrap() {
                got.push((st.line, String::from_utf8(st.text.to_vec()).unwrap()));
            }
            assert_eq!(
                got,
                vec![(1, "SELECT 1;".into()), (3, "SELECT 'a;\nb'".into())],
                "chunk size {chunk}"
            );
            assert!(s.next().unwrap().is_none());
        }
        let r = std::io::BufReader::new(&b"SELECT 1; -- only a comment\n"[..]);
        let mut s = Splitter::new(r, 1 << 20).ending_at_eof();
        assert_eq!(s.next().unwrap().unwrap().text, b"SELECT 1;");
        assert!(s.next().unwrap().is_none());
    }

    #[test]
    fn newlines_inside_any_quoted_token_are_counted() {
        let sql = "INSERT INTO t VALUES(x'0\n0', \"a\nb\", [c\nd], /* e\nf */ 1);\nSELECT 2;";
        assert_eq!(all_chunkings(sql)[1], (6, "SELECT 2;".into()));
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
