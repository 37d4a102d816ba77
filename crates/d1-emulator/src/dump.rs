//! D1's SQL dump generator, reproduced byte for byte (see d1-api.md, "Dump format").
//!
//! Modelled on Cloudflare's `dumpSql` (shipped in miniflare, used by D1 and `wrangler d1 export`),
//! which itself follows SQLite's shell `.dump`. The quirks are deliberate: integers pass through
//! JavaScript doubles, infinite REALs print as `9e999`, and a text that holds both a newline and
//! the two characters backslash-n still uses `\n` as the newline placeholder.

use crate::jsnum;
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
        }
    }
}

/// Produces the whole dump as one string: statements joined by "\n", no trailing newline.
pub fn generate(conn: &Connection, opts: &DumpOptions) -> Result<String, DumpError> {
    let mut out: Vec<String> = vec!["PRAGMA defer_foreign_keys=TRUE;".to_string()];
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
                out.push("DELETE FROM sqlite_sequence;".to_string());
            }
        } else if table.starts_with("sqlite_stat") && table.len() > "sqlite_stat".len() {
            // Like SQLite's shell, written before the statistics rows themselves.
            if !opts.no_schema {
                out.push("ANALYZE sqlite_schema;".to_string());
            }
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            return Err(DumpError::Export(VIRTUAL_TABLE_ERROR.to_string()));
        } else if table.starts_with("_cf_") || table.starts_with("sqlite_") {
            continue;
        } else if !opts.no_schema {
            out.push(create_table_sql(sql));
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
                out.push(format!("{sql};"));
            }
        }
    }
    Ok(out.join("\n"))
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
    out: &mut Vec<String>,
) -> Result<(), DumpError> {
    let mut info = conn.prepare(&format!("PRAGMA table_info={}", quote_id(table)))?;
    let columns: Vec<String> = info
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<_, _>>()?;
    drop(info);
    if columns.is_empty() {
        return Ok(());
    }
    let quoted: Vec<String> = columns.iter().map(|c| quote_id(c)).collect();
    let select = format!("SELECT {} FROM {};", quoted.join(", "), quote_id(table));
    let head = if legacy {
        format!("INSERT INTO {} VALUES(", quote_id(table))
    } else {
        format!(
            "INSERT INTO {} ({}) VALUES(",
            quote_id(table),
            quoted.join(",")
        )
    };
    let mut stmt = conn.prepare(&select)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mut line = head.clone();
        for i in 0..columns.len() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&format_value(row.get_ref(i)?, legacy));
        }
        line.push_str(");");
        out.push(line);
    }
    Ok(())
}

/// `"name"` with `"` doubled, as D1's `escapeId`.
pub fn quote_id(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// One SQL literal, as D1's generator writes it.
pub fn format_value(v: ValueRef<'_>, legacy: bool) -> String {
    match v {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Integer(i) => jsnum::int_to_js_string(i),
        ValueRef::Real(f) if f.is_infinite() => match (legacy, f > 0.0) {
            (false, true) => "9e999".to_string(),
            (false, false) => "-9e999".to_string(),
            (true, true) => "Infinity".to_string(),
            (true, false) => "-Infinity".to_string(),
        },
        // SQLite stores NaN as NULL, so a NaN never reaches here in practice.
        ValueRef::Real(f) if f.is_nan() => "NULL".to_string(),
        ValueRef::Real(f) => jsnum::to_js_string(f),
        ValueRef::Text(t) => quote_text(&String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("X'{}'", hex::encode(b)),
    }
}

/// Text literal with D1's newline handling. The placeholders are always `\n` and `\r`, even when
/// the text already contains those two characters: the restore then turns them into real line
/// breaks. That is the data-loss quirk d1-api.md asks the emulator to reproduce.
pub fn quote_text(s: &str) -> String {
    let has_nl = s.contains('\n');
    let has_cr = s.contains('\r');
    let escaped = s.replace('\'', "''");
    if !has_nl && !has_cr {
        return format!("'{escaped}'");
    }
    let escaped = escaped.replace('\n', "\\n").replace('\r', "\\r");
    let mut out = format!("'{escaped}'");
    if has_cr {
        out = format!("replace({out},'\\r',char(13))");
    }
    if has_nl {
        out = format!("replace({out},'\\n',char(10))");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
