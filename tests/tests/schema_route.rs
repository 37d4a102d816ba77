//! The data-only route (issue 23): a `--no-schema` dump restored on top of a `--no-data` one
//! with `d1-verify --schema`. The sample's schema has a trigger that writes an audit row for
//! each insert; loaded before the data, it fired on every restored row and collided with the
//! dump's own audit rows (`UNIQUE constraint failed`). Triggers now come after the data, as a
//! full dump orders them.

use d1_tests::*;

#[test]
fn a_data_only_dump_verifies_on_top_of_its_schema_with_its_triggers() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let o = sh(
        &emu,
        dir.path(),
        "d1-export-start --no-data sample | d1-export-wait | d1-fetch -o schema.sql \
         && d1-export-start --no-schema sample | d1-export-wait | d1-fetch -o data.sql \
         && d1-verify --no-checksum --schema schema.sql data.sql",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let ok = o
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("OK data.sql "))
        .unwrap_or_default();
    assert!(!ok.is_empty(), "{o:?}");
    // The trigger is there after the restore: the full dump's inventory, not less.
    let full = sh(
        &emu,
        dir.path(),
        "d1-export-start sample | d1-export-wait | d1-fetch -o full.sql \
         && d1-verify --json full.sql && d1-verify --json --no-checksum --schema schema.sql data.sql",
    );
    assert_eq!(full.code, 0, "{full:?}");
    let reports: Vec<serde_json::Value> = full
        .stdout_lines()
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2, "{full:?}");
    assert_eq!(reports[0]["triggers"], reports[1]["triggers"]);
    assert_eq!(reports[0]["rows"], reports[1]["rows"]);
    assert!(
        !reports[0]["triggers"].as_array().unwrap().is_empty(),
        "the sample has a trigger"
    );
}
