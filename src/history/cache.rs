//! Parsed references, cached by git object id: a reference that did not
//! change between two revisions is the same object and is parsed once.
//!
//! Memory: the loader knows every parsed set it produced that is still
//! alive, whoever holds it (the cache, the revisions a walk compares, the
//! first publication a bump is judged against), and the budget bounds all
//! of them together. After each parse, cached sets that nobody else holds
//! are dropped, least recently used first, until everything alive fits the
//! budget; what the walk holds itself (one comparison's sets) is never
//! dropped, so a budget below that is met as closely as the comparison
//! allows.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use git2::{Oid, Repository};
use lru::LruCache;

use crate::formats::{self, ParseError};
use crate::git_error::{GitError, GitOp};
use crate::layouts::{EntryKind, FlavourSource, Storage};
use crate::symbols::SymbolSet;

/// A reference could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// Its content is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The object could not be read (`read <commit>:<path>`; shared, as a
    /// result is handed to every flavour with the same object).
    #[error(transparent)]
    Git(Arc<GitError>),
}

/// Most parsing threads a loader starts (`--jobs` above it is refused): a
/// parse is CPU-bound, so threads beyond the cores only add stacks.
pub const MAX_JOBS: usize = 256;

/// Most loads begun ahead of the commits that need them at once: each holds
/// a parsed set outside the budget until taken.
pub const MAX_EARLY: usize = 4;

/// The parsing threads could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// More threads than [`MAX_JOBS`] were asked for.
    #[error("{jobs} parsing threads asked for; at most {MAX_JOBS} are allowed (--jobs)")]
    TooMany {
        /// Threads asked for.
        jobs: usize,
    },
    /// The system refused a thread (process limit, memory for its stack).
    #[error("cannot start {jobs} parsing threads: {message} (try a lower --jobs)")]
    Spawn {
        /// Threads asked for.
        jobs: usize,
        /// What the system said.
        message: String,
    },
}

/// One reference's parsed set, or why it could not be had.
pub type Loaded = Result<Arc<SymbolSet>, LoadError>;

/// Counters a test or benchmark can read to see how much work a walk did.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// References parsed (cache misses).
    pub parsed: AtomicUsize,
    /// References served from the cache or from a set still held elsewhere.
    pub hits: AtomicUsize,
    /// References parsed by a load begun ahead of their commit (counted in
    /// `parsed` too).
    pub early_taken: AtomicUsize,
    /// Bytes of reference content read from git.
    pub bytes_read: AtomicUsize,
    /// The most bytes of parsed sets alive at once, measured after each
    /// parse once the cache made room (what the budget bounds).
    pub peak_live_bytes: AtomicUsize,
}

/// A parsed set this loader produced, held weakly: alive while anyone
/// holds it.
struct Produced {
    set: Weak<SymbolSet>,
    bytes: usize,
}

/// The cache and the account of every set alive.
struct Held {
    /// Recently used sets; the least recent go first.
    lru: LruCache<Oid, Arc<SymbolSet>>,
    /// Every set produced that may still be alive, by object id (a set is
    /// parsed again only once its earlier copy is gone).
    produced: HashMap<Oid, Produced>,
    /// Sets dropped last ([`Loader::prefer`]).
    preferred: HashSet<Oid>,
}

impl Held {
    /// A set of this object still alive somewhere, cached again.
    fn find(&mut self, id: Oid) -> Option<Arc<SymbolSet>> {
        if let Some(set) = self.lru.get(&id) {
            return Some(set.clone());
        }
        let set = self.produced.get(&id)?.set.upgrade()?;
        self.lru.put(id, set.clone());
        Some(set)
    }

    /// Bytes of the sets alive now (forgetting those that are gone).
    fn live_bytes(&mut self) -> usize {
        self.produced.retain(|_, p| p.set.strong_count() > 0);
        self.produced.values().map(|p| p.bytes).sum()
    }

    /// Bytes of the sets alive that someone other than the cache holds.
    fn held_bytes(&mut self) -> usize {
        self.produced.retain(|_, p| p.set.strong_count() > 0);
        self.produced
            .iter()
            .filter(|(id, p)| p.set.strong_count() > usize::from(self.lru.contains(*id)))
            .map(|(_, p)| p.bytes)
            .sum()
    }

    /// Drops cached sets nobody else holds, least recently used first and
    /// preferred ones last, until the sets alive fit `budget` (a set held elsewhere costs
    /// nothing to keep, and dropping it would free nothing). Returns the
    /// bytes alive after.
    fn trim(&mut self, budget: usize) -> usize {
        let mut live = self.live_bytes();
        if live <= budget {
            return live;
        }
        let only_cached = self
            .lru
            .iter()
            .rev()
            .filter(|(_, set)| Arc::strong_count(set) == 1)
            .map(|(id, _)| *id);
        let (preferred, others): (Vec<Oid>, Vec<Oid>) =
            only_cached.partition(|id| self.preferred.contains(id));
        for id in others.into_iter().chain(preferred) {
            if live <= budget {
                break;
            }
            self.lru.pop(&id);
            self.preferred.remove(&id);
            live -= self.produced.remove(&id).map_or(0, |p| p.bytes);
        }
        live
    }
}

/// Loads references through the object-id cache, parsing in parallel.
pub struct Loader {
    held: Mutex<Held>,
    budget: usize,
    jobs: usize,
    /// Started at the first parse, or when a walk builds ahead.
    pool: OnceLock<rayon::ThreadPool>,
    /// The parsing threads' repository handles.
    handles: Handles,
    /// Loads begun ahead of the commit that needs them ([`Loader::begin`]),
    /// by object id: `None` while running. Taken by that commit's load.
    early: Mutex<HashMap<Oid, Option<Loaded>>>,
    /// Work counters.
    pub stats: LoadStats,
}

impl Loader {
    /// A loader keeping at most about `budget` bytes of parsed references
    /// alive, parsing on `jobs` threads (at most [`MAX_JOBS`]; started at
    /// the first parse).
    pub fn new(budget: usize, jobs: usize) -> Loader {
        Loader {
            held: Mutex::new(Held {
                lru: LruCache::unbounded(),
                produced: HashMap::new(),
                preferred: HashSet::new(),
            }),
            budget,
            jobs: jobs.max(1),
            pool: OnceLock::new(),
            handles: Handles::default(),
            early: Mutex::default(),
            stats: LoadStats::default(),
        }
    }

    /// The parsing threads, started on first use.
    pub(super) fn pool(&self) -> Result<&rayon::ThreadPool, PoolError> {
        if let Some(pool) = self.pool.get() {
            return Ok(pool);
        }
        let jobs = self.jobs;
        if jobs > MAX_JOBS {
            return Err(PoolError::TooMany { jobs });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .thread_name(|i| format!("abibot-parse-{i}"))
            .build()
            .map_err(|e| PoolError::Spawn {
                jobs,
                message: e.to_string(),
            })?;
        Ok(self.pool.get_or_init(|| pool))
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // A parse that panicked cannot leave the account half-updated (every
        // update is a single insert or pop), so a poisoned lock is usable.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the sets held outside the cache (the revisions a walk
    /// compares, a first publication judged against) take at most half
    /// the budget: a walk then builds its next commit ahead
    /// ([`super::ahead`]), and the cache makes room for what that parses,
    /// rather than the budget being exceeded.
    pub fn room_ahead(&self) -> bool {
        self.held().held_bytes() <= self.budget / 2
    }

    /// Keeps the set of object `id`, once only cached, longer than others:
    /// an ABI name's first publication, which the bump that replaces the
    /// name is judged against. Still dropped when the budget needs it.
    pub fn prefer(&self, id: Oid) {
        let mut held = self.held();
        if held.produced.contains_key(&id) {
            held.preferred.insert(id);
        }
    }

    fn cached(&self, id: Oid) -> Option<Arc<SymbolSet>> {
        self.held().find(id)
    }

    fn remember(&self, id: Oid, set: Arc<SymbolSet>) {
        let bytes = set.approx_bytes();
        let mut held = self.held();
        let produced = Produced {
            set: Arc::downgrade(&set),
            bytes,
        };
        held.produced.insert(id, produced);
        held.lru.put(id, set);
        let live = held.trim(self.budget);
        self.stats
            .peak_live_bytes
            .fetch_max(live, Ordering::Relaxed);
    }

    /// Loads several references; `label` prefixes paths in errors (a commit).
    /// Each reference not cached is read (inflated) and parsed on the pool,
    /// through a repository handle of the parsing thread's own (a handle is
    /// not shared between threads), so that several references of one
    /// commit are inflated at once and none is copied before parsing. A
    /// reference listed twice is loaded once.
    pub fn load_all(
        &self,
        repo: &Repository,
        sources: &[&FlavourSource],
        label: &str,
    ) -> Result<Vec<Loaded>, PoolError> {
        if sources.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.pool()?;
        let results: Vec<Mutex<Option<Loaded>>> =
            sources.iter().map(|_| Mutex::new(None)).collect();
        let set = |i: usize, r| *results[i].lock().expect("result slot") = Some(r);
        let mut first: HashMap<Oid, usize> = HashMap::new();
        let mut repeats = Vec::new();
        let path = repo.path();
        pool.in_place_scope(|scope| {
            for (i, source) in sources.iter().enumerate() {
                if let Some(&j) = first.get(&source.id) {
                    repeats.push((i, j));
                    continue;
                }
                first.insert(source.id, i);
                if let Some(cached) = self.cached(source.id) {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    set(i, Ok(cached));
                    continue;
                }
                let set = &set;
                scope.spawn(move |_| set(i, self.load_one(path, source, label)));
            }
        });
        let mut out: Vec<Option<Loaded>> = results
            .into_iter()
            .map(|slot| slot.into_inner().expect("result slot"))
            .collect();
        for (i, j) in repeats {
            out[i] = out[j].clone();
        }
        Ok(out
            .into_iter()
            .map(|r| r.expect("every source resolved"))
            .collect())
    }

    /// Begins loading `source` in `scope` (a reference a later commit of
    /// the walk will change to), unless it is cached, already begun, or
    /// [`MAX_EARLY`] loads wait already. `label` must be what that commit's
    /// load will say (its short id), so that an error reads the same.
    pub(super) fn begin<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        path: &'s Path,
        source: FlavourSource,
        label: String,
    ) {
        {
            let mut early = self.early();
            let id = source.id;
            if early.len() >= MAX_EARLY || early.contains_key(&id) || self.cached(id).is_some() {
                return;
            }
            early.insert(id, None);
        }
        scope.spawn(move |_| {
            let loaded = self.read_and_parse(path, &source, &label);
            // Given back only if still waited for.
            if let Some(slot) = self.early().get_mut(&source.id) {
                *slot = Some(loaded);
            }
        });
    }

    /// Loads begun ahead and not yet taken.
    pub(super) fn early_waiting(&self) -> usize {
        self.early().len()
    }

    /// Forgets loads begun ahead that no commit took (a walk that ended,
    /// or a reference the layout did not read after all).
    pub(super) fn forget_early(&self) {
        self.early().clear();
    }

    fn early(&self) -> std::sync::MutexGuard<'_, HashMap<Oid, Option<Loaded>>> {
        self.early
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads `source`: the load begun ahead of it when that is done, else
    /// read and parsed here (never waiting for one still running: a parsing
    /// thread that waited could be the one running it); counts and caches
    /// what it parsed.
    fn load_one(&self, path: &Path, source: &FlavourSource, label: &str) -> Loaded {
        let early = self.early().remove(&source.id).flatten();
        let parsed = match early {
            Some(loaded) => {
                self.stats.early_taken.fetch_add(1, Ordering::Relaxed);
                loaded?
            }
            None => self.read_and_parse(path, source, label)?,
        };
        self.stats.parsed.fetch_add(1, Ordering::Relaxed);
        self.remember(source.id, parsed.clone());
        Ok(parsed)
    }

    /// Reads `source` from the repository at `path` and parses it, on the
    /// calling (parsing) thread.
    fn read_and_parse(&self, path: &Path, source: &FlavourSource, label: &str) -> Loaded {
        let git_error = |e| {
            let op = GitOp::new("read").path(format!("{label}:{}", source.path));
            LoadError::Git(Arc::new(op.error(e)))
        };
        let parsed = self.handles.with(path, |repo| {
            let content = read_source(repo, source)?;
            let size: usize = content.iter().map(|(_, blob)| blob.size()).sum();
            self.stats.bytes_read.fetch_add(size, Ordering::Relaxed);
            Ok(parse_source(source, &content, label))
        });
        parsed.map_err(git_error)?.map(Arc::new)
    }
}

/// Repository handles of the parsing threads, by repository path, taken
/// for one reference and given back: a handle is not shared between
/// threads, and opening one per reference would cost more than reading it.
#[derive(Default)]
struct Handles(Mutex<Vec<Repository>>);

impl Handles {
    /// Runs `read` with a handle on the repository at `path` that no other
    /// thread uses meanwhile (one of those given back, or a new one).
    fn with<T>(
        &self,
        path: &Path,
        read: impl FnOnce(&Repository) -> Result<T, git2::Error>,
    ) -> Result<T, git2::Error> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let kept = {
            let mut all = lock();
            let at = all.iter().position(|r| r.path() == path);
            at.map(|at| all.swap_remove(at))
        };
        let repo = match kept {
            Some(repo) => repo,
            None => Repository::open(path)?,
        };
        let out = read(&repo);
        lock().push(repo);
        out
    }
}

/// The walk's loader with its repository, lent to a visitor: how it gets
/// back, by object id, a parsed set it let go (an ABI name's first
/// publication, when the name comes back). A set still alive or cached is
/// shared; one parsed again counts against the budget like any other.
#[derive(Clone, Copy)]
pub struct Reload<'a> {
    repo: &'a Repository,
    loader: &'a Loader,
}

impl<'a> Reload<'a> {
    /// Reloads through `loader` from `repo`.
    pub fn new(repo: &'a Repository, loader: &'a Loader) -> Reload<'a> {
        Reload { repo, loader }
    }

    /// The parsed set of `source`; `label` prefixes its path in errors (the
    /// commit that published it).
    pub fn load(&self, source: &FlavourSource, label: &str) -> Result<Loaded, PoolError> {
        let mut loaded = self.loader.load_all(self.repo, &[source], label)?;
        Ok(loaded.pop().expect("one result per source"))
    }

    /// The parsed sets of `sources`, read and parsed in parallel where not
    /// cached (the first publications a bump is judged against); `label`
    /// prefixes their paths in errors.
    pub fn load_all(
        &self,
        sources: &[&FlavourSource],
        label: &str,
    ) -> Result<Vec<Loaded>, PoolError> {
        self.loader.load_all(self.repo, sources, label)
    }

    /// How many references the loader parses at once.
    pub fn jobs(&self) -> usize {
        self.loader.jobs
    }

    /// See [`Loader::prefer`].
    pub fn prefer(&self, id: Oid) {
        self.loader.prefer(id);
    }

    /// The content of blob `id` as the repository holds it, uncached (a
    /// symtypes file, read once per finding that needs it).
    pub fn blob(&self, id: Oid) -> Result<Vec<u8>, git2::Error> {
        Ok(self.repo.find_blob(id)?.content().to_vec())
    }
}

/// The blobs of a reference: one, or every file of a stablelist with its
/// name (empty for a single blob).
fn read_source<'r>(
    repo: &'r Repository,
    source: &FlavourSource,
) -> Result<Vec<(String, git2::Blob<'r>)>, git2::Error> {
    match source.storage {
        Storage::File(_) => Ok(vec![(String::new(), repo.find_blob(source.id)?)]),
        Storage::KabiDir => {
            let tree = repo.find_tree(source.id)?;
            let mut out = Vec::with_capacity(tree.len());
            // Symlinks, submodules and directories are not entries: the
            // layout reports them (`Snapshot::skipped`).
            for entry in tree.iter() {
                if EntryKind::from_mode(entry.filemode()).is_file() {
                    let blob = repo.find_blob(entry.id())?;
                    let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
                    out.push((name, blob));
                }
            }
            Ok(out)
        }
    }
}

fn parse_source(
    source: &FlavourSource,
    content: &[(String, git2::Blob<'_>)],
    label: &str,
) -> Result<SymbolSet, LoadError> {
    let name = format!("{label}:{}", source.path);
    Ok(match source.storage {
        Storage::File(format) => formats::parse(content[0].1.content(), format, &name)?,
        Storage::KabiDir => crate::layouts::redhat::parse_stablelist(
            &name,
            content.iter().map(|(n, b)| (n.as_str(), b.content())),
        )?,
    })
}

/// The default budget of parsed references alive at once: about 60
/// Debian-sized flavours (2.3 MB each). The revisions a walk compares count
/// against it first; what is left caches sets for reverts, renames, bumps
/// that copy references, merges and bisect probes. With what the walk
/// needs besides (the allocator's pages awaiting reuse, blobs being read,
/// the findings), a scan of 30 churning flavours peaks under 300 MB.
pub const DEFAULT_CACHE_BYTES: usize = 144 << 20;

/// Rounds a job count the way `--jobs 0` means "all cores" (at most
/// [`MAX_JOBS`]).
pub fn jobs_or_cores(jobs: usize) -> usize {
    if jobs == 0 {
        std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_JOBS)
    } else {
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(repo: &Repository, crc: u32) -> FlavourSource {
        let text = format!("0x{crc:08x}\tsym\tvmlinux\tEXPORT_SYMBOL\t\n");
        let id = repo.blob(text.as_bytes()).unwrap();
        FlavourSource::file("6.1.0-47", &format!("debian/abi/6.1.0-47/f{crc}"), id)
    }

    #[test]
    fn a_preferred_set_is_dropped_after_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let [a, b, c] = [1, 2, 3].map(|crc| source(&repo, crc));
        let load = |loader: &Loader, s: &FlavourSource| {
            loader
                .load_all(&repo, &[s], "t")
                .unwrap()
                .pop()
                .unwrap()
                .unwrap()
        };
        let parsed = |loader: &Loader| loader.stats.parsed.load(Ordering::Relaxed);
        for prefer in [false, true] {
            let one = load(&Loader::new(usize::MAX, 1), &a).approx_bytes();
            // Room for two sets: the third parse drops one cached set.
            let loader = Loader::new(2 * one + one / 2, 1);
            drop(load(&loader, &a));
            if prefer {
                loader.prefer(a.id);
            }
            drop(load(&loader, &b));
            drop(load(&loader, &c));
            assert_eq!(parsed(&loader), 3);
            drop(load(&loader, &a));
            // Least recently used, `a` went first, unless it was preferred.
            assert_eq!(
                parsed(&loader),
                if prefer { 3 } else { 4 },
                "prefer {prefer}"
            );
        }
    }
}
