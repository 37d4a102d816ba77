//! d1-upload and `d1-fetch s3://` against a real S3 server (moto, on loopback), with dumps made
//! by the real pipeline (d1-emulator → d1-fetch → d1-verify). A fault proxy between the tools
//! and moto injects what moto will not do by itself (tests/src/s3.rs).
//!
//! d1-verify writes its verdict into the manifest (docs/records.md, "The verdict in the manifest");
//! a build where it does not yet gets it written here, after d1-verify printed OK for the dump.

use d1_tests::s3::{copy_dump, s3_tool, Fault, FaultProxy, Moto, SECRET_KEY};
use d1_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A small dump (the sample database) and one of about 12 MB (several 5 MiB parts), made once
/// per test run in target/upload-e2e/.
struct Dumps {
    small: PathBuf,
    large: PathBuf,
}

fn dumps() -> &'static Dumps {
    static DUMPS: OnceLock<Dumps> = OnceLock::new();
    DUMPS.get_or_init(|| {
        let root = bin("d1-upload")
            .parent()
            .and_then(Path::parent)
            .expect("target")
            .join("upload-e2e");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        let out = root.join("dumps");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        make_db(
            &data,
            "sample",
            "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT); \
             INSERT INTO people VALUES (1, 'Ada Lovelace-ROWTEXT'), (2, 'Grace Hopper');",
        );
        make_db(
            &data,
            "big",
            "CREATE TABLE blobs(id INTEGER PRIMARY KEY, v TEXT); \
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 15000) \
             INSERT INTO blobs SELECT x, hex(randomblob(400)) FROM c;",
        );
        let emu = Emulator::start_in(&data, &[]);
        let small = fetch_and_verify(&emu, "sample", &out);
        let large = fetch_and_verify(&emu, "big", &out);
        Dumps { small, large }
    })
}

/// The pipeline's first stages for one database: export, d1-fetch, d1-verify (OK), then the
/// verdict written into the manifest as d1-verify will (docs/records.md, "The verdict in the
/// manifest").
fn fetch_and_verify(emu: &Emulator, name: &str, out: &Path) -> PathBuf {
    let (id, url) = emu.export_url(name);
    let o = tool("d1-fetch")
        .args(["-o", &format!("{}/", out.display())])
        .stdin(format!("{id} {name} {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    // `DATABASE_ID NAME PATH`.
    let path = PathBuf::from(o.stdout.split_whitespace().last().expect("a record"));
    let v = tool("d1-verify").arg(&path).run();
    assert_eq!(v.code, 0, "{v:?}");
    assert!(v.stdout.starts_with("OK "), "{v:?}");
    let m = manifest(&path);
    if m["verification"].is_null() {
        let mut m = m;
        m["database_name"] = json!(name);
        m["verification"] = json!({
            "status": "ok", "verified_at": "2026-11-30T00:00:00Z", "tool": "d1-verify",
            "version": "0.1.0", "sha256": m["sha256"], "checks": ["checksum", "restore"],
        });
        write_manifest(&path, &m);
    }
    path
}

fn manifest_path(dump: &Path) -> PathBuf {
    let mut p = dump.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

fn manifest(dump: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(manifest_path(dump)).expect("manifest")).expect("JSON")
}

fn write_manifest(dump: &Path, m: &Value) {
    std::fs::write(
        manifest_path(dump),
        serde_json::to_string_pretty(m).unwrap(),
    )
    .unwrap();
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn assert_no_s3_secret(o: &Outcome) {
    for (what, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !text.contains(SECRET_KEY),
            "{what} leaks the secret key: {text}"
        );
        assert!(
            !text.contains("X-Amz-Signature="),
            "{what} leaks a signature: {text}"
        );
    }
}

#[test]
fn a_small_verified_dump_goes_up_with_its_sidecars_and_the_manifest_records_where() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().small, dir.path());
    let m = manifest(&dump);
    let o = s3_tool("d1-upload", &moto.url)
        .arg("s3://backups/d1/")
        .stdin(format!("OK {} tables=1 rows=2\n", dump.display()))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_no_s3_secret(&o);
    let key = format!("d1/{}", name_of(&dump));
    assert_eq!(
        o.stdout,
        format!(
            "{} sample s3://backups/{key}\n",
            m["database_id"].as_str().unwrap()
        )
    );
    assert_eq!(
        moto.object("backups", &key).unwrap(),
        std::fs::read(&dump).unwrap()
    );
    let mut keys = moto.keys("backups", "d1/");
    keys.sort();
    assert_eq!(
        keys,
        [key.clone(), format!("{key}.json"), format!("{key}.sha256")]
    );
    let after = manifest(&dump);
    let up = &after["uploads"][0];
    assert_eq!(up["url"], format!("s3://backups/{key}"));
    assert_eq!(
        (up["bucket"].as_str(), up["key"].as_str()),
        (Some("backups"), Some(key.as_str()))
    );
    assert_eq!(up["sha256"], m["sha256"]);
    assert_eq!(up["encrypted"], false);
    assert_eq!(up["endpoint"], moto.url);
    assert!(up["etag"].as_str().is_some_and(|e| e.len() == 32));
    // Nothing else of the manifest changed.
    assert_eq!(after["verification"], m["verification"]);
    assert_eq!(manifest(&dump)["sha256"], m["sha256"]);
}

#[test]
fn a_large_dump_goes_as_a_multipart_upload_and_a_5xx_on_one_part_is_retried() {
    let moto = Moto::start();
    moto.bucket("backups");
    let proxy = FaultProxy::start(&moto.url);
    proxy.add("PUT", "partNumber=2&", Fault::Status(503), 1);
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().large, dir.path());
    let size = std::fs::metadata(&dump).unwrap().len();
    assert!(size > 10 << 20, "the large dump is {size} bytes");
    let o = s3_tool("d1-upload", &proxy.url)
        .args(["--json", "--part-size", "5MiB", "s3://backups/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_no_s3_secret(&o);
    let rec: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(rec["parts"], 3);
    assert_eq!(rec["size"], size);
    assert!(rec["etag"].as_str().unwrap().ends_with("-3"), "{rec}");
    assert_eq!(proxy.count("partNumber=2&"), 2, "part 2 was sent twice");
    assert_eq!(proxy.count("partNumber=1&"), 1, "part 1 was sent once");
    // A blip recovered within a short wait is not announced (d1-core's one retry runner: only
    // waits of 2 s or more reach stderr), so that cron logs stay quiet.
    assert_eq!(
        moto.object("backups", &name_of(&dump)).unwrap(),
        std::fs::read(&dump).unwrap()
    );
    assert!(moto.uploads_in_progress("backups").is_empty());
}

#[test]
fn an_upload_interrupted_mid_way_leaves_nothing_and_a_rerun_succeeds() {
    let moto = Moto::start();
    moto.bucket("backups");
    let proxy = FaultProxy::start(&moto.url);
    // Slow parts, so that the signal arrives while the upload is under way.
    proxy.add(
        "PUT",
        "partNumber=",
        Fault::Delay(Duration::from_millis(700)),
        u32::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().large, dir.path());
    let before = std::fs::read(manifest_path(&dump)).unwrap();
    for sig in [15, 2, 1] {
        let base = proxy.count("partNumber=");
        let child = s3_tool("d1-upload", &proxy.url)
            .args(["--part-size", "5MiB", "s3://backups/p/"])
            .arg(&dump)
            .spawn();
        // Mid-way: part 1 is stored and part 2 is on the wire.
        let end = Instant::now() + Duration::from_secs(60);
        while proxy.count("partNumber=") < base + 2 {
            assert!(Instant::now() < end, "no part was sent");
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(&child, sig);
        let o = wait(child, Duration::from_secs(60));
        assert_eq!(o.code, 130, "signal {sig}: {o:?}");
        assert!(
            !o.stdout.contains("s3://"),
            "no upload record for an interrupted upload: {o:?}"
        );
        assert!(
            moto.keys("backups", "p/").is_empty(),
            "nothing visible after signal {sig}"
        );
        assert!(
            moto.uploads_in_progress("backups").is_empty(),
            "no parts left after signal {sig}"
        );
        assert_eq!(
            std::fs::read(manifest_path(&dump)).unwrap(),
            before,
            "manifest untouched"
        );
    }
    let o = s3_tool("d1-upload", &moto.url)
        .args(["--part-size", "5MiB", "s3://backups/p/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        moto.object("backups", &format!("p/{}", name_of(&dump)))
            .unwrap(),
        std::fs::read(&dump).unwrap()
    );
}

#[test]
fn wrong_credentials_exit_3_without_printing_the_secret() {
    let moto = Moto::start();
    moto.bucket("backups");
    let proxy = FaultProxy::start(&moto.url);
    // moto does not check presigned signatures: the proxy answers as S3 does for an unknown key.
    proxy.add(
        "PUT",
        "/",
        Fault::RequireKey("AKIA-THE-RIGHT-ONE".into()),
        u32::MAX,
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().small, dir.path());
    let o = s3_tool("d1-upload", &proxy.url)
        .arg("s3://backups/")
        .arg(&dump)
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert_no_s3_secret(&o);
    assert!(o.stderr.contains("InvalidAccessKeyId"), "{}", o.stderr);
    assert!(o.stdout.starts_with("FAIL 3 d1-upload "), "{}", o.stdout);
    assert_eq!(proxy.count("PUT"), 1, "a 403 is not retried");
    assert!(moto.keys("backups", "").is_empty());

    // A missing secret is exit 3 before anything is sent.
    let o = s3_tool("d1-upload", &moto.url)
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .arg("s3://backups/")
        .arg(&dump)
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("AWS_SECRET_ACCESS_KEY is not set"),
        "{}",
        o.stderr
    );
    // And the command line never takes it.
    let o = s3_tool("d1-upload", &moto.url)
        .args(["--secret-access-key", SECRET_KEY, "s3://backups/"])
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    assert_no_s3_secret(&o);
}

#[test]
fn an_unverified_dump_is_refused_unless_allowed_and_failures_upstream_pass_through() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().small, dir.path());
    let mut m = manifest(&dump);
    m.as_object_mut().unwrap().remove("verification");
    write_manifest(&dump, &m);
    let upstream = "FAIL 2 d1-export-start - prod-dbb no database named \"prod-dbb\"";
    let o = s3_tool("d1-upload", &moto.url)
        .arg("s3://backups/")
        .stdin(format!(
            "{upstream}\nOK {} tables=1 rows=2\n",
            dump.display()
        ))
        .run();
    assert_eq!(
        o.code, 2,
        "the worst class seen, upstream's usage error: {o:?}"
    );
    let lines = o.stdout_lines();
    assert_eq!(lines[0], upstream);
    assert!(lines[1].starts_with("FAIL 1 d1-upload "), "{lines:?}");
    assert!(o.stderr.contains("not verified"), "{}", o.stderr);
    assert!(moto.keys("backups", "").is_empty());

    // A failed verdict, or one for other bytes, is refused the same way.
    m["verification"] = json!({"status": "ok", "sha256": "0".repeat(64)});
    write_manifest(&dump, &m);
    let o = s3_tool("d1-upload", &moto.url)
        .arg("s3://backups/")
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("other bytes"), "{}", o.stderr);

    let o = s3_tool("d1-upload", &moto.url)
        .args(["--allow-unverified", "s3://backups/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("uploading anyway"), "{}", o.stderr);
    assert_eq!(moto.keys("backups", "").len(), 3);
}

#[test]
fn no_record_at_all_is_a_failure_unless_allow_empty() {
    let moto = Moto::start();
    let o = s3_tool("d1-upload", &moto.url)
        .arg("s3://backups/")
        .stdin("")
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("on standard input"), "{}", o.stderr);
    let o = s3_tool("d1-upload", &moto.url)
        .args(["--allow-empty", "s3://backups/"])
        .stdin("")
        .run();
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn the_round_trip_verify_upload_fetch_verify_is_byte_identical() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().large, dir.path());
    // d1-verify's records, as the pipeline hands them on.
    let v = tool("d1-verify").arg(&dump).run();
    assert_eq!(v.code, 0, "{v:?}");
    let up = s3_tool("d1-upload", &moto.url)
        .args(["--part-size", "5MiB", "s3://backups/d1"])
        .stdin(&v.stdout)
        .run();
    assert_eq!(up.code, 0, "{up:?}");
    let url = up.stdout.split_whitespace().last().unwrap().to_string();
    assert_eq!(url, format!("s3://backups/d1/{}", name_of(&dump)));

    let restore = tempfile::tempdir().unwrap();
    let f = s3_tool("d1-fetch", &moto.url)
        .args(["-o", &format!("{}/", restore.path().display())])
        .arg(&url)
        .run();
    assert_eq!(f.code, 0, "{f:?}");
    assert_no_s3_secret(&f);
    let got = PathBuf::from(f.stdout.split_whitespace().last().unwrap());
    assert_eq!(got, restore.path().join(name_of(&dump)));
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&dump).unwrap());
    let m = manifest(&got);
    assert_eq!(m["sha256"], manifest(&dump)["sha256"]);
    assert_eq!(m["restored_from"], url);
    let v2 = tool("d1-verify").stdin(&f.stdout).run();
    assert_eq!(v2.code, 0, "{v2:?}");
    assert!(
        v2.stdout.starts_with(&format!("OK {}", got.display())),
        "{v2:?}"
    );
}

#[test]
fn bytes_changed_on_the_way_or_in_the_bucket_are_caught_and_exit_1() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().small, dir.path());
    let key = name_of(&dump);

    // On the way up: moto stores what it received (it does not check Content-MD5), its ETag
    // says so, and d1-upload deletes the damaged object.
    let proxy = FaultProxy::start(&moto.url);
    proxy.add("PUT", &format!("/backups/{key}?"), Fault::CorruptBody, 1);
    let o = s3_tool("d1-upload", &proxy.url)
        .arg("s3://backups/")
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("stored different bytes"), "{}", o.stderr);
    assert!(
        moto.keys("backups", "").is_empty(),
        "the damaged object was deleted"
    );
    assert!(manifest(&dump)["uploads"].is_null());

    // In a part of a multipart upload: aborted, nothing left.
    let large = copy_dump(&dumps().large, dir.path());
    proxy.add("PUT", "partNumber=2&", Fault::CorruptBody, 1);
    let o = s3_tool("d1-upload", &proxy.url)
        .args(["--part-size", "5MiB", "s3://backups/"])
        .arg(&large)
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("part 2"), "{}", o.stderr);
    assert!(moto.keys("backups", "").is_empty());
    assert!(moto.uploads_in_progress("backups").is_empty());

    // In the bucket: the copy comes back different from its .sha256; nothing is written.
    let o = s3_tool("d1-upload", &moto.url)
        .arg("s3://backups/")
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let mut other = std::fs::read(&dump).unwrap();
    other[10] ^= 1;
    let (status, _) = moto.request("PUT", &format!("/backups/{key}"), Some(&other));
    assert_eq!(status, 200);
    let restore = tempfile::tempdir().unwrap();
    let f = s3_tool("d1-fetch", &moto.url)
        .args(["-o", &format!("{}/", restore.path().display())])
        .arg(format!("s3://backups/{key}"))
        .run();
    assert_eq!(f.code, 1, "{f:?}");
    assert!(f.stderr.contains("damaged"), "{}", f.stderr);
    assert_eq!(files_in(restore.path()), Vec::<String>::new());
}

/// `age-keygen -o PATH`; returns the public key (`age1…`).
/// Runs the age CLI with `args`, feeding `input`; returns stdout.
fn age_cli(args: &[&std::ffi::OsStr], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("age")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("age (Debian package age)");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    let _ = t.join();
    assert!(out.status.success(), "age {args:?} failed");
    out.stdout
}

#[test]
fn an_encrypted_copy_hides_the_rows_and_the_age_cli_and_d1_fetch_both_decrypt_it() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().small, dir.path());
    let plain = std::fs::read(&dump).unwrap();
    assert!(
        plain.windows(7).any(|w| w == b"ROWTEXT"),
        "the sample holds the row text"
    );
    let key = dir.path().join("key.txt");
    let public = age_keygen(&key);
    let o = s3_tool("d1-upload", &moto.url)
        .args(["--encrypt-to", &public, "s3://backups/enc/"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let object = format!("enc/{}.age", name_of(&dump));
    assert!(
        o.stdout
            .trim_end()
            .ends_with(&format!("s3://backups/{object}")),
        "{}",
        o.stdout
    );
    let stored = moto.object("backups", &object).expect("the ciphertext");
    assert!(
        !stored.windows(7).any(|w| w == b"ROWTEXT"),
        "no row text in the bucket"
    );
    assert!(moto
        .object("backups", &format!("enc/{}", name_of(&dump)))
        .is_none());

    // The reference implementation reads it.
    let id = key.as_os_str().to_owned();
    assert_eq!(
        age_cli(&["-d".as_ref(), "-i".as_ref(), &id], &stored),
        plain
    );

    let up = &manifest(&dump)["uploads"][0];
    assert_eq!(up["encrypted"], true);
    assert_eq!(up["recipients"], json!([public]));
    assert_eq!(up["ciphertext_sha256"], sha256_hex(&stored));
    assert_eq!(up["sha256"], sha256_hex(&plain));

    // The way back: decrypted, checked against the plaintext's sha256, verified.
    let restore = tempfile::tempdir().unwrap();
    let f = s3_tool("d1-fetch", &moto.url)
        .args(["--identity"])
        .arg(&key)
        .args(["-o", &format!("{}/", restore.path().display())])
        .arg(format!("s3://backups/{object}"))
        .run();
    assert_eq!(f.code, 0, "{f:?}");
    let got = restore.path().join(name_of(&dump));
    assert_eq!(std::fs::read(&got).unwrap(), plain);
    let v = tool("d1-verify").stdin(&f.stdout).run();
    assert_eq!(v.code, 0, "{v:?}");

    // Without the identity, with another one, or with a missing file: refused, nothing written.
    let empty = tempfile::tempdir().unwrap();
    let out = format!("{}/", empty.path().display());
    let url = format!("s3://backups/{object}");
    let o = s3_tool("d1-fetch", &moto.url)
        .args(["-o", &out, &url])
        .run();
    assert_eq!(o.code, 2, "{o:?}");
    let other = dir.path().join("other.txt");
    age_keygen(&other);
    let o = s3_tool("d1-fetch", &moto.url)
        .arg("--identity")
        .arg(&other)
        .args(["-o", &out, &url])
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("can decrypt this file (it was encrypted to other recipients)"),
        "{}",
        o.stderr
    );
    let o = s3_tool("d1-fetch", &moto.url)
        .args(["--identity", "/nonexistent/key.txt", "-o", &out, &url])
        .run();
    assert_eq!(o.code, 3, "{o:?}");
    assert!(!o.stderr.contains("AGE-SECRET-KEY"), "{}", o.stderr);

    // One byte changed in the bucket: the transport check catches it; and with the sidecars
    // changed to match, the ciphertext's authentication does.
    let mut tampered = stored.clone();
    let at = tampered.len() - 40;
    tampered[at] ^= 1;
    moto.request("PUT", &format!("/backups/{object}"), Some(&tampered));
    let o = s3_tool("d1-fetch", &moto.url)
        .arg("--identity")
        .arg(&key)
        .args(["-o", &out, &url])
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    let sha = sha256_hex(&tampered);
    let mut m: Value =
        serde_json::from_slice(&moto.object("backups", &format!("{object}.json")).unwrap())
            .unwrap();
    m["encryption"]["ciphertext_sha256"] = json!(sha);
    moto.request(
        "PUT",
        &format!("/backups/{object}.json"),
        Some(m.to_string().as_bytes()),
    );
    moto.request(
        "PUT",
        &format!("/backups/{object}.sha256"),
        Some(format!("{sha}  x.age\n").as_bytes()),
    );
    let o = s3_tool("d1-fetch", &moto.url)
        .arg("--identity")
        .arg(&key)
        .args(["-o", &out, &url])
        .run();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("altered or is truncated"), "{}", o.stderr);
    assert_eq!(files_in(empty.path()), Vec::<String>::new());
}

#[test]
fn a_copy_encrypted_by_the_age_cli_is_decrypted_by_d1_fetch() {
    let moto = Moto::start();
    moto.bucket("backups");
    let dir = tempfile::tempdir().unwrap();
    let dump = copy_dump(&dumps().large, dir.path());
    let plain = std::fs::read(&dump).unwrap();
    let key = dir.path().join("key.txt");
    let public = age_keygen(&key);
    let ct = age_cli(&["-r".as_ref(), public.as_ref()], &plain);
    let object = "cli/x.sql.age";
    moto.request("PUT", &format!("/backups/{object}"), Some(&ct));
    moto.request(
        "PUT",
        &format!("/backups/{object}.sha256"),
        Some(format!("{}  x.sql.age\n", sha256_hex(&ct)).as_bytes()),
    );
    let mut m = manifest(&dump);
    m["encryption"] = json!({"format": "age-encryption.org/v1", "recipients": [public],
        "ciphertext_sha256": sha256_hex(&ct)});
    moto.request(
        "PUT",
        &format!("/backups/{object}.json"),
        Some(m.to_string().as_bytes()),
    );
    let restore = tempfile::tempdir().unwrap();
    let f = s3_tool("d1-fetch", &moto.url)
        .arg("--identity")
        .arg(&key)
        .args(["-o", &format!("{}/", restore.path().display())])
        .arg(format!("s3://backups/{object}"))
        .run();
    assert_eq!(f.code, 0, "{f:?}");
    assert_eq!(std::fs::read(restore.path().join("x.sql")).unwrap(), plain);
}
