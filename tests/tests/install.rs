//! `make install` puts what the docs tell users to run where they can run it, and says how to
//! read the man pages; the command it prints works. The tests install the debug build they
//! were given (`D1_BIN_DIR`) instead of building a release: the same recipe, minutes less.

use d1_tests::{bin, repo_root};
use std::process::Command;

/// The words of the Makefile's `NAME :=` line.
fn make_list(name: &str) -> Vec<String> {
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).expect("Makefile");
    makefile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} :=")))
        .unwrap_or_else(|| panic!("no {name} := in the Makefile"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn make() -> Command {
    let mut c = Command::new("make");
    c.arg("-s")
        .arg("-C")
        .arg(repo_root())
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("DESTDIR")
        .env_remove("D1_BIN_DIR");
    c
}

#[test]
fn make_install_installs_tools_and_scripts_and_its_man_command_shows_each_page() {
    let prefix = tempfile::tempdir().expect("tempdir");
    let man_dir = tempfile::tempdir().expect("tempdir");
    let bindir = bin("d1-fetch").parent().expect("bin dir").to_path_buf();
    let out = make()
        .arg("install")
        .arg(format!("PREFIX={}", prefix.path().display()))
        .arg(format!("D1_BIN_DIR={}", bindir.display()))
        .arg(format!("MAN_DIR={}", man_dir.path().display()))
        .arg(format!(
            "COMP_DIR={}",
            man_dir.path().join("completions").display()
        ))
        .env_remove("MANPATH")
        .output()
        .expect("run make");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "make install failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let scripts: Vec<String> = make_list("USER_SCRIPTS")
        .iter()
        .map(|s| s.rsplit('/').next().expect("name").to_string())
        .collect();
    let tools = make_list("BINS");
    for name in tools.iter().chain(&scripts) {
        let p = prefix.path().join("bin").join(name);
        let mode = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{} not installed: {e}", p.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", p.display());
    }
    for t in &tools {
        for p in [
            format!("share/bash-completion/completions/{t}"),
            format!("share/zsh/site-functions/_{t}"),
            format!("share/fish/vendor_completions.d/{t}.fish"),
        ] {
            assert!(prefix.path().join(&p).is_file(), "{p} not installed");
        }
    }
    // The printed command, for d1-fetch; the same with each tool's name.
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("read one with:"))
        .unwrap_or_else(|| panic!("make install does not say how to read the man pages: {stdout}"));
    assert!(
        lines[at].contains(&format!("{}/share/man/man1", prefix.path().display())),
        "says where the man pages went: {}",
        lines[at]
    );
    let command = lines
        .get(at + 1)
        .expect("the man command")
        .trim()
        .to_string();
    assert!(command.contains("man"), "{command}");
    for t in &tools {
        let shown = Command::new("sh")
            .arg("-c")
            .arg(command.replace("d1-fetch", t))
            .env_remove("MANPATH")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("run the man command (is man-db installed?)");
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success() && text.contains(t.as_str()) && text.contains("NAME"),
            "`{}` did not show {t}'s page: {text}{}",
            command.replace("d1-fetch", t),
            String::from_utf8_lossy(&shown.stderr)
        );
    }
}

#[test]
fn make_install_takes_the_release_binaries_from_cargo_target_dir() {
    // A dry run (make -n): what the recipe would do, without a release build.
    let target = tempfile::tempdir().expect("tempdir");
    let out = make()
        .args(["-n", "install", "PREFIX=/nowhere"])
        .env("CARGO_TARGET_DIR", target.path())
        .output()
        .expect("run make -n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "install -m 0755 \"{}/release/",
            target.path().display()
        )),
        "install does not look in $CARGO_TARGET_DIR/release: {stdout}"
    );
}
