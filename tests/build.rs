//! Generates one test per docs page (tests/tests/docs_examples.rs includes it), so that a failing
//! page is named by its test and a new page is tested without anyone listing it: every `.md` in
//! docs/, and README.md. Cargo reruns this when anything in docs/ changes.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("..");
    println!("cargo:rerun-if-changed=../docs");
    println!("cargo:rerun-if-changed=../README.md");
    println!("cargo:rerun-if-changed=build.rs");
    let mut pages = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    pages.extend(docs);
    let mut out =
        String::from("/// Every page, as build.rs found them.\nconst PAGES: &[&str] = &[\n");
    for p in &pages {
        out.push_str(&format!("    {p:?},\n"));
    }
    out.push_str("];\n");
    for p in &pages {
        let name: String = p
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!(
            "\n#[test]\nfn page_{name}() {{\n    check_page({p:?});\n}}\n"
        ));
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("docs_pages.rs");
    std::fs::write(dest, out).expect("write docs_pages.rs");
}
