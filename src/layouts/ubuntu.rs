//! Ubuntu's layout: `debian.<branch>/abi/<arch>/<flavour>` with the ABI
//! version in `debian.<branch>/abi/version`, or the older
//! `debian.<branch>/abi/<version>/<arch>/<flavour>`.
//!
//! The ABI name is the version without its upload number
//! (`3.13.0-13.33` -> `3.13.0-13`). `abi.ignore` lists symbol names to
//! ignore; `<flavour>.ignore.abi` or `ignore.abi` in an arch directory switch
//! the check off for the flavour or the arch (every change is then ignored).
//! Sibling files with a dot (`generic.modules`, `generic.compiler`) are not
//! references. The branch is the one `debian/debian.env` names
//! (`DEBIAN=debian.master`), else the first `debian.*` with an `abi/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    FlavourSource, LayoutError, Snapshot, Storage, TreeError, TreeSource, join, read_text,
};
use crate::formats::Format;
use crate::ignore::{IgnoreRule, IgnoreRules};
use crate::symbols::{AbiName, FlavourKey};

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

impl Ubuntu {
    /// The `debian.<branch>` directory holding `abi/`.
    pub fn branch_dir(tree: &dyn TreeSource, root: &str) -> Result<Option<String>, TreeError> {
        if let Some(env) = tree.read(&join(root, "debian/debian.env"))? {
            let env = String::from_utf8_lossy(&env);
            if let Some(dir) = env.lines().find_map(|l| l.trim().strip_prefix("DEBIAN=")) {
                return Ok(Some(dir.trim().to_owned()));
            }
        }
        for entry in tree.list(root)? {
            if entry.is_dir
                && entry.name.starts_with("debian.")
                && tree
                    .id(&join(root, &format!("{}/abi", entry.name)))?
                    .is_some()
            {
                return Ok(Some(entry.name));
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

    /// The branch's `abi/` and `debian/debian.env` decide everything; before
    /// the branch is known, the whole packaging directory does.
    pub fn inputs(&self) -> Vec<String> {
        match &self.branch {
            Some(b) => vec![
                join(&self.root, &format!("{b}/abi")),
                join(&self.root, "debian/debian.env"),
            ],
            None => vec![self.root.clone()],
        }
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
        let (version, arch_parent) = match read_text(tree, &join(&abi_dir, "version"))? {
            Some(v) => (v.trim().to_owned(), abi_dir.clone()),
            None => {
                // Older trees keep one directory named after the version.
                let versioned = tree
                    .list(&abi_dir)?
                    .into_iter()
                    .filter(|e| {
                        e.is_dir && e.name.chars().next().is_some_and(|c| c.is_ascii_digit())
                    })
                    .map(|e| e.name)
                    .max();
                match versioned {
                    Some(v) => (v.clone(), join(&abi_dir, &v)),
                    None => return Ok(Snapshot::default()),
                }
            }
        };
        let abi = AbiName(abi_of_version(&version).to_owned());
        let mut names = IgnoreRules::default();
        for dir in [&abi_dir, &arch_parent] {
            let path = join(dir, "abi.ignore");
            if let Some(text) = read_text(tree, &path)? {
                let rules = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(IgnoreRule::exact_name)
                    .collect();
                names.extend(IgnoreRules::new(rules));
            }
        }
        let mut flavours = BTreeMap::new();
        for arch in tree.list(&arch_parent)?.into_iter().filter(|e| e.is_dir) {
            let arch_path = join(&arch_parent, &arch.name);
            let entries = tree.list(&arch_path)?;
            let has = |name: &str| entries.iter().any(|e| e.name == name);
            for entry in entries
                .iter()
                .filter(|e| !e.is_dir && !e.name.contains('.'))
            {
                let mut ignore = names.clone();
                let skip = format!("{}.ignore.abi", entry.name);
                for marker in [skip.as_str(), "ignore.abi"] {
                    if has(marker) {
                        let rule = IgnoreRule::parse("module:**").expect("valid");
                        let mut all = IgnoreRules::new(vec![rule]);
                        all.extend(IgnoreRules::new(vec![
                            IgnoreRule::parse("name:**").expect("valid"),
                        ]));
                        ignore.extend(all);
                    }
                }
                flavours.insert(
                    FlavourKey::new(&arch.name, "none", &entry.name),
                    FlavourSource {
                        abi: abi.clone(),
                        path: join(&arch_path, &entry.name),
                        id: entry.id,
                        storage: Storage::File(Some(Format::Ubuntu)),
                        ignore: Arc::new(ignore),
                    },
                );
            }
        }
        Ok(Snapshot {
            abi: Some(abi),
            flavours,
            distribution: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::abi_of_version;

    #[test]
    fn upload_number_is_not_part_of_the_abi() {
        assert_eq!(abi_of_version("3.13.0-13.33"), "3.13.0-13");
        assert_eq!(abi_of_version("5.18.0-0.0"), "5.18.0-0");
        assert_eq!(abi_of_version("5.18.0-7"), "5.18.0-7");
    }
}
