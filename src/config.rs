//! The daemon's configuration file (`config/abibot.toml`): its TOML schema,
//! its validation, and the references to secrets it holds.
//!
//! Parsing is two-step: serde reads the raw tables (unknown keys rejected,
//! with the line), then [`Config::parse`] checks what serde cannot (exactly
//! one source and one forge per repository, names, URLs, ignore rules) and
//! names the key and line of each problem. Secrets are never inline: a
//! config holds only [`SecretRef`]s (an environment variable or a file),
//! resolved into a [`Secret`] when a forge client is built.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::history::explain::source::{BuildSources, Template};
use crate::ignore::{IgnoreRule, IgnoreRules};
use crate::layouts::Layout;

/// The name of a watched repository: part of finding ids, a directory name
/// in the clone cache and a label in metrics, so it is kept to
/// `[A-Za-z0-9._-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// A validated name.
    pub fn new(name: &str) -> Result<RepoName, String> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(RepoName(name.to_owned()))
        } else {
            Err(format!(
                "{name:?} is not a valid repository name (letters, digits, '.', '_', '-'; not starting with '.')"
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret value (token, private key). Never shown by `Debug` or `Display`,
/// so it cannot leak through logs or error chains by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret is found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file (its content, surrounding whitespace trimmed).
    File(PathBuf),
}

/// A secret reference could not be resolved. The message names the
/// variable or file, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read (missing, not a regular file, larger than
    /// [`crate::input::SECRET`], not UTF-8).
    #[error("cannot read secret file {0}")]
    File(#[source] crate::input::InputError),
    /// The variable or file is empty.
    #[error("{0} is empty")]
    Empty(String),
}

impl SecretRef {
    /// Reads the secret now.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let (value, what) = match self {
            SecretRef::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))?,
                format!("environment variable {name}"),
            ),
            SecretRef::File(path) => (
                crate::input::read_text(path, crate::input::SECRET).map_err(SecretError::File)?,
                format!("secret file {}", path.display()),
            ),
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty(what));
        }
        Ok(Secret(value.to_owned()))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "${name}"),
            SecretRef::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// The SQLite state database.
    pub state: PathBuf,
    /// Time between two polls of a repository.
    pub poll_interval: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// How many repositories are polled at the same time.
    pub concurrency: usize,
    /// Where repositories given by `url` are cloned.
    pub cache_dir: PathBuf,
    /// Address of the `/healthz` and `/metrics` server, if any.
    pub listen: Option<SocketAddr>,
    /// The secret authenticating push webhooks (`webhook_secret_env` or
    /// `webhook_secret_file`); the webhook routes are off without it.
    pub webhook_secret: Option<SecretRef>,
    /// Bounds on git's network operations.
    pub fetch: FetchTimeouts,
    /// The watched repositories.
    pub repos: Vec<RepoConfig>,
}

/// How long a fetch or clone may wait on the network before it fails (the
/// poll is then retried at the next interval). They are libgit2's process-wide
/// server timeouts (`GIT_OPT_SET_SERVER_CONNECT_TIMEOUT`, `..._SERVER_TIMEOUT`;
/// libgit2 1.9 as vendored): the connect timeout bounds the TCP connect of
/// every remote (https, http, git://, ssh: libgit2 opens ssh's socket too);
/// the idle timeout bounds each read or write of libgit2's own socket
/// streams (https, http, git://), and for ssh it becomes libssh2's session
/// timeout, which bounds each blocking libssh2 call (handshake,
/// authentication, one channel read or write) as a whole. Local paths use
/// no network and no timeout. Only https/http is tested (`tests/daemon_hang.rs`);
/// ssh is as libgit2's source reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchTimeouts {
    /// `fetch_connect_timeout`: to establish the connection.
    pub connect: Duration,
    /// `fetch_idle_timeout`: for any single read or write once connected; a
    /// remote that accepts and then stops answering fails after this long.
    pub idle: Duration,
}

impl Default for FetchTimeouts {
    fn default() -> FetchTimeouts {
        FetchTimeouts {
            connect: DEFAULT_FETCH_CONNECT_TIMEOUT,
            idle: DEFAULT_FETCH_IDLE_TIMEOUT,
        }
    }
}

/// Where a repository's commits come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoSource {
    /// Cloned (bare) into the cache directory and fetched at every poll:
    /// https, ssh, or a local path.
    Url(String),
    /// An existing clone, read as it is (whoever owns it keeps it current).
    Path(PathBuf),
}

/// One `[[repo]]` table.
#[derive(Clone, Debug)]
pub struct RepoConfig {
    /// Its name.
    pub name: RepoName,
    /// Where its commits come from.
    pub source: RepoSource,
    /// Branches to watch.
    pub branches: Vec<String>,
    /// The layout forced by `layout = "..."` (`debian`, `ubuntu`, `redhat`),
    /// built at `root` when the file was parsed; detected when `None`.
    pub layout: Option<Layout>,
    /// The packaging directory inside the repository.
    pub root: Option<String>,
    /// Ignore rules added to the repository's own (Debian `ignore-changes`
    /// syntax), parsed with the file.
    pub ignore: IgnoreRules,
    /// Prebuilt modules to protect: comments say which of them a finding breaks.
    pub modules: Vec<PathBuf>,
    /// Build output outside the repository explaining hidden breaks
    /// (`symtypes_source`, `debug_source` path templates, checked here).
    pub explain: BuildSources,
    /// On first start, comment on the existing history too.
    pub backfill: bool,
    /// Where comments go.
    pub forge: ForgeConfig,
    /// Line of the `[[repo]]` table in the file, for messages.
    pub line: usize,
}

/// Where and how comments are posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForgeConfig {
    /// GitHub or GitHub Enterprise commit comments.
    Github(GithubConfig),
    /// GitLab commit comments.
    Gitlab(GitlabConfig),
    /// Dry run: comment bodies written to standard output.
    Stdout,
    /// Dry run: comments appended to a JSON Lines file.
    File(PathBuf),
}

impl ForgeConfig {
    /// A short description for logs (`github owner/linux`); holds no secret.
    pub fn describe(&self) -> String {
        match self {
            ForgeConfig::Github(g) => format!("github {} at {}", g.repo, g.api_url),
            ForgeConfig::Gitlab(g) => format!("gitlab project {} at {}", g.project, g.base_url),
            ForgeConfig::Stdout => "stdout".to_owned(),
            ForgeConfig::File(path) => format!("file {}", path.display()),
        }
    }
}

/// `[repo.github]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubConfig {
    /// `owner/repo`.
    pub repo: String,
    /// API root (`https://api.github.com`, or `https://host/api/v3`).
    pub api_url: String,
    /// How to authenticate.
    pub auth: GithubAuth,
}

/// GitHub authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GithubAuth {
    /// A personal (or fine-grained) access token.
    Token(SecretRef),
    /// A GitHub App installation.
    App {
        /// The App's id.
        app_id: u64,
        /// The App's RSA private key (PEM).
        private_key: SecretRef,
        /// The installation on the repository's owner.
        installation_id: u64,
    },
}

/// `[repo.gitlab]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitlabConfig {
    /// Instance root (`https://salsa.debian.org`).
    pub base_url: String,
    /// The project, by id or path.
    pub project: GitlabProject,
    /// The access token.
    pub token: SecretRef,
}

/// A GitLab project reference.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum GitlabProject {
    /// Numeric id.
    Id(u64),
    /// `group/project` path.
    Path(String),
}

impl fmt::Display for GitlabProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitlabProject::Id(id) => write!(f, "{id}"),
            GitlabProject::Path(path) => f.write_str(path),
        }
    }
}

/// A configuration problem; the message names the file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, not a regular file, larger than
    /// [`crate::input::CONFIG`], not UTF-8); the error names it.
    #[error("cannot read configuration {0}")]
    Read(#[source] crate::input::InputError),
    /// Not valid TOML, or not the schema (unknown key, wrong type).
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// The state database could not be created or written where `state` says.
    #[error("`state` {}: {message}", path.display())]
    State {
        /// The configured path.
        path: PathBuf,
        /// Why it cannot be written.
        message: String,
    },
    /// A value that parses but is not acceptable.
    #[error("{file}:{line}: `{key}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The key (`repo.github.token_env`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

const DEFAULT_POLL: Duration = Duration::from_secs(60);
const DEFAULT_CONCURRENCY: usize = 2;
const DEFAULT_GITHUB_API: &str = "https://api.github.com";
/// Default `fetch_connect_timeout`.
pub const DEFAULT_FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default `fetch_idle_timeout`: long enough for a server preparing a large
/// pack, short enough that a stalled remote is reported within minutes.
pub const DEFAULT_FETCH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest fetch timeout: libgit2 takes milliseconds as a C `int`.
pub const MAX_FETCH_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state: Spanned<PathBuf>,
    poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    log_format: LogFormat,
    concurrency: Option<Spanned<usize>>,
    cache_dir: Option<PathBuf>,
    listen: Option<Spanned<String>>,
    webhook_secret_env: Option<Spanned<String>>,
    webhook_secret_file: Option<Spanned<PathBuf>>,
    webhook_secret: Option<Spanned<toml::Value>>,
    fetch_connect_timeout: Option<Spanned<String>>,
    fetch_idle_timeout: Option<Spanned<String>>,
    #[serde(default)]
    repo: Vec<Spanned<RawRepo>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    path: Option<Spanned<PathBuf>>,
    branches: Spanned<Vec<String>>,
    layout: Option<Spanned<String>>,
    root: Option<String>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    #[serde(default)]
    modules: Vec<PathBuf>,
    symtypes_source: Option<Spanned<String>>,
    debug_source: Option<Spanned<String>>,
    #[serde(default)]
    backfill: bool,
    github: Option<Spanned<RawGithub>>,
    gitlab: Option<Spanned<RawGitlab>>,
    stdout: Option<Spanned<RawStdout>>,
    file: Option<Spanned<RawFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGithub {
    repo: Spanned<String>,
    api_url: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    app_id: Option<u64>,
    private_key_file: Option<Spanned<PathBuf>>,
    installation_id: Option<u64>,
    token: Option<Spanned<toml::Value>>,
    private_key: Option<Spanned<toml::Value>>,
    password: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGitlab {
    base_url: Spanned<String>,
    project: Spanned<GitlabProject>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    token: Option<Spanned<toml::Value>>,
    private_key: Option<Spanned<toml::Value>>,
    password: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStdout {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: PathBuf,
}

/// Turns byte offsets into lines and builds errors.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    base: Option<&'a Path>,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: String,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            file: self.file.to_owned(),
            line: self.line(span.start),
            key: key.to_owned(),
            // Messages quote what was written: never a URL's credentials
            // or a token, even where neither belongs.
            message: crate::secrets::redact(&message).into_owned(),
        })
    }

    /// A duration key (humantime: `60s`, `5m`) within `range`, or `default`.
    fn duration(
        &self,
        value: Option<Spanned<String>>,
        key: &str,
        range: std::ops::RangeInclusive<Duration>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        match humantime::parse_duration(value.get_ref()) {
            Ok(d) if range.contains(&d) => Ok(d),
            Ok(_) if *range.end() == Duration::MAX => self.invalid(
                value.span(),
                key,
                format!(
                    "must be at least {}",
                    humantime::format_duration(*range.start())
                ),
            ),
            Ok(_) => self.invalid(
                value.span(),
                key,
                format!(
                    "must be between {} and {}",
                    humantime::format_duration(*range.start()),
                    humantime::format_duration(*range.end())
                ),
            ),
            Err(e) => self.invalid(
                value.span(),
                key,
                format!("{:?}: {e} (write e.g. \"60s\", \"5m\")", value.get_ref()),
            ),
        }
    }

    /// toml's own message for a syntax or schema error, rebuilt from its
    /// span: toml's `Display` quotes the offending line, which may hold a
    /// secret under a misspelt key (`tokenn = "ghp_..."`), and serde's
    /// messages quote values (`invalid type: string "..."`). Only the line,
    /// the key and the schema's own words are kept.
    fn syntax(&self, e: &toml::de::Error) -> ConfigError {
        let key = e.span().and_then(|span| self.key_at(span.start));
        let message = schema_words(e.message(), key.as_deref());
        let message = match (e.span(), key) {
            (Some(span), Some(key)) if !message.contains(&format!("`{key}`")) => {
                format!("line {}: `{key}`: {message}", self.line(span.start))
            }
            (Some(span), _) => format!("line {}: {message}", self.line(span.start)),
            (None, _) => message,
        };
        ConfigError::Syntax {
            file: self.file.to_owned(),
            message,
        }
    }

    /// The key written on the line holding `offset` (the text before `=`),
    /// or the table header; `None` when it looks like a token itself.
    fn key_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next().unwrap_or("").trim();
        let key = match line.strip_prefix('[') {
            Some(header) => header.trim_matches(|c| c == '[' || c == ']').trim(),
            None => line.split_once('=')?.0.trim(),
        };
        let key = key.trim_matches('"');
        (!key.is_empty() && !crate::secrets::looks_like_token(key)).then(|| key.to_owned())
    }

    /// Relative paths are taken from the configuration file's directory, so
    /// a config works whatever the daemon's working directory.
    fn path(&self, path: PathBuf) -> PathBuf {
        match self.base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            crate::input::read_text(path, crate::input::CONFIG).map_err(ConfigError::Read)?;
        Config::parse_at(&text, &path.display().to_string(), path.parent())
    }

    /// Validates configuration text; `file` names it in errors. Relative
    /// paths stay relative.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::parse_at(text, file, None)
    }

    fn parse_at(text: &str, file: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        let src = Source { file, text, base };
        let raw: RawConfig = toml::from_str(text).map_err(|e| src.syntax(&e))?;
        let poll_interval = src.duration(
            raw.poll_interval,
            "poll_interval",
            Duration::from_secs(1)..=Duration::MAX,
            DEFAULT_POLL,
        )?;
        let fetch = fetch_timeouts(&src, raw.fetch_connect_timeout, raw.fetch_idle_timeout)?;
        let concurrency = match raw.concurrency {
            None => DEFAULT_CONCURRENCY,
            Some(c) if *c.get_ref() == 0 => {
                return src.invalid(c.span(), "concurrency", "must be at least 1".into());
            }
            Some(c) => c.into_inner(),
        };
        let listen = listen_addr(&src, raw.listen)?;
        let webhook = (raw.webhook_secret_env, raw.webhook_secret_file);
        let webhook_secret = webhook_secret(&src, webhook, raw.webhook_secret, listen)?;
        let state_path = src.path(raw.state.get_ref().clone());
        if state_path.as_os_str().is_empty() {
            return src.invalid(raw.state.span(), "state", "must name a file".into());
        }
        let cache_dir = match raw.cache_dir {
            Some(dir) => src.path(dir),
            None => state_path
                .parent()
                .map_or_else(|| PathBuf::from("repos"), |p| p.join("repos")),
        };
        let repos = validate_repos(&src, raw.repo)?;
        Ok(Config {
            state: state_path,
            poll_interval,
            log_format: raw.log_format,
            concurrency,
            cache_dir,
            listen,
            webhook_secret,
            fetch,
            repos,
        })
    }

    /// Checks that the state database can be written where `state` says: an
    /// existing regular file opened for writing, in a directory where SQLite
    /// can create its journal (tried with a temporary file, so permissions,
    /// read-only mounts and full disks all count).
    pub fn check_state(&self) -> Result<(), ConfigError> {
        state_writable(&self.state).map_err(|message| ConfigError::State {
            path: self.state.clone(),
            message,
        })
    }

    /// Problems that do not make the file invalid but would stop a repository
    /// at run time: unset variables, unreadable secret or clone paths.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(Err(e)) = self.webhook_secret.as_ref().map(SecretRef::resolve) {
            out.push(format!("webhook secret: {e} (the daemon will not start)"));
        }
        for repo in &self.repos {
            let secrets: Vec<&SecretRef> = match &repo.forge {
                ForgeConfig::Github(g) => match &g.auth {
                    GithubAuth::Token(t) => vec![t],
                    GithubAuth::App { private_key, .. } => vec![private_key],
                },
                ForgeConfig::Gitlab(g) => vec![&g.token],
                ForgeConfig::Stdout | ForgeConfig::File(_) => vec![],
            };
            for secret in secrets {
                if let Err(e) = secret.resolve() {
                    out.push(format!("repo {}: {e}", repo.name));
                }
            }
            if let RepoSource::Path(path) = &repo.source
                && !path.exists()
            {
                out.push(format!(
                    "repo {}: path {} does not exist",
                    repo.name,
                    path.display()
                ));
            }
        }
        out
    }
}

fn state_writable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err("is a directory; name a file inside it".into()),
        Ok(m) if !m.is_file() => return Err("is not a regular file".into()),
        Ok(_) => {
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot be opened for writing: {e}"))?;
        }
        // No file yet (or a file where a directory should be): the
        // directory check below says which.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) => {}
        Err(e) => return Err(format!("cannot be examined: {e}")),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let why = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(format!("its directory {} {why}", dir.display()));
    }
    tempfile::Builder::new()
        .prefix(".abibot-write-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| format!("its directory {} is not writable: {e}", dir.display()))
}

/// `message` without the values serde quotes in it (`"..."` or `` `...` ``
/// before `expected`), except `key` itself; the list after `expected` is the
/// schema's and kept. Newlines become `; ` to keep one line per error.
fn schema_words(message: &str, key: Option<&str>) -> String {
    let split = message
        .find(", expected")
        .or_else(|| message.find("\nexpected"))
        .unwrap_or(message.len());
    let (head, tail) = message.split_at(split);
    let last_key = key.map(|k| k.rsplit('.').next().unwrap_or(k).trim_matches('"'));
    let mut out = String::new();
    let mut rest = head;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().expect("found a quote");
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let quoted = &rest[open + 1..open + 1 + len];
        out.push_str(rest[..open].trim_end_matches(' '));
        if Some(quoted) == last_key {
            out.push_str(&format!(" `{quoted}`"));
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out.push_str(tail);
    crate::secrets::redact(out.trim())
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Keys that would hold a secret inline (`token`, `private_key`,
/// `password`) are in the schema only to be refused with a message that does
/// not repeat the value: toml's own "unknown field" error quotes the line.
fn refuse_inline(
    src: &Source<'_>,
    table: &str,
    inline: [&Option<Spanned<toml::Value>>; 3],
) -> Result<(), ConfigError> {
    let keys = [
        ("token", "token_env or token_file"),
        ("private_key", "private_key_file"),
        ("password", "token_env or token_file"),
    ];
    for ((key, instead), value) in keys.into_iter().zip(inline) {
        if let Some(value) = value {
            return src.invalid(
                value.span(),
                &format!("{table}.{key}"),
                format!("secrets are not accepted inline; use {instead}"),
            );
        }
    }
    Ok(())
}

fn token_ref(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    table: &str,
    env: Option<Spanned<String>>,
    file: Option<Spanned<PathBuf>>,
) -> Result<Option<SecretRef>, ConfigError> {
    match (env, file) {
        (Some(_), Some(_)) => src.invalid(
            span,
            &format!("{table}.token_env"),
            "give token_env or token_file, not both".into(),
        ),
        (Some(env), None) => Ok(Some(SecretRef::Env(env_name(
            src,
            env,
            &format!("{table}.token_env"),
        )?))),
        (None, Some(file)) => Ok(Some(SecretRef::File(secret_path(
            src,
            file,
            &format!("{table}.token_file"),
        )?))),
        (None, None) => Ok(None),
    }
}

/// The name of the environment variable holding a secret. The value is
/// never repeated in an error: where a name belongs, a pasted token is
/// the likeliest mistake.
fn env_name(src: &Source<'_>, env: Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let name = env.get_ref();
    if crate::secrets::looks_like_token(name) {
        return src.invalid(
            env.span(),
            key,
            format!("{} must name an environment variable; the value looks like a token itself (remove it from the file and revoke it)", last_key(key)),
        );
    }
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return src.invalid(
            env.span(),
            key,
            format!("{} must name an environment variable (letters, digits and '_', not starting with a digit)", last_key(key)),
        );
    }
    Ok(env.into_inner())
}

/// `key`'s last part (`token_env` of `repo.github.token_env`).
fn last_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The path of a file holding a secret, refused (without repeating it)
/// when it looks like the secret itself.
fn secret_path(
    src: &Source<'_>,
    path: Spanned<PathBuf>,
    key: &str,
) -> Result<PathBuf, ConfigError> {
    if crate::secrets::looks_like_token(&path.get_ref().to_string_lossy()) {
        return src.invalid(
            path.span(),
            key,
            format!("{} must name a file; the value looks like a token itself (remove it from the file and revoke it)", last_key(key)),
        );
    }
    Ok(src.path(path.into_inner()))
}

/// Why a URL with user information is refused, and what to use instead.
const CREDENTIALS_IN_URL: &str = "credentials in a URL are refused (they would show in logs and /healthz): fetch with a git credential helper or an ssh URL, and give the forge's token with token_env or token_file";

fn check_http_url(
    src: &Source<'_>,
    url: &Spanned<String>,
    key: &str,
) -> Result<String, ConfigError> {
    if crate::secrets::url_has_credentials(url.get_ref()) {
        return src.invalid(url.span(), key, CREDENTIALS_IN_URL.into());
    }
    match reqwest::Url::parse(url.get_ref()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
            Ok(url.get_ref().trim_end_matches('/').to_owned())
        }
        Ok(_) => src.invalid(
            url.span(),
            key,
            format!("{:?} is not an http(s) URL", url.get_ref()),
        ),
        Err(e) => src.invalid(url.span(), key, format!("{:?}: {e}", url.get_ref())),
    }
}

/// The fetch timeouts, each from 1 ms to [`MAX_FETCH_TIMEOUT`] (the most
/// libgit2 can take).
fn fetch_timeouts(
    src: &Source<'_>,
    connect: Option<Spanned<String>>,
    idle: Option<Spanned<String>>,
) -> Result<FetchTimeouts, ConfigError> {
    Ok(FetchTimeouts {
        connect: src.duration(
            connect,
            "fetch_connect_timeout",
            Duration::from_millis(1)..=MAX_FETCH_TIMEOUT,
            DEFAULT_FETCH_CONNECT_TIMEOUT,
        )?,
        idle: src.duration(
            idle,
            "fetch_idle_timeout",
            Duration::from_millis(1)..=MAX_FETCH_TIMEOUT,
            DEFAULT_FETCH_IDLE_TIMEOUT,
        )?,
    })
}

/// The health endpoint's address, if any, as host:port.
fn listen_addr(
    src: &Source<'_>,
    listen: Option<Spanned<String>>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(l) = listen else {
        return Ok(None);
    };
    match l.get_ref().parse::<SocketAddr>() {
        Ok(addr) => Ok(Some(addr)),
        Err(e) => src.invalid(
            l.span(),
            "listen",
            format!(
                "{:?}: {e} (write host:port, e.g. \"127.0.0.1:9464\")",
                l.get_ref()
            ),
        ),
    }
}

/// The push webhooks' secret: an environment variable or a file, not
/// both, never inline, and only with `listen` (where the webhooks are
/// served). One secret for the daemon: GitHub's signature can only be
/// checked once the body is read, and a secret chosen by the repository the
/// unauthenticated body names would let the body pick its own check.
fn webhook_secret(
    src: &Source<'_>,
    (env, file): (Option<Spanned<String>>, Option<Spanned<PathBuf>>),
    inline: Option<Spanned<toml::Value>>,
    listen: Option<SocketAddr>,
) -> Result<Option<SecretRef>, ConfigError> {
    if let Some(value) = inline {
        let message =
            "secrets are not accepted inline; use webhook_secret_env or webhook_secret_file";
        return src.invalid(value.span(), "webhook_secret", message.into());
    }
    let (span, key) = match (&env, &file) {
        (Some(_), Some(f)) => {
            let message = "give webhook_secret_env or webhook_secret_file, not both";
            return src.invalid(f.span(), "webhook_secret_file", message.into());
        }
        (Some(e), None) => (e.span(), "webhook_secret_env"),
        (None, Some(f)) => (f.span(), "webhook_secret_file"),
        (None, None) => return Ok(None),
    };
    if listen.is_none() {
        let message = "webhooks are served on `listen`: set listen too";
        return src.invalid(span, key, message.into());
    }
    match (env, file) {
        (Some(env), _) => Ok(Some(SecretRef::Env(env_name(src, env, key)?))),
        (_, Some(file)) => Ok(Some(SecretRef::File(secret_path(src, file, key)?))),
        (None, None) => Ok(None),
    }
}

/// Every `[[repo]]` table, at least one, each name once: the name keys the
/// state database and /healthz, so two tables must not share it.
fn validate_repos(
    src: &Source<'_>,
    tables: Vec<Spanned<RawRepo>>,
) -> Result<Vec<RepoConfig>, ConfigError> {
    if tables.is_empty() {
        return src.invalid(0..0, "repo", "no [[repo]] table: nothing to watch".into());
    }
    let mut names = BTreeSet::new();
    let mut repos = Vec::new();
    for table in tables {
        let span = table.span();
        let repo = validate_repo(src, table.into_inner(), span.clone())?;
        if !names.insert(repo.name.clone()) {
            return src.invalid(
                span,
                "repo.name",
                format!("{:?} is used by two [[repo]] tables", repo.name.as_str()),
            );
        }
        repos.push(repo);
    }
    Ok(repos)
}

fn validate_repo(
    src: &Source<'_>,
    raw: RawRepo,
    span: std::ops::Range<usize>,
) -> Result<RepoConfig, ConfigError> {
    let name = RepoName::new(raw.name.get_ref())
        .or_else(|m| src.invalid(raw.name.span(), "repo.name", m))?;
    let source = repo_source(src, &name, raw.url, raw.path, span.clone())?;
    check_branches(src, &raw.branches)?;
    let layout = repo_layout(src, raw.layout.as_ref(), raw.root.as_deref())?;
    let ignore = ignore_rules(src, &raw.ignore)?;
    let explain = BuildSources::new(
        template(src, raw.symtypes_source, "repo.symtypes_source")?,
        template(src, raw.debug_source, "repo.debug_source")?,
    );
    // Every forge table is checked before their number, so that a mistake
    // inside one is reported even where there are two.
    let mut forges = Vec::new();
    if let Some(g) = raw.github {
        forges.push((g.span(), github_forge(src, g)?));
    }
    if let Some(g) = raw.gitlab {
        forges.push((g.span(), gitlab_forge(src, g)?));
    }
    if let Some(s) = raw.stdout {
        forges.push((s.span(), ForgeConfig::Stdout));
    }
    if let Some(f) = raw.file {
        let fspan = f.span();
        forges.push((fspan, ForgeConfig::File(src.path(f.into_inner().path))));
    }
    let forge = one_forge(src, &name, forges, span.clone())?;
    Ok(RepoConfig {
        name,
        source,
        branches: raw.branches.into_inner(),
        layout,
        root: raw.root,
        ignore,
        modules: raw.modules.into_iter().map(|m| src.path(m)).collect(),
        explain,
        backfill: raw.backfill,
        forge,
        line: src.line(span.start),
    })
}

/// Where the repository comes from: exactly one of `url` (never with
/// credentials, which would be printed) and `path`.
fn repo_source(
    src: &Source<'_>,
    name: &RepoName,
    url: Option<Spanned<String>>,
    path: Option<Spanned<PathBuf>>,
    span: std::ops::Range<usize>,
) -> Result<RepoSource, ConfigError> {
    match (url, path) {
        (Some(_), Some(p)) => {
            src.invalid(p.span(), "repo.path", "give url or path, not both".into())
        }
        (None, None) => src.invalid(span, "repo", format!("repo {name}: give url or path")),
        (Some(url), None) if url.get_ref().trim().is_empty() => {
            src.invalid(url.span(), "repo.url", "is empty".into())
        }
        (Some(url), None) if crate::secrets::url_has_credentials(url.get_ref()) => {
            src.invalid(url.span(), "repo.url", CREDENTIALS_IN_URL.into())
        }
        (Some(url), None) => Ok(RepoSource::Url(url.into_inner())),
        (None, Some(path)) => Ok(RepoSource::Path(src.path(path.into_inner()))),
    }
}

/// At least one branch, none empty: an empty list would watch nothing.
fn check_branches(src: &Source<'_>, branches: &Spanned<Vec<String>>) -> Result<(), ConfigError> {
    if branches.get_ref().is_empty() || branches.get_ref().iter().any(|b| b.trim().is_empty()) {
        return src.invalid(
            branches.span(),
            "repo.branches",
            "list at least one branch, none empty".into(),
        );
    }
    Ok(())
}

/// The layout, when forced: one abibot knows, built at the root.
fn repo_layout(
    src: &Source<'_>,
    layout: Option<&Spanned<String>>,
    root: Option<&str>,
) -> Result<Option<Layout>, ConfigError> {
    let Some(name) = layout else {
        return Ok(None);
    };
    match Layout::named(name.get_ref(), root.unwrap_or("")) {
        Some(layout) => Ok(Some(layout)),
        None => src.invalid(
            name.span(),
            "repo.layout",
            format!(
                "{:?} is not one of {}",
                name.get_ref(),
                crate::layouts::LAYOUT_NAMES.join(", ")
            ),
        ),
    }
}

/// An explanation source's path template, relative to the configuration's
/// directory when relative, its placeholders checked.
fn template(
    src: &Source<'_>,
    value: Option<Spanned<String>>,
    key: &str,
) -> Result<Option<Template>, ConfigError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.get_ref().parse::<Template>() {
        Ok(t) => Ok(Some(match src.base {
            Some(base) => t.under(base),
            None => t,
        })),
        Err(e) => src.invalid(value.span(), key, format!("{:?} {e}", value.get_ref())),
    }
}

/// The ignore rules, each checked on its own so an error names its line.
fn ignore_rules(src: &Source<'_>, rules: &[Spanned<String>]) -> Result<IgnoreRules, ConfigError> {
    let mut parsed = Vec::with_capacity(rules.len());
    // Empty entries are skipped, as in `defines`.
    for rule in rules.iter().filter(|r| !r.get_ref().trim().is_empty()) {
        match IgnoreRule::parse(rule.get_ref()) {
            Ok(r) => parsed.push(r),
            Err(e) => return src.invalid(rule.span(), "repo.ignore", e.to_string()),
        }
    }
    Ok(IgnoreRules::new(parsed))
}

/// The one forge a repository posts to: none or several is a mistake
/// (several would post every comment more than once).
fn one_forge(
    src: &Source<'_>,
    name: &RepoName,
    mut forges: Vec<(std::ops::Range<usize>, ForgeConfig)>,
    span: std::ops::Range<usize>,
) -> Result<ForgeConfig, ConfigError> {
    match forges.len() {
        0 => src.invalid(
            span,
            "repo",
            format!("repo {name}: no forge: add [repo.github], [repo.gitlab], [repo.stdout] or [repo.file]"),
        ),
        1 => Ok(forges.pop().expect("one").1),
        _ => src.invalid(
            forges[1].0.clone(),
            "repo",
            format!("repo {name}: more than one forge table; keep one"),
        ),
    }
}

/// `[repo.github]`: an owner/repo, an http(s) API URL, and either a token or
/// a complete GitHub App.
fn github_forge(src: &Source<'_>, g: Spanned<RawGithub>) -> Result<ForgeConfig, ConfigError> {
    let gspan = g.span();
    let g = g.into_inner();
    refuse_inline(src, "repo.github", [&g.token, &g.private_key, &g.password])?;
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match g.repo.get_ref().split_once('/') {
        Some((owner, repo)) if valid_part(owner) && valid_part(repo) => {}
        _ => {
            return src.invalid(
                g.repo.span(),
                "repo.github.repo",
                format!("{:?} is not owner/repo", g.repo.get_ref()),
            );
        }
    }
    let api_url = match &g.api_url {
        Some(url) => check_http_url(src, url, "repo.github.api_url")?,
        None => DEFAULT_GITHUB_API.to_owned(),
    };
    let token = token_ref(src, gspan.clone(), "repo.github", g.token_env, g.token_file)?;
    let app = (g.app_id, g.private_key_file, g.installation_id);
    let auth = github_auth(src, gspan, token, app)?;
    Ok(ForgeConfig::Github(GithubConfig {
        repo: g.repo.into_inner(),
        api_url,
        auth,
    }))
}

/// A GitHub token, or all three parts of a GitHub App (app id, key file,
/// installation id); never both, never an App with parts missing.
fn github_auth(
    src: &Source<'_>,
    gspan: std::ops::Range<usize>,
    token: Option<SecretRef>,
    app: (Option<u64>, Option<Spanned<PathBuf>>, Option<u64>),
) -> Result<GithubAuth, ConfigError> {
    match (token, app.0, app.1, app.2) {
        (Some(t), None, None, None) => Ok(GithubAuth::Token(t)),
        (None, Some(app_id), Some(key), Some(installation_id)) => Ok(GithubAuth::App {
            app_id,
            private_key: SecretRef::File(secret_path(src, key, "repo.github.private_key_file")?),
            installation_id,
        }),
        (Some(_), _, _, _) => src.invalid(
            gspan,
            "repo.github",
            "give a token (token_env/token_file) or a GitHub App (app_id, private_key_file, installation_id), not both".into(),
        ),
        (None, None, None, None) => src.invalid(
            gspan,
            "repo.github",
            "no credentials: set token_env or token_file, or app_id, private_key_file and installation_id".into(),
        ),
        (None, _, _, _) => src.invalid(
            gspan,
            "repo.github",
            "a GitHub App needs all of app_id, private_key_file and installation_id".into(),
        ),
    }
}

/// `[repo.gitlab]`: an http(s) base URL, a project id or group/project path,
/// and a token.
fn gitlab_forge(src: &Source<'_>, g: Spanned<RawGitlab>) -> Result<ForgeConfig, ConfigError> {
    let gspan = g.span();
    let g = g.into_inner();
    refuse_inline(src, "repo.gitlab", [&g.token, &g.private_key, &g.password])?;
    let base_url = check_http_url(src, &g.base_url, "repo.gitlab.base_url")?;
    if let GitlabProject::Path(p) = g.project.get_ref()
        && (p.is_empty() || p.starts_with('/') || p.ends_with('/'))
    {
        return src.invalid(
            g.project.span(),
            "repo.gitlab.project",
            format!("{p:?} is not a project id or group/project path"),
        );
    }
    let Some(token) = token_ref(src, gspan.clone(), "repo.gitlab", g.token_env, g.token_file)?
    else {
        return src.invalid(
            gspan,
            "repo.gitlab",
            "no credentials: set token_env or token_file".into(),
        );
    };
    Ok(ForgeConfig::Gitlab(GitlabConfig {
        base_url,
        project: g.project.into_inner(),
        token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_or_display() {
        let s = Secret::new("ghp_supersecret");
        assert!(!format!("{s:?} {s}").contains("supersecret"));
        assert_eq!(s.expose(), "ghp_supersecret");
    }

    const TYPED: &str = "state = \"s.sqlite\"\n[[repo]]\nname = \"linux\"\npath = \"/r\"\n\
        branches = [\"main\"]\nlayout = \"debian\"\nroot = \"pkg/linux\"\n\
        ignore = [\"name:kfree\", \"module:drivers/usb/*\", \" \"]\n[repo.stdout]\n";

    #[test]
    fn layout_and_ignore_rules_are_typed_when_parsed() {
        let config = Config::parse(TYPED, "abibot.toml").unwrap();
        let repo = &config.repos[0];
        let layout = repo.layout.as_ref().expect("a forced layout");
        assert_eq!(layout.name(), "debian");
        // Built at the root: what it reads is under pkg/linux.
        let inputs = layout.inputs();
        assert!(
            inputs.iter().all(|p| p.starts_with("pkg/linux/")),
            "{inputs:?}"
        );
        assert!(repo.ignore.matching("kfree", "vmlinux").is_some());
        assert!(repo.ignore.matching("usb_foo", "drivers/usb/x").is_some());
        assert!(repo.ignore.matching("kmalloc", "vmlinux").is_none());
    }

    #[test]
    fn a_bad_layout_or_rule_names_its_line() {
        for (from, to, key) in [
            ("layout = \"debian\"", "layout = \"gentoo\"", "repo.layout"),
            ("\"name:kfree\"", "\"glob:kfree\"", "repo.ignore"),
        ] {
            let text = TYPED.replace(from, to);
            let line = 1 + text[..text.find(to).unwrap()].matches('\n').count();
            let err = Config::parse(&text, "abibot.toml").unwrap_err().to_string();
            assert!(err.contains(&format!("abibot.toml:{line}")), "{err}");
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn repo_names_are_restricted() {
        assert!(RepoName::new("linux-6.1_x.y").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "ü"] {
            assert!(RepoName::new(bad).is_err(), "{bad:?}");
        }
    }
}
