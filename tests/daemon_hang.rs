//! A git remote that accepts the connection and never answers: `daemon
//! --once` fails after the configured idle timeout instead of hanging,
//! `/healthz` reports the repository as failing, and SIGTERM stops the
//! daemon within seconds while the fetch is still waiting, without losing or
//! repeating the comment another repository posted.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use abibot::config::RepoName;
use abibot::state::{FindingStatus, State};
use common::{free_port, hidden_break_repo, sigterm};

const BIN: &str = env!("CARGO_BIN_EXE_abibot");

/// How long a test lets the binary run before calling it hung: far above
/// every timeout the tests configure for the fetch to fail, far below the
/// "never" of the bug.
const HUNG: Duration = Duration::from_secs(90);

/// A TCP server that accepts every connection, reads what the client sends
/// and never answers: a stalled git remote behind a working network.
struct SilentRemote {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl SilentRemote {
    fn start() -> SilentRemote {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                // Drain the request, keep the connection open, never answer.
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        SilentRemote { port, accepted }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/kernel-team/linux.git", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// `GET path` on the health endpoint: status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// The `[[repo]]` table of the silent remote.
fn silent_repo(remote: &SilentRemote) -> String {
    format!(
        "[[repo]]\nname = \"stalled\"\nurl = \"{}\"\nbranches = [\"master\"]\n[repo.stdout]\n",
        remote.url()
    )
}

fn write_config(dir: &Path, globals: &str, repos: &str) -> PathBuf {
    let text = format!(
        "state = \"{}\"\npoll_interval = \"1s\"\nfetch_connect_timeout = \"5s\"\n{globals}\n{repos}",
        dir.join("state.sqlite").display()
    );
    let path = dir.join("abibot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for a child, killing it and failing the test when it hangs.
fn wait_or_fail(mut child: std::process::Child, what: &str) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), started.elapsed());
        }
        if started.elapsed() > HUNG {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {HUNG:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn daemon(config: &Path, once: bool) -> std::process::Child {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("daemon");
    if once {
        cmd.arg("--once");
    }
    cmd.arg("--config")
        .arg(config)
        .env("RUST_LOG", "abibot=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < HUNG, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn once_fails_after_the_idle_timeout_instead_of_hanging() {
    let remote = SilentRemote::start();
    let dir = tempfile::tempdir().unwrap();
    let idle = Duration::from_secs(2);
    let config = write_config(
        dir.path(),
        "fetch_idle_timeout = \"2s\"",
        &silent_repo(&remote),
    );
    let (out, took) = wait_or_fail(daemon(&config, true), "daemon --once");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        remote.accepted() >= 1,
        "the fetch never connected: {stderr}"
    );
    assert!(stderr.contains("stalled: fetch"), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(stderr.contains("fetch_idle_timeout"), "{stderr}");
    // It failed because the remote stayed silent for the idle timeout, not
    // for another reason before it.
    assert!(took >= idle, "{took:?}: {stderr}");
}

#[test]
fn healthz_reports_the_stalled_repository_as_failing() {
    let remote = SilentRemote::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!("fetch_idle_timeout = \"1s\"\nlisten = \"127.0.0.1:{port}\""),
        &silent_repo(&remote),
    );
    let child = daemon(&config, false);
    let pid = child.id();
    let mut health = None;
    wait_for("/healthz to report the failure", || {
        health = get(port, "/healthz").filter(|(status, _)| *status == 503);
        health.is_some()
    });
    let (_, body) = health.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "failing", "{body}");
    let repo = &doc["repos"]["stalled"];
    assert_eq!(repo["status"], "failing", "{body}");
    let error = repo["last_error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert!(error.contains(&remote.url()), "{error}");
    let (_, metrics) = get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("abibot_repo_up{repo=\"stalled\"} 0"),
        "{metrics}"
    );
    sigterm(pid);
    let (out, _) = wait_or_fail(child, "daemon after SIGTERM");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_stops_the_daemon_while_a_fetch_waits_and_loses_nothing() {
    let remote = SilentRemote::start();
    let dir = tempfile::tempdir().unwrap();
    // A repository with one hidden break, posted to a file sink.
    let (repo, _) = hidden_break_repo();
    let branch = repo.repo.head().unwrap().shorthand().unwrap().to_owned();
    let comments = dir.path().join("comments.jsonl");
    let local = format!(
        "[[repo]]\nname = \"local\"\npath = \"{}\"\nbranches = [\"{branch}\"]\nbackfill = true\n[repo.file]\npath = \"{}\"\n",
        repo.path().display(),
        comments.display()
    );
    // The fetch would wait an hour: only shutdown can end it.
    let config = write_config(
        dir.path(),
        "fetch_idle_timeout = \"1h\"\nconcurrency = 2",
        &format!("{}\n{local}", silent_repo(&remote)),
    );
    let child = daemon(&config, false);
    let pid = child.id();
    let posted = || {
        std::fs::read_to_string(&comments)
            .unwrap_or_default()
            .lines()
            .count()
    };
    wait_for("the fetch and the local comment", || {
        remote.accepted() >= 1 && posted() == 1
    });
    sigterm(pid);
    let (out, took) = wait_or_fail(child, "daemon after SIGTERM");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    assert!(stderr.contains("abibot daemon stopped"), "{stderr}");
    // The grace given to git work at shutdown, plus room for a loaded machine.
    let bound = abibot::daemon::ABANDON_GRACE + Duration::from_secs(5);
    assert!(took < bound, "{took:?} (bound {bound:?}): {stderr}");

    // Nothing lost, nothing repeated: the comment is recorded as posted,
    // and a restart (without the stalled remote) does not post it again.
    let state = State::open(&dir.path().join("state.sqlite")).unwrap();
    let stored = state.findings(&RepoName::new("local").unwrap()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, FindingStatus::Posted);
    assert!(
        state
            .progress(&RepoName::new("stalled").unwrap(), "master")
            .unwrap()
            .is_none()
    );
    drop(state);
    let config = write_config(dir.path(), "", &local);
    let (out, _) = wait_or_fail(daemon(&config, true), "daemon --once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(posted(), 1);
}

/// git's own messages echo the URL they failed on; whatever reaches the
/// caller has the URL's credentials redacted (config refuses such URLs, so
/// this is the second line of defence, checked with git2 itself).
#[test]
fn git_errors_never_show_url_credentials() {
    use abibot::config::{FetchTimeouts, ForgeConfig, RepoConfig, RepoSource};
    abibot::daemon::git::set_timeouts(FetchTimeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(1),
    })
    .unwrap();
    let remote = SilentRemote::start();
    let closed = free_port();
    let cache = tempfile::tempdir().unwrap();
    for url in [
        format!(
            "http://bot:S3cretT0kenValue@127.0.0.1:{}/x.git",
            remote.port
        ),
        format!("http://S3cretT0kenValue@127.0.0.1:{closed}/x.git"),
    ] {
        let repo = RepoConfig {
            name: RepoName::new("leaky").unwrap(),
            source: RepoSource::Url(url.clone()),
            branches: vec!["master".into()],
            layout: None,
            root: None,
            ignore: Default::default(),
            modules: Vec::new(),
            explain: Default::default(),
            backfill: false,
            forge: ForgeConfig::Stdout,
            line: 0,
        };
        let abort = std::sync::atomic::AtomicBool::new(false);
        let Err(e) = abibot::daemon::git::open(&repo, cache.path(), &abort) else {
            panic!("{url}: the fetch succeeded");
        };
        let printed = format!("{e} {e:?}");
        assert!(!printed.contains("S3cretT0kenValue"), "{printed}");
        assert!(printed.contains("<redacted>@127.0.0.1"), "{printed}");
    }
}
