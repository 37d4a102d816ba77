//! Every shell example in docs/ runs, against a real d1-emulator, so that a broken recipe fails
//! the test suite instead of a user at 3 a.m.
//!
//! Conventions in the Markdown (docs/README.md explains them to writers):
//! - a ```` ```sh ```` block is run with bash (`set -euo pipefail`), in a fresh folder per page,
//!   blocks of one page in order, with the tools on PATH and the environment pointing at an
//!   emulator that holds the `sample` database;
//! - a ```` ```sh cloudflare ```` block needs real credentials and is not run;
//! - a ```` ```LANG file=NAME ```` block (a Makefile, a script, a crontab) is written to NAME in
//!   that folder before the next block runs; a script gets the executable bit.

use d1_tests::{bin, Emulator};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
enum Block {
    Run { line: usize, code: String },
    File { name: String, code: String },
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_string();
        let mut code = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            code.push_str(l);
            code.push('\n');
        }
        let words: Vec<&str> = info.split_whitespace().collect();
        if let Some(name) = words.iter().find_map(|w| w.strip_prefix("file=")) {
            out.push(Block::File {
                name: name.to_string(),
                code,
            });
        } else if words.first() == Some(&"sh") && !words.contains(&"cloudflare") {
            out.push(Block::Run { line: n + 1, code });
        }
    }
    out
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn run_page(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).expect("read doc page");
    let blocks = blocks(&text);
    if !blocks.iter().any(|b| matches!(b, Block::Run { .. })) {
        return Vec::new();
    }
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let work = tempfile::tempdir().expect("tempdir");
    let bindir = bin("d1-fetch").parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for b in blocks {
        match b {
            Block::File { name, code } => {
                let p = work.path().join(&name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).expect("mkdir");
                }
                std::fs::write(&p, &code).expect("write example file");
                if name.ends_with(".sh") || code.starts_with("#!") {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                }
            }
            Block::Run { line, code } => {
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(format!("set -euo pipefail\n{code}"))
                    .current_dir(work.path())
                    .env("PATH", &path)
                    .env("D1_EMULATOR_DATA", &emu.data_dir)
                    .env_remove("D1_DATABASE_ID")
                    .env_remove("CF_API_TOKEN");
                for (k, v) in emu.env() {
                    cmd.env(k, v);
                }
                let out = cmd.output().expect("run bash");
                if !out.status.success() {
                    failures.push(format!(
                        "{}:{line}: exit {:?}\n--- example ---\n{code}--- stdout ---\n{}--- stderr ---\n{}",
                        page.display(),
                        out.status.code(),
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
    failures
}

#[test]
fn every_shell_example_in_the_docs_runs_against_the_emulator() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(docs_dir())
        .expect("docs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let failures: Vec<String> = pages.iter().flat_map(|p| run_page(p)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_extractor_reads_run_blocks_files_and_skips_cloudflare_ones() {
    let md = "text\n```sh\necho hi\n```\n```sh cloudflare\nreal\n```\n```make file=Makefile\nall:\n\techo\n```\n```text\nno\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(matches!(&b[0], Block::Run { line: 2, code } if code == "echo hi\n"));
    assert!(matches!(&b[1], Block::File { name, .. } if name == "Makefile"));
}
