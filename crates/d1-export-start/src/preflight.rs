//! The preflight (issue 10): D1 cannot export a database holding a virtual table (FTS5), and
//! such an export does not just fail — it leaves the database refusing every query with
//! "Currently processing a long-running export" until D1 times it out. So before starting an
//! export, read the schema through the `query` endpoint and refuse to start when a virtual table
//! is among the tables the export would include (docs/sharp-edges.md).

use d1_core::api;
use d1_core::client::Client;
use d1_core::{Error, Result};
use serde_json::Value;

/// The schema query: `sqlite_schema` is readable through D1's query endpoint.
pub const SCHEMA_SQL: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema";

/// A virtual table of the database: its name and module (`fts5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualTable {
    pub name: String,
    pub module: String,
}

/// Reads the schema of `uuid`: one object per `sqlite_schema` row (type, name, tbl_name, sql).
/// An API failure (busy database included) is returned as such.
pub fn schema(c: &Client, uuid: &str) -> Result<Vec<Value>> {
    let stmts = api::query(c, uuid, SCHEMA_SQL, &[])?;
    stmts
        .into_iter()
        .next()
        .ok_or_else(|| Error::failed("the schema query answered no result"))
}

/// Whether `sql` creates a virtual table.
pub fn is_virtual(sql: &str) -> bool {
    module_of(sql).is_some()
}

/// The virtual tables among `rows` (objects with `type`, `name`, `sql`) that an export of
/// `tables` includes. D1 (and d1-emulator) filter tables by exact name, so a virtual table
/// left out of `--table` does not stop the export.
pub fn blocking(rows: &[Value], tables: &[String]) -> Vec<VirtualTable> {
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    rows.iter()
        .filter(|r| text(r, "type") == "table")
        .filter_map(|r| {
            let name = text(r, "name");
            let module = module_of(&text(r, "sql"))?;
            let chosen = tables.is_empty() || tables.contains(&name);
            chosen.then_some(VirtualTable { name, module })
        })
        .collect()
}

/// `Some(module)` when `sql` is `CREATE VIRTUAL TABLE ... USING module(...)`.
fn module_of(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().take(3).collect();
    let is_virtual = words.len() == 3
        && words[0].eq_ignore_ascii_case("CREATE")
        && words[1].eq_ignore_ascii_case("VIRTUAL")
        && words[2].eq_ignore_ascii_case("TABLE");
    if !is_virtual {
        return None;
    }
    let upper = sql.to_ascii_uppercase();
    let module = upper
        .rfind(" USING ")
        .map(|i| &sql[i + " USING ".len()..])
        .map(|rest| {
            rest.trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown module".to_string());
    Some(module)
}

/// Why no export was started, in one line.
pub fn refusal(label: &str, found: &[VirtualTable]) -> String {
    let list: Vec<String> = found
        .iter()
        .map(|v| format!("{} ({})", v.name, v.module))
        .collect();
    format!(
        "database {label}: export not started: it holds virtual table(s) {}; D1 cannot export \
         virtual tables (fts5), and exporting would fail and lock the database (every query \
         refused with \"Currently processing a long-running export\") until D1 times the export \
         out; export the rest with --exclude-virtual (or name tables with --table), or skip this \
         check with --no-preflight",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Vec<Value> {
        vec![
            json!({"type":"table","name":"posts","sql":"CREATE TABLE posts(id INTEGER PRIMARY KEY, body TEXT)"}),
            json!({"type":"table","name":"search","sql":"CREATE VIRTUAL TABLE search USING fts5(body)"}),
            json!({"type":"table","name":"search_data","sql":"CREATE TABLE 'search_data'(id INTEGER PRIMARY KEY, block BLOB)"}),
            json!({"type":"index","name":"i","sql":"CREATE INDEX i ON posts(body)"}),
            json!({"type":"table","name":"geo","sql":"create  virtual\ttable \"geo\" using rtree(id, x0, x1)"}),
        ]
    }

    #[test]
    fn virtual_tables_are_found_with_their_module_and_shadow_tables_are_not() {
        let found = blocking(&schema(), &[]);
        assert_eq!(
            found,
            vec![
                VirtualTable {
                    name: "search".into(),
                    module: "fts5".into()
                },
                VirtualTable {
                    name: "geo".into(),
                    module: "rtree".into()
                },
            ]
        );
    }

    #[test]
    fn a_virtual_table_outside_the_chosen_tables_does_not_block() {
        assert!(blocking(&schema(), &["posts".into(), "search_data".into()]).is_empty());
        assert_eq!(blocking(&schema(), &["search".into()]).len(), 1);
        // Exact names, as D1's filter: another case is another table.
        assert!(blocking(&schema(), &["SEARCH".into()]).is_empty());
    }

    #[test]
    fn the_refusal_says_why_and_what_to_do() {
        let m = refusal(
            "sample (id)",
            &[VirtualTable {
                name: "search".into(),
                module: "fts5".into(),
            }],
        );
        assert!(m.starts_with("database sample (id): export not started: it holds virtual table(s) search (fts5); D1 cannot export virtual tables (fts5)"), "{m}");
        assert!(m.contains("lock the database"), "{m}");
        assert!(m.contains("--no-preflight"), "{m}");
    }
}
