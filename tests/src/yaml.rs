//! A reader for the subset of YAML the docs use (GitHub Actions workflows, Prometheus rules):
//! block mappings and sequences, `|`/`|-`/`>` block scalars, one-line flow `{…}` and `[…]`,
//! plain, single- and double-quoted scalars, comments. Every scalar stays a string (a workflow's
//! `on:` is a key, not YAML 1.1's `true`). Anything outside the subset (anchors, tags, several
//! documents, tabs) is an error naming the line, never a silent misreading; a test harness needs
//! no more, and a YAML crate would be a dependency for this alone.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Str(String),
    Seq(Vec<Value>),
    /// Keys in the order written.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "YAML line {}: {}", self.line, self.message)
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, Error> {
    Err(Error {
        line,
        message: message.into(),
    })
}

/// One source line: 1-based number, indentation, text without the indentation.
#[derive(Debug, Clone)]
struct Line {
    n: usize,
    indent: usize,
    text: String,
    /// The raw line, for block scalars (comments and blank lines are kept there).
    raw: String,
}

/// Parses one YAML document.
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let body = raw.trim_start_matches(' ');
        if body.starts_with('\t') {
            return err(n, "a tab in the indentation");
        }
        if raw.trim() == "---" || raw.trim() == "..." {
            return err(n, "several documents (---) are outside the subset");
        }
        lines.push(Line {
            n,
            indent: raw.len() - body.len(),
            text: strip_comment(body).trim_end().to_string(),
            raw: raw.to_string(),
        });
    }
    let mut p = Parser { lines, pos: 0 };
    p.skip_blank();
    if p.pos >= p.lines.len() {
        return Ok(Value::Null);
    }
    let indent = p.lines[p.pos].indent;
    let v = p.node(indent)?;
    p.skip_blank();
    if let Some(l) = p.lines.get(p.pos) {
        return err(l.n, format!("unexpected indentation: {:?}", l.text));
    }
    Ok(v)
}

/// The text before a ` #` comment that is outside quotes.
fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &s[..i],
            _ => {}
        }
        prev = c;
    }
    s
}

struct Parser {
    lines: Vec<Line>,
    pos: usize,
}

impl Parser {
    fn skip_blank(&mut self) {
        while self.lines.get(self.pos).is_some_and(|l| l.text.is_empty()) {
            self.pos += 1;
        }
    }

    /// The node whose first line is at `self.pos`, indented `indent`.
    fn node(&mut self, indent: usize) -> Result<Value, Error> {
        let l = self.lines[self.pos].clone();
        if l.text == "-" || l.text.starts_with("- ") {
            self.seq(indent)
        } else if key_split(&l.text).is_some() {
            self.map(indent)
        } else {
            self.pos += 1;
            flow_all(&l.text, l.n)
        }
    }

    fn seq(&mut self, indent: usize) -> Result<Value, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(l) = self.lines.get(self.pos).cloned() else {
                break;
            };
            if l.indent < indent {
                break;
            }
            if l.indent > indent {
                return err(l.n, format!("unexpected indentation: {:?}", l.text));
            }
            if !(l.text == "-" || l.text.starts_with("- ")) {
                break;
            }
            let rest = l.text[1..].trim_start();
            if rest.is_empty() {
                self.pos += 1;
                items.push(self.child(indent, l.n)?);
            } else if matches!(rest, "|" | "|-" | ">" | ">-") {
                // `- >-`: a block scalar as an item (a container's shell command).
                let indicator = rest.to_string();
                self.pos += 1;
                items.push(self.block_scalar(indent, &indicator)?);
            } else {
                // `- key: v` starts a mapping whose keys sit where `key` is.
                let col = indent + (l.text.len() - rest.len());
                self.lines[self.pos].indent = col;
                self.lines[self.pos].text = rest.to_string();
                items.push(self.node(col)?);
            }
        }
        Ok(Value::Seq(items))
    }

    /// The value on the lines after a `key:` or `-` with nothing after it.
    fn child(&mut self, indent: usize, n: usize) -> Result<Value, Error> {
        self.skip_blank();
        match self.lines.get(self.pos) {
            Some(next) if next.indent > indent => {
                let i = next.indent;
                self.node(i)
            }
            // A sequence may sit at its key's indentation.
            Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                let _ = n;
                self.seq(indent)
            }
            _ => Ok(Value::Null),
        }
    }

    fn map(&mut self, indent: usize) -> Result<Value, Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        loop {
            self.skip_blank();
            let Some(l) = self.lines.get(self.pos).cloned() else {
                break;
            };
            if l.indent < indent || (l.indent == indent && l.text.starts_with("- ")) {
                break;
            }
            if l.indent > indent {
                return err(l.n, format!("unexpected indentation: {:?}", l.text));
            }
            let Some((key, rest)) = key_split(&l.text) else {
                return err(l.n, format!("expected `key: value`, got {:?}", l.text));
            };
            let key = scalar(key, l.n)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return err(l.n, format!("key {key:?} appears twice"));
            }
            self.pos += 1;
            let value = match rest {
                "" => self.child(indent, l.n)?,
                "|" | "|-" | ">" | ">-" => self.block_scalar(indent, rest)?,
                _ => flow_all(rest, l.n)?,
            };
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }

    /// The lines of a `|` or `>` scalar: those indented more than its key (and blank ones).
    fn block_scalar(&mut self, indent: usize, style: &str) -> Result<Value, Error> {
        let mut raw = Vec::new();
        while let Some(l) = self.lines.get(self.pos) {
            if !l.raw.trim().is_empty() && l.indent <= indent {
                break;
            }
            raw.push(l.raw.clone());
            self.pos += 1;
        }
        while raw.last().is_some_and(|r| r.trim().is_empty()) {
            raw.pop();
        }
        let cut = raw
            .iter()
            .filter(|r| !r.trim().is_empty())
            .map(|r| r.len() - r.trim_start_matches(' ').len())
            .min()
            .unwrap_or(0);
        let lines: Vec<&str> = raw
            .iter()
            .map(|r| if r.len() >= cut { &r[cut..] } else { "" })
            .collect();
        let mut s = if style.starts_with('>') {
            lines.join(" ")
        } else {
            lines.join("\n")
        };
        if !style.ends_with('-') && !s.is_empty() {
            s.push('\n');
        }
        Ok(Value::Str(s))
    }
}

/// `key: rest` → (key, rest), where the `:` is outside quotes and followed by a space or the end.
fn key_split(text: &str) -> Option<(&str, &str)> {
    if text.starts_with('{') || text.starts_with('[') {
        return None;
    }
    let (mut single, mut double) = (false, false);
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b':' if !single && !double && (i + 1 == b.len() || b[i + 1] == b' ') => {
                return Some((text[..i].trim(), text[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// A one-line value: a flow collection or a scalar, with nothing left over.
fn flow_all(text: &str, n: usize) -> Result<Value, Error> {
    if text.starts_with('&') || text.starts_with('*') || text.starts_with('!') {
        return err(n, "anchors, aliases and tags are outside the subset");
    }
    if text.starts_with('{') || text.starts_with('[') {
        let mut chars: Vec<char> = text.chars().collect();
        chars.push('\0');
        let mut i = 0;
        let v = flow(&chars, &mut i, n)?;
        skip_ws(&chars, &mut i);
        if chars[i] != '\0' {
            return err(n, format!("text after the flow collection: {text:?}"));
        }
        return Ok(v);
    }
    Ok(Value::Str(scalar(text, n)?))
}

fn skip_ws(c: &[char], i: &mut usize) {
    while c[*i] == ' ' {
        *i += 1;
    }
}

fn flow(c: &[char], i: &mut usize, n: usize) -> Result<Value, Error> {
    skip_ws(c, i);
    match c[*i] {
        '{' | '[' => {
            let close = if c[*i] == '{' { '}' } else { ']' };
            *i += 1;
            let mut map = Vec::new();
            let mut seq = Vec::new();
            loop {
                skip_ws(c, i);
                if c[*i] == close {
                    *i += 1;
                    break;
                }
                if close == '}' {
                    let key = flow_scalar(c, i, n, true)?;
                    skip_ws(c, i);
                    if c[*i] != ':' {
                        return err(n, format!("expected ':' after {key:?} in a flow mapping"));
                    }
                    *i += 1;
                    map.push((key, flow(c, i, n)?));
                } else {
                    seq.push(flow(c, i, n)?);
                }
                skip_ws(c, i);
                match c[*i] {
                    ',' => *i += 1,
                    x if x == close => {}
                    _ => return err(n, "expected ',' or the end of a flow collection"),
                }
            }
            Ok(if close == '}' {
                Value::Map(map)
            } else {
                Value::Seq(seq)
            })
        }
        _ => Ok(Value::Str(flow_scalar(c, i, n, false)?)),
    }
}

/// A scalar inside a flow collection: it ends at `,`, `}`, `]` (and `:` for a key).
fn flow_scalar(c: &[char], i: &mut usize, n: usize, key: bool) -> Result<String, Error> {
    skip_ws(c, i);
    let start = *i;
    if c[*i] == '"' || c[*i] == '\'' {
        let q = c[*i];
        *i += 1;
        while c[*i] != '\0' {
            if c[*i] == '\\' && q == '"' {
                *i += 2;
                continue;
            }
            if c[*i] == q {
                if q == '\'' && c[*i + 1] == '\'' {
                    *i += 2;
                    continue;
                }
                *i += 1;
                let s: String = c[start..*i].iter().collect();
                return scalar(&s, n);
            }
            *i += 1;
        }
        return err(n, "unclosed quote");
    }
    let end = |ch: char| matches!(ch, ',' | '}' | ']' | '\0') || (key && ch == ':');
    while !end(c[*i]) {
        *i += 1;
    }
    let s: String = c[start..*i].iter().collect();
    scalar(s.trim(), n)
}

/// A plain or quoted scalar, unquoted.
fn scalar(s: &str, n: usize) -> Result<String, Error> {
    if let Some(inner) = s.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return err(n, format!("unclosed or trailing text after a quote: {s}"));
        };
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(ch) = chars.next() {
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                other => return err(n, format!("escape \\{other:?} is outside the subset")),
            }
        }
        return Ok(out);
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return err(n, format!("unclosed or trailing text after a quote: {s}"));
        };
        return Ok(inner.replace("''", "'"));
    }
    if s.starts_with('&') || s.starts_with('*') || s.starts_with('!') || s.starts_with('%') {
        return err(
            n,
            "anchors, aliases, tags and directives are outside the subset",
        );
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn reads_a_workflow() {
        let y = "# c\nname: d1-backup\non:\n  schedule: [{cron: \"17 3 * * *\"}]\n  \
                 workflow_dispatch: {}\njobs:\n  backup:\n    env:\n      T: ${{ secrets.T }}\n    \
                 steps:\n      - uses: actions/checkout@v4\n      - run: make install # x\n      \
                 - run: |\n          set -o pipefail\n\n          echo '#' a\n      \
                 - uses: actions/upload-artifact@v4\n        with: {name: b, path: backups/, n: 30}\n";
        let v = parse(y).unwrap();
        assert_eq!(v.get("name"), Some(&s("d1-backup")));
        let on = v.get("on").unwrap();
        assert_eq!(
            on.get("schedule"),
            Some(&Value::Seq(vec![Value::Map(vec![(
                "cron".into(),
                s("17 3 * * *")
            )])]))
        );
        assert_eq!(on.get("workflow_dispatch"), Some(&Value::Map(vec![])));
        let job = v.get("jobs").unwrap().get("backup").unwrap();
        assert_eq!(
            job.get("env").unwrap().get("T"),
            Some(&s("${{ secrets.T }}"))
        );
        let Value::Seq(steps) = job.get("steps").unwrap() else {
            panic!()
        };
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[1].get("run"), Some(&s("make install")));
        assert_eq!(
            steps[2].get("run"),
            Some(&s("set -o pipefail\n\necho '#' a\n"))
        );
        assert_eq!(steps[3].get("with").unwrap().get("n"), Some(&s("30")));
    }

    #[test]
    fn reads_a_block_scalar_as_a_list_item() {
        let v = parse("args:\n  - >-\n    a | b\n    | c\n  - d\n").unwrap();
        assert_eq!(
            v.get("args"),
            Some(&Value::Seq(vec![
                Value::Str("a | b | c".into()),
                Value::Str("d".into())
            ]))
        );
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        assert_eq!(parse("a: 1\n  b: 2\n").unwrap_err().line, 2);
        assert!(parse("a: &x 1\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("a: {b: 1\n").is_err());
        assert!(parse("a: 1\na: 2\n").is_err());
    }
}
