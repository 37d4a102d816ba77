//! SQLite's lexical rules, written once for every reader of a dump's text: the statement
//! splitter (split.rs, which the emulator's import uses too) and, in d1-verify, the
//! D1-compatibility checks (compat.rs), the quirk scan (quirks.rs) and the fast path's
//! character classes (fastpath.rs).
//!
//! The lexer is resumable: given a buffer that grows (a dump arrives in chunks), it returns the
//! next complete token, or `More` when the buffer ends inside one, and continues where it
//! stopped once the buffer has grown, so every byte is looked at a bounded number of times
//! whatever the chunk size (issue 17: a splitter that re-read a 2 MB trigger at every `;`
//! took 204 s).
//!
//! Classes follow SQLite's tokenizer (tokenize.c): whitespace is space, tab, newline, form
//! feed and carriage return; identifier characters are ASCII letters and digits, `_`, `$` and
//! every byte from 0x80; strings and quoted names double their quote to escape it; `[...]`
//! has no escape; `--` runs to the end of the line, `/* */` to its end or the end of input.
//!
//! The functions called for every token are `#[inline]`: they are d1-verify's hot path and are
//! called from other crates, which cannot inline them otherwise (short of LTO).

/// Whitespace to SQLite's tokenizer (0x0b, vertical tab, is not).
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// A byte that may continue an identifier (or a keyword, or a number's tail).
#[inline]
pub fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

#[inline]
fn is_id_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Space,
    /// `-- ...` (without its newline) or `/* ... */`.
    Comment,
    /// A keyword or a bare identifier.
    Word,
    /// A numeric literal, with whatever identifier characters stick to it (`1abc`, `0x1f`,
    /// `1_000`): SQLite's parser judges it, not the lexer.
    Number,
    /// `'...'`.
    Str,
    /// `X'...'`.
    Blob,
    /// `"..."`, `` `...` `` or `[...]`.
    Quoted,
    Semi,
    /// Any other single byte (operators, parentheses, a NUL).
    Punct,
}

impl Kind {
    /// Space and comments: nothing to SQLite's parser.
    #[inline]
    pub fn is_trivia(self) -> bool {
        matches!(self, Kind::Space | Kind::Comment)
    }
}

/// A token: its kind and where it is in the text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// False for a string, quoted name, blob or block comment that the end of input cut off.
    pub closed: bool,
}

impl Token {
    #[inline]
    pub fn text<'a>(&self, s: &'a [u8]) -> &'a [u8] {
        &s[self.start..self.end]
    }

    /// The text of a string or quoted name without its quotes and with doubled quotes made
    /// single (an unterminated one runs to the end); other tokens as they are.
    pub fn unquoted(&self, s: &[u8]) -> Vec<u8> {
        let t = self.text(s);
        let (open, inner) = match self.kind {
            Kind::Str | Kind::Quoted => (t[0], &t[1..]),
            Kind::Blob => (b'\'', &t[2..]),
            _ => return t.to_vec(),
        };
        let close = if open == b'[' { b']' } else { open };
        let inner = inner.strip_suffix(&[close]).unwrap_or(inner);
        if close == b']' {
            return inner.to_vec();
        }
        let mut out = Vec::with_capacity(inner.len());
        let mut i = 0;
        while i < inner.len() {
            out.push(inner[i]);
            i += if inner[i] == close { 2 } else { 1 };
        }
        out
    }
}

/// What the scan of a token that reached the end of the buffer was inside.
#[derive(Clone, Copy, Debug)]
enum Run {
    Space,
    Line,
    Block,
    /// A string or quoted name closed by this byte.
    Quote(u8),
    Word,
    Number,
}

/// The next step of the lexer.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Token(Token),
    /// The buffer ends inside a token: call again when it has grown (or with `eof`).
    More,
    /// Nothing left in the buffer.
    End,
}

/// A resumable lexer over a buffer that may grow between calls.
#[derive(Default, Debug)]
pub struct Lexer {
    /// A token begun but not finished: its run, kind, start and where to resume.
    partial: Option<(Run, Kind, usize, usize)>,
}

impl Lexer {
    /// The token at `*pos` in `s`, advancing `*pos` past it. `eof`: `s` will not grow, so a
    /// token cut off by its end ends there (an unterminated string is a `Str` to the end).
    #[inline]
    pub fn next(&mut self, s: &[u8], pos: &mut usize, eof: bool) -> Next {
        let (run, kind, start, from) = match self.partial.take() {
            Some(p) => p,
            None => {
                let i = *pos;
                let Some(&b) = s.get(i) else {
                    return Next::End;
                };
                let next = s.get(i + 1).copied();
                let one = |kind| {
                    Next::Token(Token {
                        kind,
                        start: i,
                        end: i + 1,
                        closed: true,
                    })
                };
                match b {
                    _ if is_space(b) => (Run::Space, Kind::Space, i, i + 1),
                    b'-' | b'/' => {
                        let opener = if b == b'-' { b'-' } else { b'*' };
                        match next {
                            None if !eof => return Next::More,
                            Some(n) if n == opener => {
                                let run = if b == b'-' { Run::Line } else { Run::Block };
                                (run, Kind::Comment, i, i + 2)
                            }
                            _ => {
                                *pos = i + 1;
                                return one(Kind::Punct);
                            }
                        }
                    }
                    b'\'' => (Run::Quote(b'\''), Kind::Str, i, i + 1),
                    b'"' | b'`' => (Run::Quote(b), Kind::Quoted, i, i + 1),
                    b'[' => (Run::Quote(b']'), Kind::Quoted, i, i + 1),
                    b';' => {
                        *pos = i + 1;
                        return one(Kind::Semi);
                    }
                    b'0'..=b'9' => (Run::Number, Kind::Number, i, i + 1),
                    b'.' => match next {
                        None if !eof => return Next::More,
                        Some(b'0'..=b'9') => (Run::Number, Kind::Number, i, i + 1),
                        _ => {
                            *pos = i + 1;
                            return one(Kind::Punct);
                        }
                    },
                    _ if is_id_start(b) => (Run::Word, Kind::Word, i, i + 1),
                    _ => {
                        *pos = i + 1;
                        return one(Kind::Punct);
                    }
                }
            }
        };
        match scan(run, s, start, from, eof) {
            Ok((end, closed)) => {
                // `x'...'` is a blob: a one-letter word `x` that a quote follows.
                if kind == Kind::Word
                    && end == start + 1
                    && s[start].eq_ignore_ascii_case(&b'x')
                    && s.get(end) == Some(&b'\'')
                {
                    self.partial = Some((Run::Quote(b'\''), Kind::Blob, start, end + 1));
                    return self.next(s, pos, eof);
                }
                *pos = end;
                Next::Token(Token {
                    kind,
                    start,
                    end,
                    closed,
                })
            }
            Err(resume) => {
                self.partial = Some((run, kind, start, resume));
                Next::More
            }
        }
    }

    /// The buffer lost its first `n` bytes (all before the token being read).
    pub fn shift(&mut self, n: usize) {
        if let Some((_, _, start, resume)) = &mut self.partial {
            *start -= n;
            *resume -= n;
        }
    }
}

/// Continues a token from `from`: `Ok((end, closed))`, or `Err(resume)` when `s` ends first.
fn scan(run: Run, s: &[u8], start: usize, from: usize, eof: bool) -> Result<(usize, bool), usize> {
    let len = s.len();
    // The input ends inside the token: it ends there for good (cut off), or more may come.
    let cut = |resume: usize| if eof { Ok((len, false)) } else { Err(resume) };
    let at = |end: usize| Ok((end, true));
    match run {
        Run::Space => at(from + s[from..].iter().take_while(|&&b| is_space(b)).count()),
        Run::Line => match memchr::memchr(b'\n', &s[from..]) {
            Some(n) => at(from + n),
            // A line comment may end with the input.
            None if eof => at(len),
            None => Err(len),
        },
        Run::Block => match memchr::memmem::find(&s[from..], b"*/") {
            Some(n) => at(from + n + 2),
            // A `*` at the very end may be half of the `*/`.
            None => cut(from.max(len.saturating_sub(1))),
        },
        Run::Quote(close) => {
            let mut j = from;
            loop {
                // memchr: a dump's strings are most of its bytes (text-heavy rows, long bodies).
                match memchr::memchr(close, &s[j..]) {
                    None => return cut(len),
                    Some(n) => {
                        let k = j + n;
                        if close == b']' {
                            return at(k + 1);
                        }
                        match s.get(k + 1) {
                            // A doubled quote is one quote character: go on.
                            Some(&b) if b == close => j = k + 2,
                            Some(_) => return at(k + 1),
                            // Is the quote doubled? The next byte decides.
                            None => return if eof { at(k + 1) } else { Err(k) },
                        }
                    }
                }
            }
        }
        Run::Word => {
            let end = from + s[from..].iter().take_while(|&&b| is_id_char(b)).count();
            if end == len && !eof {
                Err(len)
            } else {
                at(end)
            }
        }
        Run::Number => {
            let hex = s.get(start + 1).is_some_and(|&b| b == b'x' || b == b'X') && s[start] == b'0';
            let mut j = from;
            while j < len {
                let b = s[j];
                if (b == b'+' || b == b'-') && !hex && matches!(s[j - 1], b'e' | b'E') {
                    // An exponent's sign only when a digit follows (`1e--5` is `1e`, then a
                    // comment, as SQLite reads it).
                    match s.get(j + 1) {
                        Some(d) if d.is_ascii_digit() => {}
                        Some(_) => return at(j),
                        None => return if eof { at(j) } else { Err(j) },
                    }
                } else if !(is_id_char(b) || b == b'.') {
                    return at(j);
                }
                j += 1;
            }
            if eof {
                at(len)
            } else {
                Err(len)
            }
        }
    }
}

/// The one token at `i` of a complete text.
pub fn token_at(s: &[u8], i: usize) -> Option<Token> {
    let mut pos = i;
    match Lexer::default().next(s, &mut pos, true) {
        Next::Token(t) => Some(t),
        Next::More | Next::End => None,
    }
}

/// The tokens of a complete text.
pub fn tokens(s: &[u8]) -> impl Iterator<Item = Token> + '_ {
    let mut lexer = Lexer::default();
    let mut pos = 0;
    std::iter::from_fn(move || match lexer.next(s, &mut pos, true) {
        Next::Token(t) => Some(t),
        Next::More | Next::End => None,
    })
}

/// Whether a `;` ends a statement: SQLite's `sqlite3_complete` automaton (complete.c), fed one
/// token at a time instead of re-reading the statement, so that the `;`s inside a
/// `CREATE TRIGGER ... BEGIN ... END;` body do not end it.
#[derive(Default, Debug)]
pub struct Ender(u8);

/// States: 0 start, 1 after a `;`, 2 a statement, 3 after EXPLAIN, 4 after CREATE [TEMP],
/// 5 in a trigger, 6 after a `;` in a trigger, 7 after END in a trigger.
/// Tokens: `;`, space, other, EXPLAIN, CREATE, TEMP, TRIGGER, END.
const TRANSITIONS: [[u8; 8]; 8] = [
    [1, 0, 2, 3, 4, 2, 2, 2],
    [1, 1, 2, 3, 4, 2, 2, 2],
    [1, 2, 2, 2, 2, 2, 2, 2],
    [1, 3, 3, 2, 4, 2, 2, 2],
    [1, 4, 2, 2, 2, 4, 5, 2],
    [6, 5, 5, 5, 5, 5, 5, 5],
    [6, 6, 5, 5, 5, 5, 5, 7],
    [1, 7, 5, 5, 5, 5, 5, 5],
];

impl Ender {
    /// Feeds a token of `s`; true when it is a `;` that ends the statement.
    #[inline]
    pub fn feed(&mut self, t: &Token, s: &[u8]) -> bool {
        let class = match t.kind {
            Kind::Semi => 0,
            Kind::Space | Kind::Comment => 1,
            // Only these states look at which word it is.
            Kind::Word if matches!(self.0, 0 | 1 | 3 | 4 | 6) => {
                let w = t.text(s);
                let is = |k: &str| w.eq_ignore_ascii_case(k.as_bytes());
                if is("EXPLAIN") {
                    3
                } else if is("CREATE") {
                    4
                } else if is("TEMP") || is("TEMPORARY") {
                    5
                } else if is("TRIGGER") {
                    6
                } else if is("END") {
                    7
                } else {
                    2
                }
            }
            _ => 2,
        };
        self.0 = TRANSITIONS[usize::from(self.0)][class];
        class == 0 && self.0 == 1
    }

    /// Back to the start, for the next statement.
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, &str)> {
        tokens(s.as_bytes())
            .map(|t| (t.kind, &s[t.start..t.end]))
            .filter(|(k, _)| *k != Kind::Space)
            .collect()
    }

    #[test]
    fn tokens_are_sqlites() {
        use Kind::*;
        assert_eq!(
            kinds("INSERT INTO \"a\"\"b\" VALUES('it''s',x'0A',-1.5e+3,[c]);--x\n/*y*/.5 a.b"),
            vec![
                (Word, "INSERT"),
                (Word, "INTO"),
                (Quoted, "\"a\"\"b\""),
                (Word, "VALUES"),
                (Punct, "("),
                (Str, "'it''s'"),
                (Punct, ","),
                (Blob, "x'0A'"),
                (Punct, ","),
                (Punct, "-"),
                (Number, "1.5e+3"),
                (Punct, ","),
                (Quoted, "[c]"),
                (Punct, ")"),
                (Semi, ";"),
                (Comment, "--x"),
                (Comment, "/*y*/"),
                (Number, ".5"),
                (Word, "a"),
                (Punct, "."),
                (Word, "b"),
            ]
        );
        assert_eq!(
            kinds("0x1e+1"),
            vec![(Number, "0x1e"), (Punct, "+"), (Number, "1")]
        );
        assert_eq!(kinds("'open"), vec![(Str, "'open")]);
        let closed = |t: &str| tokens(t.as_bytes()).map(|t| t.closed).collect::<Vec<_>>();
        assert_eq!(closed("'a''"), vec![false]);
        assert_eq!(closed("'a'''"), vec![true]);
        assert_eq!(closed("x'00"), vec![false]);
        assert_eq!(closed("/* a *"), vec![false]);
        assert_eq!(closed("-- a"), vec![true]);
        assert_eq!(kinds("1e--5;"), vec![(Number, "1e"), (Comment, "--5;")]);
        assert_eq!(
            kinds("1e-x"),
            vec![(Number, "1e"), (Punct, "-"), (Word, "x")]
        );
        assert_eq!(kinds("/* open"), vec![(Comment, "/* open")]);
    }

    #[test]
    fn a_token_read_in_pieces_is_the_same_token() {
        let text = b"INSERT INTO \"t\" VALUES('a''b', X'00', 1e+5, [x]) -- c\n/* d */ ;";
        let whole: Vec<Token> = tokens(text).collect();
        for step in 1..8 {
            let (mut lx, mut pos, mut got, mut upto) = (Lexer::default(), 0, Vec::new(), 0);
            loop {
                let eof = upto >= text.len();
                match lx.next(&text[..upto.min(text.len())], &mut pos, eof) {
                    Next::Token(t) => got.push(t),
                    Next::End if eof => break,
                    Next::More | Next::End => upto += step,
                }
            }
            // Runs of space may come in pieces; nothing else may.
            let merge = |v: &[Token]| -> Vec<(Kind, usize)> {
                let mut out: Vec<(Kind, usize)> = Vec::new();
                for t in v {
                    match out.last_mut() {
                        Some((Kind::Space, e)) if t.kind == Kind::Space => *e = t.end,
                        _ => out.push((t.kind, t.end)),
                    }
                }
                out
            };
            assert_eq!(merge(&got), merge(&whole), "step {step}");
        }
    }

    #[test]
    fn unquoting_undoes_doubled_quotes() {
        let s = b"'it''s' \"a\"\"b\" [x\"y] 'open";
        let got: Vec<Vec<u8>> = tokens(s)
            .filter(|t| t.kind != Kind::Space)
            .map(|t| t.unquoted(s))
            .collect();
        assert_eq!(
            got,
            vec![
                b"it's".to_vec(),
                b"a\"b".to_vec(),
                b"x\"y".to_vec(),
                b"open".to_vec()
            ]
        );
    }

    /// sqlite3_complete on the whole text, for comparison.
    fn complete(text: &str) -> bool {
        let c = std::ffi::CString::new(text).unwrap();
        // SAFETY: a valid NUL-terminated string.
        unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
    }

    #[test]
    fn the_ender_agrees_with_sqlite3_complete() {
        for text in [
            "SELECT 1;",
            "CREATE TABLE t(a);",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;",
            "create temp trigger tr after insert on t begin select 1; end ;",
            "CREATE TEMPORARY TRIGGER x BEGIN SELECT 'END;'; END /* ; */ ;",
            "EXPLAIN CREATE TRIGGER x BEGIN SELECT 1; END;",
            "EXPLAIN SELECT 1;",
            "CREATE TRIGGER x BEGIN SELECT 1; end2;",
            "CREATE TRIGGER x BEGIN SELECT 1; END; SELECT 2;",
            "CREATE TABLE trigger(a);",
            "CREATE VIEW v AS SELECT 1 AS trigger;",
            "CREATE TRIGGER x BEGIN SELECT 1e--5; END;",
            "CREATE TRIGGER x BEGIN SELECT 1e--5; END;\n",
            "CREATE TRIGGER x BEGIN SELECT [a;b]; END /* ;",
        ] {
            let s = text.as_bytes();
            let mut e = Ender::default();
            for t in tokens(s) {
                e.feed(&t, s);
            }
            assert_eq!(e.0 == 1, complete(text), "{text}");
        }
    }
}
