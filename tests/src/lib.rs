//! The end-to-end harness: start a real `d1-emulator` on an ephemeral loopback port, run the
//! real binaries against it, and check what a user would see (stdout records, stderr lines,
//! exit codes, files). The binaries are those `cargo build` put beside the test executable.

pub mod crontab;
pub mod markdown;
pub mod yaml;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The token the emulator accepts in tests. Distinctive, so that a leak is easy to spot.
pub const TOKEN: &str = "tok-e2e-SECRET-5f3a9c71d";
/// A token the emulator treats as read-only (D1 permission error).
pub const READ_ONLY_TOKEN: &str = "tok-readonly-SECRET-0b8e2";
pub const ACCOUNT: &str = "emulator-account";

/// Every tool the workspace builds, in the order of a pipeline.
pub const TOOLS: &[&str] = &[
    "d1-export-start",
    "d1-export-wait",
    "d1-fetch",
    "d1-verify",
    "d1-import",
    "d1-upload",
    "d1-prune",
    "d1-ls",
    "d1-emulator",
];

/// The repository's root (the workspace folder that holds tests/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/debug/NAME` (or the profile the tests were built with).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/test-xxxx -> target/debug
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace` (make test does) first",
        p.display()
    );
    p
}

/// A running emulator, stopped with SIGTERM when dropped.
pub struct Emulator {
    child: Child,
    pub base_url: String,
    pub root: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts an emulator on a fresh temporary folder with the sample database.
    pub fn start(extra: &[&str]) -> Emulator {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut args = vec!["--seed-sample"];
        args.extend_from_slice(extra);
        let mut e = Emulator::start_in(&dir, &args);
        e._temp = Some(temp);
        e
    }

    /// Starts an emulator on a fresh temporary folder, with only the databases `extra` seeds.
    pub fn start_empty(extra: &[&str]) -> Emulator {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut e = Emulator::start_in(temp.path(), extra);
        e._temp = Some(temp);
        e
    }

    /// Starts an emulator serving the SQLite files in `dir` (`NAME.sqlite` is database NAME).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Emulator {
        let mut child = Command::new(bin("d1-emulator"))
            .arg("--data-dir")
            .arg(dir)
            .args(["--token", TOKEN, "--read-only-token", READ_ONLY_TOKEN])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn d1-emulator");
        let stdout = child.stdout.take().expect("emulator stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut r = BufReader::new(stdout);
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the emulator never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("d1-emulator printed its URL");
        let base_url = line.trim().to_string();
        assert!(
            base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/client/v4"),
            "unexpected first line from d1-emulator: {base_url:?}"
        );
        let root = base_url.trim_end_matches("/client/v4").to_string();
        Emulator {
            child,
            base_url,
            root,
            data_dir: dir.to_path_buf(),
            _temp: None,
        }
    }

    /// The environment a tool needs to talk to this emulator.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CLOUDFLARE_API_TOKEN".into(), TOKEN.into()),
            ("CLOUDFLARE_ACCOUNT_ID".into(), ACCOUNT.into()),
            ("CLOUDFLARE_API_BASE_URL".into(), self.base_url.clone()),
            // No pacing unless a test is about it: the suite's tests run at once.
            ("D1_REQUEST_BUDGET".into(), "0".into()),
        ]
    }

    /// Arms faults (`ENDPOINT:FAULT[:k=v,...]`, see docs/d1-emulator.md).
    pub fn arm(&self, specs: &[&str]) {
        let agent = local_agent();
        let resp = agent
            .post(&format!("{}/__emulator/faults", self.root))
            .send(specs.join("\n"))
            .expect("arming faults");
        assert_eq!(resp.status().as_u16(), 200, "arming {specs:?}");
    }

    /// The emulator's state (exports, imports, request counts).
    pub fn state(&self) -> serde_json::Value {
        let agent = local_agent();
        let mut resp = agent
            .get(&format!("{}/__emulator/state", self.root))
            .call()
            .expect("emulator state");
        let text = resp.body_mut().read_to_string().expect("state body");
        serde_json::from_str(&text).expect("state JSON")
    }

    /// An authenticated API call; returns `(status, body JSON)`.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let url = format!("{}{}", self.base_url, path);
        let auth = format!("Bearer {TOKEN}");
        let mut resp = match method {
            "GET" => agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => agent.delete(&url).header("Authorization", &auth).call(),
            _ => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(serde_json::Value::Null).to_string()),
        }
        .expect("API call");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Creates an empty database through the API; returns its id.
    pub fn create_db(&self, name: &str) -> String {
        let (status, body) = self.api(
            "POST",
            &format!("/accounts/{ACCOUNT}/d1/database"),
            Some(serde_json::json!({ "name": name })),
        );
        assert_eq!(status, 200, "{body}");
        body["result"]["uuid"].as_str().expect("uuid").to_string()
    }

    /// The id of the database named `name`.
    pub fn db_id(&self, name: &str) -> String {
        let (status, body) = self.api(
            "GET",
            &format!("/accounts/{ACCOUNT}/d1/database?name={name}"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["result"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["name"] == name))
            .and_then(|d| d["uuid"].as_str())
            .unwrap_or_else(|| panic!("no database {name} in {body}"))
            .to_string()
    }
}

impl Emulator {
    /// Starts an export of database `name` through the API (no tool involved); returns
    /// `(database id, bookmark)`.
    pub fn start_export(&self, name: &str) -> (String, String) {
        let id = self.db_id(name);
        let path = format!("/accounts/{ACCOUNT}/d1/database/{id}/export");
        let (status, answer) = self.api(
            "POST",
            &path,
            Some(serde_json::json!({"output_format": "polling"})),
        );
        assert_eq!(status, 200, "export start: {answer}");
        let bm = answer["result"]["at_bookmark"]
            .as_str()
            .expect("at_bookmark")
            .to_string();
        (id, bm)
    }

    /// Runs an export of database `name` to completion through the API; returns
    /// `(database id, signed URL)`.
    pub fn export_url(&self, name: &str) -> (String, String) {
        let id = self.db_id(name);
        let path = format!("/accounts/{ACCOUNT}/d1/database/{id}/export");
        let mut body = serde_json::json!({"output_format": "polling"});
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, answer) = self.api("POST", &path, Some(body.clone()));
            assert_eq!(status, 200, "export: {answer}");
            let result = &answer["result"];
            if result["status"] == "complete" {
                let url = result["result"]["signed_url"].as_str().expect("signed_url");
                return (id, url.to_string());
            }
            assert_ne!(result["status"], "error", "export failed: {answer}");
            body["current_bookmark"] = result["at_bookmark"].clone();
            assert!(Instant::now() < end, "export did not complete");
        }
    }

    /// How many requests of one kind (`download`, `export-start`, ...) the emulator has seen.
    pub fn requests(&self, kind: &str) -> u64 {
        self.state()["requests"][kind].as_u64().unwrap_or(0)
    }

    /// Imports `sql` as it is through the import API (init, upload, ingest, poll until it
    /// ends), as wrangler does, no tool involved; returns the last answer's `result`.
    pub fn import_as_is(&self, id: &str, sql: &[u8]) -> serde_json::Value {
        let path = format!("/accounts/{ACCOUNT}/d1/database/{id}/import");
        let call = |body: serde_json::Value| {
            let (status, answer) = self.api("POST", &path, Some(body));
            assert_eq!(status, 200, "import: {answer}");
            answer["result"].clone()
        };
        // The init's etag names the upload; the ingest's must be the body's md5, which the
        // storage answers.
        let init = call(serde_json::json!({"action": "init", "etag": "0".repeat(32)}));
        let url = init["upload_url"].as_str().expect("upload_url");
        let resp = local_agent().put(url).send(sql).expect("upload");
        assert_eq!(resp.status().as_u16(), 200, "upload");
        let etag = resp.headers()["etag"]
            .to_str()
            .expect("ETag")
            .trim_matches('"');
        let mut answer = call(serde_json::json!({"action": "ingest",
            "filename": init["filename"], "etag": etag}));
        let end = Instant::now() + Duration::from_secs(60);
        while answer["status"] == "active" {
            assert!(Instant::now() < end, "the import did not end: {answer}");
            answer = call(serde_json::json!({"action": "poll",
                "current_bookmark": answer["at_bookmark"]}));
        }
        answer
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The harness's own HTTP client: never through a developer's proxy (the emulator is local).
fn local_agent() -> ureq::Agent {
    ureq::Agent::config_builder().proxy(None).build().into()
}

/// What a finished tool left: exit code, stdout, stderr.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// A tool invocation: `tool("d1-fetch").args([..]).env_from(&emu).stdin("...").run()`.
pub struct Tool {
    cmd: Command,
    stdin: Vec<u8>,
    stdout: Option<std::fs::File>,
}

/// Proxy variables: cleared for every spawned tool, so that a developer's proxy never carries
/// a test's traffic (tests that are about proxies set them again).
pub const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The tool's binary as a `Command` with nothing of the developer's own environment: no
/// Cloudflare variables and no proxy variables leak into a test.
pub fn command(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    for var in [
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "CLOUDFLARE_API_BASE_URL",
        "D1_DATABASE_ID",
        "CF_API_TOKEN",
        "CF_ACCOUNT_ID",
        "CF_D1_DATABASE_ID",
        "NO_COLOR",
    ]
    .iter()
    .chain(PROXY_VARS)
    {
        cmd.env_remove(var);
    }
    cmd
}

pub fn tool(name: &str) -> Tool {
    Tool {
        cmd: command(name),
        stdin: Vec::new(),
        stdout: None,
    }
}

impl Tool {
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Tool {
        self.cmd.arg(a);
        self
    }
    pub fn args<I, S>(mut self, a: I) -> Tool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(a);
        self
    }
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Tool {
        self.cmd.env(k, v);
        self
    }
    pub fn env_remove(mut self, k: &str) -> Tool {
        self.cmd.env_remove(k);
        self
    }
    pub fn env_from(mut self, emu: &Emulator) -> Tool {
        for (k, v) in emu.env() {
            self.cmd.env(k, v);
        }
        self
    }
    pub fn current_dir(mut self, d: impl AsRef<Path>) -> Tool {
        self.cmd.current_dir(d);
        self
    }
    pub fn stdin(mut self, s: impl AsRef<[u8]>) -> Tool {
        self.stdin = s.as_ref().to_vec();
        self
    }

    /// Sends stdout to a file (say /dev/full) instead of capturing it.
    pub fn stdout_to(mut self, f: std::fs::File) -> Tool {
        self.stdout = Some(f);
        self
    }

    /// Spawns with piped stdio (for signal tests); stdin is written and closed.
    pub fn spawn(mut self) -> Child {
        let stdout = match self.stdout.take() {
            Some(f) => Stdio::from(f),
            None => Stdio::piped(),
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tool");
        let mut input = child.stdin.take().expect("stdin");
        let data = std::mem::take(&mut self.stdin);
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        child
    }

    /// Runs to completion (killed after 120 s so that a hang fails the test, not CI).
    pub fn run(self) -> Outcome {
        let child = self.spawn();
        wait(child, Duration::from_secs(120))
    }
}

/// Waits for a spawned tool and collects its output.
pub fn wait(mut child: Child, limit: Duration) -> Outcome {
    let out = child.stdout.take();
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(mut out) = out {
            let _ = out.read_to_end(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let end = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("tool did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
    }
}

/// Sends a signal to a child by number (SIGINT 2, SIGTERM 15).
pub fn signal(child: &Child, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

/// Neither the token nor a URL signature appears in `text`.
pub fn assert_no_secrets(what: &str, text: &str) {
    for secret in [TOKEN, READ_ONLY_TOKEN] {
        assert!(!text.contains(secret), "{what} leaks the token: {text}");
    }
    assert!(
        !text.contains("X-Amz-Signature="),
        "{what} leaks a URL signature: {text}"
    );
}

/// Stderr is exactly one line (the error) and names the problem; no secrets anywhere.
pub fn assert_one_line_error(o: &Outcome, needle: &str) {
    let lines = o.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line, got: {:?}",
        o.stderr
    );
    assert!(
        lines[0].contains(needle),
        "stderr {:?} does not mention {needle:?}",
        lines[0]
    );
    assert_no_secrets("stderr", &o.stderr);
}

/// Files in `dir` (names), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Creates `dir/NAME.sqlite` from SQL, for an emulator started with `start_in(dir)`.
pub fn make_db(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(format!("{name}.sqlite"));
    let conn = rusqlite::Connection::open(&path).expect("open sqlite");
    conn.execute_batch(sql).expect("create database");
    path
}

/// Runs `script` as users run a pipeline: plain `sh -c` (no pipefail), in `dir`, with nothing
/// of the developer's environment but the tools' folder first on PATH and the emulator's
/// variables.
pub fn sh(emu: &Emulator, dir: &Path, script: &str) -> Outcome {
    let bindir = bin("d1-fetch").parent().expect("bin dir").to_path_buf();
    let child = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .envs(emu.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    wait(child, Duration::from_secs(120))
}

/// Downloads a URL's body (test-side, independent of d1-fetch).
pub fn download(url: &str) -> Vec<u8> {
    let mut resp = local_agent().get(url).call().expect("download");
    resp.body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .expect("download body")
}

/// Exports `name` from `emu`, fetches it into `dir` with d1-fetch and checks that d1-verify
/// passes it: a real backup (dump, `.sha256`, manifest with its verdict). Returns the dump.
pub fn fetch_verified(emu: &Emulator, name: &str, dir: &Path) -> PathBuf {
    let (id, url) = emu.export_url(name);
    let o = tool("d1-fetch")
        .args(["-q", "-o", &format!("{}/", dir.display())])
        .stdin(format!("{id} {name} {url}\n"))
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let path = PathBuf::from(o.stdout.split_whitespace().last().expect("a path"));
    let v = tool("d1-verify").arg(&path).run();
    assert_eq!(v.code, 0, "{v:?}");
    path
}

/// A new age identity in `path` (the age CLI's `age-keygen`); returns its public key.
pub fn age_keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen (Debian package age; .ci/run installs it)");
    assert!(out.status.success(), "age-keygen: {out:?}");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_string()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
pub mod s3;
