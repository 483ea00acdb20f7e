//! `unchecked-release` (a problem): a release made while flavours have no
//! references under the ABI name in force, though they had some under the
//! previous name. Debian's build check then passes without checking
//! anything, so a change that breaks modules built for the previous name
//! (a patch changing `struct nf_conn`, say) ships silently.
//!
//! A release is the commit where the changelog's distribution goes from
//! `UNRELEASED` (parent) to a suite (this commit). Which flavours lost
//! their check, and since which commit, is kept from commit to commit; the
//! references of a flavour arriving under the name in force clear it.

use std::collections::BTreeMap;

use super::facts::unreferenced;
use super::{Detector, Entry, Facts};
use crate::findings::{Finding, FindingKind, FlavourChange};
use crate::history::{CommitSha, RevState};
use crate::symbols::{AbiName, FlavourKey};

/// The distribution of a changelog entry still being prepared.
pub const UNRELEASED: &str = "UNRELEASED";

/// Why one flavour is not checked: since when, and under which name it was.
#[derive(Debug)]
struct Lapse {
    /// The commit that changed the name.
    since: CommitSha,
    /// The name the flavour had references under.
    checked_under: AbiName,
    /// Its last reference, under that name.
    path: String,
}

/// Finds releases made while flavours are unchecked.
#[derive(Debug, Default)]
pub struct UncheckedRelease {
    /// Flavours without a check, oldest lapse kept until references come.
    unchecked: BTreeMap<FlavourKey, Lapse>,
}

impl UncheckedRelease {
    /// Records the flavours whose check the commit from `parent` to `state`
    /// turned off, and forgets those that have a reference again.
    fn track(&mut self, commit: &CommitSha, parent: &RevState, state: &RevState) {
        for (key, old) in unreferenced(parent, state) {
            let lapse = Lapse {
                since: commit.clone(),
                checked_under: old.abi.clone(),
                path: old.path.clone(),
            };
            self.unchecked.entry(key.clone()).or_insert(lapse);
        }
        self.unchecked
            .retain(|key, _| !state.sources.contains_key(key));
    }
}

/// Whether the commit from `parent` to `state` releases: the changelog's
/// distribution goes from `UNRELEASED` to a suite.
pub fn is_release(parent: &RevState, state: &RevState) -> bool {
    parent.distribution.as_deref() == Some(UNRELEASED)
        && state
            .distribution
            .as_deref()
            .is_some_and(|d| d != UNRELEASED)
}

impl Detector for UncheckedRelease {
    fn learn(&mut self, commit: &CommitSha, parent: &RevState, state: &RevState) {
        self.track(commit, parent, state);
    }

    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        self.track(facts.commit, facts.parent, facts.state);
        if !is_release(facts.parent, facts.state) {
            return;
        }
        // One finding per lapse: flavours that lost their check together.
        let mut groups: BTreeMap<(&CommitSha, &AbiName), Vec<Entry<'_>>> = BTreeMap::new();
        for (key, lapse) in &self.unchecked {
            let change = FlavourChange::new(key, &lapse.path, None);
            groups
                .entry((&lapse.since, &lapse.checked_under))
                .or_default()
                .push((key, change));
        }
        for ((since, checked_under), entries) in groups {
            if let Some(mut finding) = facts.finding(FindingKind::UncheckedRelease, entries) {
                finding.abi = checked_under.clone();
                finding.new_abi = facts.state.reference.abi.clone();
                finding.unchecked_since = Some(since.clone());
                out.push(finding);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(distribution: Option<&str>) -> RevState {
        RevState {
            distribution: distribution.map(str::to_owned),
            ..RevState::default()
        }
    }

    #[test]
    fn a_release_is_unreleased_then_a_suite() {
        let unreleased = at(Some(UNRELEASED));
        assert!(is_release(&unreleased, &at(Some("bookworm-security"))));
        assert!(!is_release(&unreleased, &unreleased));
        // A suite kept, a first entry, a layout without a changelog.
        assert!(!is_release(&at(Some("bookworm")), &at(Some("bookworm"))));
        assert!(!is_release(&at(None), &at(Some("bookworm"))));
        assert!(!is_release(&unreleased, &at(None)));
    }
}
