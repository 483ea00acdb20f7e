//! GitLab commit comments through reqwest:
//! `POST /api/v4/projects/:id/repository/commits/:sha/comments` with
//! `{"note"}`, and the paginated `GET` of the same path (`x-next-page`).
//! Authentication is the `PRIVATE-TOKEN` header, marked sensitive.
//!
//! GitLab commit comments carry no id: a posted comment is recognised by the
//! marker in its `note`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Url};
use serde::Deserialize;

use super::pace::PaceLimits;
use super::{
    Comment, Forge, ForgeError, ForgeFuture, Pages, RateLimit, decode, error_chain, excerpt, timed,
};
use crate::config::{GitlabConfig, GitlabProject};
use crate::history::CommitSha;

/// GitLab refuses a note longer than this many characters ("Note is too
/// long (maximum is 1000000 characters)").
pub const MAX_BODY_CHARS: usize = 1_000_000;

/// One project on one GitLab instance.
pub struct Gitlab {
    client: Client,
    /// `.../api/v4/projects/<id or encoded path>`.
    project_url: Url,
    /// Where people see commits (`https://host/group/project/-/commit/`), when known.
    web_commit_url: Option<String>,
    target: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Note {
    note: String,
}

impl Gitlab {
    /// A client for `config`, reading its token now.
    pub fn new(config: &GitlabConfig, timeout: Duration) -> Result<Gitlab, ForgeError> {
        let target = format!("gitlab project {}", config.project);
        let setup = |message: String| ForgeError::Setup {
            target: target.clone(),
            message,
        };
        let token = config.token.resolve().map_err(|e| setup(e.to_string()))?;
        let mut auth = HeaderValue::from_str(token.expose())
            .map_err(|_| setup(format!("{}: not a valid header value", config.token)))?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("private-token", auth);
        let client = Client::builder()
            .default_headers(headers)
            .user_agent(concat!("abibot/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .build()
            .map_err(|e| setup(error_chain(&e)))?;
        let mut project_url = Url::parse(&config.base_url)
            .map_err(|e| setup(format!("base_url {}: {e}", config.base_url)))?;
        {
            let mut segments = project_url
                .path_segments_mut()
                .map_err(|()| setup(format!("base_url {} cannot take a path", config.base_url)))?;
            // `push` percent-encodes the segment: `group/project` becomes
            // `group%2Fproject`, as the API requires.
            segments
                .pop_if_empty()
                .extend(["api", "v4", "projects"])
                .push(&config.project.to_string());
        }
        let web_commit_url = match &config.project {
            GitlabProject::Path(path) => Some(format!("{}/{path}/-/commit/", config.base_url)),
            GitlabProject::Id(_) => None,
        };
        Ok(Gitlab {
            client,
            project_url,
            web_commit_url,
            target,
            timeout,
        })
    }

    fn comments_url(&self, sha: &CommitSha) -> Url {
        let mut url = self.project_url.clone();
        url.path_segments_mut()
            .expect("checked at construction")
            .extend(["repository", "commits", sha.as_str(), "comments"]);
        url
    }

    /// Sends a request and reads the whole answer within the timeout.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(String, HeaderMap), ForgeError> {
        timed(&self.target, self.timeout, async {
            let transport = |e: reqwest::Error| ForgeError::Connection {
                target: self.target.clone(),
                message: error_chain(&e),
            };
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.map_err(transport)?;
            if status.is_success() {
                return Ok((text, headers));
            }
            #[derive(Deserialize)]
            struct GitlabError {
                message: Option<serde_json::Value>,
                error: Option<String>,
            }
            let message = match serde_json::from_str::<GitlabError>(&text) {
                Ok(GitlabError {
                    message: Some(serde_json::Value::String(m)),
                    ..
                }) => m,
                Ok(GitlabError {
                    message: Some(m), ..
                }) => excerpt(&m.to_string(), 300),
                Ok(GitlabError { error: Some(e), .. }) => e,
                _ => excerpt(&text, 300),
            };
            Err(ForgeError::Status {
                target: self.target.clone(),
                status: status.as_u16(),
                message,
                rate_limit: RateLimit::from_headers(&headers),
            })
        })
        .await
    }

    fn comment(&self, sha: &CommitSha, note: Note) -> Comment {
        Comment {
            id: None,
            url: self
                .web_commit_url
                .as_ref()
                .map(|base| format!("{base}{sha}")),
            body: note.note,
        }
    }
}

impl Forge for Gitlab {
    fn target(&self) -> String {
        self.target.clone()
    }

    fn list_comments<'a>(&'a self, sha: &'a CommitSha) -> ForgeFuture<'a, Vec<Comment>> {
        Box::pin(async move {
            let mut comments = Vec::new();
            let mut page = "1".to_owned();
            let mut pages = Pages::new(&self.target, &page);
            loop {
                let mut url = self.comments_url(sha);
                url.query_pairs_mut()
                    .append_pair("per_page", "100")
                    .append_pair("page", &page);
                let (text, headers) = self.exchange(self.client.get(url)).await?;
                let notes: Vec<Note> = decode(&self.target, &text)?;
                comments.extend(notes.into_iter().map(|n| self.comment(sha, n)));
                match headers
                    .get("x-next-page")
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                {
                    Some(next) if !next.is_empty() => {
                        pages.follow(next)?;
                        page = next.to_owned();
                    }
                    _ => return Ok(comments),
                }
            }
        })
    }

    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment> {
        Box::pin(async move {
            let request = self
                .client
                .post(self.comments_url(sha))
                .json(&serde_json::json!({ "note": body }));
            let (text, _) = self.exchange(request).await?;
            Ok(self.comment(sha, decode(&self.target, &text)?))
        })
    }

    fn limits(&self) -> PaceLimits {
        PaceLimits::gitlab()
    }

    fn max_body_chars(&self) -> usize {
        MAX_BODY_CHARS
    }
}
