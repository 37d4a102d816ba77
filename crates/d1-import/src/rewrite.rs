//! The dump as D1's import will take it, made on the fly: statements come from the file
//! (decompressed when it is zstd) through d1-verify's splitter and go out one a line, as D1
//! writes its dumps, each as it is or rewritten by d1-sql's `importable` (transaction control
//! dropped, a statement over D1's limit split into statements under it). What comes out is a
//! function of the file alone, so a first pass computes the md5 the import API asks for before
//! the upload, and the upload streams the same bytes a second time: the rewritten dump is never
//! written to disk. A dump D1 exported that needs no rewrite comes out byte for byte as it is.

use d1_core::{Error, Result};
use d1_sql::importable::{self, Transaction, MAX_STATEMENT_BYTES};
use d1_sql::split::{SplitError, Splitter};
use std::io::{BufRead, Read};

/// A statement longer than this is refused rather than held in memory to be split: D1 stores
/// at most 2 MB in a row (written in hex, a blob takes twice that), so no D1 database exports one.
pub const MAX_STATEMENT_READ: usize = 32 << 20;

/// Output handed out at a time (statements are gathered up to this).
const CHUNK: usize = 256 * 1024;

/// How many statements of each kind were rewritten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Statements over D1's limit, split.
    pub split: u64,
    /// The statements they became.
    pub split_into: u64,
    /// Transaction-control statements dropped.
    pub dropped: u64,
}

impl Counts {
    pub fn any(&self) -> bool {
        *self != Counts::default()
    }

    /// The one line that says what was rewritten.
    pub fn describe(&self, shown: &str) -> String {
        let n = |k: u64, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        format!(
            "{shown}: rewritten for D1's import: {} over {MAX_STATEMENT_BYTES} bytes split into \
             {}, {} dropped",
            n(self.split, "statement"),
            self.split_into,
            n(self.dropped, "transaction statement"),
        )
    }
}

/// The rewritten dump, read from `reader` (see the module comment).
pub struct Rewriter<R> {
    split: Splitter<R>,
    out: Vec<u8>,
    /// A statement went out already: the next one starts on a new line.
    wrote: bool,
    /// The dump created a table with the scratch table's name.
    staging_taken: bool,
    counts: Counts,
    /// The file, for messages.
    shown: String,
    done: bool,
}

impl<R: BufRead> Rewriter<R> {
    pub fn new(reader: R, shown: &str) -> Rewriter<R> {
        Rewriter {
            split: Splitter::new(reader, MAX_STATEMENT_READ),
            out: Vec::with_capacity(CHUNK * 2),
            wrote: false,
            staging_taken: false,
            counts: Counts::default(),
            shown: shown.to_string(),
            done: false,
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Bytes of the dump read so far (decompressed).
    pub fn read_bytes(&self) -> u64 {
        self.split.bytes()
    }

    /// The next bytes of the rewritten dump, `None` at its end.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        self.out.clear();
        while !self.done && self.out.len() < CHUNK {
            self.statement()?;
        }
        Ok((!self.out.is_empty()).then_some(&self.out[..]))
    }

    /// Reads one statement and writes what D1 gets for it.
    fn statement(&mut self) -> Result<()> {
        let shown = &self.shown;
        let st = match self.split.next() {
            Ok(Some(st)) => st,
            Ok(None) => {
                self.done = true;
                return Ok(());
            }
            Err(SplitError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(Error::failed(format!("{shown}: {e}")))
            }
            Err(SplitError::Io(e)) => return Err(Error::io(format!("reading {shown}"), e)),
            Err(SplitError::Incomplete { line }) => {
                return Err(Error::failed(format!(
                    "{shown}: line {line}: the dump ends inside a statement (truncated?); \
                     nothing was imported"
                )))
            }
            Err(SplitError::TooLong { line, max }) => {
                return Err(Error::failed(format!(
                    "{shown}: line {line}: a statement longer than {} MiB, more than any D1 \
                     database can hold in a row (2 MB); nothing was imported",
                    max >> 20
                )))
            }
        };
        let (line, text) = (st.line, st.text);
        let starts = |letters: &[u8]| text.first().is_some_and(|b| letters.contains(b));
        if starts(b"BbCcEeSsRr") {
            match importable::transaction(text) {
                Some((_, Transaction::Drop)) => {
                    self.counts.dropped += 1;
                    return Ok(());
                }
                Some((word, Transaction::Refuse)) => {
                    return Err(Error::failed(format!(
                        "{shown}: line {line}: {word} undoes what the dump wrote before it \
                         (sqlite3's .dump ends with it when it could not read the whole \
                         database), and D1's import refuses it; nothing was imported"
                    )))
                }
                None => {}
            }
        }
        if starts(b"Cc") && importable::creates_staging(text) {
            self.staging_taken = true;
        }
        if !importable::too_long(text.len(), !self.wrote) {
            if self.wrote {
                self.out.push(b'\n');
            }
            self.out.extend_from_slice(text);
            self.wrote = true;
            return Ok(());
        }
        let cannot = |why: &str| {
            Error::failed(format!(
                "{shown}: line {line}: the statement is {}, over D1's limit of \
                 {MAX_STATEMENT_BYTES} bytes per statement, and d1-import cannot split it: \
                 {why}; nothing was imported",
                importable::size(text.len())
            ))
        };
        let sql = std::str::from_utf8(text).map_err(|_| cannot("it is not UTF-8 text"))?;
        let parts = importable::split(sql).map_err(|why| cannot(&why))?;
        let scratch = format!("CREATE TABLE \"{}\"", importable::STAGING);
        if self.staging_taken && parts.iter().any(|p| p.starts_with(&scratch)) {
            return Err(cannot(&format!(
                "it builds the row in a scratch table named {}, and the dump has a table of \
                 that name",
                importable::STAGING
            )));
        }
        self.counts.split += 1;
        self.counts.split_into += parts.len() as u64;
        for p in parts {
            if self.wrote {
                self.out.push(b'\n');
            }
            self.out.extend_from_slice(p.as_bytes());
            self.wrote = true;
        }
        Ok(())
    }
}

/// The rewritten dump as a reader, for the upload's body. An error (the file changed since the
/// first pass) is an I/O error that ends the upload.
pub struct Reader<R> {
    rw: Rewriter<R>,
    at: usize,
}

impl<R: BufRead> Reader<R> {
    pub fn new(rw: Rewriter<R>) -> Reader<R> {
        Reader { rw, at: 0 }
    }
}

impl<R: BufRead> Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.rw.out.len() {
            self.at = 0;
            if self
                .rw
                .next_chunk()
                .map_err(|e| std::io::Error::other(e.message))?
                .is_none()
            {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.rw.out.len() - self.at);
        buf[..n].copy_from_slice(&self.rw.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(dump: &str) -> Result<(String, Counts)> {
        for chunk in [1, 7, 1 << 16] {
            let r = std::io::BufReader::with_capacity(chunk, dump.as_bytes());
            let mut rw = Rewriter::new(r, "d.sql");
            let mut out = Vec::new();
            while let Some(b) = rw.next_chunk()? {
                out.extend_from_slice(b);
            }
            let counts = rw.counts();
            let mut again = Vec::new();
            Reader::new(Rewriter::new(dump.as_bytes(), "d.sql"))
                .read_to_end(&mut again)
                .unwrap();
            assert_eq!(again, out, "the second pass gives the same bytes");
            if chunk == 1 << 16 {
                return Ok((String::from_utf8(out).unwrap(), counts));
            }
        }
        unreachable!()
    }

    const D1_DUMP: &str = "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE \"t\" (a);\n\
                           INSERT INTO \"t\" (\"a\") VALUES(replace('x\\ny','\\n',char(10)));\n\
                           CREATE INDEX i ON t(a);";

    #[test]
    fn a_d1_dump_that_needs_nothing_comes_out_byte_for_byte() {
        let (out, counts) = rewrite(D1_DUMP).unwrap();
        assert_eq!(out, D1_DUMP);
        assert!(!counts.any());
    }

    #[test]
    fn transaction_control_is_dropped_and_counted_and_comments_between_go() {
        let dump = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n-- c\nCREATE TABLE t(a);\n\
                    SAVEPOINT s;\nINSERT INTO t VALUES(1);\nRELEASE s;\nCOMMIT;\n";
        let (out, counts) = rewrite(dump).unwrap();
        assert_eq!(
            out,
            "PRAGMA foreign_keys=OFF;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);"
        );
        assert_eq!(
            counts,
            Counts {
                dropped: 4,
                ..Counts::default()
            }
        );
        assert_eq!(
            counts.describe("d.sql"),
            "d.sql: rewritten for D1's import: 0 statements over 100000 bytes split into 0, 4 \
             transaction statements dropped"
        );
    }

    #[test]
    fn a_long_insert_is_split_and_every_statement_fits_with_its_newline() {
        let long = format!(
            "INSERT INTO t VALUES(1,'{}');",
            "x".repeat(MAX_STATEMENT_BYTES)
        );
        let dump = format!("CREATE TABLE t(a, b);\n{long}\nINSERT INTO t VALUES(2,'y');");
        let (out, counts) = rewrite(&dump).unwrap();
        assert_eq!((counts.split, counts.split_into), (1, 6));
        assert_eq!(out.lines().count(), 1 + 6 + 1);
        assert!(out.lines().all(|l| l.len() < MAX_STATEMENT_BYTES));
        assert_eq!(
            counts.describe("d.sql"),
            "d.sql: rewritten for D1's import: 1 statement over 100000 bytes split into 6, 0 \
             transaction statements dropped"
        );
        // At the limit with its newline: split; the same text first in the dump: kept.
        let at = format!(
            "INSERT INTO t VALUES('{}');",
            "x".repeat(MAX_STATEMENT_BYTES - 25)
        );
        assert_eq!(at.len(), MAX_STATEMENT_BYTES);
        assert_eq!(rewrite(&format!("SELECT 1;\n{at}")).unwrap().1.split, 1);
        assert_eq!(rewrite(&at).unwrap(), (at, Counts::default()));
    }

    #[test]
    fn what_cannot_be_rewritten_names_its_line_and_why() {
        let e = |dump: &str| rewrite(dump).unwrap_err().message;
        assert_eq!(
            e("CREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nROLLBACK; -- due to errors\n"),
            "d.sql: line 3: ROLLBACK undoes what the dump wrote before it (sqlite3's .dump ends \
             with it when it could not read the whole database), and D1's import refuses it; \
             nothing was imported"
        );
        let long = "y".repeat(MAX_STATEMENT_BYTES);
        assert_eq!(
            e(&format!("SELECT 1;\nCREATE VIEW v AS SELECT '{long}';")),
            "d.sql: line 2: the statement is 100027 bytes, over D1's limit of 100000 bytes per \
             statement, and d1-import cannot split it: d1-import splits only INSERTs of values, \
             not CREATE statements; nothing was imported"
        );
        assert_eq!(
            e(&format!(
                "CREATE TABLE \"_d1_import_long_values\"(a);\nINSERT INTO t VALUES('{long}');"
            )),
            "d.sql: line 2: the statement is 100025 bytes, over D1's limit of 100000 bytes per \
             statement, and d1-import cannot split it: it builds the row in a scratch table \
             named _d1_import_long_values, and the dump has a table of that name; nothing was \
             imported"
        );
        assert_eq!(
            e("CREATE TABLE t(a);\nINSERT INTO t VALUES('cut"),
            "d.sql: line 2: the dump ends inside a statement (truncated?); nothing was imported"
        );
    }
}
