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
//! A walk watches the directory before the first wildcard (`abi` above) and
//! the ABI file: a commit changing neither costs a tree lookup for each. A
//! template starting with a wildcard makes the whole tree that directory,
//! so every commit is then read.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use super::{FlavourSource, LayoutError, Snapshot, Storage, TreeSource, read_text};
use crate::formats::Format;
use crate::ignore::IgnoreRules;
use crate::symbols::{AbiName, FlavourKey};

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
        let mut pattern = String::from("^");
        let mut rest = config.references.as_str();
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
        let first_wild = config
            .references
            .find(['{', '*'])
            .unwrap_or(config.references.len());
        let prefix = config.references[..first_wild]
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
            pattern: Regex::new(&pattern).map_err(|e| GenericError(e.to_string()))?,
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

    fn walk(
        &self,
        tree: &dyn TreeSource,
        dir: &str,
        out: &mut Vec<(String, git2::Oid)>,
    ) -> Result<(), LayoutError> {
        for entry in tree.list(dir)? {
            let path = super::join(dir, &entry.name);
            if entry.is_dir {
                self.walk(tree, &path, out)?;
            } else if self.pattern.is_match(&path) {
                out.push((path, entry.id));
            }
        }
        Ok(())
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let abi = match &self.config.abi_file {
            None => None,
            Some(file) => read_text(tree, file)?.and_then(|text| match &self.abi_regex {
                Some(re) => re
                    .captures(&text)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_owned()),
                None => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            }),
        }
        .map(AbiName);
        let mut files = Vec::new();
        self.walk(tree, &self.prefix, &mut files)?;
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
                    abi: abi.clone().unwrap_or_else(|| AbiName("unnamed".into())),
                    path,
                    id,
                    storage: Storage::File(Some(self.config.format)),
                    ignore: self.ignore.clone(),
                },
            );
        }
        Ok(Snapshot {
            abi,
            flavours,
            distribution: None,
        })
    }
}
