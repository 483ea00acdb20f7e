//! `bump`: the ABI name changed (informational). It was `needed` when a
//! new reference is incompatible with what the old name first promised
//! (its baseline), and it names the watched modules that must be rebuilt.
//! Flavours left without a reference by the new name are not part of it:
//! they are `unchecked` (see [`super::unchecked`]).

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds bumps.
#[derive(Debug, Default)]
pub struct Bump;

impl Detector for Bump {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let renamed = facts.select(|_, fact| match fact {
            FlavourFact::Renamed(c) => Some(c),
            _ => None,
        });
        let entries: Vec<Entry<'_>> = renamed
            .iter()
            .map(|(key, c)| {
                let change = FlavourChange::new(key, &c.new.path, Some(c.comparison.clone()));
                (*key, change)
            })
            .collect();
        let needed = renamed.iter().any(|(_, c)| c.comparison.is_breaking());
        let modules = facts.impacts(renamed.iter().map(|(_, c)| *c));
        if let Some(mut finding) = facts.finding(FindingKind::Bump, entries) {
            finding.new_abi = facts.state.reference.abi.clone();
            finding.bump_needed = Some(needed);
            finding.breaks_modules = modules;
            out.push(finding);
        }
    }
}
