//! Prometheus text-format files for node_exporter's textfile collector (`--metrics-file`).
//!
//! One file may hold the series of several databases and of several tools. Each tool *owns* a
//! set of metric families (distinct names: d1-fetch's and d1-verify's never overlap) and each
//! update touches one database's series of those families: every other line of the file — the
//! other tool's families, other databases, anything else — is read back and kept. A failed run
//! sets its failure gauge and leaves the last-success values as the file had them, which is
//! why the file is parsed and merged instead of rewritten. Read-merge-write runs under an
//! advisory lock on `PATH.lock` (two tools run by `make -j` would otherwise lose an update),
//! and the file is replaced atomically (node_exporter never reads half a file). Mode 0644: the
//! collector often runs as another user, and metrics hold no secrets.

use crate::atomic::AtomicFile;
use crate::error::{Context, Error, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A gauge family a tool writes: its name and its `# HELP` text.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
}

/// The label every series carries: the database id, or `unknown` when the input did not say.
pub const LABEL: &str = "database";
pub const UNKNOWN: &str = "unknown";
/// The database's name, beside its id when known: dashboards and alerts speak of names.
pub const NAME_LABEL: &str = "name";
/// The shard (`3/8`) of the job that backed the database up, when it ran in shards
/// (`d1-export-start --shard`): which of N jobs to look at.
pub const SHARD_LABEL: &str = "shard";

/// A metrics file is small; anything bigger was not written by us (a dump given by mistake):
/// refuse it rather than read gigabytes and overwrite it.
const MAX_BYTES: u64 = 4 << 20;

/// Seconds since the epoch, for the timestamp gauges.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

/// Sets `database`'s series of the families named in `values` (`None` removes the series: the
/// run measured nothing there, and a stale value would mislead); the families of `owned` not
/// named keep their value for that database. Everything else in the file is kept as it was.
pub fn update(
    path: &Path,
    owned: &[Family],
    database: &str,
    name: Option<&str>,
    values: &[(&str, Option<f64>)],
) -> Result<()> {
    update_in_shard(path, owned, database, name, None, values)
}

/// [`update`], with the `shard` label of the run that backed the database up (kept from the
/// file when the run did not say).
pub fn update_in_shard(
    path: &Path,
    owned: &[Family],
    database: &str,
    name: Option<&str>,
    shard: Option<&str>,
    values: &[(&str, Option<f64>)],
) -> Result<()> {
    let what = || format!("metrics file {}", path.display());
    let _lock = lock(path).ctx(what)?;
    let old = read(path).ctx(what)?;
    let mut file = parse(&old, owned).ctx(what)?;
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        file.names.insert(database.to_string(), n.to_string());
    }
    if let Some(s) = shard.filter(|s| !s.is_empty()) {
        file.shards.insert(database.to_string(), s.to_string());
    }
    for (name, value) in values {
        let series = file.owned.entry((*name).to_string()).or_default();
        match value {
            Some(v) => series.insert(database.to_string(), *v),
            None => series.remove(database),
        };
    }
    let text = file.render(owned);
    write(path, text.as_bytes()).ctx(what)
}

/// An exclusive advisory lock on `PATH.lock`, released when the file is dropped. The lock file
/// stays: removing it would let a third writer lock a fresh file while the second holds the old.
fn lock(path: &Path) -> Result<File> {
    let mut name = OsString::from(path.as_os_str());
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o644)
        .open(&lock_path)
        .ctx(|| format!("opening the lock file {}", lock_path.display()))?;
    // std's flock wrapper (stable since Rust 1.89); blocks while another tool holds it, which
    // lasts the few milliseconds of a read-merge-write.
    f.lock()
        .ctx(|| format!("locking {}", lock_path.display()))?;
    Ok(f)
}

fn read(path: &Path) -> Result<String> {
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::io("reading it", e)),
        Ok(m) if !m.is_file() => return Err(Error::usage("not a regular file")),
        Ok(m) if m.len() > MAX_BYTES => {
            return Err(Error::failed(format!(
                "{} bytes is too big for a metrics file; not overwriting it",
                m.len()
            )))
        }
        Ok(_) => std::fs::read(path).ctx(|| "reading it")?,
    };
    String::from_utf8(bytes)
        .map_err(|_| Error::failed("not Prometheus text format (not UTF-8); not overwriting it"))
}

fn write(path: &Path, text: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path, true)?;
    f.file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .ctx(|| "setting mode 0644")?;
    f.write_all(text).ctx(|| "writing it")?;
    f.commit(true)?;
    Ok(())
}

/// A file split into the lines this writer keeps as they are and the series it owns.
#[derive(Debug, Default)]
struct Parsed {
    /// Lines of families we do not own, in their order (keeps each family's lines together).
    foreign: Vec<String>,
    /// family -> database -> value.
    owned: BTreeMap<String, BTreeMap<String, f64>>,
    /// database -> name, for the `name` label.
    names: BTreeMap<String, String>,
    /// database -> shard, for the `shard` label.
    shards: BTreeMap<String, String>,
}

fn parse(text: &str, owned: &[Family]) -> Result<Parsed> {
    let is_owned = |name: &str| owned.iter().any(|f| f.name == name);
    let mut p = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            let about = match words.next() {
                Some("HELP") | Some("TYPE") => words.next(),
                _ => None,
            };
            if !about.is_some_and(is_owned) {
                p.foreign.push(line.to_string());
            }
            continue;
        }
        let bad = |why: &str| {
            Error::failed(format!(
                "line {n}: not Prometheus text format ({why}); not overwriting it"
            ))
        };
        let name_len = metric_name_len(t);
        if name_len == 0 {
            return Err(bad("no metric name"));
        }
        let name = &t[..name_len];
        let (labels, rest) = labels(&t[name_len..]).map_err(|e| bad(&e))?;
        let value = rest
            .split_whitespace()
            .next()
            .and_then(parse_value)
            .ok_or_else(|| bad(&format!("{name} without a number")))?;
        if !is_owned(name) {
            p.foreign.push(line.to_string());
            continue;
        }
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let database =
            label(LABEL).ok_or_else(|| bad(&format!("{name} without a {LABEL} label")))?;
        if let Some(n) = label(NAME_LABEL) {
            p.names.insert(database.clone(), n);
        }
        if let Some(s) = label(SHARD_LABEL) {
            p.shards.insert(database.clone(), s);
        }
        p.owned
            .entry(name.to_string())
            .or_default()
            .insert(database, value);
    }
    Ok(p)
}

impl Parsed {
    fn render(&self, owned: &[Family]) -> String {
        let mut out = String::new();
        for line in &self.foreign {
            out.push_str(line);
            out.push('\n');
        }
        for fam in owned {
            let Some(series) = self.owned.get(fam.name).filter(|s| !s.is_empty()) else {
                continue;
            };
            out.push_str(&format!("# HELP {} {}\n", fam.name, escape_help(fam.help)));
            out.push_str(&format!("# TYPE {} gauge\n", fam.name));
            for (db, v) in series {
                let mut name = match self.names.get(db) {
                    Some(n) => format!(",{NAME_LABEL}=\"{}\"", escape_label(n)),
                    None => String::new(),
                };
                if let Some(s) = self.shards.get(db) {
                    name.push_str(&format!(",{SHARD_LABEL}=\"{}\"", escape_label(s)));
                }
                out.push_str(&format!(
                    "{}{{{LABEL}=\"{}\"{name}}} {}\n",
                    fam.name,
                    escape_label(db),
                    format_value(*v)
                ));
            }
        }
        out
    }
}

/// Length of the metric name at the start of `s`: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn metric_name_len(s: &str) -> usize {
    let ok = |i: usize, c: char| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    };
    s.char_indices()
        .find(|&(i, c)| !ok(i, c))
        .map_or(s.len(), |(i, _)| i)
}

/// `{a="x",b="y"}` (optional) -> the pairs and what follows the closing brace.
type Labels = Vec<(String, String)>;

fn labels(s: &str) -> std::result::Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        let name_len = metric_name_len(rest);
        if name_len == 0 {
            return Err("bad label name".into());
        }
        let name = rest[..name_len].to_string();
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix("=\"")
            .ok_or_else(|| format!("label {name} without a quoted value"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}'s value is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("label {name}'s value is not closed")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name, value));
        rest = rest[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        // Rust also reads "inf" and "nan"; the text format spells them as above only.
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Family = Family {
        name: "t_a",
        help: "a",
    };
    const B: Family = Family {
        name: "t_b",
        help: "b",
    };
    const C: Family = Family {
        name: "u_c",
        help: "c",
    };

    #[test]
    fn a_failure_keeps_the_last_success_and_other_databases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d1.prom");
        update(
            &p,
            &[A, B],
            "db1",
            None,
            &[("t_a", Some(5.0)), ("t_b", Some(1.0))],
        )
        .unwrap();
        update(
            &p,
            &[A, B],
            "db2",
            None,
            &[("t_a", Some(7.5)), ("t_b", Some(1.0))],
        )
        .unwrap();
        update(&p, &[A, B], "db1", None, &[("t_b", Some(0.0))]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "# HELP t_a a\n# TYPE t_a gauge\nt_a{database=\"db1\"} 5\nt_a{database=\"db2\"} 7.5\n\
             # HELP t_b b\n# TYPE t_b gauge\nt_b{database=\"db1\"} 0\nt_b{database=\"db2\"} 1\n"
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn another_writers_families_are_kept_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d1.prom");
        update(&p, &[C], "x", None, &[("u_c", Some(3.0))]).unwrap();
        update(&p, &[A], "x", None, &[("t_a", Some(1.0))]).unwrap();
        update(&p, &[C], "x", None, &[("u_c", Some(4.0))]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("t_a{database=\"x\"} 1\n"), "{text}");
        assert!(text.contains("u_c{database=\"x\"} 4\n"), "{text}");
        assert_eq!(text.matches("# TYPE").count(), 2, "{text}");
    }

    #[test]
    fn none_removes_a_series_and_odd_labels_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d1.prom");
        let db = "we\"ird\\db\nx";
        update(
            &p,
            &[A, B],
            db,
            None,
            &[("t_a", Some(1.0)), ("t_b", Some(2.0))],
        )
        .unwrap();
        update(&p, &[A, B], db, None, &[("t_a", None)]).unwrap();
        let parsed = parse(&std::fs::read_to_string(&p).unwrap(), &[A, B]).unwrap();
        assert!(!parsed.owned.contains_key("t_a"));
        assert_eq!(parsed.owned["t_b"][db], 2.0);
    }

    #[test]
    fn a_file_that_is_not_prometheus_text_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dump.sql");
        std::fs::write(&p, "CREATE TABLE t(a);\n").unwrap();
        let e = update(&p, &[A], "x", None, &[("t_a", Some(1.0))]).unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "CREATE TABLE t(a);\n");
        let e = parse("t_a{database=\"x\"} oops\n", &[A]).unwrap_err();
        assert!(e.message.contains("without a number"), "{}", e.message);
    }

    #[test]
    fn labels_parse_with_escapes_and_extra_pairs() {
        let (l, rest) = labels(r#"{a="1",database="d\"b",}  3 123"#).unwrap();
        assert_eq!(l[1], ("database".to_string(), "d\"b".to_string()));
        assert_eq!(rest.trim(), "3 123");
        assert_eq!(metric_name_len("node_x{"), 6);
        assert_eq!(metric_name_len("9x"), 0);
    }

    #[test]
    fn the_shard_label_travels_beside_the_name_and_survives_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.prom");
        update_in_shard(
            &p,
            &[A],
            "id-1",
            Some("db"),
            Some("3/8"),
            &[("t_a", Some(1.0))],
        )
        .unwrap();
        update(&p, &[A], "id-1", None, &[("t_a", Some(2.0))]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("t_a{database=\"id-1\",name=\"db\",shard=\"3/8\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn the_name_label_travels_beside_the_id_and_survives_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.prom");
        update(&p, &[A], "id-1", Some("prod db"), &[("t_a", Some(1.0))]).unwrap();
        update(&p, &[A], "id-1", None, &[("t_a", Some(2.0))]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("t_a{database=\"id-1\",name=\"prod db\"} 2\n"),
            "{text}"
        );
    }
}
