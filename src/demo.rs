//! `abibot demo`: what a newcomer runs first. Builds a small Debian-layout
//! packaging repository in a temporary directory from real reference files
//! bundled in the binary (`data/demo/`), runs the daemon's pipeline over it
//! once (backfill, the stdout sink, a state in memory) and so prints the
//! comments the daemon would post. No configuration, no network.

use std::collections::BTreeMap;
use std::io::{Read as _, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use git2::{Index, Oid, Repository, Signature};

use crate::config::{Config, ForgeConfig, LogFormat, RepoConfig, RepoName, RepoSource};
use crate::daemon::{Daemon, PollReport};
use crate::forge::sink::WriterSink;
use crate::history::{CommitSha, file_entry};
use crate::state::State;

/// Real Debian bookworm references (see `data/demo/README.md`).
const BUNDLE: &[u8] = include_bytes!("../data/demo/references.xz");

/// The demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The bundled data is damaged (a build problem).
    #[error("bundled demo data: {0}")]
    Bundle(String),
    /// Building the repository failed.
    #[error("building the demo repository: {0}")]
    Git(#[from] git2::Error),
    /// The temporary directory or the state could not be created.
    #[error("{0}")]
    Setup(String),
    /// The pipeline failed.
    #[error("the daemon's poll failed: {0}")]
    Poll(String),
}

/// The bundled files by name (`6.1.0-47/amd64_none_amd64`).
fn unpack() -> Result<BTreeMap<String, Vec<u8>>, DemoError> {
    let mut data = Vec::new();
    xz2::read::XzDecoder::new(BUNDLE)
        .read_to_end(&mut data)
        .map_err(|e| DemoError::Bundle(e.to_string()))?;
    let mut files = BTreeMap::new();
    let mut rest = data.as_slice();
    while !rest.is_empty() {
        let bad = || DemoError::Bundle("malformed entry header".into());
        let eol = rest.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let header = std::str::from_utf8(&rest[..eol]).map_err(|_| bad())?;
        let (name, size) = header.split_once(' ').ok_or_else(bad)?;
        let size: usize = size.parse().map_err(|_| bad())?;
        let body = rest.get(eol + 1..eol + 1 + size).ok_or_else(bad)?;
        files.insert(name.to_owned(), body.to_vec());
        rest = &rest[eol + 1 + size..];
    }
    Ok(files)
}

/// Commits whole trees built from path -> content maps.
struct Builder<'r> {
    repo: &'r Repository,
    files: BTreeMap<String, Oid>,
    parent: Option<Oid>,
}

impl Builder<'_> {
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), git2::Error> {
        let id = self.repo.blob(bytes)?;
        self.files.insert(path.to_owned(), id);
        Ok(())
    }

    fn remove_prefix(&mut self, prefix: &str) {
        self.files.retain(|p, _| !p.starts_with(prefix));
    }

    fn commit(&mut self, message: &str) -> Result<Oid, git2::Error> {
        let mut index = Index::new()?;
        for (path, id) in &self.files {
            index.add(&file_entry(path, *id))?;
        }
        let tree = self.repo.find_tree(index.write_tree_to(self.repo)?)?;
        let sig = Signature::new(
            "Debian Kernel Team",
            "debian-kernel@lists.debian.org",
            &git2::Time::new(1_750_000_000, 0),
        )?;
        let parents: Vec<git2::Commit<'_>> = match self.parent {
            Some(p) => vec![self.repo.find_commit(p)?],
            None => vec![],
        };
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = self.repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &parents,
        )?;
        self.parent = Some(id);
        Ok(id)
    }
}

fn changelog(version: &str, change: &str) -> String {
    format!(
        "linux ({version}) bookworm-security; urgency=high\n\n  * {change}\n\n -- Debian Kernel Team <debian-kernel@lists.debian.org>  Sun, 15 Jun 2025 00:00:00 +0000\n"
    )
}

fn defines(abiname: &str) -> String {
    format!("[abi]\nabiname: {abiname}\n\n[base]\narches:\n amd64\n")
}

/// Builds the demo history in `dir`; returns its commits, oldest first.
pub fn build_repository(dir: &Path) -> Result<Vec<(CommitSha, String)>, DemoError> {
    let files = unpack()?;
    let file = |name: &str| {
        files
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| DemoError::Bundle(format!("{name} missing")))
    };
    let repo = Repository::init(dir)?;
    repo.set_head("refs/heads/main")?;
    let mut b = Builder {
        repo: &repo,
        files: BTreeMap::new(),
        parent: None,
    };
    let mut commits = Vec::new();
    let mut commit = |b: &mut Builder<'_>, title: &str| -> Result<(), DemoError> {
        commits.push((CommitSha::of(b.commit(title)?), title.to_owned()));
        Ok(())
    };
    b.write(
        "debian/changelog",
        changelog("6.1.170-3", "New upstream stable update").as_bytes(),
    )?;
    b.write("debian/config/defines", defines("47").as_bytes())?;
    b.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        file("6.1.0-47/amd64_none_amd64")?,
    )?;
    b.write(
        "debian/abi/6.1.0-47/amd64_rt_amd64",
        file("6.1.0-47/amd64_rt_amd64")?,
    )?;
    commit(&mut b, "Release linux 6.1.170-3 (ABI 6.1.0-47)")?;
    b.write(
        "debian/patches/bugfix/x86/fix-boot-hang.patch",
        b"--- a/arch/x86/kernel/setup.c\n+++ b/arch/x86/kernel/setup.c\n",
    )?;
    commit(&mut b, "Add a patch for a boot hang")?;
    b.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        file("6.1.0-50/amd64_none_amd64")?,
    )?;
    commit(&mut b, "Refresh ABI reference files")?;
    b.remove_prefix("debian/abi/6.1.0-47/amd64_rt_amd64");
    commit(&mut b, "Drop the rt featureset's ABI reference")?;
    b.write(
        "debian/changelog",
        changelog("6.1.176-1", "New upstream stable update").as_bytes(),
    )?;
    b.write("debian/config/defines", defines("50").as_bytes())?;
    b.remove_prefix("debian/abi/6.1.0-47/");
    b.write(
        "debian/abi/6.1.0-50/amd64_none_amd64",
        file("6.1.0-50/amd64_none_amd64")?,
    )?;
    commit(&mut b, "Bump ABI to 6.1.0-50")?;
    Ok(commits)
}

/// What the demo did.
#[derive(Debug)]
pub struct DemoSummary {
    /// The commits built, oldest first.
    pub commits: Vec<(CommitSha, String)>,
    /// The daemon's poll.
    pub poll: PollReport,
}

/// Runs the demo, writing what it does and the comments to `out`.
pub async fn run(mut out: Box<dyn Write + Send>) -> Result<DemoSummary, DemoError> {
    let setup = |e: &dyn std::fmt::Display| DemoError::Setup(e.to_string());
    let dir = tempfile::Builder::new()
        .prefix("abibot-demo-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    let repo_dir = dir.path().join("linux");
    let commits = build_repository(&repo_dir)?;
    let mut intro = format!(
        "abibot demo: a Debian packaging repository built from real bookworm ABI references\n({}):\n\n",
        repo_dir.display()
    );
    for (sha, title) in &commits {
        intro.push_str(&format!("  {} {title}\n", sha.short()));
    }
    intro.push_str(
        "\nRunning the daemon's pipeline once over it (backfill, stdout sink, state in memory).\nThe comments it would post:\n\n",
    );
    out.write_all(intro.as_bytes()).map_err(|e| setup(&e))?;
    out.flush().map_err(|e| setup(&e))?;

    let name = RepoName::new("demo").expect("valid name");
    let config = Config {
        state: dir.path().join("state.sqlite"),
        poll_interval: Duration::from_secs(60),
        log_format: LogFormat::Text,
        concurrency: 1,
        cache_dir: dir.path().join("repos"),
        listen: None,
        webhook_secret: None,
        fetch: Default::default(),
        repos: vec![RepoConfig {
            name: name.clone(),
            source: RepoSource::Path(repo_dir),
            branches: vec!["main".into()],
            layout: None,
            root: None,
            ignore: Default::default(),
            modules: Vec::new(),
            explain: Default::default(),
            backfill: true,
            forge: ForgeConfig::Stdout,
            line: 0,
        }],
    };
    let state = State::in_memory().map_err(|e| setup(&e))?;
    let sink = Arc::new(WriterSink::new(out, "stdout"));
    let daemon = Arc::new(Daemon::with_state(config, state).with_forge(&name, sink.clone()));
    let (_, result) = daemon
        .poll_once()
        .await
        .pop()
        .expect("one repository configured");
    let poll = result.map_err(|e| DemoError::Poll(e.to_string()))?;
    let findings = daemon.state().findings(&name).map_err(|e| setup(&e))?;
    let kinds: Vec<&str> = findings.iter().map(|f| f.kind.as_str()).collect();
    let closing = format!(
        "──── summary ────\n\n{} commits scanned; findings: {}; {} comments posted to the stdout sink.\nThe ABI bump is recorded but not commented on: changing the ABI name is the proper way to change the ABI.\nNext: `abibot scan --repo <your packaging clone>`, or write config/abibot.toml and run `abibot daemon --config config/abibot.toml`.\n",
        poll.branches.iter().map(|b| b.commits).sum::<usize>(),
        kinds.join(", "),
        poll.posted,
    );
    sink.write_text(&closing).map_err(|e| setup(&e))?;
    Ok(DemoSummary { commits, poll })
}
