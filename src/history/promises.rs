//! What each ABI name promised, per flavour: the first reference published
//! under it (what later states are judged against when the name comes
//! back) and every state (reference object id) it has had, with the commit
//! that introduced each.
//!
//! A name comes back when a bump is reverted (6.1.0-50 back to 6.1.0-47)
//! or a flavour's reference reappears under a name it had. A state the
//! name already had is a restoration, not a new ABI; any other state is
//! judged against the first publication, as a hidden break would be.
//!
//! Memory stays bounded on long histories: a name keeps object ids and the
//! source of its first publication, never a parsed set. The set is had by
//! object id through the walk's loader ([`Reload`]) when it is needed (a
//! rename, a name that comes back): from the loader's cache when the
//! budget left room for it, else parsed again. Holding each flavour's
//! first publication here would keep a second full state alive outside
//! the budget once every flavour has been refreshed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use git2::Oid;

use super::cache::{LoadError, PoolError, Reload};
use super::{CommitSha, Found, GitTree, HistoryError, RevState, RevisionError, Severity, Walker};
use crate::findings::FlavourChange;
use crate::git_error::GitOp;
use crate::layouts::FlavourSource;
use crate::symbols::{AbiName, FlavourKey, SymbolSet};

/// One state of a flavour's reference under an ABI name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// Object id of the reference: equal ids mean equal references.
    pub id: Oid,
    /// The commit that introduced it under the name.
    pub commit: CommitSha,
}

/// A state a reference is identical to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Earlier<'p> {
    /// Its position among the name's states (0: the first publication).
    pub index: usize,
    /// The state.
    pub publication: &'p Publication,
}

/// The first publication of a name could not be reloaded.
#[derive(Debug, thiserror::Error)]
pub enum PromiseError {
    /// Its reference no longer parses or reads.
    #[error("the reference {name} first published: {source}")]
    Load {
        /// The name.
        name: AbiName,
        /// Why.
        source: LoadError,
    },
    /// The parsing threads could not be started.
    #[error(transparent)]
    Threads(#[from] PoolError),
}

/// What one ABI name promised for one flavour.
#[derive(Debug)]
struct Promise {
    /// The source of its first publication, to reload it by object id.
    first: FlavourSource,
    /// Every state it had, in order, each once.
    states: Vec<Publication>,
}

/// Every name's promise per flavour, built commit by commit (oldest first).
#[derive(Debug, Default)]
pub struct Promises {
    names: BTreeMap<FlavourKey, BTreeMap<AbiName, Promise>>,
}

impl Promises {
    /// The states `abi` has had for `key`, oldest first (empty when it
    /// never covered the flavour).
    pub fn states(&self, key: &FlavourKey, abi: &AbiName) -> &[Publication] {
        self.promise(key, abi).map_or(&[], |p| &p.states)
    }

    /// The state of `abi` for `key` whose reference is object `id`, if the
    /// name already had it.
    pub fn had(&self, key: &FlavourKey, abi: &AbiName, id: Oid) -> Option<Earlier<'_>> {
        let states = self.states(key, abi);
        let index = states.iter().position(|p| p.id == id)?;
        Some(Earlier {
            index,
            publication: &states[index],
        })
    }

    /// What `abi` first promised for `key`, parsed, had by object id
    /// through `reload` (shared when still alive or cached). `None` when the
    /// name never covered the flavour.
    pub fn promised(
        &self,
        key: &FlavourKey,
        abi: &AbiName,
        reload: Reload<'_>,
    ) -> Option<Result<Arc<SymbolSet>, PromiseError>> {
        let promise = self.promise(key, abi)?;
        let label = promise.states.first().map_or("", |p| p.commit.short());
        Some(match reload.load(&promise.first, label) {
            Ok(Ok(set)) => Ok(set),
            Ok(Err(source)) => Err(PromiseError::Load {
                name: abi.clone(),
                source,
            }),
            Err(e) => Err(e.into()),
        })
    }

    /// Records what `state`, introduced by `commit`, holds: a new name's
    /// first publication, a state a name had not had yet. Flavours whose
    /// reference fails to parse are left out (their last good set stands
    /// in for them). Returns the object ids of the first publications it
    /// recorded (worth keeping parsed a while: [`Reload::prefer`]).
    pub fn record(&mut self, commit: &CommitSha, state: &RevState) -> Vec<Oid> {
        let mut firsts = Vec::new();
        for (key, source) in &state.sources {
            if state.broken.contains_key(key) {
                continue;
            }
            let promise = self
                .names
                .entry(key.clone())
                .or_default()
                .entry(source.abi.clone())
                .or_insert_with(|| {
                    firsts.push(source.id);
                    Promise {
                        first: source.clone(),
                        states: Vec::new(),
                    }
                });
            if !promise.states.iter().any(|p| p.id == source.id) {
                promise.states.push(Publication {
                    id: source.id,
                    commit: commit.clone(),
                });
            }
        }
        firsts
    }

    fn promise(&self, key: &FlavourKey, abi: &AbiName) -> Option<&Promise> {
        self.names.get(key)?.get(abi)
    }
}

/// What a reference was held to besides its parent's: an earlier
/// publication of its ABI name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promised {
    /// For a restoration, the commit that published the state restored; for
    /// a name that came back, the commit of its first publication.
    pub published: CommitSha,
    /// The name the flavour had just before, when its ABI name came back
    /// to it (`None`: the reference came back under the same name).
    pub came_back_from: Option<AbiName>,
}

impl Promised {
    /// Says it in a flavour's part of a finding.
    pub fn describe(&self, change: &mut FlavourChange) {
        change.published = Some(self.published.clone());
        change.came_back_from = self.came_back_from.clone();
    }
}

/// The promises as the facts of one commit consult them: what each name
/// had, and each first publication (reloaded by object id when let go).
pub struct Consult<'p> {
    promises: &'p mut Promises,
    reload: Reload<'p>,
    commit: &'p CommitSha,
    /// First publications loaded ahead ([`Consult::warm`]) by object id,
    /// for [`Consult::first`] to take whatever the budget.
    warm: HashMap<Oid, Arc<SymbolSet>>,
    /// Problems reloading a first publication, as errors of the commit.
    pub errors: Vec<RevisionError>,
}

impl<'p> Consult<'p> {
    /// Consults `promises` for `commit`, reloading through `reload`.
    pub fn new(promises: &'p mut Promises, reload: Reload<'p>, commit: &'p CommitSha) -> Self {
        Consult {
            promises,
            reload,
            commit,
            warm: HashMap::new(),
            errors: Vec::new(),
        }
    }

    /// How many first publications [`Consult::warm`] loads at once.
    pub fn jobs(&self) -> usize {
        self.reload.jobs()
    }

    /// Whether `abi` covered `key` before (its first publication exists).
    pub fn covered(&self, key: &FlavourKey, abi: &AbiName) -> bool {
        self.promises.promise(key, abi).is_some()
    }

    /// Loads the first publications of `names` in parallel and keeps them
    /// until the next call: at a bump every flavour is judged against its
    /// old name's, which the budget has usually let go, and parsing them
    /// one after the other would leave the other cores idle. A failure is
    /// left for [`Consult::first`] to meet and report.
    pub fn warm(&mut self, names: &[(&FlavourKey, &AbiName)]) {
        self.warm.clear();
        let sources: Vec<&FlavourSource> = names
            .iter()
            .filter_map(|(key, abi)| self.promises.promise(key, abi))
            .map(|p| &p.first)
            .collect();
        if let Ok(loaded) = self.reload.load_all(&sources, "") {
            for (source, set) in sources.iter().zip(loaded) {
                if let Ok(set) = set {
                    self.warm.insert(source.id, set);
                }
            }
        }
    }

    /// When `source` is a state its ABI name already had for `key`: the
    /// commit that published it (`came_back_from`: the flavour's name before).
    pub fn restored(
        &self,
        key: &FlavourKey,
        source: &FlavourSource,
        came_back_from: Option<&AbiName>,
    ) -> Option<Promised> {
        let earlier = self.promises.had(key, &source.abi, source.id)?;
        Some(Promised {
            published: earlier.publication.commit.clone(),
            came_back_from: came_back_from.cloned(),
        })
    }

    /// What `abi` first promised for `key` and the commit that published
    /// it; `None` when it never covered the flavour, or (reported as an
    /// error of the commit at `path`) when it can no longer be loaded.
    pub fn first(
        &mut self,
        key: &FlavourKey,
        abi: &AbiName,
        path: &str,
    ) -> Option<(Arc<SymbolSet>, CommitSha)> {
        let published = self.promises.states(key, abi).first()?.commit.clone();
        let warm = self.promises.promise(key, abi).map(|p| p.first.id);
        if let Some(set) = warm.and_then(|id| self.warm.get(&id)) {
            return Some((set.clone(), published));
        }
        match self.promises.promised(key, abi, self.reload)? {
            Ok(set) => Some((set, published)),
            Err(e) => {
                self.errors.push(RevisionError {
                    commit: self.commit.clone(),
                    path: path.to_owned(),
                    message: e.to_string(),
                    severity: Severity::Error,
                });
                None
            }
        }
    }
}

impl Walker<'_> {
    /// What each ABI name promised in the history up to `to` (included), for
    /// a walk that starts after it (the daemon's next poll, `scan --from`):
    /// without it, reverting a break made before the range would look like
    /// a break. Reads where each flavour's reference is at every commit and
    /// parses none (object ids suffice; a name that comes back is reloaded
    /// when needed), so it costs what a walk costs on unrelated commits, one
    /// lookup per layout input, plus a layout read where one changed.
    /// Problems there were reported by the walks that visited those
    /// commits: a revision that cannot be read is passed over.
    pub fn promises_until(&mut self, to: Option<Oid>) -> Result<Promises, HistoryError> {
        let mut promises = Promises::default();
        self.history_until(to, |commit, _, state| {
            promises.record(commit, state);
        })?;
        Ok(promises)
    }

    /// Hands `see` each commit up to `to` (included) where the layout's
    /// inputs changed, oldest first: its id, the state before it and its
    /// own, each with its sources, ABI name and distribution but no parsed
    /// reference (what [`Walker::promises_until`] reads, at its cost).
    pub fn history_until(
        &mut self,
        to: Option<Oid>,
        mut see: impl FnMut(&CommitSha, &RevState, &RevState),
    ) -> Result<(), HistoryError> {
        let Some(to) = to else {
            return Ok(());
        };
        let mut last = RevState::default();
        for oid in self.commits(None, to)? {
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(GitOp::new("commit").rev(oid).wrap())?;
            let tree = GitTree::of_commit(self.repo, &commit)
                .map_err(GitOp::new("tree of").rev(oid).wrap())?;
            let state = match self.layout_at(&tree, &last) {
                Ok(Found::Changed(layout, inputs)) => Some(self.sources_of(&tree, layout, inputs)),
                Ok(Found::Absent) => Some(RevState::default()),
                Ok(Found::Unchanged) | Err(_) => None,
            };
            self.tree_lookups += tree.lookups();
            let Some(state) = state else {
                continue;
            };
            see(&CommitSha::of(oid), &last, &state);
            last = state;
        }
        Ok(())
    }

    /// Where each flavour's reference is in `tree`, unparsed (nothing
    /// found when the layout cannot be read).
    fn sources_of(
        &mut self,
        tree: &GitTree<'_>,
        layout: crate::layouts::Layout,
        inputs: super::InputIds,
    ) -> RevState {
        self.snapshots_read += 1;
        let snapshot = layout.read(tree).unwrap_or_default();
        RevState {
            layout: Some(layout),
            inputs,
            sources: snapshot.flavours,
            reference: crate::symbols::ReferenceSet {
                abi: snapshot.abi,
                flavours: BTreeMap::new(),
            },
            distribution: snapshot.distribution,
            version: snapshot.version,
            ..RevState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::cache::Loader;
    use crate::symbols::ReferenceSet;
    use git2::Repository;

    const CURRENT: &str = "amd64_none_amd64";

    fn symvers(crc: u32) -> String {
        format!("0x{crc:08x}\tkmalloc\tvmlinux\tEXPORT_SYMBOL\t\n")
    }

    /// A repository holding the blobs, and a loader with no cache at all.
    struct Store {
        _dir: tempfile::TempDir,
        repo: Repository,
        loader: Loader,
    }

    impl Store {
        fn new() -> Store {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init(dir.path()).unwrap();
            Store {
                _dir: dir,
                repo,
                loader: Loader::new(0, 1),
            }
        }

        fn reload(&self) -> Reload<'_> {
            Reload::new(&self.repo, &self.loader)
        }

        /// A revision whose only flavour has `body` under `abi`.
        fn state(&self, abi: &str, body: &str) -> RevState {
            let key = FlavourKey::new("amd64", "none", "amd64");
            let id = self.repo.blob(body.as_bytes()).unwrap();
            let set = crate::formats::parse(body.as_bytes(), None, "t").unwrap();
            let source = FlavourSource::file(abi, &format!("debian/abi/{abi}/{CURRENT}"), id);
            RevState {
                sources: [(key.clone(), source)].into(),
                reference: ReferenceSet {
                    abi: Some(AbiName::new(abi).unwrap()),
                    flavours: [(key, Arc::new(set))].into(),
                },
                ..RevState::default()
            }
        }
    }

    fn key() -> FlavourKey {
        FlavourKey::new("amd64", "none", "amd64")
    }

    fn abi(name: &str) -> AbiName {
        AbiName::new(name).unwrap()
    }

    fn sha(n: u8) -> CommitSha {
        CommitSha(format!("{n:02x}").repeat(20))
    }

    #[test]
    fn every_state_is_kept_once_with_the_commit_that_introduced_it() {
        let store = Store::new();
        let mut promises = Promises::default();
        let (a, b) = (
            store.state("47", &symvers(1)),
            store.state("47", &symvers(2)),
        );
        promises.record(&sha(1), &a);
        promises.record(&sha(2), &b);
        promises.record(&sha(3), &a);
        let states = promises.states(&key(), &abi("47"));
        let commits: Vec<&CommitSha> = states.iter().map(|p| &p.commit).collect();
        assert_eq!(commits, [&sha(1), &sha(2)]);
        let a_id = a.sources[&key()].id;
        let earlier = promises.had(&key(), &abi("47"), a_id).unwrap();
        assert_eq!((earlier.index, &earlier.publication.commit), (0, &sha(1)));
        assert!(promises.had(&key(), &abi("50"), a_id).is_none());
        assert!(promises.states(&key(), &abi("50")).is_empty());
    }

    /// Promises after one flavour's `states` (ABI name, CRC), recorded at
    /// commits 1, 2, ...; and the first of those states.
    fn recorded(store: &Store, states: &[(&str, u32)]) -> (Promises, RevState) {
        let mut promises = Promises::default();
        let all: Vec<RevState> = states
            .iter()
            .map(|(abi, crc)| store.state(abi, &symvers(*crc)))
            .collect();
        for (n, state) in all.iter().enumerate() {
            promises.record(&sha(n as u8 + 1), state);
        }
        (promises, all.into_iter().next().unwrap())
    }

    fn parsed(store: &Store) -> usize {
        let parsed = &store.loader.stats.parsed;
        parsed.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn a_name_that_comes_back_is_judged_against_its_first_publication() {
        let store = Store::new();
        let (promises, first) = recorded(&store, &[("47", 1), ("47", 2), ("50", 3)]);
        // 6.1.0-47 is no longer in force: its first publication is parsed
        // again, by object id, when asked for.
        let set = promises.promised(&key(), &abi("47"), store.reload());
        assert_eq!(*set.unwrap().unwrap(), *first.reference.flavours[&key()]);
        assert_eq!(parsed(&store), 1);
        let unknown = promises.promised(&key(), &abi("46"), store.reload());
        assert!(unknown.is_none());
    }

    #[test]
    fn a_name_keeps_no_parsed_set_of_its_own() {
        let store = Store::new();
        let (promises, first) = recorded(&store, &[("47", 1), ("47", 2)]);
        let weak = Arc::downgrade(&first.reference.flavours[&key()]);
        drop(first);
        assert_eq!(weak.strong_count(), 0, "the promises hold no set");
        // Had from the loader: parsed once, then shared while alive.
        let one = promises.promised(&key(), &abi("47"), store.reload());
        let two = promises.promised(&key(), &abi("47"), store.reload());
        assert!(Arc::ptr_eq(&one.unwrap().unwrap(), &two.unwrap().unwrap()));
        assert_eq!(parsed(&store), 1);
    }

    #[test]
    fn a_first_publication_that_no_longer_loads_is_an_error() {
        let store = Store::new();
        let mut promises = Promises::default();
        let mut first = store.state("47", &symvers(1));
        let missing = Oid::from_str(&"ab".repeat(20)).unwrap();
        first.sources.get_mut(&key()).unwrap().id = missing;
        promises.record(&sha(1), &first);
        promises.record(&sha(2), &store.state("50", &symvers(3)));
        let err = promises
            .promised(&key(), &abi("47"), store.reload())
            .unwrap()
            .unwrap_err();
        assert!(
            err.to_string().contains("the reference 47 first published"),
            "{err}"
        );
        assert!(err.to_string().contains(CURRENT), "{err}");
    }

    #[test]
    fn a_warmed_first_publication_is_taken_without_another_load() {
        let store = Store::new();
        let (mut promises, first) = recorded(&store, &[("47", 1), ("47", 2), ("50", 3)]);
        let weak = Arc::downgrade(&first.reference.flavours[&key()]);
        drop(first);
        assert_eq!(weak.strong_count(), 0);
        let commit = sha(4);
        let mut known = Consult::new(&mut promises, store.reload(), &commit);
        known.warm(&[(&key(), &abi("47")), (&key(), &abi("46"))]);
        assert_eq!(parsed(&store), 1, "46 never covered the flavour");
        // The loader keeps nothing (budget 0): only the warm set is alive.
        let (set, published) = known.first(&key(), &abi("47"), "p").unwrap();
        let (again, _) = known.first(&key(), &abi("47"), "p").unwrap();
        assert!(Arc::ptr_eq(&set, &again));
        assert_eq!(published, sha(1));
        assert_eq!(set.get("kmalloc").unwrap().crc.0, 1);
        assert_eq!(parsed(&store), 1, "taken, not loaded again");
        let hits = store
            .loader
            .stats
            .hits
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(hits, 0);
        // The next warming lets it go.
        known.warm(&[]);
        assert!(known.warm.is_empty());
        assert!(known.errors.is_empty());
    }

    #[test]
    fn a_broken_reference_is_not_a_state() {
        let store = Store::new();
        let mut promises = Promises::default();
        let mut broken = store.state("47", &symvers(1));
        broken.broken.insert(key(), "bad line".into());
        promises.record(&sha(1), &broken);
        assert!(promises.states(&key(), &abi("47")).is_empty());
    }
}
