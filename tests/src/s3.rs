//! A real S3 server for the end-to-end tests: moto's server mode on an ephemeral loopback port,
//! installed into a virtualenv under target/ when missing (`python3 -m venv target/moto-venv`,
//! `pip install "moto[server]"`), killed when dropped. And [`FaultProxy`], a small HTTP proxy
//! between a tool and moto that injects what moto does not do by itself: a 5xx on one request,
//! a slow answer, a byte changed in transit, and the 403 a wrong key gets (moto does not check
//! the signatures of presigned URLs; its access control reads only the Authorization header).
//!
//! moto accepts unsigned requests, so the tests inspect the bucket directly ([`Moto::get`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// moto routes a request without an Authorization header by guessing the service from its path,
/// and some object keys make it guess wrong (a 403 from another service); a SigV4-shaped header
/// naming s3 routes it right (moto does not check the signature).
const ROUTE_TO_S3: &str =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// The access key the tests use, and a secret distinctive enough to spot in any output.
pub const ACCESS_KEY: &str = "AKIAE2ETESTKEY000001";
pub const SECRET_KEY: &str = "s3-SECRET-e2e-9d1c4b7a0f";

/// `target/`, from the test executable's location (target/debug/deps/...).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("target directory")
        .to_path_buf()
}

/// The `moto_server` executable: `MOTO_SERVER` if set, else the venv under target/, else
/// `moto_server` on PATH, else a venv under target/ created now (`python3 -m venv`, then
/// `pip install "moto[server]"`: PyPI must be reachable; .ci/run installs python3-venv).
pub fn moto_server() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("MOTO_SERVER") {
            return PathBuf::from(p);
        }
        let venv = target_dir().join("moto-venv");
        let bin = venv.join("bin/moto_server");
        if bin.exists() {
            return bin;
        }
        // Installed already (.ci/run installs it with pip): used as it is.
        let on_path = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if on_path {
            return PathBuf::from("moto_server");
        }
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "python3 -m venv {} failed (Debian: apt-get install python3-venv)",
            venv.display()
        );
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "moto[server]"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && bin.exists(),
            "pip install \"moto[server]\" into {} failed",
            venv.display()
        );
        bin
    })
    .clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running moto server, killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = moto_server();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn moto_server");
            let moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // Lost the port to someone else, or slow to start: try another.
        }
        panic!("moto_server did not start");
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub fn bucket(&self, name: &str) {
        let (status, body) = self.request("PUT", &format!("/{name}"), None);
        assert_eq!(status, 200, "creating bucket {name}: {body}");
    }

    /// An unsigned request straight to moto: `(status, body)`.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let mut resp = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", ROUTE_TO_S3).call(),
            ("DELETE", _) => agent
                .delete(&url)
                .header("Authorization", ROUTE_TO_S3)
                .call(),
            (_, b) => agent
                .put(&url)
                .header("Authorization", ROUTE_TO_S3)
                .send(b.unwrap_or_default()),
        }
        .expect("request to moto");
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap_or_default();
        (status, text)
    }

    /// The object's bytes, or `None` when there is none.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(&format!("{}/{bucket}/{key}", self.url))
            .header("Authorization", ROUTE_TO_S3)
            .call()
            .expect("GET from moto");
        if resp.status().as_u16() != 200 {
            return None;
        }
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .ok()
    }

    /// Keys under `prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (status, xml) = self.request(
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
            None,
        );
        assert_eq!(status, 200, "{xml}");
        tags(&xml, "Key")
    }

    /// Multipart uploads in progress (their parts are stored until completed or aborted).
    pub fn uploads_in_progress(&self, bucket: &str) -> Vec<String> {
        let (status, xml) = self.request("GET", &format!("/{bucket}?uploads"), None);
        assert_eq!(status, 200, "{xml}");
        tags(&xml, "UploadId")
    }
}

/// The texts of `<NAME>...</NAME>` elements.
pub fn tags(xml: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to a request that matches.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an S3 error body, without forwarding.
    Status(u16),
    /// Forward after this long.
    Delay(Duration),
    /// Change one byte of the request body, then forward (the server stores other bytes).
    CorruptBody,
    /// Answer 403 InvalidAccessKeyId unless the presigned URL's credential is this key.
    RequireKey(String),
    /// Answer this status with an S3 error body of this code, without forwarding.
    Error(u16, &'static str),
    /// Forward with this text of the request target replaced by that one (a listing asked
    /// for one prefix answered for another, as a buggy server or proxy would).
    Rewrite(&'static str, &'static str),
}

/// A rule: requests whose method is `method` and whose target contains `needle` get `fault`,
/// `times` times (`u32::MAX`: always).
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub needle: String,
    pub fault: Fault,
    pub times: u32,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// `METHOD TARGET` of every request seen, in order.
    seen: Vec<String>,
}

/// An HTTP/1.1 proxy in front of moto (one request per connection).
pub struct FaultProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                let up = upstream.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &st);
                });
            }
        });
        FaultProxy { url, state }
    }

    pub fn add(&self, method: &'static str, needle: &str, fault: Fault, times: u32) {
        self.state.lock().unwrap().rules.push(Rule {
            method,
            needle: needle.to_string(),
            fault,
            times,
        });
    }

    /// Requests seen whose `METHOD TARGET` contains `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.contains(needle))
            .count()
    }
}

fn serve(mut client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let lower = trimmed.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") || lower.starts_with("content-length:") {
            continue;
        }
        headers.push(trimmed.to_string());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let mut target = parts.next().unwrap_or_default().to_string();
    let fault = {
        let mut st = state.lock().unwrap();
        st.seen.push(format!("{method} {target}"));
        let mut found = None;
        for r in st.rules.iter_mut() {
            if r.times > 0 && r.method == method && target.contains(&r.needle) {
                if r.times != u32::MAX {
                    r.times -= 1;
                }
                found = Some(r.fault.clone());
                break;
            }
        }
        found
    };
    match fault {
        Some(Fault::Status(code)) => {
            return answer(
                &mut client,
                code,
                "InternalError",
                "injected by the test proxy",
            );
        }
        Some(Fault::RequireKey(key)) => {
            let cred = target
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("X-Amz-Credential="))
                .unwrap_or_default();
            if !cred.starts_with(&key) {
                return answer(
                    &mut client,
                    403,
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                );
            }
        }
        Some(Fault::Error(status, code)) => {
            return answer(&mut client, status, code, "injected by the test proxy");
        }
        Some(Fault::Rewrite(from, to)) => target = target.replace(from, to),
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        Some(Fault::CorruptBody) => {
            if let Some(b) = body.get_mut(length / 2) {
                *b ^= 0x20;
            }
        }
        None => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    // Always a length: without one, a server may read a POST's body until the connection ends.
    head.push_str(&format!(
        "Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    // The answer goes back as it came, but with `Connection: close`: one request per connection.
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n");
    client.write_all(out.as_bytes())?;
    client.write_all(response.get(split + 2..).unwrap_or_default())?;
    client.flush()
}

fn answer(client: &mut TcpStream, status: u16, code: &str, message: &str) -> std::io::Result<()> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let head = format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())?;
    client.flush()
}

/// A TCP listener on loopback that counts the connections it accepts and then either closes
/// them at once or holds them without ever answering (a hung server).
pub struct Listener {
    pub url: String,
    accepted: Arc<Mutex<usize>>,
}

impl Listener {
    /// `silent`: hold every connection open, read what comes, answer nothing.
    pub fn start(silent: bool) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind listener");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("listener address")
        );
        let accepted = Arc::new(Mutex::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                *count.lock().unwrap() += 1;
                if silent {
                    std::thread::spawn(move || {
                        let mut sink = [0u8; 65536];
                        while conn.read(&mut sink).is_ok_and(|n| n > 0) {}
                    });
                }
            }
        });
        Listener { url, accepted }
    }

    pub fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

/// A tool with the S3 settings for `endpoint` and nothing of the developer's.
pub fn s3_tool(name: &str, endpoint: &str) -> crate::Tool {
    crate::tool(name)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_PROFILE")
        .env_remove("R2_ACCOUNT_ID")
        .env_remove("AWS_REGION")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_ENDPOINT_URL", endpoint)
}

/// Files of a dump (DUMP, DUMP.sha256, DUMP.json) copied into `dir`; returns the new DUMP.
pub fn copy_dump(dump: &Path, dir: &Path) -> PathBuf {
    let name = dump.file_name().expect("dump name");
    let to = dir.join(name);
    for ext in ["", ".sha256", ".json"] {
        let mut from = dump.as_os_str().to_owned();
        from.push(ext);
        let mut dest = to.as_os_str().to_owned();
        dest.push(ext);
        std::fs::copy(&from, &dest).expect("copy dump file");
    }
    to
}
