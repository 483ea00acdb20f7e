//! `unchecked` (informational): the ABI name in force changed to one that
//! has no references for flavours that had them under the previous name.
//! Their build check is off: Debian's prints "Can't read ABI reference.
//! ABI not checked!" and passes. That is the normal state of a bump being
//! prepared (the references of the new name come with its upload); a
//! release made in that state is [`super::unchecked_release`]'s.

use super::{Detector, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds flavours whose check a change of name turned off.
#[derive(Debug, Default)]
pub struct Unchecked;

impl Detector for Unchecked {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let entries = facts.select(|key, fact| match fact {
            FlavourFact::Unreferenced { old } => Some(FlavourChange::new(key, &old.path, None)),
            _ => None,
        });
        if let Some(mut finding) = facts.finding(FindingKind::Unchecked, entries) {
            finding.new_abi = facts.state.reference.abi.clone();
            out.push(finding);
        }
    }
}
