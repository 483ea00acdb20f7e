//! Explaining hidden breaks: every flavour of a `hidden-break` finding gets
//! the type changes behind its CRC changes ([`crate::explain`]), as plain
//! data on its [`FlavourChange`], from the first of:
//! - symtypes the layout keeps beside each flavour's reference (SUSE's
//!   `kabi/<arch>/symtypes-<flavour>`), read from the repository;
//! - build output outside the repository, configured per repository as
//!   path templates ([`source`]: symtypes, then debug info), filled for the
//!   commit that wrote each side's reference ([`Explainer`] keeps track of
//!   them).
//!
//! Only the exports whose CRC changed against the parent, and whose change
//! the flavour's rules do not tolerate, are explained: the rest are not
//! what the finding is about. A flavour judged against an earlier
//! publication (an ABI name that came back) is left unexplained: its old
//! side is not the parent's. A source that cannot be read or parsed, or a
//! configured file that is missing, is a warning of the commit naming the
//! file; the finding stays.

pub mod source;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use git2::Oid;

use super::cache::Reload;
use super::{CommitSha, RevState, RevisionError, Severity};
use crate::explain::{Explanation, explain_only};
use crate::findings::{Finding, FindingKind, FlavourChange};
use crate::layouts::{FlavourSource, SymtypesSource};
use crate::symbols::{FlavourKey, SymbolSet};
use crate::symtypes::{Symtypes, load_bytes};
use source::{BuildSources, Side};

/// One commit's sides, as its [`super::Step`] lends them.
#[derive(Clone, Copy)]
pub struct Sides<'a> {
    /// The commit.
    pub commit: &'a CommitSha,
    /// Its first parent's reference set.
    pub parent: &'a RevState,
    /// Its own.
    pub state: &'a RevState,
    /// The walk's repository access.
    pub reload: Reload<'a>,
}

/// The commit that wrote a flavour's reference, and its changelog version.
#[derive(Clone, Debug)]
struct Written {
    id: Oid,
    commit: CommitSha,
    version: Option<String>,
}

/// A walk's explainer: the configured sources, and for each flavour the
/// commit that wrote its current reference (the old side of its next
/// break), learnt from every commit touching the layout, in order.
#[derive(Debug, Default)]
pub struct Explainer {
    sources: BuildSources,
    written: BTreeMap<FlavourKey, Written>,
}

impl Explainer {
    /// An explainer using `sources` besides the layout's own symtypes.
    pub fn new(sources: BuildSources) -> Explainer {
        Explainer {
            sources,
            written: BTreeMap::new(),
        }
    }

    /// Learns which references `state`, at `commit`, wrote (only needed
    /// when sources are configured).
    pub fn record(&mut self, commit: &CommitSha, state: &RevState) {
        if self.sources.is_empty() {
            return;
        }
        self.written
            .retain(|key, _| state.sources.contains_key(key));
        for (key, source) in &state.sources {
            if self.written.get(key).is_none_or(|w| w.id != source.id) {
                let written = Written {
                    id: source.id,
                    commit: commit.clone(),
                    version: state.version.clone(),
                };
                self.written.insert(key.clone(), written);
            }
        }
    }

    /// Attaches explanations to the flavours of the hidden breaks in
    /// `findings` found at a commit; returns the problems met, as
    /// warnings. Call before [`Explainer::record`] of the same commit.
    pub fn attach(&self, findings: &mut [Finding], step: Sides<'_>) -> Vec<RevisionError> {
        let mut errors = Vec::new();
        let breaks = findings
            .iter_mut()
            .filter(|f| f.kind == FindingKind::HiddenBreak);
        for change in breaks.flat_map(|f| f.flavours.iter_mut()) {
            if change.published.is_some() || change.came_back_from.is_some() {
                continue;
            }
            let explanation = self.explain_flavour(change, &step, &mut errors);
            change.explanation = explanation.map(Box::new);
        }
        errors
    }

    /// The explanation of one flavour of a hidden break, if both sides have
    /// type data and some CRC change is not tolerated.
    fn explain_flavour(
        &self,
        change: &FlavourChange,
        step: &Sides<'_>,
        errors: &mut Vec<RevisionError>,
    ) -> Option<Explanation> {
        let (key, new_source) = find_source(step.state, &change.flavour)?;
        let old_source = step.parent.sources.get(key)?;
        let in_tree = old_source.symtypes.is_some() && new_source.symtypes.is_some();
        if !in_tree && self.sources.is_empty() {
            return None;
        }
        let old_set = step.parent.reference.flavours.get(key)?;
        let new_set = step.state.reference.flavours.get(key)?;
        let changed = crc_breaks(old_set, new_set, new_source);
        if changed.is_empty() {
            return None;
        }
        let (old, new) = match (&old_source.symtypes, &new_source.symtypes) {
            (Some(old_types), Some(new_types)) => {
                let old = load(*step, old_types, "^")
                    .map_err(|e| errors.push(e))
                    .ok()?;
                let new = load(*step, new_types, "")
                    .map_err(|e| errors.push(e))
                    .ok()?;
                (Arc::new(old), Arc::new(new))
            }
            _ => self.configured(key, (old_set, new_set), step, errors)?,
        };
        let keep = |name: &str| changed.contains(name);
        Some(explain_only(&old, &new, &keep))
    }

    /// Both sides' type sets from the configured sources, each filled for
    /// the commit that wrote that side's reference.
    fn configured(
        &self,
        key: &FlavourKey,
        (old_set, new_set): (&SymbolSet, &SymbolSet),
        step: &Sides<'_>,
        errors: &mut Vec<RevisionError>,
    ) -> Option<source::Pair> {
        if self.sources.is_empty() {
            return None;
        }
        let abi = &step.state.sources.get(key)?.abi;
        let warn = |path: String, message: String| RevisionError {
            commit: step.commit.clone(),
            path,
            message,
            severity: Severity::Warning,
        };
        let old_id = step.parent.sources.get(key)?.id;
        let Some(old) = self.written.get(key).filter(|w| w.id == old_id) else {
            let why = "the commit that wrote the parent's reference is not known (a merge's other parent?): not explained";
            errors.push(warn(key.to_string(), why.to_owned()));
            return None;
        };
        let old = Side {
            commit: &old.commit,
            version: old.version.as_deref(),
            abi,
            key,
            reference: old_set,
        };
        let new = Side {
            commit: step.commit,
            version: step.state.version.as_deref(),
            reference: new_set,
            ..old
        };
        let (pair, problems) = self.sources.pair(&old, &new);
        errors.extend(problems.into_iter().map(|p| warn(p.path, p.message)));
        pair
    }
}

/// The flavour called `name` in `state`, with its source.
fn find_source<'s>(state: &'s RevState, name: &str) -> Option<(&'s FlavourKey, &'s FlavourSource)> {
    state
        .sources
        .iter()
        .find(|(key, _)| key.to_string() == name)
}

/// Exports in both sets whose CRC differs and whose change the flavour's
/// rules do not tolerate.
fn crc_breaks(old: &SymbolSet, new: &SymbolSet, source: &FlavourSource) -> HashSet<String> {
    // Both sets are sorted by name: one merge, not a search per symbol.
    let mut new = new.iter().peekable();
    old.iter()
        .filter_map(|o| {
            while new.next_if(|n| n.name.as_str() < o.name.as_str()).is_some() {}
            Some((o, new.next_if(|n| n.name == o.name)?))
        })
        .filter(|(o, n)| o.crc != n.crc)
        .filter(|(o, n)| {
            let rule = source.ignore.deciding(Some(o), Some(n));
            !rule.is_some_and(|r| r.tolerates())
        })
        .map(|(o, _)| o.name.to_string())
        .collect()
}

/// Reads and parses a symtypes blob; `suffix` after the commit names the
/// revision in errors (`^` for the parent, as git spells it).
fn load(step: Sides<'_>, source: &SymtypesSource, suffix: &str) -> Result<Symtypes, RevisionError> {
    let name = format!("{}{suffix}:{}", step.commit, source.path);
    let warning = |message: String| RevisionError {
        commit: step.commit.clone(),
        path: source.path.clone(),
        message,
        severity: Severity::Warning,
    };
    let bytes = step
        .reload
        .blob(source.id)
        .map_err(|e| warning(format!("reading symtypes {name}: {}", e.message())))?;
    load_bytes(&name, &bytes).map_err(|e| warning(format!("symtypes not explained: {e}")))
}
