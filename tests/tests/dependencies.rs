//! Each tool compiles what its job needs (issue 29): the age crate and the hundred-odd crates
//! behind it only where a dump is encrypted or decrypted (d1-age), and no HTTP client or TLS in
//! the emulator, which serves the API and is not a client of it (d1-core's `client` feature).

use std::collections::BTreeSet;
use std::process::Command;

/// The packages `package` is built from (normal dependencies, for this machine's target).
fn compiled(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(d1_tests::repo_root())
        .args([
            "tree", "-e", "normal", "--prefix", "none", "-f", "{p}", "-p",
        ])
        .arg(package)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_emulator_compiles_no_http_client_no_tls_and_no_age() {
    let deps = compiled("d1-emulator");
    let unwanted: Vec<&String> = deps
        .iter()
        .filter(|p| ["ureq", "rustls", "webpki-roots", "ring", "age"].contains(&p.as_str()))
        .collect();
    assert!(unwanted.is_empty(), "d1-emulator compiles {unwanted:?}");
    assert!(deps.contains("d1-core") && deps.contains("rusqlite"));
}

#[test]
fn only_the_tools_that_encrypt_or_decrypt_compile_age() {
    for package in [
        "d1-core",
        "d1-export-start",
        "d1-export-wait",
        "d1-import",
        "d1-prune",
        "d1-ls",
        "d1-archive",
        "d1-sql",
        "d1-emulator",
        "d1-bench",
    ] {
        let deps = compiled(package);
        assert!(
            !deps.contains("age") && !deps.contains("d1-age"),
            "{package} compiles age"
        );
    }
    for package in ["d1-fetch", "d1-verify", "d1-upload"] {
        assert!(compiled(package).contains("d1-age"), "{package}");
    }
}
