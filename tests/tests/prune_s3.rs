//! d1-prune on a bucket prefix (moto on loopback): one dump is made by the real pipeline
//! (d1-emulator's export, d1-fetch, d1-verify), copied to nights of two databases with manifests
//! dated and verified (or failed) by the test, and uploaded with d1-upload, so that the bucket
//! holds exactly what d1-upload puts there: `KEY`, `KEY.sha256`, `KEY.json`.

use d1_tests::s3::{s3_tool, Moto};
use d1_tests::{fetch_verified, sha256_hex, Emulator};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DB_A: &str = "5de8e2d8-aaaa-4000-8000-00000000000a";
const DB_B: &str = "5de8e2d8-bbbb-4000-8000-00000000000b";
const DAY: i64 = 86_400;
/// 2026-11-09T03:17:00Z.
const NEWEST: i64 = 1_794_194_220;

/// A real, verified dump and its manifest, made once per test binary.
struct Template {
    dump: Vec<u8>,
    manifest: Value,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let emu = Emulator::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let path = fetch_verified(&emu, "sample", dir.path());
        let text = std::fs::read_to_string(format!("{}.json", path.display())).unwrap();
        Template {
            dump: std::fs::read(&path).unwrap(),
            manifest: serde_json::from_str(&text).unwrap(),
        }
    })
}

fn compact(t: i64) -> String {
    d1_core::time::Utc::from_unix(t).compact()
}

fn rfc3339(t: i64) -> String {
    d1_core::time::Utc::from_unix(t).rfc3339()
}

/// Writes night `i` (days before NEWEST) of `db` into `dir` as d1-fetch and d1-verify leave it
/// (verified when `ok`, else failed); returns the dump's file name.
fn night(dir: &Path, db: &str, name: &str, i: i64, ok: bool) -> String {
    let tpl = template();
    let t = NEWEST - i * DAY;
    let file = format!("{name}-{}.sql", compact(t));
    let path = dir.join(&file);
    std::fs::write(&path, &tpl.dump).unwrap();
    let sha = sha256_hex(&tpl.dump);
    std::fs::write(
        dir.join(format!("{file}.sha256")),
        format!("{sha}  {file}\n"),
    )
    .unwrap();
    let mut m = tpl.manifest.clone();
    m["database_id"] = json!(db);
    m["database_name"] = json!(name);
    m["exported_at"] = json!(rfc3339(t));
    m["fetched_at"] = json!(rfc3339(t + 4));
    m["stored_bytes"] = json!(tpl.dump.len());
    m["sha256"] = json!(sha);
    let mut v = json!({
        "status": "ok", "verified_at": rfc3339(t + 60), "tool": "d1-verify",
        "version": "0.1.0", "sha256": sha, "checks": ["checksum", "restore"],
    });
    if !ok {
        v["status"] = json!("failed");
        v["reason"] = json!("line 12: near \"INSRT\": syntax error");
    }
    m["verification"] = v;
    std::fs::write(
        dir.join(format!("{file}.json")),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    file
}

/// The bucket after d1-upload: database A (prod) has 7 nights, the two newest failed
/// verification; B (analytics) 5 verified nights; C (audit) 4 nights, the three newest failed.
/// Plus objects that are not ours under the prefix, and one under another prefix.
struct Bucket {
    moto: Moto,
    a: Vec<String>,
    b: Vec<String>,
    c: Vec<String>,
}

fn keys_of(names: &[String], idx: &[usize]) -> Vec<String> {
    idx.iter()
        .flat_map(|&i| {
            let k = format!("p/{}", names[i]);
            [format!("{k}.json"), format!("{k}.sha256"), k]
        })
        .collect()
}

const FOREIGN: [&str; 3] = ["p/notes.txt", "p/stray-20261101T000000Z.sql", "q/a.sql"];

fn bucket() -> Bucket {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a: Vec<String> = (0..7).map(|i| night(d, DB_A, "prod", i, i >= 2)).collect();
    let b: Vec<String> = (0..5)
        .map(|i| night(d, DB_B, "analytics", i, true))
        .collect();
    let c: Vec<String> = (0..4)
        .map(|i| night(d, "5de8e2d8-cccc", "audit", i, i == 3))
        .collect();
    let paths: Vec<PathBuf> = a.iter().chain(&b).chain(&c).map(|f| d.join(f)).collect();
    let o = s3_tool("d1-upload", &moto.url)
        .args(["-q", "--allow-unverified", "s3://bucket/p/"])
        .args(&paths)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    for k in FOREIGN {
        let (status, body) = moto.request("PUT", &format!("/bucket/{k}"), Some(b"not ours"));
        assert_eq!(status, 200, "{body}");
    }
    Bucket { moto, a, b, c }
}

fn keys(moto: &Moto) -> BTreeSet<String> {
    moto.keys("bucket", "").into_iter().collect()
}

#[test]
fn keep_daily_3_prunes_the_prefix_per_database_and_never_the_newest_verified_dump() {
    let bk = bucket();
    let before = keys(&bk.moto);
    assert_eq!(before.len(), 3 * 16 + FOREIGN.len(), "{before:?}");

    // --dry-run: the plan, and nothing deleted.
    let o = s3_tool("d1-prune", &bk.moto.url)
        .args(["--keep-daily", "3", "--dry-run", "s3://bucket/p/"])
        .stdin("")
        .args(["--allow-empty"])
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(keys(&bk.moto), before, "a dry run deletes nothing");
    let removes: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("remove "))
        .collect();
    assert_eq!(removes.len(), 4, "{}", o.stdout);
    assert!(
        o.stdout
            .contains(&format!("keep {DB_A} prod s3://bucket/p/{} ", bk.a[2])),
        "{}",
        o.stdout
    );

    // The real run.
    let o = s3_tool("d1-prune", &bk.moto.url)
        .args(["--keep-daily", "3", "--allow-empty", "s3://bucket/p/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let mut removed: Vec<&str> = o.stdout.lines().collect();
    removed.sort();
    let mut want = vec![
        format!("{DB_A} prod s3://bucket/p/{}", bk.a[5]),
        format!("{DB_A} prod s3://bucket/p/{}", bk.a[6]),
        format!("{DB_B} analytics s3://bucket/p/{}", bk.b[3]),
        format!("{DB_B} analytics s3://bucket/p/{}", bk.b[4]),
    ];
    want.sort();
    // A: nights 2, 3, 4 are the three newest verified days; 0 and 1 failed with no newer
    // verified dump (kept); 5 and 6 go. B: 0, 1, 2 stay. C: its only verified night (3) and
    // the failed newer ones all stay.
    assert_eq!(removed, want, "{o:?}");
    let mut expect: BTreeSet<String> = FOREIGN.iter().map(|s| s.to_string()).collect();
    expect.extend(keys_of(&bk.a, &[0, 1, 2, 3, 4]));
    expect.extend(keys_of(&bk.b, &[0, 1, 2]));
    expect.extend(keys_of(&bk.c, &[0, 1, 2, 3]));
    assert_eq!(keys(&bk.moto), expect);
    for k in ["p/notes.txt", "p/stray-20261101T000000Z.sql"] {
        assert!(o.stderr.contains(&format!("s3://bucket/{k}")), "{o:?}");
    }
    assert!(o.stderr.contains("removed 4"), "{o:?}");

    // A second run has nothing left to do.
    let again = s3_tool("d1-prune", &bk.moto.url)
        .args([
            "--keep-daily",
            "3",
            "--allow-empty",
            "--json",
            "s3://bucket/p",
        ])
        .stdin("")
        .run();
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, "");
    assert_eq!(keys(&bk.moto), expect);
}

#[test]
fn json_records_name_the_objects_and_missing_credentials_are_exit_3() {
    let bk = bucket();
    let before = keys(&bk.moto);
    let o = s3_tool("d1-prune", &bk.moto.url)
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--keep-last", "1", "--allow-empty", "s3://bucket/p/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert_eq!(keys(&bk.moto), before);

    let o = s3_tool("d1-prune", &bk.moto.url)
        .args([
            "--keep-last",
            "1",
            "--json",
            "--allow-empty",
            "s3://bucket/p/",
        ])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let recs: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // A keeps night 2 (newest verified) and the failed 0, 1; B keeps 0; C keeps all.
    assert_eq!(recs.len(), 4 + 4, "{o:?}");
    assert!(
        recs.iter()
            .all(|r| r["removed"] == true
                && r["path"].as_str().unwrap().starts_with("s3://bucket/p/"))
    );
    let mut expect: BTreeSet<String> = FOREIGN.iter().map(|s| s.to_string()).collect();
    expect.extend(keys_of(&bk.a, &[0, 1, 2]));
    expect.extend(keys_of(&bk.b, &[0]));
    expect.extend(keys_of(&bk.c, &[0, 1, 2, 3]));
    assert_eq!(keys(&bk.moto), expect);
}

#[test]
fn a_removal_interrupted_after_the_dump_leaves_its_manifest_and_the_sidecars_stay_recognised() {
    // What an interrupted removal leaves: the dump gone, its .sha256 and .json there. The
    // manifest is fresh (moto's LastModified is now), so it is left alone, as a d1-fetch commit
    // in progress is locally; the other dumps are pruned as usual and nothing else is touched.
    let bk = bucket();
    let gone = format!("/bucket/p/{}", bk.b[4]);
    let (status, _) = bk.moto.request("DELETE", &gone, None);
    assert!(status < 300, "{status}");
    let o = s3_tool("d1-prune", &bk.moto.url)
        .args(["--keep-daily", "3", "--allow-empty", "s3://bucket/p/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let k = keys(&bk.moto);
    assert!(k.contains(&format!("p/{}.json", bk.b[4])), "{k:?}");
    assert!(!k.contains(&format!("p/{}", bk.b[3])), "{k:?}");
    assert!(o.stderr.contains("dump is not there"), "{o:?}");
}

fn put(moto: &Moto, key: &str, data: &[u8]) {
    let (status, body) = moto.request("PUT", &format!("/bucket/{key}"), Some(data));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn encrypted_copies_are_dumps_judged_by_their_ciphertext_size() {
    // d1-upload --encrypt-to stores KEY.age with KEY.age.sha256 and KEY.age.json, the manifest
    // saying the ciphertext's size (encryption.ciphertext_bytes). Three nights of one database:
    // the newest copy's size is not its manifest's (so it is not a good backup), the next two
    // are; --keep-last 1 keeps the newest good one and the bad newer one, and removes the oldest.
    let moto = Moto::start();
    moto.bucket("bucket");
    let tpl = template();
    let mut names = Vec::new();
    for i in 0..3i64 {
        let t = NEWEST - i * DAY;
        let key = format!("p/prod-{}.sql.age", compact(t));
        let cipher = format!("age-encryption.org/v1 night {i}").into_bytes();
        let sha = sha256_hex(&tpl.dump);
        let mut m = tpl.manifest.clone();
        m["database_id"] = json!(DB_A);
        m["database_name"] = json!("prod");
        m["exported_at"] = json!(rfc3339(t));
        m["stored_bytes"] = json!(tpl.dump.len());
        m["sha256"] = json!(sha);
        m["verification"] = json!({"status": "ok", "sha256": sha, "tool": "d1-verify"});
        let claimed = if i == 0 { 9999 } else { cipher.len() };
        m["encryption"] = json!({
            "format": "age-encryption.org/v1",
            "ciphertext_sha256": sha256_hex(&cipher),
            "ciphertext_bytes": claimed,
        });
        put(&moto, &key, &cipher);
        put(
            &moto,
            &format!("{key}.sha256"),
            format!("{}  {key}\n", sha256_hex(&cipher)).as_bytes(),
        );
        put(&moto, &format!("{key}.json"), m.to_string().as_bytes());
        names.push(key);
    }
    let o = s3_tool("d1-prune", &moto.url)
        .args(["--keep-last", "1", "--allow-empty", "s3://bucket/p/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, format!("{DB_A} prod s3://bucket/{}\n", names[2]));
    let left = keys(&moto);
    let mut expect = BTreeSet::new();
    for k in &names[..2] {
        expect.extend([k.clone(), format!("{k}.sha256"), format!("{k}.json")]);
    }
    assert_eq!(left, expect);
}
