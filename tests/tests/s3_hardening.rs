//! Issue 30's defects in the backup store (d1-archive) and its users, each as a user meets it:
//! the real binaries against moto on loopback, with a fault proxy, a listener that records
//! connections, or one that never answers.
//!
//! - D14: the S3 client went through HTTP_PROXY/ALL_PROXY for a loopback endpoint.
//! - D17: expired temporary credentials were exit 1, not 3.
//! - a hung endpoint stalled about 12 minutes per object.
//! - D10/D11: `d1-prune s3://` acted on listed keys outside its prefix, or panicked on one.
//! - D16: manifest size limits disagreed (a manifest over 16 MiB went up truncated).
//! - D24 and `.age.part`: temporaries of killed runs that no clean-up knew.

use d1_tests::s3::{s3_tool, Fault, FaultProxy, Listener, Moto};
use d1_tests::{age_keygen, sha256_hex, signal, wait, PROXY_VARS};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DB: &str = "5de8e2d8-aaaa-4000-8000-00000000000a";
const OTHER_DB: &str = "5de8e2d8-bbbb-4000-8000-00000000000b";
/// A public key whose private half nobody has: enough to encrypt.
const NOBODY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// A dump as d1-fetch and d1-verify leave it: the file, its `.sha256`, and a manifest with a
/// passing verdict for its bytes (`extra` added to the manifest).
fn verified_dump(
    dir: &Path,
    name: &str,
    db: &str,
    day: u32,
    sql: &[u8],
    extra: serde_json::Value,
) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, sql).unwrap();
    let sha = sha256_hex(sql);
    std::fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{sha}  {name}\n"),
    )
    .unwrap();
    let mut m = json!({
        "database_id": db, "database_name": "prod", "sha256": sha, "stored_bytes": sql.len(),
        "exported_at": format!("2026-11-{day:02}T03:17:00Z"),
        "verification": {"status": "ok", "sha256": sha, "tool": "d1-verify"},
    });
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            m[k] = v.clone();
        }
    }
    std::fs::write(dir.join(format!("{name}.json")), m.to_string()).unwrap();
    path
}

fn small_sql() -> &'static [u8] {
    b"CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n"
}

/// Uploads `dumps` to `s3://bucket/PREFIX` straight to moto.
fn upload(moto: &Moto, prefix: &str, dumps: &[PathBuf]) {
    let o = s3_tool("d1-upload", &moto.url)
        .arg(format!("s3://bucket/{prefix}"))
        .args(dumps)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
}

fn hidden_temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".part"))
        .collect()
}

/// Runs the tool `make` gives for an endpoint through a proxy that holds the `method` request
/// whose target contains `needle`, and SIGKILLs it once that request is on its way: a run
/// killed mid-transfer, its temporary file on disk. Returns the temporary files left in `dir`,
/// dated a day and an hour back (what a run that died long ago leaves).
fn killed_mid_transfer(
    moto: &Moto,
    method: &'static str,
    needle: &str,
    dir: &Path,
    make: impl Fn(&str) -> d1_tests::Tool,
) -> Vec<PathBuf> {
    let proxy = FaultProxy::start(&moto.url);
    proxy.add(method, needle, Fault::Delay(Duration::from_secs(60)), 1);
    let child = make(&proxy.url).spawn();
    let end = Instant::now() + Duration::from_secs(60);
    while proxy.count(needle) == 0 {
        assert!(Instant::now() < end, "the transfer never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, 9);
    let _ = wait(child, Duration::from_secs(10));
    let then = std::time::SystemTime::now() - Duration::from_secs(25 * 3600);
    let left = hidden_temporaries(dir);
    for p in &left {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }
    left
}

#[test]
fn d14_an_endpoint_on_loopback_is_reached_directly_whatever_the_proxy_variables_say() {
    let moto = Moto::start();
    moto.bucket("bucket");
    let proxy = Listener::start(false);
    let dir = tempfile::tempdir().unwrap();
    let dump = verified_dump(dir.path(), "a.sql", DB, 9, small_sql(), json!({}));
    let with_proxies = |name: &str| {
        let mut t = s3_tool(name, &moto.url);
        for var in PROXY_VARS
            .iter()
            .filter(|v| !v.contains("no_proxy") && !v.contains("NO_PROXY"))
        {
            t = t.env(var, &proxy.url);
        }
        t
    };
    let o = with_proxies("d1-upload")
        .args(["s3://bucket/p/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let restore = tempfile::tempdir().unwrap();
    let o = with_proxies("d1-fetch")
        .args(["-o", &format!("{}/", restore.path().display())])
        .arg("s3://bucket/p/a.sql")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let o = with_proxies("d1-prune")
        .args(["--keep-last", "1", "s3://bucket/p/"])
        .stdin("")
        .args(["--allow-empty"])
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        proxy.accepted(),
        0,
        "the proxy saw the object store's traffic"
    );
}

#[test]
fn d17_expired_temporary_credentials_are_exit_3_with_the_credentials_hint() {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let dump = verified_dump(dir.path(), "a.sql", DB, 9, small_sql(), json!({}));
    for code in ["ExpiredToken", "InvalidToken", "TokenRefreshRequired"] {
        let proxy = FaultProxy::start(&moto.url);
        proxy.add("PUT", "/bucket/", Fault::Error(400, code), u32::MAX);
        proxy.add("GET", "/bucket", Fault::Error(400, code), u32::MAX);
        let o = s3_tool("d1-upload", &proxy.url)
            .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
            .arg("s3://bucket/p/")
            .arg(&dump)
            .run();
        assert_eq!(o.code, 3, "{code}: {o:?}");
        assert!(o.stderr.contains(code), "{}", o.stderr);
        assert!(o.stderr.contains("renew AWS_SESSION_TOKEN"), "{}", o.stderr);
        let o = s3_tool("d1-prune", &proxy.url)
            .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
            .args(["--keep-last", "1", "--dry-run", "s3://bucket/p/"])
            .run();
        assert_eq!(o.code, 3, "{code}: {o:?}");
    }
}

#[test]
fn a_store_that_never_answers_ends_the_run_after_two_waits_with_exit_75() {
    let hung = Listener::start(true);
    let dir = tempfile::tempdir().unwrap();
    let a = verified_dump(dir.path(), "a.sql", DB, 9, small_sql(), json!({}));
    let b = verified_dump(dir.path(), "b.sql", DB, 8, small_sql(), json!({}));
    let started = Instant::now();
    let child = s3_tool("d1-upload", &hung.url)
        .env("D1_S3_ANSWER_WAIT", "1s")
        .arg("s3://bucket/p/")
        .args([&a, &b])
        .spawn();
    let o = wait(child, Duration::from_secs(60));
    assert_eq!(o.code, 75, "{o:?}");
    // Two waits of 1 s for the first dump (and the backoff between them), none for the second.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        o.stderr.contains("no answer within 1s; trying once more"),
        "announced: {}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("does not answer; giving up on it for this run"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("b.sql: not sent: the object store did not answer earlier in this run"),
        "{}",
        o.stderr
    );
    assert_eq!(
        o.stdout_lines().len(),
        2,
        "a failure record per dump: {o:?}"
    );
}

/// A bucket with three nights of database A under `p/` and three of database B under `q/`,
/// behind a proxy that answers a listing of `p/` with every key of the bucket.
fn straying_listing(extra_outside: &[(&str, &[u8])]) -> (Moto, FaultProxy) {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&pa).unwrap();
    std::fs::create_dir_all(&pb).unwrap();
    let a: Vec<PathBuf> = (1..=3)
        .map(|d| verified_dump(&pa, &format!("a-{d}.sql"), DB, d, small_sql(), json!({})))
        .collect();
    let b: Vec<PathBuf> = (1..=3)
        .map(|d| {
            verified_dump(
                &pb,
                &format!("b-{d}.sql"),
                OTHER_DB,
                d,
                small_sql(),
                json!({}),
            )
        })
        .collect();
    upload(&moto, "p/", &a);
    upload(&moto, "q/", &b);
    for (key, body) in extra_outside {
        let (status, text) = moto.request("PUT", &format!("/bucket/{key}"), Some(body));
        assert_eq!(status, 200, "{text}");
    }
    let proxy = FaultProxy::start(&moto.url);
    proxy.add(
        "GET",
        "list-type=2",
        Fault::Rewrite("prefix=p%2F", "prefix="),
        u32::MAX,
    );
    (moto, proxy)
}

#[test]
fn d10_d11_a_listing_that_strays_outside_the_prefix_is_warned_about_and_never_acted_on() {
    // "aé.sql" (D11): 'é' takes bytes 1 and 2, and the prefix "p/" is 2 bytes long.
    let (moto, proxy) = straying_listing(&[("a%C3%A9.sql", b"x")]);
    let o = s3_tool("d1-prune", &proxy.url)
        .args(["--keep-last", "1", "--allow-empty", "s3://bucket/p/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    for outside in ["s3://bucket/q/b-1.sql", "s3://bucket/a\u{e9}.sql"] {
        let warning = format!(
            "warning: the listing of s3://bucket/p/ returned {outside}, which is outside it: ignored"
        );
        assert!(o.stderr.contains(&warning), "{warning}: {}", o.stderr);
    }
    assert_eq!(
        moto.keys("bucket", "q/").len(),
        9,
        "nothing outside the prefix is touched"
    );
    assert!(moto.object("bucket", "a%C3%A9.sql").is_some());
    // Inside, the policy ran: the newest of A kept, the two older removed.
    assert_eq!(
        moto.keys("bucket", "p/"),
        ["p/a-3.sql", "p/a-3.sql.json", "p/a-3.sql.sha256"]
    );
    assert_eq!(o.stdout_lines().len(), 2, "{o:?}");
}

#[test]
fn d16_a_manifest_over_the_one_limit_is_refused_and_nothing_goes_up() {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let padding = "x".repeat(17 << 20);
    let dump = verified_dump(
        dir.path(),
        "a.sql",
        DB,
        9,
        small_sql(),
        json!({"notes": padding}),
    );
    let o = s3_tool("d1-upload", &moto.url)
        .args(["s3://bucket/p/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("a.sql.json: larger than 1048576 bytes: not a manifest of these tools"),
        "{}",
        o.stderr
    );
    assert!(moto.keys("bucket", "p/").is_empty(), "nothing uploaded");
}

#[test]
fn d24_the_ciphertext_of_a_killed_encrypting_upload_is_removed_by_the_next_run() {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let dump = verified_dump(dir.path(), "a.sql", DB, 9, small_sql(), json!({}));
    let upload = |endpoint: &str| {
        s3_tool("d1-upload", endpoint)
            .args(["--encrypt-to", NOBODY, "s3://bucket/p/"])
            .arg(&dump)
    };
    // The upload of the ciphertext hangs: the run is killed with it on disk.
    let left = killed_mid_transfer(&moto, "PUT", "/bucket/p/a.sql.age?", dir.path(), upload);
    assert_eq!(left.len(), 1, "the killed run's ciphertext: {left:?}");
    let o = upload(&moto.url).run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!left[0].exists(), "{} was left for ever", left[0].display());
}

#[test]
fn a_decrypting_fetch_killed_mid_download_leaves_a_temporary_the_next_run_removes() {
    let moto = Moto::start();
    moto.bucket("bucket");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let public = age_keygen(&key);
    let dump = verified_dump(dir.path(), "a.sql", DB, 9, small_sql(), json!({}));
    let o = s3_tool("d1-upload", &moto.url)
        .args(["--encrypt-to", &public, "s3://bucket/p/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let restore = tempfile::tempdir().unwrap();
    let fetch = |endpoint: &str| {
        s3_tool("d1-fetch", endpoint)
            .arg("--identity")
            .arg(&key)
            .args(["-o", &format!("{}/", restore.path().display())])
            .arg("s3://bucket/p/a.sql.age")
    };
    let left = killed_mid_transfer(&moto, "GET", "/bucket/p/a.sql.age?", restore.path(), fetch);
    assert_eq!(left.len(), 1, "the killed run's ciphertext: {left:?}");
    let o = fetch(&moto.url).run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!left[0].exists(), "{} was left for ever", left[0].display());
    assert_eq!(
        std::fs::read(restore.path().join("a.sql")).unwrap(),
        small_sql()
    );
}
