//! Crontab blocks run the way cron runs them: each entry's command, time fields ignored, with
//! only cron's environment (`env -i`: SHELL=/bin/sh, PATH=/usr/bin:/bin, HOME, LOGNAME, USER,
//! plus the crontab's own `NAME=value` lines), by `$SHELL -c` in HOME. Nothing of the test's
//! environment reaches it: the entry must set PATH and load its credentials itself, as it must
//! on a real machine. HOME holds what a user has there (page.rs, `install_home`).

use super::page::{run, Page};
use std::process::Command;

/// Runs every entry; returns how many ran.
pub fn run_block(page: &mut Page, text: &str) -> Result<usize, String> {
    let entries = d1_tests::crontab::entries(text)?;
    if entries.is_empty() {
        return Err("a crontab block with no entry".into());
    }
    page.install_home()?;
    let home = page.home.display().to_string();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    for e in &entries {
        // cron's defaults (crontab(5)); the crontab's variables override them.
        let mut env: Vec<(String, String)> = vec![
            ("SHELL".into(), "/bin/sh".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), home.clone()),
            ("LOGNAME".into(), user.clone()),
            ("USER".into(), user.clone()),
        ];
        for (k, v) in &e.env {
            env.retain(|(x, _)| x != k);
            env.push((k.clone(), v.clone()));
        }
        let shell = env
            .iter()
            .find(|(k, _)| k == "SHELL")
            .map(|(_, v)| v.clone())
            .expect("SHELL");
        let mut cmd = Command::new("env");
        cmd.arg("-i");
        for (k, v) in &env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(shell)
            .arg("-c")
            .arg(&e.command)
            .current_dir(&page.home)
            .env_clear();
        run(cmd, &e.stdin)
            .map_err(|err| format!("crontab line {}: `{}`: {err}", e.line, e.command))?;
    }
    Ok(entries.len())
}
