//! The size warning (issue 12): a database close to D1's size limit stops accepting writes once
//! it reaches it, so a backup run is a good moment to tell someone.

use d1_core::api::Database;

/// D1's largest database on the paid plan (docs/d1-export-start.md): 10 GB, decimal.
pub const D1_LIMIT_BYTES: u64 = 10_000_000_000;

/// Warn above this share of the limit unless `--size-warn-percent` says otherwise.
pub const DEFAULT_WARN_PERCENT: f64 = 80.0;

/// The warning for `db` when its `file_size` passes `percent` of the limit; `None` when it
/// does not or when the API did not say how big it is.
pub fn warning(db: &Database, percent: f64) -> Option<String> {
    let size = db.file_size?;
    let used = size as f64 * 100.0 / D1_LIMIT_BYTES as f64;
    if used <= percent {
        return None;
    }
    Some(format!(
        "database {} ({}) is {}, {}% of D1's 10 GB limit (warning above {}%); \
         writes fail once it reaches the limit",
        db.name,
        db.uuid,
        d1_core::msg::human_bytes(size),
        short_percent(used),
        short_percent(percent),
    ))
}

/// `80`, `0.0002`: enough digits to show a tiny share, no trailing zeros.
fn short_percent(p: f64) -> String {
    let digits = if p >= 1.0 { 1 } else { 6 };
    let s = format!("{p:.digits$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(size: Option<u64>) -> Database {
        Database {
            uuid: "0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a11".into(),
            name: "prod".into(),
            file_size: size,
            num_tables: None,
        }
    }

    #[test]
    fn a_database_above_the_threshold_gets_a_warning_naming_it() {
        let w = warning(&db(Some(8_500_000_000)), 80.0).unwrap();
        assert_eq!(
            w,
            "database prod (0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a11) is 8.5 GB, 85% of D1's 10 GB \
             limit (warning above 80%); writes fail once it reaches the limit"
        );
    }

    #[test]
    fn at_or_below_the_threshold_or_unknown_size_is_quiet() {
        assert_eq!(warning(&db(Some(8_000_000_000)), 80.0), None);
        assert_eq!(warning(&db(Some(1)), 80.0), None);
        assert_eq!(warning(&db(None), 0.0), None);
    }

    #[test]
    fn tiny_shares_keep_their_digits() {
        assert_eq!(short_percent(0.000245), "0.000245");
        assert_eq!(short_percent(0.0001), "0.0001");
        assert_eq!(short_percent(12.34), "12.3");
        assert_eq!(short_percent(0.0), "0");
    }
}
