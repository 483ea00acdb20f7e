//! Parsed references, cached by git object id: a reference that did not
//! change between two revisions is the same object and is parsed once.
//! The cache is an LRU bounded in (approximate) bytes.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, Repository};
use lru::LruCache;

use crate::formats::{self, ParseError};
use crate::layouts::{FlavourSource, Storage};
use crate::symbols::SymbolSet;

/// A reference could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// Its content is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The object could not be read.
    #[error("{path}: {message}")]
    Git {
        /// The reference's path.
        path: String,
        /// What git said.
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
    /// References served from the cache.
    pub hits: AtomicUsize,
    /// Bytes of reference content read from git.
    pub bytes_read: AtomicUsize,
}

struct Lru {
    map: LruCache<Oid, Arc<SymbolSet>>,
    bytes: usize,
}

/// Loads references through the object-id cache, parsing in parallel.
pub struct Loader {
    lru: Mutex<Lru>,
    budget: usize,
    pool: rayon::ThreadPool,
    /// Work counters.
    pub stats: LoadStats,
}

impl Loader {
    /// A loader keeping about `budget` bytes of parsed references, parsing
    /// on `jobs` threads.
    pub fn new(budget: usize, jobs: usize) -> Loader {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build()
            .expect("thread pool");
        Loader {
            lru: Mutex::new(Lru {
                map: LruCache::unbounded(),
                bytes: 0,
            }),
            budget,
            pool,
            stats: LoadStats::default(),
        }
    }

    fn cached(&self, id: Oid) -> Option<Arc<SymbolSet>> {
        let mut lru = self.lru.lock().expect("cache lock");
        lru.map.get(&id).cloned()
    }

    fn remember(&self, id: Oid, set: Arc<SymbolSet>) {
        let mut lru = self.lru.lock().expect("cache lock");
        let size = set.approx_bytes();
        if let Some(old) = lru.map.put(id, set) {
            lru.bytes -= old.approx_bytes();
        }
        lru.bytes += size;
        while lru.bytes > self.budget && lru.map.len() > 1 {
            let (_, evicted) = lru.map.pop_lru().expect("non-empty");
            lru.bytes -= evicted.approx_bytes();
        }
    }

    /// Loads several references; `label` prefixes paths in errors (a commit).
    /// Git reads stay on this thread (a repository handle is not shared
    /// across threads) while the pool parses what was already read, so
    /// inflating and parsing overlap.
    pub fn load_all(
        &self,
        repo: &Repository,
        sources: &[&FlavourSource],
        label: &str,
    ) -> Vec<Loaded> {
        let results: Vec<Mutex<Option<Loaded>>> =
            sources.iter().map(|_| Mutex::new(None)).collect();
        let set = |i: usize, r| *results[i].lock().expect("result slot") = Some(r);
        self.pool.in_place_scope(|scope| {
            for (i, source) in sources.iter().enumerate() {
                if let Some(cached) = self.cached(source.id) {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    set(i, Ok(cached));
                    continue;
                }
                let content = match read_source(repo, source) {
                    Ok(content) => content,
                    Err(message) => {
                        let path = format!("{label}:{}", source.path);
                        set(i, Err(LoadError::Git { path, message }));
                        continue;
                    }
                };
                let size: usize = content.iter().map(Vec::len).sum();
                self.stats.bytes_read.fetch_add(size, Ordering::Relaxed);
                let set = &set;
                scope.spawn(move |_| {
                    let parsed = parse_source(source, &content, label).map(Arc::new);
                    self.stats.parsed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(parsed) = &parsed {
                        self.remember(source.id, parsed.clone());
                    }
                    set(i, parsed);
                });
            }
        });
        results
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .expect("result slot")
                    .expect("every source resolved")
            })
            .collect()
    }
}

/// The raw content of a reference: one blob, or every file of a stablelist.
fn read_source(repo: &Repository, source: &FlavourSource) -> Result<Vec<Vec<u8>>, String> {
    match source.storage {
        Storage::File(_) => Ok(vec![
            repo.find_blob(source.id)
                .map_err(|e| e.message().to_owned())?
                .content()
                .to_vec(),
        ]),
        Storage::KabiDir => {
            let tree = repo
                .find_tree(source.id)
                .map_err(|e| e.message().to_owned())?;
            let mut out = Vec::with_capacity(tree.len());
            for entry in tree.iter() {
                if entry.kind() == Some(ObjectType::Blob) {
                    let blob = repo
                        .find_blob(entry.id())
                        .map_err(|e| e.message().to_owned())?;
                    out.push(blob.content().to_vec());
                }
            }
            Ok(out)
        }
    }
}

fn parse_source(
    source: &FlavourSource,
    content: &[Vec<u8>],
    label: &str,
) -> Result<SymbolSet, LoadError> {
    let name = format!("{label}:{}", source.path);
    match source.storage {
        Storage::File(format) => Ok(formats::parse(&content[0], format, &name)?),
        Storage::KabiDir => {
            let symbols = content
                .iter()
                .map(|bytes| formats::parse_kabi(bytes, &name).map(|e| e.symbol))
                .collect::<Result<Vec<_>, _>>()?;
            SymbolSet::from_symbols(symbols).map_err(|dup| {
                LoadError::Parse(ParseError {
                    file: name,
                    line: 0,
                    kind: formats::ParseErrorKind::Duplicate {
                        name: dup.name,
                        first_line: 0,
                    },
                })
            })
        }
    }
}

/// The default cache budget: a few dozen Debian-sized flavours. A linear
/// walk shares unchanged sets with the parent anyway; the cache pays off on
/// reverts, renames, bumps that copy references, merges and bisect probes.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// Rounds a job count the way `--jobs 0` means "all cores".
pub fn jobs_or_cores(jobs: usize) -> usize {
    if jobs == 0 {
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
    } else {
        jobs
    }
}
