//! Red Hat's kABI stablelists: `redhat/kabi/kabi-module/kabi_<arch>/<symbol>`,
//! one file per guaranteed symbol. Only listed symbols are promised, so a
//! symbol leaving the list counts as removed.
//!
//! The ABI name is `RHEL_MAJOR.RHEL_MINOR` from `Makefile.rhelver` (the kABI
//! is promised per minor release); without it, `kabi`. Each arch is one
//! flavour, `<arch>_none_stablelist`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{FlavourSource, LayoutError, Snapshot, Storage, TreeSource, join, read_text};
use crate::formats::{self, ParseError, ParseErrorKind};
use crate::ignore::IgnoreRules;
use crate::symbols::{AbiName, FlavourKey, SymbolSet};

/// The Red Hat layout.
#[derive(Clone, Debug)]
pub struct Redhat {
    /// Directory holding `redhat/`.
    pub root: String,
}

const STABLELISTS: &str = "redhat/kabi/kabi-module";

/// `RHEL_MAJOR = 9` and `RHEL_MINOR = 4` -> `9.4`.
pub fn rhel_release(makefile: &str) -> Option<String> {
    let value = |key: &str| {
        makefile.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    Some(format!("{}.{}", value("RHEL_MAJOR")?, value("RHEL_MINOR")?))
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
        let release = read_text(tree, &join(&self.root, "Makefile.rhelver"))?
            .as_deref()
            .and_then(rhel_release)
            .unwrap_or_else(|| "kabi".to_owned());
        let abi = AbiName(release);
        let dir = join(&self.root, STABLELISTS);
        let mut flavours = BTreeMap::new();
        for entry in tree.list(&dir)? {
            let Some(arch) = entry.name.strip_prefix("kabi_").filter(|_| entry.is_dir) else {
                continue;
            };
            flavours.insert(
                FlavourKey::new(arch, "none", "stablelist"),
                FlavourSource {
                    abi: abi.clone(),
                    path: join(&dir, &entry.name),
                    id: entry.id,
                    storage: Storage::KabiDir,
                    ignore: Arc::new(IgnoreRules::default()),
                },
            );
        }
        Ok(Snapshot {
            abi: Some(abi),
            flavours,
            distribution: None,
        })
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
    #[test]
    fn release_from_makefile() {
        let text = "RHEL_MAJOR = 9\nRHEL_MINOR = 4\nRHEL_RELEASE = 427\n";
        assert_eq!(super::rhel_release(text).as_deref(), Some("9.4"));
        assert_eq!(super::rhel_release("RHEL_MAJOR = 9\n"), None);
    }
}
