//! The store's contract (d1_archive::store): the same test bodies run against a folder and
//! against a bucket prefix on moto. Listing pages through every entry, writes appear whole or
//! not at all (a writer killed mid-way leaves nothing visible), what is written reads back
//! (small and streamed), deletion, and one lock holder at a time.

use d1_archive::s3::{Client, Options, Prefix};
use d1_archive::store::{Source, Store};
use d1_archive::Folder;
use d1_core::retry::{Deadline, Policy};
use d1_core::ExitCode;
use d1_tests::s3::{Fault, FaultProxy, Moto, ACCESS_KEY, SECRET_KEY};
use d1_tests::sha256_hex;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUCKET: &str = "contract";
const PREFIX: &str = "p/";
const KILLED_KEY: &str = "killed.sql";

/// A store under test, and how to look behind it.
trait Fixture {
    fn store(&self) -> Box<dyn Store>;
    /// The same store, listing at most two entries per request.
    fn paged(&self) -> Box<dyn Store>;
    /// Puts an entry beside the store's own (a subfolder's file, a key below the prefix)
    /// that a listing of the store does not hold.
    fn put_beside(&self);
    /// The environment that makes the child process (see [`child_writer`]) write to this store.
    fn child_env(&self) -> Vec<(String, String)>;
    /// Whether the child's write is under way (bytes sent, nothing complete).
    fn writing(&self) -> bool;
}

struct InFolder {
    dir: tempfile::TempDir,
}

impl InFolder {
    fn new() -> InFolder {
        InFolder {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Fixture for InFolder {
    fn store(&self) -> Box<dyn Store> {
        Box::new(Folder::new(self.dir.path()))
    }
    fn paged(&self) -> Box<dyn Store> {
        self.store()
    }
    fn put_beside(&self) {
        std::fs::create_dir(self.dir.path().join("sub")).unwrap();
        std::fs::write(self.dir.path().join("sub/k9"), "x").unwrap();
    }
    fn child_env(&self) -> Vec<(String, String)> {
        vec![(
            "STORE_UNDER_TEST".into(),
            format!("folder:{}", self.dir.path().display()),
        )]
    }
    fn writing(&self) -> bool {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                d1_core::atomic::temp_target(&n) == Some(KILLED_KEY)
                    && e.metadata().is_ok_and(|m| m.len() > 0)
            })
    }
}

struct InBucket {
    moto: Moto,
    /// Between the store and moto: counts requests, slows the parts of a write.
    proxy: FaultProxy,
}

impl InBucket {
    fn new() -> InBucket {
        let moto = Moto::start();
        moto.bucket(BUCKET);
        let proxy = FaultProxy::start(&moto.url);
        // Client::new reads the keys from the environment, as the tools do.
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        InBucket { moto, proxy }
    }

    fn prefix(&self, page: Option<usize>) -> Prefix {
        bucket_store(&self.proxy.url, page)
    }
}

fn bucket_store(endpoint: &str, page: Option<usize>) -> Prefix {
    let opts = Options {
        endpoint: Some(endpoint.to_string()),
        ..Options::default()
    };
    let client = Client::new(&opts, BUCKET, Policy::default(), Deadline::none()).expect("client");
    let p = Prefix::new(Arc::new(client), PREFIX, false).with_part_size(5 << 20);
    match page {
        Some(n) => p.with_page_size(n),
        None => p,
    }
}

impl Fixture for InBucket {
    fn store(&self) -> Box<dyn Store> {
        Box::new(self.prefix(None))
    }
    fn paged(&self) -> Box<dyn Store> {
        Box::new(self.prefix(Some(2)))
    }
    fn put_beside(&self) {
        let (status, body) =
            self.moto
                .request("PUT", &format!("/{BUCKET}/{PREFIX}sub/k9"), Some(b"x"));
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .moto
            .request("PUT", &format!("/{BUCKET}/q/k0"), Some(b"x"));
        assert_eq!(status, 200, "{body}");
    }
    fn child_env(&self) -> Vec<(String, String)> {
        // Every part is slow, so that the child is killed with the upload under way.
        self.proxy.add(
            "PUT",
            "partNumber=",
            Fault::Delay(Duration::from_secs(5)),
            u32::MAX,
        );
        vec![
            (
                "STORE_UNDER_TEST".into(),
                format!("bucket:{}", self.proxy.url),
            ),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }
    fn writing(&self) -> bool {
        self.proxy.count("partNumber=") > 0
    }
}

fn keys(store: &dyn Store) -> Vec<String> {
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .filter(|k| !d1_archive::names::is_hidden(k))
        .collect()
}

/// A file of `len` bytes (not all alike) and its SHA-256.
fn source(dir: &Path, len: usize) -> (PathBuf, String) {
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let p = dir.join("source.sql");
    std::fs::write(&p, &bytes).unwrap();
    (p, sha256_hex(&bytes))
}

// The bodies: one per property, run against every fixture.

fn listing_pages_through_every_entry_of_the_store(f: &dyn Fixture) {
    let store = f.store();
    for i in (0..7).rev() {
        store.write(&format!("k{i}"), Source::Bytes(b"x")).unwrap();
    }
    f.put_beside();
    let got = f.paged().list().unwrap();
    let names: Vec<&str> = got.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(names, ["k0", "k1", "k2", "k3", "k4", "k5", "k6"]);
    assert!(
        got.iter().all(|e| e.size == 1 && e.modified.is_some()),
        "{got:?}"
    );
}

fn what_is_written_reads_back_small_and_streamed(f: &dyn Fixture) {
    let store = f.store();
    let dir = tempfile::tempdir().unwrap();
    let w = store
        .write("a.sql.json", Source::Bytes(b"{\"sha256\": \"ab\"}\n"))
        .unwrap();
    assert_eq!(w.size, 17);
    assert_eq!(
        store.read_small("a.sql.json", 1024).unwrap().unwrap(),
        b"{\"sha256\": \"ab\"}\n"
    );
    // More than the limit is an error, never a shorter answer; nothing there is None.
    assert!(store.read_small("a.sql.json", 4).is_err());
    assert_eq!(store.read_small("none.json", 1024).unwrap(), None);
    // A file large enough for several parts in a bucket.
    let (src, sha) = source(dir.path(), 11 << 20);
    let w = store
        .write(
            "a.sql",
            Source::File {
                path: &src,
                sha256: &sha,
            },
        )
        .unwrap();
    assert_eq!(w.size, 11 << 20);
    let mut back = Vec::new();
    store.open("a.sql").unwrap().read_to_end(&mut back).unwrap();
    assert_eq!(back, std::fs::read(&src).unwrap());
    // Bytes that are not the ones the verdict is for are refused, and nothing is left.
    let e = store
        .write(
            "b.sql",
            Source::File {
                path: &src,
                sha256: &"0".repeat(64),
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), ExitCode::Failed, "{}", e.message);
    assert_eq!(keys(store.as_ref()), ["a.sql", "a.sql.json"]);
}

fn deletion_removes_and_a_missing_key_is_already_deleted(f: &dyn Fixture) {
    let store = f.store();
    store.write("a.sql", Source::Bytes(b"x")).unwrap();
    store.delete("a.sql").unwrap();
    store.delete("a.sql").unwrap();
    store.sync().unwrap();
    assert!(keys(store.as_ref()).is_empty());
    assert_eq!(store.read_small("a.sql", 10).unwrap(), None);
}

fn one_lock_holder_at_a_time(f: &dyn Fixture) {
    let store = f.store();
    let held = store.lock(&Deadline::none()).unwrap();
    let short = Deadline::after(Some(Duration::from_millis(300)));
    let e = f.store().lock(&short).err().expect("a second lock waits");
    assert_eq!(e.code(), ExitCode::Temporary, "{}", e.message);
    drop(held);
    let again = f.store().lock(&short).expect("released");
    drop(again);
    // The lock is not a backup, and leaves nothing visible.
    assert!(keys(store.as_ref()).is_empty());
}

fn a_writer_killed_mid_way_leaves_nothing_visible(f: &dyn Fixture) {
    let store = f.store();
    store.write("kept.sql", Source::Bytes(b"x")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (src, sha) = source(dir.path(), 64 << 20);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture"])
        .envs(f.child_env())
        .env("CHILD_SOURCE", &src)
        .env("CHILD_SHA256", &sha)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while !f.writing() {
        assert!(Instant::now() < end, "the write never started");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    // Either the whole object (the child won the race) or nothing: never a part of it.
    match store.read_small(KILLED_KEY, 128 << 20).unwrap() {
        None => assert_eq!(keys(store.as_ref()), ["kept.sql"]),
        Some(b) => assert_eq!(b, std::fs::read(&src).unwrap(), "a partial object"),
    }
}

/// The writer the kill test runs in a child process (`STORE_UNDER_TEST` names the store); in
/// the suite's own run, without that variable, it has nothing to do.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var("STORE_UNDER_TEST") else {
        return;
    };
    let store: Box<dyn Store> = match spec.split_once(':').unwrap() {
        ("folder", dir) => Box::new(Folder::new(dir)),
        (_, endpoint) => Box::new(bucket_store(endpoint, None)),
    };
    let src = PathBuf::from(std::env::var("CHILD_SOURCE").unwrap());
    let sha = std::env::var("CHILD_SHA256").unwrap();
    store
        .write(
            KILLED_KEY,
            Source::File {
                path: &src,
                sha256: &sha,
            },
        )
        .unwrap();
}

macro_rules! contract {
    ($($body:ident),*) => {
        mod folder {
            $(#[test] fn $body() { super::$body(&super::InFolder::new()) })*
        }
        mod bucket {
            $(#[test] fn $body() { super::$body(&super::InBucket::new()) })*
        }
    };
}

contract!(
    listing_pages_through_every_entry_of_the_store,
    what_is_written_reads_back_small_and_streamed,
    deletion_removes_and_a_missing_key_is_already_deleted,
    one_lock_holder_at_a_time,
    a_writer_killed_mid_way_leaves_nothing_visible
);

#[test]
fn a_bucket_listing_goes_page_by_page_and_retries_a_page() {
    let b = InBucket::new();
    let store = b.prefix(Some(2));
    for i in 0..7 {
        store.write(&format!("k{i}"), Source::Bytes(b"x")).unwrap();
    }
    b.proxy
        .add("GET", "continuation-token", Fault::Status(503), 1);
    assert_eq!(store.list().unwrap().len(), 7);
    // 4 pages of at most 2 keys, one of them asked twice.
    assert_eq!(b.proxy.count("list-type=2"), 5, "pages requested");
}
