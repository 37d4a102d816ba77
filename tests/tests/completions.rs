//! Shell completions (issue 23): generated from each tool's own --help by
//! scripts/completions.py, so that they offer exactly the options the tool takes.

use d1_tests::*;
use std::path::Path;
use std::process::Command;

fn generate(out: &Path) {
    let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/completions.py");
    let status = Command::new("python3")
        .arg(script)
        .arg(&bindir)
        .arg(out)
        .args(TOOLS)
        .status()
        .expect("python3 runs scripts/completions.py");
    assert!(status.success());
}

/// `--long` options in a tool's --help.
fn long_options(tool: &str) -> Vec<String> {
    let help = command(tool).arg("--help").output().unwrap().stdout;
    let help = String::from_utf8(help).unwrap();
    let mut v: Vec<String> = help
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("--"))
                .map(|w| w.split(['[', '=', ',']).next().unwrap().to_string())
        })
        .collect();
    v.dedup();
    v
}

#[test]
fn every_option_of_every_tool_is_offered_by_bash_zsh_and_fish() {
    let out = tempfile::tempdir().unwrap();
    generate(out.path());
    for tool in TOOLS {
        let opts = long_options(tool);
        assert!(opts.len() >= 5, "{tool}: {opts:?}");
        let bash = std::fs::read_to_string(out.path().join("bash").join(tool)).unwrap();
        let zsh = std::fs::read_to_string(out.path().join(format!("zsh/_{tool}"))).unwrap();
        let fish = std::fs::read_to_string(out.path().join(format!("fish/{tool}.fish"))).unwrap();
        assert!(zsh.starts_with(&format!("#compdef {tool}\n")));
        for o in &opts {
            let word = |w: &str| w.trim_matches(|c| c == '"' || c == ')') == o.as_str();
            assert!(bash.split([' ', '|']).any(word), "bash {tool} {o}");
            assert!(
                zsh.contains(&format!("'{o}[")) || zsh.contains(&format!("'{o}=-[")),
                "zsh {tool} {o}"
            );
            assert!(
                fish.contains(&format!("-l {} ", o.trim_start_matches("--"))),
                "fish {tool} {o}"
            );
        }
    }
}

#[test]
fn bash_completes_an_option_prefix_and_files_after_a_path_option() {
    let out = tempfile::tempdir().unwrap();
    generate(out.path());
    let complete = |tool: &str, words: &str| -> String {
        let script = format!(
            "cd {dir} && touch dump.sql && source {file} && COMP_WORDS=({tool} {words}) && \
             COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)) && _{fun} && echo \"${{COMPREPLY[*]}}\"",
            dir = out.path().display(),
            file = out.path().join("bash").join(tool).display(),
            fun = tool.replace('-', "_"),
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("d1-fetch", "--zs"), "--zstd");
    assert_eq!(
        complete("d1-export-start", "--exclude-v"),
        "--exclude-virtual"
    );
    assert_eq!(complete("d1-verify", "--schema du"), "dump.sql");
}
