//! The long-running service: for every watched repository, every poll
//! interval, fetch, scan the new commits of each branch, record findings and
//! progress, and post one comment per finding on the finding's commit.
//!
//! Owns the tokio side: scheduling (one loop per repository, at most
//! `concurrency` polling at once), shutdown (waits end at once, a write or a
//! request in flight is finished and recorded), and the health/metrics
//! endpoint. The git work runs on blocking threads ([`git`]), progress and
//! the outbox live in [`crate::state`], comments go through
//! [`crate::forge::Publisher`].
//!
//! Order of writes, for crash safety: (1) findings and the new progress in
//! one transaction; (2) for each pending finding, search the commit's
//! comments for its marker and post only when absent; (3) record the
//! comment. A crash anywhere repeats at most step 2's search, never a post.

pub mod git;
pub mod health;
pub mod http;
pub mod page;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Semaphore, watch};

use crate::config::{Config, ForgeConfig, RepoConfig, RepoName};
use crate::forge::{
    self, Cancel, ErrorClass, Forge, ForgeError, Pacer, Published, Publisher, Retrier, RetryPolicy,
};
use crate::history::CommitSha;
use crate::state::{FindingStatus, NewFinding, Pending, State, StateError};
use git::{BranchScan, GitError, Start};
use health::Health;

/// How long shutdown waits for a repository's fetch or scan to stop on its
/// own before leaving its thread behind. libgit2 updates refs within
/// milliseconds of a transfer's end, so work still running after this is
/// waiting on the network or scanning: it holds no lock and writes no state.
pub const ABANDON_GRACE: Duration = Duration::from_secs(2);

/// Points where a test can stop a poll as a crash would, leaving the state
/// exactly as the writes before it left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failpoint {
    /// After findings and progress are recorded, before anything is posted.
    AfterRecord,
    /// After a comment is on the forge, before it is recorded.
    AfterPost,
}

/// A repository's poll failed; it is retried at the next one.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Opening, fetching or scanning failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The state database failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The forge refused or failed.
    #[error("{error}{}", hint(.error))]
    Forge {
        /// The forge's error.
        error: ForgeError,
    },
    /// A failpoint stopped the poll.
    #[error("stopped at failpoint {0:?}")]
    Failpoint(Failpoint),
    /// Shutdown was requested.
    #[error("interrupted by shutdown")]
    Interrupted,
    /// The scan thread panicked.
    #[error("scan task failed: {0}")]
    Task(String),
}

/// What operators should know after a forge error (` (advice)`, or nothing).
pub(crate) fn hint(e: &ForgeError) -> String {
    e.advice(SystemTime::now())
        .map_or(String::new(), |advice| format!(" ({advice})"))
}

impl From<ForgeError> for RepoError {
    fn from(error: ForgeError) -> RepoError {
        match error {
            ForgeError::Interrupted => RepoError::Interrupted,
            error => RepoError::Forge { error },
        }
    }
}

/// The daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state database could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The webhook secret could not be read.
    #[error("webhook secret: {0}")]
    WebhookSecret(#[source] crate::config::SecretError),
    /// The health endpoint could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// One branch's part in a poll.
#[derive(Clone, Debug)]
pub struct BranchReport {
    /// The branch.
    pub branch: String,
    /// How its range was chosen.
    pub start: Start,
    /// Its head, now its progress.
    pub head: CommitSha,
    /// Commits scanned.
    pub commits: usize,
    /// Findings seen in them.
    pub findings: usize,
    /// Of which new to the state.
    pub new_findings: usize,
}

/// What one poll of a repository did.
#[derive(Clone, Debug, Default)]
pub struct PollReport {
    /// Per branch.
    pub branches: Vec<BranchReport>,
    /// Comments posted.
    pub posted: usize,
    /// Comments found already on the forge (posted before a crash).
    pub found: usize,
    /// Findings the forge refused.
    pub failed: usize,
    /// Findings left pending because the forge does not know their commit yet.
    pub deferred: usize,
}

/// How many times a finding is tried while the forge does not know its
/// commit (its copy of the repository lags behind the watched clone) before
/// it is failed: once a poll, so an hour at the default interval. An
/// operator can put it back with `abibot state retry`.
pub const MAX_UNKNOWN_COMMIT_ATTEMPTS: u32 = 60;

/// The service.
pub struct Daemon {
    config: Config,
    state: Arc<State>,
    health: Arc<Health>,
    policy: RetryPolicy,
    stop: watch::Sender<bool>,
    cancel: Cancel,
    injected: HashMap<RepoName, Arc<dyn Forge>>,
    publishers: Mutex<HashMap<RepoName, Arc<Publisher>>>,
    pacers: Mutex<HashMap<String, Arc<Pacer>>>,
    failpoint: Mutex<Option<Failpoint>>,
    /// One per repository, in configuration order: a webhook's request for
    /// an immediate poll (a flag, so requests coalesce).
    wakeups: Vec<Arc<webhook::Wakeup>>,
    jobs: usize,
    unknown_commit_attempts: u32,
}

/// The parsing threads of one repository's walk: the cores shared by the
/// repositories polled at once, which are never more than there are, so
/// that a single repository's backfill gets every core, as `scan` does.
fn jobs_per_repo(cores: usize, concurrency: usize, repos: usize) -> usize {
    let at_once = concurrency.min(repos).max(1);
    (cores / at_once).max(1)
}

impl Daemon {
    /// A daemon for `config`, opening its state database.
    pub fn new(config: Config) -> Result<Daemon, DaemonError> {
        let state = State::open(&config.state)?;
        Ok(Daemon::with_state(config, state))
    }

    /// A daemon over an already opened state.
    pub fn with_state(config: Config, state: State) -> Daemon {
        let (stop, rx) = watch::channel(false);
        let health = Arc::new(Health::default());
        for repo in &config.repos {
            health.register(&repo.name);
        }
        if let Err(e) = git::set_timeouts(config.fetch) {
            tracing::warn!(error = %e, "fetches are not bounded in time");
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = jobs_per_repo(cores, config.concurrency, config.repos.len());
        let wakeups = config
            .repos
            .iter()
            .map(|_| Arc::new(webhook::Wakeup::default()))
            .collect();
        Daemon {
            config,
            state: Arc::new(state),
            health,
            policy: RetryPolicy::default(),
            stop,
            cancel: Cancel::new(rx),
            injected: HashMap::new(),
            publishers: Mutex::new(HashMap::new()),
            pacers: Mutex::new(HashMap::new()),
            failpoint: Mutex::new(None),
            wakeups,
            jobs,
            unknown_commit_attempts: MAX_UNKNOWN_COMMIT_ATTEMPTS,
        }
    }

    /// Replaces the retry timing (tests shorten it).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Daemon {
        self.policy = policy;
        self
    }

    /// Fails a finding whose commit the forge does not know after this many
    /// polls instead of [`MAX_UNKNOWN_COMMIT_ATTEMPTS`] (tests).
    pub fn with_unknown_commit_attempts(mut self, attempts: u32) -> Daemon {
        self.unknown_commit_attempts = attempts;
        self
    }

    /// Posts a repository's comments through `forge` instead of the one its
    /// configuration names (tests; the demo).
    pub fn with_forge(mut self, repo: &RepoName, forge: Arc<dyn Forge>) -> Daemon {
        self.injected.insert(repo.clone(), forge);
        self
    }

    /// Arms (or disarms) a failpoint; it fires once.
    pub fn set_failpoint(&self, failpoint: Option<Failpoint>) {
        *self.failpoint.lock().expect("failpoint lock") = failpoint;
    }

    /// The state database.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Health and metrics.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Asks every loop to stop after the write or request in flight.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    fn hit(&self, point: Failpoint) -> Result<(), RepoError> {
        let mut armed = self.failpoint.lock().expect("failpoint lock");
        if *armed == Some(point) {
            *armed = None;
            return Err(RepoError::Failpoint(point));
        }
        Ok(())
    }

    /// Polls every repository once, at most `concurrency` at a time.
    pub async fn poll_once(self: &Arc<Self>) -> Vec<(RepoName, Result<PollReport, RepoError>)> {
        let gate = Arc::new(Semaphore::new(self.config.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..self.config.repos.len() {
            let daemon = self.clone();
            let gate = gate.clone();
            tasks.spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore open");
                let repo = &daemon.config.repos[index];
                (index, repo.name.clone(), daemon.poll_repo(repo).await)
            });
        }
        let mut results = Vec::new();
        while let Some(done) = tasks.join_next().await {
            results.push(done.expect("poll task panicked"));
        }
        results.sort_by_key(|(index, _, _)| *index);
        results.into_iter().map(|(_, n, r)| (n, r)).collect()
    }

    /// Runs until [`Daemon::shutdown`]: one loop per repository, and the
    /// health endpoint when configured.
    pub async fn run(self: Arc<Self>) -> Result<(), DaemonError> {
        let server = match self.config.listen {
            Some(addr) => Some(self.listen(addr).await?),
            None => None,
        };
        tracing::info!(
            repos = self.config.repos.len(),
            poll_interval = %humantime::format_duration(self.config.poll_interval),
            "abibot daemon started"
        );
        let gate = Arc::new(Semaphore::new(self.config.concurrency));
        let mut loops = tokio::task::JoinSet::new();
        for index in 0..self.config.repos.len() {
            let daemon = self.clone();
            let gate = gate.clone();
            loops.spawn(async move { daemon.repo_loop(index, &gate).await });
        }
        while loops.join_next().await.is_some() {}
        if let Some(server) = server {
            let _ = server.await;
        }
        tracing::info!("abibot daemon stopped");
        Ok(())
    }

    /// Starts the HTTP endpoint on `addr`, with the webhook routes when a
    /// secret is configured (read now: a missing one stops the start).
    async fn listen(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
        let webhooks = match &self.config.webhook_secret {
            Some(secret) => {
                let secret = secret.resolve().map_err(DaemonError::WebhookSecret)?;
                let targets = (self.config.repos.iter().zip(&self.wakeups))
                    .filter_map(|(repo, wake)| webhook::Target::new(repo, wake.clone()))
                    .collect();
                Some(webhook::Webhooks::new(secret, targets, self.health.clone()))
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Listen { addr, source })?;
        let routes = if webhooks.is_some() {
            "/healthz, /metrics and /webhook/{github,gitlab}"
        } else {
            "/healthz and /metrics"
        };
        tracing::info!(%addr, routes, "serving");
        let endpoint = http::Endpoint::new(self.health.clone(), webhooks)
            .with_pages(page::Pages::new(&self.config));
        let endpoint = Arc::new(endpoint);
        Ok(tokio::spawn(http::serve(
            listener,
            endpoint,
            self.cancel.clone(),
        )))
    }

    async fn repo_loop(&self, index: usize, gate: &Semaphore) {
        let repo = &self.config.repos[index];
        loop {
            let permit = tokio::select! {
                permit = gate.acquire() => permit.expect("semaphore open"),
                () = self.cancel.cancelled() => return,
            };
            if let Err(RepoError::Interrupted) = self.poll_repo(repo).await {
                return;
            }
            drop(permit);
            // The next poll: at the interval, or at once when a webhook
            // asked for one (during the poll just done, or while waiting).
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.wakeups[index].requested() => {
                    tracing::debug!(repo = %repo.name, "woken by a webhook");
                }
                () = self.cancel.cancelled() => return,
            }
        }
    }

    /// Polls one repository: fetch, scan, record, post.
    pub async fn poll_repo(&self, repo: &RepoConfig) -> Result<PollReport, RepoError> {
        let started = Instant::now();
        let span = tracing::info_span!("poll", repo = %repo.name);
        let result = tracing::Instrument::instrument(self.poll(repo), span).await;
        let took = started.elapsed();
        match &result {
            Ok(report) => {
                self.health.polled(&repo.name, took, None);
                tracing::debug!(
                    repo = %repo.name,
                    took_ms = took.as_millis() as u64,
                    posted = report.posted,
                    "poll done"
                );
            }
            Err(RepoError::Interrupted) => {}
            Err(e) => {
                let error = crate::secrets::redact(&e.to_string()).into_owned();
                tracing::error!(repo = %repo.name, %error, "poll failed; retrying at the next poll");
                self.health.polled(&repo.name, took, Some(error));
            }
        }
        result
    }

    async fn poll(&self, repo: &RepoConfig) -> Result<PollReport, RepoError> {
        // This poll reads the repository from now on: it answers the
        // webhooks received until here.
        if let Some(index) = self.config.repos.iter().position(|r| r.name == repo.name) {
            self.wakeups[index].take();
        }
        let mut lasts = Vec::new();
        for branch in &repo.branches {
            lasts.push((branch.clone(), self.state.progress(&repo.name, branch)?));
        }
        let scans = {
            // From the configuration, not the publisher: an unreadable token
            // must not stop scanning and recording (the outbox waits for it).
            let max_body = match self.injected.get(&repo.name) {
                Some(forge) => forge.max_body_chars(),
                None => forge::max_body_chars(&repo.forge),
            };
            let repo = repo.clone();
            let cache_dir = self.config.cache_dir.clone();
            let jobs = self.jobs;
            self.git_work(&repo.name.clone(), move |abort| {
                let git = git::open(&repo, &cache_dir, abort)?;
                lasts
                    .iter()
                    .map(|(branch, last)| {
                        git::scan_branch(&git, &repo, branch, last.as_ref(), jobs, max_body)
                    })
                    .collect::<Result<Vec<BranchScan>, GitError>>()
            })
            .await?
        };
        let mut report = PollReport::default();
        for scan in scans {
            report.branches.push(self.record(repo, scan)?);
        }
        self.hit(Failpoint::AfterRecord)?;
        self.drain(repo, &mut report).await?;
        Ok(report)
    }

    /// Runs a repository's git work (fetch and scan) on a thread of its own.
    /// At shutdown the work is asked to stop ([`git::open`]'s abort flag)
    /// and, if it has not within [`ABANDON_GRACE`], left behind: a fetch
    /// waiting on a silent remote cannot be interrupted otherwise, and
    /// nothing is lost, since findings and progress are recorded only after
    /// the work returns (the next start fetches and scans again).
    async fn git_work<T: Send + 'static>(
        &self,
        repo: &RepoName,
        work: impl FnOnce(&AtomicBool) -> Result<T, GitError> + Send + 'static,
    ) -> Result<T, RepoError> {
        let abort = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let flag = abort.clone();
        // A plain thread, not spawn_blocking: the runtime waits for its
        // blocking tasks when it shuts down, and would wait for this one.
        std::thread::Builder::new()
            .name(format!("git {repo}"))
            .spawn(move || {
                let _ = tx.send(work(&flag));
            })
            .map_err(|e| RepoError::Task(format!("cannot start a git thread: {e}")))?;
        let done = |r: Result<Result<T, GitError>, _>| match r {
            Ok(result) => result.map_err(RepoError::from),
            Err(_) => Err(RepoError::Task("the git thread panicked".into())),
        };
        tokio::select! {
            result = &mut rx => return done(result),
            () = self.cancel.cancelled() => {}
        }
        abort.store(true, Ordering::Relaxed);
        if tokio::time::timeout(ABANDON_GRACE, rx).await.is_err() {
            tracing::warn!(repo = %repo, "shutdown: git work still waiting; left behind");
        }
        Err(RepoError::Interrupted)
    }

    /// Records one branch's scan: findings into the outbox and progress, together.
    fn record(&self, repo: &RepoConfig, scan: BranchScan) -> Result<BranchReport, RepoError> {
        match &scan.start {
            Start::First => tracing::info!(
                branch = %scan.branch,
                head = %scan.head.short(),
                "first poll: starting from the branch head (set backfill = true to comment on history)"
            ),
            Start::Rewritten { last, base } => tracing::warn!(
                branch = %scan.branch,
                last = %last.short(),
                base = %base.short(),
                "branch was force-pushed: resuming from the merge base"
            ),
            Start::Unrelated(last) => tracing::warn!(
                branch = %scan.branch,
                last = %last.short(),
                head = %scan.head.short(),
                "last processed commit is not in the branch's history any more: starting again from the head"
            ),
            Start::Backfill | Start::After(_) | Start::UpToDate => {}
        }
        for e in &scan.errors {
            // An error leaves the revision unread; a warning, one entry.
            tracing::warn!(commit = %e.commit.short(), path = %e.path, error = %e.message, severity = ?e.severity, "revision problem");
        }
        // Moved, not copied: a backfill's bodies can be a hundred MB.
        let findings: Vec<NewFinding> = scan
            .findings
            .into_iter()
            .map(|s| NewFinding {
                id: s.id,
                commit: s.commit,
                kind: s.kind.name(),
                body: s.body,
                post: s.kind.is_problem(),
            })
            .collect();
        let new = self
            .state
            .record_scan(&repo.name, &scan.branch, &scan.head, &findings)?;
        self.health.commits_scanned(&repo.name, scan.commits);
        for f in findings.iter().filter(|f| new.contains(&f.id)) {
            self.health.finding(&repo.name, f.kind);
            tracing::info!(
                finding = %f.id,
                kind = f.kind,
                commit = %f.commit.short(),
                "new finding"
            );
        }
        Ok(BranchReport {
            branch: scan.branch,
            start: scan.start,
            head: scan.head,
            commits: scan.commits,
            findings: findings.len(),
            new_findings: new.len(),
        })
    }

    /// Posts the outbox, oldest first.
    async fn drain(&self, repo: &RepoConfig, report: &mut PollReport) -> Result<(), RepoError> {
        let pending = self.state.pending(&repo.name)?;
        if pending.is_empty() {
            return Ok(());
        }
        let publisher = self.publisher(repo)?;
        for p in pending {
            if self.cancel.is_cancelled() {
                return Err(RepoError::Interrupted);
            }
            match publisher.publish(&p.commit, &p.id, &p.body).await {
                Ok(published) => self.posted(repo, &p, &published, report)?,
                Err(e) => self.refused(repo, &p, e, report)?,
            }
        }
        Ok(())
    }

    /// Records a comment now on the forge.
    fn posted(
        &self,
        repo: &RepoConfig,
        p: &Pending,
        published: &Published,
        report: &mut PollReport,
    ) -> Result<(), RepoError> {
        self.hit(Failpoint::AfterPost)?;
        let c = published.comment();
        let found = matches!(published, Published::Found(_));
        self.state
            .mark_posted(&p.id, c.id.as_deref(), c.url.as_deref(), found)?;
        if found {
            report.found += 1;
            tracing::info!(finding = %p.id, commit = %p.commit.short(), "comment already on the forge; recorded");
        } else {
            report.posted += 1;
            self.health.comment_posted(&repo.name);
            tracing::info!(
                finding = %p.id,
                commit = %p.commit.short(),
                url = c.url.as_deref().unwrap_or("-"),
                "comment posted"
            );
        }
        Ok(())
    }

    /// Deals with a finding the forge did not take: refused for good (failed),
    /// its commit unknown to the forge yet (left pending, up to a bound), or
    /// an error that stops the repository until the next poll.
    fn refused(
        &self,
        repo: &RepoConfig,
        p: &Pending,
        e: ForgeError,
        report: &mut PollReport,
    ) -> Result<(), RepoError> {
        let message = e.to_string();
        match e.class(SystemTime::now()) {
            ErrorClass::Rejected => {
                tracing::warn!(finding = %p.id, error = %e, "forge refused the comment; recorded as failed");
                self.state.mark_failed(&p.id, &message)?;
                report.failed += 1;
            }
            ErrorClass::CommitUnknown => {
                let (status, attempts) =
                    self.state
                        .mark_deferred(&p.id, &message, self.unknown_commit_attempts)?;
                if status == FindingStatus::Failed {
                    tracing::warn!(finding = %p.id, commit = %p.commit.short(), attempts, error = %e,
                        "the forge still does not know the commit; recorded as failed (abibot state retry puts it back)");
                    report.failed += 1;
                } else {
                    tracing::info!(finding = %p.id, commit = %p.commit.short(), attempts, error = %e,
                        "the forge does not know the commit yet; trying again at the next poll");
                    report.deferred += 1;
                }
            }
            class => {
                if class == ErrorClass::Unauthorized {
                    // Built again (secret read again) at the next poll,
                    // so a fixed token file needs no restart.
                    self.publishers
                        .lock()
                        .expect("publishers lock")
                        .remove(&repo.name);
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The repository's publisher, built on first use.
    fn publisher(&self, repo: &RepoConfig) -> Result<Arc<Publisher>, RepoError> {
        if let Some(p) = self
            .publishers
            .lock()
            .expect("publishers lock")
            .get(&repo.name)
        {
            return Ok(p.clone());
        }
        let forge = match self.injected.get(&repo.name) {
            Some(forge) => forge.clone(),
            None => forge::connect(&repo.forge, self.policy.request_timeout)?,
        };
        let pacer = self
            .pacers
            .lock()
            .expect("pacers lock")
            .entry(account(&repo.forge, &repo.name))
            .or_insert_with(|| Arc::new(Pacer::new(forge.limits())))
            .clone();
        let health = self.health.clone();
        let name = repo.name.clone();
        let retrier = Retrier::new(self.policy.clone(), self.cancel.clone()).observe(Arc::new(
            move |e: &ForgeError| health.forge_error(&name, &e.label()),
        ));
        let publisher = Arc::new(Publisher::new(forge, retrier, pacer));
        self.publishers
            .lock()
            .expect("publishers lock")
            .insert(repo.name.clone(), publisher.clone());
        Ok(publisher)
    }
}

/// Repositories posting with the same credentials share one pacer: the
/// forge's limits apply per account, not per repository.
fn account(forge: &ForgeConfig, repo: &RepoName) -> String {
    match forge {
        ForgeConfig::Github(g) => format!("github {} {:?}", g.api_url, g.auth),
        ForgeConfig::Gitlab(g) => format!("gitlab {} {}", g.base_url, g.token),
        ForgeConfig::Stdout | ForgeConfig::File(_) => format!("sink {repo}"),
    }
}

/// What `config check` prints about a valid configuration, apart from the
/// file name and `warnings()` (which read the environment and the file
/// system): a function of the parsed input alone, so the fuzz target checks
/// the same text.
pub fn config_summary(config: &Config) -> String {
    let mut out = format!(
        "state {}, poll every {}, {} repositories:\n",
        config.state.display(),
        humantime::format_duration(config.poll_interval),
        config.repos.len()
    );
    for repo in &config.repos {
        out.push_str(&format!(
            "  {} ({}) -> {}\n",
            repo.name,
            repo.branches.join(", "),
            repo.forge.describe()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::jobs_per_repo;

    #[test]
    fn one_repository_gets_every_core() {
        assert_eq!(jobs_per_repo(8, 2, 1), 8);
        assert_eq!(jobs_per_repo(8, 2, 5), 4);
        assert_eq!(jobs_per_repo(8, 3, 3), 2);
        assert_eq!(jobs_per_repo(1, 4, 4), 1);
        assert_eq!(jobs_per_repo(4, 2, 0), 4);
    }
}
