//! Red Hat's kABI stablelists: `redhat/kabi/kabi-module/kabi_<arch>/<symbol>`,
//! one file per guaranteed symbol. Only listed symbols are promised, so a
//! symbol leaving the list counts as removed.
//!
//! The ABI name is `RHEL_MAJOR.RHEL_MINOR` from `Makefile.rhelver` (the kABI
//! is promised per minor release); without the file, `kabi`. The file is
//! read as make reads assignments (`=`, `:=`, `?=`; `#` starts a comment;
//! the last assignment counts); a missing or empty `RHEL_MAJOR` or
//! `RHEL_MINOR`, a value that is not a number, or a merge-conflict marker
//! is an error at that revision. Each arch is one flavour,
//! `<arch>_none_stablelist`.
//!
//! Entries of `kabi-module/` other than `kabi_<arch>` directories, and
//! symlinks, submodules and directories inside a stablelist, are reported
//! ([`super::Skipped`]); the stablelist's files are read whatever their
//! names (the symbol is in the content).

use std::sync::Arc;

use super::{
    FlavourSource, LayoutError, LayoutSpec, Reader, Registered, Remedy, Snapshot, Storage,
    TreeSource, abi_name, join, read_text, without_conflicts,
};
use crate::formats::{self, ParseError, ParseErrorKind};
use crate::ignore::IgnoreRules;
use crate::symbols::{FlavourKey, SymbolSet};

/// What the registry knows of Red Hat's layout.
pub static SPEC: LayoutSpec = LayoutSpec {
    name: "redhat",
    help: "redhat/kabi/kabi-module/kabi_<arch>/<symbol>; the release from Makefile.rhelver",
    // kABI is promised for a whole minor release: no new name helps.
    remedy: Remedy {
        hidden_break: "a change to a stablelisted symbol breaks kABI, which holds for the whole minor release. Revert the change, or keep the symbol's CRC with the kABI workaround (the `RH_KABI_*` macros of `include/linux/rh_kabi.h`). The stablelists are in `redhat/kabi/kabi-module/kabi_<arch>/`",
        ignore: None,
        coverage_lost: "restore the stablelist entries under `redhat/kabi/kabi-module/kabi_<arch>/`: a symbol without an entry is not checked",
        unchecked: "restore the stablelists under `redhat/kabi/kabi-module/kabi_<arch>/` for the release in `Makefile.rhelver`: without them kABI is not checked",
    },
};

/// Red Hat in the registry.
pub const REGISTERED: Registered = Registered {
    spec: &SPEC,
    at: |root| {
        Arc::new(Redhat {
            root: root.to_owned(),
        })
    },
    detect: |tree, root| Ok(tree.id(&join(root, "redhat/kabi"))?.is_some()),
    looks_for: "redhat/kabi",
};

/// The Red Hat layout.
#[derive(Clone, Debug)]
pub struct Redhat {
    /// Directory holding `redhat/`.
    pub root: String,
}

const STABLELISTS: &str = "redhat/kabi/kabi-module";

/// `RHEL_MAJOR = 9` and `RHEL_MINOR = 4` in `makefile` (read from `path`)
/// -> `9.4`.
pub fn rhel_release(makefile: &str, path: &str) -> Result<String, LayoutError> {
    let makefile = without_conflicts(makefile, path)?;
    let bad = |line: usize, message: String| LayoutError::config(path, line, message);
    let mut parts = [("RHEL_MAJOR", None), ("RHEL_MINOR", None)];
    for (i, line) in makefile.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim_end().trim_end_matches([':', '?']).trim();
        if let Some(part) = parts.iter_mut().find(|(k, _)| *k == key) {
            part.1 = Some((value.trim().to_owned(), i + 1));
        }
    }
    let mut numbers = Vec::new();
    for (key, found) in parts {
        let Some((value, line)) = found else {
            return Err(bad(0, format!("no {key} assignment")));
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(line, format!("{key} is {value:?}, not a number")));
        }
        numbers.push(value);
    }
    Ok(numbers.join("."))
}

impl Redhat {
    /// The stablelist directory and `Makefile.rhelver` decide everything.
    pub fn inputs(&self) -> Vec<String> {
        vec![
            join(&self.root, STABLELISTS),
            join(&self.root, "Makefile.rhelver"),
        ]
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let makefile = join(&self.root, "Makefile.rhelver");
        let release = match read_text(tree, &makefile)? {
            Some(text) => rhel_release(&text, &makefile)?,
            None => "kabi".to_owned(),
        };
        let abi = abi_name(release, &makefile, 0)?;
        let dir = join(&self.root, STABLELISTS);
        let mut snapshot = Snapshot::default();
        for entry in tree.list(&dir)? {
            let arch = entry
                .dir_name()
                .and_then(|n| n.strip_prefix("kabi_"))
                .filter(|a| !a.is_empty());
            let Some(arch) = arch else {
                let reason = entry.unexpected("kabi_<arch>, a directory");
                snapshot.skipped.push(entry.skipped(&dir, reason));
                continue;
            };
            let path = join(&dir, &format!("kabi_{arch}"));
            for inside in tree.list(&path)? {
                if !inside.kind.is_file() {
                    let reason = inside.file_name().expect_err("not a file");
                    snapshot.skipped.push(inside.skipped(&path, reason));
                }
            }
            snapshot.flavours.insert(
                FlavourKey::new(arch, "none", "stablelist"),
                FlavourSource {
                    abi: abi.clone(),
                    path,
                    id: entry.id,
                    storage: Storage::KabiDir,
                    ignore: Arc::new(IgnoreRules::default()),
                    symtypes: None,
                },
            );
        }
        snapshot.abi = Some(abi);
        Ok(snapshot)
    }
}

impl Reader for Redhat {
    fn inputs(&self) -> Vec<String> {
        Redhat::inputs(self)
    }

    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        Redhat::read(self, tree)
    }
}

/// Parses the entries of one `kabi_<arch>` directory, given as (file name,
/// content), into one set. Errors name the entry file (`<dir>/<symbol>`) and
/// its line, never just the directory: with thousands of entries, the
/// directory alone does not say which file to fix.
pub fn parse_stablelist<'a>(
    dir: &str,
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<SymbolSet, ParseError> {
    let mut symbols = Vec::new();
    let mut places = Vec::new();
    for (name, bytes) in entries {
        let file = join(dir, name);
        let (entry, line) = formats::parse_kabi_line(bytes, &file)?;
        symbols.push(entry.symbol);
        places.push((file, line));
    }
    SymbolSet::from_symbols(symbols).map_err(|dup| {
        let (file, line) = places[dup.second].clone();
        let (first, first_line) = &places[dup.first];
        ParseError {
            file,
            line,
            kind: ParseErrorKind::DuplicateEntry {
                name: dup.name,
                first: format!("{first}:{first_line}"),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::rhel_release;

    #[test]
    fn release_from_makefile() {
        let text = "RHEL_MAJOR = 9\nRHEL_MINOR = 4 # minor\nRHEL_RELEASE = 427\n";
        assert_eq!(rhel_release(text, "m").unwrap(), "9.4");
        assert_eq!(
            rhel_release("RHEL_MAJOR := 10\nRHEL_MINOR ?= 0\n", "m").unwrap(),
            "10.0"
        );
        for (text, message) in [
            ("RHEL_MAJOR = 9\n", "m:0: no RHEL_MINOR assignment"),
            (
                "RHEL_MAJOR =\nRHEL_MINOR = 4\n",
                "m:1: RHEL_MAJOR is \"\", not a number",
            ),
            (
                "RHEL_MAJOR = 9\nRHEL_MINOR = four\n",
                "m:2: RHEL_MINOR is \"four\", not a number",
            ),
            (
                "<<<<<<< HEAD\nRHEL_MAJOR = 9\n=======\n",
                "m:1: merge-conflict marker `<<<<<<<`",
            ),
        ] {
            assert_eq!(
                rhel_release(text, "m").unwrap_err().to_string(),
                message,
                "{text:?}"
            );
        }
    }
}
