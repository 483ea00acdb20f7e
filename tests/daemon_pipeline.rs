//! The daemon's pipeline on git2-built Debian-layout repositories, posting
//! to loopback fakes of GitHub and GitLab: what is commented and what is
//! not, restarts at every point between recording and posting, force-pushes,
//! failing repositories, and the operators' endpoints.

mod common;
mod fakes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abibot::config::{Config, RepoName};
use abibot::daemon::git::Start;
use abibot::daemon::health::RepoStatus;
use abibot::daemon::{Daemon, Failpoint, PollReport, RepoError};
use abibot::forge::RetryPolicy;
use abibot::history::CommitSha;
use abibot::state::FindingStatus;
use common::markdown::outside_code;
use common::{
    TestRepo, abi_file, changelog, debian_repo, defines, free_port, symvers, write_real_references,
};
use fakes::{FakeGithub, FakeGitlab, Fault, quick_retries};
use git2::Oid;

const TOKEN: &str = "ghp_daemonTestToken0000000000000000";
const REPO: &str = "kernel-team/linux";

fn fast() -> RetryPolicy {
    quick_retries(4, Duration::from_secs(2))
}

/// A packaging repository (changelog and defines of ABI 6.1.0-47 staged),
/// a state directory and a token file.
struct Env {
    dir: tempfile::TempDir,
    repo: TestRepo,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            repo: debian_repo(),
        };
        env.token("github-token", TOKEN);
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn token(&self, name: &str, value: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, value).unwrap();
        path
    }

    fn branch(&self) -> String {
        self.repo
            .repo
            .head()
            .unwrap()
            .shorthand()
            .unwrap()
            .to_owned()
    }

    /// A configuration with one repository posting to `forge` (TOML tables).
    fn config(&self, extra_repo_keys: &str, forge: &str) -> Config {
        let text = format!(
            r#"
state = "{state}"
poll_interval = "1s"

[[repo]]
name = "linux"
path = "{repo}"
branches = ["{branch}"]
{extra_repo_keys}
{forge}
"#,
            state = self.path("state.sqlite").display(),
            repo = self.repo.path().display(),
            branch = self.branch(),
        );
        Config::parse(&text, "test.toml").unwrap()
    }

    fn github(&self, gh: &FakeGithub) -> String {
        format!(
            "[repo.github]\nrepo = \"{REPO}\"\napi_url = \"{}\"\ntoken_file = \"{}\"\n",
            gh.url(),
            self.path("github-token").display()
        )
    }

    fn daemon(&self, config: Config) -> Arc<Daemon> {
        Arc::new(Daemon::new(config).unwrap().with_retry_policy(fast()))
    }
}

/// Polls with a daemon that "crashes" at `point`: the poll stops there,
/// leaving the database as the writes before it left it. The daemon is
/// returned for inspection; drop it before starting the next one.
async fn crash_at(env: &Env, config: &Config, point: Failpoint) -> Arc<Daemon> {
    let crashing = env.daemon(config.clone());
    crashing.set_failpoint(Some(point));
    let (_, result) = crashing.poll_once().await.pop().unwrap();
    match result {
        Err(RepoError::Failpoint(p)) if p == point => crashing,
        other => panic!("expected a stop at {point:?}, got {other:?}"),
    }
}

/// A daemon posting to `gh`, after its first poll (over the small baseline,
/// the start of what it watches), and its configuration for restarts.
async fn github_daemon_past_baseline(env: &Env, gh: &FakeGithub) -> (Arc<Daemon>, Config) {
    small_baseline(&env.repo);
    let config = env.config("", &env.github(gh));
    let daemon = env.daemon(config.clone());
    poll(&daemon).await;
    (daemon, config)
}

fn name() -> RepoName {
    RepoName::new("linux").unwrap()
}

async fn poll(daemon: &Arc<Daemon>) -> PollReport {
    let (_, result) = daemon.poll_once().await.pop().unwrap();
    result.unwrap()
}

/// Debian bookworm 6.1.0-47, the three real amd64 references.
fn real_baseline(r: &TestRepo) -> Oid {
    write_real_references(r, "6.1.0-47", "6.1.0-47");
    r.commit("Release 6.1.170-3")
}

/// A small Debian-layout repository: ABI 6.1.0-47, two flavours.
fn small_baseline(r: &TestRepo) -> Oid {
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kmalloc", 1), ("kfree", 2), ("printk", 3)]),
    );
    r.write(
        "debian/abi/6.1.0-47/amd64_rt_amd64",
        symvers(&[("kmalloc", 1), ("kfree", 2)]),
    );
    r.commit("Release 6.1.170-3")
}

fn small_break(r: &TestRepo, title: &str, crc: u32) -> Oid {
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kmalloc", crc), ("kfree", 2), ("printk", 3)]),
    );
    r.commit(title)
}

fn unrelated(r: &TestRepo, n: usize) -> Oid {
    r.write(&format!("debian/patches/p{n}.patch"), format!("patch {n}"));
    r.commit(&format!("Add patch {n}"))
}

fn reset_to(r: &TestRepo, commit: Oid) {
    let object = r.repo.find_object(commit, None).unwrap();
    r.repo.reset(&object, git2::ResetType::Mixed, None).unwrap();
}

fn marker_of(body: &str) -> &str {
    let start = body.find("<!-- abibot:finding=").expect("marker");
    &body[start..]
}

#[tokio::test]
async fn hidden_break_is_commented_once_and_unrelated_commits_are_not() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let base = real_baseline(&env.repo);
    let daemon = env.daemon(env.config("", &env.github(&gh)));

    // First start: the head is the starting point, history is not commented.
    let first = poll(&daemon).await;
    assert_eq!(first.branches[0].start, Start::First);
    assert_eq!(first.branches[0].head.as_str(), base.to_string());
    assert_eq!(gh.requests("POST") + gh.requests("GET"), 0);

    // "Refresh ABI reference files" rewrites 6.1.0-47 with 6.1.0-50's CRCs.
    write_real_references(&env.repo, "6.1.0-47", "6.1.0-50");
    let refresh = env.repo.commit("Refresh ABI reference files");
    let second = poll(&daemon).await;
    assert_eq!(second.posted, 1);
    assert_eq!(second.branches[0].commits, 1);
    let posts = gh.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].path,
        format!("/repos/{REPO}/commits/{refresh}/comments")
    );
    let comments = gh.comments_on(&refresh.to_string());
    assert_eq!(comments.len(), 1);
    let stored = daemon.state().findings(&name()).unwrap();
    assert_eq!(stored.len(), 1);
    let body = &comments[0].body;
    assert!(
        body.contains("hidden ABI break in ABI `6.1.0-47`"),
        "{body}"
    );
    assert!(body.contains("18,107 CRC changed"), "{body}");
    assert!(
        body.trim_end()
            .ends_with(&format!("<!-- abibot:finding={} -->", stored[0].id)),
        "{}",
        &body[body.len() - 100..]
    );
    assert_eq!(stored[0].status, FindingStatus::Posted);
    assert_eq!(stored[0].kind, "hidden-break");
    assert_eq!(stored[0].commit.as_str(), refresh.to_string());
    assert_eq!(
        stored[0].comment,
        Some((
            Some(comments[0].id.to_string()),
            Some(format!(
                "https://github.com/{REPO}/commit/{refresh}#commitcomment-{}",
                comments[0].id
            ))
        ))
    );
    assert_eq!(stored[0].body_sha256, abibot::state::body_hash(body));

    // An unrelated commit: scanned, nothing posted, nothing even listed.
    let requests_before = gh.seen.lock().unwrap().len();
    unrelated(&env.repo, 1);
    let third = poll(&daemon).await;
    assert_eq!(third.branches[0].commits, 1);
    assert_eq!(third.posted, 0);
    assert_eq!(gh.seen.lock().unwrap().len(), requests_before);
    assert_eq!(gh.all_comments().len(), 1);
    gh.assert_no_violations();
}

#[tokio::test]
async fn backfill_comments_on_history_but_not_on_bumps() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    small_baseline(&env.repo);
    let broken = small_break(&env.repo, "Refresh ABI reference files", 9);
    env.repo.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    let dropped = env.repo.commit("Drop rt");
    env.repo
        .write("debian/changelog", changelog("6.1.176-1", "b"));
    env.repo.write("debian/config/defines", defines("50", &[]));
    env.repo.remove("debian/abi/6.1.0-47");
    env.repo.write(
        "debian/abi/6.1.0-50/amd64_none_amd64",
        symvers(&[("kmalloc", 5)]),
    );
    env.repo.commit("Bump ABI to 50");
    let daemon = env.daemon(env.config("backfill = true", &env.github(&gh)));
    let report = poll(&daemon).await;
    assert_eq!(report.branches[0].start, Start::Backfill);
    assert_eq!(report.branches[0].commits, 4);
    assert_eq!(report.posted, 2);
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
    let lost = gh.comments_on(&dropped.to_string());
    assert_eq!(lost.len(), 1);
    assert!(
        lost[0].body.contains("ABI coverage lost"),
        "{}",
        lost[0].body
    );
    assert_eq!(gh.all_comments().len(), 2);
    let kinds: Vec<(String, FindingStatus)> = daemon
        .state()
        .findings(&name())
        .unwrap()
        .into_iter()
        .map(|f| (f.kind, f.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("hidden-break".into(), FindingStatus::Posted),
            ("coverage-lost".into(), FindingStatus::Posted),
            ("bump".into(), FindingStatus::Info),
        ]
    );
}

#[tokio::test]
async fn restart_between_recording_and_posting_posts_exactly_once() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (_, config) = github_daemon_past_baseline(&env, &gh).await;
    let broken = small_break(&env.repo, "Refresh", 9);

    let crashing = crash_at(&env, &config, Failpoint::AfterRecord).await;
    assert_eq!(crashing.state().pending(&name()).unwrap().len(), 1);
    drop(crashing);
    assert!(gh.posts().is_empty());

    // A fresh daemon over the same database: the progress already moved,
    // so only the outbox can bring the comment.
    let restarted = env.daemon(config);
    let report = poll(&restarted).await;
    assert_eq!(report.branches[0].start, Start::UpToDate);
    assert_eq!(report.posted, 1);
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
    assert_eq!(gh.all_comments().len(), 1);
    assert!(restarted.state().pending(&name()).unwrap().is_empty());
}

#[tokio::test]
async fn restart_between_posting_and_recording_never_posts_twice() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (_, config) = github_daemon_past_baseline(&env, &gh).await;
    let broken = small_break(&env.repo, "Refresh", 9);
    env.repo.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    let dropped = env.repo.commit("Drop rt");

    let crashing = crash_at(&env, &config, Failpoint::AfterPost).await;
    // The first comment is on the forge, but the database does not know.
    assert_eq!(gh.posts().len(), 1);
    assert_eq!(crashing.state().pending(&name()).unwrap().len(), 2);
    drop(crashing);

    let restarted = env.daemon(config.clone());
    let report = poll(&restarted).await;
    assert_eq!((report.found, report.posted), (1, 1));
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
    assert_eq!(gh.comments_on(&dropped.to_string()).len(), 1);
    assert_eq!(gh.posts().len(), 2);
    let stored = restarted.state().findings(&name()).unwrap();
    assert!(stored.iter().all(|f| f.status == FindingStatus::Posted));
    // The found comment was recorded with its forge id and URL.
    assert!(
        stored
            .iter()
            .all(|f| f.comment.as_ref().unwrap().0.is_some())
    );

    // Once more: nothing left to do, nothing posted.
    let report = poll(&env.daemon(config)).await;
    assert_eq!((report.found, report.posted), (0, 0));
    assert_eq!(gh.all_comments().len(), 2);
}

#[tokio::test]
async fn force_push_resumes_from_the_merge_base_without_repeating() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let base = small_baseline(&env.repo);
    let daemon = env.daemon(env.config("", &env.github(&gh)));
    poll(&daemon).await;
    let b = small_break(&env.repo, "Refresh (first try)", 9);
    let old_head = unrelated(&env.repo, 1);
    poll(&daemon).await;
    assert_eq!(gh.comments_on(&b.to_string()).len(), 1);

    // Rewritten: back to the base, a different break, then more work.
    reset_to(&env.repo, base);
    let b2 = small_break(&env.repo, "Refresh (second try)", 10);
    unrelated(&env.repo, 2);
    let report = poll(&daemon).await;
    assert_eq!(
        report.branches[0].start,
        Start::Rewritten {
            last: CommitSha::of(old_head),
            base: CommitSha::of(base),
        }
    );
    assert_eq!(report.branches[0].commits, 2);
    assert_eq!(gh.comments_on(&b2.to_string()).len(), 1);

    // And back again onto the first line: its break is already commented.
    reset_to(&env.repo, b);
    unrelated(&env.repo, 3);
    let report = poll(&daemon).await;
    assert!(matches!(report.branches[0].start, Start::Rewritten { .. }));
    assert_eq!(report.posted, 0);
    assert_eq!(gh.comments_on(&b.to_string()).len(), 1);
    assert_eq!(gh.all_comments().len(), 2);
    assert_eq!(gh.posts().len(), 2);
}

#[tokio::test]
async fn unauthorized_repository_fails_alone_and_recovers_when_the_token_is_fixed() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let gl = FakeGitlab::start("kernel-team%2Fother", "glpat-ok").await;
    small_baseline(&env.repo);
    env.token("github-token", "ghp_revoked");
    env.token("gitlab-token", "glpat-ok");
    let text = format!(
        r#"
state = "{state}"
[[repo]]
name = "linux"
path = "{repo}"
branches = ["{branch}"]
{github}
[[repo]]
name = "other"
path = "{repo}"
branches = ["{branch}"]
[repo.gitlab]
base_url = "{gitlab}"
project = "kernel-team/other"
token_file = "{gitlab_token}"
"#,
        state = env.path("state.sqlite").display(),
        repo = env.repo.path().display(),
        branch = env.branch(),
        github = env.github(&gh),
        gitlab = gl.url(),
        gitlab_token = env.path("gitlab-token").display(),
    );
    let daemon = env.daemon(Config::parse(&text, "t.toml").unwrap());
    daemon.poll_once().await;
    let broken = small_break(&env.repo, "Refresh", 9);
    let results = daemon.poll_once().await;
    let err = results[0].1.as_ref().unwrap_err();
    let message = err.to_string();
    assert!(message.contains("HTTP 401: Bad credentials"), "{message}");
    assert!(message.contains("check it"), "{message}");
    assert!(!message.contains("ghp_revoked"), "{message}");
    // One attempt: a 401 is not retried.
    assert_eq!(gh.requests("GET"), 1);
    let health = daemon.health().repo(&name()).unwrap();
    assert_eq!(health.status, RepoStatus::Failing);
    assert_eq!(health.last_error.as_deref(), Some(message.as_str()));
    // The other repository was served.
    assert_eq!(results[1].1.as_ref().unwrap().posted, 1);
    assert_eq!(gl.comments_on(&broken.to_string()).len(), 1);
    let other = daemon
        .health()
        .repo(&RepoName::new("other").unwrap())
        .unwrap();
    assert_eq!(other.status, RepoStatus::Ok);
    assert!(other.last_success.is_some());

    // The operator fixes the token file: the next poll reads it again.
    env.token("github-token", TOKEN);
    let results = daemon.poll_once().await;
    assert_eq!(results[0].1.as_ref().unwrap().posted, 1);
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
    assert_eq!(
        daemon.health().repo(&name()).unwrap().status,
        RepoStatus::Ok
    );
    gl.assert_no_violations();
    gh.assert_no_violations();
}

#[tokio::test]
async fn a_refused_comment_is_recorded_as_failed_and_the_rest_go_on() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (daemon, _) = github_daemon_past_baseline(&env, &gh).await;
    small_break(&env.repo, "Refresh", 9);
    env.repo.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    let dropped = env.repo.commit("Drop rt");
    gh.fail_next("POST", Fault::Status(422));
    let report = poll(&daemon).await;
    assert_eq!((report.failed, report.posted), (1, 1));
    assert_eq!(gh.posts().len(), 2);
    assert_eq!(gh.comments_on(&dropped.to_string()).len(), 1);
    let stored = daemon.state().findings(&name()).unwrap();
    assert_eq!(stored[0].status, FindingStatus::Failed);
    assert!(
        stored[0].error.as_deref().unwrap().contains("HTTP 422"),
        "{:?}",
        stored[0].error
    );
    // Failed findings are not retried.
    let report = poll(&daemon).await;
    assert_eq!(report.posted + report.failed, 0);
    assert_eq!(gh.posts().len(), 2);
}

#[test]
fn outside_code_sees_through_spans_fences_and_code_elements() {
    let md =
        "a `x` b ``y`z`` c\n```text\nhidden\n```\nd ` e\n  ````\nin\n````\n<code>@x</code> <b>";
    assert_eq!(outside_code(md), "a  b  c\nd ` e\n <b>\n");
}

#[tokio::test]
async fn symbol_names_and_titles_cannot_escape_code() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let hostile = [
        "@kernel-team",
        "[click](https://evil.example/x)",
        "tick`name",
        "<img src=x onerror=alert(1)>",
        "*bold*_em_",
        "#1234",
        "|pipe|",
    ];
    let base: Vec<(&str, u32)> = hostile.iter().map(|n| (*n, 1)).collect();
    env.repo
        .write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&base));
    env.repo.commit("base");
    let daemon = env.daemon(env.config("", &env.github(&gh)));
    poll(&daemon).await;
    let changed: Vec<(&str, u32)> = hostile.iter().map(|n| (*n, 2)).collect();
    env.repo
        .write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&changed));
    env.repo
        .commit("Refresh for @kernel-team, see [this](https://evil.example) `x`");
    assert_eq!(poll(&daemon).await.posted, 1);
    let body = gh.all_comments().pop().unwrap().body;
    let visible = outside_code(&body);
    for name in hostile {
        assert!(body.contains(name), "{name} not listed at all:\n{body}");
        assert!(!visible.contains(name), "{name} outside code:\n{visible}");
    }
    for fragment in ["@kernel-team", "https://evil.example"] {
        assert!(
            !visible.contains(fragment),
            "{fragment} outside code:\n{visible}"
        );
    }
    assert!(
        visible.contains("<!-- abibot:finding="),
        "the marker is plain HTML"
    );
}

#[tokio::test]
async fn extra_ignore_rules_from_the_configuration_apply() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    small_baseline(&env.repo);
    let daemon = env.daemon(env.config("ignore = [\"name:kmal*\"]", &env.github(&gh)));
    poll(&daemon).await;
    // kmalloc's CRC changes: ignored by the configuration's rule.
    small_break(&env.repo, "Refresh (kmalloc only)", 9);
    assert_eq!(poll(&daemon).await.posted, 0);
    // kfree's changes too: not ignored.
    env.repo.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kmalloc", 9), ("kfree", 7), ("printk", 3)]),
    );
    let kfree = env.repo.commit("Refresh (kfree)");
    assert_eq!(poll(&daemon).await.posted, 1);
    let body = &gh.comments_on(&kfree.to_string())[0].body;
    assert!(body.contains("`kfree`"), "{body}");
    assert!(!body.contains("kmalloc"), "{body}");
}

#[tokio::test]
async fn comments_name_the_watched_modules_a_finding_breaks() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    env.repo.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-47", "amd64_none_amd64"),
    );
    env.repo.commit("Release 6.1.170-3");
    let fat = common::FAT_KO;
    let daemon = env.daemon(env.config(&format!("modules = [\"{fat}\"]"), &env.github(&gh)));
    poll(&daemon).await;
    env.repo.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        abi_file("6.1.0-50", "amd64_none_amd64"),
    );
    let refresh = env.repo.commit("Refresh ABI reference files");
    assert_eq!(poll(&daemon).await.posted, 1);
    let body = &gh.comments_on(&refresh.to_string())[0].body;
    assert!(body.contains("**Breaks `fat.ko`**: "), "{body}");
}

#[tokio::test]
async fn url_sources_are_cloned_then_fetched() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    small_baseline(&env.repo);
    let url_keys = format!(
        "url = \"{}\"\nbranches = [\"{}\"]",
        env.repo.path().display(),
        env.branch()
    );
    let text = format!(
        "state = \"{}\"\ncache_dir = \"{}\"\n[[repo]]\nname = \"linux\"\n{url_keys}\n{}",
        env.path("state.sqlite").display(),
        env.path("cache").display(),
        env.github(&gh)
    );
    let daemon = env.daemon(Config::parse(&text, "t.toml").unwrap());
    poll(&daemon).await;
    assert!(env.path("cache/linux.git/HEAD").exists());
    let broken = small_break(&env.repo, "Refresh", 9);
    assert_eq!(poll(&daemon).await.posted, 1);
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
}

#[tokio::test]
async fn unreachable_remotes_fail_the_repository_with_the_url() {
    let env = Env::new();
    small_baseline(&env.repo);
    let port = free_port();
    for url in [
        format!("ssh://git@127.0.0.1:{port}/kernel-team/linux.git"),
        format!("https://127.0.0.1:{port}/kernel-team/linux.git"),
    ] {
        let text = format!(
            "state = \"{}\"\ncache_dir = \"{}\"\n[[repo]]\nname = \"linux\"\nurl = \"{url}\"\nbranches = [\"master\"]\n[repo.stdout]\n",
            env.path("state.sqlite").display(),
            env.path("cache").display(),
        );
        let daemon = env.daemon(Config::parse(&text, "t.toml").unwrap());
        let (_, result) = daemon.poll_once().await.pop().unwrap();
        let err = result.unwrap_err().to_string();
        assert!(err.starts_with(&format!("fetch {url}: ")), "{err}");
        // The transport exists in this build: the failure is the connection.
        assert!(!err.contains("unsupported URL protocol"), "{err}");
        assert_eq!(
            daemon.health().repo(&name()).unwrap().status,
            RepoStatus::Failing
        );
    }
}

#[tokio::test]
async fn gitlab_end_to_end_with_a_restart_after_posting() {
    let env = Env::new();
    let gl = FakeGitlab::start("kernel-team%2Flinux", "glpat-secret").await;
    env.token("gitlab-token", "glpat-secret");
    // Other people's notes on the commit, over several pages.
    *gl.page_cap.lock().unwrap() = 2;
    small_baseline(&env.repo);
    let forge = format!(
        "[repo.gitlab]\nbase_url = \"{}\"\nproject = \"kernel-team/linux\"\ntoken_file = \"{}\"\n",
        gl.url(),
        env.path("gitlab-token").display()
    );
    let config = env.config("", &forge);
    poll(&env.daemon(config.clone())).await;
    let broken = small_break(&env.repo, "Refresh", 9);
    for i in 0..5 {
        gl.add_comment(&broken.to_string(), &format!("LGTM {i}"));
    }
    let crashing = crash_at(&env, &config, Failpoint::AfterPost).await;
    drop(crashing);
    let restarted = env.daemon(config);
    let report = poll(&restarted).await;
    assert_eq!((report.found, report.posted), (1, 0));
    let ours: Vec<_> = gl
        .comments_on(&broken.to_string())
        .into_iter()
        .filter(|c| c.body.contains("<!-- abibot:finding="))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(marker_of(&ours[0].body).starts_with("<!-- abibot:finding="));
    assert_eq!(gl.posts().len(), 1);
    gl.assert_no_violations();
}

#[tokio::test]
async fn file_sink_keeps_the_at_most_once_promise() {
    let env = Env::new();
    small_baseline(&env.repo);
    let out = env.path("comments.jsonl");
    let config = env.config("", &format!("[repo.file]\npath = \"{}\"", out.display()));
    poll(&env.daemon(config.clone())).await;
    let broken = small_break(&env.repo, "Refresh", 9);
    drop(crash_at(&env, &config, Failpoint::AfterPost).await);
    let report = poll(&env.daemon(config)).await;
    assert_eq!((report.found, report.posted), (1, 0));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["commit"], broken.to_string());
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_daemon_serves_health_and_metrics_and_stops_on_request() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    small_baseline(&env.repo);
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut config = env.config("", &env.github(&gh));
    config.listen = Some(addr);
    let daemon = env.daemon(config);
    let running = tokio::spawn(daemon.clone().run());
    // Wait for the first poll to set the starting point.
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.health().repo(&name()).unwrap().status != RepoStatus::Ok {
        assert!(Instant::now() < deadline, "first poll did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gh.fail_next("POST", Fault::Status(500));
    let broken = small_break(&env.repo, "Refresh", 9);
    let landed = Instant::now();
    while gh.comments_on(&broken.to_string()).is_empty() {
        assert!(Instant::now() < deadline, "no comment posted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "commit -> comment: {:?} (poll interval 1 s)",
        landed.elapsed()
    );
    // Let the poll record its success.
    while daemon
        .health()
        .repo(&name())
        .unwrap()
        .last_poll_seconds
        .is_none()
        || daemon.state().pending(&name()).unwrap().len() == 1
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["repos"]["linux"]["status"], "ok");
    assert!(
        doc["repos"]["linux"]["last_success"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let (status, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "abibot_comments_posted_total{repo=\"linux\"} 1",
        "abibot_commits_scanned_total{repo=\"linux\"} 1",
        "abibot_findings_total{repo=\"linux\",kind=\"hidden-break\"} 1",
        "abibot_forge_errors_total{repo=\"linux\",status=\"500\"} 1",
        "abibot_repo_up{repo=\"linux\"} 1",
        "# TYPE abibot_poll_duration_seconds summary",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("abibot_poll_duration_seconds_count{repo=\"linux\"}"));
    assert_eq!(http_get(addr, "/nope").await.0, 404);

    daemon.shutdown();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("daemon stops on request")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "endpoint closed"
    );
}

#[tokio::test]
async fn healthz_reports_failing_repositories_with_503() {
    let env = Env::new();
    small_baseline(&env.repo);
    let mut config = env.config("", "[repo.stdout]");
    // A branch that does not exist makes every poll fail.
    config.repos[0].branches = vec!["no-such-branch".into()];
    let daemon = env.daemon(config);
    let (_, result) = daemon.poll_once().await.pop().unwrap();
    let err = result.unwrap_err().to_string();
    assert!(err.contains("branch no-such-branch"), "{err}");
    let (healthy, doc) = daemon.health().healthz();
    assert!(!healthy);
    assert!(doc.contains("\"failing\""), "{doc}");
    assert!(doc.contains("no-such-branch"), "{doc}");
    assert!(
        daemon
            .health()
            .prometheus()
            .contains("abibot_repo_up{repo=\"linux\"} 0")
    );
}

/// A daemon posting to `gh` that defers a finding on a commit the forge does
/// not know for at most `attempts` polls, polled once for the baseline; then
/// a fresh hidden break the forge does not know yet (its copy of the mirror
/// lags behind the watched clone).
async fn break_the_forge_lags_behind(
    env: &Env,
    gh: &FakeGithub,
    attempts: u32,
) -> (Arc<Daemon>, Oid) {
    small_baseline(&env.repo);
    let daemon = Arc::new(
        Daemon::new(env.config("", &env.github(gh)))
            .unwrap()
            .with_retry_policy(fast())
            .with_unknown_commit_attempts(attempts),
    );
    poll(&daemon).await;
    let broken = small_break(&env.repo, "Refresh", 9);
    gh.unknown_commits
        .lock()
        .unwrap()
        .insert(broken.to_string());
    (daemon, broken)
}

#[tokio::test]
async fn a_commit_the_forge_does_not_know_yet_stays_pending_until_it_does() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (daemon, broken) = break_the_forge_lags_behind(&env, &gh, 3).await;
    for attempt in 1..=2 {
        let report = poll(&daemon).await;
        assert_eq!((report.deferred, report.failed, report.posted), (1, 0, 0));
        let stored = &daemon.state().findings(&name()).unwrap()[0];
        assert_eq!(stored.status, FindingStatus::Pending);
        assert_eq!(stored.attempts, attempt);
        let reason = stored.error.as_deref().unwrap();
        assert!(reason.contains("No commit found for SHA"), "{reason}");
    }
    assert!(
        gh.posts().is_empty(),
        "refused at the listing, never posted"
    );
    // The mirror catches up: the next poll posts it.
    gh.unknown_commits.lock().unwrap().clear();
    let report = poll(&daemon).await;
    assert_eq!((report.deferred, report.posted), (0, 1));
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
    assert_eq!(
        daemon.state().findings(&name()).unwrap()[0].status,
        FindingStatus::Posted
    );
}

#[tokio::test]
async fn a_commit_the_forge_never_learns_fails_after_the_bound_and_can_be_retried() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (daemon, broken) = break_the_forge_lags_behind(&env, &gh, 2).await;
    assert_eq!(poll(&daemon).await.deferred, 1);
    assert_eq!(poll(&daemon).await.failed, 1);
    let failed = daemon.state().list(Some(FindingStatus::Failed)).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("No commit found")
    );
    // Failed: not tried again by itself.
    let gets = gh.requests("GET");
    poll(&daemon).await;
    assert_eq!(gh.requests("GET"), gets);
    // The operator puts it back once the forge has the commit.
    gh.unknown_commits.lock().unwrap().clear();
    daemon.state().retry(&failed[0].id).unwrap();
    assert_eq!(poll(&daemon).await.posted, 1);
    assert_eq!(gh.comments_on(&broken.to_string()).len(), 1);
}

#[tokio::test]
async fn an_exhausted_rate_limit_is_reported_as_such_not_as_missing_permission() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (daemon, _) = github_daemon_past_baseline(&env, &gh).await;
    small_break(&env.repo, "Refresh", 9);
    gh.fail_next(
        "GET",
        Fault::RateLimit403 {
            reset_in: Duration::from_secs(3600),
        },
    );
    let (_, result) = daemon.poll_once().await.pop().unwrap();
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("rate limited by the forge until"),
        "{message}"
    );
    assert!(!message.contains("permission"), "{message}");
    // The finding waits in the outbox for the next poll.
    assert_eq!(daemon.state().pending(&name()).unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreadable_token_does_not_stop_scanning_and_recording() {
    let env = Env::new();
    let gh = FakeGithub::start(REPO, TOKEN).await;
    small_baseline(&env.repo);
    let forge = env.github(&gh).replace(
        "token_file = ",
        "token_env = \"ABIBOT_TEST_SURELY_UNSET_TOKEN\"\n#",
    );
    let daemon = env.daemon(env.config("", &forge));
    poll(&daemon).await;
    let broken = small_break(&env.repo, "Refresh", 9);
    let (_, result) = daemon.poll_once().await.pop().unwrap();
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("ABIBOT_TEST_SURELY_UNSET_TOKEN is not set"),
        "{message}"
    );
    // Scanned and recorded all the same: the finding waits for a token.
    let pending = daemon.state().pending(&name()).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].commit, CommitSha::of(broken));
    assert_eq!(gh.requests("GET") + gh.requests("POST"), 0);
}
