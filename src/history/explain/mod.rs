//! Explaining hidden breaks: when a layout keeps symtypes beside each
//! flavour's reference (SUSE's `kabi/<arch>/symtypes-<flavour>`), every
//! flavour of a `hidden-break` finding gets the type changes behind its CRC
//! changes ([`crate::explain`]), as plain data on its [`FlavourChange`].
//!
//! Only the exports whose CRC changed against the parent, and whose change
//! the flavour's rules do not tolerate, are explained: the rest are not
//! what the finding is about. A flavour judged against an earlier
//! publication (an ABI name that came back) is left unexplained: its old
//! side is not the parent's. A symtypes file that cannot be read or parsed
//! is a warning of the commit naming the file; the finding stays.

use std::collections::HashSet;

use super::cache::Reload;
use super::{CommitSha, RevState, RevisionError, Severity};
use crate::explain::{Explanation, explain_only};
use crate::findings::{Finding, FindingKind, FlavourChange};
use crate::layouts::{FlavourSource, SymtypesSource};
use crate::symbols::{FlavourKey, SymbolSet};
use crate::symtypes::{Symtypes, load_bytes};

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

/// Attaches explanations to the flavours of the hidden breaks in
/// `findings` found at a commit; returns the problems met, as warnings.
pub fn attach(findings: &mut [Finding], step: Sides<'_>) -> Vec<RevisionError> {
    let mut errors = Vec::new();
    let breaks = findings
        .iter_mut()
        .filter(|f| f.kind == FindingKind::HiddenBreak);
    for change in breaks.flat_map(|f| f.flavours.iter_mut()) {
        if change.published.is_some() || change.came_back_from.is_some() {
            continue;
        }
        match explain_flavour(change, &step) {
            Ok(explanation) => change.explanation = explanation.map(Box::new),
            Err(error) => errors.push(error),
        }
    }
    errors
}

/// The explanation of one flavour of a hidden break, if both sides have
/// symtypes and some CRC change is not tolerated.
fn explain_flavour(
    change: &FlavourChange,
    step: &Sides<'_>,
) -> Result<Option<Explanation>, RevisionError> {
    let Some((key, new_source)) = find_source(step.state, &change.flavour) else {
        return Ok(None);
    };
    let Some(old_source) = step.parent.sources.get(key) else {
        return Ok(None);
    };
    let (Some(old_types), Some(new_types)) = (&old_source.symtypes, &new_source.symtypes) else {
        return Ok(None);
    };
    let (Some(old_set), Some(new_set)) = (
        step.parent.reference.flavours.get(key),
        step.state.reference.flavours.get(key),
    ) else {
        return Ok(None);
    };
    let changed = crc_breaks(old_set, new_set, new_source);
    if changed.is_empty() {
        return Ok(None);
    }
    let old = load(*step, old_types, "^")?;
    let new = load(*step, new_types, "")?;
    let keep = |name: &str| changed.contains(name);
    Ok(Some(explain_only(&old, &new, &keep)))
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
    old.iter()
        .filter_map(|o| Some((o, new.get(&o.name)?)))
        .filter(|(o, n)| o.crc != n.crc)
        .filter(|(o, n)| {
            let rule = source.ignore.deciding(Some(o), Some(n));
            !rule.is_some_and(|r| r.tolerates())
        })
        .map(|(o, _)| o.name.clone())
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
