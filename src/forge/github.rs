//! GitHub (and GitHub Enterprise) commit comments through octocrab:
//! `POST /repos/{owner}/{repo}/commits/{sha}/comments` with `{"body"}`,
//! and the paginated `GET` of the same path.
//!
//! Octocrab is used for what it does well (authentication by token or
//! GitHub App installation, base URI, headers); its own retry layer is
//! switched off, and raw responses are read here so that status codes and
//! rate-limit headers reach [`super::retry`].

use std::time::Duration;

use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use octocrab::service::middleware::retry::RetryConfig;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName};
use serde::Deserialize;

use super::pace::PaceLimits;
use super::{
    Comment, Forge, ForgeError, ForgeFuture, Pages, RateLimit, decode, error_chain, excerpt, timed,
};
use crate::config::{GithubAuth, GithubConfig};
use crate::history::CommitSha;

/// GitHub refuses a comment body longer than this many characters (422
/// "body is too long (maximum is 65536 characters)").
pub const MAX_BODY_CHARS: usize = 65_536;

/// One repository on one GitHub instance.
pub struct Github {
    crab: Octocrab,
    repo: String,
    target: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct GithubComment {
    id: u64,
    html_url: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

impl From<GithubComment> for Comment {
    fn from(c: GithubComment) -> Comment {
        Comment {
            id: Some(c.id.to_string()),
            url: c.html_url,
            body: c.body.unwrap_or_default(),
        }
    }
}

/// The `rel="next"` target of a `Link` header, as a path (so octocrab's
/// base URI and authentication apply to it as to the first page).
fn next_page(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        match url.find("://") {
            Some(scheme_end) => {
                let rest = &url[scheme_end + 3..];
                Some(
                    rest.find('/')
                        .map_or("/".to_owned(), |i| rest[i..].to_owned()),
                )
            }
            None => Some(url.to_owned()),
        }
    })
}

impl Github {
    /// A client for `config`, reading its secret now.
    pub fn new(config: &GithubConfig, timeout: Duration) -> Result<Github, ForgeError> {
        let target = format!("github {}", config.repo);
        let setup = |e: &dyn std::fmt::Display| ForgeError::Setup {
            target: target.clone(),
            message: e.to_string(),
        };
        let builder = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .add_header(ACCEPT, "application/vnd.github+json".into())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                "2022-11-28".into(),
            )
            // No read timeout here: `timed` bounds the whole exchange, and a
            // second timer racing it would report a stalled answer as a
            // connection error instead of a timeout.
            .set_connect_timeout(Some(timeout))
            .base_uri(config.api_url.as_str())
            .map_err(|e| setup(&format!("api_url {}: {}", config.api_url, error_chain(&e))))?;
        let crab = match &config.auth {
            GithubAuth::Token(token) => {
                let token = token.resolve().map_err(|e| setup(&e))?;
                builder
                    .personal_token(token.expose().to_owned())
                    .build()
                    .map_err(|e| setup(&error_chain(&e)))?
            }
            GithubAuth::App {
                app_id,
                private_key,
                installation_id,
            } => {
                let pem = private_key.resolve().map_err(|e| setup(&e))?;
                builder
                    .app_from_rsa_pem(AppId(*app_id), pem.expose().as_bytes())
                    .map_err(|_| {
                        setup(&format!(
                            "{private_key}: not an RSA private key in PEM form"
                        ))
                    })?
                    .build()
                    .map_err(|e| setup(&error_chain(&e)))?
                    .installation(InstallationId(*installation_id))
                    .map_err(|e| setup(&error_chain(&e)))?
            }
        };
        Ok(Github {
            crab,
            repo: config.repo.clone(),
            target,
            timeout,
        })
    }

    fn path(&self, sha: &CommitSha) -> String {
        format!("/repos/{}/commits/{sha}/comments", self.repo)
    }

    fn transport(&self, e: &octocrab::Error) -> ForgeError {
        ForgeError::Connection {
            target: self.target.clone(),
            message: error_chain(e),
        }
    }

    /// Checks a response read by [`Self::exchange`]: its body and `Link`
    /// header when the status is a success, else a [`ForgeError::Status`]
    /// with GitHub's message.
    fn check(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        text: String,
    ) -> Result<(String, Option<String>), ForgeError> {
        if status.is_success() {
            let link = headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok((text, link));
        }
        #[derive(Deserialize)]
        struct GithubError {
            message: Option<String>,
            errors: Option<serde_json::Value>,
        }
        let message = match serde_json::from_str::<GithubError>(&text) {
            Ok(GithubError {
                message: Some(m),
                errors,
            }) => match errors {
                Some(errors) => format!("{m} ({})", excerpt(&errors.to_string(), 300)),
                None => m,
            },
            _ => excerpt(&text, 300),
        };
        Err(ForgeError::Status {
            target: self.target.clone(),
            status: status.as_u16(),
            message,
            rate_limit: RateLimit::from_headers(headers),
        })
    }
}

/// Sends a request through octocrab's raw API and reads the whole answer
/// (status, headers, body) within the request timeout.
macro_rules! exchange {
    ($self:ident, $request:expr) => {
        timed(&$self.target, $self.timeout, async {
            let response = $request.await.map_err(|e| $self.transport(&e))?;
            let (status, headers) = (response.status(), response.headers().clone());
            let text = $self
                .crab
                .body_to_string(response)
                .await
                .map_err(|e| $self.transport(&e))?;
            $self.check(status, &headers, text)
        })
    };
}

impl Forge for Github {
    fn target(&self) -> String {
        self.target.clone()
    }

    fn list_comments<'a>(&'a self, sha: &'a CommitSha) -> ForgeFuture<'a, Vec<Comment>> {
        Box::pin(async move {
            let mut comments = Vec::new();
            let first = format!("{}?per_page=100", self.path(sha));
            let mut pages = Pages::new(&self.target, &first);
            let mut next = Some(first);
            while let Some(uri) = next.take() {
                let (text, link) = exchange!(self, self.crab._get(uri.as_str())).await?;
                let page: Vec<GithubComment> = decode(&self.target, &text)?;
                comments.extend(page.into_iter().map(Comment::from));
                next = next_page(link.as_deref());
                if let Some(next) = &next {
                    pages.follow(next)?;
                }
            }
            Ok(comments)
        })
    }

    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment> {
        Box::pin(async move {
            let payload = serde_json::json!({ "body": body });
            let path = self.path(sha);
            let (text, _) = exchange!(self, self.crab._post(path.as_str(), Some(&payload))).await?;
            Ok(decode::<GithubComment>(&self.target, &text)?.into())
        })
    }

    fn limits(&self) -> PaceLimits {
        PaceLimits::github()
    }

    fn max_body_chars(&self) -> usize {
        MAX_BODY_CHARS
    }
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn link_header_next_page_becomes_a_path() {
        let link = r#"<https://api.github.com/repositories/1/commits/abc/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/commits/abc/comments?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_page(Some(link)).as_deref(),
            Some("/repositories/1/commits/abc/comments?per_page=100&page=2")
        );
        let last_page = r#"<https://h/x?page=1>; rel="prev", <https://h/x?page=1>; rel="first""#;
        assert_eq!(next_page(Some(last_page)), None);
        assert_eq!(next_page(None), None);
    }
}
