//! The S3 server `sh s3=BUCKET` blocks run against: moto's server on a loopback port, with the
//! bucket created empty. The block gets the standard AWS variables (`AWS_ENDPOINT_URL` and
//! test credentials), so that the text a user copies for R2 or S3 is the text that runs.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `MOTO_SERVER` if set, else the virtualenv under target/ (moto-venv), made on first use by
/// the same helper as the S3 end-to-end tests (d1_tests::s3).
fn moto_server() -> std::path::PathBuf {
    d1_tests::s3::moto_server()
}

pub struct Server {
    child: Child,
    pub endpoint: String,
}

impl Server {
    pub fn start() -> Result<Server, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting moto_server (pip install 'moto[server]'), needed by s3= blocks: {e}"
                )
            })?;
        let server = Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > end {
                return Err("moto_server did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// Creates BUCKET (moto does not check signatures, so a plain PUT does).
    pub fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .put(&format!("{}/{bucket}", self.endpoint))
            .send_empty()
            .map_err(|e| format!("creating bucket {bucket}: {e}"))?;
        // 409: it exists already (a second block of the same page).
        match resp.status().as_u16() {
            200 | 409 => Ok(()),
            s => Err(format!("creating bucket {bucket}: HTTP {s}")),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
