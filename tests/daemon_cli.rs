//! The `abibot` binary: `demo`, `config check`, `daemon` (kill -9 at both
//! crash points, SIGTERM during a request, tokens never printed) and
//! `scan --post`, against loopback fakes.

mod common;
mod fakes;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use abibot::config::RepoName;
use abibot::state::{FindingStatus, State, StoredFinding};
use common::{TestRepo, hidden_break_repo, sigterm};
use fakes::{FakeGithub, FakeGitlab, Fault};
use git2::Oid;

const BIN: &str = env!("CARGO_BIN_EXE_abibot");
const REPO: &str = "kernel-team/linux";

fn abibot(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The name of the one repository every configuration here watches.
fn linux() -> RepoName {
    RepoName::new("linux").unwrap()
}

/// A repository whose history holds one hidden break, and a state directory.
struct Env {
    dir: tempfile::TempDir,
    repo: TestRepo,
    broken: Oid,
}

impl Env {
    fn new() -> Env {
        let (repo, broken) = hidden_break_repo();
        Env {
            dir: tempfile::tempdir().unwrap(),
            repo,
            broken,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a configuration with backfill (the history's break is posted
    /// on the first poll) and returns its path.
    fn config(&self, forge: &str, extra_global: &str) -> PathBuf {
        let branch = self
            .repo
            .repo
            .head()
            .unwrap()
            .shorthand()
            .unwrap()
            .to_owned();
        let text = format!(
            "state = \"{}\"\npoll_interval = \"1s\"\n{extra_global}\n[[repo]]\nname = \"linux\"\npath = \"{}\"\nbranches = [\"{branch}\"]\nbackfill = true\n{forge}\n",
            self.path("state.sqlite").display(),
            self.repo.path().display(),
        );
        let path = self.path("abibot.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn github_env(gh: &FakeGithub) -> String {
        format!(
            "[repo.github]\nrepo = \"{REPO}\"\napi_url = \"{}\"\ntoken_env = \"ABIBOT_GITHUB_TOKEN\"\n",
            gh.url()
        )
    }

    fn state(&self) -> State {
        State::open(&self.path("state.sqlite")).unwrap()
    }

    /// The findings stored for the one repository, in the order recorded.
    fn findings(&self) -> Vec<StoredFinding> {
        self.state().findings(&linux()).unwrap()
    }

    /// How many findings wait in the outbox.
    fn pending(&self) -> usize {
        self.state().pending(&linux()).unwrap().len()
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(cmd: &mut std::process::Command) -> Output {
    let mut cmd =
        tokio::process::Command::from(std::mem::replace(cmd, std::process::Command::new("true")));
    cmd.stdin(Stdio::null());
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("command finished")
        .unwrap()
}

#[test]
fn demo_prints_the_comments_it_would_post() {
    let out = abibot(&["demo"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // The history it built: `  <sha12> <title>` lines.
    let sha_of = |title: &str| {
        stdout
            .lines()
            .find(|l| l.ends_with(title) && l.starts_with("  "))
            .unwrap_or_else(|| panic!("{title} not listed:\n{stdout}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let refresh = sha_of("Refresh ABI reference files");
    let dropped = sha_of("Drop the rt featureset's ABI reference");
    let comments: Vec<&str> = stdout.split("──── comment on commit ").skip(1).collect();
    assert_eq!(comments.len(), 2, "{stdout}");
    assert!(comments[0].starts_with(&refresh), "{}", &comments[0][..200]);
    assert!(comments[0].contains("hidden ABI break in ABI `6.1.0-47`"));
    assert!(comments[0].contains("18,107 CRC changed"));
    assert!(comments[1].starts_with(&dropped));
    assert!(comments[1].contains("ABI coverage lost in ABI `6.1.0-47`"));
    assert!(comments[1].contains("The whole `amd64 rt` featureset lost its reference."));
    assert_eq!(stdout.matches("<!-- abibot:finding=").count(), 2);
    assert!(
        stdout
            .contains("5 commits scanned; findings: hidden-break, coverage-lost, bump; 2 comments"),
        "{}",
        &stdout[stdout.len().saturating_sub(600)..]
    );
}

#[test]
fn config_check_validates_and_names_the_line() {
    let env = Env::new();
    let good = env.config("[repo.stdout]", "");
    let out = abibot(&["config", "check"]).arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("valid; state"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("linux ("),
        "{}",
        text(&out.stdout)
    );
    let bad = env.path("bad.toml");
    std::fs::write(&bad, "state = \"s\"\npoll_interval = \"soon\"\n").unwrap();
    let out = abibot(&["config", "check"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:2: `poll_interval`"), "{stderr}");
}

/// Runs the daemon once with full tracing and a token in its environment;
/// returns everything it printed.
async fn traced_once(config: &Path, token: &str) -> (Option<i32>, String) {
    let out = run(abibot(&["daemon", "--once", "--config"])
        .arg(config)
        .env("RUST_LOG", "trace")
        .env("ABIBOT_GITHUB_TOKEN", token)
        .env("ABIBOT_GITLAB_TOKEN", token))
    .await;
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_appear_in_logs_or_errors() {
    let good = "ghp_G00dSecretTokenValue1234567890";
    let bad = "ghp_Wr0ngSecretTokenValue987654321";
    for format in ["text", "json"] {
        // Refused token: the error is clear and does not repeat the token.
        let env = Env::new();
        let gh = FakeGithub::start(REPO, good).await;
        let config = env.config(&Env::github_env(&gh), &format!("log_format = \"{format}\""));
        let (code, printed) = traced_once(&config, bad).await;
        assert_eq!(code, Some(2), "{printed}");
        assert!(printed.contains("HTTP 401: Bad credentials"), "{printed}");
        assert!(printed.contains("repositories failed"), "{printed}");
        assert!(!printed.contains(bad), "token printed:\n{printed}");
        assert!(
            !printed.contains("Wr0ngSecret"),
            "token printed:\n{printed}"
        );

        // Accepted token, every library's trace logging on: still never printed.
        gh.set_token(bad);
        let (code, printed) = traced_once(&config, bad).await;
        assert_eq!(code, Some(0), "{printed}");
        assert_eq!(gh.comments_on(&env.broken.to_string()).len(), 1);
        assert!(printed.contains("comment posted"), "{printed}");
        assert!(
            !printed.contains("Wr0ngSecret"),
            "token printed:\n{printed}"
        );
    }

    // GitLab sends its token in a header of its own.
    let env = Env::new();
    let gl = FakeGitlab::start("kernel-team%2Flinux", bad).await;
    let forge = format!(
        "[repo.gitlab]\nbase_url = \"{}\"\nproject = \"kernel-team/linux\"\ntoken_env = \"ABIBOT_GITLAB_TOKEN\"\n",
        gl.url()
    );
    let config = env.config(&forge, "");
    let (code, printed) = traced_once(&config, good).await;
    assert_eq!(code, Some(2), "{printed}");
    assert!(printed.contains("HTTP 401"), "{printed}");
    assert!(!printed.contains("G00dSecret"), "token printed:\n{printed}");
    gl.set_token(good);
    let (code, printed) = traced_once(&config, good).await;
    assert_eq!(code, Some(0), "{printed}");
    assert!(!printed.contains("G00dSecret"), "token printed:\n{printed}");
    assert_eq!(gl.comments_on(&env.broken.to_string()).len(), 1);
}

/// `abibot daemon --once` with the fakes' token; it must succeed.
async fn once(config: &Path) {
    let out = run(abibot(&["daemon", "--once", "--config"])
        .arg(config)
        .env("ABIBOT_GITHUB_TOKEN", "tok"))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn spawn_daemon(config: &Path, token: &str) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(config)
        .env("RUST_LOG", "abibot=debug")
        .env("ABIBOT_GITHUB_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_post_is_in_flight_then_restart() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    // The forge takes the comment, but answers only after the kill.
    gh.fail_next("POST", Fault::Slow(Duration::from_secs(20)));
    let config = env.config(&Env::github_env(&gh), "");
    let mut child = spawn_daemon(&config, "tok");
    wait_until("the POST", Duration::from_secs(60), || {
        gh.posts().len() == 1
    })
    .await;
    child.kill().await.unwrap(); // SIGKILL
    assert_eq!(env.pending(), 1);

    once(&config).await;
    assert_eq!(gh.comments_on(&env.broken.to_string()).len(), 1);
    assert_eq!(gh.posts().len(), 1, "posted again after the restart");
    let stored = env.findings();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, FindingStatus::Posted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_recording_before_posting_then_restart() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    // The marker search (after the outbox is written, before any POST) hangs.
    gh.fail_next("GET", Fault::Slow(Duration::from_secs(20)));
    let config = env.config(&Env::github_env(&gh), "");
    let mut child = spawn_daemon(&config, "tok");
    wait_until("the marker search", Duration::from_secs(60), || {
        gh.requests("GET") == 1
    })
    .await;
    child.kill().await.unwrap();
    assert!(gh.posts().is_empty());
    assert_eq!(env.pending(), 1);

    once(&config).await;
    assert_eq!(gh.posts().len(), 1);
    assert_eq!(gh.comments_on(&env.broken.to_string()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_records_it() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    gh.fail_next("POST", Fault::Slow(Duration::from_millis(1500)));
    let config = env.config(&Env::github_env(&gh), "");
    let child = spawn_daemon(&config, "tok");
    let pid = child.id().unwrap();
    wait_until("the POST", Duration::from_secs(60), || {
        gh.posts().len() == 1
    })
    .await;
    sigterm(pid);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the daemon stops after SIGTERM")
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    assert!(stderr.contains("signal received"), "{stderr}");
    assert!(stderr.contains("abibot daemon stopped"), "{stderr}");
    let stored = env.findings();
    assert_eq!(stored[0].status, FindingStatus::Posted, "{stderr}");
    assert_eq!(gh.posts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_post_posts_each_problem_once_and_agrees_with_the_daemon() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    let config = env.config(&Env::github_env(&gh), "");
    let scan_post = || {
        let mut cmd = abibot(&["scan", "--post", "--config"]);
        // The repository and branch come from the configuration.
        cmd.arg(&config).env("ABIBOT_GITHUB_TOKEN", "tok");
        cmd
    };
    let out = run(&mut scan_post()).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("hidden-break"),
        "{}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("1 comments posted, 0 already there"),
        "{stderr}"
    );
    let out = run(&mut scan_post()).await;
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("0 comments posted, 1 already there"),
        "{stderr}"
    );
    assert_eq!(gh.comments_on(&env.broken.to_string()).len(), 1);
    // The daemon (backfill) computes the same finding id: it finds the
    // comment instead of posting another.
    once(&config).await;
    assert_eq!(gh.posts().len(), 1);
    let stored = env.findings();
    assert_eq!(stored[0].status, FindingStatus::Posted);
    assert!(
        gh.comments_on(&env.broken.to_string())[0]
            .body
            .contains(&format!("<!-- abibot:finding={} -->", stored[0].id))
    );
}

fn state_cmd(config: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = abibot(&["state"]);
    cmd.args(args).arg("--config").arg(config);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_failed_findings_and_put_them_back() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    let config = env.config(&Env::github_env(&gh), "");
    // Before the daemon ever ran, there is nothing to list.
    let out = run(&mut state_cmd(&config, &["list"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no state database at"),
        "{}",
        text(&out.stderr)
    );

    gh.fail_next("POST", Fault::Status(422));
    once(&config).await;
    let out = run(&mut state_cmd(&config, &["list", "--failed"])).await;
    let listed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored = env.state().list(None).unwrap();
    let id = stored[0].id.to_string();
    let row = listed.lines().find(|l| l.starts_with(&id)).expect(&listed);
    for part in ["linux", &env.broken.to_string()[..12], "failed", "HTTP 422"] {
        assert!(row.contains(part), "{part} missing: {row}");
    }
    let out = run(&mut state_cmd(&config, &["list", "--pending"])).await;
    assert_eq!(text(&out.stdout), "no findings\n");

    // Not a finding id; an id the database does not hold.
    let out = run(&mut state_cmd(&config, &["retry", "ghp_notanid"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a finding id"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&mut state_cmd(&config, &["retry", &"0".repeat(24)])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no finding"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&mut state_cmd(&config, &["retry", &id])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("back in the outbox"));
    once(&config).await;
    assert_eq!(gh.comments_on(&env.broken.to_string()).len(), 1);
    let out = run(&mut state_cmd(&config, &["list"])).await;
    assert!(
        text(&out.stdout).contains("posted"),
        "{}",
        text(&out.stdout)
    );
    // A posted finding cannot be retried.
    let out = run(&mut state_cmd(&config, &["retry", &id])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is posted, not failed"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_hanging_listing_without_waiting_for_its_timeout() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, "tok").await;
    // The daemon's own request timeout is the default policy's.
    let timeout = abibot::forge::RetryPolicy::default().request_timeout;
    gh.fail_next("GET", Fault::Slow(timeout * 3));
    let config = env.config(&Env::github_env(&gh), "");
    let child = spawn_daemon(&config, "tok");
    let pid = child.id().unwrap();
    wait_until("the marker search", Duration::from_secs(60), || {
        gh.requests("GET") == 1
    })
    .await;
    let signalled = Instant::now();
    sigterm(pid);
    let out = tokio::time::timeout(timeout * 2, child.wait_with_output())
        .await
        .expect("the daemon stops after SIGTERM")
        .unwrap();
    let took = signalled.elapsed();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    assert!(
        took < timeout / 4,
        "stopped {took:?} after SIGTERM, timeout {timeout:?}"
    );
    // Nothing lost, nothing posted: the finding waits for the next start.
    assert!(gh.posts().is_empty());
    assert_eq!(env.pending(), 1);
    once(&config).await;
    assert_eq!(gh.posts().len(), 1);
}

#[test]
fn a_zero_byte_state_file_stops_the_daemon_with_what_to_do() {
    let env = Env::new();
    let config = env.config("[repo.stdout]\n", "");
    std::fs::write(env.path("state.sqlite"), b"").unwrap();
    let out = abibot(&["daemon", "--once", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not an abibot state database (0 bytes)"),
        "{stderr}"
    );
    assert!(stderr.contains("restore it from backup"), "{stderr}");
    assert_eq!(
        std::fs::metadata(env.path("state.sqlite")).unwrap().len(),
        0
    );
}
