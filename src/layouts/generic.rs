//! A layout described by configuration, so other distributions work without
//! code changes:
//!
//! ```toml
//! references = "abi/{arch}/{flavour}.symvers"   # {arch} {featureset} {flavour}, * and **
//! format = "symvers"                            # symvers | debian-legacy | ubuntu
//! abi_file = "Makefile"                         # where the ABI name lives
//! abi_regex = '^ABI_NAME\s*=\s*(\S+)'           # first capture group is the name
//! ```
//!
//! Missing `{arch}` / `{featureset}` parts default to `any` / `none`.
//!
//! The ABI file is read strictly: a merge-conflict marker in it, a regex
//! that does not match, or a name that cannot be one (empty, white space)
//! is an error at that revision, never a guessed name; without the file
//! the revision has no name.
//!
//! A references directory is one the template's directory part matches
//! (`abi/x86` above). Every entry in one is read or reported
//! ([`super::Skipped`]): a file the template does not match, a symlink, a
//! submodule, a name that is not UTF-8, and, when the template has no
//! `**`, a directory (references are not deeper).
//!
//! A walk watches the directory before the first wildcard (`abi` above) and
//! the ABI file: a commit changing neither costs a tree lookup for each. A
//! template starting with a wildcard makes the whole tree that directory,
//! so every commit is then read.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use super::{
    EntryKind, FlavourSource, LayoutError, LayoutSpec, Reader, Remedy, SkipReason, Skipped,
    Snapshot, Storage, TreeSource, abi_name, join, read_text, without_conflicts,
};
use crate::formats::Format;
use crate::ignore::IgnoreRules;
use crate::symbols::{AbiName, FlavourKey};

/// What the registry knows of a configured layout; it is built from its
/// configuration ([`super::Layout::generic`]), never named or detected.
pub static SPEC: LayoutSpec = LayoutSpec {
    name: "generic",
    help: "references and ABI name where a layout file (--generic-layout) says",
    remedy: Remedy {
        hidden_break: "bump the ABI name, and refresh the references only together with a new ABI name",
        ignore: Some(super::IgnoreHint {
            place: "the `ignore` list of the layout file (`--generic-layout`)",
            before: "ignore = [\"name:",
            after: "\"]\n",
        }),
        coverage_lost: "restore the reference files, or bump the ABI name if the flavour is gone for good",
        unchecked: "add the references of the new ABI name, or go back to the previous name if the ABI did not really change",
    },
};

/// The name of flavours when the revision names no ABI.
const UNNAMED: &str = "unnamed";

/// The configuration keys of a generic layout.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericConfig {
    /// Path template of reference files.
    pub references: String,
    /// Their line format.
    pub format: Format,
    /// File holding the ABI name.
    pub abi_file: Option<String>,
    /// Regex over `abi_file` (multi-line); capture group 1 is the name.
    /// Without it the trimmed file content is the name.
    pub abi_regex: Option<String>,
    /// Ignore-changes entries.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// A compiled generic layout.
#[derive(Clone, Debug)]
pub struct Generic {
    config: GenericConfig,
    prefix: String,
    pattern: Regex,
    /// Matches the references directories (the template's directory part).
    dirs: Regex,
    /// Whether references may be at any depth (`**` in the directory part).
    deep: bool,
    abi_regex: Option<Regex>,
    ignore: Arc<IgnoreRules>,
}

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[error("generic layout: {0}")]
pub struct GenericError(String);

impl Generic {
    /// Compiles a configuration.
    pub fn new(config: GenericConfig) -> Result<Generic, GenericError> {
        let references = config.references.as_str();
        let dir_part = references.rsplit_once('/').map_or("", |(dir, _)| dir);
        let first_wild = references.find(['{', '*']).unwrap_or(references.len());
        let prefix = references[..first_wild]
            .rsplit_once('/')
            .map_or(String::new(), |(dir, _)| dir.to_owned());
        let abi_regex = config
            .abi_regex
            .as_deref()
            .map(|r| Regex::new(&format!("(?m){r}")))
            .transpose()
            .map_err(|e| GenericError(format!("abi_regex: {e}")))?;
        let ignore = IgnoreRules::parse(config.ignore.iter().map(String::as_str))
            .map_err(|e| GenericError(e.to_string()))?;
        Ok(Generic {
            pattern: template_regex(references)?,
            dirs: template_regex(dir_part)?,
            deep: dir_part.contains("**"),
            prefix,
            abi_regex,
            ignore: Arc::new(ignore),
            config,
        })
    }

    /// The directory of the references and the ABI file decide everything.
    pub fn inputs(&self) -> Vec<String> {
        let mut inputs = vec![self.prefix.clone()];
        inputs.extend(self.config.abi_file.clone());
        inputs
    }

    /// Collects the references under `dir` into `out`, and the entries of
    /// references directories that are not read into `skipped`.
    fn walk(
        &self,
        tree: &dyn TreeSource,
        dir: &str,
        out: &mut Vec<(String, git2::Oid)>,
        skipped: &mut Vec<Skipped>,
    ) -> Result<(), LayoutError> {
        let in_references = self.dirs.is_match(dir);
        for entry in tree.list(dir)? {
            let path = entry.name().map(|name| join(dir, name));
            let unread = match (entry.kind, &path) {
                (EntryKind::Dir, Some(path)) if !in_references || self.deep => {
                    self.walk(tree, path, out, skipped)?;
                    continue;
                }
                (kind, Some(path)) if kind.is_file() && self.pattern.is_match(path) => {
                    out.push((path.clone(), entry.id));
                    continue;
                }
                (kind, Some(_)) if kind.is_file() => SkipReason::Name {
                    expected: self.config.references.clone(),
                },
                _ => entry.file_name().err().unwrap_or(SkipReason::NotUtf8),
            };
            if in_references {
                skipped.push(entry.skipped(dir, unread));
            }
        }
        Ok(())
    }

    /// The revision's ABI name from the text of `file`.
    fn abi_name(&self, text: &str, file: &str) -> Result<AbiName, LayoutError> {
        let text = without_conflicts(text, file)?;
        let Some(re) = &self.abi_regex else {
            return abi_name(text.trim().to_owned(), file, 0);
        };
        let found = re.captures(text).and_then(|c| c.get(1));
        let Some(found) = found else {
            return Err(LayoutError::config(
                file,
                0,
                format!("abi_regex `{}` finds no name", re.as_str()),
            ));
        };
        let line = text[..found.start()].matches('\n').count() + 1;
        abi_name(found.as_str().to_owned(), file, line)
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let abi = match &self.config.abi_file {
            Some(file) => match read_text(tree, file)? {
                Some(text) => Some(self.abi_name(&text, file)?),
                None => None,
            },
            None => None,
        };
        let unnamed = || AbiName::new(UNNAMED).expect("a valid name");
        let mut skipped = Vec::new();
        let mut files = Vec::new();
        self.walk(tree, &self.prefix, &mut files, &mut skipped)?;
        let mut flavours = BTreeMap::new();
        for (path, id) in files {
            let caps = self
                .pattern
                .captures(&path)
                .expect("walk kept matches only");
            let part = |name, default| caps.name(name).map_or(default, |m| m.as_str());
            let key = FlavourKey::new(
                part("arch", "any"),
                part("featureset", "none"),
                part("flavour", "default"),
            );
            flavours.insert(
                key,
                FlavourSource {
                    abi: abi.clone().unwrap_or_else(unnamed),
                    path,
                    id,
                    storage: Storage::File(Some(self.config.format)),
                    ignore: self.ignore.clone(),
                    symtypes: None,
                },
            );
        }
        Ok(Snapshot {
            abi,
            flavours,
            distribution: None,
            version: None,
            skipped,
        })
    }
}

impl Reader for Generic {
    fn inputs(&self) -> Vec<String> {
        Generic::inputs(self)
    }

    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        Generic::read(self, tree)
    }
}

/// A path template (`abi/{arch}/{flavour}.symvers`) as an anchored regex:
/// placeholders are named groups within one path segment, `*` any text in
/// a segment, `**` any text.
fn template_regex(template: &str) -> Result<Regex, GenericError> {
    let mut pattern = String::from("^");
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .ok_or_else(|| GenericError("unclosed `{` in references".into()))?;
            let name = &after[..end];
            if !["arch", "featureset", "flavour"].contains(&name) {
                return Err(GenericError(format!(
                    "unknown placeholder {{{name}}} (arch, featureset, flavour)"
                )));
            }
            pattern.push_str(&format!("(?P<{name}>[^/]+)"));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix("**") {
            pattern.push_str(".*");
            rest = after;
        } else if let Some(after) = rest.strip_prefix('*') {
            pattern.push_str("[^/]*");
            rest = after;
        } else {
            pattern.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    pattern.push('$');
    Regex::new(&pattern).map_err(|e| GenericError(e.to_string()))
}
