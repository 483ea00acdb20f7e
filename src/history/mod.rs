//! Walking a packaging repository's history straight from the git object
//! database (never a checkout) and rebuilding the reference set of every
//! revision.
//!
//! The cost of a walk follows the bytes that changed: for each commit the
//! object ids of the layout's inputs ([`Layout::inputs`]: Debian's
//! `debian/abi`, `debian/config`, `debian/changelog`; Ubuntu's
//! `debian.<branch>/abi`, `debian.<branch>/changelog` and
//! `debian/debian.env`; Red Hat's stablelists and
//! `Makefile.rhelver`; a generic layout's reference directory and ABI file)
//! are compared with the parent's first, one tree lookup each; only when one
//! differs is the layout read, and only references whose object id changed
//! are parsed (once per object, through [`cache::Loader`]). Unchanged
//! flavours share their parsed set with the parent.
//!
//! Its memory is bounded by [`WalkOptions::cache_bytes`] whatever the
//! churn: a revision's state is kept only until the last commit that
//! compares with it (its first-parent children in the walk) has been
//! visited, and every parsed set alive counts against the loader's budget.

mod ahead;
pub mod cache;
pub mod detect;
pub mod explain;
mod peek;
pub mod promises;
pub mod scan;
pub mod timeline;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use git2::{ErrorCode, Oid, Repository, Sort};
use serde::Serialize;

use crate::git_error::{GitCause, GitError, GitOp};
use crate::layouts::{
    DirEntry, EntryKind, FlavourSource, Layout, Skipped, Snapshot, TreeError, TreeSource,
};
use crate::symbols::{AbiName, FlavourKey, ReferenceSet, SymbolSet};
use cache::{Loader, PoolError};

/// A full commit id: 40 lowercase hex digits (SHA-1), or 64 (SHA-256
/// repositories). Validated where it enters ([`CommitSha::of`], [`FromStr`],
/// JSON and the state store), so a forge URL or a comment never carries
/// anything else.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

/// Text that is not a full commit id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a commit id: expected 40 or 64 lowercase hex digits")]
pub struct CommitShaError {
    /// The text offered (cut to 80 bytes, so a hostile value stays short).
    pub text: String,
}

impl CommitSha {
    /// The id of a git object.
    pub fn of(oid: Oid) -> CommitSha {
        CommitSha(oid.to_string())
    }

    /// The full id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl TryFrom<String> for CommitSha {
    type Error = CommitShaError;
    fn try_from(text: String) -> Result<CommitSha, CommitShaError> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if matches!(text.len(), 40 | 64) && text.bytes().all(hex) {
            return Ok(CommitSha(text));
        }
        let mut end = text.len().min(80);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Err(CommitShaError {
            text: text[..end].to_owned(),
        })
    }
}

impl std::str::FromStr for CommitSha {
    type Err = CommitShaError;
    fn from_str(text: &str) -> Result<CommitSha, CommitShaError> {
        CommitSha::try_from(text.to_owned())
    }
}

impl From<CommitSha> for String {
    fn from(sha: CommitSha) -> String {
        sha.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A walk could not be done at all (per-commit problems are reported in the
/// results instead, and the walk goes on).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The repository or a revision could not be resolved, or a commit or
    /// tree read.
    #[error(transparent)]
    Git(#[from] GitError),
    /// No known layout in the repository.
    #[error(
        "no ABI reference layout found at {rev} (tried {}; use --layout and --root)",
        crate::layouts::detection_hint()
    )]
    NoLayout {
        /// The revision inspected.
        rev: String,
    },
    /// The revision has no reference for the flavour asked about.
    #[error("{rev} has no ABI reference for flavour {flavour} (it has: {available})")]
    NoReference {
        /// The revision.
        rev: String,
        /// The flavour asked for.
        flavour: String,
        /// The flavours it does have, comma-separated.
        available: String,
    },
    /// The flavour's reference at the revision could not be read.
    #[error("{rev}: {path}: {message}")]
    Unreadable {
        /// The revision.
        rev: String,
        /// The reference file.
        path: String,
        /// Why.
        message: String,
    },
    /// The parsing threads could not be started.
    #[error(transparent)]
    Threads(#[from] PoolError),
}

/// The index entry of a regular file whose content is blob `id` (or, with
/// `Oid::ZERO_SHA1`, content given to `Index::add_frombuffer`): what the demo,
/// the tests and the benchmarks stage to build packaging repositories
/// without a work tree.
pub fn file_entry(path: &str, id: Oid) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// One revision's tree, read through the object database.
pub struct GitTree<'r> {
    repo: &'r Repository,
    tree: git2::Tree<'r>,
    /// Paths resolved so far: what a commit costs before any blob is read.
    lookups: Cell<usize>,
}

impl<'r> GitTree<'r> {
    /// The tree of a commit.
    pub fn of_commit(
        repo: &'r Repository,
        commit: &git2::Commit<'r>,
    ) -> Result<GitTree<'r>, git2::Error> {
        Ok(GitTree {
            repo,
            tree: commit.tree()?,
            lookups: Cell::new(0),
        })
    }

    /// Paths resolved in this tree so far (every `TreeSource` call is one).
    pub fn lookups(&self) -> usize {
        self.lookups.get()
    }

    fn entry_id(&self, path: &str) -> Result<Option<(Oid, EntryKind)>, TreeError> {
        self.lookups.set(self.lookups.get() + 1);
        if path.is_empty() {
            return Ok(Some((self.tree.id(), EntryKind::Dir)));
        }
        match self.tree.get_path(Path::new(path)) {
            Ok(e) => Ok(Some((e.id(), EntryKind::from_mode(e.filemode())))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(tree_err(path, e)),
        }
    }
}

fn tree_err(path: &str, e: git2::Error) -> TreeError {
    TreeError {
        path: path.to_owned(),
        message: e.message().to_owned(),
        source: Some(GitCause::from(e)),
    }
}

impl TreeSource for GitTree<'_> {
    fn id(&self, path: &str) -> Result<Option<Oid>, TreeError> {
        Ok(self.entry_id(path)?.map(|(id, _)| id))
    }

    /// Every entry, whatever its name's bytes, with its kind from its mode.
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>, TreeError> {
        let Some((id, EntryKind::Dir)) = self.entry_id(dir)? else {
            return Ok(Vec::new());
        };
        let tree = self.repo.find_tree(id).map_err(|e| tree_err(dir, e))?;
        Ok(tree
            .iter()
            .map(|e| DirEntry {
                raw: e.name_bytes().to_vec(),
                id: e.id(),
                kind: EntryKind::from_mode(e.filemode()),
            })
            .collect())
    }

    /// A file's content; a symlink's target or a submodule's commit id is
    /// not content, so those are errors naming what the path is.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        let id = match self.entry_id(path)? {
            None | Some((_, EntryKind::Dir)) => return Ok(None),
            Some((id, kind)) if kind.is_file() => id,
            Some((_, kind)) => {
                return Err(TreeError {
                    path: path.to_owned(),
                    message: format!("{kind}, not a regular file"),
                    source: None,
                });
            }
        };
        let blob = self.repo.find_blob(id).map_err(|e| tree_err(path, e))?;
        Ok(Some(blob.content().to_vec()))
    }
}

/// What a commit's tree says of its layout.
enum Found {
    /// No layout: no references.
    Absent,
    /// The parent's layout, none of whose inputs changed.
    Unchanged,
    /// A layout (bound to the tree) with its inputs' object ids, where the
    /// layout or an id differs from the parent's.
    Changed(Layout, InputIds),
}

/// `layout` bound to `tree` (Ubuntu's branch resolved), with its inputs'
/// ids: `ids`, those of the unbound layout, unless binding changed the
/// inputs.
fn bound(
    layout: Layout,
    ids: InputIds,
    tree: &GitTree<'_>,
) -> Result<(Layout, InputIds), TreeError> {
    let bound = layout.bound(tree)?;
    if bound.inputs() == layout.inputs() {
        return Ok((bound, ids));
    }
    let ids = input_ids(&bound, tree)?;
    Ok((bound, ids))
}

/// The object ids of `layout`'s inputs in `tree`, one lookup each.
fn input_ids(layout: &Layout, tree: &GitTree<'_>) -> Result<InputIds, TreeError> {
    layout.inputs().iter().map(|path| tree.id(path)).collect()
}

/// The object ids of a layout's inputs at one revision (`None`: absent).
type InputIds = Vec<Option<Oid>>;

/// Every flavour's parsed set at one revision.
type FlavourSets = BTreeMap<FlavourKey, Arc<SymbolSet>>;

/// A problem at one revision; the walk reports it and goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevisionError {
    /// The commit.
    pub commit: CommitSha,
    /// The file concerned.
    pub path: String,
    /// What went wrong.
    pub message: String,
    /// Whether the revision's state could be read despite it.
    pub severity: Severity,
}

/// How much a problem at a revision weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something could not be read: what the revision promises is not
    /// fully known (in the current state, a command's answer is refused).
    Error,
    /// Something was left out and said so: an entry of a references
    /// directory that is not a reference ([`Skipped`]), reported at the
    /// commit where it appears. The state is readable.
    Warning,
}

/// The reference set of one revision, as the walk keeps it.
#[derive(Clone, Debug, Default)]
pub struct RevState {
    /// The layout found (none in a revision without references).
    pub layout: Option<Layout>,
    inputs: InputIds,
    /// Where each flavour's reference is, as the layout found it.
    pub sources: BTreeMap<FlavourKey, FlavourSource>,
    /// The reference set: the ABI name in force and every flavour's parsed
    /// reference. A flavour whose reference failed to parse keeps the last
    /// good set, so the commit that repairs it is compared with what held
    /// before the damage.
    pub reference: ReferenceSet,
    /// Flavours whose reference failed to parse at this revision, with why.
    pub broken: BTreeMap<FlavourKey, String>,
    /// The snapshot's distribution (`UNRELEASED` until a release is made).
    pub distribution: Option<String>,
    /// The snapshot's changelog version ([`Snapshot::version`]).
    pub version: Option<String>,
    /// Entries of the references directories that are not read.
    pub skipped: Vec<Skipped>,
}

/// What selects the commits of a walk.
#[derive(Clone, Debug)]
pub struct WalkOptions {
    /// Packaging directory inside the repository (`linux`); detected when `None`.
    pub root: Option<String>,
    /// A layout name forcing the layout (`debian`, `ubuntu`, `redhat`).
    pub layout: Option<Layout>,
    /// Visit the other parents of merges too.
    pub all_parents: bool,
    /// Parsing threads (0: all cores; at most [`cache::MAX_JOBS`]).
    pub jobs: usize,
    /// Bytes of parsed references alive at once, whoever holds them (the
    /// compared revisions, the first publications judged against, the
    /// cache); the sets of
    /// one comparison are kept even when they exceed it.
    pub cache_bytes: usize,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            root: None,
            layout: None,
            all_parents: false,
            jobs: 0,
            cache_bytes: cache::DEFAULT_CACHE_BYTES,
        }
    }
}

/// A commit and what it did to the reference set.
pub struct Step<'a> {
    /// The commit.
    pub commit: CommitSha,
    /// Its title (first line of the message).
    pub title: String,
    /// The first parent's reference set (empty for a root commit).
    pub parent: &'a RevState,
    /// This commit's reference set.
    pub state: &'a RevState,
    /// Whether anything the layout reads changed (when not, nothing did).
    pub touched: bool,
    /// Problems found at this commit.
    pub errors: Vec<RevisionError>,
    /// The walk's parsed references by object id, for a visitor that let
    /// go of a set it needs again (what an ABI name first promised).
    pub reload: cache::Reload<'a>,
}

/// Walks history and rebuilds reference sets.
pub struct Walker<'r> {
    repo: &'r Repository,
    options: WalkOptions,
    /// The parsed-reference cache and its counters.
    pub loader: Loader,
    /// Layout reads done (snapshots built); unrelated commits add none.
    pub snapshots_read: usize,
    /// Paths resolved in commits' trees, layout detection and reads
    /// included: an unrelated commit adds one per layout input.
    pub tree_lookups: usize,
    /// Commits whose state was built while the visitor was still on an
    /// earlier one (see [`cache::Loader::room_ahead`]).
    pub built_ahead: usize,
}

impl<'r> Walker<'r> {
    /// A walker over `repo`.
    pub fn new(repo: &'r Repository, options: WalkOptions) -> Walker<'r> {
        // Re-hashing every object read costs more than inflating it (SHA-1
        // with collision detection); `git cat-file` does not do it either,
        // and abibot only reads.
        git2::opts::strict_hash_verification(false);
        let loader = Loader::new(options.cache_bytes, cache::jobs_or_cores(options.jobs));
        Walker {
            repo,
            options,
            loader,
            snapshots_read: 0,
            tree_lookups: 0,
            built_ahead: 0,
        }
    }

    /// Resolves a revision expression (`main`, `HEAD~3`, a sha) to a commit id.
    pub fn resolve(&self, rev: &str) -> Result<Oid, HistoryError> {
        let object = self
            .repo
            .revparse_single(rev)
            .map_err(GitOp::new("revision").rev(format!("{rev:?}")).wrap())?;
        let commit = object
            .peel_to_commit()
            .map_err(GitOp::new("revision").rev(format!("{rev:?}")).wrap())?;
        Ok(commit.id())
    }

    /// The commits after `from` (exclusive) up to `to`, oldest first.
    pub fn commits(&self, from: Option<Oid>, to: Oid) -> Result<Vec<Oid>, HistoryError> {
        let mut walk = self.repo.revwalk().map_err(GitOp::new("revwalk").wrap())?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .map_err(GitOp::new("revwalk").wrap())?;
        if !self.options.all_parents {
            walk.simplify_first_parent()
                .map_err(GitOp::new("revwalk").wrap())?;
        }
        walk.push(to).map_err(GitOp::new("commit").rev(to).wrap())?;
        if let Some(from) = from {
            walk.hide(from)
                .map_err(GitOp::new("commit").rev(from).wrap())?;
        }
        walk.collect::<Result<Vec<_>, _>>()
            .map_err(|e| GitOp::new("revwalk").error(e).into())
    }

    /// The reference set at `commit`, computed from `parent` where possible
    /// (without, every reference is looked up in the cache or parsed).
    pub fn state_at(
        &mut self,
        commit: Oid,
        parent: Option<&RevState>,
    ) -> Result<(RevState, Vec<RevisionError>), HistoryError> {
        let mut builder = Builder::new(self.repo, &self.options, &self.loader);
        let result = builder.state_at(commit, parent);
        let counts = builder.counts();
        self.count(counts);
        result
    }

    /// Adds a builder's counters (snapshots read, tree lookups) to the walker's.
    fn count(&mut self, (snapshots, lookups): (usize, usize)) {
        self.snapshots_read += snapshots;
        self.tree_lookups += lookups;
    }

    /// See [`Builder::layout_at`].
    fn layout_at(&self, tree: &GitTree<'_>, parent: &RevState) -> Result<Found, TreeError> {
        Builder::new(self.repo, &self.options, &self.loader).layout_at(tree, parent)
    }
}

/// Builds revisions' states through one repository handle: the walker's,
/// or a second one building ahead on another thread ([`ahead`]), sharing
/// the walker's loader.
struct Builder<'a> {
    repo: &'a Repository,
    options: &'a WalkOptions,
    loader: &'a Loader,
    /// See [`Walker::snapshots_read`].
    snapshots_read: usize,
    /// See [`Walker::tree_lookups`].
    tree_lookups: usize,
}

impl<'a> Builder<'a> {
    fn new(repo: &'a Repository, options: &'a WalkOptions, loader: &'a Loader) -> Builder<'a> {
        Builder {
            repo,
            options,
            loader,
            snapshots_read: 0,
            tree_lookups: 0,
        }
    }

    /// Snapshots read and tree lookups so far.
    fn counts(&self) -> (usize, usize) {
        (self.snapshots_read, self.tree_lookups)
    }

    /// See [`Walker::state_at`].
    fn state_at(
        &mut self,
        commit: Oid,
        parent: Option<&RevState>,
    ) -> Result<(RevState, Vec<RevisionError>), HistoryError> {
        let sha = CommitSha::of(commit);
        let object = self
            .repo
            .find_commit(commit)
            .map_err(GitOp::new("commit").rev(&sha).wrap())?;
        let tree = GitTree::of_commit(self.repo, &object)
            .map_err(GitOp::new("tree of").rev(&sha).wrap())?;
        let empty = RevState::default();
        let parent = parent.unwrap_or(&empty);
        let mut errors = Vec::new();
        let state = self.build_state(&sha, &tree, parent, &mut errors);
        self.tree_lookups += tree.lookups();
        Ok((state?, errors))
    }

    /// What `tree` says of its layout. The parent's layout is kept while
    /// any of its inputs exists (a packaging directory renamed, `linux-2.6/`
    /// -> `linux/`, is found again), so a commit that changed none of them
    /// costs one lookup per input and nothing more. When an input changed,
    /// the layout is bound to this tree again: Ubuntu's branch may have
    /// moved with `debian/debian.env`.
    fn layout_at(&self, tree: &GitTree<'_>, parent: &RevState) -> Result<Found, TreeError> {
        let (layout, ids) = match self.kept_layout(tree, parent)? {
            Some(kept) => kept,
            None => {
                let found = match &self.options.layout {
                    Some(layout) => Some(layout.clone()),
                    None => Layout::detect(tree, self.options.root.as_deref())?,
                };
                let Some(layout) = found else {
                    return Ok(Found::Absent);
                };
                let ids = input_ids(&layout, tree)?;
                (layout, ids)
            }
        };
        let unchanged = |layout: &Layout, ids: &InputIds| {
            parent.layout.as_ref().map(Layout::inputs) == Some(layout.inputs())
                && *ids == parent.inputs
        };
        if unchanged(&layout, &ids) {
            return Ok(Found::Unchanged);
        }
        let (layout, ids) = bound(layout, ids, tree)?;
        if unchanged(&layout, &ids) {
            return Ok(Found::Unchanged);
        }
        Ok(Found::Changed(layout, ids))
    }

    /// The parent's layout and its inputs' ids in `tree`, unless none of
    /// them exists any more and the layout was detected (not forced).
    fn kept_layout(
        &self,
        tree: &GitTree<'_>,
        parent: &RevState,
    ) -> Result<Option<(Layout, InputIds)>, TreeError> {
        let Some(layout) = &parent.layout else {
            return Ok(None);
        };
        let ids = input_ids(layout, tree)?;
        // A forced layout is the parent's too: the walk built it.
        let kept = self.options.layout.is_some() || ids.iter().any(Option::is_some);
        Ok(kept.then(|| (layout.clone(), ids)))
    }

    fn build_state(
        &mut self,
        sha: &CommitSha,
        tree: &GitTree<'_>,
        parent: &RevState,
        errors: &mut Vec<RevisionError>,
    ) -> Result<RevState, HistoryError> {
        let mut report = |path: &str, message: String| {
            errors.push(RevisionError {
                commit: sha.clone(),
                path: path.to_owned(),
                message,
                severity: Severity::Error,
            })
        };
        let (layout, inputs) = match self.layout_at(tree, parent) {
            Ok(Found::Changed(layout, inputs)) => (layout, inputs),
            Ok(Found::Unchanged) => return Ok(parent.clone()),
            Ok(Found::Absent) => return Ok(RevState::default()),
            Err(e) => {
                report(&e.path, e.message);
                return Ok(parent.clone());
            }
        };
        self.snapshots_read += 1;
        let snapshot = match layout.read(tree) {
            Ok(s) => s,
            Err(e) => {
                report(e.path(), e.to_string());
                return Ok(RevState {
                    layout: Some(layout),
                    inputs,
                    ..parent.clone()
                });
            }
        };
        let (flavours, broken) = self.load_sets(sha, &snapshot, parent, &mut report)?;
        // Said once, where an unread entry appears, not at every read.
        for skipped in snapshot
            .skipped
            .iter()
            .filter(|s| !parent.skipped.contains(s))
        {
            errors.push(RevisionError {
                commit: sha.clone(),
                path: skipped.path.clone(),
                message: skipped.reason.to_string(),
                severity: Severity::Warning,
            });
        }
        Ok(RevState {
            layout: Some(layout),
            inputs,
            sources: snapshot.flavours,
            reference: ReferenceSet {
                abi: snapshot.abi,
                flavours,
            },
            broken,
            distribution: snapshot.distribution,
            version: snapshot.version,
            skipped: snapshot.skipped,
        })
    }

    /// Every flavour's parsed set: the parent's where the reference is the
    /// same object, else loaded. A reference that fails keeps the parent's
    /// set and is reported and marked broken.
    fn load_sets(
        &self,
        sha: &CommitSha,
        snapshot: &Snapshot,
        parent: &RevState,
        report: &mut impl FnMut(&str, String),
    ) -> Result<(FlavourSets, BTreeMap<FlavourKey, String>), HistoryError> {
        let mut sets = BTreeMap::new();
        let mut broken = BTreeMap::new();
        let mut to_load: Vec<(&FlavourKey, &FlavourSource)> = Vec::new();
        for (key, source) in &snapshot.flavours {
            let reuse = parent
                .sources
                .get(key)
                .filter(|p| p.id == source.id && !parent.broken.contains_key(key))
                .and_then(|_| parent.reference.flavours.get(key));
            match reuse {
                Some(set) => {
                    sets.insert(key.clone(), set.clone());
                }
                None => to_load.push((key, source)),
            }
        }
        let sources: Vec<&FlavourSource> = to_load.iter().map(|(_, s)| *s).collect();
        let loaded = self.loader.load_all(self.repo, &sources, sha.short())?;
        for ((key, source), result) in to_load.into_iter().zip(loaded) {
            match result {
                Ok(set) => {
                    sets.insert(key.clone(), set);
                }
                Err(e) => {
                    report(&source.path, e.to_string());
                    broken.insert(key.clone(), e.to_string());
                    if let Some(last_good) = parent.reference.flavours.get(key) {
                        sets.insert(key.clone(), last_good.clone());
                    }
                }
            }
        }
        Ok((sets, broken))
    }
}

impl Walker<'_> {
    /// The reference of one flavour (`amd64_none_amd64`) as it stands at
    /// `rev`, with the ABI name that covers it.
    pub fn reference_at(
        &mut self,
        rev: &str,
        flavour: &FlavourKey,
    ) -> Result<(AbiName, Arc<SymbolSet>), HistoryError> {
        let commit = self.resolve(rev)?;
        let (state, _) = self.state_at(commit, None)?;
        if state.layout.is_none() {
            return Err(HistoryError::NoLayout {
                rev: rev.to_owned(),
            });
        }
        let found = state.sources.get_key_value(flavour);
        let Some((key, source)) = found else {
            let names: Vec<String> = state.sources.keys().map(ToString::to_string).collect();
            return Err(HistoryError::NoReference {
                rev: rev.to_owned(),
                flavour: flavour.to_string(),
                available: if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                },
            });
        };
        if let Some(message) = state.broken.get(key) {
            return Err(HistoryError::Unreadable {
                rev: rev.to_owned(),
                path: source.path.clone(),
                message: message.clone(),
            });
        }
        let set = state
            .reference
            .flavours
            .get(key)
            .cloned()
            .expect("a readable flavour has a set");
        Ok((source.abi.clone(), set))
    }

    /// Walks the commits after `from` up to `to`, oldest first, calling
    /// `visit` with each commit and what it did. A walk in which no commit
    /// has a known layout is an error rather than a silent "nothing found".
    pub fn walk(
        &mut self,
        from: Option<Oid>,
        to: Oid,
        mut progress: impl FnMut(usize, usize),
        mut visit: impl FnMut(Step<'_>),
    ) -> Result<usize, HistoryError> {
        let commits = self.commits(from, to)?;
        let total = commits.len();
        let kept = KeptStates::for_commits(self.repo, &commits, self.options.all_parents)?;
        let mut layout_seen = false;
        let mut done = 0;
        let plan = ahead::Plan {
            repo: self.repo,
            options: &self.options,
            loader: &self.loader,
            commits,
            kept,
        };
        let (repo, loader) = (self.repo, &self.loader);
        let ran = ahead::run(plan, |built| {
            progress(done, total);
            done += 1;
            let (parent, state) = (&built.parent, &built.state);
            layout_seen |= state.layout.is_some();
            let touched = state.inputs != parent.inputs
                || state.layout.as_ref().map(Layout::inputs)
                    != parent.layout.as_ref().map(Layout::inputs);
            visit(Step {
                commit: CommitSha::of(built.oid),
                title: built.title,
                parent,
                state,
                touched,
                errors: built.errors,
                reload: cache::Reload::new(repo, loader),
            });
            Ok(())
        });
        self.count(ran.counts);
        self.built_ahead += ran.built_ahead;
        ran.result?;
        progress(total, total);
        if total > 0 && !layout_seen {
            return Err(HistoryError::NoLayout {
                rev: to.to_string(),
            });
        }
        Ok(total)
    }
}

/// The states a walk still needs: a commit's state is kept while commits
/// later in the walk have it as first parent, and dropped after the last
/// of them (on a first-parent walk, only the previous commit's state).
struct KeptStates {
    /// First-parent children not yet visited, per commit.
    children: HashMap<Oid, usize>,
    states: HashMap<Oid, Arc<RevState>>,
}

impl KeptStates {
    /// The states `commits` (in walk order) will ask for. Only a walk of
    /// every parent reads the commits' headers: a first-parent walk is a
    /// chain whose every commit is the first parent of the next one alone.
    fn for_commits(
        repo: &Repository,
        commits: &[Oid],
        all_parents: bool,
    ) -> Result<KeptStates, HistoryError> {
        if !all_parents {
            let parents = commits.iter().rev().skip(1);
            return Ok(KeptStates {
                children: parents.map(|oid| (*oid, 1)).collect(),
                states: HashMap::new(),
            });
        }
        let mut children: HashMap<Oid, usize> = HashMap::new();
        for oid in commits {
            let commit = repo
                .find_commit(*oid)
                .map_err(GitOp::new("commit").rev(oid).wrap())?;
            if let Ok(parent) = commit.parent_id(0) {
                *children.entry(parent).or_default() += 1;
            }
        }
        Ok(KeptStates {
            children,
            states: HashMap::new(),
        })
    }

    /// Keeps `state` if a later commit compares with it.
    fn keep(&mut self, commit: Oid, state: Arc<RevState>) {
        if self.children.get(&commit).is_some_and(|n| *n > 0) {
            self.states.insert(commit, state);
        }
    }

    /// The state of `commit` for one of its children: the last child takes
    /// it, earlier ones get a copy (sharing the parsed sets).
    fn take(&mut self, commit: Oid) -> Option<Arc<RevState>> {
        let left = self.children.get_mut(&commit)?;
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.states.remove(&commit)
        } else {
            self.states.get(&commit).cloned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history with a merge: the first-parent walk's chain assumption
    /// gives the children its commits' headers give.
    #[test]
    fn a_first_parent_walk_keeps_states_as_the_headers_say() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.org").unwrap();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let commit = |parents: &[Oid]| {
            let parents: Vec<git2::Commit> = parents
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            repo.commit(None, &sig, &sig, "c", &tree, &parents).unwrap()
        };
        let base = commit(&[]);
        let main = commit(&[base]);
        let side = commit(&[base]);
        let side = commit(&[side]);
        let merge = commit(&[main, side]);
        let head = commit(&[merge]);
        let walker = Walker::new(&repo, WalkOptions::default());
        for from in [None, Some(base), Some(main)] {
            let commits = walker.commits(from, head).unwrap();
            let chain = KeptStates::for_commits(&repo, &commits, false).unwrap();
            let read = KeptStates::for_commits(&repo, &commits, true).unwrap();
            let mut expected = read.children;
            // The first commit's parent is outside the walk: never kept.
            if let Some(first) = commits.first()
                && let Ok(outside) = repo.find_commit(*first).unwrap().parent_id(0)
            {
                expected.remove(&outside);
            }
            assert_eq!(chain.children, expected, "{from:?}");
        }
    }

    #[test]
    fn commit_sha_accepts_full_lowercase_ids_only() {
        let oid = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let sha = CommitSha::of(oid);
        assert_eq!(sha.as_str().parse::<CommitSha>(), Ok(sha.clone()));
        assert_eq!(sha.short(), "0123456789ab");
        assert!("ab".repeat(32).parse::<CommitSha>().is_ok(), "SHA-256 ids");
        for bad in [
            "",
            "0123456789abcdef",
            &"A".repeat(40),
            &"h".repeat(40),
            &"a".repeat(41),
            &"a".repeat(63),
            &format!("{}\n", "a".repeat(39)),
        ] {
            let err = bad.parse::<CommitSha>().unwrap_err();
            assert!(err.to_string().contains("is not a commit id"), "{err}");
        }
    }

    #[test]
    fn commit_sha_refused_in_json_and_cut_in_the_error() {
        let json = format!("\"{}\"", "c".repeat(40));
        let sha: CommitSha = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&sha).unwrap(), json);
        let err = serde_json::from_str::<CommitSha>("\"../../etc\"").unwrap_err();
        assert!(
            err.to_string().contains("\"../../etc\" is not a commit id"),
            "{err}"
        );
        let long = "é".repeat(100);
        let err = long.parse::<CommitSha>().unwrap_err();
        assert_eq!(err.text, "é".repeat(40));
    }
}
