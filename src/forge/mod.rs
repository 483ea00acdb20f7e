//! Where comments go: one small [`Forge`] trait for listing and posting
//! commit comments, its implementations (GitHub through octocrab, GitLab
//! through reqwest, and the `stdout` / `file` dry-run sinks), the one retry
//! helper every remote call goes through ([`retry`]), the pacing of
//! content-creating calls ([`pace`]), and [`Publisher`], which posts a
//! comment at most once per marker.
//!
//! A forge call is a single attempt: implementations never retry, so that
//! backoff, rate limits and permanent errors are decided in one place.

pub mod github;
pub mod gitlab;
pub mod pace;
pub mod retry;
pub mod sink;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ForgeConfig;
use crate::findings::FindingId;
use crate::history::CommitSha;
pub use pace::{PaceLimits, Pacer};
pub use retry::{Cancel, ErrorClass, Retrier, RetryPolicy, SECONDARY_LIMIT_WAIT};

/// The future of one forge call.
pub type ForgeFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ForgeError>> + Send + 'a>>;

/// A commit comment as a forge shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The forge's id (GitLab commit comments have none).
    pub id: Option<String>,
    /// Where people see it, when the forge says.
    pub url: Option<String>,
    /// Its Markdown.
    pub body: String,
}

impl Comment {
    /// A comment known by its body only (dry-run sinks).
    pub fn body_only(body: &str) -> Comment {
        Comment {
            id: None,
            url: None,
            body: body.to_owned(),
        }
    }
}

/// Lists and posts commit comments on one repository.
pub trait Forge: Send + Sync {
    /// What this forge posts to, for logs (holds no secret).
    fn target(&self) -> String;
    /// Every comment on `sha`, all pages.
    fn list_comments<'a>(&'a self, sha: &'a CommitSha) -> ForgeFuture<'a, Vec<Comment>>;
    /// Posts `body` on `sha`.
    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment>;
    /// How fast comments may be created.
    fn limits(&self) -> PaceLimits;
    /// The longest comment body this forge accepts, in characters
    /// (`github::MAX_BODY_CHARS`, `gitlab::MAX_BODY_CHARS`); bodies are
    /// budgeted to it in bytes, never fewer than characters.
    fn max_body_chars(&self) -> usize;
}

/// Rate-limit headers of a refused request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `retry-after` (seconds).
    pub retry_after: Option<Duration>,
    /// `x-ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset` (Unix seconds).
    pub reset: Option<u64>,
}

impl RateLimit {
    /// Reads the headers GitHub and GitLab send.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> RateLimit {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        RateLimit {
            retry_after: num("retry-after").map(Duration::from_secs),
            remaining: num("x-ratelimit-remaining").or_else(|| num("ratelimit-remaining")),
            reset: num("x-ratelimit-reset").or_else(|| num("ratelimit-reset")),
        }
    }

    /// How long to wait, when the headers say: `retry-after` first, else the
    /// reset time once the quota is exhausted.
    pub fn wait(&self, now: SystemTime) -> Option<Duration> {
        if let Some(after) = self.retry_after {
            return Some(after);
        }
        if self.remaining == Some(0) {
            let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
            let reset = Duration::from_secs(self.reset?);
            return Some(reset.saturating_sub(now));
        }
        None
    }
}

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered with an error status.
    #[error("{target}: HTTP {status}: {message}")]
    Status {
        /// What was called (`github owner/linux`).
        target: String,
        /// The status code.
        status: u16,
        /// The forge's message.
        message: String,
        /// Rate-limit headers of the response.
        rate_limit: RateLimit,
    },
    /// No answer within the attempt's time.
    #[error("{target}: no answer within {}", humantime::format_duration(*.after))]
    Timeout {
        /// What was called.
        target: String,
        /// The time allowed.
        after: Duration,
    },
    /// Connecting or transferring failed.
    #[error("{target}: {message}")]
    Connection {
        /// What was called.
        target: String,
        /// What failed.
        message: String,
    },
    /// The answer was not what the API documents.
    #[error("{target}: unexpected answer: {message}")]
    Decode {
        /// What was called.
        target: String,
        /// What did not parse.
        message: String,
    },
    /// A client could not be built (bad URL, unreadable secret, bad key).
    #[error("{target}: {message}")]
    Setup {
        /// What was being set up.
        target: String,
        /// Why it failed.
        message: String,
    },
    /// A dry-run sink could not write.
    #[error("{target}: {source}")]
    Io {
        /// The sink.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// Shutdown was requested while waiting.
    #[error("interrupted by shutdown")]
    Interrupted,
}

impl ForgeError {
    /// A label for metrics: the status code, or the kind of failure.
    pub fn label(&self) -> String {
        match self {
            ForgeError::Status { status, .. } => status.to_string(),
            ForgeError::Timeout { .. } => "timeout".into(),
            ForgeError::Connection { .. } => "connection".into(),
            ForgeError::Decode { .. } => "decode".into(),
            ForgeError::Setup { .. } => "setup".into(),
            ForgeError::Io { .. } => "io".into(),
            ForgeError::Interrupted => "interrupted".into(),
        }
    }

    /// What an operator should know about an error that stopped a
    /// repository's posting, and what happens next; `None` when the
    /// message says it all.
    pub fn advice(&self, now: SystemTime) -> Option<String> {
        let ForgeError::Status {
            status, rate_limit, ..
        } = self
        else {
            return None;
        };
        Some(match (self.class(now), status) {
            (ErrorClass::RateLimited(wait), _) => format!(
                "rate limited by the forge {}; posting resumes at the first poll after that",
                until(rate_limit, wait, now)
            ),
            (ErrorClass::CommitUnknown, _) => "the forge does not know this commit yet (its copy \
                 of the repository lags behind the watched clone); the finding stays pending and \
                 is tried again at later polls"
                .into(),
            (ErrorClass::Unauthorized, 401) => "the token was refused: check it, and that it has \
                 not expired; the repository is retried at the next poll"
                .into(),
            (ErrorClass::Unauthorized, 403) => {
                "the token lacks permission to comment on this repository".into()
            }
            (ErrorClass::Unauthorized, _) => "check the repository or project name, and that the \
                 token can see it"
                .into(),
            _ => return None,
        })
    }
}

/// When a rate limit ends: the reset time the forge gave, else the wait.
fn until(rate_limit: &RateLimit, wait: Duration, now: SystemTime) -> String {
    let wait = humantime::format_duration(Duration::from_secs(wait.as_secs()));
    match rate_limit
        .reset
        .filter(|_| rate_limit.retry_after.is_none())
    {
        Some(reset) => {
            let reset = UNIX_EPOCH + Duration::from_secs(reset);
            format!(
                "until {} (in {wait})",
                humantime::format_rfc3339_seconds(reset.max(now))
            )
        }
        None => format!("for {wait}"),
    }
}

/// Runs one HTTP exchange with a time limit, so a stalled server becomes a
/// [`ForgeError::Timeout`] the retry helper can act on.
pub(crate) async fn timed<T>(
    target: &str,
    after: Duration,
    call: impl Future<Output = Result<T, ForgeError>>,
) -> Result<T, ForgeError> {
    tokio::time::timeout(after, call).await.unwrap_or_else(|_| {
        Err(ForgeError::Timeout {
            target: target.to_owned(),
            after,
        })
    })
}

/// An error's message followed by its causes (`a: b: c`), cut before any
/// backtrace a library appends.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    if let Some(cut) = text.find("\n\nFound at") {
        text.truncate(cut);
    }
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The most pages a comment listing may take (100 comments each): no real
/// commit carries 10,000 comments, so a longer chain is a forge's fault.
pub const MAX_PAGES: usize = 100;

/// Follows a forge's pagination and stops it when it loops or never ends:
/// every page must be new, and there are at most [`MAX_PAGES`].
pub(crate) struct Pages {
    target: String,
    seen: HashSet<String>,
}

impl Pages {
    /// A listing of `target`, starting at page `first`.
    pub(crate) fn new(target: &str, first: &str) -> Pages {
        Pages {
            target: target.to_owned(),
            seen: HashSet::from([first.to_owned()]),
        }
    }

    /// Accepts `next` as the next page to fetch, or says why not.
    pub(crate) fn follow(&mut self, next: &str) -> Result<(), ForgeError> {
        let message = if self.seen.contains(next) {
            format!("pagination loops: the next page {next} was already fetched")
        } else if self.seen.len() >= MAX_PAGES {
            format!("pagination goes on past {MAX_PAGES} pages (at {next})")
        } else {
            self.seen.insert(next.to_owned());
            return Ok(());
        };
        Err(ForgeError::Decode {
            target: self.target.clone(),
            message,
        })
    }
}

/// Parses a JSON answer; a mismatch names the target and quotes the answer.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    target: &str,
    text: &str,
) -> Result<T, ForgeError> {
    serde_json::from_str(text).map_err(|e| ForgeError::Decode {
        target: target.to_owned(),
        message: format!("{e}: {}", excerpt(text, 200)),
    })
}

/// The first `max` characters of an error body, for messages.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

/// The body limit of the forge a configuration names ([`Forge::max_body_chars`]
/// of what [`connect`] builds), known without reading its secret.
pub fn max_body_chars(config: &ForgeConfig) -> usize {
    match config {
        ForgeConfig::Github(_) => github::MAX_BODY_CHARS,
        ForgeConfig::Gitlab(_) => gitlab::MAX_BODY_CHARS,
        ForgeConfig::Stdout | ForgeConfig::File(_) => sink::MAX_BODY_CHARS,
    }
}

/// Builds the forge a repository's configuration names, reading its secret now.
pub fn connect(
    config: &ForgeConfig,
    request_timeout: Duration,
) -> Result<Arc<dyn Forge>, ForgeError> {
    Ok(match config {
        ForgeConfig::Github(g) => Arc::new(github::Github::new(g, request_timeout)?),
        ForgeConfig::Gitlab(g) => Arc::new(gitlab::Gitlab::new(g, request_timeout)?),
        ForgeConfig::Stdout => Arc::new(sink::WriterSink::stdout()),
        ForgeConfig::File(path) => Arc::new(sink::FileSink::new(path)),
    })
}

/// How a comment ended up on the forge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Posted now.
    Posted(Comment),
    /// Already there (posted before a restart, or by another run).
    Found(Comment),
}

impl Published {
    /// The comment, either way.
    pub fn comment(&self) -> &Comment {
        match self {
            Published::Posted(c) | Published::Found(c) => c,
        }
    }
}

/// Posts comments on one forge, each at most once: a comment is identified
/// by a hidden marker in its body, and the commit's comments are searched
/// for it before every post. Posts are paced within the forge's limits, and
/// every call goes through the retry helper.
pub struct Publisher {
    forge: Arc<dyn Forge>,
    retrier: Retrier,
    pacer: Arc<Pacer>,
}

impl Publisher {
    /// A publisher over `forge`.
    pub fn new(forge: Arc<dyn Forge>, retrier: Retrier, pacer: Arc<Pacer>) -> Publisher {
        Publisher {
            forge,
            retrier,
            pacer,
        }
    }

    /// The forge's description.
    pub fn target(&self) -> String {
        self.forge.target()
    }

    /// The forge's body limit ([`Forge::max_body_chars`]).
    pub fn max_body_chars(&self) -> usize {
        self.forge.max_body_chars()
    }

    /// Makes sure a comment carrying the marker of finding `id`
    /// ([`FindingId::marker`]) is on `sha`, posting `body` when none is. The check and the post are retried together, so a post
    /// that timed out but reached the forge is found, not repeated.
    ///
    /// Shutdown abandons the listing at once (it changes nothing on the
    /// forge) but lets a post in flight finish, so that its answer is
    /// recorded; a post cut off would be found by its marker anyway.
    pub async fn publish(
        &self,
        sha: &CommitSha,
        id: &FindingId,
        body: &str,
    ) -> Result<Published, ForgeError> {
        let forge = &*self.forge;
        let pacer = &*self.pacer;
        let cancel = self.retrier.cancel();
        self.retrier
            .run("publish", || async move {
                let existing = tokio::select! {
                    listed = forge.list_comments(sha) => listed?,
                    () = cancel.cancelled() => return Err(ForgeError::Interrupted),
                };
                let ours = |c: &Comment| FindingId::in_comment(&c.body).any(|m| m == *id);
                if let Some(found) = existing.into_iter().find(ours) {
                    return Ok(Published::Found(found));
                }
                pacer.wait(cancel).await?;
                Ok(Published::Posted(forge.post_comment(sha, body).await?))
            })
            .await
    }
}
