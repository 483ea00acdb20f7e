//! Ubuntu's layout: `debian.<branch>/abi/<arch>/<flavour>` with the ABI
//! version in `debian.<branch>/abi/version`, or the older
//! `debian.<branch>/abi/<version>/<arch>/<flavour>`.
//!
//! The ABI name is the version without its upload number
//! (`3.13.0-13.33` -> `3.13.0-13`). The version file holds one version,
//! checked as dpkg checks versions; anything else there (an empty file, a
//! merge-conflict marker, two lines) is an error at that revision. The
//! distribution of the release comes from the first entry of
//! `debian.<branch>/changelog`, read as dpkg reads it
//! ([`super::changelog`]).
//!
//! `abi.ignore` lists symbol names to ignore; `<flavour>.ignore.abi` or
//! `ignore.abi` in an arch directory switch the check off for the flavour
//! or the arch (every change is then ignored). Sibling files with a dot
//! (`generic.modules`, `generic.compiler`) are not references; files
//! beside the arch directories (`version`, `abi.ignore`) configure the
//! check. Every other entry is reported ([`super::Skipped`]): a name
//! starting with a dot, a symlink, a submodule, a directory inside an arch
//! directory, a name that is not UTF-8. The branch is the one
//! `debian/debian.env` names (`DEBIAN=debian.master`), else the first
//! `debian.*` with an `abi/`.

use std::sync::Arc;

use super::{
    DirEntry, EntryKind, FlavourSource, IgnoreHint, LayoutError, LayoutSpec, Reader, Registered,
    Remedy, SkipReason, Snapshot, Storage, TreeError, TreeSource, abi_name, changelog,
    first_conflict, join, read_text, without_conflicts,
};
use crate::formats::Format;
use crate::ignore::{IgnoreRule, IgnoreRules};
use crate::symbols::FlavourKey;

/// What the registry knows of Ubuntu's layout.
pub static SPEC: LayoutSpec = LayoutSpec {
    name: "ubuntu",
    help: "debian.<branch>/abi/[<version>/]<arch>/<flavour>; the ABI number from debian.<branch>/abi/version",
    remedy: Remedy {
        hidden_break: "bump the ABI number (`debian.<branch>/abi/version` and the version in `debian.<branch>/changelog`), and refresh the references only together with a new ABI number: under the same number the build check compares against these references",
        ignore: Some(IgnoreHint {
            place: "`debian.<branch>/abi/abi.ignore` (one symbol a line)",
            before: "",
            after: "\n",
        }),
        coverage_lost: "restore the reference files under `debian.<branch>/abi/`, or bump the ABI number (`debian.<branch>/abi/version`) if the flavour is gone for good",
        unchecked: "restore the reference files under `debian.<branch>/abi/` for the ABI number in `debian.<branch>/abi/version`, or go back to the previous number if the ABI did not really change",
    },
};

/// Ubuntu in the registry.
pub const REGISTERED: Registered = Registered {
    spec: &SPEC,
    at: |root| {
        Arc::new(Ubuntu {
            root: root.to_owned(),
            branch: None,
        })
    },
    detect: Ubuntu::detect,
    looks_for: "debian.<branch>/abi",
};

/// The Ubuntu layout.
#[derive(Clone, Debug)]
pub struct Ubuntu {
    /// Directory holding the `debian.<branch>/` directories.
    pub root: String,
    /// `debian.<branch>`, when known.
    pub branch: Option<String>,
}

/// `3.13.0-13.33` -> `3.13.0-13`: the upload number is not part of the ABI.
pub fn abi_of_version(version: &str) -> &str {
    match version.rsplit_once('-') {
        Some((_, tail)) if tail.contains('.') => {
            &version[..version.len() - tail.len() + tail.find('.').expect("contains")]
        }
        _ => version,
    }
}

/// The content of a version file at `path`: one dpkg version on one line.
pub fn parse_version(text: &str, path: &str) -> Result<String, LayoutError> {
    let text = without_conflicts(text, path)?;
    let bad = |line: usize, message: String| LayoutError::config(path, line, message);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((i, version)) = lines.next() else {
        return Err(bad(0, "empty: it should hold the ABI version".into()));
    };
    if let Some((extra, _)) = lines.next() {
        return Err(bad(
            extra + 1,
            "a second version: the file holds one".into(),
        ));
    }
    let version = version.trim();
    changelog::check_version(version)
        .map_err(|why| bad(i + 1, format!("version '{version}' is invalid: {why}")))?;
    Ok(version.to_owned())
}

/// Where the references of a revision are and which version they carry.
struct Versioned {
    version: String,
    /// The file or directory the version comes from.
    from: String,
    /// The directory holding the arch directories.
    arch_parent: String,
}

impl Ubuntu {
    /// Whether `tree` has Ubuntu's packaging at `root`.
    pub fn detect(tree: &dyn TreeSource, root: &str) -> Result<bool, TreeError> {
        let branches = tree.list(root)?.into_iter().any(|e| {
            e.dir_name()
                .is_some_and(|n| n.starts_with("debian.") && n != "debian.env")
        });
        Ok(branches && Self::branch_dir(tree, root)?.is_some())
    }

    /// The `debian.<branch>` directory holding `abi/`.
    pub fn branch_dir(tree: &dyn TreeSource, root: &str) -> Result<Option<String>, TreeError> {
        let env_path = join(root, "debian/debian.env");
        if let Some(env) = tree.read(&env_path)? {
            let env = String::from_utf8_lossy(&env);
            // A conflicted file names two branches: neither is guessed.
            if let Some((line, marker)) = first_conflict(&env) {
                return Err(TreeError {
                    path: env_path,
                    message: format!("line {line}: merge-conflict marker `{marker}`"),
                    source: None,
                });
            }
            if let Some(dir) = env.lines().find_map(|l| l.trim().strip_prefix("DEBIAN=")) {
                return Ok(Some(dir.trim().to_owned()));
            }
        }
        for entry in tree.list(root)? {
            let Some(name) = entry.dir_name().filter(|n| n.starts_with("debian.")) else {
                continue;
            };
            if tree.id(&join(root, &format!("{name}/abi")))?.is_some() {
                return Ok(Some(name.to_owned()));
            }
        }
        Ok(None)
    }

    /// This layout with its branch resolved in `tree`. The walker binds a
    /// layout again whenever one of its inputs changed, so a branch moved in
    /// `debian/debian.env` is followed; without `debian.env`, the branch is
    /// found again when its `abi/` changes or goes.
    pub fn bound(&self, tree: &dyn TreeSource) -> Result<Ubuntu, TreeError> {
        Ok(Ubuntu {
            root: self.root.clone(),
            branch: Self::branch_dir(tree, &self.root)?,
        })
    }

    /// The branch's `abi/`, its changelog and `debian/debian.env` decide
    /// everything; before the branch is known, the whole packaging
    /// directory does.
    pub fn inputs(&self) -> Vec<String> {
        match &self.branch {
            Some(b) => vec![
                join(&self.root, &format!("{b}/abi")),
                join(&self.root, "debian/debian.env"),
                join(&self.root, &format!("{b}/changelog")),
            ],
            None => vec![self.root.clone()],
        }
    }

    /// The version in `abi/version`, else the one directory named after it.
    fn versioned(tree: &dyn TreeSource, abi_dir: &str) -> Result<Option<Versioned>, LayoutError> {
        let file = join(abi_dir, "version");
        if let Some(text) = read_text(tree, &file)? {
            return Ok(Some(Versioned {
                version: parse_version(&text, &file)?,
                from: file,
                arch_parent: abi_dir.to_owned(),
            }));
        }
        // Older trees keep one directory named after the version.
        let listing = tree.list(abi_dir)?;
        let versioned = listing
            .iter()
            .filter_map(DirEntry::dir_name)
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            .max();
        Ok(versioned.map(|v| Versioned {
            version: v.to_owned(),
            from: join(abi_dir, v),
            arch_parent: join(abi_dir, v),
        }))
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let branch = match &self.branch {
            Some(b) => b.clone(),
            None => match Self::branch_dir(tree, &self.root)? {
                Some(b) => b,
                None => return Ok(Snapshot::default()),
            },
        };
        let abi_dir = join(&self.root, &format!("{branch}/abi"));
        let Some(versioned) = Self::versioned(tree, &abi_dir)? else {
            return Ok(Snapshot::default());
        };
        let changelog_path = join(&self.root, &format!("{branch}/changelog"));
        let heading = match read_text(tree, &changelog_path)? {
            Some(text) => Some(changelog::first_entry(&text, &changelog_path)?),
            None => None,
        };
        let abi = abi_name(
            abi_of_version(&versioned.version).to_owned(),
            &versioned.from,
            0,
        )?;
        let mut snapshot = Snapshot {
            abi: Some(abi),
            distribution: heading.as_ref().map(|h| h.distribution().to_owned()),
            version: heading.map(|h| h.version),
            ..Snapshot::default()
        };
        let names = Self::ignored_names(tree, [&abi_dir, &versioned.arch_parent])?;
        for arch in tree.list(&versioned.arch_parent)? {
            let parent = &versioned.arch_parent;
            match (arch.kind, arch.name()) {
                (EntryKind::Dir, Some(name)) => {
                    Self::read_arch(tree, &join(parent, name), name, &names, &mut snapshot)?
                }
                // Beside the arch directories: `version`, `abi.ignore`, ...
                (kind, Some(_)) if kind.is_file() => {}
                _ => {
                    let reason = arch.unexpected("<arch>, a directory");
                    snapshot.skipped.push(arch.skipped(parent, reason));
                }
            }
        }
        Ok(snapshot)
    }

    /// The symbol names listed in the `abi.ignore` files of `dirs`.
    fn ignored_names<'d>(
        tree: &dyn TreeSource,
        dirs: impl IntoIterator<Item = &'d String>,
    ) -> Result<IgnoreRules, LayoutError> {
        let mut names = IgnoreRules::default();
        for dir in dirs {
            let path = join(dir, "abi.ignore");
            if let Some(text) = read_text(tree, &path)? {
                let rules = without_conflicts(&text, &path)?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(IgnoreRule::exact_name)
                    .collect();
                names.extend(IgnoreRules::new(rules));
            }
        }
        Ok(names)
    }

    /// The references of one arch directory into `snapshot`; its other
    /// entries, unless they are a reference's sibling files, as skipped.
    fn read_arch(
        tree: &dyn TreeSource,
        arch_path: &str,
        arch: &str,
        names: &IgnoreRules,
        snapshot: &mut Snapshot,
    ) -> Result<(), LayoutError> {
        let entries = tree.list(arch_path)?;
        let has = |name: &str| entries.iter().any(|e| e.name() == Some(name));
        for entry in &entries {
            let name = match entry.file_name() {
                Ok(name) if name.starts_with('.') => Err(SkipReason::Name {
                    expected: "<flavour>, or <flavour>.<suffix> beside it".to_owned(),
                }),
                other => other,
            };
            let name = match name {
                Ok(name) if name.contains('.') => continue,
                Ok(name) => name,
                Err(reason) => {
                    snapshot.skipped.push(entry.skipped(arch_path, reason));
                    continue;
                }
            };
            let mut ignore = names.clone();
            let off = format!("{name}.ignore.abi");
            if has(&off) || has("ignore.abi") {
                ignore.extend(everything());
            }
            snapshot.flavours.insert(
                FlavourKey::new(arch, "none", name),
                FlavourSource {
                    abi: snapshot.abi.clone().expect("named before its flavours"),
                    path: join(arch_path, name),
                    id: entry.id,
                    storage: Storage::File(Some(Format::Ubuntu)),
                    ignore: Arc::new(ignore),
                    symtypes: None,
                },
            );
        }
        Ok(())
    }
}

/// Rules ignoring every change: a flavour whose check is switched off.
fn everything() -> IgnoreRules {
    let rules = ["module:**", "name:**"].map(|r| IgnoreRule::parse(r).expect("valid rule"));
    IgnoreRules::new(rules.into())
}

impl Reader for Ubuntu {
    fn inputs(&self) -> Vec<String> {
        Ubuntu::inputs(self)
    }

    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        Ubuntu::read(self, tree)
    }

    fn bound(&self, tree: &dyn TreeSource) -> Result<Option<Arc<dyn Reader>>, TreeError> {
        Ok(Some(Arc::new(Ubuntu::bound(self, tree)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::{abi_of_version, parse_version};

    #[test]
    fn upload_number_is_not_part_of_the_abi() {
        assert_eq!(abi_of_version("3.13.0-13.33"), "3.13.0-13");
        assert_eq!(abi_of_version("5.18.0-0.0"), "5.18.0-0");
        assert_eq!(abi_of_version("5.18.0-7"), "5.18.0-7");
    }

    #[test]
    fn version_file_holds_one_version() {
        assert_eq!(
            parse_version("5.15.0-91.101\n", "v").unwrap(),
            "5.15.0-91.101"
        );
        for (text, message) in [
            ("", "v:0: empty: it should hold the ABI version"),
            ("\n \n", "v:0: empty: it should hold the ABI version"),
            (
                "5.15.0-91.101\n5.15.0-92.102\n",
                "v:2: a second version: the file holds one",
            ),
            (
                "<<<<<<< HEAD\n5.15.0-91.101\n=======\n5.15.0-92.102\n>>>>>>> b\n",
                "v:1: merge-conflict marker `<<<<<<<`",
            ),
            (
                "v5.15\n",
                "v:1: version 'v5.15' is invalid: version number does not start with digit",
            ),
        ] {
            assert_eq!(
                parse_version(text, "v").unwrap_err().to_string(),
                message,
                "{text:?}"
            );
        }
    }
}
