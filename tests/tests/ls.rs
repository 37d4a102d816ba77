//! d1-ls end to end: two databases (prod, analytics) whose dumps the real pipeline made
//! (d1-emulator, d1-fetch, d1-verify), copied into nights that are verified, failed or never
//! verified, kept in a folder and, through d1-upload (encrypted for prod), in a bucket prefix
//! on moto. The restore drill of the off-site copies is one pipeline.

use d1_tests::s3::{s3_tool, Moto, ACCESS_KEY, SECRET_KEY};
use d1_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A real dump of each database and its manifest with d1-verify's verdict.
struct Made {
    id: String,
    name: &'static str,
    dump: Vec<u8>,
    manifest: Value,
}

fn made() -> &'static [Made; 2] {
    static M: OnceLock<[Made; 2]> = OnceLock::new();
    M.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        make_db(
            data.path(),
            "prod",
            "CREATE TABLE orders(id INTEGER PRIMARY KEY, total REAL); \
             INSERT INTO orders VALUES (1, 9.5), (2, 12.25);",
        );
        make_db(
            data.path(),
            "analytics",
            "CREATE TABLE hits(day TEXT, n INTEGER); INSERT INTO hits VALUES ('mon', 3);",
        );
        let emu = Emulator::start_in(data.path(), &[]);
        let out = tempfile::tempdir().unwrap();
        ["prod", "analytics"].map(|name| {
            let path = fetch_verified(&emu, name, out.path());
            let text = std::fs::read_to_string(format!("{}.json", path.display())).unwrap();
            Made {
                id: emu.db_id(name),
                name,
                dump: std::fs::read(&path).unwrap(),
                manifest: serde_json::from_str(&text).unwrap(),
            }
        })
    })
}

fn rfc3339(t: i64) -> String {
    d1_core::time::Utc::from_unix(t).rfc3339()
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Verified,
    Failed,
    Unverified,
}

/// Writes a night of `db` taken at `t` into `dir` as d1-fetch and d1-verify leave it; returns
/// the dump's path.
fn night(dir: &Path, db: &Made, t: i64, v: Verdict) -> PathBuf {
    let file = format!(
        "{}-{}.sql",
        db.name,
        d1_core::time::Utc::from_unix(t).compact()
    );
    let path = dir.join(&file);
    std::fs::write(&path, &db.dump).unwrap();
    let sha = sha256_hex(&db.dump);
    std::fs::write(
        dir.join(format!("{file}.sha256")),
        format!("{sha}  {file}\n"),
    )
    .unwrap();
    let mut m = db.manifest.clone();
    m["exported_at"] = json!(rfc3339(t));
    m["fetched_at"] = json!(rfc3339(t));
    m["bookmark"] = json!(format!("0000{t:x}-00000001-00004e4f-{}", &sha[..8]));
    match v {
        Verdict::Verified => {}
        Verdict::Failed => {
            m["verification"]["status"] = json!("failed");
            m["verification"]["reason"] = json!("line 12: near \"INSRT\": syntax error");
        }
        Verdict::Unverified => {
            m.as_object_mut().unwrap().remove("verification");
        }
    }
    std::fs::write(dir.join(format!("{file}.json")), m.to_string()).unwrap();
    path
}

/// The backups of one test: a folder and a bucket prefix.
///
/// - folder: prod at now-1h (verified), now-1d-1h (failed), now-2d-1h (never verified);
///   analytics at now-3d (verified), now-4d (verified).
/// - bucket `s3://bucket/d1/`: prod's now-1h night encrypted to `key`; analytics' two nights.
struct Setup {
    moto: Moto,
    dir: tempfile::TempDir,
    key: PathBuf,
    now: i64,
}

impl Setup {
    fn new() -> Setup {
        let [prod, analytics] = made();
        let moto = Moto::start();
        moto.bucket("bucket");
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let now = d1_core::time::unix_now();
        let p0 = night(&backups, prod, now - HOUR, Verdict::Verified);
        night(&backups, prod, now - DAY - HOUR, Verdict::Failed);
        night(&backups, prod, now - 2 * DAY - HOUR, Verdict::Unverified);
        let a0 = night(&backups, analytics, now - 3 * DAY, Verdict::Verified);
        let a1 = night(&backups, analytics, now - 4 * DAY, Verdict::Verified);
        let key = dir.path().join("key.txt");
        let public = age_keygen(&key);
        let up = |args: &[&str], dumps: &[&PathBuf]| {
            let o = s3_tool("d1-upload", &moto.url)
                .args(["-q"])
                .args(args)
                .arg("s3://bucket/d1/")
                .args(dumps)
                .run();
            assert_eq!(o.code, 0, "{o:?}");
        };
        up(&["--encrypt-to", &public], &[&p0]);
        up(&[], &[&a0, &a1]);
        Setup {
            moto,
            dir,
            key,
            now,
        }
    }

    fn ls(&self, args: &[&str]) -> Outcome {
        s3_tool("d1-ls", &self.moto.url)
            .current_dir(self.dir.path())
            .args(args)
            .run()
    }
}

fn json_lines(o: &Outcome) -> Vec<Value> {
    o.stdout_lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn every_backup_of_a_folder_and_a_bucket_is_listed_by_database_with_its_verdict() {
    let s = Setup::new();
    let [prod, analytics] = made();
    let o = s.ls(&["--json", "backups/", "s3://bucket/d1/"]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines = json_lines(&o);
    let of = |name: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["database_name"] == name)
            .collect()
    };
    // analytics sorts before prod; each database's backups newest first, the folder's before
    // the bucket's at the same time.
    assert_eq!(lines[0]["database_name"], "analytics");
    let p = of("prod");
    assert_eq!(p.len(), 4, "{p:?}");
    let words: Vec<&str> = p
        .iter()
        .map(|l| l["verification"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["verified", "verified", "failed", "unverified"]);
    assert_eq!(p[0]["database_id"], prod.id.as_str());
    assert_eq!(p[0]["exported_at"], rfc3339(s.now - HOUR));
    let file = format!(
        "prod-{}.sql",
        d1_core::time::Utc::from_unix(s.now - HOUR).compact()
    );
    assert_eq!(p[0]["path"], format!("backups/{file}"));
    assert_eq!(p[0]["encrypted"], false);
    assert_eq!(p[1]["url"], format!("s3://bucket/d1/{file}.age"));
    assert_eq!(p[1]["encrypted"], true);
    assert_eq!(p[0]["size"], prod.dump.len());
    assert!(
        p[0]["bookmark"].as_str().unwrap().starts_with("0000"),
        "{}",
        p[0]
    );
    assert!(
        p[2]["verdict"].as_str().unwrap().contains("INSRT"),
        "the failure's reason: {}",
        p[2]
    );
    assert_eq!(of("analytics").len(), 4);
    assert_eq!(lines[0]["database_id"], analytics.id.as_str());
    // The summary per database goes to stderr when stdout is not a table.
    assert!(
        o.stderr.contains(&format!(
            "prod ({}): 4 backups, {}; oldest verified {}, newest verified {}",
            prod.id,
            d1_core::msg::human_bytes(p.iter().map(|l| l["size"].as_u64().unwrap()).sum()),
            rfc3339(s.now - HOUR),
            rfc3339(s.now - HOUR)
        )),
        "{}",
        o.stderr
    );

    // On a pipe, records: the one each backup's maker prints.
    let o = s.ls(&["backups/", "s3://bucket/d1/"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 8, "{}", o.stdout);
    assert!(o
        .stdout_lines()
        .contains(&format!("{} prod backups/{file}", prod.id).as_str()));
    assert!(o
        .stdout_lines()
        .contains(&format!("{} prod s3://bucket/d1/{file}.age", prod.id).as_str()));

    // The table, for a person.
    let o = s.ls(&["--table", "backups/", "s3://bucket/d1/"]);
    assert_eq!(o.code, 0, "{o:?}");
    let table = o.stdout;
    assert!(
        table.starts_with(&format!("analytics ({})\n", analytics.id)),
        "{table}"
    );
    assert!(
        table.contains(&format!("\nprod ({})\n", prod.id)),
        "{table}"
    );
    assert!(table.contains("  EXPORTED  "), "{table}");
    let row = table
        .lines()
        .find(|l| l.ends_with(".age") || l.contains(".age  bookmark"))
        .expect("the encrypted copy's row");
    assert!(row.contains(" verified ") && row.contains(" age "), "{row}");
    assert!(table.contains("  4 backups, "), "{table}");
}

#[test]
fn latest_at_and_database_choose_the_newest_verified_backup() {
    let s = Setup::new();
    let [prod, analytics] = made();
    let at = |t: i64| d1_core::time::Utc::from_unix(t).compact();
    let o = s.ls(&["--latest", "backups/"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout_lines(),
        [
            format!(
                "{} analytics backups/analytics-{}.sql",
                analytics.id,
                at(s.now - 3 * DAY)
            ),
            format!("{} prod backups/prod-{}.sql", prod.id, at(s.now - HOUR)),
        ]
    );
    // By id or by name, repeatable.
    let o = s.ls(&["--latest", "--database", &prod.id, "s3://bucket/d1/"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 1, "{o:?}");
    assert!(o.stdout.ends_with(".sql.age\n"), "{o:?}");
    // As of a time: prod has no verified backup that old (its older nights failed or were
    // never verified): a failure record naming it; analytics' older night.
    let then = rfc3339(s.now - 3 * DAY - HOUR);
    let o = s.ls(&["--at", &then, "backups/"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(
        o.stdout_lines(),
        [
            format!(
                "{} analytics backups/analytics-{}.sql",
                analytics.id,
                at(s.now - 4 * DAY)
            ),
            format!(
                "FAIL 1 d1-ls {} prod no verified backup taken at or before {then}",
                prod.id
            ),
        ]
    );
    // A database found nowhere is a failure too.
    let o = s.ls(&["--database", "billing", "--database", "prod", "backups/"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 3 + 1, "{o:?}");
    assert!(
        o.stdout
            .contains("FAIL 1 d1-ls - - no backup of database billing in backups/"),
        "{o:?}"
    );
}

#[test]
fn max_age_names_the_stale_database_and_passes_when_every_one_is_fresh() {
    let s = Setup::new();
    let [_, analytics] = made();
    let o = s.ls(&["--max-age", "26h", "backups/", "s3://bucket/d1/"]);
    assert_eq!(o.code, 1, "{o:?}");
    let errors: Vec<&str> = o
        .stderr_lines()
        .into_iter()
        .filter(|l| l.starts_with("d1-ls: error: "))
        .collect();
    assert_eq!(
        errors,
        [format!(
            "d1-ls: error: analytics ({}): not fresh: its newest verified backup, {}, is 3d old, \
             older than 1d 2h",
            analytics.id,
            rfc3339(s.now - 3 * DAY)
        )],
        "{o:?}"
    );
    let o = s.ls(&["--max-age", "4d", "backups/", "s3://bucket/d1/"]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = s.ls(&["--max-age", "26h", "--database", "prod", "backups/"]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn the_restore_drill_of_the_newest_off_site_copies_is_one_pipeline() {
    let s = Setup::new();
    let [prod, analytics] = made();
    let script = format!(
        "export AWS_ACCESS_KEY_ID={ACCESS_KEY} AWS_SECRET_ACCESS_KEY={SECRET_KEY} \
         AWS_ENDPOINT_URL={}\n\
         d1-ls --latest s3://bucket/d1/ | d1-fetch --identity {} -o drill/ | d1-verify",
        s.moto.url,
        s.key.display()
    );
    let emu = Emulator::start(&[]);
    let o = sh(&emu, s.dir.path(), &script);
    assert_eq!(o.code, 0, "{o:?}");
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 2, "{o:?}");
    let at = |t: i64| d1_core::time::Utc::from_unix(t).compact();
    for (db, t) in [(analytics, s.now - 3 * DAY), (prod, s.now - HOUR)] {
        let file = format!("drill/{}-{}.sql", db.name, at(t));
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("OK {file} "))),
            "{file}: {o:?}"
        );
        assert_eq!(std::fs::read(s.dir.path().join(&file)).unwrap(), db.dump);
    }
    // A failure upstream passes through d1-ls and down the drill.
    let script = format!(
        "export AWS_ACCESS_KEY_ID={ACCESS_KEY} AWS_SECRET_ACCESS_KEY={SECRET_KEY} \
         AWS_ENDPOINT_URL={}\n\
         echo 'FAIL 75 d1-export-wait db-9 billing deadline reached' | \
         d1-ls --latest --database analytics s3://bucket/d1/ | d1-fetch -o again/ | d1-verify",
        s.moto.url
    );
    let o = sh(&emu, s.dir.path(), &script);
    assert_eq!(o.code, 75, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 2, "{o:?}");
}
