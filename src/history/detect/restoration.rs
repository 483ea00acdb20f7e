//! `restoration`: a reference identical to one its ABI name already had (a
//! revert of a refresh, a reverted bump whose references came back with
//! it, a reference put back): the name keeps a promise it made before.
//! Informational, never a hidden break, so nobody is asked about the fix.

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds restorations.
#[derive(Debug, Default)]
pub struct Restoration;

impl Detector for Restoration {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let restored = facts.select(|_, fact| match fact {
            FlavourFact::Restored { new, promise } => Some((*new, promise)),
            _ => None,
        });
        // The name whose promise is kept, not the one it came back from.
        let abi = restored.first().map(|(_, (new, _))| new.abi.clone());
        let entries: Vec<Entry<'_>> = restored
            .into_iter()
            .map(|(key, (new, promise))| {
                let mut change = FlavourChange::new(key, &new.path, None);
                promise.describe(&mut change);
                (key, change)
            })
            .collect();
        if let Some(mut finding) = facts.finding(FindingKind::Restoration, entries) {
            finding.abi = abi.unwrap_or(finding.abi);
            out.push(finding);
        }
    }
}
