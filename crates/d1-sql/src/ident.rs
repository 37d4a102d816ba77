//! A name (table, column, index) written into SQL text.

/// `name` as a quoted identifier: in double quotes, an inner `"` doubled, as SQLite reads it
/// whatever the name holds (spaces, keywords, quotes).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_name_comes_back_from_sqlite_as_it_was() {
        assert_eq!(quote_ident("order items"), "\"order items\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for name in ["t", "select", "a\"b", "x y", "\"", "é;--"] {
            let q = quote_ident(name);
            conn.execute_batch(&format!("CREATE TABLE {q}({q})"))
                .unwrap();
            let (t, c): (String, String) = conn
                .query_row(
                    "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(?1) p \
                     WHERE m.name = ?1",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((t.as_str(), c.as_str()), (name, name));
        }
    }
}
