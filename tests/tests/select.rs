//! Choosing what a nightly job backs up (issue 23): every database of the account with `--all`,
//! some left out with `--exclude`, tables left out with `--exclude-table`, and databases that
//! hold a virtual table (which D1 cannot export) backed up without it, named on stderr.

use d1_tests::*;
use std::path::Path;

const PLAIN: &str =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a');";
const WITH_FTS: &str = "
CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO notes VALUES(1, 'hello'), (2, 'world');
CREATE INDEX notes_body ON notes(body);
CREATE VIRTUAL TABLE search USING fts5(body);
INSERT INTO search(body) VALUES('hello world');
CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN INSERT INTO search(body) VALUES (new.body); END;
";

fn account(dir: &Path) -> Emulator {
    make_db(dir, "alpha", PLAIN);
    make_db(dir, "beta", PLAIN);
    make_db(dir, "scratch-1", PLAIN);
    make_db(dir, "fts", WITH_FTS);
    Emulator::start_in(dir, &[])
}

#[test]
fn all_backs_up_every_database_and_the_virtual_table_is_left_out_by_name() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let emu = account(data.path());
    let o = sh(
        &emu,
        out.path(),
        "d1-export-start --all | d1-export-wait | d1-fetch -o backups/ | d1-verify",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let ok: Vec<&str> = o
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("OK "))
        .collect();
    assert_eq!(ok.len(), 4, "{o:?}");
    for db in ["alpha", "beta", "scratch-1", "fts"] {
        assert!(
            ok.iter()
                .any(|l| l.starts_with(&format!("OK backups/{db}-"))),
            "{db}: {o:?}"
        );
    }
    let fts_id = emu.db_id("fts");
    assert!(
        o.stderr.contains(&format!(
            "d1-export-start: warning: database fts ({fts_id}): leaving out of the export: \
             search, search_data, search_idx, search_content, search_docsize, search_config, notes_ai"
        )),
        "{}",
        o.stderr
    );
    // The rest of the database is there, its index included.
    let fts_dump = files_in(&out.path().join("backups"))
        .into_iter()
        .find(|f| f.starts_with("fts-") && f.ends_with(".sql"))
        .unwrap();
    let sql = std::fs::read_to_string(out.path().join("backups").join(fts_dump)).unwrap();
    assert!(sql.contains("CREATE TABLE notes"), "{sql}");
    assert!(sql.contains("CREATE INDEX notes_body"), "{sql}");
    assert!(!sql.contains("search"), "{sql}");
}

#[test]
fn exclude_leaves_databases_out_by_glob_or_id() {
    let data = tempfile::tempdir().unwrap();
    let emu = account(data.path());
    let beta = emu.db_id("beta");
    let o = tool("d1-export-start")
        .args([
            "--all",
            "--exclude",
            "scratch-*",
            "--exclude",
            &beta,
            "--exclude",
            "fts",
        ])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let names: Vec<&str> = o
        .stdout_lines()
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);
}

#[test]
fn exclude_table_leaves_a_table_and_its_index_out() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let emu = account(data.path());
    let o = sh(
        &emu,
        out.path(),
        "d1-export-start --exclude-table search --exclude-table 'search_*' --exclude-table notes_ai fts \
         | d1-export-wait | d1-fetch -o ./ | d1-verify",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("OK fts-"), "{o:?}");
}

#[test]
fn a_named_database_with_a_virtual_table_is_still_refused_without_exclude_virtual() {
    let data = tempfile::tempdir().unwrap();
    let emu = account(data.path());
    let o = tool("d1-export-start").arg("fts").env_from(&emu).run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("--exclude-virtual"), "{}", o.stderr);
    let o = tool("d1-export-start")
        .args(["--exclude-virtual", "fts"])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn an_exclude_that_matches_no_database_is_warned_about() {
    let data = tempfile::tempdir().unwrap();
    let emu = account(data.path());
    let o = tool("d1-export-start")
        .args(["--all", "--exclude", "scratch-*", "--exclude", "stagign-*"])
        .args(["--exclude", "fts"])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 2, "{o:?}");
    assert_eq!(
        o.stderr_lines()
            .into_iter()
            .filter(|l| l.contains("matches no database"))
            .collect::<Vec<_>>(),
        ["d1-export-start: warning: --exclude \"stagign-*\" matches no database of this run"],
        "{}",
        o.stderr
    );
}

#[test]
fn an_exclude_table_that_leaves_only_views_is_refused_and_starts_no_export() {
    let data = tempfile::tempdir().unwrap();
    make_db(
        data.path(),
        "viewy",
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES ('a');
         CREATE VIEW v AS SELECT * FROM t;",
    );
    let emu = Emulator::start_in(data.path(), &[]);
    let o = tool("d1-export-start")
        .args(["--exclude-table", "t", "viewy"])
        .env_from(&emu)
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert!(
        o.stderr.contains(
            "no table left to export once t are left out (only v would be: views, indexes and \
             triggers hold no data)"
        ),
        "{}",
        o.stderr
    );
    assert!(o.stdout.starts_with("FAIL 2 d1-export-start "), "{o:?}");
    assert_eq!(emu.requests("export-start"), 0);
}
