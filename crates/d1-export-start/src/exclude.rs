//! Leaving things out of a backup (issue 23): databases by name or glob (`--exclude`), tables
//! by name (`--exclude-table`), and virtual tables (`--exclude-virtual`, implied by `--all`),
//! which D1 cannot export at all.
//!
//! D1's export has no "all but" option, only `dump_options.tables`, a list of names that filters
//! tables **and** indexes, triggers and views by their own name (docs/d1-emulator.md, "Dump
//! format"). So leaving one table out means naming every other schema object: the tables kept, and
//! the indexes, triggers and views that do not belong to a table left out.

use serde_json::Value;

/// `*` any run of characters, `?` one character; everything else itself. The classic greedy
/// match that remembers only the last `*`: at most (pattern length × name length) steps, however
/// many stars (a backtracking match is exponential in them: issue 30, D22).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it now stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // The last `*` takes one more character; the rest is matched again after it.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether a database (`name`, `uuid`) matches any `--exclude` pattern (a glob on the name, or
/// the exact id).
pub fn database_excluded(patterns: &[String], name: &str, uuid: &str) -> bool {
    patterns.iter().any(|p| p == uuid || glob(p, name))
}

/// The export's table list for a schema (`sqlite_schema` rows: type, name, tbl_name, sql):
/// every object but the tables left out, their shadow tables, and the indexes and triggers on
/// them or (for triggers) writing to them. `None` when nothing is left out (export everything,
/// the default `tables: []`). The second value lists what was left out, for the warning.
pub fn tables_for(
    rows: &[Value],
    exclude: &[String],
    exclude_virtual: bool,
) -> (Option<Vec<String>>, Vec<String>) {
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out: Vec<String> = Vec::new();
    for r in rows.iter().filter(|r| text(r, "type") == "table") {
        let name = text(r, "name");
        let is_virtual = crate::preflight::is_virtual(&text(r, "sql"));
        if exclude.iter().any(|p| glob(p, &name)) || (exclude_virtual && is_virtual) {
            out.push(name);
        }
    }
    // A virtual table's shadow tables (fts5: _data, _idx, _content, _docsize, _config; rtree:
    // _node, _rowid, _parent) hold its index: useless, and misleading, without it.
    let virtuals: Vec<String> = rows
        .iter()
        .filter(|r| out.contains(&text(r, "name")))
        .filter(|r| crate::preflight::is_virtual(&text(r, "sql")))
        .map(|r| text(r, "name"))
        .collect();
    for r in rows.iter().filter(|r| text(r, "type") == "table") {
        let name = text(r, "name");
        if !out.contains(&name) && virtuals.iter().any(|v| is_shadow(v, &name)) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return (None, out);
    }
    let mut keep = Vec::new();
    for r in rows {
        let (kind, name) = (text(r, "type"), text(r, "name"));
        // sqlite_autoindex_* have no SQL: the dump never names them.
        if out.contains(&name) || text(r, "sql").is_empty() {
            continue;
        }
        let on = text(r, "tbl_name");
        let dropped = match kind.as_str() {
            "index" => out.contains(&on),
            // A trigger that keeps a left-out table in sync would fail every later write.
            "trigger" => out.contains(&on) || out.iter().any(|t| mentions(&text(r, "sql"), t)),
            _ => false,
        };
        if dropped {
            out.push(name);
        } else {
            keep.push(name);
        }
    }
    (Some(keep), out)
}

/// The tables among `kept` (names of schema objects) that hold rows a backup is for: not
/// SQLite's own (`sqlite_sequence`), not D1's (`_cf_*`, never exported). Views, indexes and
/// triggers hold no data.
pub fn data_tables<'a>(rows: &[Value], kept: &'a [String]) -> Vec<&'a str> {
    let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    kept.iter()
        .map(String::as_str)
        .filter(|k| !k.starts_with("sqlite_") && !k.starts_with("_cf_"))
        .filter(|k| {
            rows.iter()
                .any(|r| text(r, "type") == "table" && text(r, "name") == *k)
        })
        .collect()
}

fn is_shadow(virtual_table: &str, name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "data", "idx", "content", "docsize", "config", "node", "rowid", "parent",
    ];
    name.strip_prefix(virtual_table)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|s| SUFFIXES.contains(&s))
}

/// Whether `sql` names `table` as an identifier (bare, or in any of SQL's quotes).
fn mentions(sql: &str, table: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let t = table.to_ascii_lowercase();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    lower.match_indices(&t).any(|(i, _)| {
        let before = lower[..i].chars().next_back();
        let after = lower[i + t.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("staging-*", "staging-eu"));
        assert!(glob("*-tmp", "x-tmp"));
        assert!(glob("db?", "db1"));
        assert!(!glob("db?", "db12"));
        assert!(!glob("staging", "staging-eu"));
        assert!(database_excluded(&["scratch*".into()], "scratch-1", "id"));
        assert!(database_excluded(&["the-id".into()], "prod", "the-id"));
        assert!(!database_excluded(&["scratch*".into()], "prod", "id"));
    }

    fn schema() -> Vec<Value> {
        let t = |ty: &str, name: &str, on: &str, sql: &str| json!({"type": ty, "name": name, "tbl_name": on, "sql": sql});
        vec![
            t("table", "posts", "posts", "CREATE TABLE posts(id INTEGER PRIMARY KEY, body TEXT)"),
            t("table", "search", "search", "CREATE VIRTUAL TABLE search USING fts5(body)"),
            t("table", "search_data", "search_data", "CREATE TABLE 'search_data'(id, block)"),
            t("table", "search_idx", "search_idx", "CREATE TABLE 'search_idx'(segid, term)"),
            t("table", "search_terms", "search_terms", "CREATE TABLE search_terms(t)"),
            t("index", "posts_body", "posts", "CREATE INDEX posts_body ON posts(body)"),
            t("trigger", "posts_ai", "posts", "CREATE TRIGGER posts_ai AFTER INSERT ON posts BEGIN INSERT INTO search(body) VALUES (new.body); END"),
            t("view", "recent", "recent", "CREATE VIEW recent AS SELECT * FROM posts"),
            t("table", "sqlite_sequence", "sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"),
        ]
    }

    #[test]
    fn glob_matching_takes_polynomial_time_however_many_stars() {
        // 30 stars against 60 characters that almost match: a backtracking match tries about
        // C(90, 30) ways and never ends (issue 30, D22).
        let pattern = format!("{}b", "*a".repeat(30));
        let text = "a".repeat(60);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send((glob(&pattern, &text), glob(&pattern, &format!("{text}b"))));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(got, Ok((false, true)), "the match did not end in 10 s");
        for (p, t, want) in [
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*x*", "abc", false),
            ("**?", "z", true),
            ("?*?", "z", false),
            ("stag*-eu", "staging-eu", true),
        ] {
            assert_eq!(glob(p, t), want, "{p:?} {t:?}");
        }
    }

    #[test]
    fn views_alone_are_not_data() {
        let rows = schema();
        let kept: Vec<String> = ["recent", "sqlite_sequence", "posts_body"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(data_tables(&rows, &kept).is_empty());
        let kept = vec!["recent".to_string(), "search_terms".to_string()];
        assert_eq!(data_tables(&rows, &kept), ["search_terms"]);
    }

    #[test]
    fn nothing_left_out_exports_everything() {
        assert_eq!(tables_for(&schema(), &[], false), (None, vec![]));
    }

    #[test]
    fn a_virtual_table_goes_with_its_shadow_tables_and_the_triggers_that_feed_it() {
        let (keep, out) = tables_for(&schema(), &[], true);
        assert_eq!(
            keep.unwrap(),
            [
                "posts",
                "search_terms",
                "posts_body",
                "recent",
                "sqlite_sequence"
            ],
            "a table that only looks like a shadow table stays"
        );
        assert_eq!(out, ["search", "search_data", "search_idx", "posts_ai"]);
    }

    #[test]
    fn an_excluded_table_takes_its_indexes_and_triggers_along() {
        let (keep, out) = tables_for(&schema(), &["posts".into()], false);
        assert_eq!(
            keep.unwrap(),
            [
                "search",
                "search_data",
                "search_idx",
                "search_terms",
                "recent",
                "sqlite_sequence"
            ]
        );
        assert_eq!(out, ["posts", "posts_body", "posts_ai"]);
    }
}
