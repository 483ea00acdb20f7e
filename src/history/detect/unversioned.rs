//! `unversioned`: a reference gained symbols with CRC `0x00000000`, which
//! the build check cannot verify.

use super::{Detector, Facts, FlavourFact};
use crate::findings::{Finding, FindingKind, FlavourChange};

/// Finds unversioned symbols in refreshed and new references.
#[derive(Debug, Default)]
pub struct Unversioned;

impl Detector for Unversioned {
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>) {
        let entries = facts.select(|key, fact| {
            let (source, c) = match fact {
                FlavourFact::Refreshed(c) | FlavourFact::Returned(c, _) => (c.new, &c.comparison),
                FlavourFact::Added { new, comparison } => (*new, comparison),
                _ => return None,
            };
            (c.summary.unversioned > 0)
                .then(|| FlavourChange::new(key, &source.path, Some(c.clone())))
        });
        out.extend(facts.finding(FindingKind::Unversioned, entries));
    }
}
