//! d1-fetch against the real emulator: whole, checksummed dumps or nothing at all.
//! Signed URLs come from an export run through the emulator's API by the test itself, so these
//! tests do not depend on the other tools' binaries.

use d1_tests::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn on_path(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn manifest(path: &Path) -> Value {
    let mut p = path.as_os_str().to_owned();
    p.push(".json");
    serde_json::from_slice(&std::fs::read(p).expect("manifest")).expect("manifest JSON")
}

/// The dump of d1-fetch's one record: `DATABASE_ID NAME PATH` (`-` for an unknown name) for a
/// record with a database id, `PATH` alone for a bare URL.
fn dump_path(out: &Outcome, id: Option<&str>, name: &str) -> PathBuf {
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    match id {
        Some(id) => {
            let prefix = format!("{id} {name} ");
            let path = lines[0].strip_prefix(&prefix);
            PathBuf::from(path.unwrap_or_else(|| panic!("{:?} lacks {prefix:?}", lines[0])))
        }
        None => PathBuf::from(lines[0]),
    }
}

fn assert_empty(dir: &Path) {
    assert_eq!(
        files_in(dir),
        Vec::<String>::new(),
        "left behind in {}",
        dir.display()
    );
}

#[test]
fn a_plain_download_stores_the_served_bytes_with_checksum_and_manifest() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    // d1-export-wait's record: the database's name travels to the file name and the manifest.
    let out = tool("d1-fetch")
        .args(["-o", &format!("{}/", dir.path().display())])
        .stdin(format!("{id} sample {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_no_secrets("stdout", &out.stdout);
    assert_eq!(out.stderr, "");
    let path = &dump_path(&out, Some(&id), "sample");
    assert_eq!(path.parent(), Some(dir.path()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("sample-") && name.ends_with("Z.sql") && name.len() == "sample".len() + 21,
        "{name}"
    );
    let served = download(&url);
    let stored = std::fs::read(path).unwrap();
    assert_eq!(stored, served);
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sha = sha256_hex(&served);
    let sidecar = std::fs::read_to_string(dir.path().join(format!("{name}.sha256"))).unwrap();
    assert_eq!(sidecar, format!("{sha}  {name}\n"));
    assert_eq!(
        files_in(dir.path()),
        vec![
            name.clone(),
            format!("{name}.json"),
            format!("{name}.sha256")
        ]
    );
    let m = manifest(path);
    assert_eq!(m["database_id"], id.as_str());
    assert_eq!(m["database_name"], "sample");
    assert_eq!(m["sha256"], sha.as_str());
    assert_eq!(m["sql_sha256"], sha.as_str());
    assert_eq!(m["stored_bytes"], served.len() as u64);
    assert_eq!(m["sql_bytes"], served.len() as u64);
    assert_eq!(m["compression"], "none");
    assert_eq!(m["etag_md5_checked"], true);
    let source = url.split('?').next().unwrap();
    assert_eq!(m["url"], source);
    assert_eq!(m["source_filename"], source.rsplit('/').next().unwrap());
    let at = m["fetched_at"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );
    assert!(m["d1_fetch_version"].is_string());
    assert!(m.get("verification").is_none(), "not verified yet: {m}");
    assert_no_secrets("manifest", &m.to_string());
    if on_path("sha256sum") {
        let ok = Command::new("sha256sum")
            .args(["-c", &format!("{name}.sha256")])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "sha256sum -c disagrees");
    } else {
        println!("sha256sum not on PATH: skipped its check");
    }
}

#[test]
fn a_zstd_download_decompresses_to_the_served_bytes() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .args(["--zstd", "-o"])
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let path = &dump_path(&out, Some(&id), "-");
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    // No name: the id names the file.
    assert!(
        file.starts_with(&format!("{id}-")) && file.ends_with("Z.sql.zst"),
        "{path:?}"
    );
    let served = download(&url);
    let stored = std::fs::read(path).unwrap();
    assert_eq!(zstd::decode_all(&stored[..]).unwrap(), served);
    let m = manifest(path);
    assert_eq!(m["compression"], "zstd");
    assert_eq!(m["zstd_level"], 3);
    assert_eq!(m["sha256"], sha256_hex(&stored).as_str());
    assert_eq!(m["sql_sha256"], sha256_hex(&served).as_str());
    assert_eq!(m["stored_bytes"], stored.len() as u64);
    assert_eq!(m["sql_bytes"], served.len() as u64);
    if on_path("zstd") {
        let d = Command::new("zstd")
            .args(["-d", "-c", "-q"])
            .arg(path)
            .output()
            .unwrap();
        assert!(d.status.success());
        assert_eq!(d.stdout, served, "zstd -d disagrees");
    } else {
        println!("zstd not on PATH: skipped its check");
    }
    if on_path("sha256sum") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ok = Command::new("sha256sum")
            .args(["-c", &format!("{name}.sha256")])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

#[test]
fn json_prints_the_manifest_with_the_path_as_one_line() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x.sql.zst");
    let out = tool("d1-fetch")
        .args(["--json", "--zstd=5", "-o"])
        .arg(&target)
        .arg(&url)
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines().len(), 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["path"], target.display().to_string());
    assert_eq!(v["zstd_level"], 5);
    assert_eq!(v["database_id"], Value::Null);
    let _ = id;
    assert_no_secrets("stdout", &out.stdout);
    assert_eq!(manifest(&target)["sha256"], v["sha256"]);
}

#[test]
fn the_default_output_is_the_current_folder_named_dump_without_an_id() {
    let emu = Emulator::start(&[]);
    let (_, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .current_dir(dir.path())
        .stdin(format!("{url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let name = &dump_path(&out, None, "").display().to_string();
    assert!(
        name.starts_with("dump-") && name.ends_with("Z.sql") && !name.contains('/'),
        "{name}"
    );
    assert_eq!(
        std::fs::read(dir.path().join(name)).unwrap(),
        download(&url)
    );
}

#[test]
fn a_truncated_body_exits_1_and_leaves_no_file() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:truncate"]);
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .args(["--retries", "2", "-o"])
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "incomplete");
    // The failure record names the database for the tools after d1-fetch.
    assert!(
        out.stdout.starts_with(&format!(
            "FAIL 1 d1-fetch {id} - line 1: download incomplete: received "
        )) && out.stdout.ends_with("(gave up after 3 attempts)\n")
            && out.stdout_lines().len() == 1,
        "{:?}",
        out.stdout
    );
    assert_empty(dir.path());
}

#[test]
fn a_wrong_content_length_exits_1_and_leaves_no_file() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:wrong-length:times=0"]);
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .args(["--retries", "2", "-o"])
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "Content-Length");
    assert_empty(dir.path());
}

#[test]
fn a_corrupted_body_fails_the_etag_md5_check_and_leaves_no_file() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:corrupt"]);
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .args(["--zstd", "-o"])
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "corrupt");
    assert_empty(dir.path());
}

#[test]
fn a_dropped_connection_is_resumed_with_range_and_the_digests_match() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:reset-mid-body:after=100"]);
    let dir = tempfile::tempdir().unwrap();
    let before = emu.requests("download");
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(
        emu.requests("download") - before,
        2,
        "one cut request and one resumed"
    );
    let served = download(&url);
    assert!(served.len() > 100, "the sample dump is larger than the cut");
    let path = &dump_path(&out, Some(&id), "-");
    assert_eq!(std::fs::read(path).unwrap(), served);
    assert_eq!(manifest(path)["sha256"], sha256_hex(&served).as_str());
}

#[test]
fn a_server_that_ignores_range_after_a_drop_makes_the_download_start_over() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:reset-mid-body:after=100", "download:no-range"]);
    let dir = tempfile::tempdir().unwrap();
    let before = emu.requests("download");
    let out = tool("d1-fetch")
        .args(["--zstd", "-o"])
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(emu.requests("download") - before, 2);
    let served = download(&url);
    let path = &dump_path(&out, Some(&id), "-");
    let stored = std::fs::read(path).unwrap();
    assert_eq!(zstd::decode_all(&stored[..]).unwrap(), served);
    assert_eq!(manifest(path)["sql_sha256"], sha256_hex(&served).as_str());
}

#[test]
fn an_expired_url_exits_1_and_says_to_wait_for_the_export_again() {
    let emu = Emulator::start(&["--url-ttl", "1"]);
    let (id, url) = emu.export_url("sample");
    std::thread::sleep(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "expired");
    assert!(out.stderr.contains("d1-export-wait"), "{}", out.stderr);
    assert_empty(dir.path());
}

#[test]
fn a_tampered_signature_is_refused_with_exit_1() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let i = url.find("X-Amz-Signature=").expect("signature") + "X-Amz-Signature=".len();
    let mut tampered = url.clone().into_bytes();
    tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{id} {tampered}\n"))
        .run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "refused");
    assert_empty(dir.path());
}

#[test]
fn an_existing_target_is_kept_without_force_and_replaced_with_it() {
    let emu = Emulator::start(&[]);
    let (_, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.sql");
    std::fs::write(&target, "old").unwrap();
    let before = emu.requests("download");
    let out = tool("d1-fetch").arg("-o").arg(&target).arg(&url).run();
    assert_eq!(out.code, 2, "{out:?}");
    assert_one_line_error(&out, "already exists");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    assert_eq!(
        emu.requests("download"),
        before,
        "refused before downloading"
    );
    assert_eq!(files_in(dir.path()), vec!["backup.sql"]);

    let out = tool("d1-fetch")
        .args(["--force", "-o"])
        .arg(&target)
        .arg(&url)
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read(&target).unwrap(), download(&url));
}

#[test]
fn a_folder_that_cannot_be_written_fails_before_downloading() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    // Tests run as root, where permissions do not stop writes: a folder below a regular file
    // cannot be created by anyone.
    std::fs::write(dir.path().join("somefile"), "x").unwrap();
    let before = emu.requests("download");
    for target in ["somefile/", "somefile/sub/"] {
        let out = tool("d1-fetch")
            .args(["-o", target])
            .current_dir(dir.path())
            .stdin(format!("{id} {url}\n"))
            .run();
        assert_eq!(out.code, 1, "{target}: {out:?}");
        assert_one_line_error(&out, "somefile");
    }
    // /proc refuses new files even to root.
    let out = tool("d1-fetch").args(["-o", "/proc/"]).arg(&url).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert_one_line_error(&out, "/proc");
    assert_eq!(emu.requests("download"), before, "nothing was downloaded");
    assert_eq!(files_in(dir.path()), vec!["somefile"]);
}

#[test]
fn sigterm_during_a_download_leaves_no_file_and_exits_130() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:slow:ms=3000"]);
    let dir = tempfile::tempdir().unwrap();
    let child = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        files_in(dir.path()).len(),
        1,
        "the temporary file exists mid-download"
    );
    let sent = Instant::now();
    signal(&child, 15);
    let out = wait(child, Duration::from_secs(20));
    assert_eq!(out.code, 130, "{out:?}");
    assert!(sent.elapsed() < Duration::from_secs(2), "stopped promptly");
    assert_eq!(out.stdout, "FAIL 130 d1-fetch - - interrupted\n");
    assert_empty(dir.path());
}

#[test]
fn dash_writes_the_exact_bytes_to_stdout_and_nothing_else() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let out = tool("d1-fetch")
        .args(["-q", "-o", "-"])
        .current_dir(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.as_bytes(), &download(&url)[..]);
    assert_eq!(out.stderr, "");
    assert_empty(dir.path());
}

#[test]
fn dash_to_a_full_disk_fails_with_no_space_left_on_device() {
    let emu = Emulator::start(&[]);
    let (_, url) = emu.export_url("sample");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut cmd = Command::new(bin("d1-fetch"));
    for (k, v) in emu.env() {
        cmd.env(k, v);
    }
    let o = cmd
        .args(["-o", "-", &url])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_no_secrets("stderr", &stderr);
}

#[test]
fn a_rate_limited_download_is_retried_after_retry_after() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    emu.arm(&["download:429:retry_after=1"]);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(
        std::fs::read(dump_path(&out, Some(&id), "-")).unwrap(),
        download(&url)
    );
}

#[test]
fn bad_lines_are_reported_by_number_and_the_good_ones_still_fetched() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let input =
        format!("{id} http://example.com/d.sql?X-Amz-Signature=abc\n../../etc {url}\n{id} {url}\n");
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(input)
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    let errs = out.stderr_lines();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].contains("line 1") && errs[0].contains("https"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].contains("line 2") && errs[1].contains("database id"),
        "{}",
        errs[1]
    );
    assert_no_secrets("stderr", &out.stderr);
    assert_no_secrets("stdout", &out.stdout);
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            "FAIL 2 d1-fetch {id} - {}",
            &errs[0]["d1-fetch: error: ".len()..]
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "FAIL 2 d1-fetch ../../etc - {}",
            &errs[1]["d1-fetch: error: ".len()..]
        )
    );
    let path = lines[2]
        .strip_prefix(&format!("{id} - "))
        .expect("the good record");
    assert_eq!(std::fs::read(path).unwrap(), download(&url));
    assert_eq!(
        files_in(dir.path()).len(),
        3,
        "the dump and its two sidecars"
    );
}

#[test]
fn a_single_file_output_takes_one_record_only() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("one.sql");
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(&target)
        .stdin(format!("{id} {url}\n{id} {url}\n"))
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    assert_one_line_error(&out, "line 2");
    assert_eq!(std::fs::read(&target).unwrap(), download(&url));
}

#[test]
fn export_wait_json_lines_are_accepted_as_records() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let line = json!({"database_id": id, "database_name": "sample", "signed_url": url, "polls": 2})
        .to_string();
    let out = tool("d1-fetch")
        .arg("-o")
        .arg(dir.path())
        .stdin(format!("{line}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let path = &dump_path(&out, Some(&id), "sample");
    assert!(path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("sample-"));
    assert_eq!(std::fs::read(path).unwrap(), download(&url));
    assert_eq!(manifest(path)["database_name"], "sample");
}

#[test]
fn an_output_that_is_neither_a_folder_nor_a_dump_file_name_is_refused_before_downloading() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let dir = tempfile::tempdir().unwrap();
    let before = emu.requests("download");
    let out = tool("d1-fetch")
        .args(["-o", "outdir"])
        .current_dir(dir.path())
        .stdin(format!("{id} sample {url}\n"))
        .run();
    assert_eq!(out.code, 2, "{out:?}");
    let says = "-o outdir: no such folder, and not a .sql, .sql.zst or .age file name; write \
                outdir/ to create a folder";
    assert_one_line_error(&out, says);
    assert_eq!(out.stdout, format!("FAIL 2 d1-fetch - - {says}\n"));
    assert_eq!(emu.requests("download"), before, "nothing was downloaded");
    assert_empty(dir.path());

    // With the trailing slash it is a folder, created on demand.
    let out = tool("d1-fetch")
        .args(["-o", "outdir/"])
        .current_dir(dir.path())
        .stdin(format!("{id} sample {url}\n"))
        .run();
    assert_eq!(out.code, 0, "{out:?}");
    let path = dump_path(&out, Some(&id), "sample");
    assert!(path.starts_with("outdir/"), "{path:?}");
    assert_eq!(
        std::fs::read(dir.path().join(path)).unwrap(),
        download(&url)
    );
}

#[test]
fn the_exports_bookmark_goes_into_the_manifest_when_the_record_carries_it() {
    let emu = Emulator::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let start = tool("d1-export-start")
        .env_from(&emu)
        .args(["--json", "sample"])
        .run();
    assert_eq!(start.code, 0, "{start:?}");
    let bookmark = serde_json::from_str::<Value>(start.stdout.trim()).unwrap()["bookmark"].clone();
    let wait = tool("d1-export-wait")
        .env_from(&emu)
        .arg("--json")
        .stdin(&start.stdout)
        .run();
    assert_eq!(wait.code, 0, "{wait:?}");
    let o = tool("d1-fetch")
        .args(["-o", &format!("{}/", dir.path().display())])
        .stdin(&wait.stdout)
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let path = PathBuf::from(o.stdout.split_whitespace().last().expect("a path"));
    assert!(bookmark.is_string(), "{start:?}");
    assert_eq!(manifest(&path)["bookmark"], bookmark);
    // A plain record carries none: nothing is invented.
    let (id, url) = emu.export_url("sample");
    let o = tool("d1-fetch")
        .args(["-o", &format!("{}/again/", dir.path().display())])
        .stdin(format!("{id} sample {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let path = PathBuf::from(o.stdout.split_whitespace().last().expect("a path"));
    assert!(manifest(&path).get("bookmark").is_none());
}
