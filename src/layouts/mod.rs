//! Where each distribution keeps its ABI references and its ABI name.
//!
//! A layout reads one revision's tree through [`TreeSource`] and describes
//! the reference set as a [`Snapshot`]: for every flavour, the ABI name in
//! force, the object holding its reference and the ignore rules that apply.
//! It reads only small files (defines, changelog, version) and tree listings;
//! reference contents are parsed later, once per object, by `history`.

pub mod debian;
pub mod generic;
pub mod redhat;
pub mod ubuntu;

use std::collections::BTreeMap;
use std::sync::Arc;

use git2::Oid;
use serde::Serialize;

use crate::formats::Format;
use crate::ignore::{IgnoreError, IgnoreRules};
use crate::symbols::{AbiName, FlavourKey};

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// File or directory name.
    pub name: String,
    /// Object id (blob or tree).
    pub id: Oid,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// Reading one revision's tree; implemented over git objects by `history`.
pub trait TreeSource {
    /// The object id of `path`, `None` when absent.
    fn id(&self, path: &str) -> Result<Option<Oid>, TreeError>;
    /// The entries of directory `dir`; empty when absent.
    fn list(&self, dir: &str) -> Result<Vec<DirEntry>, TreeError>;
    /// The content of file `path`, `None` when absent.
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
}

/// A supported layout, with its location in the repository.
#[derive(Clone, Debug)]
pub enum Layout {
    /// `debian/abi/<abiname>/<arch>_<featureset>_<flavour>`.
    Debian(debian::Debian),
    /// `debian.<branch>/abi/[<version>/]<arch>/<flavour>`.
    Ubuntu(ubuntu::Ubuntu),
    /// `redhat/kabi/kabi-module/kabi_<arch>/<symbol>`.
    Redhat(redhat::Redhat),
    /// Configured paths, format and ABI-name source.
    Generic(Arc<generic::Generic>),
}

/// Which kind of layout a finding was found in, without its location:
/// findings carry it so that renderers give the advice of that layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// Debian's `debian/abi/` and `debian/config/defines`.
    Debian,
    /// Ubuntu's `debian.<branch>/abi/`.
    Ubuntu,
    /// Red Hat's kABI stablelists.
    Redhat,
    /// A layout described by configuration.
    Generic,
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

impl LayoutKind {
    /// The name used in JSON, as [`Layout::name`].
    pub fn name(self) -> &'static str {
        match self {
            LayoutKind::Debian => "debian",
            LayoutKind::Ubuntu => "ubuntu",
            LayoutKind::Redhat => "redhat",
            LayoutKind::Generic => "generic",
        }
    }

    /// What applies in this layout (the facts are in the module docs of
    /// each layout and in the README's layout section).
    pub fn remedy(self) -> Remedy {
        match self {
            LayoutKind::Debian => Remedy {
                hidden_break: "bump the ABI name (`abiname` in the `[abi]` section of `debian/config/defines`; on trixie and later, `debian/config/defines.toml`), and refresh the references only together with a new ABI name",
                ignore: Some(IgnoreHint {
                    place: "the `[abi]` section of `debian/config/defines`",
                    before: "[abi]\nignore-changes:\n name:",
                    after: "\n",
                }),
                // Debian's build check passes unchecked without a reference.
                coverage_lost: "restore the reference files under `debian/abi/<ABI name>/` (without them Debian's build check does not run), or bump the ABI name (`abiname` in `debian/config/defines`) if the flavour is gone for good",
            },
            LayoutKind::Ubuntu => Remedy {
                hidden_break: "bump the ABI number (`debian.<branch>/abi/version` and the version in `debian.<branch>/changelog`), and refresh the references only together with a new ABI number: under the same number the build check compares against these references",
                ignore: Some(IgnoreHint {
                    place: "`debian.<branch>/abi/abi.ignore` (one symbol a line)",
                    before: "",
                    after: "\n",
                }),
                coverage_lost: "restore the reference files under `debian.<branch>/abi/`, or bump the ABI number (`debian.<branch>/abi/version`) if the flavour is gone for good",
            },
            // kABI is promised for a whole minor release: no new name helps.
            LayoutKind::Redhat => Remedy {
                hidden_break: "a change to a stablelisted symbol breaks kABI, which holds for the whole minor release. Revert the change, or keep the symbol's CRC with the kABI workaround (the `RH_KABI_*` macros of `include/linux/rh_kabi.h`). The stablelists are in `redhat/kabi/kabi-module/kabi_<arch>/`",
                ignore: None,
                coverage_lost: "restore the stablelist entries under `redhat/kabi/kabi-module/kabi_<arch>/`: a symbol without an entry is not checked",
            },
            LayoutKind::Generic => Remedy {
                hidden_break: "bump the ABI name, and refresh the references only together with a new ABI name",
                ignore: Some(IgnoreHint {
                    place: "the `ignore` list of the layout file (`--generic-layout`)",
                    before: "ignore = [\"name:",
                    after: "\"]\n",
                }),
                coverage_lost: "restore the reference files, or bump the ABI name if the flavour is gone for good",
            },
        }
    }
}

/// The layout names accepted by `--layout` and configuration.
pub const LAYOUT_NAMES: [&str; 3] = ["debian", "ubuntu", "redhat"];

impl Layout {
    /// The layout's name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The layout's kind, which findings carry.
    pub fn kind(&self) -> LayoutKind {
        match self {
            Layout::Debian(_) => LayoutKind::Debian,
            Layout::Ubuntu(_) => LayoutKind::Ubuntu,
            Layout::Redhat(_) => LayoutKind::Redhat,
            Layout::Generic(_) => LayoutKind::Generic,
        }
    }

    /// Paths whose object ids decide the snapshot: when none of them changed
    /// between two revisions, neither did the reference set.
    pub fn inputs(&self) -> Vec<String> {
        match self {
            Layout::Debian(l) => l.inputs(),
            Layout::Ubuntu(l) => l.inputs(),
            Layout::Redhat(l) => l.inputs(),
            Layout::Generic(l) => l.inputs(),
        }
    }

    /// Describes the revision in `tree`.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        match self {
            Layout::Debian(l) => l.read(tree),
            Layout::Ubuntu(l) => l.read(tree),
            Layout::Redhat(l) => l.read(tree),
            Layout::Generic(l) => l.read(tree),
        }
    }

    /// Builds a named layout at `root` (`""` for the repository top).
    pub fn named(name: &str, root: &str) -> Option<Layout> {
        let root = root.trim_matches('/').to_owned();
        Some(match name {
            "debian" => Layout::Debian(debian::Debian { root }),
            "ubuntu" => Layout::Ubuntu(ubuntu::Ubuntu { root, branch: None }),
            "redhat" => Layout::Redhat(redhat::Redhat { root }),
            _ => return None,
        })
    }

    /// Finds the layout of a tree: at `root` when given, else at the top or
    /// in a top-level directory (svn-era mirrors keep Debian's packaging in
    /// `linux-2.6/` or `linux/`).
    pub fn detect(tree: &dyn TreeSource, root: Option<&str>) -> Result<Option<Layout>, TreeError> {
        let candidates: Vec<String> = match root {
            Some(r) => vec![r.trim_matches('/').to_owned()],
            None => {
                let mut dirs = vec![String::new()];
                dirs.extend(
                    tree.list("")?
                        .into_iter()
                        .filter(|e| e.is_dir)
                        .map(|e| e.name),
                );
                dirs
            }
        };
        for root in candidates {
            if let Some(layout) = Self::detect_at(tree, &root)? {
                return Ok(Some(layout));
            }
        }
        Ok(None)
    }

    fn detect_at(tree: &dyn TreeSource, root: &str) -> Result<Option<Layout>, TreeError> {
        let at = |p: &str| join(root, p);
        if tree.id(&at("debian/abi"))?.is_some()
            || tree.id(&at("debian/config/defines"))?.is_some()
            || tree.id(&at("debian/config/defines.toml"))?.is_some()
        {
            return Ok(Layout::named("debian", root));
        }
        if tree.id(&at("redhat/kabi"))?.is_some() {
            return Ok(Layout::named("redhat", root));
        }
        let ubuntu = tree
            .list(root)?
            .into_iter()
            .any(|e| e.is_dir && e.name.starts_with("debian.") && e.name != "debian.env");
        if ubuntu && ubuntu::Ubuntu::branch_dir(tree, root)?.is_some() {
            return Ok(Layout::named("ubuntu", root));
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
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| LayoutError::Config {
                path: path.to_owned(),
                line: 0,
                message: format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
            }),
    }
}
