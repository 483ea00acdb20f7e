//! The picture of a repository's history, as the HTML timeline draws it:
//! one walk giving every ABI name's reference states ([`Timeline`]), the
//! scan's findings (hidden breaks, lost coverage, bumps), when each flavour
//! had a reference under each name, and the date of every commit shown.
//! `timeline --format html`, `scan --format html` and the daemon's page all
//! gather it here; [`crate::report::html`] renders it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use git2::{Oid, Repository};

use crate::findings::Finding;
use crate::history::promises::Promises;
use crate::history::scan::Scanner;
use crate::history::timeline::{AbiHistory, Timeline};
use crate::history::{CommitSha, HistoryError, RevState, RevisionError, Step};
use crate::pipeline::RepoSpec;
use crate::symbols::AbiName;

/// A commit the picture shows: where a state began, a finding was made or
/// a flavour's reference appeared or vanished under a name.
#[derive(Clone, Debug)]
pub struct ShownCommit {
    /// Its id.
    pub sha: CommitSha,
    /// Its title.
    pub title: String,
    /// Committer time, seconds since the epoch (`None`: unreadable).
    pub time: Option<i64>,
}

/// A stretch of commits during which a flavour had a reference under a
/// name, as indices into [`Picture::commits`]: from `from` (`None`: since
/// before the range) up to, not including, `to` (`None`: still at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The commit where it appeared.
    pub from: Option<usize>,
    /// The commit where it vanished.
    pub to: Option<usize>,
}

/// Everything the HTML timeline shows of one walk.
#[derive(Clone, Debug, Default)]
pub struct Picture {
    /// The repository's name.
    pub repo: String,
    /// The walk's last commit.
    pub head: Option<CommitSha>,
    /// Commits visited.
    pub commits_scanned: usize,
    /// Every ABI name's states per flavour, as `timeline` reports them.
    pub abis: Vec<AbiHistory>,
    /// The scan's findings, in commit order.
    pub findings: Vec<Finding>,
    /// Problems at single revisions.
    pub errors: Vec<RevisionError>,
    /// The commits shown, in walk order; indices into it place everything.
    pub commits: Vec<ShownCommit>,
    /// When each flavour had a readable reference under each name.
    pub spans: BTreeMap<(AbiName, String), Vec<Span>>,
}

impl Picture {
    /// The index of `sha` in [`Picture::commits`].
    pub fn index_of(&self, sha: &CommitSha) -> Option<usize> {
        self.commits.iter().position(|c| c.sha == *sha)
    }
}

/// Which flavours have a readable reference under which name.
fn present(state: &RevState) -> BTreeSet<(AbiName, String)> {
    state
        .sources
        .iter()
        .filter(|(key, _)| !state.broken.contains_key(*key))
        .map(|(key, source)| (source.abi.clone(), key.to_string()))
        .collect()
}

/// Follows the walk: the commits touching the references, in order, and
/// where each (name, flavour) appeared and vanished among them.
#[derive(Default)]
struct Presence {
    touched: Vec<(CommitSha, String)>,
    now: Option<BTreeSet<(AbiName, String)>>,
    spans: BTreeMap<(AbiName, String), Vec<Span>>,
}

impl Presence {
    fn visit(&mut self, step: &Step<'_>) {
        let before = self.now.get_or_insert_with(|| {
            // What the range starts with was there before it.
            let start = present(step.parent);
            for key in &start {
                let span = Span {
                    from: None,
                    to: None,
                };
                self.spans.entry(key.clone()).or_default().push(span);
            }
            start
        });
        if !step.touched {
            return;
        }
        let index = self.touched.len();
        self.touched.push((step.commit.clone(), step.title.clone()));
        let now = present(step.state);
        for gone in before.difference(&now) {
            if let Some(span) = self.spans.get_mut(gone).and_then(|s| s.last_mut()) {
                span.to = Some(index);
            }
        }
        for new in now.difference(before) {
            let span = Span {
                from: Some(index),
                to: None,
            };
            self.spans.entry(new.clone()).or_default().push(span);
        }
        *before = now;
    }
}

/// Walks the commits after `from` (from the root when `None`) up to `to`
/// once, as `timeline` and `scan` each would, with the description's
/// rules; `progress` gets (done, total). Returns the picture and the errors
/// of `to` (the commands' exit-code contract treats them apart).
pub fn gather(
    git: &Repository,
    spec: &RepoSpec,
    from: Option<Oid>,
    to: Oid,
    progress: impl FnMut(usize, usize),
) -> Result<(Picture, Vec<RevisionError>), HistoryError> {
    let mut pipeline = spec.open(git);
    let mut scanner = Scanner::new(&spec.name)
        .watch(spec.watched.clone())
        .counts_only();
    // What happened before `from`, for both: what each name promised.
    let mut promises = Promises::default();
    pipeline.walker.history_until(from, |commit, last, state| {
        scanner.learn(commit, last, state);
        promises.record(commit, state);
    })?;
    let mut timeline = Timeline::knowing(promises);
    let mut presence = Presence::default();
    let current = pipeline.walk(from, to, progress, |step| {
        presence.visit(&step);
        timeline.visit(Step {
            commit: step.commit.clone(),
            title: step.title.clone(),
            errors: Vec::new(),
            ..step
        });
        scanner.visit(step);
    })?;
    let report = scanner.finish();
    let mut errors = report.errors;
    errors.extend(timeline.errors);
    let mut picture = Picture {
        repo: spec.name.clone(),
        head: Some(CommitSha::of(to)),
        commits_scanned: report.commits_scanned,
        abis: timeline.abis,
        findings: report.findings,
        errors,
        ..Picture::default()
    };
    picture.place(git, presence);
    Ok((picture, current))
}

impl Picture {
    /// Keeps of the touched commits only those something happened at (a
    /// state began, a finding, a reference appeared or vanished), with
    /// their dates, and renumbers the spans into that list.
    fn place(&mut self, git: &Repository, presence: Presence) {
        let mut used: BTreeSet<usize> = BTreeSet::new();
        for spans in presence.spans.values() {
            used.extend(spans.iter().flat_map(|s| [s.from, s.to]).flatten());
        }
        let named: BTreeSet<&CommitSha> = self
            .abis
            .iter()
            .flat_map(|a| a.flavours.values().flatten().map(|s| &s.commit))
            .chain(self.findings.iter().map(|f| &f.commit))
            .collect();
        for (i, (sha, _)) in presence.touched.iter().enumerate() {
            if named.contains(sha) {
                used.insert(i);
            }
        }
        let renumber: HashMap<usize, usize> = used
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new))
            .collect();
        self.commits = used
            .iter()
            .map(|&i| {
                let (sha, title) = presence.touched[i].clone();
                let time = Oid::from_str(sha.as_str())
                    .and_then(|oid| git.find_commit(oid))
                    .ok()
                    .map(|c| c.time().seconds());
                ShownCommit { sha, title, time }
            })
            .collect();
        let moved = |i: Option<usize>| i.map(|i| renumber[&i]);
        self.spans = presence
            .spans
            .into_iter()
            .map(|(key, spans)| {
                let spans = spans
                    .into_iter()
                    .map(|s| Span {
                        from: moved(s.from),
                        to: moved(s.to),
                    })
                    .collect();
                (key, spans)
            })
            .collect();
    }
}
