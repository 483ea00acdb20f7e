//! Where each distribution keeps its ABI references and its ABI name.
//!
//! A layout reads one revision's tree through [`TreeSource`] and describes
//! the reference set as a [`Snapshot`]: for every flavour, the ABI name in
//! force, the object holding its reference and the ignore rules that apply.
//! It reads only small files (defines, changelog, version) and tree listings;
//! reference contents are parsed later, once per object, by `history`.
//!
//! Every entry of a references directory is either read or listed in
//! [`Snapshot::skipped`] with what it is ([`SkipReason`]): a symlink, a
//! submodule, a directory, a name the layout does not know. Small files
//! that decide the ABI name are parsed strictly: a file that does not parse
//! (a merge-conflict marker, an empty `abiname:`) is an error at that
//! revision, never a guessed name.
//!
//! Adding a distribution: one file implementing [`Reader`] with a
//! [`LayoutSpec`] and a [`Registered`] entry, and one line in [`REGISTRY`];
//! `--layout`'s values and help, detection and advice follow from it.

pub mod changelog;
pub mod debian;
pub mod defines;
pub mod generic;
pub mod redhat;
pub mod suse;
pub mod ubuntu;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use git2::Oid;
use serde::Serialize;

use crate::formats::Format;
use crate::ignore::{IgnoreError, IgnoreRules};
use crate::symbols::{AbiName, FlavourKey};

/// What a tree entry is, from its git file mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (mode 100644, or the old 100664).
    File,
    /// An executable file (mode 100755).
    Executable,
    /// A symbolic link (mode 120000): its blob holds the target path.
    Symlink,
    /// A submodule (mode 160000): its id is a commit of another repository.
    Gitlink,
    /// A directory (mode 040000).
    Dir,
}

impl EntryKind {
    /// The kind of a tree entry with file mode `mode`.
    pub fn from_mode(mode: i32) -> EntryKind {
        match mode {
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            0o160000 => EntryKind::Gitlink,
            0o100755 => EntryKind::Executable,
            _ => EntryKind::File,
        }
    }

    /// Whether the entry's blob is file content.
    pub fn is_file(self) -> bool {
        matches!(self, EntryKind::File | EntryKind::Executable)
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::File => "a regular file",
            EntryKind::Executable => "an executable file",
            EntryKind::Symlink => "a symlink",
            EntryKind::Gitlink => "a submodule (gitlink)",
            EntryKind::Dir => "a directory",
        })
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name as git stores it (any bytes but `/` and NUL).
    pub raw: Vec<u8>,
    /// Object id (blob, tree, or a submodule's commit).
    pub id: Oid,
    /// What it is.
    pub kind: EntryKind,
}

impl DirEntry {
    /// The name, when it is UTF-8.
    pub fn name(&self) -> Option<&str> {
        std::str::from_utf8(&self.raw).ok()
    }

    /// Whether it is a directory with a UTF-8 name.
    pub fn dir_name(&self) -> Option<&str> {
        self.name().filter(|_| self.kind == EntryKind::Dir)
    }

    /// The name of a regular file, or why the entry cannot be read as one.
    pub fn file_name(&self) -> Result<&str, SkipReason> {
        match self.kind {
            kind if kind.is_file() => self.name().ok_or(SkipReason::NotUtf8),
            kind => Err(SkipReason::NotAFile(kind)),
        }
    }

    /// Why this entry, found where `expected` entries go, is not read.
    pub fn unexpected(&self, expected: &'static str) -> SkipReason {
        match (self.kind, self.name()) {
            (kind @ (EntryKind::Symlink | EntryKind::Gitlink), _) => SkipReason::NotAFile(kind),
            (_, None) => SkipReason::NotUtf8,
            _ => SkipReason::Name {
                expected: expected.to_owned(),
            },
        }
    }

    /// The entry in `dir` as skipped for `reason`, its path escaped.
    pub fn skipped(&self, dir: &str, reason: SkipReason) -> Skipped {
        Skipped {
            path: join(dir, &self.raw.escape_ascii().to_string()),
            reason,
        }
    }
}

/// Why an entry of a references directory is not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// A symlink, a submodule, or a directory where files go.
    #[error("{0}: not read (references are regular files)")]
    NotAFile(EntryKind),
    /// A name that is not UTF-8 (shown escaped in the path).
    #[error("a name that is not UTF-8: not read")]
    NotUtf8,
    /// A file whose name the layout does not know.
    #[error("not a reference name ({expected}): not read")]
    Name {
        /// The form reference names take.
        expected: String,
    },
}

/// An entry of a references directory that is not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Its path from the repository root, non-UTF-8 bytes escaped (`\xff`).
    pub path: String,
    /// What it is.
    pub reason: SkipReason,
}

/// Reading one revision's tree; implemented over git objects by `history`.
pub trait TreeSource {
    /// The object id of `path`, `None` when absent.
    fn id(&self, path: &str) -> Result<Option<Oid>, TreeError>;
    /// The entries of directory `dir`; empty when absent.
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>, TreeError>;
    /// The content of file `path`, `None` when absent (or a directory); a
    /// symlink or a submodule there is an error, not content.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError>;
}

/// The object database could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TreeError {
    /// The path being read.
    pub path: String,
    /// What went wrong.
    pub message: String,
    /// git's own error (its code and class), where git failed; `None` where
    /// the path is not the kind of entry asked for.
    #[source]
    pub source: Option<crate::git_error::GitCause>,
}

/// A layout could not describe a revision.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Reading the tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A configuration file is malformed.
    #[error("{path}:{line}: {message}")]
    Config {
        /// The file.
        path: String,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An ignore entry is malformed.
    #[error("{path}: {source}")]
    Ignore {
        /// The file holding it.
        path: String,
        /// Why.
        source: IgnoreError,
    },
}

impl LayoutError {
    /// A malformed configuration file: `path`, its 1-based `line` (0 for
    /// the whole file), what is wrong.
    pub fn config(path: &str, line: usize, message: impl Into<String>) -> LayoutError {
        LayoutError::Config {
            path: path.to_owned(),
            line,
            message: message.into(),
        }
    }

    /// The file the error concerns.
    pub fn path(&self) -> &str {
        match self {
            LayoutError::Tree(t) => &t.path,
            LayoutError::Config { path, .. } | LayoutError::Ignore { path, .. } => path,
        }
    }
}

/// How a flavour's reference is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// One file in a line format (`None`: detected from its first line).
    File(Option<Format>),
    /// A directory of kABI stablelist entries, one file per symbol.
    KabiDir,
}

/// Where one flavour's reference lives at a revision.
#[derive(Clone, Debug)]
pub struct FlavourSource {
    /// The ABI name that covers this flavour.
    pub abi: AbiName,
    /// Path of the reference, from the repository root.
    pub path: String,
    /// Object id of the file or directory: equal ids mean equal references.
    pub id: Oid,
    /// How to read it.
    pub storage: Storage,
    /// Ignore rules that apply to this flavour.
    pub ignore: Arc<IgnoreRules>,
    /// The genksyms type data the reference's CRCs were computed from, in
    /// layouts that keep it beside the reference (SUSE's consolidated
    /// `kabi/<arch>/symtypes-<flavour>`), to explain CRC changes.
    pub symtypes: Option<SymtypesSource>,
}

#[cfg(test)]
impl FlavourSource {
    /// A single-file reference of any format at `path` under ABI `abi`,
    /// with no ignore rules or symtypes (unit tests' stand-in).
    pub(crate) fn file(abi: &str, path: &str, id: Oid) -> FlavourSource {
        FlavourSource {
            abi: AbiName::new(abi).expect("a valid ABI name"),
            path: path.to_owned(),
            id,
            storage: Storage::File(None),
            ignore: Arc::default(),
            symtypes: None,
        }
    }
}

/// Where a flavour's symtypes file is at a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymtypesSource {
    /// Path of the file, from the repository root.
    pub path: String,
    /// Its blob id: equal ids mean equal type data.
    pub id: Oid,
}

/// What one revision promises, before parsing any reference.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The ABI name of the revision, if any.
    pub abi: Option<AbiName>,
    /// Every flavour with a reference under its ABI name.
    pub flavours: BTreeMap<FlavourKey, FlavourSource>,
    /// Where the top changelog entry is released to (`bookworm-security`,
    /// or `UNRELEASED` while being prepared), in layouts that have one.
    pub distribution: Option<String>,
    /// The version of the top changelog entry (`6.1.176-1`), in layouts
    /// that have one: what tells two uploads under one ABI name apart.
    pub version: Option<String>,
    /// Entries of the references directories that are not read.
    pub skipped: Vec<Skipped>,
}

/// One distribution's layout at one root: what `history` asks of it.
pub trait Reader: fmt::Debug + Send + Sync {
    /// Paths whose object ids decide the snapshot: when none of them
    /// changed between two revisions, neither did the reference set.
    fn inputs(&self) -> Vec<String>;
    /// Describes the revision in `tree`.
    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError>;
    /// This reader with what it finds in `tree` fixed (Ubuntu's branch),
    /// `None` when it has nothing to fix.
    fn bound(&self, tree: &dyn TreeSource) -> Result<Option<Arc<dyn Reader>>, TreeError> {
        let _ = tree;
        Ok(None)
    }
}

/// What the registry knows of a layout: its name and what to advise.
#[derive(Debug)]
pub struct LayoutSpec {
    /// The name in `--layout`, configuration and JSON.
    pub name: &'static str,
    /// One line on where it keeps references and the ABI name, for help.
    pub help: &'static str,
    /// What a maintainer can do about findings in it.
    pub remedy: Remedy,
}

/// A layout that can be named (`--layout`, `layout = ...`) and detected.
pub struct Registered {
    /// Its name, help and advice.
    pub spec: &'static LayoutSpec,
    /// Builds it at a root (`""` for the repository top).
    pub at: fn(root: &str) -> Arc<dyn Reader>,
    /// Whether a tree has it at `root`.
    pub detect: fn(tree: &dyn TreeSource, root: &str) -> Result<bool, TreeError>,
    /// What detection looks for, for the message when nothing is found.
    pub looks_for: &'static str,
}

/// The named layouts, in the order detection tries them at each root
/// (what each looks for does not occur in the others' trees).
pub const REGISTRY: &[Registered] = &[
    debian::REGISTERED,
    ubuntu::REGISTERED,
    redhat::REGISTERED,
    suse::REGISTERED,
];

/// The layout names accepted by `--layout` and configuration.
pub const LAYOUT_NAMES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = REGISTRY[i].spec.name;
        i += 1;
    }
    names
};

/// `--layout`'s values, each with its help.
pub fn possible_values() -> impl Iterator<Item = clap::builder::PossibleValue> {
    REGISTRY
        .iter()
        .map(|r| clap::builder::PossibleValue::new(r.spec.name).help(r.spec.help))
}

/// What detection looks for, for the message when no layout is found
/// (`debian/abi or debian/config (debian), ...`).
pub fn detection_hint() -> String {
    let tried: Vec<String> = REGISTRY
        .iter()
        .map(|r| format!("{} ({})", r.looks_for, r.spec.name))
        .collect();
    tried.join(", ")
}

/// Which kind of layout a finding was found in, without its location:
/// findings carry it so that renderers give the advice of that layout.
/// Equal when the names are.
#[derive(Clone, Copy)]
pub struct LayoutKind(&'static LayoutSpec);

impl LayoutKind {
    /// A layout described by configuration (`--generic-layout`), and the
    /// kind of findings outside any known layout.
    pub const GENERIC: LayoutKind = LayoutKind(&generic::SPEC);

    /// The kind of a layout the registry describes.
    pub const fn of(spec: &'static LayoutSpec) -> LayoutKind {
        LayoutKind(spec)
    }

    /// The name used in JSON, as [`Layout::name`].
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// What applies in this layout (the facts are in the module docs of
    /// each layout and in the README's layout section).
    pub fn remedy(self) -> Remedy {
        self.0.remedy
    }
}

impl PartialEq for LayoutKind {
    fn eq(&self, other: &LayoutKind) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for LayoutKind {}

impl Hash for LayoutKind {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl fmt::Debug for LayoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl Serialize for LayoutKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

/// What a maintainer can do about a finding in one layout: static
/// Markdown phrases (code spans for paths), each completing
/// "To resolve: ...", placed by the renderers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remedy {
    /// References changed incompatibly under the same ABI name.
    pub hidden_break: &'static str,
    /// How to declare a change harmless, when the layout has a way.
    pub ignore: Option<IgnoreHint>,
    /// A flavour's reference disappeared under the same ABI name.
    pub coverage_lost: &'static str,
    /// A release made while the ABI name in force has no references for
    /// flavours that had them under the previous name (their check is off).
    pub unchecked: &'static str,
}

/// Where an entry ignoring one symbol goes, and how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgnoreHint {
    /// The place, as a Markdown phrase after "ignore it in".
    pub place: &'static str,
    /// The entry's text before the symbol name.
    pub before: &'static str,
    /// The entry's text after the symbol name.
    pub after: &'static str,
}

/// A layout with its location in the repository.
#[derive(Clone, Debug)]
pub struct Layout {
    kind: LayoutKind,
    reader: Arc<dyn Reader>,
}

impl Layout {
    /// A layout of `kind` reading with `reader`.
    pub fn new(spec: &'static LayoutSpec, reader: Arc<dyn Reader>) -> Layout {
        Layout {
            kind: LayoutKind(spec),
            reader,
        }
    }

    /// A layout described by configuration.
    pub fn generic(layout: generic::Generic) -> Layout {
        Layout::new(&generic::SPEC, Arc::new(layout))
    }

    /// The layout's name.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The layout's kind, which findings carry.
    pub fn kind(&self) -> LayoutKind {
        self.kind
    }

    /// Paths whose object ids decide the snapshot: when none of them changed
    /// between two revisions, neither did the reference set.
    pub fn inputs(&self) -> Vec<String> {
        self.reader.inputs()
    }

    /// Describes the revision in `tree`.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        self.reader.read(tree)
    }

    /// This layout with what it finds in `tree` fixed (Ubuntu's branch).
    pub fn bound(&self, tree: &dyn TreeSource) -> Result<Layout, TreeError> {
        Ok(match self.reader.bound(tree)? {
            Some(reader) => Layout {
                kind: self.kind,
                reader,
            },
            None => self.clone(),
        })
    }

    /// Builds a named layout at `root` (`""` for the repository top).
    pub fn named(name: &str, root: &str) -> Option<Layout> {
        let registered = REGISTRY.iter().find(|r| r.spec.name == name)?;
        Some(Layout::new(
            registered.spec,
            (registered.at)(root.trim_matches('/')),
        ))
    }

    /// Finds the layout of a tree: at `root` when given, else at the top or
    /// in a top-level directory (svn-era mirrors keep Debian's packaging in
    /// `linux-2.6/` or `linux/`).
    pub fn detect(tree: &dyn TreeSource, root: Option<&str>) -> Result<Option<Layout>, TreeError> {
        let candidates: Vec<String> = match root {
            Some(r) => vec![r.trim_matches('/').to_owned()],
            None => {
                let mut dirs = vec![String::new()];
                let listing = tree.list("")?;
                dirs.extend(
                    listing
                        .iter()
                        .filter_map(DirEntry::dir_name)
                        .map(str::to_owned),
                );
                dirs
            }
        };
        for root in candidates {
            for registered in REGISTRY {
                if (registered.detect)(tree, &root)? {
                    return Ok(Some(Layout::new(registered.spec, (registered.at)(&root))));
                }
            }
        }
        Ok(None)
    }
}

/// Joins repository paths, treating `""` as the top.
pub fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => dir.to_owned(),
        _ => format!("{dir}/{name}"),
    }
}

/// A small file as text, for configuration readers; a config file that is
/// not UTF-8 is reported, not guessed at.
pub(crate) fn read_text(tree: &dyn TreeSource, path: &str) -> Result<Option<String>, LayoutError> {
    match tree.read(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            LayoutError::config(
                path,
                0,
                format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            )
        }),
    }
}

/// Git's merge-conflict markers (default size 7), as they start a line.
const CONFLICT_MARKERS: [&str; 4] = ["<<<<<<<", "|||||||", "=======", ">>>>>>>"];

/// The merge-conflict marker starting `line`, if any: seven marker
/// characters followed by the end of the line or a space (so a longer
/// `========` rule is not one).
pub(crate) fn conflict_marker(line: &str) -> Option<&'static str> {
    CONFLICT_MARKERS.into_iter().find(|m| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
    })
}

/// The first merge-conflict marker of `text`, with its 1-based line.
pub(crate) fn first_conflict(text: &str) -> Option<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| conflict_marker(l).map(|m| (i + 1, m)))
}

/// `text`, read from `path`, unless a line of it is a merge-conflict marker.
pub(crate) fn without_conflicts<'t>(text: &'t str, path: &str) -> Result<&'t str, LayoutError> {
    match first_conflict(text) {
        Some((line, marker)) => Err(LayoutError::config(
            path,
            line,
            format!("merge-conflict marker `{marker}`"),
        )),
        None => Ok(text),
    }
}

/// `name` as an ABI name read from `path` at `line`, refused with the
/// file and line when it cannot be one.
pub(crate) fn abi_name(name: String, path: &str, line: usize) -> Result<AbiName, LayoutError> {
    AbiName::new(name).map_err(|e| LayoutError::config(path, line, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_markers_are_whole_markers() {
        assert_eq!(conflict_marker("<<<<<<< HEAD"), Some("<<<<<<<"));
        assert_eq!(conflict_marker("======="), Some("======="));
        assert_eq!(conflict_marker(">>>>>>> topic"), Some(">>>>>>>"));
        assert_eq!(conflict_marker("||||||| base"), Some("|||||||"));
        assert_eq!(conflict_marker("========"), None);
        assert_eq!(conflict_marker(" <<<<<<< x"), None);
        let err = without_conflicts("a\n=======\n", "f").unwrap_err();
        assert_eq!(err.to_string(), "f:2: merge-conflict marker `=======`");
    }

    #[test]
    fn registry_names_and_kinds() {
        assert_eq!(LAYOUT_NAMES, ["debian", "ubuntu", "redhat", "suse"]);
        for name in LAYOUT_NAMES {
            let layout = Layout::named(name, "/linux/").unwrap();
            assert_eq!(layout.name(), name);
            assert_eq!(
                serde_json::to_string(&layout.kind()).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert!(Layout::named("generic", "").is_none());
        assert_eq!(LayoutKind::GENERIC.name(), "generic");
        assert!(detection_hint().contains("redhat/kabi (redhat)"));
    }

    #[test]
    fn skipped_paths_escape_raw_names() {
        let entry = DirEntry {
            raw: b"amd64_none_\xff".to_vec(),
            id: Oid::ZERO_SHA1,
            kind: EntryKind::File,
        };
        assert_eq!(entry.file_name(), Err(SkipReason::NotUtf8));
        assert_eq!(
            entry.skipped("debian/abi/1", SkipReason::NotUtf8).path,
            "debian/abi/1/amd64_none_\\xff"
        );
    }
}
