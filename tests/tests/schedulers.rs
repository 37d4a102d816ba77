//! The scheduler recipes of docs/schedulers.md (issue 35), beyond what the docs test runs: the
//! Kubernetes CronJob's fields checked and its container command run for every index against the
//! emulator, its `podFailurePolicy` applied to the exit codes; the image's build stage run as a
//! script (no container runtime here); the Actions matrix's failure path (a shard with a bad
//! token records 3, the report job fails naming it).

use d1_tests::markdown::{self, Kind};
use d1_tests::yaml::{self, Value};
use d1_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const PAGE: &str = "docs/schedulers.md";

fn page_blocks() -> Vec<markdown::Block> {
    let text = std::fs::read_to_string(repo_root().join(PAGE)).unwrap();
    markdown::blocks(&text).unwrap()
}

/// The page's block of kind `kind` holding `needle`.
fn block(kind: fn(&Kind) -> bool, needle: &str) -> String {
    page_blocks()
        .into_iter()
        .find(|b| kind(&b.kind) && b.code.contains(needle))
        .unwrap_or_else(|| panic!("no block with {needle:?} in {PAGE}"))
        .code
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => match v {
            Value::Seq(s) => &s[i],
            _ => panic!("{path}: {k} of a non-list"),
        },
        Err(_) => v.get(k).unwrap_or_else(|| panic!("{path}: no {k}")),
    })
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path}: not a scalar"))
}

fn cronjob() -> Value {
    yaml::parse(&block(|k| *k == Kind::Yaml, "kind: CronJob")).unwrap()
}

/// What a Job's `podFailurePolicy` does with a container's exit code: the first rule whose
/// `onExitCodes` matches, else `Count` (the failure counts toward `backoffLimitPerIndex`).
fn policy_action(rules: &Value, code: i32) -> String {
    let Value::Seq(rules) = rules else {
        panic!("rules: not a list")
    };
    for r in rules {
        let Some(on) = r.get("onExitCodes") else {
            continue;
        };
        let Value::Seq(values) = at(on, "values") else {
            panic!("values: not a list")
        };
        let listed = values
            .iter()
            .any(|v| v.as_str().and_then(|s| s.parse::<i32>().ok()) == Some(code));
        let hit = match text(on, "operator") {
            "In" => listed,
            "NotIn" => !listed,
            other => panic!("operator {other}"),
        };
        if hit {
            return text(r, "action").to_string();
        }
    }
    "Count".to_string()
}

#[test]
fn the_cronjob_is_an_indexed_job_whose_failure_policy_follows_the_exit_codes() {
    let cj = cronjob();
    assert_eq!(text(&cj, "kind"), "CronJob");
    assert_eq!(text(&cj, "apiVersion"), "batch/v1");
    assert_eq!(
        text(&cj, "spec.concurrencyPolicy"),
        "Forbid",
        "no two nights at once"
    );
    d1_tests::crontab::entries(&format!("{} true\n", text(&cj, "spec.schedule"))).unwrap();
    let job = at(&cj, "spec.jobTemplate.spec");
    assert_eq!(text(job, "completionMode"), "Indexed");
    let n: u32 = text(job, "completions").parse().unwrap();
    assert_eq!(text(job, "parallelism"), n.to_string());
    assert!(text(job, "backoffLimitPerIndex").parse::<u32>().unwrap() >= 1);
    assert_eq!(
        text(job, "template.spec.restartPolicy"),
        "Never",
        "podFailurePolicy needs it"
    );
    let args = text(job, "template.spec.containers.0.args.0");
    assert!(
        args.contains(&format!("--shard \"$JOB_COMPLETION_INDEX/{n}\"")),
        "{args}"
    );
    let rules = at(job, "podFailurePolicy.rules");
    for (code, action) in [
        (1, "FailIndex"),
        (2, "FailIndex"),
        (3, "FailIndex"),
        (75, "Count"),
        (130, "Count"),
    ] {
        assert_eq!(policy_action(rules, code), action, "exit {code}");
    }
    assert!(
        text(job, "podFailurePolicy.rules.1.onPodConditions.0.type") == "DisruptionTarget"
            && text(job, "podFailurePolicy.rules.1.action") == "Ignore",
        "an evicted pod is not a failure"
    );
}

/// Runs the CronJob's container command as the pod of index `index` would, with the tools of
/// `bindir`, the Secret's values given by the test, and the backup volume at `backups`.
fn run_index(emu: &Emulator, bindir: &Path, backups: &Path, index: u32, token: &str) -> Outcome {
    let cj = cronjob();
    let c = at(&cj, "spec.jobTemplate.spec.template.spec.containers.0");
    let command: Vec<&str> = match at(c, "command") {
        Value::Seq(s) => s.iter().map(|v| v.as_str().unwrap()).collect(),
        _ => panic!("command: not a list"),
    };
    assert_eq!(command, ["/bin/sh", "-c"]);
    let runtime = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(command[0]);
    cmd.arg(command[1])
        .arg(text(c, "args.0"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("CLOUDFLARE_API_BASE_URL", &emu.base_url)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .current_dir(backups);
    let Value::Seq(env) = at(c, "env") else {
        panic!("env: not a list")
    };
    for e in env {
        let name = text(e, "name");
        let value = match e.get("value") {
            Some(v) if name == "BACKUP_DIR" => {
                assert_eq!(
                    v.as_str(),
                    Some(text(c, "volumeMounts.0.mountPath")),
                    "the dumps go to the volume"
                );
                backups.display().to_string()
            }
            Some(v) => v.as_str().unwrap().to_string(),
            None => match text(e, "valueFrom.secretKeyRef.key") {
                "token" => token.to_string(),
                "account-id" => ACCOUNT.to_string(),
                other => panic!("secret key {other}"),
            },
        };
        cmd.env(name, value);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait(child, Duration::from_secs(120))
}

fn manifests(dir: &Path) -> Vec<String> {
    files_in(dir)
        .iter()
        .filter(|f| f.ends_with(".json"))
        .map(|f| {
            let m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            m["database_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The image's build stage as a script: each `RUN` of the first stage in a copy of the
/// repository (the `COPY . .`), with `DESTDIR` in `scratch`; returns the image's root, what the
/// second stage copies to `/`.
fn build_image(scratch: &Path) -> PathBuf {
    let dockerfile = block(
        |k| matches!(k, Kind::File { name, .. } if name == "Dockerfile"),
        "FROM",
    );
    let lines: Vec<&str> = dockerfile
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let stages: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and the image: {dockerfile}");
    assert!(lines[stages[0]].ends_with(" AS build"), "{}", lines[0]);
    let src = scratch.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in ["Makefile", "Cargo.toml", "README.md", "docs", "scripts"] {
        copy(&repo_root().join(f), &src.join(f));
    }
    let image = scratch.join("image");
    let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
    let mut ran = 0;
    for l in &lines[stages[0] + 1..stages[1]] {
        if let Some(run) = l.strip_prefix("RUN ") {
            assert!(run.contains("DESTDIR=/image"), "{run}");
            let run = run.replace("DESTDIR=/image", &format!("DESTDIR={}", image.display()));
            let o = Command::new("sh")
                .args(["-c", &run])
                .current_dir(&src)
                .env("D1_BIN_DIR", &bindir)
                .env_remove("MAKEFLAGS")
                .env_remove("MFLAGS")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{run}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            ran += 1;
        } else {
            assert!(
                l.starts_with("WORKDIR /src") || *l == "COPY . .",
                "a build step the stand-in does not run: {l}"
            );
        }
    }
    assert_eq!(ran, 1);
    let last = &lines[stages[1]..];
    assert!(last.contains(&"COPY --from=build /image/ /"), "{last:?}");
    assert!(
        last.iter()
            .any(|l| l.starts_with("USER ") && !l.contains(" 0")),
        "the image does not run as root: {last:?}"
    );
    image
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn the_image_built_as_a_script_runs_the_cronjob_for_every_index_and_a_bad_token_fails_its_index() {
    let scratch = tempfile::tempdir().unwrap();
    let image = build_image(scratch.path());
    let tools = image.join("usr/local/bin");
    for t in TOOLS {
        assert!(tools.join(t).is_file(), "{t} is not in the image");
    }
    let emu = Emulator::start_empty(&["--seed-count", "12"]);
    let n: u32 = text(&cronjob(), "spec.jobTemplate.spec.completions")
        .parse()
        .unwrap();
    let backups = scratch.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    for i in 0..n {
        let o = run_index(&emu, &tools, &backups, i, TOKEN);
        assert_eq!(o.code, 0, "index {i}: {o:?}");
    }
    let mut ids = manifests(&backups);
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (12, 12), "each database once: {ids:?}");
    // A bad token: 3, which the policy fails at once instead of retrying.
    let o = run_index(&emu, &tools, &backups, 3, "not-the-token");
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("the API token was not accepted"),
        "{}",
        o.stderr
    );
    let rules = at(&cronjob(), "spec.jobTemplate.spec.podFailurePolicy.rules").clone();
    assert_eq!(policy_action(&rules, o.code), "FailIndex");
}

/// The workflow's `run:` script of the step named `name` (job `job`), `${{ matrix.shard }}`
/// filled in.
fn workflow_step(job: &str, name: &str, shard: u32) -> String {
    let wf = yaml::parse(&block(|k| *k == Kind::Workflow, "matrix:")).unwrap();
    let Value::Seq(steps) = at(&wf, &format!("jobs.{job}.steps")) else {
        panic!("steps")
    };
    let step = steps
        .iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no step {name:?} in job {job}"));
    text(step, "run").replace("${{ matrix.shard }}", &shard.to_string())
}

#[test]
fn a_shard_with_a_bad_token_records_3_and_the_report_job_fails_naming_it() {
    let emu = Emulator::start_empty(&["--seed-count", "8"]);
    let work = tempfile::tempdir().unwrap();
    let bindir = bin("d1-fetch").parent().unwrap().to_path_buf();
    let step = workflow_step("backup", "back up this shard, and record how it ended", 3);
    let o = wait(
        Command::new("bash")
            .args(["--noprofile", "--norc", "-e", "-c", &step])
            .current_dir(work.path())
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
            .env("CLOUDFLARE_API_BASE_URL", &emu.base_url)
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
            .env("CLOUDFLARE_API_TOKEN", "not-the-token")
            .env("SHARD", "3/8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(o.code, 3, "{o:?}");
    let status = work.path().join("status");
    assert_eq!(
        std::fs::read_to_string(status.join("shard-3")).unwrap(),
        "3\n"
    );
    // The other shards did well, but for shard 6, whose runner died before it could say.
    for i in [0, 1, 2, 4, 5, 7] {
        std::fs::write(status.join(format!("shard-{i}")), "0\n").unwrap();
    }
    let report = workflow_step("report", "every shard's result; the worst decides", 0);
    let o = wait(
        Command::new("bash")
            .args(["--noprofile", "--norc", "-e", "-c", &report])
            .current_dir(work.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(o.code, 3, "the worst decides: {o:?}");
    assert!(
        o.stdout.contains(
            "shard 3/8: exit 3, usage or credentials: fix the configuration, a retry cannot help"
        ),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("shard 6/8: exit 1: a backup failed or the job died"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("shard 0/8: ok"), "{}", o.stdout);
}
