//! Hostile servers, proxies, signals and secrets (issue 17, items 3-12): each test reproduces a
//! case that broke and now holds. docs/reliability.md ("Hardening") lists them.

use d1_tests::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DB_ID: &str = "0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a11";

/// A fake HTTP server on loopback that answers every request with the same response and
/// counts the connections it accepted. Stands for a hostile or broken API (or a proxy that
/// must never be used).
struct Fake {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Fake {
    fn start(status: u16, headers: &str, body: Vec<u8>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let head = format!(
            "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let head = head.clone();
                let body = body.clone();
                std::thread::spawn(move || {
                    let _ = read_request(&mut conn);
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&body);
                });
            }
        });
        Fake { port, hits }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/client/v4", self.port)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads one request's head and body (by Content-Length).
fn read_request(conn: &mut TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)
}

/// An export answer envelope for the fake API.
fn complete_with_url(url: &str) -> Vec<u8> {
    serde_json::json!({"success": true, "errors": [], "messages": [], "result": {
        "success": true, "type": "export", "status": "complete", "at_bookmark": "bm-2",
        "messages": [], "result": {"filename": "x.sql", "signed_url": url}}})
    .to_string()
    .into_bytes()
}

fn wait_at_fake(fake: &Fake) -> Tool {
    tool("d1-export-wait")
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLOUDFLARE_API_BASE_URL", fake.url())
        .stdin(format!("{DB_ID} bm-1\n"))
}

/// The raw bytes a server sends for `url` (a GET over a plain socket: no client decoding).
fn raw_get(url: &str) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').expect("path"));
    let mut s = TcpStream::connect(authority).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("response");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
        })
        .expect("Content-Length");
    (head, all[split + 4..split + 4 + len].to_vec())
}

/// The dump d1-fetch wrote into `dir` (not a sidecar).
fn the_dump(dir: &Path) -> std::path::PathBuf {
    let dumps: Vec<String> = files_in(dir)
        .into_iter()
        .filter(|n| !n.ends_with(".json") && !n.ends_with(".sha256"))
        .collect();
    assert_eq!(dumps.len(), 1, "{:?}", files_in(dir));
    dir.join(&dumps[0])
}

// Item 4: ureq's gzip decoding is off.
#[test]
fn a_gzip_encoded_download_is_stored_as_served_not_decoded() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let plain = download(&url);
    emu.arm(&["download:gzip"]);
    let (head, served) = raw_get(&url);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(&served[..2], &[0x1f, 0x8b], "the fault serves gzip");

    let work = tempfile::tempdir().unwrap();
    emu.arm(&["download:gzip"]);
    let o = tool("d1-fetch")
        .env_from(&emu)
        .arg("-o")
        .arg(format!("{}/", work.path().display()))
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let dump = the_dump(work.path());
    let stored = std::fs::read(&dump).unwrap();
    assert_eq!(stored, served, "stored bytes are the served bytes");
    assert_ne!(stored, plain, "not silently decompressed");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", dump.display())).unwrap())
            .unwrap();
    assert_eq!(manifest["sha256"], sha256_hex(&served));
}

// Item 3: loopback traffic never goes through a proxy (it carries the token in clear).
#[test]
fn loopback_traffic_never_goes_through_a_proxy() {
    let proxy = Fake::start(502, "", b"proxy".to_vec());
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let emu = Emulator::start(&["--poll-hold-ms", "20"]);
    let with_proxy = |mut t: Tool| {
        for var in PROXY_VARS
            .iter()
            .filter(|v| !v.eq_ignore_ascii_case("no_proxy"))
        {
            t = t.env(var, &proxy_url);
        }
        t
    };
    let o = with_proxy(tool("d1-export-start").env_from(&emu).arg("sample")).run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = with_proxy(tool("d1-export-wait").env_from(&emu).stdin(o.stdout)).run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let work = tempfile::tempdir().unwrap();
    let o = with_proxy(tool("d1-fetch").env_from(&emu))
        .arg("-o")
        .arg(format!("{}/", work.path().display()))
        .stdin(o.stdout)
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(proxy.hits(), 0, "the proxy saw loopback traffic");
}

// Item 5: no redirects for API calls; none for downloads either (docs/d1-fetch.md).
#[test]
fn redirects_to_a_refused_url_are_never_followed() {
    let emu = Emulator::start(&[]);
    let before = emu.requests("export-start");
    emu.arm(&["export-start:redirect"]);
    let o = tool("d1-export-start").env_from(&emu).arg("sample").run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_one_line_error(&o, "redirects are not followed");
    assert!(o.stderr.contains("2130706433"), "{}", o.stderr);
    assert_eq!(
        emu.requests("export-start") - before,
        1,
        "the redirect was followed"
    );

    let (id, url) = emu.export_url("sample");
    let before = emu.requests("download");
    emu.arm(&["download:redirect"]);
    let work = tempfile::tempdir().unwrap();
    let o = tool("d1-fetch")
        .env_from(&emu)
        .arg("-o")
        .arg(format!("{}/", work.path().display()))
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_one_line_error(&o, "redirects are not followed");
    assert_eq!(
        emu.requests("download") - before,
        1,
        "the redirect was followed"
    );
    assert_eq!(files_in(work.path()), Vec::<String>::new());

    // d1-import's upload to the signed upload URL.
    let dump = work.path().join("d.sql");
    std::fs::write(&dump, "CREATE TABLE redirected(x);\n").unwrap();
    let before = emu.requests("upload");
    emu.arm(&["upload:redirect"]);
    let o = tool("d1-import")
        .env_from(&emu)
        .args(["--database", "sample", "--into-nonempty"])
        .arg(&dump)
        .run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("redirects are not followed"),
        "{}",
        o.stderr
    );
    assert_no_secrets("stderr", &o.stderr);
    assert_eq!(
        emu.requests("upload") - before,
        1,
        "the redirect was followed"
    );
}

// Item 6: Retry-After is obeyed up to 60 s, and the wait is said on stderr.
#[test]
fn a_retry_after_within_the_cap_is_announced_and_obeyed() {
    // Exports complete at once, so that the second run finds the database free.
    let emu = Emulator::start(&["--export-polls", "0"]);
    emu.arm(&["export-start:429:retry_after=2"]);
    let t0 = Instant::now();
    let o = tool("d1-export-start").env_from(&emu).arg("sample").run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(t0.elapsed() >= Duration::from_secs(2), "did not wait");
    assert!(
        o.stderr
            .contains("retrying in 2s (the server's Retry-After)"),
        "{}",
        o.stderr
    );
    // -q silences the announcement.
    emu.arm(&["export-start:429:retry_after=2"]);
    let o = tool("d1-export-start")
        .env_from(&emu)
        .args(["-q", "sample"])
        .run();
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
}

// Item 6: a longer demand is a temporary failure at once, not a day's sleep.
#[test]
fn a_retry_after_of_a_day_is_exit_75_at_once() {
    let emu = Emulator::start(&[]);
    emu.arm(&["export-start:429:retry_after=86400"]);
    let t0 = Instant::now();
    let o = tool("d1-export-start").env_from(&emu).arg("sample").run();
    assert_eq!(o.code, 75, "{}", o.stderr);
    assert_one_line_error(&o, "asked to wait 86400s");
    assert!(t0.elapsed() < Duration::from_secs(30));
}

// Item 7: a value that would split a record line is refused, not printed.
#[test]
fn a_signed_url_with_a_newline_is_refused_not_printed_as_two_records() {
    let forged = "http://127.0.0.1:9/a.sql?X-Amz-Signature=abc\n\
                  0c7fd0a4-6d3e-4c51-9d1b-2f0f1f6e8a99 http://127.0.0.1:9/forged.sql";
    let fake = Fake::start(
        200,
        "Content-Type: application/json\r\n",
        complete_with_url(forged),
    );
    let o = wait_at_fake(&fake).run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    // One failure record (docs/records.md), no forged second line.
    let lines = o.stdout_lines();
    assert_eq!(lines.len(), 1, "{:?}", o.stdout);
    assert!(
        lines[0].starts_with("FAIL 1 d1-export-wait "),
        "{:?}",
        lines[0]
    );
    assert_one_line_error(&o, "invalid character '\\n'");
    assert!(!o.stderr.contains("abc"), "{}", o.stderr);
}

// Item 7: server text reaches the terminal without its control characters.
#[test]
fn server_text_reaches_stderr_without_control_characters() {
    let body = serde_json::json!({"success": false, "messages": [], "result": null,
        "errors": [{"code": 7500, "message": "boom\u{1b}[2J\u{1b}]0;owned\u{7}\r\nhidden"}]})
    .to_string();
    let fake = Fake::start(400, "Content-Type: application/json\r\n", body.into_bytes());
    let o = wait_at_fake(&fake).run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_one_line_error(&o, "boom");
    assert!(
        !o.stderr.contains(['\u{1b}', '\u{7}', '\r']),
        "{:?}",
        o.stderr
    );
}

// Item 12: an answer no API gives is a failure (1), not a temporary problem to retry.
#[test]
fn an_api_answer_over_64_mib_is_exit_1_and_not_retried() {
    let fake = Fake::start(
        200,
        "Content-Type: application/json\r\n",
        vec![b' '; (64 << 20) + 1],
    );
    let o = wait_at_fake(&fake).run();
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_one_line_error(&o, "64 MiB");
    assert_eq!(fake.hits(), 1, "retried");
}

// Item 12: a URL with a character no URL holds is bad input (2).
#[test]
fn a_url_with_an_invalid_character_is_a_usage_error() {
    for url in [
        "http://127.0.0.1:9/a^b.sql",
        "http://127.0.0.1:9/a\u{1b}b.sql",
    ] {
        let o = tool("d1-fetch").args(["-o", "-", url]).run();
        assert_eq!(o.code, 2, "{url:?}: {}", o.stderr);
        assert_one_line_error(&o, "invalid character");
    }
}

// Item 12: two runs writing the same name: the loser says which file collided, exit 2.
#[test]
fn two_same_second_fetches_to_one_folder_the_loser_exits_2_naming_the_file() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    for attempt in 0..3 {
        let work = tempfile::tempdir().unwrap();
        emu.arm(&["download:slow:ms=1000,times=2"]);
        let run = || {
            tool("d1-fetch")
                .env_from(&emu)
                .arg("-o")
                .arg(format!("{}/", work.path().display()))
                .stdin(format!("{id} {url}\n"))
                .spawn()
        };
        let (a, b) = (run(), run());
        let (a, b) = (
            wait(a, Duration::from_secs(60)),
            wait(b, Duration::from_secs(60)),
        );
        let mut codes = [a.code, b.code];
        codes.sort();
        if codes == [0, 0] {
            // Not the same second after all: try again.
            eprintln!("attempt {attempt}: the two runs got different names");
            continue;
        }
        assert_eq!(codes, [0, 2], "a: {} b: {}", a.stderr, b.stderr);
        let (winner, loser) = if a.code == 0 { (a, b) } else { (b, a) };
        let written = winner.stdout.trim();
        assert_one_line_error(
            &loser,
            Path::new(written).file_name().unwrap().to_str().unwrap(),
        );
        // The winner's dump and sidecars are intact, nothing else is left.
        assert_eq!(
            files_in(work.path()).len(),
            3,
            "{:?}",
            files_in(work.path())
        );
        return;
    }
    panic!("the two runs never started in the same second");
}

// Item 8: SIGHUP (a closed terminal) is SIGTERM; a SIGKILLed run's .part file is cleaned.
#[test]
fn stale_temporary_files_of_our_pattern_are_removed_by_the_next_fetch() {
    let emu = Emulator::start(&[]);
    let (id, url) = emu.export_url("sample");
    let work = tempfile::tempdir().unwrap();
    let p = |n: &str| work.path().join(n);
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    for n in [
        ".dead.sql.Ab3dE9.part",
        ".dead.sql.zst.json.Qq1Ww2.part",
        ".notours.part",
        "dead.sql.Ab3dE9.part",
        "notes.txt",
    ] {
        std::fs::write(p(n), "x").unwrap();
        let f = std::fs::File::options().write(true).open(p(n)).unwrap();
        f.set_modified(two_days_ago).unwrap();
    }
    std::fs::write(p(".running.sql.Zz9Yy8.part"), "x").unwrap();
    let o = tool("d1-fetch")
        .env_from(&emu)
        .arg("-o")
        .arg(format!("{}/", work.path().display()))
        .stdin(format!("{id} {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let left = files_in(work.path());
    for gone in [".dead.sql.Ab3dE9.part", ".dead.sql.zst.json.Qq1Ww2.part"] {
        assert!(!left.contains(&gone.to_string()), "{gone} left: {left:?}");
    }
    for kept in [
        ".notours.part",
        "dead.sql.Ab3dE9.part",
        "notes.txt",
        ".running.sql.Zz9Yy8.part",
    ] {
        assert!(left.contains(&kept.to_string()), "{kept} removed: {left:?}");
    }
}

// Item 9: no core dump (or /proc reader) gets the token.
#[test]
fn the_tools_run_without_core_dumps() {
    for name in ["d1-export-wait", "d1-fetch", "d1-import"] {
        let mut child = command(name)
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
            .env("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        // The tool now waits for its first record on stdin.
        std::thread::sleep(Duration::from_millis(300));
        let limits =
            std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("/proc limits");
        let _ = child.kill();
        let _ = child.wait();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .expect("core limit line");
        let fields: Vec<&str> = core.split_whitespace().collect();
        assert_eq!(&fields[4..6], ["0", "0"], "{name}: {core}");
    }
}

// Item 12: `TOOL --help | true` is not a panic.
#[test]
fn help_and_version_into_a_closed_pipe_exit_0_quietly() {
    for name in [
        "d1-export-start",
        "d1-export-wait",
        "d1-fetch",
        "d1-verify",
        "d1-import",
    ] {
        for flag in ["--help", "--version"] {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            let out = command(name)
                .arg(flag)
                .stdout(writer)
                .stderr(std::process::Stdio::piped())
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{name} {flag}: {stderr}");
            assert_eq!(stderr, "", "{name} {flag}");
        }
    }
}

// Item 12: an import D1 finished is reported, even when a signal came while polling.
#[test]
fn d1_import_interrupted_after_the_import_completed_reports_the_import() {
    let emu = Emulator::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("d.sql");
    std::fs::write(
        &dump,
        "CREATE TABLE hardening_t(x);\nINSERT INTO hardening_t VALUES(1);\n",
    )
    .unwrap();
    // init and ingest answer at once; the first poll is held for 6 s.
    emu.arm(&["import:slow:ms=1,times=2", "import:slow:ms=6000"]);
    let child = tool("d1-import")
        .env_from(&emu)
        .args(["--database", "sample", "--into-nonempty"])
        .arg(&dump)
        .spawn();
    std::thread::sleep(Duration::from_millis(2000));
    signal(&child, 2);
    let o = wait(child, Duration::from_secs(30));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("interrupted"), "{}", o.stderr);
    assert_eq!(o.stdout_lines().len(), 1, "{}", o.stdout);
}

// Item 12: d1-verify --against's exit codes are in its help.
#[test]
fn d1_verify_help_names_the_exit_codes_of_against() {
    let o = tool("d1-verify").arg("--help").run();
    assert_eq!(o.code, 0);
    let flat = o.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("3 credentials"), "{flat}");
    assert!(flat.contains("75 temporary"), "{flat}");
}

// Item 11: the emulator refuses ATTACH as D1 does.
#[test]
fn the_emulator_refuses_attach_through_the_query_endpoint() {
    let emu = Emulator::start(&[]);
    let id = emu.db_id("sample");
    let planted = emu.data_dir.join("planted.sqlite");
    let (status, body) = emu.api(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{id}/query"),
        Some(serde_json::json!({"sql": format!("ATTACH DATABASE '{}' AS p", planted.display())})),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["success"], false);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("not authorized"));
    assert!(!planted.exists());
}
