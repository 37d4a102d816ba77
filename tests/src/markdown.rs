//! The docs harness's reader of Markdown code blocks: strict, so that a page cannot hide a block
//! from the tests. An unclosed fence, a fence opened inside a block, a fence with no kind, or a
//! kind or attribute nobody declared is an error naming the page and the line; the kinds and what
//! the harness does with each are listed in docs/README.md ("Writing docs").

use std::fmt;

/// What the harness does with a block, from its info string (the words after the fence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// ```` ```sh ````: run with bash (`set -euo pipefail`) against the emulator; `s3=BUCKET`
    /// also gives it an S3 server holding an empty BUCKET.
    Run { s3: Option<String> },
    /// ```` ```LANG file=NAME ````: written to NAME in the page's folder for the later blocks;
    /// `same-as=PATH` also requires it to be byte for byte the repository's file PATH (a script
    /// `make install` installs).
    File {
        name: String,
        same_as: Option<String>,
    },
    /// ```` ```sh skip="reason" ````: shown, not run; the reason is printed.
    Skip { reason: String },
    /// ```` ```text ```` or ```` ```console ````: output, a synopsis, a diagram; nothing to run.
    Text,
    /// ```` ```json ````: parsed (one or more JSON values), not run.
    Json,
    /// ```` ```records ````: pipe records (docs/records.md), each line parsed as the tools
    /// read it, not run.
    Records,
    /// ```` ```yaml ````: parsed by the YAML subset reader, not run.
    Yaml,
    /// ```` ```yaml workflow ````: a GitHub Actions workflow: parsed and its `run:` steps run.
    Workflow,
    /// ```` ```crontab ````: each entry run the way cron runs it.
    Crontab,
}

impl Kind {
    /// The name the per-page summary counts this kind under.
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Run { s3: None } => "sh",
            Kind::Run { s3: Some(_) } => "sh s3",
            Kind::File { .. } => "file",
            Kind::Skip { .. } => "skip",
            Kind::Text => "text",
            Kind::Json => "json",
            Kind::Records => "records",
            Kind::Yaml => "yaml",
            Kind::Workflow => "yaml workflow",
            Kind::Crontab => "crontab",
        }
    }
}

/// One fenced block: its kind, the line of its opening fence (1-based), and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub line: usize,
    pub kind: Kind,
    pub code: String,
}

/// A page that breaks the rules, with the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Languages a `file=NAME` block may be written in (the first word of its info string).
const FILE_LANGS: &[&str] = &["sh", "make", "text", "yaml", "json", "sql", "toml", "ini"];

/// A fence line: its character, how many of it, and the info string.
fn fence(line: &str) -> Option<(char, usize, &str)> {
    // CommonMark allows up to three spaces before a fence; more is an indented code line.
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let c = rest.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = rest.chars().take_while(|&x| x == c).count();
    if n < 3 {
        return None;
    }
    Some((c, n, rest[n..].trim()))
}

/// Every fenced block of a page, or the first rule it breaks.
pub fn blocks(markdown: &str) -> Result<Vec<Block>, Error> {
    let mut out = Vec::new();
    // The open block: (opening line, fence char, fence length, kind, text so far).
    let mut open: Option<(usize, char, usize, Kind, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let n = i + 1;
        match (&mut open, fence(line)) {
            (None, None) => {
                // A block the harness would not see: in a list item indented four spaces or
                // more, or in a blockquote.
                let t = line.trim_start_matches([' ', '>']);
                if t.starts_with("```") || t.starts_with("~~~") {
                    return Err(Error {
                        line: n,
                        message: "a fence indented four spaces or more, or in a blockquote: \
                                  the harness would not see the block; move it out"
                            .into(),
                    });
                }
            }
            (None, Some((c, len, info))) => {
                if info.is_empty() {
                    return Err(Error {
                        line: n,
                        message: "a fence with no kind: either a block that needs one \
                                  (```text for output, see docs/README.md) or a stray closing \
                                  fence (is the block above it closed twice?)"
                            .into(),
                    });
                }
                let kind = kind(info).map_err(|message| Error { line: n, message })?;
                open = Some((n, c, len, kind, String::new()));
            }
            (Some((start, oc, olen, _, code)), f) => match f {
                Some((c, len, info)) if c == *oc && len >= *olen => {
                    if !info.is_empty() {
                        return Err(Error {
                            line: n,
                            message: format!(
                                "a fence opened ({info:?}) inside the block opened at line \
                                 {start}: is that block missing its closing fence?"
                            ),
                        });
                    }
                    let (line, _, _, kind, code) = open.take().expect("open block");
                    out.push(Block { line, kind, code });
                }
                _ => {
                    code.push_str(line);
                    code.push('\n');
                }
            },
        }
    }
    if let Some((start, ..)) = open {
        return Err(Error {
            line: start,
            message: "this block is never closed (no closing fence before the end of the page)"
                .into(),
        });
    }
    Ok(out)
}

/// Splits an info string into words; `key="a b"` keeps its quoted value as one word.
fn words(info: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    let mut chars = info.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            out.push((key, None));
            continue;
        }
        chars.next();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unclosed quote in {key}=\"…")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if value.is_empty() {
            return Err(format!("{key}= has no value"));
        }
        out.push((key, Some(value)));
    }
}

/// The kind an info string declares.
pub fn kind(info: &str) -> Result<Kind, String> {
    let words = words(info)?;
    let (lang, attrs) = words.split_first().ok_or("no kind")?;
    if lang.1.is_some() {
        return Err(format!(
            "the info string must start with a kind, not {info:?}"
        ));
    }
    let lang = lang.0.as_str();
    let mut file = None;
    let mut same_as = None;
    let mut skip = None;
    let mut s3 = None;
    let mut workflow = false;
    for (k, v) in attrs {
        match (k.as_str(), v) {
            ("file", Some(v)) => file = Some(v.clone()),
            ("same-as", Some(v)) => same_as = Some(v.clone()),
            ("skip", Some(v)) => skip = Some(v.clone()),
            ("s3", Some(v)) => s3 = Some(v.clone()),
            ("workflow", None) => workflow = true,
            _ => {
                return Err(format!(
                    "unknown attribute {k:?} in ```{info}: known are file=NAME, \
                     same-as=PATH, skip=\"reason\", s3=BUCKET, workflow (see docs/README.md)"
                ))
            }
        }
    }
    let plain = s3.is_none() && !workflow && skip.is_none() && same_as.is_none();
    if let Some(name) = file {
        if !FILE_LANGS.contains(&lang) {
            return Err(format!(
                "a file= block must be one of {FILE_LANGS:?}, not {lang:?}"
            ));
        }
        if s3.is_some() || workflow || skip.is_some() {
            return Err("a file= block takes no other attribute than same-as=".into());
        }
        if name.starts_with('/') || name.split('/').any(|p| p == "..") {
            return Err(format!(
                "file={name}: the name must stay inside the page's folder"
            ));
        }
        return Ok(Kind::File { name, same_as });
    }
    if same_as.is_some() {
        return Err("same-as= only goes with file=NAME".into());
    }
    match lang {
        "sh" if workflow => Err("workflow goes with yaml".into()),
        "sh" => match skip {
            Some(reason) if s3.is_some() => {
                Err(format!("skip={reason:?} and s3 together: pick one"))
            }
            Some(reason) => Ok(Kind::Skip { reason }),
            None => Ok(Kind::Run { s3 }),
        },
        "yaml" if s3.is_none() && skip.is_none() => {
            Ok(if workflow { Kind::Workflow } else { Kind::Yaml })
        }
        "text" | "console" if plain => Ok(Kind::Text),
        "json" if plain => Ok(Kind::Json),
        "records" if plain => Ok(Kind::Records),
        "crontab" if plain => Ok(Kind::Crontab),
        "text" | "console" | "json" | "records" | "crontab" | "yaml" => {
            Err(format!("```{lang} takes no attributes (got {info:?})"))
        }
        _ => Err(format!(
            "unknown kind {lang:?}: known are sh (run), sh skip=\"reason\", sh s3=BUCKET, \
             LANG file=NAME, crontab, yaml, yaml workflow, json, records, text, console \
             (see docs/README.md)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_with_its_line() {
        let md = "t\n```sh\necho hi\n```\n```sh skip=\"needs wrangler\"\nw\n```\n\
                  ```make file=Makefile same-as=x/Makefile\nall:\n```\n```text\nout\n```\n\
                  ```yaml workflow\na: 1\n```\n````text\n```sh\n````\n";
        let b = blocks(md).unwrap();
        assert_eq!(b.len(), 6, "{b:?}");
        assert_eq!(b[0].line, 2);
        assert_eq!(b[0].kind, Kind::Run { s3: None });
        assert_eq!(b[0].code, "echo hi\n");
        assert_eq!(
            b[1].kind,
            Kind::Skip {
                reason: "needs wrangler".into()
            }
        );
        assert_eq!(
            b[2].kind,
            Kind::File {
                name: "Makefile".into(),
                same_as: Some("x/Makefile".into())
            }
        );
        assert_eq!(b[3].kind, Kind::Text);
        assert_eq!(b[4].kind, Kind::Workflow);
        // A longer fence holds shorter ones as text.
        assert_eq!(b[5].code, "```sh\n");
    }

    #[test]
    fn an_unclosed_fence_is_an_error_at_its_line() {
        let e = blocks("a\n```sh\necho\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("never closed"), "{e}");
    }

    #[test]
    fn a_fence_opened_inside_a_block_is_an_error() {
        let e = blocks("```sh file=x.sh\necho\n\ntext\n```sh\nrun\n```\n").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(
            e.message.contains("inside the block opened at line 1"),
            "{e}"
        );
    }

    #[test]
    fn a_fence_without_a_kind_or_with_an_unknown_one_is_an_error() {
        assert_eq!(blocks("```\nx\n```\n").unwrap_err().line, 1);
        let e = blocks("\n```python\nx\n```\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unknown kind"), "{e}");
        assert!(blocks("```sh cloudflare\nx\n```\n").is_err());
        assert!(blocks("```sh skip=\nx\n```\n").is_err());
        assert!(blocks("```text skip=\"why\"\nx\n```\n").is_err());
        assert!(blocks("```sh file=../x\nx\n```\n").is_err());
        // A block the reader would not see is an error too.
        assert_eq!(
            blocks("- item\n\n    ```sh\n    x\n    ```\n")
                .unwrap_err()
                .line,
            3
        );
        assert_eq!(blocks("> ```sh\n> x\n> ```\n").unwrap_err().line, 1);
    }
}
