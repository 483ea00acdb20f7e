//! `hidden-break`: under the same ABI name, references changed
//! incompatibly (after the flavour's ignore rules), or in a symbol a
//! watched module imports, whatever the rules say; or a name came back
//! with references incompatible with what it first promised.

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds hidden breaks.
#[derive(Debug, Default)]
pub struct HiddenBreak;

impl Detector for HiddenBreak {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let broken = facts.select(|_, fact| match fact {
            FlavourFact::Refreshed(c) if c.breaks() => Some((c, None)),
            FlavourFact::Returned(c, promise) if c.breaks() => Some((c, Some(promise))),
            _ => None,
        });
        let entries: Vec<Entry<'_>> = broken
            .iter()
            .map(|(key, (c, promise))| {
                let mut change = FlavourChange::new(key, &c.new.path, Some(c.comparison.clone()));
                if let Some(promise) = promise {
                    promise.describe(&mut change);
                }
                (*key, change)
            })
            .collect();
        let unchanged = facts.unchanged(&entries);
        let modules = facts.impacts(broken.iter().map(|(_, (c, _))| *c));
        // The name whose promise is broken (not the one a name came back from).
        let abi = broken.first().map(|(_, (c, _))| c.new.abi.clone());
        if let Some(mut finding) = facts.finding(FindingKind::HiddenBreak, entries) {
            finding.abi = abi.unwrap_or(finding.abi);
            finding.unchanged_flavours = unchanged;
            finding.breaks_modules = modules;
            out.push(finding);
        }
    }
}
