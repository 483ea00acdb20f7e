//! Build output kept outside the packaging repository, as an explanation
//! source: a path template per repository (`[[repo]] symtypes_source`,
//! `debug_source`; `scan --symtypes-source`, `--debug-source`), filled for
//! each side of a hidden break, and the type sets loaded from it, cached.
//!
//! What each side is. A hidden break keeps the ABI name: the old and the
//! new reference are both "ABI 6.1.0-47", so a path made of the ABI name and
//! the flavour alone names one build for both sides, and a directory per
//! ABI name holds only the last build made under it. What does tell the two
//! builds apart is the revision each reference was written at: the new
//! reference was written by the commit of the finding, the old one by the
//! last commit before it that changed that flavour's reference (often many
//! commits earlier: Debian refreshes references from the previous upload).
//! Each side's template is filled with that writing commit (`{commit}`) and
//! the version of its top changelog entry (`{version}`, which changes with
//! every upload even when the ABI name does not). A template must use one of
//! the two; the others (`{abi}`, `{arch}`, `{featureset}`, `{flavour}`,
//! `{image_flavour}`) only narrow it down.
//!
//! A symtypes source is checked against the CRCs of its side's reference:
//! symtypes that do not reproduce them are not the build the reference was
//! taken from, and are reported, not used. Debug info carries no genksyms
//! CRC, so a debug source cannot be checked this way.
//!
//! A missing file is a warning of the finding's commit naming the path (the
//! finding stays); a loaded set is kept in a small LRU cache shared by the
//! clones of a [`BuildSources`] (a flavour's new side is the old side of its
//! next break), keyed by path, size and modification time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lru::LruCache;

use crate::history::CommitSha;
use crate::symbols::{AbiName, FlavourKey, SymbolSet};
use crate::symtypes::Symtypes;
use crate::symtypes::crc::all_crcs;

/// How many loaded type sets a repository keeps: a full kernel's model is
/// hundreds of MB, and two sides of one flavour plus the next break's new
/// side cover the common walk.
pub const CACHED_BUILDS: usize = 4;

/// A placeholder of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `{abi}`: the ABI name (equal on both sides of a hidden break).
    Abi,
    /// `{arch}`: the flavour's architecture (`amd64`).
    Arch,
    /// `{featureset}`: its featureset (`none`, `rt`).
    Featureset,
    /// `{flavour}`: the flavour (`cloud-amd64`).
    Flavour,
    /// `{image_flavour}`: the flavour as Debian's image packages name it:
    /// the featureset before it unless `none` (`rt-amd64`, `cloud-amd64`),
    /// so `linux-image-{abi}-{image_flavour}-dbg` is the real package.
    ImageFlavour,
    /// `{commit}`: the full id of the commit that wrote the side's reference.
    Commit,
    /// `{version}`: the top changelog version at that commit.
    Version,
}

impl Field {
    const ALL: [(&'static str, Field); 7] = [
        ("abi", Field::Abi),
        ("arch", Field::Arch),
        ("featureset", Field::Featureset),
        ("flavour", Field::Flavour),
        ("image_flavour", Field::ImageFlavour),
        ("commit", Field::Commit),
        ("version", Field::Version),
    ];

    fn named(name: &str) -> Option<Field> {
        Field::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        Field::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether the field differs between the two sides of a hidden break.
    fn tells_sides_apart(self) -> bool {
        matches!(self, Field::Commit | Field::Version)
    }
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with a name not in [`Field`].
    #[error(
        "unknown placeholder {{{0}}}; known: {{abi}}, {{arch}}, {{featureset}}, {{flavour}}, {{image_flavour}}, {{commit}}, {{version}}"
    )]
    Unknown(String),
    /// A `{` without its `}`, or a `}` alone.
    #[error("unmatched {brace:?} at byte {at}")]
    Unmatched {
        /// The brace.
        brace: char,
        /// Its byte offset.
        at: usize,
    },
    /// Neither `{commit}` nor `{version}`: both sides would be one file.
    #[error(
        "uses neither {{commit}} nor {{version}}: a hidden break keeps the ABI name, so both of its sides would be the same build"
    )]
    NoSide,
}

/// A path template (`/srv/dbg/linux-image-{abi}-{flavour}-dbg_{version}_{arch}.deb`).
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.text)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    /// Parses a template: text and `{placeholder}`s, at least one of them
    /// `{commit}` or `{version}`.
    fn from_str(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            let at = text.len() - rest.len() + open;
            if rest.as_bytes()[open] == b'}' {
                return Err(TemplateError::Unmatched { brace: '}', at });
            }
            let close = rest[open..]
                .find('}')
                .ok_or(TemplateError::Unmatched { brace: '{', at })?;
            let name = &rest[open + 1..open + close];
            let field = Field::named(name).ok_or_else(|| TemplateError::Unknown(name.into()))?;
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            pieces.push(Piece::Field(field));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        let sided = |p: &Piece| matches!(p, Piece::Field(f) if f.tells_sides_apart());
        if !pieces.iter().any(sided) {
            return Err(TemplateError::NoSide);
        }
        Ok(Template {
            text: text.to_owned(),
            pieces,
        })
    }
}

impl Template {
    /// The template under `base` when it is relative (a configuration's
    /// paths are relative to its directory).
    pub fn under(mut self, base: &Path) -> Template {
        if Path::new(&self.text).is_relative() {
            let prefix = format!("{}/", base.display());
            self.text.insert_str(0, &prefix);
            self.pieces.insert(0, Piece::Text(prefix));
        }
        self
    }

    /// The path for one side, or why it cannot be made: a value the side
    /// lacks (no changelog version), or one that would leave its path
    /// component (a `/`, `.` or `..` from the repository).
    pub fn fill(&self, side: &Side<'_>) -> Result<PathBuf, String> {
        let mut path = String::with_capacity(self.text.len() + 64);
        for piece in &self.pieces {
            let field = match piece {
                Piece::Text(text) => {
                    path.push_str(text);
                    continue;
                }
                Piece::Field(field) => *field,
            };
            let value = side.value(field).ok_or_else(|| {
                format!(
                    "{{{}}}: commit {} has no changelog version",
                    field.name(),
                    side.commit.short()
                )
            })?;
            if value.contains('/') || value == "." || value == ".." || value.is_empty() {
                return Err(format!(
                    "{{{}}}: {value:?} cannot be part of a path",
                    field.name()
                ));
            }
            path.push_str(&value);
        }
        Ok(PathBuf::from(path))
    }
}

/// One side of a hidden break, as a template sees it.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// The commit that wrote this side's reference.
    pub commit: &'a CommitSha,
    /// The top changelog version there, if the layout has a changelog.
    pub version: Option<&'a str>,
    /// The ABI name.
    pub abi: &'a AbiName,
    /// The flavour.
    pub key: &'a FlavourKey,
    /// This side's reference, which a symtypes source must reproduce.
    pub reference: &'a SymbolSet,
}

impl Side<'_> {
    fn value(&self, field: Field) -> Option<Cow<'_, str>> {
        let key = self.key;
        Some(match field {
            Field::Abi => self.abi.as_str().into(),
            Field::Arch => key.arch.as_str().into(),
            Field::Featureset => key.featureset.as_str().into(),
            Field::Flavour => key.flavour.as_str().into(),
            Field::ImageFlavour if key.featureset == "none" => key.flavour.as_str().into(),
            Field::ImageFlavour => format!("{}-{}", key.featureset, key.flavour).into(),
            Field::Commit => self.commit.as_str().into(),
            Field::Version => self.version?.into(),
        })
    }
}

/// What a template names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// genksyms symtypes (a tree, a consolidated file, a `.tar.xz`).
    Symtypes,
    /// Debug info (a vmlinux or module, a directory of them, a `-dbg` `.deb`).
    Debug,
}

impl SourceKind {
    fn name(self) -> &'static str {
        match self {
            SourceKind::Symtypes => "symtypes",
            SourceKind::Debug => "debug info",
        }
    }
}

/// A problem with one side's file, for the finding's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    /// The path filled in (or the template, when it could not be).
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// A loaded set and what it was loaded from.
struct Cached {
    stamp: (u64, Option<SystemTime>),
    types: Arc<Symtypes>,
    /// genksyms' CRCs recomputed, for a symtypes source.
    crcs: Option<Crcs>,
}

/// genksyms' CRC of each export, by name.
type Crcs = Arc<HashMap<String, u32>>;

type Cache = LruCache<(SourceKind, PathBuf), Cached>;

/// What the clones of one [`BuildSources`] share.
struct Shared {
    cache: Mutex<Cache>,
    /// Sets read from disk (not from the cache).
    loads: AtomicUsize,
}

/// A repository's configured explanation sources, with their cache.
#[derive(Clone)]
pub struct BuildSources {
    sources: Vec<(SourceKind, Template)>,
    shared: Arc<Shared>,
}

impl Default for BuildSources {
    fn default() -> Self {
        BuildSources::new(None, None)
    }
}

impl fmt::Debug for BuildSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.sources).finish()
    }
}

impl PartialEq for BuildSources {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
    }
}

/// Both sides' type sets.
pub type Pair = (Arc<Symtypes>, Arc<Symtypes>);

impl BuildSources {
    /// Sources from a symtypes and a debug-info template; symtypes are
    /// tried first (they are checked against the CRCs).
    pub fn new(symtypes: Option<Template>, debug: Option<Template>) -> BuildSources {
        let sources = [(SourceKind::Symtypes, symtypes), (SourceKind::Debug, debug)]
            .into_iter()
            .filter_map(|(kind, t)| Some((kind, t?)))
            .collect();
        let size = NonZeroUsize::new(CACHED_BUILDS).expect("a cache holds something");
        BuildSources {
            sources,
            shared: Arc::new(Shared {
                cache: Mutex::new(LruCache::new(size)),
                loads: AtomicUsize::new(0),
            }),
        }
    }

    /// How many type sets were read from disk so far, by this value and
    /// its clones (the rest came from the cache).
    pub fn loads(&self) -> usize {
        self.shared.loads.load(Ordering::Relaxed)
    }

    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The old and new sides' type sets from the first source that has
    /// both, or `None` with the problems met: a missing file is a problem
    /// only when no source had both sides.
    pub fn pair(&self, old: &Side<'_>, new: &Side<'_>) -> (Option<Pair>, Vec<SourceProblem>) {
        let mut problems = Vec::new();
        let mut missing = Vec::new();
        for (kind, template) in &self.sources {
            let problem = |path: &Path, message: String| SourceProblem {
                path: path.display().to_string(),
                message,
            };
            let paths = match (template.fill(old), template.fill(new)) {
                (Ok(o), Ok(n)) => (o, n),
                (Err(why), _) | (_, Err(why)) => {
                    problems.push(problem(Path::new(&template.text), why));
                    continue;
                }
            };
            if paths.0 == paths.1 {
                let why = format!(
                    "both sides of the break fill {} with the same path (same {{commit}} and {{version}}): no build tells them apart",
                    kind.name()
                );
                problems.push(problem(&paths.0, why));
                continue;
            }
            let absent: Vec<&PathBuf> = [&paths.0, &paths.1]
                .into_iter()
                .filter(|p| std::fs::symlink_metadata(p).is_err())
                .collect();
            if !absent.is_empty() {
                missing.extend(absent.into_iter().map(|p| (*kind, p.clone())));
                continue;
            }
            match (
                self.side(*kind, &paths.0, old),
                self.side(*kind, &paths.1, new),
            ) {
                (Ok(o), Ok(n)) => return (Some((o, n)), problems),
                (o, n) => problems.extend([o.err(), n.err()].into_iter().flatten()),
            }
        }
        problems.extend(missing.into_iter().map(|(kind, path)| SourceProblem {
            message: format!("no {} at {}: not explained", kind.name(), path.display()),
            path: path.display().to_string(),
        }));
        (None, problems)
    }

    /// One side's set, loaded or cached, and for symtypes checked against
    /// the side's reference.
    fn side(
        &self,
        kind: SourceKind,
        path: &Path,
        side: &Side<'_>,
    ) -> Result<Arc<Symtypes>, SourceProblem> {
        let problem = |message: String| SourceProblem {
            path: path.display().to_string(),
            message,
        };
        let (types, crcs) = self.load(kind, path).map_err(problem)?;
        if let Some(crcs) = crcs {
            check_crcs(&crcs, side.reference).map_err(|m| {
                problem(format!(
                    "the symtypes at {} do not reproduce the reference written by {}: {m}; not the build it was taken from, not explained",
                    path.display(),
                    side.commit.short()
                ))
            })?;
        }
        Ok(types)
    }

    /// The set at `path`, from the cache when its size and time are the
    /// cached ones.
    fn load(&self, kind: SourceKind, path: &Path) -> Result<(Arc<Symtypes>, Option<Crcs>), String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let stamp = (meta.len(), meta.modified().ok());
        let key = (kind, path.to_path_buf());
        // The lock is not held while loading: a load takes seconds.
        if let Some(c) = self.lock().get(&key).filter(|c| c.stamp == stamp) {
            return Ok((c.types.clone(), c.crcs.clone()));
        }
        self.shared.loads.fetch_add(1, Ordering::Relaxed);
        let types = crate::dwarf::load_types(path)
            .map_err(|e| format!("{} not explained: {e}", kind.name()))?;
        let crcs = match kind {
            SourceKind::Debug => None,
            SourceKind::Symtypes => Some(Arc::new(crcs_of(&types, path)?)),
        };
        let types = Arc::new(types);
        let cached = Cached {
            stamp,
            types: types.clone(),
            crcs: crcs.clone(),
        };
        self.lock().put(key, cached);
        Ok((types, crcs))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A thread that panicked while holding it left a consistent cache:
        // every entry is inserted whole.
        self.shared.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// genksyms' CRC of every export of `types`.
fn crcs_of(types: &Symtypes, path: &Path) -> Result<HashMap<String, u32>, String> {
    let crcs = all_crcs(types)
        .map_err(|e| format!("symtypes at {}: CRCs not computed: {e}", path.display()))?;
    Ok(crcs
        .into_iter()
        .map(|c| (types.names.text(c.symbol).to_owned(), c.crc))
        .collect())
}

/// Whether the recomputed CRCs equal the reference's for every export both
/// have; the message counts the others and names the first.
fn check_crcs(crcs: &HashMap<String, u32>, reference: &SymbolSet) -> Result<(), String> {
    let mut differ = reference
        .iter()
        .filter_map(|s| Some((s, *crcs.get(s.name.as_str())?)))
        .filter(|(s, crc)| s.crc.0 != *crc);
    let Some((first, crc)) = differ.next() else {
        return Ok(());
    };
    Err(format!(
        "{} CRC(s) differ, first {}: 0x{crc:08x} computed, 0x{:08x} in the reference",
        1 + differ.count(),
        first.name,
        first.crc.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_per_side() {
        let t: Template = "/srv/{abi}/{arch}_{featureset}_{flavour}/{version}/{commit}.symtypes"
            .parse()
            .unwrap();
        let commit: CommitSha = "a".repeat(40).parse().unwrap();
        let abi = AbiName::new("6.1.0-47").unwrap();
        let key = FlavourKey::new("amd64", "none", "cloud-amd64");
        let reference = SymbolSet::default();
        let side = Side {
            commit: &commit,
            version: Some("6.1.170-3"),
            abi: &abi,
            key: &key,
            reference: &reference,
        };
        let want = format!("/srv/6.1.0-47/amd64_none_cloud-amd64/6.1.170-3/{commit}.symtypes");
        assert_eq!(t.fill(&side).unwrap(), PathBuf::from(want));
        let unversioned = Side {
            version: None,
            ..side
        };
        let err = t.fill(&unversioned).unwrap_err();
        assert!(
            err.contains("{version}") && err.contains("no changelog version"),
            "{err}"
        );
    }

    #[test]
    fn the_image_flavour_carries_a_featureset_other_than_none() {
        let t: Template = "linux-image-{abi}-{image_flavour}-dbg_{version}_{arch}.deb"
            .parse()
            .unwrap();
        let commit: CommitSha = "b".repeat(40).parse().unwrap();
        let abi = AbiName::new("6.1.0-47").unwrap();
        let reference = SymbolSet::default();
        let path = |key: &FlavourKey| {
            let side = Side {
                commit: &commit,
                version: Some("6.1.170-3"),
                abi: &abi,
                key,
                reference: &reference,
            };
            t.fill(&side).unwrap().display().to_string()
        };
        assert_eq!(
            path(&FlavourKey::new("amd64", "rt", "amd64")),
            "linux-image-6.1.0-47-rt-amd64-dbg_6.1.170-3_amd64.deb"
        );
        assert_eq!(
            path(&FlavourKey::new("amd64", "none", "cloud-amd64")),
            "linux-image-6.1.0-47-cloud-amd64-dbg_6.1.170-3_amd64.deb"
        );
    }

    #[test]
    fn a_value_that_would_leave_its_path_component_is_refused() {
        let t: Template = "/srv/{flavour}/{version}".parse().unwrap();
        let commit: CommitSha = "c".repeat(40).parse().unwrap();
        let abi = AbiName::new("1").unwrap();
        let reference = SymbolSet::default();
        for (flavour, version) in [("..", "1-1"), ("amd64", "../../etc")] {
            let key = FlavourKey::new("amd64", "none", flavour);
            let side = Side {
                commit: &commit,
                version: Some(version),
                abi: &abi,
                key: &key,
                reference: &reference,
            };
            let err = t.fill(&side).unwrap_err();
            assert!(err.contains("cannot be part of a path"), "{err}");
        }
    }

    #[test]
    fn bad_templates_say_why() {
        let err = |t: &str| t.parse::<Template>().unwrap_err().to_string();
        assert!(err("/srv/{abi}/{flavor}-{commit}").starts_with("unknown placeholder {flavor}"));
        assert_eq!(err("/srv/{abi"), "unmatched '{' at byte 5");
        assert_eq!(err("/srv/abi}{commit}"), "unmatched '}' at byte 8");
        assert!(err("/srv/{abi}/{flavour}.symtypes").contains("neither {commit} nor {version}"));
    }

    #[test]
    fn a_relative_template_is_under_the_base() {
        let t: Template = "dbg/{version}.deb".parse().unwrap();
        assert_eq!(
            t.clone().under(Path::new("/etc/abibot")).to_string(),
            "/etc/abibot/dbg/{version}.deb"
        );
        let abs: Template = "/dbg/{version}.deb".parse().unwrap();
        assert_eq!(abs.clone().under(Path::new("/etc")), abs);
    }
}
