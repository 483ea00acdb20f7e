//! The daemon's git side, run on blocking threads: opening or fetching a
//! watched repository, deciding which commits of a branch are new (first
//! start, backfill, fast-forward, force-push), and scanning them through
//! the one [`crate::pipeline`] every command uses.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use git2::{
    AutotagOption, Cred, CredentialType, ErrorCode, FetchOptions, Oid, RemoteCallbacks, Repository,
};

use crate::config::{FetchTimeouts, RepoConfig, RepoSource};
use crate::findings::{Finding, FindingId, FindingKind};
use crate::git_error::GitOp;
use crate::history::scan::ScanStats;
use crate::history::{CommitSha, HistoryError, RevisionError};
use crate::pipeline::RepoSpec;
use crate::report::scan::finding_markdown;

/// The git side of a repository's poll failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A git operation failed. Built with [`GitOp::remote`]: redacted, as
    /// git's messages echo the remote's URL, and a timeout names the
    /// settings that bound it; git's own error is its source.
    #[error(transparent)]
    Git(#[from] crate::git_error::GitError),
    /// A step around git failed: the cache directory, the repository's
    /// description, the scan.
    #[error("{what}: {message}")]
    Other {
        /// What was being done.
        what: String,
        /// Why.
        message: String,
    },
}

/// The timeouts libgit2 applies to the sockets it opens, once set.
static TIMEOUTS: Mutex<Option<FetchTimeouts>> = Mutex::new(None);

/// Makes libgit2 give up on a connection that is not established within
/// `connect`, or that stays silent for `idle` (the wait of one read or
/// write), for every fetch and clone of the process, https and ssh alike.
pub fn set_timeouts(timeouts: FetchTimeouts) -> Result<(), GitError> {
    let mut set = TIMEOUTS.lock().expect("timeouts lock");
    if *set == Some(timeouts) {
        return Ok(());
    }
    let ms = |d: std::time::Duration| {
        libc::c_int::try_from(d.as_millis())
            .unwrap_or(libc::c_int::MAX)
            .max(1)
    };
    let failed = |e| GitOp::new("set fetch timeouts").error(e);
    // SAFETY: libgit2 keeps these two ints as process globals, read only
    // when a socket is opened; writes are serialised by the lock above, and
    // the daemon sets them once at start, before its first fetch.
    unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(ms(timeouts.connect))
            .map_err(failed)?;
        git2::opts::set_server_timeout_in_milliseconds(ms(timeouts.idle)).map_err(failed)?;
    }
    *set = Some(timeouts);
    Ok(())
}

impl From<HistoryError> for GitError {
    fn from(e: HistoryError) -> GitError {
        GitError::Other {
            what: "scan".into(),
            message: e.to_string(),
        }
    }
}

/// Opens the repository: an existing clone as it is, or the cached bare
/// clone of a URL, created on first use and fetched every time. Setting
/// `abort` stops a fetch at its next packet.
pub fn open(
    repo: &RepoConfig,
    cache_dir: &Path,
    abort: &AtomicBool,
) -> Result<Repository, GitError> {
    match &repo.source {
        RepoSource::Path(path) => {
            let op = GitOp::new("open").path(path.display().to_string()).remote();
            Repository::open(path).map_err(|e| op.error(e).into())
        }
        RepoSource::Url(url) => {
            let dir = cache_dir.join(format!("{}.git", repo.name));
            let git = if dir.exists() {
                let op = GitOp::new("open").path(dir.display().to_string()).remote();
                Repository::open_bare(&dir).map_err(op.wrap())?
            } else {
                std::fs::create_dir_all(cache_dir).map_err(|e| GitError::Other {
                    what: format!("create {}", cache_dir.display()),
                    message: e.to_string(),
                })?;
                let op = GitOp::new("create")
                    .path(dir.display().to_string())
                    .remote();
                Repository::init_bare(&dir).map_err(op.wrap())?
            };
            fetch(&git, url, &repo.branches, abort)?;
            Ok(git)
        }
    }
}

/// Fetches the watched branches into `refs/remotes/origin/*`.
fn fetch(
    git: &Repository,
    url: &str,
    branches: &[String],
    abort: &AtomicBool,
) -> Result<(), GitError> {
    let op = GitOp::new("fetch").path(url).remote();
    let mut remote = match git.find_remote("origin") {
        Ok(remote) if remote.url().ok() == Some(url) => remote,
        Ok(_) => {
            git.remote_set_url("origin", url)
                .map_err(op.clone().wrap())?;
            git.find_remote("origin").map_err(op.clone().wrap())?
        }
        Err(_) => git.remote("origin", url).map_err(op.clone().wrap())?,
    };
    let refspecs: Vec<String> = branches
        .iter()
        .map(|b| format!("+refs/heads/{b}:refs/remotes/origin/{b}"))
        .collect();
    let mut callbacks = RemoteCallbacks::new();
    let mut tries = 0;
    callbacks.credentials(move |url, username, allowed| {
        // libgit2 asks again after a refused credential: give up after a few.
        tries += 1;
        if tries > 3 {
            return Err(git2::Error::from_str("authentication failed"));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Ok(config) = git2::Config::open_default()
        {
            return Cred::credential_helper(&config, url, username);
        }
        Cred::default()
    });
    // Returning false makes libgit2 stop the transfer and clean up its
    // temporary pack: shutdown does not wait for a large download.
    callbacks.transfer_progress(|_| !abort.load(Ordering::Relaxed));
    callbacks.sideband_progress(|_| !abort.load(Ordering::Relaxed));
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .download_tags(AutotagOption::None);
    remote
        .fetch(&refspecs, Some(&mut options), None)
        .map_err(|e| op.error(e).into())
}

/// The head commit of a watched branch.
pub fn branch_head(git: &Repository, repo: &RepoConfig, branch: &str) -> Result<Oid, GitError> {
    let candidates = match repo.source {
        RepoSource::Url(_) => vec![format!("refs/remotes/origin/{branch}")],
        RepoSource::Path(_) => vec![format!("refs/heads/{branch}"), branch.to_owned()],
    };
    let mut last = None;
    for rev in &candidates {
        match git.revparse_single(rev).and_then(|o| o.peel_to_commit()) {
            Ok(commit) => return Ok(commit.id()),
            Err(e) => last = Some(e),
        }
    }
    let op = GitOp::new("branch").rev(branch).remote();
    Err(op.error(last.expect("at least one candidate")).into())
}

/// Where a branch's scan starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// First poll: the head is the starting point; old history is not commented on.
    First,
    /// First poll with `backfill`: the whole history is scanned.
    Backfill,
    /// Nothing new.
    UpToDate,
    /// New commits after the last processed one.
    After(CommitSha),
    /// The branch was rewritten: the last processed commit is no longer in
    /// its history; scanning resumes from their merge base.
    Rewritten {
        /// The last processed commit.
        last: CommitSha,
        /// Where the new history leaves the old one.
        base: CommitSha,
    },
    /// The last processed commit shares no history with the branch (or is
    /// gone): the head becomes the new starting point.
    Unrelated(CommitSha),
}

/// A finding as the daemon keeps it: rendered at once, so the comparisons
/// behind it (tens of thousands of changes for a Debian refresh) are freed
/// commit by commit instead of piling up over a backfill.
pub struct Scanned {
    /// The finding's id.
    pub id: FindingId,
    /// Its commit.
    pub commit: CommitSha,
    /// Its kind.
    pub kind: FindingKind,
    /// Its Markdown, marker included.
    pub body: String,
}

impl Scanned {
    fn render(finding: &Finding, max_body: usize) -> Scanned {
        Scanned {
            id: finding.id.clone(),
            commit: finding.commit.clone(),
            kind: finding.kind,
            body: finding_markdown(finding, max_body),
        }
    }
}

/// The result of scanning one branch.
pub struct BranchScan {
    /// The branch.
    pub branch: String,
    /// Its head, the new progress.
    pub head: CommitSha,
    /// How the range was chosen.
    pub start: Start,
    /// Commits scanned.
    pub commits: usize,
    /// Findings, oldest commit first.
    pub findings: Vec<Scanned>,
    /// Problems at single revisions.
    pub errors: Vec<RevisionError>,
    /// The walk's counters (references parsed, cache hits), as `scan`
    /// reports them.
    pub stats: ScanStats,
}

/// Decides where a branch's scan starts, given its last processed commit.
pub fn start(
    git: &Repository,
    head: Oid,
    last: Option<&CommitSha>,
    backfill: bool,
) -> Result<(Start, Option<Oid>), GitError> {
    let Some(last) = last else {
        return Ok(if backfill {
            (Start::Backfill, None)
        } else {
            (Start::First, None)
        });
    };
    let Ok(last_oid) = Oid::from_str(last.as_str()) else {
        return Ok((Start::Unrelated(last.clone()), None));
    };
    if last_oid == head {
        return Ok((Start::UpToDate, None));
    }
    if git.find_commit(last_oid).is_err() {
        return Ok((Start::Unrelated(last.clone()), None));
    }
    let op = GitOp::new("history of")
        .rev(CommitSha::of(head).short())
        .remote();
    if git
        .graph_descendant_of(head, last_oid)
        .map_err(op.clone().wrap())?
    {
        return Ok((Start::After(last.clone()), Some(last_oid)));
    }
    match git.merge_base(head, last_oid) {
        Ok(base) => Ok((
            Start::Rewritten {
                last: last.clone(),
                base: CommitSha::of(base),
            },
            Some(base),
        )),
        Err(e) if e.code() == ErrorCode::NotFound => Ok((Start::Unrelated(last.clone()), None)),
        Err(e) => Err(op.error(e).into()),
    }
}

/// Scans one branch from its last processed commit to its head, rendering
/// each finding's comment within `max_body` bytes (the forge's limit).
pub fn scan_branch(
    git: &Repository,
    repo: &RepoConfig,
    branch: &str,
    last: Option<&CommitSha>,
    jobs: usize,
    max_body: usize,
) -> Result<BranchScan, GitError> {
    let head = branch_head(git, repo, branch)?;
    let (start, from) = start(git, head, last, repo.backfill)?;
    let mut scan = BranchScan {
        branch: branch.to_owned(),
        head: CommitSha::of(head),
        start: start.clone(),
        commits: 0,
        findings: Vec::new(),
        errors: Vec::new(),
        stats: ScanStats::default(),
    };
    if matches!(start, Start::First | Start::UpToDate | Start::Unrelated(_)) {
        return Ok(scan);
    }
    let spec = RepoSpec::of_config(repo, jobs).map_err(|e| GitError::Other {
        what: "modules".into(),
        message: e.to_string(),
    })?;
    let mut findings = Vec::new();
    let done = spec.open(git).scan(
        from,
        head,
        true,
        |_, _| {},
        |found| {
            findings.extend(found.drain(..).map(|f| Scanned::render(&f, max_body)));
        },
    )?;
    scan.commits = done.report.commits_scanned;
    scan.errors = done.report.errors;
    scan.stats = done.report.stats;
    scan.findings = findings;
    Ok(scan)
}
