//! Runs one docs page: reads its blocks strictly (d1_tests::markdown), then does what each kind
//! declares, in order, in a scratch folder of its own, and says what it ran.
//!
//! Layout of the scratch folder: `work/` is the current folder of `sh` blocks (file blocks are
//! written there); `home/` is `HOME` for every block, cron's and the workflow's included.

use super::{cron, s3, workflow};
use d1_tests::markdown::{self, Block, Kind};
use d1_tests::{bin, Emulator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// Databases the emulator serves to every page: `sample`, and copies of it under the names the
/// recipes use for production (docs/README.md, "Writing docs", lists them).
pub const DATABASES: &[&str] = &["prod-db", "analytics-db", "mydb"];

/// How long one block, cron entry or workflow step may take.
const LIMIT: Duration = Duration::from_secs(180);

/// What a page's run did, for the summary line and for the callers' checks.
#[derive(Default, Debug)]
pub struct Summary {
    /// kind label -> how many blocks of it (or entries/steps, named in `notes`).
    pub counts: BTreeMap<&'static str, usize>,
    pub notes: Vec<String>,
    /// The `same-as=` files the page's file blocks are copies of.
    pub same_as: Vec<String>,
}

impl Summary {
    pub fn line(&self, page: &str) -> String {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let total: usize = self.counts.values().sum();
        let mut s = format!("{page}: {total} blocks");
        if total > 0 {
            s.push_str(&format!(" ({})", counts.join(", ")));
        }
        for n in &self.notes {
            s.push_str("\n  ");
            s.push_str(n);
        }
        s
    }
}

/// A page being run: its scratch folders and the servers its blocks need.
pub struct Page {
    _temp: tempfile::TempDir,
    pub work: PathBuf,
    pub home: PathBuf,
    emulator: Option<Emulator>,
    s3: Option<s3::Server>,
    /// Whether `make install PREFIX=$HOME/.local` and the credentials file are in place.
    installed: bool,
}

/// Runs the page at `path` (relative to the repository, or absolute for fixtures); the error
/// names the page and the line.
pub fn run_page(path: &Path) -> Result<Summary, String> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root().join(path)
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&full).map_err(|e| format!("{name}: {e}"))?;
    let blocks =
        markdown::blocks(&text).map_err(|e| format!("{name}:{}: {}", e.line, e.message))?;
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("work");
    let home = temp.path().join("home");
    std::fs::create_dir_all(&work).expect("mkdir work");
    std::fs::create_dir_all(&home).expect("mkdir home");
    let mut page = Page {
        _temp: temp,
        work,
        home,
        emulator: None,
        s3: None,
        installed: false,
    };
    let mut summary = Summary::default();
    for b in &blocks {
        page.block(b, &mut summary)
            .map_err(|e| format!("{name}:{}: {} block: {e}", b.line, b.kind.label()))?;
        *summary.counts.entry(b.kind.label()).or_default() += 1;
    }
    Ok(summary)
}

impl Page {
    fn block(&mut self, b: &Block, summary: &mut Summary) -> Result<(), String> {
        match &b.kind {
            Kind::Text => Ok(()),
            Kind::Skip { reason } => {
                summary
                    .notes
                    .push(format!("line {}: not run: {reason}", b.line));
                Ok(())
            }
            Kind::Json => {
                let mut n = 0;
                for v in
                    serde_json::Deserializer::from_str(&b.code).into_iter::<serde_json::Value>()
                {
                    v.map_err(|e| format!("not JSON: {e}"))?;
                    n += 1;
                }
                if n == 0 {
                    return Err("empty".into());
                }
                Ok(())
            }
            Kind::Records => {
                use d1_core::pipe;
                for (i, l) in b.code.lines().enumerate() {
                    let ok = [pipe::BOOKMARK, pipe::SIGNED_URL, pipe::PATH]
                        .into_iter()
                        .any(|k| pipe::parse(i + 1, l, k).is_ok());
                    if !ok {
                        let e = pipe::parse(i + 1, l, pipe::PATH).err();
                        return Err(format!("not a record the tools read: {l:?}: {e:?}"));
                    }
                }
                Ok(())
            }
            Kind::Yaml => d1_tests::yaml::parse(&b.code)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Kind::File { name, same_as } => {
                if let Some(src) = same_as {
                    let repo = std::fs::read_to_string(root().join(src))
                        .map_err(|e| format!("same-as={src}: {e}"))?;
                    if repo != b.code {
                        return Err(format!(
                            "file={name} is not the same as {src}: copy one onto the other \
                             (make install installs {src}, the page shows the block)"
                        ));
                    }
                    summary.same_as.push(src.clone());
                }
                let p = self.work.join(name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&p, &b.code).map_err(|e| e.to_string())?;
                if name.ends_with(".sh") || b.code.starts_with("#!") {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Kind::Run { s3 } => {
                let mut env = self.api_env();
                if let Some(bucket) = s3 {
                    env.extend(self.s3(bucket)?);
                }
                let path = format!("{}:{}", tools_dir().display(), system_path());
                env.push(("PATH".into(), path));
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(format!("set -euo pipefail\n{}", b.code))
                    .current_dir(&self.work)
                    .env_clear()
                    .envs(base_env(&self.home))
                    .envs(env)
                    .env("D1_EMULATOR_DATA", &self.emulator().data_dir);
                run(cmd, "")?;
                Ok(())
            }
            Kind::Crontab => {
                let n = cron::run_block(self, &b.code)?;
                summary.notes.push(format!(
                    "line {}: ran {n} crontab entr{} under env -i with cron's environment",
                    b.line,
                    if n == 1 { "y" } else { "ies" }
                ));
                Ok(())
            }
            Kind::Workflow => {
                let notes = workflow::run_block(self, &b.code)?;
                summary
                    .notes
                    .extend(notes.into_iter().map(|n| format!("line {}: {n}", b.line)));
                Ok(())
            }
        }
    }

    /// The emulator, started on first use, serving `sample` and its copies.
    pub fn emulator(&mut self) -> &Emulator {
        if self.emulator.is_none() {
            let emu = Emulator::start(&["--poll-hold-ms", "20"]);
            let conn = rusqlite::Connection::open(emu.data_dir.join("sample.sqlite"))
                .expect("open the sample database");
            for db in DATABASES {
                let to = emu.data_dir.join(format!("{db}.sqlite"));
                conn.execute("VACUUM INTO ?1", [to.to_str().expect("utf-8 path")])
                    .expect("copy the sample database");
            }
            self.emulator = Some(emu);
        }
        self.emulator.as_ref().expect("emulator")
    }

    /// The variables that point a tool at the emulator.
    pub fn api_env(&mut self) -> Vec<(String, String)> {
        self.emulator().env()
    }

    fn s3(&mut self, bucket: &str) -> Result<Vec<(String, String)>, String> {
        if self.s3.is_none() {
            self.s3 = Some(s3::Server::start()?);
        }
        let s = self.s3.as_ref().expect("s3");
        s.create_bucket(bucket)?;
        Ok(s.env())
    }

    /// What a user has after `make install PREFIX=$HOME/.local` and writing their credentials
    /// to `$HOME/.config/d1-tools/env` (here the emulator's): what cron and CI recipes rely on.
    pub fn install_home(&mut self) -> Result<(), String> {
        if self.installed {
            return Ok(());
        }
        let prefix = self.home.join(".local");
        make_install(&prefix, &self.home.join(".cache/d1-man"))?;
        let conf = self.home.join(".config/d1-tools");
        std::fs::create_dir_all(&conf).map_err(|e| e.to_string())?;
        let vars: String = self
            .api_env()
            .iter()
            .map(|(k, v)| format!("export {k}='{v}'\n"))
            .collect();
        let file = conf.join("env");
        std::fs::write(&file, vars).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        self.installed = true;
        Ok(())
    }
}

/// Where the binaries under test are (target/debug).
pub fn tools_dir() -> PathBuf {
    bin("d1-fetch").parent().expect("bin dir").to_path_buf()
}

/// The PATH of the machine, without anything of ours on it.
pub fn system_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// The variables every block starts from: the machine's basics, nothing of the developer's
/// own Cloudflare or AWS settings, HOME in the scratch folder.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = ["LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    // HOME is a scratch folder, so say where the Rust toolchain is (a workflow may run cargo).
    if let Ok(real) = std::env::var("HOME") {
        for (var, dir) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
            let v = std::env::var(var).unwrap_or_else(|_| format!("{real}/{dir}"));
            if Path::new(&v).is_dir() {
                env.push((var.into(), v));
            }
        }
    }
    env.push(("HOME".into(), home.display().to_string()));
    env
}

/// `make install` of the binaries already built (D1_BIN_DIR), man pages generated into
/// `man_dir` so that concurrent runs do not share target/man. Returns make's stdout.
pub fn make_install(prefix: &Path, man_dir: &Path) -> Result<String, String> {
    let mut cmd = Command::new("make");
    cmd.arg("-s")
        .arg("-C")
        .arg(root())
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("D1_BIN_DIR={}", tools_dir().display()))
        .arg(format!("MAN_DIR={}", man_dir.display()))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("DESTDIR");
    run(cmd, "").map(|o| o.0)
}

/// Runs a command in its own process group (ended with everything it left in the background
/// when it returns), with stdin, and a time limit; the error holds its output.
pub fn run(mut cmd: Command, stdin: &str) -> Result<(String, String), String> {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let pgid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.as_bytes().to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let end = Instant::now() + LIMIT;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the block left running in the background ends with it.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    match status {
        Some(s) if s.success() => Ok((stdout, stderr)),
        Some(s) => Err(format!(
            "failed ({s})\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        )),
        None => Err(format!(
            "did not finish within {LIMIT:?}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        )),
    }
}
