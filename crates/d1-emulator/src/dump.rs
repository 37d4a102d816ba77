//! D1's SQL dump generator, reproduced byte for byte (see docs/d1-emulator.md, "Dump format").
//!
//! Modelled on Cloudflare's `dumpSql` (shipped in miniflare, used by D1 and `wrangler d1 export`),
//! which itself follows SQLite's shell `.dump`. The quirks are deliberate: integers pass through
//! JavaScript doubles, infinite REALs print as `9e999`, and a text that holds both a newline and
//! the two characters backslash-n still uses `\n` as the newline placeholder.

use crate::jsnum;
use d1_sql::ident::quote_ident;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The `dump_options` of an export request, plus the generator flavour.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    pub no_data: bool,
    pub no_schema: bool,
    /// Empty means every table.
    pub tables: Vec<String>,
    /// The older generator: no column list in INSERTs, infinities as `Infinity`.
    pub legacy: bool,
}

/// The exact error D1 ends an export with when a selected table is virtual.
pub const VIRTUAL_TABLE_ERROR: &str =
    "D1 Export error: cannot export databases with Virtual Tables (fts5)";

/// Why a dump could not be produced.
#[derive(Debug)]
pub enum DumpError {
    /// The export fails the D1 way (status "error" with this message).
    Export(String),
    /// SQLite failed while reading.
    Sqlite(rusqlite::Error),
    /// Writing the dump's file failed.
    Io(std::io::Error),
}

impl From<rusqlite::Error> for DumpError {
    fn from(e: rusqlite::Error) -> Self {
        DumpError::Sqlite(e)
    }
}

impl std::fmt::Display for DumpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DumpError::Export(m) => f.write_str(m),
            DumpError::Sqlite(e) => write!(f, "D1 Export error: {e}"),
            DumpError::Io(e) => write!(f, "D1 Export error: writing the dump: {e}"),
        }
    }
}

/// Produces the whole dump as one string: statements joined by "\n", no trailing newline.
#[cfg(test)]
pub fn generate(conn: &Connection, opts: &DumpOptions) -> Result<String, DumpError> {
    let mut v = Vec::new();
    generate_to(conn, opts, &mut v)?;
    Ok(String::from_utf8(v).expect("dumps are UTF-8"))
}

/// Writes the dump to `sink` as it is produced (a 1 GB dump is never held in memory).
pub fn generate_to(
    conn: &Connection,
    opts: &DumpOptions,
    sink: &mut dyn std::io::Write,
) -> Result<(), DumpError> {
    // Written into one buffer, handed to `sink` in large pieces: a 1 GB dump is millions of
    // rows, and a String per row and per value made the export spend most of its time in malloc.
    let mut out = Lines {
        text: String::with_capacity(2 * FLUSH_AT),
        started: false,
        sink,
    };
    out.line("PRAGMA defer_foreign_keys=TRUE;");
    let wanted = |name: &str| opts.tables.is_empty() || opts.tables.iter().any(|t| t == name);

    // Same query as D1 (taken from shell.c.in): sqlite_sequence last, otherwise rowid order.
    let mut stmt = conn.prepare(
        "SELECT name, type, sql FROM sqlite_schema AS o WHERE (true) AND type=='table' \
         AND sql NOT NULL ORDER BY tbl_name='sqlite_sequence', rowid;",
    )?;
    let tables: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(2)?)))?
        .collect::<Result<_, _>>()?;
    drop(stmt);

    for (table, sql) in &tables {
        if !wanted(table) {
            continue;
        }
        if table == "sqlite_sequence" {
            if !opts.no_schema {
                out.line("DELETE FROM sqlite_sequence;");
            }
        } else if table.starts_with("sqlite_stat") && table.len() > "sqlite_stat".len() {
            // Like SQLite's shell, written before the statistics rows themselves.
            if !opts.no_schema {
                out.line("ANALYZE sqlite_schema;");
            }
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            return Err(DumpError::Export(VIRTUAL_TABLE_ERROR.to_string()));
        } else if table.starts_with("_cf_") || table.starts_with("sqlite_") {
            continue;
        } else if !opts.no_schema {
            out.line(&create_table_sql(sql));
        }
        if opts.no_data {
            continue;
        }
        dump_rows(conn, table, opts.legacy, &mut out)?;
    }

    if !opts.no_schema {
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_schema AS o WHERE (true) AND sql NOT NULL \
             AND type IN ('index', 'trigger', 'view') ORDER BY type COLLATE NOCASE",
        )?;
        let rest: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, sql) in rest {
            if wanted(&name) {
                out.line(&format!("{sql};"));
            }
        }
    }
    out.flush()
}

/// How much text is buffered before it goes to the sink.
const FLUSH_AT: usize = 256 * 1024;

/// The dump's text, one statement per line, on its way to the sink.
struct Lines<'a> {
    text: String,
    /// Whether a line was written (the next one starts with a newline).
    started: bool,
    sink: &'a mut dyn std::io::Write,
}

impl Lines<'_> {
    /// Starts a new line with `s`.
    fn line(&mut self, s: &str) {
        if self.started {
            self.text.push('\n');
        }
        self.started = true;
        self.text.push_str(s);
    }

    /// Hands the buffered text to the sink once there is enough of it.
    fn maybe_flush(&mut self) -> Result<(), DumpError> {
        if self.text.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DumpError> {
        self.sink
            .write_all(self.text.as_bytes())
            .map_err(DumpError::Io)?;
        self.text.clear();
        Ok(())
    }
}

/// SQLite's shell (and so D1) injects `IF NOT EXISTS` when the stored text quotes the name.
fn create_table_sql(sql: &str) -> String {
    const PREFIX: &str = "CREATE TABLE ";
    let quoted = sql.starts_with(PREFIX)
        && matches!(
            sql.as_bytes().get(PREFIX.len()),
            Some(b'"' | b'`' | b'[' | b'\'')
        );
    if quoted {
        format!("CREATE TABLE IF NOT EXISTS {};", &sql[PREFIX.len()..])
    } else {
        format!("{sql};")
    }
}

fn dump_rows(
    conn: &Connection,
    table: &str,
    legacy: bool,
    out: &mut Lines<'_>,
) -> Result<(), DumpError> {
    let mut info = conn.prepare(&format!("PRAGMA table_info={}", quote_ident(table)))?;
    let columns: Vec<String> = info
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<_, _>>()?;
    drop(info);
    if columns.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let select = format!("SELECT {} FROM {};", quoted.join(", "), quote_ident(table));
    let head = if legacy {
        format!("INSERT INTO {} VALUES(", quote_ident(table))
    } else {
        format!(
            "INSERT INTO {} ({}) VALUES(",
            quote_ident(table),
            quoted.join(",")
        )
    };
    let mut stmt = conn.prepare(&select)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        out.line(&head);
        for i in 0..columns.len() {
            if i > 0 {
                out.text.push(',');
            }
            write_value(&mut out.text, row.get_ref(i)?, legacy);
        }
        out.text.push_str(");");
        out.maybe_flush()?;
    }
    Ok(())
}

/// One SQL literal, as D1's generator writes it.
fn write_value(out: &mut String, v: ValueRef<'_>, legacy: bool) {
    match v {
        ValueRef::Null => out.push_str("NULL"),
        ValueRef::Integer(i) => jsnum::write_int(out, i),
        ValueRef::Real(f) if f.is_infinite() => out.push_str(match (legacy, f > 0.0) {
            (false, true) => "9e999",
            (false, false) => "-9e999",
            (true, true) => "Infinity",
            (true, false) => "-Infinity",
        }),
        // SQLite stores NaN as NULL, so a NaN never reaches here in practice.
        ValueRef::Real(f) if f.is_nan() => out.push_str("NULL"),
        ValueRef::Real(f) => out.push_str(&jsnum::to_js_string(f)),
        ValueRef::Text(t) => write_text(out, &String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => {
            out.push_str("X'");
            out.push_str(&hex::encode(b));
            out.push('\'');
        }
    }
}

/// Text literal with D1's newline handling. The placeholders are always `\n` and `\r`, even when
/// the text already contains those two characters: the restore then turns them into real line
/// breaks. That is the data-loss quirk the emulator reproduces (docs/d1-emulator.md, "Dump
/// format").
fn write_text(out: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\'' | b'\n' | b'\r')) {
        out.push('\'');
        out.push_str(s);
        out.push('\'');
        return;
    }
    let has_nl = s.contains('\n');
    let has_cr = s.contains('\r');
    let escaped = s.replace('\'', "''");
    if !has_nl && !has_cr {
        out.push_str(&format!("'{escaped}'"));
        return;
    }
    let escaped = escaped.replace('\n', "\\n").replace('\r', "\\r");
    let mut lit = format!("'{escaped}'");
    if has_cr {
        lit = format!("replace({lit},'\\r',char(13))");
    }
    if has_nl {
        lit = format!("replace({lit},'\\n',char(10))");
    }
    out.push_str(&lit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote_text(s: &str) -> String {
        let mut out = String::new();
        write_text(&mut out, s);
        out
    }

    #[test]
    fn text_literals_follow_d1s_newline_placeholders() {
        assert_eq!(quote_text("it's"), "'it''s'");
        assert_eq!(quote_text("a\nb"), "replace('a\\nb','\\n',char(10))");
        assert_eq!(quote_text("a\rb"), "replace('a\\rb','\\r',char(13))");
        assert_eq!(
            quote_text("x\ry\nz"),
            "replace(replace('x\\ry\\nz','\\r',char(13)),'\\n',char(10))"
        );
        // The quirk: the literal backslash-n is not protected.
        assert_eq!(
            quote_text("a\\nb\nc"),
            "replace('a\\nb\\nc','\\n',char(10))"
        );
    }

    #[test]
    fn quoted_table_names_get_if_not_exists() {
        assert_eq!(
            create_table_sql("CREATE TABLE \"a b\" (x)"),
            "CREATE TABLE IF NOT EXISTS \"a b\" (x);"
        );
        assert_eq!(
            create_table_sql("CREATE TABLE [t] (x)"),
            "CREATE TABLE IF NOT EXISTS [t] (x);"
        );
        assert_eq!(
            create_table_sql("CREATE TABLE t (x)"),
            "CREATE TABLE t (x);"
        );
    }

    #[test]
    fn virtual_tables_fail_the_export_unless_filtered_out() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE a(x); INSERT INTO a VALUES(1); CREATE VIRTUAL TABLE f USING fts5(body);",
        )
        .unwrap();
        let err = generate(&conn, &DumpOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), VIRTUAL_TABLE_ERROR);
        let opts = DumpOptions {
            tables: vec!["a".into()],
            ..Default::default()
        };
        assert_eq!(
            generate(&conn, &opts).unwrap(),
            "PRAGMA defer_foreign_keys=TRUE;\nCREATE TABLE a(x);\nINSERT INTO \"a\" (\"x\") VALUES(1);"
        );
    }
}
