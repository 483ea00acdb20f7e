//! Comment bodies fit the forge's limit whatever the number of flavours:
//! Debian's real 6.1.0-47 -> 6.1.0-50 refresh taken by 1, 16 and 30
//! flavours under an unchanged ABI name, rendered for every forge and posted
//! by the daemon through a fake GitHub that refuses long bodies as GitHub
//! does (422 "body is too long").

mod common;
mod fakes;

use std::sync::Arc;
use std::time::Duration;

use abibot::config::RepoName;
use abibot::daemon::Daemon;
use abibot::findings::Finding;
use abibot::forge::{RetryPolicy, github, gitlab, sink};
use abibot::history::WalkOptions;
use abibot::report::scan::finding_markdown;
use abibot::state::FindingStatus;
use common::{FLAVOURS, TestRepo, abi_file, debian_repo, github_daemon_config, scan_with};
use fakes::{FakeGithub, GITHUB_MAX_BODY_CHARS, quick_retries};
use git2::Oid;

const TOKEN: &str = "ghp_budgetTestToken00000000000000000";
const REPO: &str = "kernel-team/linux";

/// `n` flavours, each a copy of one of the three real amd64 references.
fn flavours(n: usize) -> Vec<(String, &'static str)> {
    (0..n)
        .map(|i| {
            let real = FLAVOURS[i % FLAVOURS.len()];
            (format!("{real}-{i:02}"), real)
        })
        .collect()
}

/// A Debian repository whose last commit gives every one of `n` flavours
/// the real 6.1.0-50 reference while the ABI name stays 6.1.0-47.
fn refresh_repo(n: usize) -> (TestRepo, Oid) {
    let r = debian_repo();
    for (name, real) in flavours(n) {
        r.write(
            &format!("debian/abi/6.1.0-47/{name}"),
            abi_file("6.1.0-47", real),
        );
    }
    r.commit("Release 6.1.170-3");
    for (name, real) in flavours(n) {
        r.write(
            &format!("debian/abi/6.1.0-47/{name}"),
            abi_file("6.1.0-50", real),
        );
    }
    let refresh = r.commit("Refresh ABI reference files");
    (r, refresh)
}

/// The hidden break the refresh is.
fn hidden_break(r: &TestRepo, n: usize) -> Finding {
    let (report, _, _) = scan_with(r, WalkOptions::default());
    let mut problems: Vec<Finding> = report
        .findings
        .into_iter()
        .filter(|f| f.kind.is_problem())
        .collect();
    assert_eq!(problems.len(), 1, "one hidden break expected");
    let f = problems.pop().unwrap();
    assert_eq!(f.flavours.len(), n);
    f
}

fn fast() -> RetryPolicy {
    quick_retries(2, Duration::from_secs(20))
}

/// Runs one backfilling daemon poll over `r`, posting to `gh`; the daemon
/// is returned with the directory holding its state.
async fn daemon_posts(r: &TestRepo, gh: &FakeGithub) -> (Arc<Daemon>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let backfill = "backfill = true\n";
    let config = github_daemon_config(dir.path(), r, &gh.url(), REPO, TOKEN, backfill);
    let daemon = Arc::new(Daemon::new(config).unwrap().with_retry_policy(fast()));
    let (_, result) = daemon.poll_once().await.pop().unwrap();
    let report = result.unwrap();
    assert_eq!(report.failed, 0, "the forge refused the comment");
    (daemon, dir)
}

/// The bodies of the refresh for every forge, with the limit each must fit.
fn bodies(finding: &Finding) -> Vec<(&'static str, usize, String)> {
    [
        ("github", github::MAX_BODY_CHARS),
        ("gitlab", gitlab::MAX_BODY_CHARS),
        ("sink", sink::MAX_BODY_CHARS),
    ]
    .into_iter()
    .map(|(forge, limit)| (forge, limit, finding_markdown(finding, limit)))
    .collect()
}

/// Checks a body that had to be cut: it says so, how to see it all, and
/// keeps what matters most (the table, the first flavour's symbols).
fn says_what_was_cut(body: &str, finding: &Finding) {
    assert!(
        body.contains("byte limit of a comment**: left out"),
        "{body}"
    );
    let sha = finding.commit.as_str();
    assert!(
        body.contains(&format!(
            "To see it all, run `abibot scan --range {sha}^..{sha} --format markdown`"
        )),
        "{body}"
    );
    assert!(body.contains("| featureset | flavours | summary |"));
    let first = &finding.flavours[0].flavour;
    assert!(body.contains(&format!("<summary><code>{first}</code>")));
    assert!(body.contains("**CRC changes** (18,"), "{body}");
    assert!(body.ends_with(&format!("<!-- abibot:finding={} -->\n", finding.id)));
}

async fn check(n: usize) -> Vec<usize> {
    let (r, refresh) = refresh_repo(n);
    let finding = hidden_break(&r, n);
    let full = finding_markdown(&finding, usize::MAX);
    let mut sizes = vec![full.len()];
    for (forge, limit, body) in bodies(&finding) {
        assert!(body.len() <= limit, "{forge}: {} > {limit}", body.len());
        assert!(body.chars().count() <= limit, "{forge}");
        if body.len() < full.len() {
            says_what_was_cut(&body, &finding);
        } else {
            assert_eq!(body, full, "{forge}: cut although it fit");
        }
        sizes.push(body.len());
    }

    let gh = FakeGithub::start(REPO, TOKEN).await;
    let (daemon, _dir) = daemon_posts(&r, &gh).await;
    let posted = gh.comments_on(&refresh.to_string());
    assert_eq!(posted.len(), 1);
    assert!(posted[0].body.chars().count() <= GITHUB_MAX_BODY_CHARS);
    // The same body but for the marker (the daemon's repository name is in the id).
    let unmarked = |b: &str| b.split("<!-- abibot:finding=").next().unwrap().to_owned();
    assert_eq!(
        unmarked(&posted[0].body),
        unmarked(&bodies(&finding)[0].2),
        "the daemon posts the GitHub body"
    );
    let stored = daemon
        .state()
        .findings(&RepoName::new("linux").unwrap())
        .unwrap();
    assert!(stored.iter().all(|f| f.status == FindingStatus::Posted));
    gh.assert_no_violations();
    eprintln!("{n} flavours: full, github, gitlab, sink bytes: {sizes:?}");
    sizes
}

#[tokio::test(flavor = "multi_thread")]
async fn one_flavour_refresh_is_posted_whole() {
    let sizes = check(1).await;
    assert!(sizes.iter().all(|&s| s == sizes[0]), "{sizes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_flavour_refresh_is_cut_for_github_only() {
    let sizes = check(16).await;
    assert!(sizes[1] < sizes[0]);
    assert_eq!(sizes[2], sizes[0], "GitLab takes all of it");
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_flavour_refresh_is_cut_for_every_forge() {
    let sizes = check(30).await;
    assert!(sizes[1] < sizes[2] && sizes[2] < sizes[0], "{sizes:?}");
}

/// A GitHub that does not enforce the limit would hide a regression: the
/// fake refuses a body one character over, with GitHub's answer.
#[tokio::test]
async fn the_fake_github_refuses_long_bodies_as_github_does() {
    let gh = FakeGithub::start(REPO, TOKEN).await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/repos/{REPO}/commits/{}/comments",
        gh.url(),
        "a".repeat(40)
    );
    let post = |body: String| {
        client
            .post(&url)
            .bearer_auth(TOKEN)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "test")
            .json(&serde_json::json!({ "body": body }))
            .send()
    };
    let refused = post("é".repeat(GITHUB_MAX_BODY_CHARS + 1)).await.unwrap();
    assert_eq!(refused.status(), 422);
    let answer: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(answer["message"], "Validation Failed");
    assert_eq!(
        answer["errors"][0]["message"],
        "body is too long (maximum is 65536 characters)"
    );
    let accepted = post("é".repeat(GITHUB_MAX_BODY_CHARS)).await.unwrap();
    assert_eq!(accepted.status(), 201);
}

/// No special case for the real refresh: many featuresets, long names and
/// small limits give bodies within the limit that still say what was cut.
#[test]
fn any_number_of_flavours_and_names_fits_any_limit() {
    use abibot::compare::compare;
    use abibot::findings::FlavourChange;
    use abibot::ignore::IgnoreRules;
    use abibot::symbols::{Crc, FlavourKey, Symbol, SymbolSet};

    let set = |crc: u32| {
        let symbols = (0..40)
            .map(|i| Symbol {
                name: format!("symbol_{i:03}_{}", "x".repeat(i * 7)).into(),
                crc: Crc(crc),
                module: if i % 2 == 0 { "vmlinux" } else { "drivers/x" }.into(),
                export: None,
                namespace: None,
            })
            .collect();
        SymbolSet::from_symbols(symbols).unwrap()
    };
    let c = Arc::new(compare(&set(1), &set(2), &IgnoreRules::default()));
    let (r, _) = refresh_repo(1);
    let mut finding = hidden_break(&r, 1);
    for n in [2usize, 50, 400] {
        finding.flavours = (0..n)
            .map(|i| {
                let long = "f".repeat(i % 300);
                let key = FlavourKey::new("amd64", &format!("fs{}", i % 37), &format!("{long}{i}"));
                FlavourChange::new(&key, "debian/abi/x", Some(c.clone()))
            })
            .collect();
        finding.unchanged_flavours = (0..n).map(|i| format!("unchanged-{i}")).collect();
        let full = finding_markdown(&finding, usize::MAX);
        for limit in [4_096, 20_000, github::MAX_BODY_CHARS] {
            let body = finding_markdown(&finding, limit);
            assert!(
                body.len() <= limit,
                "{n} flavours, limit {limit}: {}",
                body.len()
            );
            if full.len() > limit {
                assert!(
                    body.contains("byte limit of a comment**: left out"),
                    "{n}/{limit}"
                );
            } else {
                assert_eq!(body, full);
            }
            assert!(body.ends_with(&format!("<!-- abibot:finding={} -->\n", finding.id)));
        }
    }
}
