//! `hidden-break`: under the same ABI name, references changed
//! incompatibly (after the flavour's ignore rules), or in a symbol a
//! watched module imports, whatever the rules say.

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds hidden breaks.
#[derive(Debug, Default)]
pub struct HiddenBreak;

impl Detector for HiddenBreak {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let broken: Vec<_> = facts
            .flavours
            .iter()
            .filter_map(|(key, fact)| match fact {
                FlavourFact::Refreshed(c) if c.breaks() => Some((*key, c)),
                _ => None,
            })
            .collect();
        let entries: Vec<Entry<'_>> = broken
            .iter()
            .map(|(key, c)| {
                let change = FlavourChange::new(key, &c.new.path, Some(c.comparison.clone()));
                (*key, change)
            })
            .collect();
        let unchanged = facts.unchanged(&entries);
        let modules = facts.impacts(broken.iter().map(|(_, c)| *c));
        if let Some(mut finding) = facts.finding(FindingKind::HiddenBreak, entries) {
            finding.unchanged_flavours = unchanged;
            finding.breaks_modules = modules;
            out.push(finding);
        }
    }
}
