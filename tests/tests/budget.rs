//! The request budget under attack and under load (issue 30: D03, D04, D05, D06; issue 34: the
//! pacing is said once). The budget's state is a small file per account in a folder of the
//! user's; another local user, a held lock or a FIFO must not be able to hang a tool or make it
//! write through a link, the run's deadline bounds the pacing, and pacing never starves the polls
//! that keep running exports alive.

use d1_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const DB: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);";

/// The state file's name for this emulator (d1-core/src/budget.rs: account and API base).
fn state_name(emu: &Emulator) -> String {
    let key: String = format!("{ACCOUNT}-{}", emu.base_url)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(160)
        .collect();
    format!("requests-{key}")
}

/// A budget folder under `XDG_RUNTIME_DIR=runtime`, ours, mode 0700, as the tools make it.
fn own_state_dir(runtime: &Path) -> PathBuf {
    let dir = runtime.join("d1-tools");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn export_start(emu: &Emulator, runtime: &Path) -> Tool {
    tool("d1-export-start")
        .env_from(emu)
        .env("D1_REQUEST_BUDGET", "100/10")
        .env("XDG_RUNTIME_DIR", runtime)
}

#[test]
fn a_budget_folder_planted_by_another_user_is_not_used_and_its_link_not_followed() {
    let emu = Emulator::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    // Without XDG_RUNTIME_DIR the folder is $TMPDIR/d1-tools-UID: another user creates it
    // first, open to all, with a link where our state file goes.
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    let planted = tmp.path().join(format!("d1-tools-{}", uid.unwrap()));
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(&victim, planted.join(state_name(&emu))).unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    let o = tool("d1-export-start")
        .arg("sample")
        .env_from(&emu)
        .env("D1_REQUEST_BUDGET", "100/10")
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", tmp.path())
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        o.stderr.contains(&format!(
            "warning: the request budget's folder {} is not yours",
            planted.display()
        )),
        "{}",
        o.stderr
    );
}

#[test]
fn a_link_at_the_budget_state_file_is_not_followed() {
    let emu = Emulator::start(&[]);
    let runtime = tempfile::tempdir().unwrap();
    let dir = own_state_dir(runtime.path());
    let victim = runtime.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(state_name(&emu))).unwrap();
    let o = export_start(&emu, runtime.path()).arg("sample").run();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        o.stderr.contains("is not a regular file of yours"),
        "{}",
        o.stderr
    );
}

/// Waits until `child` holds `path` open (it is then trying to lock or read it).
fn wait_until_open(child: &Child, path: &Path) {
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let open = std::fs::read_dir(&fds)
            .map(|rd| {
                rd.flatten()
                    .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == path))
            })
            .unwrap_or(false);
        if open {
            return;
        }
        assert!(Instant::now() < end, "the tool never opened {path:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_held_budget_lock_neither_hangs_a_tool_nor_deafens_it_to_sigterm() {
    let emu = Emulator::start(&[]);
    let runtime = tempfile::tempdir().unwrap();
    let state = own_state_dir(runtime.path()).join(state_name(&emu));
    let held = std::fs::File::create(&state).unwrap();
    held.lock().unwrap();
    // The lock is held for good: the tool goes on without the shared state, and says so.
    let o = wait(
        export_start(&emu, runtime.path()).arg("sample").spawn(),
        Duration::from_secs(30),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 1, "{o:?}");
    assert!(
        o.stderr.contains("is locked by another process"),
        "{}",
        o.stderr
    );
    // SIGTERM while it waits for the lock ends it at once.
    let child = export_start(&emu, runtime.path()).arg("sample").spawn();
    wait_until_open(&child, &state);
    signal(&child, 15);
    let o = wait(child, Duration::from_secs(10));
    assert_eq!(o.code, 130, "{o:?}");
    // --timeout bounds the wait for the lock.
    let o = wait(
        export_start(&emu, runtime.path())
            .args(["--timeout", "1", "sample"])
            .spawn(),
        Duration::from_secs(30),
    );
    assert_eq!(o.code, 75, "{o:?}");
    drop(held);
}

#[test]
fn a_fifo_at_the_budget_state_file_does_not_hang_a_tool() {
    let emu = Emulator::start(&[]);
    let runtime = tempfile::tempdir().unwrap();
    let state = own_state_dir(runtime.path()).join(state_name(&emu));
    let made = std::process::Command::new("mkfifo")
        .arg(&state)
        .status()
        .unwrap();
    assert!(made.success());
    let o = wait(
        export_start(&emu, runtime.path()).arg("sample").spawn(),
        Duration::from_secs(30),
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("is not a regular file of yours"),
        "{}",
        o.stderr
    );
}

#[test]
fn pacing_that_would_pass_the_deadline_ends_the_run_with_75_at_once() {
    let emu = Emulator::start(&[]);
    let runtime = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = wait(
        tool("d1-export-start")
            .args(["--timeout", "3", "sample"])
            .env_from(&emu)
            .env("D1_REQUEST_BUDGET", "1/4000000000")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .spawn(),
        Duration::from_secs(30),
    );
    assert_eq!(o.code, 75, "{o:?}");
    assert!(
        o.stderr
            .contains("the next request would be after the deadline (--timeout)"),
        "{}",
        o.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it ended when the wait was known, not at the deadline: {:?}",
        started.elapsed()
    );
}

#[test]
fn pacing_is_announced_once_even_when_each_wait_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (1..=4).map(|i| format!("db{i}")).collect();
    for n in &names {
        make_db(dir.path(), n, DB);
    }
    let emu = Emulator::start_in(dir.path(), &[]);
    let runtime = tempfile::tempdir().unwrap();
    // Two at once, then 1.8 a second: every wait is shorter than a second.
    let o = tool("d1-export-start")
        .args(&names)
        .env_from(&emu)
        .env("D1_REQUEST_BUDGET", "20/10")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .run();
    assert_eq!(o.code, 0, "{o:?}");
    let said: Vec<&str> = o
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("pacing API requests"))
        .collect();
    assert_eq!(said.len(), 1, "{}", o.stderr);
    assert!(said[0].contains("D1_REQUEST_BUDGET=20/10"), "{}", said[0]);
}

/// `d1-export-start --all | d1-export-wait` over 30 databases under a budget that the starts
/// alone would use up, with the emulator cancelling an export nobody polled for 1.7 s: the
/// default budget (60 at once, then 3.1 a second, D1 cancelling after 5 s) sped up threefold.
#[test]
fn pacing_never_starves_the_polls_of_running_exports() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=30 {
        make_db(dir.path(), &format!("db{i:02}"), DB);
    }
    let emu = Emulator::start_in(dir.path(), &["--cancel-after-ms", "1700"]);
    let runtime = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
    let child = std::process::Command::new("sh")
        .args(["-c", "d1-export-start --all | d1-export-wait"])
        .current_dir(out.path())
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .envs(emu.env())
        .env("D1_REQUEST_BUDGET", "600/60")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait(child, Duration::from_secs(120));
    let state = emu.state();
    let lost: Vec<&serde_json::Value> = state["exports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] != "complete")
        .collect();
    assert!(lost.is_empty(), "exports lost: {lost:?}\n{o:?}");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout_lines().len(), 30, "{o:?}");
}
