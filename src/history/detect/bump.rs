//! `bump`: the ABI name changed (informational). It was `needed` when a
//! new reference is incompatible with what the old name first promised
//! (its baseline), and it names the watched modules that must be rebuilt.

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds bumps.
#[derive(Debug, Default)]
pub struct Bump;

impl Detector for Bump {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let mut entries: Vec<Entry<'_>> = Vec::new();
        let mut renamed = Vec::new();
        for (key, fact) in &facts.flavours {
            match fact {
                FlavourFact::Renamed(c) => {
                    let change = FlavourChange::new(key, &c.new.path, Some(c.comparison.clone()));
                    entries.push((*key, change));
                    renamed.push(c);
                }
                FlavourFact::Unreferenced { old } => {
                    entries.push((*key, FlavourChange::new(key, &old.path, None)));
                }
                _ => {}
            }
        }
        let needed = renamed.iter().any(|c| c.comparison.is_breaking());
        let modules = facts.impacts(renamed.into_iter());
        if let Some(mut finding) = facts.finding(FindingKind::Bump, entries) {
            finding.new_abi = facts.state.reference.abi.clone();
            finding.bump_needed = Some(needed);
            finding.breaks_modules = modules;
            out.push(finding);
        }
    }
}
