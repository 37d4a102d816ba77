//! Test harness: spawn the emulator on a temporary data folder and talk to it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const TOKEN: &str = "emulator-token";
pub const ACCOUNT: &str = "emulator-account";

pub struct Emu {
    pub child: Child,
    /// `http://127.0.0.1:PORT/client/v4`
    pub base: String,
    /// `http://127.0.0.1:PORT`
    pub root: String,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub agent: ureq::Agent,
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

impl Emu {
    pub fn start(args: &[&str]) -> Emu {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_d1-emulator"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().to_string();
        assert!(
            base.starts_with("http://127.0.0.1:") && base.ends_with("/client/v4"),
            "{base}"
        );
        let root = base.trim_end_matches("/client/v4").to_string();
        let addr = root.trim_start_matches("http://").to_string();
        Emu {
            child,
            base,
            root,
            addr,
            dir,
            agent: agent(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/accounts/{ACCOUNT}/d1/database{path}", self.base)
    }

    /// An authorized call; returns status and parsed JSON body.
    pub fn call(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(TOKEN, method, url, body)
    }

    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        url: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(url).header("Authorization", &auth).call(),
            (_, Some(b)) => self
                .agent
                .post(url)
                .header("Authorization", &auth)
                .send_json(b),
            (_, None) => self
                .agent
                .post(url)
                .header("Authorization", &auth)
                .send_empty(),
        }
        .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, v)
    }

    pub fn create_db(&self, name: &str) -> String {
        let (s, v) = self.call("POST", &self.url(""), Some(json!({"name": name})));
        assert_eq!(s, 200, "{v}");
        v["result"]["uuid"].as_str().unwrap().to_string()
    }

    pub fn query(&self, id: &str, sql: &str) -> Value {
        let (s, v) = self.call(
            "POST",
            &self.url(&format!("/{id}/query")),
            Some(json!({"sql": sql})),
        );
        assert_eq!(s, 200, "{v}");
        v
    }

    pub fn export(&self, id: &str, body: Value) -> (u16, Value) {
        self.call("POST", &self.url(&format!("/{id}/export")), Some(body))
    }

    /// Runs an export to the end; returns the final `result` object.
    pub fn export_to_end(&self, id: &str, dump_options: Value) -> Value {
        let (s, v) = self.export(
            id,
            json!({"output_format": "polling", "dump_options": dump_options}),
        );
        assert_eq!(s, 200, "{v}");
        let mut r = v["result"].clone();
        for _ in 0..20 {
            if r["status"] != "active" {
                return r;
            }
            let b = r["at_bookmark"].clone();
            let (s, v) = self.export(
                id,
                json!({"output_format": "polling", "current_bookmark": b}),
            );
            assert_eq!(s, 200, "{v}");
            r = v["result"].clone();
        }
        panic!("export never finished: {r}");
    }

    /// Exports and downloads; returns the dump text.
    pub fn dump(&self, id: &str, dump_options: Value) -> String {
        let r = self.export_to_end(id, dump_options);
        assert_eq!(r["status"], "complete", "{r}");
        let url = r["result"]["signed_url"].as_str().unwrap();
        let mut resp = self.agent.get(url).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.body_mut().read_to_string().unwrap()
    }

    pub fn state(&self) -> Value {
        let mut r = self
            .agent
            .get(format!("{}/__emulator/state", self.root))
            .call()
            .unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    pub fn arm(&self, specs: &str) {
        let r = self
            .agent
            .post(format!("{}/__emulator/faults", self.root))
            .send(specs)
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    /// One raw HTTP/1.1 request; returns (head, body bytes received until the server closed).
    pub fn raw(&self, method: &str, path_and_query: &str, extra: &str) -> (String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "{method} {path_and_query} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}\r\n",
            self.addr
        )
        .unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        match all.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => (
                String::from_utf8_lossy(&all[..i]).into_owned(),
                all[i + 4..].to_vec(),
            ),
            None => (String::from_utf8_lossy(&all).into_owned(), Vec::new()),
        }
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `path?query` part of an absolute URL.
pub fn path_of(url: &str) -> String {
    let after = url.split_once("://").unwrap().1;
    after[after.find('/').unwrap()..].to_string()
}

pub fn header_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}
