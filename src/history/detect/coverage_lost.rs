//! `coverage-lost`: under the same ABI name, a flavour's reference
//! disappeared (its build check no longer runs).

use std::collections::BTreeMap;

use super::{Detector, Entry, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};
use crate::history::RevState;

/// Finds lost coverage.
#[derive(Debug, Default)]
pub struct CoverageLost;

impl Detector for CoverageLost {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let lost = facts.select(|key, fact| match fact {
            FlavourFact::Lost { old } => Some(FlavourChange::new(key, &old.path, None)),
            _ => None,
        });
        let unchanged = facts.unchanged(&lost);
        let featuresets = whole_featuresets(&lost, facts.parent);
        if let Some(mut finding) = facts.finding(FindingKind::CoverageLost, lost) {
            finding.unchanged_flavours = unchanged;
            finding.lost_featuresets = featuresets;
            out.push(finding);
        }
    }
}

/// Featuresets (per arch) whose every flavour is among `lost`.
fn whole_featuresets(lost: &[Entry<'_>], parent: &RevState) -> Vec<String> {
    let mut groups: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for key in parent.sources.keys() {
        groups.entry((&key.arch, &key.featureset)).or_default().0 += 1;
    }
    for (key, _) in lost {
        if let Some(g) = groups.get_mut(&(key.arch.as_str(), key.featureset.as_str())) {
            g.1 += 1;
        }
    }
    groups
        .into_iter()
        .filter(|(_, (all, gone))| all == gone)
        .map(|((arch, fs), _)| format!("{arch} {fs}"))
        .collect()
}
