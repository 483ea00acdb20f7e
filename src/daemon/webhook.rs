//! Push webhooks: GitHub push events and GitLab push hooks, authenticated
//! with the daemon's webhook secret and turned into an immediate poll of the
//! watched repository they name.
//!
//! Owns the checks (GitHub's `X-Hub-Signature-256` HMAC-SHA256 of the body,
//! GitLab's `X-Gitlab-Token`, both compared in constant time), the few
//! payload fields read (repository and ref), and the match against the
//! configured repositories and branches. Scheduling is a [`Wakeup`] per
//! repository: a pending flag, not a queue, so a flood of events costs at
//! most one poll more than the one already running. Polling on the interval
//! goes on regardless; an event that is lost or refused is caught by the
//! next poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use hyper::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::health::Health;
use crate::config::{ForgeConfig, GitlabProject, RepoConfig, RepoName, Secret};

/// A repository's request for an immediate poll: set by webhooks, taken
/// by the poll when it starts reading the repository. A request made before
/// that moment is answered by that poll (the push it announces is already
/// there to fetch); one made after it calls for one more poll, however many
/// events made it.
#[derive(Default)]
pub struct Wakeup {
    pending: AtomicBool,
    notify: Notify,
}

impl Wakeup {
    /// Asks for a poll.
    pub fn request(&self) {
        self.pending.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Resolves once a poll is asked for and not yet taken.
    pub async fn requested(&self) {
        // A stored permit may be stale (its request taken by a poll since):
        // the flag decides.
        while !self.pending.load(Ordering::SeqCst) {
            self.notify.notified().await;
        }
    }

    /// Takes the pending request, if any: the poll starting now answers it.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }
}

/// The forge an event claims to come from (its route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    /// `POST /webhook/github`.
    Github,
    /// `POST /webhook/gitlab`.
    Gitlab,
}

impl Forge {
    /// Its name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Forge::Github => "github",
            Forge::Gitlab => "gitlab",
        }
    }

    fn event_header(self) -> &'static str {
        match self {
            Forge::Github => "x-github-event",
            Forge::Gitlab => "x-gitlab-event",
        }
    }
}

/// What became of an event; its status is the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// GitHub's `ping` (sent when a hook is created), authenticated: 200.
    Pong,
    /// A push to a watched branch: these repositories' polls were scheduled
    /// (202).
    Scheduled(Vec<RepoName>),
    /// Authenticated, but nothing to do (202): another event, another
    /// repository or branch, a tag.
    Ignored(&'static str),
    /// The signature or token is missing or wrong (401); nothing changes.
    Unauthorized,
    /// Authenticated but not a push event abibot can read (400).
    Malformed(String),
}

impl Outcome {
    /// The HTTP status answering it.
    pub fn status(&self) -> StatusCode {
        match self {
            Outcome::Pong => StatusCode::OK,
            Outcome::Scheduled(_) | Outcome::Ignored(_) => StatusCode::ACCEPTED,
            Outcome::Unauthorized => StatusCode::UNAUTHORIZED,
            Outcome::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer's text: abibot's own words and configured names only,
    /// never the payload's strings.
    pub fn message(&self) -> String {
        match self {
            Outcome::Pong => "pong\n".to_owned(),
            Outcome::Scheduled(repos) => {
                let names: Vec<&str> = repos.iter().map(RepoName::as_str).collect();
                format!("poll scheduled: {}\n", names.join(", "))
            }
            Outcome::Ignored(why) => format!("ignored: {why}\n"),
            Outcome::Unauthorized => "bad or missing signature\n".to_owned(),
            Outcome::Malformed(why) => format!("malformed push event: {why}\n"),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Outcome::Pong => "ping",
            Outcome::Scheduled(_) => "scheduled",
            Outcome::Ignored(_) => "ignored",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Malformed(_) => "malformed",
        }
    }
}

/// A repository an event can name: its forge identity, its branches, and
/// the wake-up of its polling loop.
pub struct Target {
    name: RepoName,
    forge: ForgeRepo,
    branches: Vec<String>,
    wake: Arc<Wakeup>,
}

enum ForgeRepo {
    Github(String),
    Gitlab(GitlabProject),
}

impl Target {
    /// The target for `repo`, woken through `wake`; `None` for a dry-run
    /// sink (`[repo.stdout]`, `[repo.file]`), which no forge names.
    pub fn new(repo: &RepoConfig, wake: Arc<Wakeup>) -> Option<Target> {
        let forge = match &repo.forge {
            ForgeConfig::Github(g) => ForgeRepo::Github(g.repo.clone()),
            ForgeConfig::Gitlab(g) => ForgeRepo::Gitlab(g.project.clone()),
            ForgeConfig::Stdout | ForgeConfig::File(_) => return None,
        };
        Some(Target {
            name: repo.name.clone(),
            forge,
            branches: repo.branches.clone(),
            wake,
        })
    }

    /// Whether `push` is about this repository. Forge paths are
    /// case-insensitive (GitHub and GitLab resolve `Owner/Repo` and
    /// `owner/repo` alike).
    fn named_by(&self, forge: Forge, push: &Push) -> bool {
        match (&self.forge, forge) {
            (ForgeRepo::Github(repo), Forge::Github) => repo.eq_ignore_ascii_case(&push.repository),
            (ForgeRepo::Gitlab(GitlabProject::Path(path)), Forge::Gitlab) => {
                path.eq_ignore_ascii_case(&push.repository)
            }
            (ForgeRepo::Gitlab(GitlabProject::Id(id)), Forge::Gitlab) => {
                push.project_id == Some(*id)
            }
            _ => false,
        }
    }
}

/// The webhook routes' state: the secret and the repositories to wake.
pub struct Webhooks {
    secret: Secret,
    targets: Vec<Target>,
    health: Arc<Health>,
}

impl Webhooks {
    /// Webhooks checked against `secret`, waking `targets`, counted in
    /// `health`'s metrics.
    pub fn new(secret: Secret, targets: Vec<Target>, health: Arc<Health>) -> Webhooks {
        Webhooks {
            secret,
            targets,
            health,
        }
    }

    /// Handles one event: authenticates it, reads it, wakes the
    /// repositories it names. Counted and logged; the payload's strings are
    /// logged only escaped, at debug level.
    pub fn receive(&self, forge: Forge, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let outcome = self.judge(forge, headers, body);
        self.health.webhook(forge.name(), outcome.label());
        match &outcome {
            Outcome::Unauthorized => {
                tracing::warn!(
                    forge = forge.name(),
                    "webhook: bad or missing signature; refused"
                );
            }
            Outcome::Malformed(why) => {
                tracing::warn!(forge = forge.name(), why = %why, "webhook: malformed push event");
            }
            Outcome::Pong | Outcome::Ignored(_) | Outcome::Scheduled(_) => {}
        }
        outcome
    }

    /// Counts an event refused before it was read (too large, too slow).
    pub fn refused(&self, forge: Forge, status: StatusCode) {
        let label = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::REQUEST_TIMEOUT => "timeout",
            _ => "unreadable",
        };
        tracing::warn!(
            forge = forge.name(),
            status = status.as_u16(),
            "webhook: body refused"
        );
        self.health.webhook(forge.name(), label);
    }

    fn judge(&self, forge: Forge, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let secret = self.secret.expose().as_bytes();
        let authentic = match forge {
            Forge::Github => {
                github_signature_ok(secret, header(headers, "x-hub-signature-256"), body)
            }
            Forge::Gitlab => {
                gitlab_token_ok(secret, headers.get("x-gitlab-token").map(|v| v.as_bytes()))
            }
        };
        if !authentic {
            return Outcome::Unauthorized;
        }
        match (forge, header(headers, forge.event_header())) {
            (Forge::Github, Some("ping")) => return Outcome::Pong,
            (Forge::Github, Some("push")) | (Forge::Gitlab, Some("Push Hook")) => {}
            (_, None) => return Outcome::Malformed(format!("no {} header", forge.event_header())),
            (_, Some(_)) => return Outcome::Ignored("not a push event"),
        }
        match Push::parse(forge, body) {
            Ok(push) => self.schedule(forge, &push),
            Err(why) => Outcome::Malformed(why),
        }
    }

    /// Wakes every watched repository the push names, when it is to one of
    /// its branches.
    fn schedule(&self, forge: Forge, push: &Push) -> Outcome {
        let named: Vec<&Target> = self
            .targets
            .iter()
            .filter(|t| t.named_by(forge, push))
            .collect();
        if named.is_empty() {
            tracing::debug!(forge = forge.name(), repository = ?push.repository, "webhook: repository not watched; ignored");
            return Outcome::Ignored("repository not watched");
        }
        let branch = push.git_ref.strip_prefix("refs/heads/");
        let mut woken = Vec::new();
        for target in named {
            let Some(branch) = target.branches.iter().find(|b| Some(b.as_str()) == branch) else {
                continue;
            };
            // A flag, not a queue: the flood coalesces.
            target.wake.request();
            tracing::info!(forge = forge.name(), repo = %target.name, %branch, "webhook: poll scheduled");
            woken.push(target.name.clone());
        }
        if woken.is_empty() {
            tracing::debug!(forge = forge.name(), git_ref = ?push.git_ref, "webhook: branch not watched; ignored");
            return Outcome::Ignored("branch not watched");
        }
        Outcome::Scheduled(woken)
    }
}

/// A header's value as text, if present and visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// GitHub's `X-Hub-Signature-256: sha256=<hex>`: the HMAC-SHA256 of the raw
/// body keyed with the secret, compared in constant time (`verify_slice`).
fn github_signature_ok(secret: &[u8], signature: Option<&str>, body: &[u8]) -> bool {
    let Some(digest) = signature
        .and_then(|s| s.strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

/// GitLab's `X-Gitlab-Token`: the secret itself, compared in constant time
/// (only its length can be learnt by timing).
fn gitlab_token_ok(secret: &[u8], token: Option<&[u8]>) -> bool {
    token.is_some_and(|t| bool::from(t.ct_eq(secret)))
}

/// The fields of a push event abibot reads.
#[derive(Debug, PartialEq, Eq)]
struct Push {
    /// GitHub's `repository.full_name`, GitLab's `project.path_with_namespace`.
    repository: String,
    /// GitLab's `project_id`.
    project_id: Option<u64>,
    /// `refs/heads/<branch>`, or a tag's ref.
    git_ref: String,
}

#[derive(Deserialize)]
struct GithubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    repository: GithubRepository,
}

#[derive(Deserialize)]
struct GithubRepository {
    full_name: String,
}

#[derive(Deserialize)]
struct GitlabPush {
    #[serde(rename = "ref")]
    git_ref: String,
    project_id: Option<u64>,
    project: GitlabPushProject,
}

#[derive(Deserialize)]
struct GitlabPushProject {
    path_with_namespace: String,
}

impl Push {
    /// Reads a push event; the error says where the JSON went wrong without
    /// quoting it.
    fn parse(forge: Forge, body: &[u8]) -> Result<Push, String> {
        let describe = |e: serde_json::Error| {
            format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
        };
        match forge {
            Forge::Github => {
                let p: GithubPush = serde_json::from_slice(body).map_err(describe)?;
                Ok(Push {
                    repository: p.repository.full_name,
                    project_id: None,
                    git_ref: p.git_ref,
                })
            }
            Forge::Gitlab => {
                let p: GitlabPush = serde_json::from_slice(body).map_err(describe)?;
                Ok(Push {
                    repository: p.project.path_with_namespace,
                    project_id: p.project_id,
                    git_ref: p.git_ref,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    /// GitHub's documented example: secret "It's a Secret to Everybody",
    /// payload "Hello, World!".
    #[test]
    fn github_signature_matches_githubs_documented_example() {
        let secret = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_ok(secret, Some(good), b"Hello, World!"));
        assert!(!github_signature_ok(secret, Some(good), b"Hello, World?"));
        assert!(!github_signature_ok(
            b"another",
            Some(good),
            b"Hello, World!"
        ));
        let bare = good.trim_start_matches("sha256=");
        for bad in [None, Some(bare), Some("sha256=zz"), Some("sha1=757107ea")] {
            assert!(
                !github_signature_ok(secret, bad, b"Hello, World!"),
                "{bad:?}"
            );
        }
    }

    /// Whether `requested()` resolves without waiting.
    fn ready(wakeup: &Wakeup) -> bool {
        let mut waiting = std::pin::pin!(wakeup.requested());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        waiting.as_mut().poll(&mut cx).is_ready()
    }

    #[test]
    fn wakeups_coalesce_and_a_taken_request_does_not_wake_again() {
        let wakeup = Wakeup::default();
        assert!(!ready(&wakeup));
        for _ in 0..50 {
            wakeup.request();
        }
        assert!(ready(&wakeup));
        assert!(wakeup.take());
        // Notify kept a permit; the request it stood for is taken.
        assert!(!ready(&wakeup));
        assert!(!wakeup.take());
        wakeup.request();
        assert!(ready(&wakeup));
    }

    #[test]
    fn gitlab_token_must_equal_the_secret() {
        assert!(gitlab_token_ok(b"s3cret", Some(b"s3cret")));
        for bad in [
            None,
            Some(&b""[..]),
            Some(b"s3cre"),
            Some(b"s3cret "),
            Some(b"S3cret"),
        ] {
            assert!(!gitlab_token_ok(b"s3cret", bad), "{bad:?}");
        }
    }

    #[test]
    fn push_fields_are_read_and_errors_do_not_quote_the_body() {
        let gh = br#"{"ref":"refs/heads/main","repository":{"full_name":"o/r","id":1}}"#;
        let push = Push::parse(Forge::Github, gh).unwrap();
        assert_eq!(
            (push.repository.as_str(), push.git_ref.as_str()),
            ("o/r", "refs/heads/main")
        );
        let gl = br#"{"object_kind":"push","ref":"refs/heads/m","project_id":15,
            "project":{"id":15,"path_with_namespace":"g/p"}}"#;
        let push = Push::parse(Forge::Gitlab, gl).unwrap();
        assert_eq!(push.project_id, Some(15));
        assert_eq!(push.repository, "g/p");
        let err = Push::parse(Forge::Github, br#"{"ref": 7, "x": "<script>"}"#).unwrap_err();
        assert!(err.starts_with("Data error at line 1"), "{err}");
        assert!(!err.contains("script"), "{err}");
    }
}
