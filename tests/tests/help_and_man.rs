//! Each tool's `--help` and its docs page describe the same options, and each man page is
//! generated from the docs page (scripts/mkman.py), so the three cannot drift apart.

use d1_tests::{bin, repo_root, tool, TOOLS};
use std::collections::BTreeSet;
use std::process::Command;

/// Every `--long-option` named in `text`.
fn long_options(text: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-');
        if boundary && b[i] == b'-' && b[i + 1] == b'-' && b[i + 2].is_ascii_lowercase() {
            let mut j = i + 2;
            while j < b.len()
                && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-')
            {
                j += 1;
            }
            set.insert(text[i..j].trim_end_matches('-').to_string());
            i = j;
        } else {
            i += 1;
        }
    }
    set
}

/// The "## Options" section of a docs page.
fn options_section(page: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in page.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Options";
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn help_and_docs_page_name_the_same_options() {
    for t in TOOLS {
        let help = tool(t).arg("--help").run();
        assert_eq!(help.code, 0, "{t} --help");
        assert!(help.stderr.is_empty(), "{t} --help wrote to stderr");
        let page = std::fs::read_to_string(repo_root().join(format!("docs/{t}.md"))).expect("page");
        let section = options_section(&page);
        assert!(
            !section.is_empty(),
            "docs/{t}.md has no '## Options' section"
        );
        assert_eq!(
            long_options(&help.stdout),
            long_options(&section),
            "{t}: --help (left) and docs/{t}.md's Options (right) differ"
        );
    }
}

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn every_tool_has_a_man_page_generated_from_its_docs_page() {
    let py = python().expect("python3 is needed to generate the man pages");
    let has_man = Command::new("man").arg("--version").output().is_ok();
    for t in TOOLS {
        let out = Command::new(py)
            .arg(repo_root().join("scripts/mkman.py"))
            .arg(repo_root().join(format!("docs/{t}.md")))
            .arg("0.1.0")
            .output()
            .expect("run mkman.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let roff = String::from_utf8(out.stdout).expect("utf-8 man page");
        assert!(
            roff.starts_with(&format!(".TH \"{}\" \"1\"", t.to_uppercase())),
            "{roff}"
        );
        assert!(roff.contains(".SH NAME\n"), "{t}: no NAME");
        assert!(roff.contains(".SH \"OPTIONS\""), "{t}: no OPTIONS");
        // Every option of --help is in the man page (roff escapes '-' as '\-').
        let help = tool(t).arg("--help").run().stdout;
        for opt in long_options(&help) {
            assert!(
                roff.contains(&opt.replace('-', "\\-")),
                "{t}: man page lacks {opt}"
            );
        }
        if has_man {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join(format!("{t}.1"));
            std::fs::write(&file, &roff).expect("write man page");
            let shown = Command::new("man")
                .args(["--warnings", "-l"])
                .arg(&file)
                .env("MANWIDTH", "80")
                .env("MAN_KEEP_FORMATTING", "0")
                .output()
                .expect("man -l");
            assert!(shown.status.success(), "{t}: man failed");
            // A long code span (a JSON shape, a URL) cannot be broken at 80 columns: cosmetic.
            // Anything else (an unknown request, a bad escape) is a generator bug.
            let stderr = String::from_utf8_lossy(&shown.stderr);
            let warnings: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.contains("can't break line") && !l.contains("cannot adjust line"))
                .collect();
            assert!(warnings.is_empty(), "{t}: roff warnings: {warnings:?}");
            let text = String::from_utf8_lossy(&shown.stdout);
            assert!(text.contains("OPTIONS"), "{t}: rendered page lacks OPTIONS");
        }
    }
    let _ = bin("d1-fetch");
}
