//! One detector per kind of finding. Each reads the [`Facts`] of a commit
//! (worked out once for all of them) and adds its findings; it may keep
//! state across commits (commits arrive oldest first). A new kind is a new
//! file here and one line in [`registry`].

pub mod bump;
pub mod coverage_lost;
pub mod facts;
pub mod hidden_break;
pub mod restoration;
pub mod unchecked;
pub mod unchecked_release;
pub mod unversioned;

pub use facts::{Compared, Entry, Facts, FlavourFact};

use crate::findings::Finding;
use crate::history::{CommitSha, RevState};

/// Finds one kind of finding, commit by commit.
pub trait Detector: Send {
    /// Adds its findings about the commit described by `facts` to `out`.
    fn detect(&mut self, facts: &Facts<'_>, out: &mut Vec<Finding>);

    /// Learns from a commit before the range being scanned (the daemon's
    /// earlier polls, `--since`), so its state is what a scan of the whole
    /// history would have: `commit` went from `parent` to `state`, both
    /// with their sources and ABI names but no parsed reference. Stateless
    /// detectors have nothing to learn.
    fn learn(&mut self, commit: &CommitSha, parent: &RevState, state: &RevState) {
        let _ = (commit, parent, state);
    }
}

/// Every detector, in the order a commit's findings are listed.
pub fn registry() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(hidden_break::HiddenBreak),
        Box::new(coverage_lost::CoverageLost),
        Box::new(unversioned::Unversioned),
        Box::new(bump::Bump),
        Box::new(restoration::Restoration),
        Box::new(unchecked::Unchecked),
        Box::new(unchecked_release::UncheckedRelease::default()),
    ]
}
