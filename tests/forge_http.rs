//! The GitHub and GitLab clients against loopback fakes of the real APIs:
//! request shapes, pagination, authentication, and the retry helper's
//! behaviour on every class of failure.

mod fakes;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use abibot::config::{GithubAuth, GithubConfig, GitlabConfig, GitlabProject, SecretRef};
use abibot::findings::FindingId;
use abibot::forge::github::Github;
use abibot::forge::gitlab::Gitlab;
use abibot::forge::{
    Cancel, ErrorClass, Forge, ForgeError, PaceLimits, Pacer, Published, Publisher, Retrier,
    RetryPolicy,
};
use abibot::history::CommitSha;
use fakes::{Fake, FakeGithub, FakeGitlab, Fault, INSTALLATION_ID, quick_retries};

const TOKEN: &str = "ghp_test0123456789abcdef";

fn sha(n: u8) -> CommitSha {
    format!("{n:02x}").repeat(20).parse().unwrap()
}

/// The finding every published comment here is for.
fn id() -> FindingId {
    "0123456789abcdef01234567".parse().unwrap()
}

fn fast() -> RetryPolicy {
    // The timeout is long enough for a loaded CI machine; the slowness
    // faults exceed it.
    quick_retries(5, Duration::from_millis(1500))
}

struct Secret {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn token_file(token: &str) -> Secret {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    Secret { _dir: dir, path }
}

fn github_at(url: &str, repo: &str, secret: &Secret) -> Github {
    let config = GithubConfig {
        repo: repo.to_owned(),
        api_url: url.to_owned(),
        auth: GithubAuth::Token(SecretRef::File(secret.path.clone())),
    };
    Github::new(&config, fast().request_timeout).unwrap()
}

/// A fake GitHub for `o/r` and a forge talking to it with the right token;
/// keep the `Secret` alive as long as the forge.
async fn github_o_r() -> (FakeGithub, Secret, Arc<dyn Forge>) {
    let gh = FakeGithub::start("o/r", TOKEN).await;
    let secret = token_file(TOKEN);
    let forge: Arc<dyn Forge> = Arc::new(github_at(&gh.url(), "o/r", &secret));
    (gh, secret, forge)
}

fn gitlab_at(url: &str, project: GitlabProject, secret: &Secret) -> Gitlab {
    let config = GitlabConfig {
        base_url: url.to_owned(),
        project,
        token: SecretRef::File(secret.path.clone()),
    };
    Gitlab::new(&config, fast().request_timeout).unwrap()
}

/// A publisher that counts failed attempts by label.
fn publisher(
    forge: Arc<dyn Forge>,
    policy: RetryPolicy,
) -> (Publisher, Arc<std::sync::Mutex<Vec<String>>>) {
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = errors.clone();
    let retrier = Retrier::new(policy, Cancel::never()).observe(Arc::new(move |e: &ForgeError| {
        seen.lock().unwrap().push(e.label())
    }));
    let pacer = Arc::new(Pacer::new(PaceLimits::none()));
    (Publisher::new(forge, retrier, pacer), errors)
}

#[tokio::test]
async fn github_posts_and_lists_as_the_api_expects() {
    let gh = FakeGithub::start("kernel-team/linux", TOKEN).await;
    let secret = token_file(TOKEN);
    let forge = github_at(&gh.url(), "kernel-team/linux", &secret);
    let body = "### abibot\n\n`x`\n<!-- abibot:finding=abc -->\n";
    let posted = forge.post_comment(&sha(1), body).await.unwrap();
    assert_eq!(posted.body, body);
    assert_eq!(posted.id.as_deref(), Some("1"));
    assert_eq!(
        posted.url.as_deref(),
        Some(
            format!(
                "https://github.com/kernel-team/linux/commit/{}#commitcomment-1",
                sha(1)
            )
            .as_str()
        )
    );
    let stored = gh.comments_on(sha(1).as_str());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, body);
    assert!(gh.comments_on(sha(2).as_str()).is_empty());

    // Pagination: the fake serves 2 per page and links the next page under
    // another path (`/repositories/<id>/...`), as GitHub does.
    *gh.page_cap.lock().unwrap() = 2;
    for i in 0..4 {
        gh.add_comment(sha(1).as_str(), &format!("someone else {i}"));
    }
    let listed = forge.list_comments(&sha(1)).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0].body, body);
    assert_eq!(listed[4].body, "someone else 3");
    let gets: Vec<(String, String)> = gh
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| (s.path.clone(), s.query.clone()))
        .collect();
    assert_eq!(gets.len(), 3, "{gets:?}");
    assert_eq!(
        gets[0].0,
        format!("/repos/kernel-team/linux/commits/{}/comments", sha(1))
    );
    assert_eq!(gets[0].1, "per_page=100");
    assert!(gets[2].0.starts_with("/repositories/987654/"), "{gets:?}");
    assert!(gets[2].1.ends_with("page=3"), "{gets:?}");
    gh.assert_no_violations();
}

#[tokio::test]
async fn github_enterprise_api_under_a_path() {
    let gh = FakeGithub::start_at("/api/v3", "corp/kernel", TOKEN).await;
    let secret = token_file(TOKEN);
    let forge = github_at(&format!("{}/api/v3", gh.url()), "corp/kernel", &secret);
    forge.post_comment(&sha(3), "hello").await.unwrap();
    *gh.page_cap.lock().unwrap() = 1;
    gh.add_comment(sha(3).as_str(), "second");
    assert_eq!(forge.list_comments(&sha(3)).await.unwrap().len(), 2);
    let paths = gh.paths();
    assert!(paths.iter().all(|p| p.starts_with("/api/v3/")), "{paths:?}");
    gh.assert_no_violations();
}

#[tokio::test]
async fn github_app_installation_token_is_minted_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    let generated = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl is needed to generate a test key");
    assert!(generated.status.success(), "{generated:?}");
    let gh = FakeGithub::start("kernel-team/linux", "ghs_installation_token").await;
    let config = GithubConfig {
        repo: "kernel-team/linux".into(),
        api_url: gh.url(),
        auth: GithubAuth::App {
            app_id: 1234,
            private_key: SecretRef::File(key),
            installation_id: INSTALLATION_ID,
        },
    };
    let forge = Github::new(&config, fast().request_timeout).unwrap();
    forge.post_comment(&sha(4), "from the app").await.unwrap();
    assert_eq!(gh.comments_on(sha(4).as_str()).len(), 1);
    let paths = gh.paths();
    assert_eq!(
        paths[0],
        format!("/app/installations/{INSTALLATION_ID}/access_tokens")
    );
    gh.assert_no_violations();
}

#[tokio::test]
async fn gitlab_posts_notes_with_an_encoded_project_path_and_pages_by_header() {
    let gl = FakeGitlab::start("kernel-team%2Flinux", "glpat-secret").await;
    let secret = token_file("glpat-secret");
    let forge = gitlab_at(
        &gl.url(),
        GitlabProject::Path("kernel-team/linux".into()),
        &secret,
    );
    let body = "note body <!-- abibot:finding=f1 -->";
    let posted = forge.post_comment(&sha(5), body).await.unwrap();
    assert_eq!(posted.body, body);
    assert_eq!(posted.id, None, "GitLab commit comments have no id");
    assert_eq!(
        posted.url,
        Some(format!(
            "{}/kernel-team/linux/-/commit/{}",
            gl.url(),
            sha(5)
        ))
    );
    *gl.page_cap.lock().unwrap() = 2;
    for i in 0..4 {
        gl.add_comment(sha(5).as_str(), &format!("other {i}"));
    }
    let listed = forge.list_comments(&sha(5)).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().any(|c| c.body == body));
    assert_eq!(gl.requests("GET"), 3);
    let first_get = gl
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.method == "GET")
        .cloned()
        .unwrap();
    assert_eq!(
        first_get.path,
        format!(
            "/api/v4/projects/kernel-team%2Flinux/repository/commits/{}/comments",
            sha(5)
        )
    );
    assert_eq!(first_get.query, "per_page=100&page=1");
    gl.assert_no_violations();
}

#[tokio::test]
async fn gitlab_numeric_project_and_wrong_token() {
    let gl = FakeGitlab::start("4242", "right").await;
    let good = token_file("right");
    let forge = gitlab_at(&gl.url(), GitlabProject::Id(4242), &good);
    forge.post_comment(&sha(6), "n").await.unwrap();
    assert_eq!(gl.comments_on(sha(6).as_str()).len(), 1);
    let bad = token_file("wrong");
    let forge = gitlab_at(&gl.url(), GitlabProject::Id(4242), &bad);
    let err = forge.post_comment(&sha(6), "n").await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Status { status: 401, .. }),
        "{err}"
    );
    assert_eq!(err.class(SystemTime::now()), ErrorClass::Unauthorized);
}

/// Both forges, each behind its fake, for the fault tests.
enum Server {
    Github(FakeGithub),
    Gitlab(FakeGitlab),
}

impl Server {
    async fn both() -> Vec<(Server, Arc<dyn Forge>, Secret)> {
        let gh = FakeGithub::start("o/r", TOKEN).await;
        let gh_secret = token_file(TOKEN);
        let gh_forge: Arc<dyn Forge> = Arc::new(github_at(&gh.url(), "o/r", &gh_secret));
        let gl = FakeGitlab::start("7", TOKEN).await;
        let gl_secret = token_file(TOKEN);
        let gl_forge: Arc<dyn Forge> =
            Arc::new(gitlab_at(&gl.url(), GitlabProject::Id(7), &gl_secret));
        vec![
            (Server::Github(gh), gh_forge, gh_secret),
            (Server::Gitlab(gl), gl_forge, gl_secret),
        ]
    }

    fn fake(&self) -> &Fake {
        match self {
            Server::Github(s) => s,
            Server::Gitlab(s) => s,
        }
    }
}

#[tokio::test]
async fn publish_posts_once_per_marker() {
    for (server, forge, _secret) in Server::both().await {
        let (publisher, _) = publisher(forge, fast());
        let body = format!("body\n{}\n", id().marker());
        let first = publisher.publish(&sha(7), &id(), &body).await.unwrap();
        assert!(matches!(first, Published::Posted(_)));
        let second = publisher.publish(&sha(7), &id(), &body).await.unwrap();
        assert!(matches!(second, Published::Found(_)));
        assert_eq!(server.fake().comments_on(sha(7).as_str()).len(), 1);
        assert_eq!(server.fake().posts().len(), 1);
        server.fake().assert_no_violations();
    }
}

#[tokio::test]
async fn server_error_then_success() {
    for (server, forge, _secret) in Server::both().await {
        server.fake().fail_next("POST", Fault::Status(500));
        let (publisher, errors) = publisher(forge, fast());
        let result = publisher
            .publish(&sha(8), &id(), &format!("b {}", id().marker()))
            .await
            .unwrap();
        assert!(matches!(result, Published::Posted(_)));
        assert_eq!(server.fake().comments_on(sha(8).as_str()).len(), 1);
        assert_eq!(server.fake().posts().len(), 2);
        assert_eq!(*errors.lock().unwrap(), ["500"]);
    }
}

#[tokio::test]
async fn retries_are_ours_alone_and_bounded() {
    // octocrab's own retry layer would repeat each 5xx internally; with it
    // off, two attempts mean exactly two POSTs.
    for (server, forge, _secret) in Server::both().await {
        for _ in 0..5 {
            server.fake().fail_next("POST", Fault::Status(502));
        }
        let policy = RetryPolicy {
            max_attempts: 2,
            ..fast()
        };
        let (publisher, errors) = publisher(forge, policy);
        let err = publisher.publish(&sha(9), &id(), "b").await.unwrap_err();
        assert!(
            matches!(err, ForgeError::Status { status: 502, .. }),
            "{err}"
        );
        assert_eq!(server.fake().posts().len(), 2);
        assert_eq!(errors.lock().unwrap().len(), 2);
        assert!(server.fake().all_comments().is_empty());
    }
}

#[tokio::test]
async fn github_403_rate_limit_waits_for_the_reset() {
    let (gh, _secret, forge) = github_o_r().await;
    gh.fail_next(
        "POST",
        Fault::RateLimit403 {
            reset_in: Duration::from_secs(2),
        },
    );
    let (publisher, errors) = publisher(forge, fast());
    let started = Instant::now();
    publisher.publish(&sha(10), &id(), "b").await.unwrap();
    let posts = gh.posts();
    assert_eq!(posts.len(), 2);
    // The reset is whole seconds 2 s ahead: the retry must come after it, not
    // after the 10-40 ms backoff.
    let gap = posts[1].at.duration_since(posts[0].at);
    assert!(gap >= Duration::from_millis(1000), "retried after {gap:?}");
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(gh.comments_on(sha(10).as_str()).len(), 1);
    assert_eq!(*errors.lock().unwrap(), ["403"]);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    for (server, forge, _secret) in Server::both().await {
        server
            .fake()
            .fail_next("POST", Fault::Retry429 { after_secs: 1 });
        let (publisher, _) = publisher(forge, fast());
        publisher.publish(&sha(11), &id(), "b").await.unwrap();
        let posts = server.fake().posts();
        assert_eq!(posts.len(), 2);
        let gap = posts[1].at.duration_since(posts[0].at);
        assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
        assert_eq!(server.fake().comments_on(sha(11).as_str()).len(), 1);
    }
}

/// The slow answer cost at least one timeout, and nothing but transport
/// trouble followed: after the client gives up on a request, the next one may
/// meet the pooled connection the server is closing (a connection error,
/// also retried), the more so on a loaded machine. A status error, or a
/// stalled answer reported as anything but a timeout, would be a bug.
fn assert_timeouts_only(errors: &[String]) {
    assert!(
        errors.iter().any(|e| e == "timeout"),
        "no timeout seen: {errors:?}"
    );
    assert!(
        errors.iter().all(|e| e == "timeout" || e == "connection"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_is_retried_and_the_comment_lands_once() {
    // A slow POST takes effect, but its answer comes after the client gave
    // up: the retry's listing finds it. A slow listing is simply retried.
    for (method, n, found) in [("POST", 12, true), ("GET", 13, false)] {
        for (server, forge, _secret) in Server::both().await {
            let slow = Fault::Slow(Duration::from_secs(5));
            server.fake().fail_next(method, slow);
            let (publisher, errors) = publisher(forge, fast());
            let result = publisher
                .publish(&sha(n), &id(), &format!("b {}", id().marker()))
                .await
                .unwrap();
            let was_found = matches!(result, Published::Found(_));
            assert_eq!(was_found, found, "slow {method}: {result:?}");
            assert_eq!(server.fake().comments_on(sha(n).as_str()).len(), 1);
            assert_timeouts_only(&errors.lock().unwrap());
        }
    }
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    for (status, class) in [
        (401, ErrorClass::Unauthorized),
        (404, ErrorClass::Unauthorized),
        (422, ErrorClass::Rejected),
    ] {
        for (server, forge, _secret) in Server::both().await {
            server.fake().fail_next("POST", Fault::Status(status));
            let (publisher, errors) = publisher(forge, fast());
            let err = publisher.publish(&sha(14), &id(), "b").await.unwrap_err();
            assert_eq!(err.class(SystemTime::now()), class, "{err}");
            assert_eq!(server.fake().posts().len(), 1, "{status}");
            assert_eq!(errors.lock().unwrap().len(), 1);
        }
    }
}

#[tokio::test]
async fn unreachable_forge_is_a_transient_connection_error() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = token_file(TOKEN);
    let forge: Arc<dyn Forge> = Arc::new(github_at(
        &format!("http://127.0.0.1:{port}"),
        "o/r",
        &secret,
    ));
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let retrier = Retrier::new(
        RetryPolicy {
            max_attempts: 3,
            ..fast()
        },
        Cancel::never(),
    )
    .observe(Arc::new(move |e: &ForgeError| {
        assert_eq!(e.label(), "connection", "{e}");
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let publisher = Publisher::new(forge, retrier, Arc::new(Pacer::new(PaceLimits::none())));
    let err = publisher.publish(&sha(15), &id(), "b").await.unwrap_err();
    assert_eq!(err.class(SystemTime::now()), ErrorClass::Transient);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_fetched_stops_the_listing() {
    let gh = FakeGithub::start("o/r", TOKEN).await;
    let secret = token_file(TOKEN);
    let forge = github_at(&gh.url(), "o/r", &secret);
    gh.add_comment(sha(20).as_str(), "someone");
    // `Link: <.../repositories/987654/commits/<sha>/comments?per_page=100&page=1>; rel="next", ...`
    *gh.paging.lock().unwrap() = Some(fakes::Paging::BackToFirst);
    let commit = sha(20);
    let listing = tokio::time::timeout(Duration::from_secs(30), forge.list_comments(&commit));
    let err = listing.await.expect("the listing loops").unwrap_err();
    assert!(err.to_string().contains("pagination loops"), "{err}");
    assert!(err.to_string().contains("page=1"), "{err}");
    assert_eq!(err.class(SystemTime::now()), ErrorClass::Permanent);
    // The first page, then the linked copy of it: the third fetch is refused.
    assert_eq!(gh.requests("GET"), 2);
}

#[tokio::test]
async fn an_endless_chain_of_pages_is_bounded() {
    for (server, forge, _secret) in Server::both().await {
        *server.fake().paging.lock().unwrap() = Some(fakes::Paging::Endless);
        let commit = sha(21);
        let listing = tokio::time::timeout(Duration::from_secs(60), forge.list_comments(&commit));
        let err = listing.await.expect("the listing never ends").unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("past {} pages", abibot::forge::MAX_PAGES)),
            "{err}"
        );
        assert_eq!(server.fake().requests("GET"), abibot::forge::MAX_PAGES);
    }
}

#[tokio::test]
async fn shutdown_cancels_a_hanging_listing_well_before_the_request_timeout() {
    for (server, forge, _secret) in Server::both().await {
        let policy = RetryPolicy {
            request_timeout: Duration::from_secs(20),
            ..fast()
        };
        // The forge accepts the request and never answers in time.
        server
            .fake()
            .fail_next("GET", Fault::Slow(policy.request_timeout * 3));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let retrier = Retrier::new(policy.clone(), Cancel::new(rx));
        let publisher = Publisher::new(forge, retrier, Arc::new(Pacer::new(PaceLimits::none())));
        let started = Instant::now();
        let (commit, id, body) = (sha(22), id(), format!("b {}", id().marker()));
        let publish = publisher.publish(&commit, &id, &body);
        let stop = async {
            // Shut down only once the GET is on the wire.
            while server.fake().requests("GET") == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tx.send(true).unwrap();
        };
        let (result, ()) = tokio::join!(publish, stop);
        assert!(matches!(result, Err(ForgeError::Interrupted)), "{result:?}");
        assert!(
            started.elapsed() < policy.request_timeout / 4,
            "took {:?} of a {:?} timeout",
            started.elapsed(),
            policy.request_timeout
        );
        assert_eq!(
            server.fake().posts().len(),
            0,
            "nothing posted after shutdown"
        );
    }
}

#[tokio::test]
async fn a_commit_the_forge_does_not_know_yet_is_left_for_a_later_poll() {
    for (server, forge, _secret) in Server::both().await {
        server
            .fake()
            .unknown_commits
            .lock()
            .unwrap()
            .insert(sha(23).to_string());
        let (publisher, errors) = publisher(forge.clone(), fast());
        // Refused at the listing, before any post.
        let err = publisher.publish(&sha(23), &id(), "b").await.unwrap_err();
        assert_eq!(
            err.class(SystemTime::now()),
            ErrorClass::CommitUnknown,
            "{err}"
        );
        assert_eq!(errors.lock().unwrap().len(), 1, "not retried now");
        assert_eq!(server.fake().posts().len(), 0);
        let advice = err.advice(SystemTime::now()).unwrap();
        assert!(advice.contains("tried again at later polls"), "{advice}");
        // And at the post.
        let err = forge.post_comment(&sha(23), "b").await.unwrap_err();
        assert_eq!(
            err.class(SystemTime::now()),
            ErrorClass::CommitUnknown,
            "{err}"
        );
    }
    // Any other 422 stays a refusal of the comment itself.
    let gh = FakeGithub::start("o/r", TOKEN).await;
    gh.fail_next("POST", Fault::Status(422));
    let secret = token_file(TOKEN);
    let forge = github_at(&gh.url(), "o/r", &secret);
    let err = forge.post_comment(&sha(24), "b").await.unwrap_err();
    assert_eq!(err.class(SystemTime::now()), ErrorClass::Rejected, "{err}");
}

#[tokio::test]
async fn an_exhausted_rate_limit_says_when_it_resets_not_that_permission_lacks() {
    let (gh, _secret, forge) = github_o_r().await;
    let reset_in = Duration::from_secs(3600);
    gh.fail_next("GET", Fault::RateLimit403 { reset_in });
    let (publisher, _) = publisher(forge, fast());
    let err = publisher.publish(&sha(25), &id(), "b").await.unwrap_err();
    assert_eq!(gh.requests("GET"), 1, "an hour is not waited for here");
    let advice = err.advice(SystemTime::now()).unwrap();
    assert!(!advice.contains("permission"), "{advice}");
    assert!(advice.contains("rate limited"), "{advice}");
    let reset = SystemTime::now() + reset_in;
    let when = humantime::format_rfc3339_seconds(reset).to_string();
    // The reset time, to the minute (the fake rounds to whole seconds).
    assert!(advice.contains(&when[..16]), "{advice} lacks {when}");
}

#[tokio::test]
async fn secondary_rate_limits_are_rate_limits_with_or_without_retry_after() {
    let (gh, _secret, forge) = github_o_r().await;
    // With `retry-after`: waited for, then posted.
    gh.fail_next(
        "POST",
        Fault::SecondaryLimit403 {
            retry_after: Some(1),
        },
    );
    let (publisher, _) = publisher(forge.clone(), fast());
    publisher.publish(&sha(26), &id(), "b").await.unwrap();
    let posts = gh.posts();
    assert!(posts[1].at.duration_since(posts[0].at) >= Duration::from_secs(1));
    // Without: GitHub says to wait at least a minute.
    gh.fail_next("POST", Fault::SecondaryLimit403 { retry_after: None });
    let err = forge.post_comment(&sha(27), "b").await.unwrap_err();
    assert_eq!(
        err.class(SystemTime::now()),
        ErrorClass::RateLimited(abibot::forge::SECONDARY_LIMIT_WAIT)
    );
    let advice = err.advice(SystemTime::now()).unwrap();
    assert!(
        advice.contains("rate limited by the forge for 1m"),
        "{advice}"
    );
}

#[tokio::test]
async fn the_file_sink_never_glues_a_record_onto_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comments.jsonl");
    let whole = serde_json::json!({"commit": sha(28).as_str(), "body": "first"}).to_string();
    // A crash while appending the second record left half a line.
    std::fs::write(
        &path,
        format!("{whole}\n{{\"commit\":\"{}\",\"bo", sha(29).as_str()),
    )
    .unwrap();
    let sink = abibot::forge::sink::FileSink::new(&path);
    sink.post_comment(&sha(29), "second <!-- m -->")
        .await
        .unwrap();
    sink.post_comment(&sha(30), "third").await.unwrap();
    let listed = sink.list_comments(&sha(29)).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the record after the torn line is readable"
    );
    assert_eq!(listed[0].body, "second <!-- m -->");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    // The torn record is gone (it was never recorded as posted, so it is
    // posted again); every line left is a whole record, in order.
    let bodies: Vec<String> = text
        .lines()
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(record) => record["body"].as_str().unwrap().to_owned(),
                Err(e) => panic!("invalid line {line:?}: {e}\n{text}"),
            },
        )
        .collect();
    assert_eq!(bodies, ["first", "second <!-- m -->", "third"], "{text}");
}

#[tokio::test]
async fn the_file_sink_drops_a_torn_line_that_is_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comments.jsonl");
    std::fs::write(&path, "{\"commit\":\"").unwrap();
    let sink = abibot::forge::sink::FileSink::new(&path);
    sink.post_comment(&sha(31), "only").await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let record = serde_json::json!({"commit": sha(31).as_str(), "body": "only"});
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with('\n'), "{text}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        record
    );
}

#[test]
fn a_file_sink_that_is_a_fifo_or_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("comments.jsonl");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (path, what) in [
        (fifo, "is a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "is a character device, not a regular file",
        ),
    ] {
        let sink = abibot::forge::sink::FileSink::new(&path);
        // In a thread: a read blocked on the FIFO must fail the test, not hang it.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let listed = runtime.block_on(sink.list_comments(&sha(32)));
            send.send(listed.map(|l| l.len())).unwrap();
        });
        let err = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("listing still blocked after a minute")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{}: {what}", path.display())),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_file_sink_lists_each_commit_even_when_the_file_changes_under_it() {
    /// The bodies `sink` lists for commit `sha(n)`.
    async fn listed(sink: &abibot::forge::sink::FileSink, n: u8) -> Vec<String> {
        let comments = sink.list_comments(&sha(n)).await.unwrap();
        comments.into_iter().map(|c| c.body).collect()
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comments.jsonl");
    let sink = abibot::forge::sink::FileSink::new(&path);
    assert!(listed(&sink, 40).await.is_empty(), "no file yet");
    for i in 0..50u8 {
        sink.post_comment(&sha(40 + i % 5), &format!("body {i}"))
            .await
            .unwrap();
        if i == 20 {
            // Read (and indexed) halfway: later posts keep the index.
            assert_eq!(listed(&sink, 41).await.len(), 4);
        }
    }
    for k in 0..5u8 {
        let want: Vec<String> = (0..10).map(|j| format!("body {}", j * 5 + k)).collect();
        assert_eq!(listed(&sink, 40 + k).await, want);
    }
    // Another writer of the same file (a second daemon, a person).
    let other = abibot::forge::sink::FileSink::new(&path);
    other
        .post_comment(&sha(40), "from elsewhere")
        .await
        .unwrap();
    assert_eq!(listed(&sink, 40).await.last().unwrap(), "from elsewhere");
    sink.post_comment(&sha(41), "after").await.unwrap();
    assert_eq!(listed(&sink, 41).await.len(), 11);
    assert_eq!(listed(&other, 41).await.len(), 11);
    // Rotated: replaced by a shorter file.
    let record = serde_json::json!({"commit": sha(42).as_str(), "body": "rotated"});
    std::fs::write(&path, format!("{record}\n")).unwrap();
    assert_eq!(listed(&sink, 42).await, ["rotated"]);
    assert!(listed(&sink, 40).await.is_empty());
}
