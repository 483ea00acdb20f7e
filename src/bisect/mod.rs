//! `bisect`: finding the commit where an ABI change happened.
//!
//! Two modes share one probe strategy ([`search`]) and one report
//! ([`BisectReport`], rendered by [`crate::report::bisect`]):
//!
//! - **Reference mode** ([`mod@reference`]) reads the packaging repository's own
//!   ABI references straight from the git object database, at the revisions
//!   it probes only (O(log n) of them), and never builds anything.
//! - **Build mode** ([`build`]) checks each probed revision out into a
//!   temporary git worktree, runs the user's build command there, and reads
//!   the ABI the build produced through an [`build::AbiReader`].
//!
//! # What "bad" means
//!
//! The good end `A` is the baseline: its state (the chosen flavours'
//! references, or the ABI its build produced) is what every probe is compared
//! with, by [`compare`] with no ignore rules (the
//! question is where a change happened, not whether the packaging forgives
//! it). A probed revision is
//!
//! - **bad** when, in at least one chosen flavour it could read, a chosen
//!   symbol (default: every symbol) differs from `A` in the chosen [`Kind`];
//! - **skip** otherwise, when a chosen flavour's reference is missing or
//!   unreadable there (or, in build mode, when the command exits 125), like
//!   `git bisect skip`;
//! - **good** otherwise.
//!
//! Badness is assumed monotonic along the first-parent line from `A` to `B`,
//! as `git bisect` assumes. The ends are checked before any guessing: `A`
//! must be a first-parent ancestor of `B`, the chosen symbols must exist at
//! `A` (else `A` is already bad), and `B` must read; when `B` is good the
//! report says nothing in the range matches.
//!
//! When skipped revisions sit between the last good probe and the first bad
//! one, the report names them as [`FirstBad::maybe_earlier`]: any of them
//! could be the real first bad commit, and abibot does not guess which.

pub mod build;
pub mod reference;
pub mod search;
mod worktree;

use std::collections::BTreeSet;
use std::path::PathBuf;

use git2::{Oid, Repository};
use serde::Serialize;

use crate::compare::{Change, ChangeKind, compare};
use crate::git_error::{GitError, GitOp};
use crate::history::{CommitSha, HistoryError, Walker};
use crate::ignore::IgnoreRules;
use crate::symbols::SymbolSet;
use search::{End, Search};

/// The kind of difference from the good end that makes a revision bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A CRC changed.
    Crc,
    /// A symbol was removed.
    Removed,
    /// The export macro changed, either way.
    Export,
    /// The namespace changed, added or dropped.
    Namespace,
    /// Any change the loader would refuse: removed, CRC changed,
    /// export tightened, namespace added or changed.
    #[default]
    Any,
}

impl Kind {
    /// Whether `change` is of this kind.
    pub fn matches(self, change: &Change) -> bool {
        match self {
            Kind::Crc => change.kind == ChangeKind::CrcChanged,
            Kind::Removed => change.kind == ChangeKind::Removed,
            Kind::Export => change.kind == ChangeKind::ExportChanged,
            Kind::Namespace => change.kind == ChangeKind::NamespaceChanged,
            Kind::Any => change.incompatible,
        }
    }

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crc => "crc",
            Kind::Removed => "removed",
            Kind::Export => "export",
            Kind::Namespace => "namespace",
            Kind::Any => "any",
        }
    }
}

/// Which differences from the good end make a revision bad.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Predicate {
    /// The kind of difference.
    pub kind: Kind,
    /// The symbols watched; empty means every symbol.
    pub symbols: BTreeSet<String>,
}

impl Predicate {
    /// The changes from `good` to `probed` that this predicate looks for.
    pub fn matching(&self, good: &SymbolSet, probed: &SymbolSet) -> Vec<Change> {
        compare(good, probed, &IgnoreRules::default())
            .changes
            .into_iter()
            .filter(|c| self.kind.matches(c))
            .filter(|c| self.symbols.is_empty() || self.symbols.contains(&c.symbol))
            .collect()
    }

    /// The watched symbols none of `sets` exports: at the good end, such a
    /// symbol is already gone, so the good end is already bad.
    pub fn missing_from<'a>(&self, sets: impl Iterator<Item = &'a SymbolSet> + Clone) -> Vec<&str> {
        self.symbols
            .iter()
            .filter(|s| !sets.clone().any(|set| set.get(s).is_some()))
            .map(String::as_str)
            .collect()
    }
}

/// A probe's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No matching difference from the good end.
    Good,
    /// A matching difference from the good end.
    Bad,
    /// Could not be judged (reference missing or unreadable, build skipped).
    Skip,
}

impl Verdict {
    /// `good`, `bad` or `skip`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        }
    }
}

/// Which mode produced a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The repository's own references, read from git objects.
    Reference,
    /// The ABI a build command produced in a worktree.
    Build,
}

/// A commit as people identify it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// The full commit id.
    pub commit: CommitSha,
    /// The first line of its message.
    pub title: String,
    /// `Name <email>` of its author.
    pub author: String,
    /// Its author date, RFC 3339 in UTC.
    pub date: String,
}

impl CommitInfo {
    /// Reads a commit's identity.
    pub fn of(repo: &Repository, oid: Oid) -> Result<CommitInfo, BisectError> {
        let commit = repo
            .find_commit(oid)
            .map_err(GitOp::new("commit").rev(oid).wrap())?;
        let author = commit.author();
        let seconds = u64::try_from(author.when().seconds()).unwrap_or(0);
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        Ok(CommitInfo {
            commit: CommitSha::of(oid),
            title: commit.summary().ok().flatten().unwrap_or("").to_owned(),
            author: format!(
                "{} <{}>",
                author.name().unwrap_or("?"),
                author.email().unwrap_or("?")
            ),
            date: humantime::format_rfc3339_seconds(time).to_string(),
        })
    }
}

/// The matching changes of one flavour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlavourMatch {
    /// The flavour (`amd64_none_amd64`), or the build's `--flavour-name`.
    pub flavour: String,
    /// The changes from the good end that match the predicate.
    pub changes: Vec<Change>,
}

/// The answer: the first commit found bad.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstBad {
    /// Which commit.
    #[serde(flatten)]
    pub commit: CommitInfo,
    /// What it changed, relative to the good end. When its parent tested
    /// good, these are exactly the matching changes the commit itself made.
    pub changes: Vec<FlavourMatch>,
    /// Skipped commits between the last good probe and this one, oldest
    /// first; when not empty, any of them may be the real first bad commit.
    pub maybe_earlier: Vec<CommitSha>,
}

/// One revision probed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The commit.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// What the probe concluded.
    pub verdict: Verdict,
    /// Why a probe was skipped (or what the good end is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Build mode: where the probe's build output is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// A revision skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The commit.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// What could not be read or built.
    pub reason: String,
}

/// How much work a bisection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Work {
    /// Revisions whose reference set was read from git (reference mode).
    pub reference_reads: usize,
    /// Reference files parsed (reference mode).
    pub references_parsed: usize,
    /// Build commands run (build mode).
    pub builds: usize,
}

/// The result of a bisection: plain data, rendered by [`crate::report::bisect`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BisectReport {
    /// Which mode ran.
    pub mode: Mode,
    /// The good end (the baseline).
    pub good: CommitInfo,
    /// The bad end.
    pub bad: CommitInfo,
    /// The kind of difference looked for.
    pub kind: Kind,
    /// The flavours judged.
    pub flavours: Vec<String>,
    /// The symbols watched (empty: all).
    pub symbols: Vec<String>,
    /// First-parent commits after the good end up to the bad end.
    pub commits_in_range: usize,
    /// The first bad commit; `None` when the bad end matches the good end.
    pub first_bad: Option<FirstBad>,
    /// Every revision probed, in probe order, the good end first.
    pub probes: Vec<Probe>,
    /// The probes that were skipped, in probe order.
    pub skipped: Vec<Skipped>,
    /// Work counters.
    pub work: Work,
    /// Build mode: the directory holding each probe's build output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_dir: Option<String>,
}

/// A bisection could not be done. Each variant names the revision (and the
/// file, where one is concerned).
#[derive(Debug, thiserror::Error)]
pub enum BisectError {
    /// Resolving revisions or walking history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Opening the repository or reading a git object failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Both ends are the same commit.
    #[error("--good and --bad are the same commit {rev}: nothing to bisect")]
    SameCommit {
        /// The commit.
        rev: String,
    },
    /// The good end is not on the bad end's first-parent line.
    #[error(
        "the good end {good} is not a first-parent ancestor of the bad end {bad} (are --good and --bad swapped?)"
    )]
    NotAncestor {
        /// The good end as given.
        good: String,
        /// The bad end as given.
        bad: String,
    },
    /// The good end already shows what is looked for.
    #[error("the good end {rev} is already bad: {reason}")]
    GoodIsBad {
        /// The good end.
        rev: String,
        /// Why.
        reason: String,
    },
    /// The good end's state cannot be read, so there is no baseline.
    #[error("cannot use the good end {rev} as a baseline: {reason}")]
    GoodUnreadable {
        /// The good end.
        rev: String,
        /// What could not be read (file and message).
        reason: String,
    },
    /// The bad end cannot be judged, so nothing can be concluded.
    #[error("cannot judge the bad end {rev}: {reason}")]
    BadUnreadable {
        /// The bad end.
        rev: String,
        /// What could not be read or built.
        reason: String,
    },
    /// A `--flavour` has no reference at the good end.
    #[error("flavour {flavour} has no reference at the good end {rev} (it has: {available})")]
    UnknownFlavour {
        /// The flavour asked for.
        flavour: String,
        /// The good end.
        rev: String,
        /// The flavours it has, comma-separated.
        available: String,
    },
    /// An option is unusable.
    #[error("{0}")]
    Usage(String),
    /// A file or directory could not be used.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A git worktree could not be added or removed.
    #[error("worktree for {rev} at {path}: {message}")]
    Worktree {
        /// The revision checked out.
        rev: String,
        /// The worktree's path.
        path: String,
        /// What git said.
        message: String,
    },
    /// The build command failed (and `--fail-is-bad` was not given).
    #[error(
        "the command failed at {rev} ({status}); output in {output} (use --fail-is-bad to count failures as bad, or exit 125 to skip)"
    )]
    CommandFailed {
        /// The revision built.
        rev: String,
        /// How it ended (`exit 1`, `killed by signal 9`).
        status: String,
        /// Where its stdout and stderr are kept.
        output: String,
    },
    /// The build succeeded but its ABI could not be read.
    #[error("the build at {rev} produced no readable ABI: {path}: {message}")]
    Abi {
        /// The revision built.
        rev: String,
        /// The file read.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// Interrupted (Ctrl-C); worktrees were removed.
    #[error("interrupted while probing {rev}; worktrees removed, build output kept in {output}")]
    Interrupted {
        /// The revision being probed.
        rev: String,
        /// Where the build output so far is kept.
        output: String,
    },
}

/// The commits to bisect: after the good end, up to the bad end.
pub(crate) struct Range {
    /// The good end.
    pub good: Oid,
    /// First-parent commits after `good` up to the bad end, oldest first;
    /// never empty, the last is the bad end.
    pub commits: Vec<Oid>,
}

impl Range {
    /// Resolves and checks the ends.
    pub fn resolve(
        walker: &Walker<'_>,
        repo: &Repository,
        good: &str,
        bad: &str,
    ) -> Result<Range, BisectError> {
        let good_id = walker.resolve(good)?;
        let bad_id = walker.resolve(bad)?;
        if good_id == bad_id {
            return Err(BisectError::SameCommit {
                rev: good_id.to_string(),
            });
        }
        let commits = walker.commits(Some(good_id), bad_id)?;
        // Hiding `good` stops the first-parent walk at `good` only when
        // `good` lies on that line; otherwise it runs past it.
        let on_line = match commits.first() {
            Some(first) => repo
                .find_commit(*first)
                .map_err(GitOp::new("commit").rev(first).wrap())?
                .parent_id(0)
                .is_ok_and(|p| p == good_id),
            None => false,
        };
        if !on_line {
            return Err(BisectError::NotAncestor {
                good: format!("{good} ({})", CommitSha::of(good_id).short()),
                bad: format!("{bad} ({})", CommitSha::of(bad_id).short()),
            });
        }
        Ok(Range {
            good: good_id,
            commits,
        })
    }

    /// The bad end.
    pub fn bad(&self) -> Oid {
        *self.commits.last().expect("a range is never empty")
    }
}

/// What a mode learnt from probing one revision.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProbeDetail {
    /// Why it was skipped.
    pub reason: Option<String>,
    /// The matching changes, when bad.
    pub matches: Vec<FlavourMatch>,
    /// Build mode: where its output is kept.
    pub output: Option<String>,
}

/// What the modes tell [`assemble`] beside the search itself.
pub(crate) struct Header {
    /// Which mode ran.
    pub mode: Mode,
    /// The question asked.
    pub predicate: Predicate,
    /// The flavours judged.
    pub flavours: Vec<String>,
    /// What to say about the good end's probe.
    pub baseline: ProbeDetail,
    /// Work counters.
    pub work: Work,
    /// Build mode: where output is kept.
    pub keep_dir: Option<String>,
}

/// Turns a finished search into the report.
pub(crate) fn assemble(
    repo: &Repository,
    range: &Range,
    search: Search<ProbeDetail>,
    header: Header,
) -> Result<BisectReport, BisectError> {
    let good = CommitInfo::of(repo, range.good)?;
    let bad = CommitInfo::of(repo, range.bad())?;
    let mut probes = vec![Probe {
        commit: good.commit.clone(),
        title: good.title.clone(),
        verdict: Verdict::Good,
        reason: header.baseline.reason,
        output: header.baseline.output,
    }];
    let mut skipped = Vec::new();
    let mut details = std::collections::BTreeMap::new();
    for probed in search.probes {
        let info = CommitInfo::of(repo, range.commits[probed.index])?;
        if probed.verdict == Verdict::Skip {
            skipped.push(Skipped {
                commit: info.commit.clone(),
                title: info.title.clone(),
                reason: probed.detail.reason.clone().unwrap_or_default(),
            });
        }
        probes.push(Probe {
            commit: info.commit,
            title: info.title,
            verdict: probed.verdict,
            reason: probed.detail.reason.clone(),
            output: probed.detail.output.clone(),
        });
        details.insert(probed.index, probed.detail);
    }
    let first_bad = match search.end {
        End::BadEndGood => None,
        End::BadEndSkipped => {
            let reason = details
                .remove(&(range.commits.len() - 1))
                .and_then(|d| d.reason)
                .unwrap_or_default();
            return Err(BisectError::BadUnreadable {
                rev: bad.commit.to_string(),
                reason,
            });
        }
        End::Found {
            first_bad,
            maybe_earlier,
        } => Some(FirstBad {
            commit: CommitInfo::of(repo, range.commits[first_bad])?,
            changes: details.remove(&first_bad).unwrap_or_default().matches,
            maybe_earlier: maybe_earlier
                .into_iter()
                .map(|i| CommitSha::of(range.commits[i]))
                .collect(),
        }),
    };
    Ok(BisectReport {
        mode: header.mode,
        good,
        bad,
        kind: header.predicate.kind,
        flavours: header.flavours,
        symbols: header.predicate.symbols.into_iter().collect(),
        commits_in_range: range.commits.len(),
        first_bad,
        probes,
        skipped,
        work: header.work,
        keep_dir: header.keep_dir,
    })
}

/// A log line for a finished probe: `probe 3: 1234567890ab bad (title)`.
pub(crate) fn probe_line(n: usize, commit: Oid, verdict: Verdict, detail: &ProbeDetail) -> String {
    let mut line = format!(
        "probe {n}: {} {}",
        CommitSha::of(commit).short(),
        verdict.name()
    );
    if let Some(reason) = &detail.reason {
        line.push_str(&format!(" ({reason})"));
    }
    let changes: usize = detail.matches.iter().map(|m| m.changes.len()).sum();
    if changes > 0 {
        line.push_str(&format!(" ({changes} matching change(s))"));
    }
    line
}

/// The probe directory name for the `n`th probe of `commit`.
pub(crate) fn probe_dir_name(n: usize, commit: Oid) -> PathBuf {
    PathBuf::from(format!("probe-{n:02}-{}", CommitSha::of(commit).short()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::{Crc, ExportKind, Symbol};

    fn set(symbols: &[(&str, u32, ExportKind, Option<&str>)]) -> SymbolSet {
        SymbolSet::from_symbols(
            symbols
                .iter()
                .map(|(name, crc, export, ns)| Symbol {
                    name: (*name).into(),
                    crc: Crc(*crc),
                    module: "vmlinux".into(),
                    export: Some(export.clone()),
                    namespace: ns.map(Into::into),
                })
                .collect(),
        )
        .unwrap()
    }

    fn kinds_matching(kind: Kind, symbols: &[&str]) -> Vec<(String, ChangeKind)> {
        use ExportKind::{Gpl, Symbol as Plain};
        let good = set(&[
            ("crc", 1, Plain, None),
            ("gone", 1, Plain, None),
            ("tight", 1, Plain, None),
            ("loose", 1, Gpl, None),
            ("ns", 1, Plain, None),
            ("ns_drop", 1, Plain, Some("A")),
        ]);
        let probed = set(&[
            ("crc", 2, Plain, None),
            ("tight", 1, Gpl, None),
            ("loose", 1, Plain, None),
            ("ns", 1, Plain, Some("B")),
            ("ns_drop", 1, Plain, None),
            ("new", 1, Plain, None),
        ]);
        let predicate = Predicate {
            kind,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        };
        predicate
            .matching(&good, &probed)
            .into_iter()
            .map(|c| (c.symbol, c.kind))
            .collect()
    }

    #[test]
    fn each_kind_selects_its_changes_and_any_selects_the_incompatible_ones() {
        use ChangeKind::*;
        let own = |v: &[(&str, ChangeKind)]| -> Vec<(String, ChangeKind)> {
            v.iter().map(|(s, k)| ((*s).to_owned(), *k)).collect()
        };
        assert_eq!(kinds_matching(Kind::Crc, &[]), own(&[("crc", CrcChanged)]));
        assert_eq!(
            kinds_matching(Kind::Removed, &[]),
            own(&[("gone", Removed)])
        );
        assert_eq!(
            kinds_matching(Kind::Export, &[]),
            own(&[("loose", ExportChanged), ("tight", ExportChanged)])
        );
        assert_eq!(
            kinds_matching(Kind::Namespace, &[]),
            own(&[("ns", NamespaceChanged), ("ns_drop", NamespaceChanged)])
        );
        // Opening an export, dropping a namespace and adding a symbol are
        // compatible, so `any` passes over them.
        assert_eq!(
            kinds_matching(Kind::Any, &[]),
            own(&[
                ("crc", CrcChanged),
                ("gone", Removed),
                ("ns", NamespaceChanged),
                ("tight", ExportChanged)
            ])
        );
        assert_eq!(
            kinds_matching(Kind::Any, &["tight", "absent"]),
            own(&[("tight", ExportChanged)])
        );
    }

    #[test]
    fn symbols_missing_from_every_set_are_named() {
        let a = set(&[("x", 1, ExportKind::Symbol, None)]);
        let b = set(&[("y", 1, ExportKind::Symbol, None)]);
        let predicate = Predicate {
            kind: Kind::Any,
            symbols: ["x", "y", "z"].iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(predicate.missing_from([&a, &b].into_iter()), ["z"]);
    }
}
