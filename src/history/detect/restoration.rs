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
        let mut abi = None;
        let entries: Vec<Entry<'_>> = facts
            .flavours
            .iter()
            .filter_map(|(key, fact)| match fact {
                FlavourFact::Restored { new, promise } => {
                    abi.get_or_insert_with(|| new.abi.clone());
                    let mut change = FlavourChange::new(key, &new.path, None);
                    promise.describe(&mut change);
                    Some((*key, change))
                }
                _ => None,
            })
            .collect();
        if let Some(mut finding) = facts.finding(FindingKind::Restoration, entries) {
            // The name whose promise is kept, not the one it came back from.
            finding.abi = abi.unwrap_or(finding.abi);
            out.push(finding);
        }
    }
}
