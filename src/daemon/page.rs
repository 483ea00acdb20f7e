//! The timeline pages on the daemon's `listen` address: `GET /` lists the
//! watched repositories, `GET /repo/<name>` is the HTML timeline of one
//! (the page `abibot timeline --format html` writes) for its first branch.
//!
//! A page is drawn on request by walking the repository's local clone (the
//! configured `path`, or the daemon's cached bare clone of a `url`, never
//! fetched here) from its root to the branch head, and kept until that head
//! moves: one page per repository is held, and one walk runs at a time, on
//! one parsing thread, so pages never take more than a core from the polls.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::http::{Reply, text};

use crate::config::{Config, RepoConfig, RepoSource};
use crate::pipeline::RepoSpec;
use crate::report::html::{CSP, page};
use crate::report::untrusted::html;

/// What a request for a page gets.
#[derive(Debug)]
pub enum Answer {
    /// The page.
    Page(Arc<String>),
    /// No watched repository has that name.
    NotFound,
    /// The page cannot be drawn now (why, for the operator).
    Unavailable(String),
}

/// The pages of a daemon's repositories, each kept for its branch head.
pub struct Pages {
    repos: Vec<RepoConfig>,
    cache_dir: PathBuf,
    drawn: Mutex<HashMap<String, (Oid, Arc<String>)>>,
    /// Held while a page is drawn: one walk at a time.
    drawing: Mutex<()>,
}

impl Pages {
    /// The pages of `config`'s repositories.
    pub fn new(config: &Config) -> Pages {
        Pages {
            repos: config.repos.clone(),
            cache_dir: config.cache_dir.clone(),
            drawn: Mutex::new(HashMap::new()),
            drawing: Mutex::new(()),
        }
    }

    /// `GET /`: a list of the repositories, each linking to its page.
    pub fn index(&self) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
             <title>abibot</title>\n</head>\n<body>\n<h1>abibot: ABI timelines</h1>\n<ul>\n"
        );
        for repo in &self.repos {
            let name = html(repo.name.as_str());
            let branch = repo.branches.first().map_or(String::new(), |b| html(b));
            let _ = writeln!(
                out,
                "<li><a href=\"/repo/{name}\">{name}</a> (branch <code>{branch}</code>)</li>"
            );
        }
        out.push_str("</ul>\n</body>\n</html>\n");
        out
    }

    /// `GET /repo/<name>`: the repository's page, drawn again only when its
    /// branch head moved. Blocking (a walk): call it off the async threads.
    pub fn repo(&self, name: &str) -> Answer {
        let Some(repo) = self.repos.iter().find(|r| r.name.as_str() == name) else {
            return Answer::NotFound;
        };
        match self.draw(repo) {
            Ok(page) => Answer::Page(page),
            Err(e) => Answer::Unavailable(format!("repository {name}: {e}")),
        }
    }

    /// The answer to `GET path` (`/` or `/repo/<name>`): the page, 404 for
    /// a name not watched, 503 saying why a page cannot be drawn now.
    pub async fn answer(self: Arc<Self>, path: &str) -> Reply {
        let Some(name) = path.strip_prefix("/repo/") else {
            return page_reply(self.index());
        };
        let name = name.to_owned();
        let answer = tokio::task::spawn_blocking(move || self.repo(&name)).await;
        match answer {
            Ok(Answer::Page(page)) => page_reply(page.as_str().to_owned()),
            Ok(Answer::NotFound) => text(
                StatusCode::NOT_FOUND,
                "no watched repository of that name\n",
            ),
            Ok(Answer::Unavailable(why)) => {
                tracing::warn!(error = %why, "timeline page not drawn");
                text(StatusCode::SERVICE_UNAVAILABLE, &format!("{why}\n"))
            }
            Err(e) => {
                tracing::error!(error = %e, "drawing a timeline page failed");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "drawing the page failed\n",
                )
            }
        }
    }

    fn draw(&self, repo: &RepoConfig) -> anyhow::Result<Arc<String>> {
        let git = self.open(repo)?;
        let branch = repo
            .branches
            .first()
            .ok_or_else(|| anyhow::anyhow!("no branch configured"))?;
        let head = super::git::branch_head(&git, repo, branch)?;
        if let Some(page) = self.kept(repo, head) {
            return Ok(page);
        }
        let _one_at_a_time = self.drawing.lock().unwrap_or_else(|e| e.into_inner());
        // Drawn by the walk this one waited for.
        if let Some(page) = self.kept(repo, head) {
            return Ok(page);
        }
        let spec = RepoSpec::of_config(repo, 1)?;
        let (picture, _) = crate::picture::gather(&git, &spec, None, head, |_, _| {})?;
        let drawn = Arc::new(page(&picture));
        let mut kept = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(repo.name.to_string(), (head, drawn.clone()));
        Ok(drawn)
    }

    /// The page kept for `repo` when it was drawn at `head`.
    fn kept(&self, repo: &RepoConfig, head: Oid) -> Option<Arc<String>> {
        let kept = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(repo.name.as_str())
            .filter(|(at, _)| *at == head)
            .map(|(_, page)| page.clone())
    }

    /// The local clone: the configured path, or the daemon's bare clone of
    /// the url (made by its first poll; not fetched here).
    fn open(&self, repo: &RepoConfig) -> anyhow::Result<Repository> {
        Ok(match &repo.source {
            RepoSource::Path(path) => Repository::open(path)?,
            RepoSource::Url(_) => {
                let dir = self.cache_dir.join(format!("{}.git", repo.name));
                Repository::open_bare(&dir)
                    .map_err(|e| anyhow::anyhow!("no clone yet (the first poll makes it): {e}"))?
            }
        })
    }
}

/// An HTML page, 200, its policy also sent as a header.
fn page_reply(body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    response
}
