//! `yaml workflow` blocks are GitHub Actions workflows: parsed (d1_tests::yaml), their schedule
//! checked, and each job's `run:` steps executed in order in a scratch workspace, with the shell
//! GitHub uses (`bash -e`, or `bash -eo pipefail` for `shell: bash`), `$GITHUB_PATH` and
//! `$GITHUB_ENV` honoured between steps, and `${{ secrets.NAME }}` filled in with the emulator's
//! credentials. Steps that need GitHub's services (`uses:`) are not run: their `with:` keys are
//! checked against the action's inputs, and the harness says so. `actions/checkout` is stood in
//! for by a copy of the repository's Makefile, Cargo.toml, README.md, docs/ and scripts/.
//!
//! Swapped in by the harness, as for every block: `CLOUDFLARE_API_BASE_URL` (the emulator), and
//! `D1_BIN_DIR` (so `make install` installs the binaries the tests built instead of spending
//! minutes on a release build).

use super::page::{base_env, root, run, system_path, tools_dir, Page};
use d1_tests::yaml::{self, Value};
use std::path::Path;
use std::process::Command;

/// The inputs of the actions the docs use (from each action's action.yml).
const ACTIONS: &[(&str, &[&str])] = &[
    (
        "actions/checkout",
        &[
            "repository",
            "ref",
            "token",
            "ssh-key",
            "ssh-known-hosts",
            "ssh-strict",
            "ssh-user",
            "persist-credentials",
            "path",
            "clean",
            "filter",
            "sparse-checkout",
            "sparse-checkout-cone-mode",
            "fetch-depth",
            "fetch-tags",
            "show-progress",
            "lfs",
            "submodules",
            "set-safe-directory",
            "github-server-url",
        ],
    ),
    (
        "actions/upload-artifact",
        &[
            "name",
            "path",
            "if-no-files-found",
            "retention-days",
            "compression-level",
            "overwrite",
            "include-hidden-files",
        ],
    ),
];

const STEP_KEYS: &[&str] = &[
    "name",
    "id",
    "uses",
    "with",
    "run",
    "env",
    "shell",
    "working-directory",
    "timeout-minutes",
    "continue-on-error",
];

/// Runs the workflow; returns what it did, one note per job.
pub fn run_block(page: &mut Page, text: &str) -> Result<Vec<String>, String> {
    let wf = yaml::parse(text).map_err(|e| e.to_string())?;
    let on = wf.get("on").ok_or("no `on:`")?;
    if let Some(Value::Seq(s)) = on.get("schedule") {
        for item in s {
            let cron = item
                .get("cron")
                .and_then(Value::as_str)
                .ok_or("a schedule item without cron:")?;
            d1_tests::crontab::entries(&format!("{cron} true\n"))
                .map_err(|e| format!("schedule cron {cron:?}: {e}"))?;
        }
    }
    let Some(Value::Map(jobs)) = wf.get("jobs") else {
        return Err("no `jobs:` mapping".into());
    };
    let api = page.api_env();
    let secrets: Vec<(String, String)> = api
        .iter()
        .filter(|(k, _)| k != "CLOUDFLARE_API_BASE_URL")
        .cloned()
        .collect();
    let base_url = api
        .iter()
        .find(|(k, _)| k == "CLOUDFLARE_API_BASE_URL")
        .map(|(_, v)| v.clone())
        .expect("base URL");
    let mut notes = Vec::new();
    for (job_name, job) in jobs {
        if job.get("runs-on").is_none() {
            return Err(format!("job {job_name}: no runs-on"));
        }
        let workspace = page.work.join(format!("workflow-{job_name}"));
        std::fs::create_dir_all(&workspace).map_err(|e| e.to_string())?;
        let github_path = page.work.join(format!(".github-path-{job_name}"));
        let github_env = page.work.join(format!(".github-env-{job_name}"));
        std::fs::write(&github_path, "").map_err(|e| e.to_string())?;
        std::fs::write(&github_env, "").map_err(|e| e.to_string())?;
        let job_env = env_map(job.get("env"), &secrets)?;
        let Some(Value::Seq(steps)) = job.get("steps") else {
            return Err(format!("job {job_name}: no steps"));
        };
        let (mut ran, mut checked) = (0, Vec::new());
        for (i, step) in steps.iter().enumerate() {
            let at = format!("job {job_name}, step {}", i + 1);
            let Value::Map(keys) = step else {
                return Err(format!("{at}: not a mapping"));
            };
            for (k, _) in keys {
                if !STEP_KEYS.contains(&k.as_str()) {
                    return Err(format!(
                        "{at}: key {k:?} is not one the harness runs (`if:` is not evaluated)"
                    ));
                }
            }
            match (step.get("uses"), step.get("run")) {
                (Some(uses), None) => {
                    let uses = uses.as_str().ok_or(format!("{at}: uses: not a string"))?;
                    checked.push(check_action(&at, uses, step.get("with"), &workspace)?);
                }
                (None, Some(script)) => {
                    let script = script.as_str().ok_or(format!("{at}: run: not a string"))?;
                    let script = substitute(script, &secrets).map_err(|e| format!("{at}: {e}"))?;
                    let mut env = base_env(&page.home);
                    let mut path: Vec<String> = std::fs::read_to_string(&github_path)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect();
                    path.reverse();
                    path.push(system_path());
                    env.push(("PATH".into(), path.join(":")));
                    for (k, v) in [
                        ("CI", "true".to_string()),
                        ("GITHUB_ACTIONS", "true".into()),
                        ("GITHUB_WORKSPACE", workspace.display().to_string()),
                        ("GITHUB_PATH", github_path.display().to_string()),
                        ("GITHUB_ENV", github_env.display().to_string()),
                        ("RUNNER_TEMP", page.work.display().to_string()),
                        ("CLOUDFLARE_API_BASE_URL", base_url.clone()),
                        ("D1_BIN_DIR", tools_dir().display().to_string()),
                    ] {
                        env.push((k.into(), v));
                    }
                    env.extend(job_env.iter().cloned());
                    env.extend(env_map(step.get("env"), &secrets)?);
                    for l in std::fs::read_to_string(&github_env)
                        .unwrap_or_default()
                        .lines()
                    {
                        if let Some((k, v)) = l.split_once('=') {
                            env.push((k.into(), v.into()));
                        }
                    }
                    let script_file = page.work.join(format!(".step-{job_name}-{}.sh", i + 1));
                    std::fs::write(&script_file, &script).map_err(|e| e.to_string())?;
                    let mut cmd = match step.get("shell").and_then(Value::as_str) {
                        None => shell(&["bash", "--noprofile", "--norc", "-e"]),
                        Some("bash") => {
                            shell(&["bash", "--noprofile", "--norc", "-eo", "pipefail"])
                        }
                        Some("sh") => shell(&["sh", "-e"]),
                        Some(other) => return Err(format!("{at}: shell {other:?} not supported")),
                    };
                    let dir = match step.get("working-directory").and_then(Value::as_str) {
                        Some(d) => workspace.join(d),
                        None => workspace.clone(),
                    };
                    cmd.arg(&script_file).current_dir(dir).env_clear().envs(env);
                    run(cmd, "").map_err(|e| format!("{at}: run: {script}: {e}"))?;
                    ran += 1;
                }
                _ => return Err(format!("{at}: a step needs exactly one of uses: and run:")),
            }
        }
        notes.push(format!(
            "workflow job {job_name}: ran {ran} run: step(s) in a scratch workspace; \
             not run (they need GitHub's services), with: keys checked only: {}",
            if checked.is_empty() {
                "none".to_string()
            } else {
                checked.join("; ")
            }
        ));
    }
    Ok(notes)
}

fn shell(argv: &[&str]) -> Command {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..]);
    c
}

/// `${{ secrets.NAME }}` replaced by the secret; any other expression is an error.
fn substitute(s: &str, secrets: &[(String, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let j = after.find("}}").ok_or("an unclosed ${{")?;
        let expr = after[..j].trim();
        let name = expr.strip_prefix("secrets.").ok_or_else(|| {
            format!("the harness evaluates only ${{{{ secrets.NAME }}}}, not {expr:?}")
        })?;
        let v = secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no secret {name} in the harness (it has the API's)"))?;
        out.push_str(v);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn env_map(
    v: Option<&Value>,
    secrets: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().ok_or(format!("env {k}: not a string"))?;
                Ok((k.clone(), substitute(v, secrets)?))
            })
            .collect(),
        Some(_) => Err("env: not a mapping".into()),
    }
}

/// Checks a `uses:` step's `with:` keys; stands in for what the step would leave behind.
fn check_action(
    at: &str,
    uses: &str,
    with: Option<&Value>,
    workspace: &Path,
) -> Result<String, String> {
    let (action, version) = uses
        .split_once('@')
        .ok_or(format!("{at}: uses: {uses} has no @version"))?;
    let inputs = ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, i)| *i)
        .ok_or(format!(
            "{at}: the harness does not know {action}: add its inputs to tests/tests/docs/workflow.rs"
        ))?;
    if !version.starts_with('v') {
        return Err(format!(
            "{at}: pin {action} to a release (@vN), not {version:?}"
        ));
    }
    let keys: Vec<(String, Value)> = match with {
        None => Vec::new(),
        Some(Value::Map(m)) => m.clone(),
        Some(_) => return Err(format!("{at}: with: is not a mapping")),
    };
    for (k, _) in &keys {
        if !inputs.contains(&k.as_str()) {
            return Err(format!(
                "{at}: {action} has no input {k:?} (it has {inputs:?})"
            ));
        }
    }
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    match action {
        "actions/checkout" => {
            let root = root();
            for f in ["Makefile", "Cargo.toml", "README.md", "docs", "scripts"] {
                copy(&root.join(f), &workspace.join(f))
                    .map_err(|e| format!("{at}: copying {f}: {e}"))?;
            }
        }
        "actions/upload-artifact" => {
            let path = keys
                .iter()
                .find(|(k, _)| k == "path")
                .and_then(|(_, v)| v.as_str())
                .ok_or(format!("{at}: {action} needs path:"))?;
            if !workspace.join(path).exists() {
                return Err(format!(
                    "{at}: {action}: path {path} does not exist after the steps before it"
                ));
            }
        }
        _ => {}
    }
    Ok(if names.is_empty() {
        format!("{uses} (no with:)")
    } else {
        format!("{uses} (with: {})", names.join(", "))
    })
}

fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}
