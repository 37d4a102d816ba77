//! The fault matrix (issue 6): one row per (tool, fault), each driven against a real
//! d1-emulator. Every row asserts the exit code, that stderr names the problem in one line,
//! that no partial file is left, and that neither the token nor a URL signature appears in
//! stdout or stderr. docs/reliability.md shows the same rows as a table; the last test checks
//! that the page and this matrix agree (`UPDATE_RELIABILITY=1` rewrites the page).

use d1_tests::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What, besides armed faults, a row sets up.
#[derive(Clone, Copy, Debug)]
enum Special {
    None,
    /// CLOUDFLARE_API_TOKEN set to this instead of the accepted token.
    Token(&'static str),
    /// The database named on the command line does not exist.
    UnknownDatabase,
    /// The signed URL expired before the download (`--url-ttl 1`).
    ExpiredUrl,
    /// The signature of the signed URL was altered.
    TamperedUrl,
    /// `-o -` with stdout on /dev/full.
    DevFull,
    /// The target folder lies under a regular file, so it cannot be created or written.
    Unwritable,
    /// The target folder is a 256 KiB tmpfs, smaller than the dump.
    SmallFilesystem,
    /// The signal is sent while the tool is busy (the fault keeps it busy).
    Signal(i32),
}

struct Row {
    name: &'static str,
    tool: &'static str,
    fault: &'static str,
    /// Faults armed after the input is prepared, right before the tool runs.
    arm: &'static [&'static str],
    /// Extra arguments for the tool.
    args: &'static [&'static str],
    special: Special,
    exit: i32,
    /// What the single stderr line must contain (failures only).
    says: &'static str,
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGHUP: i32 = 1;

macro_rules! matrix {
    ($($name:ident: $tool:literal, $fault:literal, arm $arm:expr, args $args:expr, $special:expr => $exit:literal, $says:literal;)*) => {
        const ROWS: &[Row] = &[$(Row {
            name: stringify!($name),
            tool: $tool,
            fault: $fault,
            arm: $arm,
            args: $args,
            special: $special,
            exit: $exit,
            says: $says,
        }),*];
        $(#[test] fn $name() { check(stringify!($name)); })*
    };
}

use Special::*;

matrix! {
    // d1-export-start
    start_429_with_retry_after_is_retried: "d1-export-start", "429 with Retry-After", arm &["export-start:429:retry_after=1"], args &[], None => 0, "";
    start_429_without_retry_after_is_retried: "d1-export-start", "429 without Retry-After", arm &["export-start:429"], args &[], None => 0, "";
    start_500_is_retried: "d1-export-start", "500", arm &["export-start:500"], args &[], None => 0, "";
    start_502_html_is_retried: "d1-export-start", "502 with an HTML body, once", arm &["export-start:502-html"], args &[], None => 0, "";
    start_502_html_until_retries_run_out_is_75: "d1-export-start", "502 with an HTML body, every time", arm &["export-start:502-html:times=0"], args &["--retries", "1"], None => 75, "non-JSON body (text/html";
    start_503_until_retries_run_out_is_75: "d1-export-start", "503, every time", arm &["export-start:503:times=0"], args &["--retries", "1"], None => 75, "HTTP 503";
    start_reset_before_headers_is_retried: "d1-export-start", "connection dropped before headers", arm &["export-start:reset"], args &[], None => 0, "";
    start_held_past_timeout_is_75: "d1-export-start", "answer held past --timeout", arm &["export-start:slow:ms=4000"], args &["--timeout", "1"], None => 75, "deadline";
    start_read_only_token_is_3: "d1-export-start", "read-only token", arm &[], args &[], Token(READ_ONLY_TOKEN) => 3, "needs the D1 Edit permission";
    start_invalid_token_is_3: "d1-export-start", "invalid token", arm &[], args &[], Token("tok-invalid-SECRET-77") => 3, "token was not accepted";
    start_unknown_database_is_2: "d1-export-start", "unknown database", arm &[], args &[], UnknownDatabase => 2, "no database named";
    start_sigint_is_130: "d1-export-start", "SIGINT while starting", arm &["export-start:slow:ms=5000"], args &[], Signal(SIGINT) => 130, "interrupted";
    start_sigterm_is_130: "d1-export-start", "SIGTERM while starting", arm &["export-start:slow:ms=5000"], args &[], Signal(SIGTERM) => 130, "interrupted";
    start_redirect_is_not_followed_is_1: "d1-export-start", "302 to http://2130706433:PORT/… (refused URL)", arm &["export-start:redirect"], args &[], None => 1, "redirects are not followed";
    start_retry_after_a_day_is_75: "d1-export-start", "429 with Retry-After: 86400 (over the 60 s cap)", arm &["export-start:429:retry_after=86400"], args &[], None => 75, "asked to wait 86400s";

    // d1-export-wait
    wait_429_with_retry_after_is_retried: "d1-export-wait", "429 with Retry-After", arm &["export-poll:429:retry_after=1"], args &[], None => 0, "";
    wait_429_without_retry_after_is_retried: "d1-export-wait", "429 without Retry-After", arm &["export-poll:429"], args &[], None => 0, "";
    wait_500_is_retried: "d1-export-wait", "500", arm &["export-poll:500"], args &[], None => 0, "";
    wait_502_html_until_retries_run_out_is_75: "d1-export-wait", "502 with an HTML body, every time", arm &["export-poll:502-html:times=0"], args &["--retries", "1"], None => 75, "non-JSON body (text/html";
    wait_503_is_retried: "d1-export-wait", "503", arm &["export-poll:503:retry_after=1"], args &[], None => 0, "";
    wait_reset_before_headers_is_retried: "d1-export-wait", "connection dropped before headers", arm &["export-poll:reset"], args &[], None => 0, "";
    wait_poll_held_past_timeout_is_75: "d1-export-wait", "poll held past --timeout", arm &["export-poll:slow:ms=4000,times=0"], args &["--timeout", "1"], None => 75, "--timeout";
    wait_export_error_is_1: "d1-export-wait", "export ends in status error", arm &["export-poll:export-error:message=D1_Export_error:_disk_quota"], args &[], None => 1, "export failed: D1 Export error: disk quota";
    wait_read_only_token_is_3: "d1-export-wait", "read-only token", arm &[], args &[], Token(READ_ONLY_TOKEN) => 3, "needs the D1 Edit permission";
    wait_invalid_token_is_3: "d1-export-wait", "invalid token", arm &[], args &[], Token("tok-invalid-SECRET-77") => 3, "token was not accepted";
    wait_sigint_is_130: "d1-export-wait", "SIGINT while polling", arm &["export-poll:slow:ms=5000,times=0"], args &[], Signal(SIGINT) => 130, "interrupted";
    wait_sigterm_is_130: "d1-export-wait", "SIGTERM while polling", arm &["export-poll:slow:ms=5000,times=0"], args &[], Signal(SIGTERM) => 130, "interrupted";

    // d1-fetch
    fetch_429_with_retry_after_is_retried: "d1-fetch", "429 with Retry-After", arm &["download:429:retry_after=1"], args &[], None => 0, "";
    fetch_429_without_retry_after_is_retried: "d1-fetch", "429 without Retry-After", arm &["download:429"], args &[], None => 0, "";
    fetch_500_is_retried: "d1-fetch", "500", arm &["download:500"], args &[], None => 0, "";
    fetch_502_html_until_retries_run_out_is_75: "d1-fetch", "502 with an HTML body, every time", arm &["download:502-html:times=0"], args &["--retries", "1"], None => 75, "HTTP 502";
    fetch_503_is_retried: "d1-fetch", "503", arm &["download:503"], args &[], None => 0, "";
    fetch_reset_before_headers_is_retried: "d1-fetch", "connection dropped before headers", arm &["download:reset"], args &[], None => 0, "";
    fetch_reset_mid_body_is_resumed: "d1-fetch", "connection dropped mid-body", arm &["download:reset-mid-body:after=1000"], args &[], None => 0, "";
    fetch_held_past_timeout_is_75: "d1-fetch", "answer held past --timeout", arm &["download:slow:ms=4000,times=0"], args &["--timeout", "1"], None => 75, "";
    fetch_truncated_body_is_1: "d1-fetch", "truncated body, every time", arm &["download:truncate:after=500"], args &["--retries", "1"], None => 1, "download incomplete";
    fetch_wrong_content_length_is_1: "d1-fetch", "wrong Content-Length", arm &["download:wrong-length:times=0"], args &["--retries", "1"], None => 1, "wrong Content-Length";
    fetch_corrupted_body_is_1: "d1-fetch", "corrupted body", arm &["download:corrupt:times=0"], args &["--retries", "1"], None => 1, "the download is corrupt";
    fetch_expired_url_is_1: "d1-fetch", "expired URL", arm &[], args &[], ExpiredUrl => 1, "expired";
    fetch_tampered_url_is_1: "d1-fetch", "tampered URL", arm &[], args &[], TamperedUrl => 1, "refused";
    fetch_full_disk_is_1: "d1-fetch", "full disk (-o - to /dev/full)", arm &[], args &[], DevFull => 1, "No space left on device";
    fetch_small_filesystem_is_1: "d1-fetch", "full disk (folder on a 256 KiB filesystem)", arm &[], args &[], SmallFilesystem => 1, "No space left on device";
    fetch_unwritable_folder_is_1: "d1-fetch", "folder that cannot be written", arm &[], args &[], Unwritable => 1, "";
    fetch_sigint_is_130: "d1-fetch", "SIGINT mid-download", arm &["download:slow:ms=5000"], args &[], Signal(SIGINT) => 130, "interrupted";
    fetch_sigterm_is_130: "d1-fetch", "SIGTERM mid-download", arm &["download:slow:ms=5000"], args &[], Signal(SIGTERM) => 130, "interrupted";
    fetch_sighup_is_130: "d1-fetch", "SIGHUP mid-download (terminal closed)", arm &["download:slow:ms=5000"], args &[], Signal(SIGHUP) => 130, "interrupted";
    fetch_gzip_content_encoding_is_stored_as_served: "d1-fetch", "Content-Encoding: gzip (stored as served, not decoded)", arm &["download:gzip"], args &[], None => 0, "";
    fetch_redirect_is_not_followed_is_1: "d1-fetch", "302 to http://2130706433:PORT/… (refused URL)", arm &["download:redirect"], args &[], None => 1, "redirects are not followed";
    fetch_retry_after_a_day_is_75: "d1-fetch", "503 with Retry-After: 86400 (over the 60 s cap)", arm &["download:503:retry_after=86400"], args &[], None => 75, "asked to wait 86400s";

    // d1-verify
    verify_small_filesystem_is_1: "d1-verify", "full disk (--db on a 256 KiB filesystem)", arm &[], args &[], SmallFilesystem => 1, "database or disk is full";
    verify_sigint_is_130: "d1-verify", "SIGINT mid-restore (--db)", arm &[], args &[], Signal(SIGINT) => 130, "interrupted";
    verify_sigterm_is_130: "d1-verify", "SIGTERM mid-restore (--db)", arm &[], args &[], Signal(SIGTERM) => 130, "interrupted";
}

/// A database big enough (about 1 MB of dump) to overflow the small filesystem and to keep a
/// download or a restore busy for a moment.
fn big_database(dir: &Path) {
    let mut sql = String::from("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT);\nBEGIN;\n");
    for i in 0..2000 {
        sql.push_str(&format!(
            "INSERT INTO blobs (body) VALUES ('{i}-{}');\n",
            "x".repeat(500)
        ));
    }
    sql.push_str("COMMIT;\n");
    make_db(dir, "big", &sql);
}

/// A dump large enough that restoring it into a file takes well over the signal delay.
fn large_dump(path: &Path) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
    writeln!(f, "PRAGMA defer_foreign_keys=TRUE;").expect("write");
    writeln!(
        f,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b REAL, c BLOB);"
    )
    .expect("write");
    for i in 0..1_500_000u64 {
        writeln!(
            f,
            "INSERT INTO \"t\" (\"id\",\"a\",\"b\",\"c\") VALUES({i},'row {i} with some text',{}.5,X'00ff{:08x}');",
            i % 977,
            i
        )
        .expect("write");
    }
    f.flush().expect("flush");
}

/// A 256 KiB tmpfs, unmounted when dropped. `None` where mounting is not allowed (not root).
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(at: &Path) -> Option<SmallFs> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallFs(at.to_path_buf()))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn check(name: &str) {
    let row = ROWS
        .iter()
        .find(|r| r.name == name)
        .expect("row in the matrix");
    let mut emu_flags: Vec<&str> = vec!["--poll-hold-ms", "20", "--export-polls", "2"];
    if matches!(row.special, ExpiredUrl) {
        emu_flags.extend(["--url-ttl", "1"]);
    }
    let data = tempfile::tempdir().expect("data dir");
    let uses_big = matches!(row.special, SmallFilesystem) || row.tool == "d1-verify";
    if uses_big {
        big_database(data.path());
    }
    let emu = Emulator::start_in(data.path(), &[&["--seed-sample"][..], &emu_flags].concat());
    let work = tempfile::tempdir().expect("work dir");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).expect("out dir");
    let _small;

    // The input each tool reads, prepared through the API so the row tests one tool.
    let mut t = tool(row.tool)
        .env_from(&emu)
        .args(row.args)
        .current_dir(work.path());
    let mut target_dir = out.clone();
    match row.tool {
        "d1-export-start" => {
            let db = if matches!(row.special, UnknownDatabase) {
                "no-such-db"
            } else {
                "sample"
            };
            t = t.arg(db);
        }
        "d1-export-wait" => {
            // d1-export-start's record: DATABASE_ID NAME BOOKMARK.
            let (id, bm) = emu.start_export("sample");
            t = t.stdin(format!("{id} sample {bm}\n"));
        }
        "d1-fetch" => {
            let name = if uses_big { "big" } else { "sample" };
            let (id, mut url) = emu.export_url(name);
            if matches!(row.special, ExpiredUrl) {
                std::thread::sleep(Duration::from_millis(2100));
            }
            if matches!(row.special, TamperedUrl) {
                let i = url.rfind('=').expect("signature") + 1;
                let flipped = if url.as_bytes()[i] == b'0' { "1" } else { "0" };
                url.replace_range(i..=i, flipped);
            }
            match row.special {
                DevFull => {
                    let full = std::fs::OpenOptions::new()
                        .write(true)
                        .open("/dev/full")
                        .expect("/dev/full");
                    t = t.args(["-o", "-"]).stdout_to(full);
                }
                Unwritable => {
                    std::fs::write(work.path().join("a-file"), "x").expect("file");
                    target_dir = work.path().join("a-file");
                    t = t.args(["-o", "a-file/backups/"]);
                }
                SmallFilesystem => {
                    let at = work.path().join("small");
                    _small = SmallFs::mount(&at);
                    if _small.is_none() {
                        assert!(!is_root(), "root could not mount a tmpfs");
                        eprintln!("skipped: mounting a small filesystem needs root");
                        return;
                    }
                    target_dir = at.clone();
                    t = t.arg("-o").arg(format!("{}/", at.display()));
                }
                _ => t = t.arg("-o").arg(format!("{}/", out.display())),
            }
            // d1-export-wait's record: DATABASE_ID NAME SIGNED_URL.
            t = t.stdin(format!("{id} {name} {url}\n"));
        }
        "d1-verify" => {
            let dump = work.path().join("dump.sql");
            if matches!(row.special, Signal(_)) {
                large_dump(&dump);
            } else {
                let (_, url) = emu.export_url("big");
                std::fs::write(&dump, download(&url)).expect("dump");
            }
            let db = match row.special {
                SmallFilesystem => {
                    let at = work.path().join("small");
                    _small = SmallFs::mount(&at);
                    if _small.is_none() {
                        assert!(!is_root(), "root could not mount a tmpfs");
                        eprintln!("skipped: mounting a small filesystem needs root");
                        return;
                    }
                    target_dir = at.clone();
                    at.join("restored.sqlite")
                }
                _ => out.join("restored.sqlite"),
            };
            t = t.arg("--db").arg(&db).arg(&dump);
        }
        other => panic!("no runner for {other}"),
    }
    if let Token(tok) = row.special {
        t = t.env("CLOUDFLARE_API_TOKEN", tok);
    }
    if !row.arm.is_empty() {
        emu.arm(row.arm);
    }

    let o = match row.special {
        Signal(sig) => {
            let child = t.spawn();
            // Long enough for the tool to be inside the slow request or the restore.
            std::thread::sleep(Duration::from_millis(700));
            signal(&child, sig);
            wait(child, Duration::from_secs(30))
        }
        _ => t.run(),
    };

    assert_no_secrets("stderr", &o.stderr);
    if row.tool != "d1-export-wait" {
        assert_no_secrets("stdout", &o.stdout);
    } else {
        // The signed URL is export-wait's product on stdout; the token never is.
        assert!(!o.stdout.contains(TOKEN), "stdout leaks the token");
    }
    assert_eq!(
        o.code, row.exit,
        "{} / {}: exit code; stderr: {}",
        row.tool, row.fault, o.stderr
    );
    if row.exit == 0 {
        assert_eq!(o.stdout_lines().len(), 1, "one record: {:?}", o.stdout);
        assert_eq!(o.stderr, "", "a recovered fault is silent");
        if row.tool == "d1-fetch" {
            // The dump with its checksum and manifest, nothing else.
            assert_eq!(files_in(&out).len(), 3, "{:?}", files_in(&out));
        }
    } else if row.tool == "d1-verify" && row.exit == 1 {
        // d1-verify's verdict is its record: one failure record on stdout (the dump has no
        // manifest, so no database id or name): `FAIL 1 d1-verify - - PATH: reason`.
        let lines = o.stdout_lines();
        assert_eq!(lines.len(), 1, "one FAIL line: {:?}", o.stdout);
        assert!(
            lines[0].starts_with("FAIL 1 d1-verify - - "),
            "{:?}",
            lines[0]
        );
        assert!(
            lines[0].contains(row.says),
            "{:?} does not say {:?}",
            lines[0],
            row.says
        );
        if target_dir.is_dir() {
            assert_eq!(files_in(&target_dir), Vec::<String>::new(), "left behind");
        }
        assert_eq!(files_in(&out), Vec::<String>::new(), "left behind in out/");
    } else {
        let errors: Vec<&str> = o
            .stderr_lines()
            .into_iter()
            .filter(|l| !l.contains(": warning: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {:?}", o.stderr);
        assert!(
            errors[0].starts_with(&format!("{}: error: ", row.tool)),
            "{:?}",
            errors[0]
        );
        assert!(
            errors[0].contains(row.says),
            "stderr {:?} does not say {:?}",
            errors[0],
            row.says
        );
        // The failure goes down the pipe as one failure record, whose reason is the stderr
        // message: `FAIL EXIT TOOL DATABASE_ID NAME REASON` (stdout is /dev/full for DevFull).
        if !matches!(row.special, DevFull) {
            let reason = &errors[0][format!("{}: error: ", row.tool).len()..];
            let who = identity(row, &emu);
            assert_eq!(
                o.stdout,
                format!("FAIL {} {} {who} {reason}\n", row.exit, row.tool),
                "the failure record"
            );
        }
        // Nothing partial anywhere the tool writes.
        if target_dir.is_dir() {
            assert_eq!(files_in(&target_dir), Vec::<String>::new(), "left behind");
        }
        assert_eq!(files_in(&out), Vec::<String>::new(), "left behind in out/");
    }
}

/// The `DATABASE_ID NAME` fields of a row's failure record: what the tool knew of the database
/// when it failed (`-` for unknown). A signal ends the whole run, not one database's work.
fn identity(row: &Row, emu: &Emulator) -> String {
    match (row.tool, row.special) {
        (_, Signal(_)) => "- -".into(),
        ("d1-export-start", UnknownDatabase) => "- no-such-db".into(),
        // The database list could not be read: only the name given is known.
        ("d1-export-start", Token(_)) => "- sample".into(),
        ("d1-fetch", SmallFilesystem) => format!("{} big", emu.db_id("big")),
        _ => format!("{} sample", emu.db_id("sample")),
    }
}

/// The table docs/reliability.md shows, rendered from the matrix.
fn table() -> String {
    let mut t = String::from(
        "| tool | fault | exit | stderr names | partial file left |\n|---|---|---|---|---|\n",
    );
    for r in ROWS {
        let says = if r.exit == 0 {
            "nothing (recovered)".to_string()
        } else if r.says.is_empty() {
            "the problem".to_string()
        } else {
            format!("`{}`", r.says)
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | none |\n",
            r.tool, r.fault, r.exit, says
        ));
    }
    t
}

#[test]
fn reliability_page_lists_exactly_the_rows_of_the_matrix() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reliability.md");
    let text = std::fs::read_to_string(&page).unwrap_or_default();
    let (start, end) = ("<!-- matrix:start -->\n", "<!-- matrix:end -->");
    let want = table();
    let current = text
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(inside, _)| inside.to_string());
    if current.as_deref() == Some(want.as_str()) {
        return;
    }
    if std::env::var_os("UPDATE_RELIABILITY").is_some() {
        let (before, after) = text
            .split_once(start)
            .and_then(|(b, rest)| rest.split_once(end).map(|(_, a)| (b, a)))
            .expect("markers in docs/reliability.md");
        std::fs::write(&page, format!("{before}{start}{want}{end}{after}")).expect("write page");
        return;
    }
    panic!(
        "docs/reliability.md is out of date with tests/tests/faults.rs; \
         run UPDATE_RELIABILITY=1 cargo test -p d1-tests --test faults reliability_page"
    );
}
