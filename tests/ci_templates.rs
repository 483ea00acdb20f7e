//! The CI templates (`ci/gitlab/abibot.yml`, `ci/github/abibot.yml`): every
//! `abibot` command line in them parses with the real command definitions,
//! they ask for the permissions the README documents, and their scripts,
//! run as each CI runs them (the variables it sets, a pushed branch) against
//! loopback fakes of the GitLab and GitHub APIs, post the comment.

mod common;
mod fakes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use abibot::cli::Cli;
use clap::CommandFactory;
use clap::error::ErrorKind;
use yaml_rust2::{Yaml, YamlLoader};

fn template(path: &str) -> Yaml {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: one YAML document");
    docs.remove(0)
}

fn gitlab() -> Yaml {
    template("ci/gitlab/abibot.yml")
}

fn github() -> Yaml {
    template("ci/github/abibot.yml")
}

fn strings(list: &Yaml) -> Vec<String> {
    match list {
        Yaml::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap().to_owned())
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        Yaml::BadValue => Vec::new(),
        other => panic!("not a list of strings: {other:?}"),
    }
}

/// The GitLab job's shell, as the runner runs it: before_script, then script.
fn gitlab_script(doc: &Yaml) -> String {
    let job = &doc["abibot"];
    let mut lines = strings(&job["before_script"]);
    lines.extend(strings(&job["script"]));
    lines.join("\n")
}

/// The GitHub job's `run:` steps, in order, each with its `env:`.
fn github_steps(doc: &Yaml) -> Vec<(String, BTreeMap<String, String>)> {
    let steps = doc["jobs"]["abibot"]["steps"].as_vec().unwrap();
    steps
        .iter()
        .filter_map(|step| {
            let run = step["run"].as_str()?.to_owned();
            let env = match step["env"].as_hash() {
                Some(env) => env
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().unwrap().to_owned(),
                            v.as_str().unwrap().to_owned(),
                        )
                    })
                    .collect(),
                None => BTreeMap::new(),
            };
            Some((run, env))
        })
        .collect()
}

/// Words after which a word starts a command.
const COMMAND_START: &[&str] = &["if", "!", "then", "else", "do", "&&", "||", "exec", "time"];
/// Words that end a simple command.
const COMMAND_END: &[&str] = &["||", "&&", "|", ";", ">", ">>", "2>&1", "2>/dev/null"];

/// Every `abibot ...` command line of a shell script, split as the shell
/// splits it (variables stay unexpanded: clap takes them as values).
fn invocations(script: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let words = shlex::split(line).unwrap_or_else(|| panic!("cannot split: {line}"));
        for (i, word) in words.iter().enumerate() {
            let starts = i == 0 || COMMAND_START.contains(&words[i - 1].as_str());
            if word == "abibot" && starts {
                let call: Vec<String> = words[i..]
                    .iter()
                    .take_while(|w| !COMMAND_END.contains(&w.as_str()))
                    .cloned()
                    .collect();
                found.push(call);
            }
        }
    }
    found
}

/// Asks clap whether `call` is a command line abibot accepts.
fn assert_accepted(template: &str, call: &[String]) {
    match Cli::command().try_get_matches_from(call) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::DisplayVersion | ErrorKind::DisplayHelp) => {}
        Err(e) => panic!("{template}: `{}` is refused: {e}", call.join(" ")),
    }
}

fn all_invocations() -> Vec<(&'static str, Vec<String>)> {
    let mut calls: Vec<(&str, Vec<String>)> = Vec::new();
    for call in invocations(&gitlab_script(&gitlab())) {
        calls.push(("gitlab", call));
    }
    for (run, _) in github_steps(&github()) {
        for call in invocations(&run) {
            calls.push(("github", call));
        }
    }
    calls
}

#[test]
fn every_abibot_command_line_in_the_templates_exists() {
    let calls = all_invocations();
    for (template, call) in &calls {
        assert_accepted(template, call);
    }
    for template in ["gitlab", "github"] {
        let posts: Vec<_> = calls
            .iter()
            .filter(|(t, c)| *t == template && c.get(1).map(String::as_str) == Some("scan"))
            .collect();
        // With --since (the pushed commits) and without (a new branch).
        assert_eq!(posts.len(), 2, "{template}: {posts:?}");
        assert!(posts.iter().all(|(_, c)| c.contains(&"--post".to_owned())));
        assert!(posts.iter().any(|(_, c)| c.contains(&"--since".to_owned())));
        let checks = calls
            .iter()
            .filter(|(t, c)| *t == template && c[1] == "config");
        assert_eq!(checks.count(), 1, "{template}: config check");
    }
}

#[test]
fn the_command_line_check_refuses_a_flag_that_does_not_exist() {
    // The check above can fail: a misspelt flag or a flag of another
    // subcommand is refused, as in a template it would be at run time.
    let script = "abibot scan --post --config c.toml --sinse HEAD\nabibot config check --post";
    let calls = invocations(script);
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert!(
            Cli::command().try_get_matches_from(&call).is_err(),
            "{call:?}"
        );
    }
    // `command -v abibot` names the program without running it.
    assert!(invocations("if ! command -v abibot >/dev/null; then").is_empty());
}

#[test]
fn gitlab_template_runs_on_pushes_with_the_whole_history() {
    let doc = gitlab();
    let job = &doc["abibot"];
    let rule = job["rules"][0]["if"].as_str().unwrap();
    assert!(rule.contains("$CI_PIPELINE_SOURCE == \"push\""), "{rule}");
    assert!(
        rule.contains("$CI_COMMIT_BRANCH =~ $ABIBOT_BRANCHES"),
        "{rule}"
    );
    assert_eq!(job["variables"]["GIT_DEPTH"].as_str(), Some("0"));
    assert_eq!(job["allow_failure"]["exit_codes"][0].as_i64(), Some(1));
    for var in [
        "ABIBOT_BRANCHES",
        "ABIBOT_CONFIG",
        "ABIBOT_IMAGE",
        "ABIBOT_DEB_URL",
    ] {
        assert!(!doc["variables"][var].is_badvalue(), "no default for {var}");
    }
}

#[test]
fn github_workflow_asks_only_for_contents_write_on_pushes() {
    let doc = github();
    let permissions = doc["permissions"].as_hash().unwrap();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    assert_eq!(doc["permissions"]["contents"].as_str(), Some("write"));
    let branches = doc["on"]["push"]["branches"].as_vec().unwrap();
    assert!(!branches.is_empty());
    let checkout = &doc["jobs"]["abibot"]["steps"][0];
    assert!(
        checkout["uses"]
            .as_str()
            .unwrap()
            .starts_with("actions/checkout@")
    );
    assert_eq!(checkout["with"]["fetch-depth"].as_i64(), Some(0));
}

/// A directory whose `abibot` is the binary under test, for PATH.
fn abibot_on_path() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_abibot"), dir.path().join("abibot")).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    (dir, path)
}

/// Runs `script` with bash as a runner would (`-e`: a failing command ends
/// it), with `env` added to the environment: (exit code, stdout, stderr).
fn run_bash(script: &str, cwd: &Path, env: &BTreeMap<String, String>) -> (i32, String, String) {
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", script])
        .current_dir(cwd)
        .envs(env)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (
        out.status.code().unwrap(),
        text(out.stdout),
        text(out.stderr),
    )
}

fn branch_of(repo: &common::TestRepo) -> String {
    repo.repo.head().unwrap().shorthand().unwrap().to_owned()
}

const ZEROS: &str = "0000000000000000000000000000000000000000";

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_job_comments_on_the_hidden_break_once() {
    let (repo, broken) = common::hidden_break_repo();
    let release = repo.repo.find_commit(broken).unwrap().parent_id(0).unwrap();
    let gl = fakes::FakeGitlab::start("4242", "glpat-ci-template-token").await;
    let (_bin, path) = abibot_on_path();
    let scratch = tempfile::tempdir().unwrap();
    let doc = gitlab();
    let mut env: BTreeMap<String, String> = doc["variables"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let vars = [
        ("PATH", path),
        ("TMPDIR", scratch.path().display().to_string()),
        ("CI_PROJECT_NAME", "linux".to_owned()),
        ("CI_PROJECT_DIR", repo.path().display().to_string()),
        ("CI_PROJECT_ID", "4242".to_owned()),
        ("CI_SERVER_URL", gl.url()),
        ("CI_COMMIT_BRANCH", branch_of(&repo)),
        ("CI_COMMIT_SHA", broken.to_string()),
        ("CI_COMMIT_BEFORE_SHA", ZEROS.to_owned()),
        ("ABIBOT_GITLAB_TOKEN", "glpat-ci-template-token".to_owned()),
    ];
    env.extend(vars.map(|(k, v)| (k.to_owned(), v)));
    let script = gitlab_script(&doc);
    // A new branch: the whole history; the hidden break is commented on and
    // the job exits 1, which the template allows (a warning).
    let first = run_bash(&script, repo.path(), &env);
    assert_eq!(first.0, 1, "{first:?}");
    let notes = gl.comments_on(&broken.to_string());
    assert_eq!(notes.len(), 1, "{:?}", gl.all_comments());
    assert!(
        notes[0].body.contains("<!-- abibot:finding="),
        "{}",
        notes[0].body
    );
    assert_eq!(gl.all_comments().len(), 1);
    // The push of the break alone (--since its parent): found again, the
    // note already there, nothing posted twice.
    env.insert("CI_COMMIT_BEFORE_SHA".to_owned(), release.to_string());
    let again = run_bash(&script, repo.path(), &env);
    assert_eq!(again.0, 1, "{again:?}");
    assert_eq!(gl.all_comments().len(), 1);
    assert!(gl.requests("GET") >= 2);
    gl.assert_no_violations();
}

/// The value of a `${{ expression }}` as GitHub would substitute it.
fn github_expression(value: &str, known: &BTreeMap<&str, String>) -> String {
    let Some(expr) = value.strip_prefix("${{").and_then(|v| v.strip_suffix("}}")) else {
        return value.to_owned();
    };
    let expr = expr.trim();
    known
        .get(expr)
        .unwrap_or_else(|| panic!("the test does not know `{expr}`"))
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn github_workflow_comments_on_the_hidden_break() {
    let (repo, broken) = common::hidden_break_repo();
    let gh = fakes::FakeGithub::start("kernel-team/linux", "ghs_ci_template_token").await;
    let (_bin, path) = abibot_on_path();
    let runner_temp = tempfile::tempdir().unwrap();
    let branch = branch_of(&repo);
    let known: BTreeMap<&str, String> = [
        ("vars.ABIBOT_DEB_URL", String::new()),
        ("vars.ABIBOT_CONFIG", String::new()),
        ("secrets.GITHUB_TOKEN", "ghs_ci_template_token".to_owned()),
        ("github.event.before", ZEROS.to_owned()),
    ]
    .into();
    let runner: BTreeMap<String, String> = [
        ("PATH", path),
        ("RUNNER_TEMP", runner_temp.path().display().to_string()),
        ("GITHUB_REPOSITORY", "kernel-team/linux".to_owned()),
        ("GITHUB_WORKSPACE", repo.path().display().to_string()),
        ("GITHUB_REF_NAME", branch),
        ("GITHUB_SHA", broken.to_string()),
        ("GITHUB_API_URL", gh.url()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .into();
    let steps = github_steps(&github());
    assert_eq!(steps.len(), 2, "install, then scan");
    let mut outputs = String::new();
    for (run, step_env) in steps {
        let mut env = runner.clone();
        for (k, v) in step_env {
            env.insert(k, github_expression(&v, &known));
        }
        let (code, stdout, stderr) = run_bash(&run, repo.path(), &env);
        assert_eq!(code, 0, "{run}\n{stdout}\n{stderr}");
        outputs.push_str(&stdout);
    }
    assert!(outputs.contains("::warning::"), "{outputs}");
    let comments = gh.comments_on(&broken.to_string());
    assert_eq!(comments.len(), 1, "{:?}", gh.all_comments());
    assert!(comments[0].body.contains("<!-- abibot:finding="));
    gh.assert_no_violations();
}
