//! One exit-code table (d1-core's `EXIT_CODES`): every tool's `--help` "Exit status" section and
//! every docs page's exit-code table name each number by the class the table gives it, and
//! docs/README.md's table is the table itself. A tool says which codes it returns and why; what
//! a number means comes from one place.

use d1_core::error::EXIT_CODES;
use d1_tests::{repo_root, tool, TOOLS};
use std::path::PathBuf;

fn name_of(code: i32) -> Option<&'static str> {
    EXIT_CODES
        .iter()
        .find(|c| c.code.code() == code)
        .map(|c| c.name)
}

/// `(code, class)` of each line of the "Exit status:" section of a `--help`.
fn help_rows(help: &str) -> Vec<(i32, String)> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == "Exit status:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !line.starts_with("  ") {
            break;
        }
        let mut words = line.split_whitespace();
        let Some(Ok(code)) = words.next().map(str::parse::<i32>) else {
            continue; // a continuation line
        };
        let class = words.next().unwrap_or_default().trim_end_matches(':');
        rows.push((code, class.to_string()));
    }
    rows
}

#[test]
fn every_tools_help_names_each_exit_code_by_the_tables_class() {
    for t in TOOLS {
        let o = tool(t).arg("--help").run();
        assert_eq!(o.code, 0, "{t} --help: {}", o.stderr);
        let rows = help_rows(&o.stdout);
        assert!(
            rows.len() >= 3,
            "{t} --help has no 'Exit status:' section:\n{}",
            o.stdout
        );
        for (code, class) in &rows {
            assert_eq!(
                name_of(*code),
                Some(class.as_str()),
                "{t} --help calls exit {code} '{class}'"
            );
        }
        // Each code once, in the table's order.
        let order: Vec<i32> = rows.iter().map(|r| r.0).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            order, sorted,
            "{t} --help lists its exit codes out of order"
        );
        // No other description of the numbers anywhere else in the help.
        for stale in ["EXIT CODES", "Exit codes:"] {
            assert!(!o.stdout.contains(stale), "{t} --help: {stale}");
        }
    }
}

/// The rows of the table under a "## Exit codes" / "## Exit status" heading: its cells.
fn docs_rows(page: &str) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let mut inside = false;
    let mut header = None;
    let mut rows = Vec::new();
    for line in page.lines() {
        if line.starts_with("## ") {
            if inside {
                break;
            }
            inside = line.starts_with("## Exit codes") || line.starts_with("## Exit status");
            continue;
        }
        if !inside || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<String> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        if header.is_none() {
            header = Some(cells);
        } else {
            rows.push(cells);
        }
    }
    header.map(|h| (h, rows))
}

#[test]
fn every_docs_pages_exit_codes_name_each_code_by_the_tables_class() {
    let mut pages: Vec<PathBuf> = TOOLS
        .iter()
        .map(|t| repo_root().join(format!("docs/{t}.md")))
        .collect();
    pages.push(repo_root().join("docs/encryption.md"));
    pages.push(repo_root().join("docs/README.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("read docs page");
        let shown = page.display();
        let (header, rows) = docs_rows(&text).unwrap_or_else(|| {
            panic!("{shown}: no table under '## Exit codes' or '## Exit status'")
        });
        assert_eq!(header[..2], ["code", "class"], "{shown}: header {header:?}");
        assert!(!rows.is_empty(), "{shown}: empty exit-code table");
        for row in &rows {
            let code: i32 = row[0]
                .parse()
                .unwrap_or_else(|_| panic!("{shown}: not a code: {row:?}"));
            assert_eq!(name_of(code), Some(row[1].as_str()), "{shown}: {row:?}");
        }
    }
}

#[test]
fn the_docs_readme_table_is_the_table() {
    let text = std::fs::read_to_string(repo_root().join("docs/README.md")).unwrap();
    let (header, rows) = docs_rows(&text).expect("docs/README.md has the exit-code table");
    assert_eq!(header[..3], ["code", "class", "meaning"]);
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let want: Vec<(String, String, String)> = EXIT_CODES
        .iter()
        .map(|c| {
            (
                c.code.code().to_string(),
                c.name.to_string(),
                c.meaning.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got, want,
        "docs/README.md's exit codes differ from d1-core's EXIT_CODES"
    );
}
