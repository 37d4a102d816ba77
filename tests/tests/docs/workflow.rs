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
        "actions/download-artifact",
        &[
            "name",
            "path",
            "pattern",
            "merge-multiple",
            "github-token",
            "repository",
            "run-id",
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
    "if",
];

/// Job keys the harness knows; `if:` and `needs:` are evaluated (`always()`, `success()`,
/// `failure()`), `strategy.matrix` expanded.
const JOB_KEYS: &[&str] = &[
    "name",
    "runs-on",
    "env",
    "steps",
    "needs",
    "if",
    "strategy",
    "timeout-minutes",
];

/// One run of a job: its matrix values (empty without a matrix).
type Combo = Vec<(String, String)>;

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
        .map(|(k, v)| (format!("secrets.{k}"), v.clone()))
        .collect();
    let base_url = api
        .iter()
        .find(|(k, _)| k == "CLOUDFLARE_API_BASE_URL")
        .map(|(_, v)| v.clone())
        .expect("base URL");
    let artifacts = page.work.join(".artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    // job -> whether every run of it succeeded.
    let mut outcome: Vec<(String, bool)> = Vec::new();
    let mut failures = Vec::new();
    for (job_name, job) in jobs {
        let Value::Map(keys) = job else {
            return Err(format!("job {job_name}: not a mapping"));
        };
        if let Some((k, _)) = keys.iter().find(|(k, _)| !JOB_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "job {job_name}: key {k:?} is not one the harness runs (known: {JOB_KEYS:?})"
            ));
        }
        if job.get("runs-on").is_none() {
            return Err(format!("job {job_name}: no runs-on"));
        }
        let needs: Vec<String> = match job.get("needs") {
            None => Vec::new(),
            Some(Value::Str(s)) => vec![s.clone()],
            Some(Value::Seq(v)) => v
                .iter()
                .map(|n| n.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or(format!("job {job_name}: needs: not names"))?,
            Some(_) => return Err(format!("job {job_name}: needs: not a name or a list")),
        };
        let mut needed_ok = true;
        for n in &needs {
            match outcome.iter().find(|(j, _)| j == n) {
                Some((_, ok)) => needed_ok &= ok,
                None => {
                    return Err(format!(
                        "job {job_name}: needs {n}, which is not a job written before it"
                    ))
                }
            }
        }
        let run_job = match job.get("if") {
            Some(cond) => {
                condition(cond, !needed_ok).map_err(|e| format!("job {job_name}: {e}"))?
            }
            None => needed_ok,
        };
        if !run_job {
            notes.push(format!(
                "workflow job {job_name}: skipped (a job it needs failed)"
            ));
            outcome.push((job_name.clone(), false));
            continue;
        }
        let combos = matrix(job).map_err(|e| format!("job {job_name}: {e}"))?;
        let Some(Value::Seq(steps)) = job.get("steps") else {
            return Err(format!("job {job_name}: no steps"));
        };
        let mut job_ok = true;
        let (mut ran, mut checked) = (0, Vec::new());
        for (ci, combo) in combos.iter().enumerate() {
            let label = if combo.is_empty() {
                job_name.clone()
            } else {
                format!("{job_name}-{ci}")
            };
            let mut ctx = secrets.clone();
            ctx.extend(
                combo
                    .iter()
                    .map(|(k, v)| (format!("matrix.{k}"), v.clone())),
            );
            let workspace = page.work.join(format!("workflow-{label}"));
            std::fs::create_dir_all(&workspace).map_err(|e| e.to_string())?;
            let github_path = page.work.join(format!(".github-path-{label}"));
            let github_env = page.work.join(format!(".github-env-{label}"));
            std::fs::write(&github_path, "").map_err(|e| e.to_string())?;
            std::fs::write(&github_env, "").map_err(|e| e.to_string())?;
            let job_env = env_map(job.get("env"), &ctx)?;
            let mut failed: Option<String> = None;
            for (i, step) in steps.iter().enumerate() {
                let at = if combo.is_empty() {
                    format!("job {job_name}, step {}", i + 1)
                } else {
                    let m: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("job {job_name} ({}), step {}", m.join(", "), i + 1)
                };
                let Value::Map(keys) = step else {
                    return Err(format!("{at}: not a mapping"));
                };
                for (k, _) in keys {
                    if !STEP_KEYS.contains(&k.as_str()) {
                        return Err(format!("{at}: key {k:?} is not one the harness runs"));
                    }
                }
                let go = match step.get("if") {
                    Some(cond) => {
                        condition(cond, failed.is_some()).map_err(|e| format!("{at}: {e}"))?
                    }
                    None => failed.is_none(),
                };
                if !go {
                    continue;
                }
                match (step.get("uses"), step.get("run")) {
                    (Some(uses), None) => {
                        let uses = uses.as_str().ok_or(format!("{at}: uses: not a string"))?;
                        let with = match step.get("with") {
                            Some(w) => {
                                Some(substituted(w, &ctx).map_err(|e| format!("{at}: {e}"))?)
                            }
                            None => None,
                        };
                        let note = check_action(&at, uses, with.as_ref(), &workspace, &artifacts)?;
                        if ci == 0 {
                            checked.push(note);
                        }
                    }
                    (None, Some(script)) => {
                        let script = script.as_str().ok_or(format!("{at}: run: not a string"))?;
                        let script = substitute(script, &ctx).map_err(|e| format!("{at}: {e}"))?;
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
                        env.extend(env_map(step.get("env"), &ctx)?);
                        for l in std::fs::read_to_string(&github_env)
                            .unwrap_or_default()
                            .lines()
                        {
                            if let Some((k, v)) = l.split_once('=') {
                                env.push((k.into(), v.into()));
                            }
                        }
                        let script_file = page.work.join(format!(".step-{label}-{}.sh", i + 1));
                        std::fs::write(&script_file, &script).map_err(|e| e.to_string())?;
                        let mut cmd = match step.get("shell").and_then(Value::as_str) {
                            None => shell(&["bash", "--noprofile", "--norc", "-e"]),
                            Some("bash") => {
                                shell(&["bash", "--noprofile", "--norc", "-eo", "pipefail"])
                            }
                            Some("sh") => shell(&["sh", "-e"]),
                            Some(other) => {
                                return Err(format!("{at}: shell {other:?} not supported"))
                            }
                        };
                        let dir = match step.get("working-directory").and_then(Value::as_str) {
                            Some(d) => workspace.join(d),
                            None => workspace.clone(),
                        };
                        cmd.arg(&script_file).current_dir(dir).env_clear().envs(env);
                        if let Err(e) = run(cmd, "") {
                            failed = Some(format!("{at}: run: {script}: {e}"));
                        }
                        ran += 1;
                    }
                    _ => return Err(format!("{at}: a step needs exactly one of uses: and run:")),
                }
            }
            if let Some(f) = failed {
                job_ok = false;
                failures.push(f);
            }
        }
        outcome.push((job_name.clone(), job_ok));
        let runs = if combos.len() > 1 {
            format!(" in {} matrix runs", combos.len())
        } else {
            String::new()
        };
        notes.push(format!(
            "workflow job {job_name}: ran {ran} run: step(s){runs} in scratch workspaces; \
             not run (they need GitHub's services), with: keys checked only: {}",
            if checked.is_empty() {
                "none".to_string()
            } else {
                checked.join("; ")
            }
        ));
    }
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    Ok(notes)
}

/// `if:` of a job or a step: `always()`, `success()`, `failure()`, bare or in `${{ }}`.
fn condition(v: &Value, failed: bool) -> Result<bool, String> {
    let text = v.as_str().ok_or("if: not a string")?.trim();
    let expr = text
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(text)
        .trim();
    match expr {
        "always()" => Ok(true),
        "success()" => Ok(!failed),
        "failure()" => Ok(failed),
        other => Err(format!(
            "if: {other:?}: the harness evaluates always(), success() and failure() only"
        )),
    }
}

/// The runs of a job: one per combination of `strategy.matrix`'s lists (one run without).
fn matrix(job: &Value) -> Result<Vec<Combo>, String> {
    let Some(strategy) = job.get("strategy") else {
        return Ok(vec![Vec::new()]);
    };
    let Some(Value::Map(m)) = strategy.get("matrix") else {
        return Err("strategy: without a matrix: mapping".into());
    };
    let mut combos: Vec<Combo> = vec![Vec::new()];
    for (key, values) in m {
        let Value::Seq(values) = values else {
            return Err(format!(
                "matrix.{key}: not a list (include/exclude are not read)"
            ));
        };
        let mut next = Vec::new();
        for c in &combos {
            for v in values {
                let v = v
                    .as_str()
                    .ok_or(format!("matrix.{key}: not a list of scalars"))?;
                let mut c = c.clone();
                c.push((key.clone(), v.to_string()));
                next.push(c);
            }
        }
        combos = next;
    }
    Ok(combos)
}

/// `v` with `${{ … }}` filled in, in every string it holds.
fn substituted(v: &Value, ctx: &[(String, String)]) -> Result<Value, String> {
    Ok(match v {
        Value::Str(s) => Value::Str(substitute(s, ctx)?),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|i| substituted(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), substituted(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Null => Value::Null,
    })
}

fn shell(argv: &[&str]) -> Command {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..]);
    c
}

/// `${{ secrets.NAME }}` and `${{ matrix.KEY }}` replaced by their values; any other
/// expression is an error.
fn substitute(s: &str, ctx: &[(String, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let j = after.find("}}").ok_or("an unclosed ${{")?;
        let expr = after[..j].trim();
        if !expr.starts_with("secrets.") && !expr.starts_with("matrix.") {
            return Err(format!(
                "the harness evaluates only ${{{{ secrets.NAME }}}} and ${{{{ matrix.KEY }}}} \
                 here, not {expr:?}"
            ));
        }
        let v = ctx
            .iter()
            .find(|(k, _)| k == expr)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no {expr} in the harness (it has the API's secrets)"))?;
        out.push_str(v);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn env_map(v: Option<&Value>, ctx: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().ok_or(format!("env {k}: not a string"))?;
                Ok((k.clone(), substitute(v, ctx)?))
            })
            .collect(),
        Some(_) => Err("env: not a mapping".into()),
    }
}

/// Checks a `uses:` step's `with:` keys; stands in for what the step would leave behind (an
/// artifact is a folder of `artifacts`, which later jobs download from).
fn check_action(
    at: &str,
    uses: &str,
    with: Option<&Value>,
    workspace: &Path,
    artifacts: &Path,
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
            let get = |k: &str| {
                keys.iter()
                    .find(|(x, _)| x == k)
                    .and_then(|(_, v)| v.as_str())
            };
            let path = get("path").ok_or(format!("{at}: {action} needs path:"))?;
            if !workspace.join(path).exists() {
                return Err(format!(
                    "{at}: {action}: path {path} does not exist after the steps before it"
                ));
            }
            let name = get("name").unwrap_or("artifact");
            let to = artifacts.join(name);
            if to.exists() {
                return Err(format!(
                    "{at}: {action}: an artifact named {name} exists already"
                ));
            }
            copy(&workspace.join(path), &to).map_err(|e| format!("{at}: {e}"))?;
        }
        "actions/download-artifact" => {
            let get = |k: &str| {
                keys.iter()
                    .find(|(x, _)| x == k)
                    .and_then(|(_, v)| v.as_str())
            };
            let path = workspace.join(get("path").unwrap_or("."));
            let merge = get("merge-multiple") == Some("true");
            let wanted = |n: &str| match (get("name"), get("pattern")) {
                (Some(name), _) => n == name,
                (None, Some(p)) => match p.split_once('*') {
                    Some((a, b)) => {
                        n.starts_with(a) && n.ends_with(b) && n.len() >= a.len() + b.len()
                    }
                    None => n == p,
                },
                (None, None) => true,
            };
            let mut found = 0;
            for e in std::fs::read_dir(artifacts)
                .map_err(|e| e.to_string())?
                .flatten()
            {
                let n = e.file_name().to_string_lossy().into_owned();
                if wanted(&n) {
                    let to = if merge { path.clone() } else { path.join(&n) };
                    copy(&e.path(), &to).map_err(|e| format!("{at}: {e}"))?;
                    found += 1;
                }
            }
            if found == 0 && get("name").is_some() {
                return Err(format!(
                    "{at}: {action}: no artifact of that name was uploaded"
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
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, to).map(|_| ())
    }
}
