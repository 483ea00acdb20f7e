//! Loopback fakes of GitHub's and GitLab's commit-comment APIs (wiremock
//! with stateful responders). They check what the real APIs check (method,
//! path, authentication header, JSON body), answer with the real response
//! shapes and pagination headers, keep the comments they accept, and can
//! be told to misbehave (5xx, rate limits, slowness) for the next requests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A comment the fake holds.
#[derive(Clone, Debug)]
pub struct Stored {
    pub sha: String,
    pub id: u64,
    pub body: String,
}

/// A request the fake saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub at: Instant,
}

/// Misbehaviour for the next request with the given method.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and the API's error body).
    Status(u16),
    /// GitHub's primary rate limit: 403, `x-ratelimit-remaining: 0`,
    /// `x-ratelimit-reset` this far ahead.
    RateLimit403 { reset_in: Duration },
    /// 429 with `retry-after`.
    Retry429 { after_secs: u64 },
    /// Answer normally (creating the comment on a POST) but only after this
    /// delay: the client times out although the request took effect.
    Slow(Duration),
    /// GitHub's secondary rate limit: 403 with its message, and
    /// `retry-after` only when given.
    SecondaryLimit403 { retry_after: Option<u64> },
}

/// Pagination gone wrong, for the listing calls.
#[derive(Clone, Copy, Debug)]
pub enum Paging {
    /// Every page names page 1 as the next one.
    BackToFirst,
    /// Every page names a further one (empty past the comments): no end.
    Endless,
}

struct Armed {
    method: &'static str,
    fault: Fault,
}

/// What both fakes share.
#[derive(Default)]
pub struct Fake {
    pub token: Mutex<String>,
    pub comments: Mutex<Vec<Stored>>,
    pub seen: Mutex<Vec<Seen>>,
    pub violations: Mutex<Vec<String>>,
    faults: Mutex<VecDeque<Armed>>,
    /// Largest page served, whatever `per_page` asks (forces pagination).
    pub page_cap: Mutex<usize>,
    /// When set, pages link on as this says instead of stopping at the last.
    pub paging: Mutex<Option<Paging>>,
    /// Commits the forge's copy of the repository does not have yet (a
    /// mirror lagging behind): listing and posting on them are refused as
    /// the real API refuses them.
    pub unknown_commits: Mutex<std::collections::HashSet<String>>,
    next_id: AtomicU64,
}

impl Fake {
    pub fn fail_next(&self, method: &'static str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .push_back(Armed { method, fault });
    }

    pub fn set_token(&self, token: &str) {
        *self.token.lock().unwrap() = token.to_owned();
    }

    pub fn posts(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == "POST")
            .cloned()
            .collect()
    }

    pub fn requests(&self, method: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method)
            .count()
    }

    pub fn comments_on(&self, sha: &str) -> Vec<Stored> {
        self.comments
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.sha == sha)
            .cloned()
            .collect()
    }

    pub fn all_comments(&self) -> Vec<Stored> {
        self.comments.lock().unwrap().clone()
    }

    /// Adds a comment as if someone else had posted it.
    pub fn add_comment(&self, sha: &str, body: &str) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1000;
        self.comments.lock().unwrap().push(Stored {
            sha: sha.to_owned(),
            id,
            body: body.to_owned(),
        });
    }

    pub fn assert_no_violations(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "API contract violations: {v:#?}");
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap();
        let index = faults
            .iter()
            .position(|a| a.method == method || a.method == "*")?;
        faults.remove(index).map(|a| a.fault)
    }

    /// The paths of the requests seen so far, in order.
    pub fn paths(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|s| s.path.clone()).collect()
    }

    fn record(&self, req: &Request) {
        self.seen.lock().unwrap().push(Seen {
            method: req.method.to_string(),
            path: req.url.path().to_owned(),
            query: req.url.query().unwrap_or("").to_owned(),
            at: Instant::now(),
        });
    }

    fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
        req.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn create(&self, sha: &str, body: String) -> Stored {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let stored = Stored {
            sha: sha.to_owned(),
            id,
            body,
        };
        self.comments.lock().unwrap().push(stored.clone());
        stored
    }

    /// The page a listing page links as next, if any.
    fn next_page(&self, page: usize, pages: usize) -> Option<usize> {
        match *self.paging.lock().unwrap() {
            None => (page < pages).then_some(page + 1),
            Some(Paging::BackToFirst) => Some(1),
            Some(Paging::Endless) => Some(page + 1),
        }
    }

    fn page(&self, req: &Request, sha: &str) -> (Vec<Stored>, usize, usize, usize) {
        let q = |name: &str| {
            req.url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let cap = (*self.page_cap.lock().unwrap()).max(1);
        let per_page = q("per_page").unwrap_or(30).min(100).min(cap);
        let page = q("page").unwrap_or(1).max(1);
        let all = self.comments_on(sha);
        let pages = all.len().div_ceil(per_page).max(1);
        let items = all
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        (items, page, per_page, pages)
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- GitHub

pub struct FakeGithub {
    pub server: MockServer,
    pub fake: Arc<Fake>,
    pub repo: String,
}

struct GithubResponder {
    fake: Arc<Fake>,
    repo: String,
    /// Where the API lives (`http://127.0.0.1:port` or `.../api/v3`).
    base: String,
    /// The path prefix of a GitHub Enterprise API (`/api/v3`), or empty.
    prefix: String,
}

/// A GitHub App installation access token request: what the fake answers.
pub const INSTALLATION_ID: u64 = 31337;

impl FakeGithub {
    pub async fn start(repo: &str, token: &str) -> FakeGithub {
        FakeGithub::start_at("", repo, token).await
    }

    /// A fake GitHub Enterprise, its API under `prefix` (`/api/v3`).
    pub async fn start_at(prefix: &str, repo: &str, token: &str) -> FakeGithub {
        let (server, fake) = serve(token, |fake, uri| GithubResponder {
            fake,
            repo: repo.to_owned(),
            base: format!("{uri}{prefix}"),
            prefix: prefix.to_owned(),
        })
        .await;
        FakeGithub {
            server,
            fake,
            repo: repo.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }
}

impl std::ops::Deref for FakeGithub {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.fake
    }
}

/// A retry policy for tests against the fakes: backoffs of milliseconds,
/// so retries cost no time; how many attempts and how long one request may
/// take are what each test chooses.
pub fn quick_retries(max_attempts: u32, request_timeout: Duration) -> abibot::forge::RetryPolicy {
    abibot::forge::RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_rate_limit_wait: Duration::from_secs(10),
        request_timeout,
    }
}

/// A loopback server that hands every request to the responder `make`
/// builds from a new [`Fake`] accepting `token` and the server's URL.
async fn serve<R: wiremock::Respond + 'static>(
    token: &str,
    make: impl FnOnce(Arc<Fake>, String) -> R,
) -> (MockServer, Arc<Fake>) {
    let server = MockServer::start().await;
    let fake = Arc::new(Fake::default());
    fake.set_token(token);
    *fake.page_cap.lock().unwrap() = 100;
    Mock::given(wiremock::matchers::any())
        .respond_with(make(fake.clone(), server.uri()))
        .mount(&server)
        .await;
    (server, fake)
}

fn github_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }))
}

/// GitHub refuses comment bodies longer than this many characters.
pub const GITHUB_MAX_BODY_CHARS: usize = 65_536;

/// GitHub's answer to a comment body over [`GITHUB_MAX_BODY_CHARS`].
fn github_body_too_long() -> ResponseTemplate {
    ResponseTemplate::new(422)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{
                "resource": "CommitComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }],
            "documentation_url": "https://docs.github.com/rest/commits/comments#create-a-commit-comment",
            "status": "422",
        }))
}

impl GithubResponder {
    fn comment_json(&self, c: &Stored) -> Value {
        json!({
            "html_url": format!("https://github.com/{}/commit/{}#commitcomment-{}", self.repo, c.sha, c.id),
            "url": format!("{}/repos/{}/comments/{}", self.base, self.repo, c.id),
            "id": c.id,
            "node_id": format!("CC_kwDOAAAB{}", c.id),
            "body": c.body,
            "path": null,
            "position": null,
            "line": null,
            "commit_id": c.sha,
            "user": {
                "login": "abibot[bot]", "id": 4242, "node_id": "BOT_kgDOAAAAAQ",
                "type": "Bot", "site_admin": false,
                "html_url": "https://github.com/apps/abibot",
            },
            "created_at": now_rfc3339(),
            "updated_at": now_rfc3339(),
            "author_association": "NONE",
            "reactions": {"url": "", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                          "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        })
    }

    /// `/repos/{owner}/{repo}/commits/{sha}/comments`, or the
    /// `/repositories/{id}/...` form GitHub uses in `Link` headers.
    fn sha_of<'a>(&self, path: &'a str) -> Result<&'a str, Box<ResponseTemplate>> {
        let not_found = || Box::new(github_error(404, "Not Found"));
        let rest = path
            .strip_prefix(&format!("/repos/{}/commits/", self.repo))
            .or_else(|| path.strip_prefix("/repositories/987654/commits/"))
            .ok_or_else(not_found)?;
        let sha = rest.strip_suffix("/comments").ok_or_else(not_found)?;
        if !is_sha(sha) {
            return Err(Box::new(github_error(422, "No commit found for SHA")));
        }
        Ok(sha)
    }

    /// `POST /app/installations/{id}/access_tokens`, authenticated by the
    /// App's JWT (RS256): answers with the installation token.
    fn installation_token(&self, req: &Request) -> ResponseTemplate {
        let jwt = Fake::header(req, "authorization").and_then(|a| a.strip_prefix("Bearer "));
        let parts: Vec<&str> = jwt.map(|j| j.split('.').collect()).unwrap_or_default();
        if req.method.as_str() != "POST" || parts.len() != 3 {
            return github_error(401, "A JSON web token could not be decoded");
        }
        use base64_url_decode as decode;
        let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap_or(Value::Null);
        if header["alg"] != "RS256" {
            self.fake.violation(format!("JWT header {header}"));
        }
        let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap_or(Value::Null);
        if claims["iss"].as_str() != Some("1234") && claims["iss"].as_u64() != Some(1234) {
            self.fake.violation(format!("JWT claims {claims}"));
        }
        let expires =
            humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
        ResponseTemplate::new(201).set_body_json(json!({
            "token": *self.fake.token.lock().unwrap(),
            "expires_at": expires.to_string(),
            "permissions": {"contents": "write"},
            "repository_selection": "all",
        }))
    }

    fn handle(&self, req: &Request) -> ResponseTemplate {
        let fake = &self.fake;
        let Some(path) = req.url.path().strip_prefix(&self.prefix) else {
            return github_error(404, "Not Found");
        };
        if path == format!("/app/installations/{INSTALLATION_ID}/access_tokens") {
            return self.installation_token(req);
        }
        let expected = format!("Bearer {}", fake.token.lock().unwrap());
        if Fake::header(req, "authorization") != Some(expected.as_str()) {
            return github_error(401, "Bad credentials");
        }
        match Fake::header(req, "accept") {
            Some(a) if a.contains("application/vnd.github+json") => {}
            other => fake.violation(format!("Accept header {other:?}")),
        }
        if Fake::header(req, "user-agent").is_none() {
            // GitHub refuses requests without a User-Agent.
            return github_error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            );
        }
        let sha = match self.sha_of(path) {
            Ok(sha) => sha,
            Err(response) => return *response,
        };
        if fake.unknown_commits.lock().unwrap().contains(sha) {
            return github_error(422, &format!("No commit found for SHA: {sha}"));
        }
        match req.method.as_str() {
            "POST" => {
                if Fake::header(req, "content-type") != Some("application/json") {
                    fake.violation(format!(
                        "POST content-type {:?}",
                        Fake::header(req, "content-type")
                    ));
                }
                let body: Value = match req.body_json() {
                    Ok(v) => v,
                    Err(_) => return github_error(400, "Problems parsing JSON"),
                };
                let keys: Vec<&String> = body
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                if keys != ["body"] {
                    fake.violation(format!("POST body keys {keys:?}"));
                }
                let Some(text) = body.get("body").and_then(Value::as_str) else {
                    return github_error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
                };
                if text.chars().count() > GITHUB_MAX_BODY_CHARS {
                    return github_body_too_long();
                }
                let stored = fake.create(sha, text.to_owned());
                ResponseTemplate::new(201)
                    .insert_header("content-type", "application/json; charset=utf-8")
                    .insert_header(
                        "location",
                        format!("{}/repos/{}/comments/{}", self.base, self.repo, stored.id),
                    )
                    .set_body_json(self.comment_json(&stored))
            }
            "GET" => {
                let (items, page, per_page, pages) = fake.page(req, sha);
                let body: Vec<Value> = items.iter().map(|c| self.comment_json(c)).collect();
                let mut response = ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json; charset=utf-8")
                    .set_body_json(body);
                if let Some(next) = fake.next_page(page, pages) {
                    let link = |p: usize| {
                        format!(
                            "{}/repositories/987654/commits/{sha}/comments?per_page={per_page}&page={p}",
                            self.base
                        )
                    };
                    response = response.insert_header(
                        "link",
                        format!(
                            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                            link(next),
                            link(pages.max(next))
                        ),
                    );
                }
                response
            }
            other => github_error(404, &format!("Not Found ({other})")),
        }
    }
}

/// base64url without padding, as in JWTs (no dependency for a test).
fn base64_url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            break;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Applies an armed fault: `Some(response)` replaces the normal answer.
fn faulted(
    fault: Fault,
    error: impl Fn(u16, &str) -> ResponseTemplate,
    normal: impl FnOnce() -> ResponseTemplate,
) -> ResponseTemplate {
    match fault {
        Fault::Status(s) => error(s, "Server Error"),
        Fault::RateLimit403 { reset_in } => {
            let reset = unix_now() + reset_in.as_secs();
            error(403, "API rate limit exceeded for user ID 4242.")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "5000")
                .insert_header("x-ratelimit-reset", reset.to_string())
        }
        Fault::Retry429 { after_secs } => error(429, "You have exceeded a secondary rate limit.")
            .insert_header("retry-after", after_secs.to_string()),
        Fault::SecondaryLimit403 { retry_after } => {
            let response = error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            match retry_after {
                Some(after) => response.insert_header("retry-after", after.to_string()),
                None => response,
            }
        }
        Fault::Slow(delay) => normal().set_delay(delay),
    }
}

impl Respond for GithubResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.fake.record(req);
        match self.fake.take_fault(req.method.as_str()) {
            Some(fault) => faulted(fault, github_error, || self.handle(req)),
            None => self.handle(req),
        }
    }
}

// ---------------------------------------------------------------- GitLab

pub struct FakeGitlab {
    pub server: MockServer,
    pub fake: Arc<Fake>,
    /// The project as it appears in request paths (`42` or `group%2Fproject`).
    pub project_in_path: String,
}

struct GitlabResponder {
    fake: Arc<Fake>,
    project_in_path: String,
}

impl FakeGitlab {
    pub async fn start(project_in_path: &str, token: &str) -> FakeGitlab {
        let (server, fake) = serve(token, |fake, _| GitlabResponder {
            fake,
            project_in_path: project_in_path.to_owned(),
        })
        .await;
        FakeGitlab {
            server,
            fake,
            project_in_path: project_in_path.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }
}

impl std::ops::Deref for FakeGitlab {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.fake
    }
}

fn gitlab_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json")
        .set_body_json(json!({ "message": message }))
}

impl GitlabResponder {
    fn note_json(c: &Stored) -> Value {
        json!({
            "note": c.body,
            "path": null,
            "line": null,
            "line_type": null,
            "author": {
                "id": 77, "username": "abibot", "name": "abibot", "state": "active",
                "avatar_url": null, "web_url": "https://gitlab.example/abibot",
            },
            "created_at": now_rfc3339(),
        })
    }

    fn handle(&self, req: &Request) -> ResponseTemplate {
        let fake = &self.fake;
        let token = fake.token.lock().unwrap().clone();
        if Fake::header(req, "private-token") != Some(token.as_str()) {
            return gitlab_error(401, "401 Unauthorized");
        }
        // The path as sent: `%2F` must stay encoded.
        let path = req.url.path();
        let Some(rest) = path.strip_prefix(&format!(
            "/api/v4/projects/{}/repository/commits/",
            self.project_in_path
        )) else {
            return gitlab_error(404, "404 Project Not Found");
        };
        let Some(sha) = rest
            .strip_suffix("/comments")
            .filter(|s| is_sha(s) && !fake.unknown_commits.lock().unwrap().contains(*s))
        else {
            return gitlab_error(404, "404 Commit Not Found");
        };
        match req.method.as_str() {
            "POST" => {
                let body: Value = match req.body_json() {
                    Ok(v) => v,
                    Err(_) => return gitlab_error(400, "400 Bad request - note is missing"),
                };
                let keys: Vec<&String> = body
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                if keys != ["note"] {
                    fake.violation(format!("POST body keys {keys:?}"));
                }
                let Some(note) = body.get("note").and_then(Value::as_str) else {
                    return gitlab_error(400, "400 Bad request - note is missing");
                };
                let stored = fake.create(sha, note.to_owned());
                ResponseTemplate::new(201)
                    .insert_header("content-type", "application/json")
                    .set_body_json(Self::note_json(&stored))
            }
            "GET" => {
                let (items, page, per_page, pages) = fake.page(req, sha);
                let total = fake.comments_on(sha).len();
                let body: Vec<Value> = items.iter().map(Self::note_json).collect();
                let next = fake
                    .next_page(page, pages)
                    .map_or(String::new(), |n| n.to_string());
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .insert_header("x-page", page.to_string())
                    .insert_header("x-per-page", per_page.to_string())
                    .insert_header("x-next-page", next)
                    .insert_header(
                        "x-prev-page",
                        if page > 1 {
                            (page - 1).to_string()
                        } else {
                            String::new()
                        },
                    )
                    .insert_header("x-total", total.to_string())
                    .insert_header("x-total-pages", pages.to_string())
                    .set_body_json(body)
            }
            _ => gitlab_error(405, "405 Method Not Allowed"),
        }
    }
}

impl Respond for GitlabResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.fake.record(req);
        match self.fake.take_fault(req.method.as_str()) {
            Some(fault) => faulted(fault, gitlab_error, || self.handle(req)),
            None => self.handle(req),
        }
    }
}
