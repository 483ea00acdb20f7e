//! `timeline`: for every ABI name in a history, the distinct reference states
//! each flavour went through under it, and the commit that introduced each.
//! Several states under one name is the original complaint: different
//! kernels calling themselves "ABI 5".
//!
//! A new state is judged against the previous one under the name exactly as
//! `scan` judges a refresh ([`judge_refresh`]: the flavour's own ignore
//! rules), so the two commands give one verdict on one history. When the
//! name comes back (a bump reverted, a reference restored after it was
//! removed) the new state is judged against the name's first publication,
//! as `scan` does ([`Promises`]). A state identical to one the name already
//! had is a return to it, shown as such and never counted as another ABI.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::promises::{Consult, Promises};
use super::scan::judge_refresh;
use super::{CommitSha, RevisionError, Step};
use crate::compare::Summary;
use crate::layouts::FlavourSource;
use crate::symbols::{AbiName, FlavourKey, SymbolSet};

/// One state of a flavour's reference under an ABI name.
#[derive(Clone, Debug, Serialize)]
pub struct State {
    /// Git object id of the reference: the content hash.
    pub content: String,
    /// The commit that introduced it.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// Whether it is incompatible with the previous state under the name, or
    /// with the name's first publication when the name came back (always
    /// false for the first state and for a return).
    pub incompatible: bool,
    /// For a return to a state the name already had (a revert): the number
    /// of that state, counting the flavour's distinct states from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns_to: Option<usize>,
    /// The name the flavour had just before, when this name came back to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub came_back_from: Option<AbiName>,
    /// How many symbols the reference exports.
    pub symbols: usize,
    /// What changed against the state it was judged against (the previous
    /// state under the name, or the name's first publication when the name
    /// came back); absent for a name's first state and for a return.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Summary>,
}

/// One ABI name's history.
#[derive(Clone, Debug, Serialize)]
pub struct AbiHistory {
    /// The ABI name.
    pub abi: AbiName,
    /// States per flavour, oldest first; returns to an earlier state included.
    pub flavours: BTreeMap<String, Vec<State>>,
}

impl AbiHistory {
    /// How many different ABIs carried this name: the most distinct states
    /// (returns not counted) any flavour went through.
    pub fn distinct(&self) -> usize {
        self.flavours
            .values()
            .map(|states| distinct(states))
            .max()
            .unwrap_or(0)
    }
}

/// Distinct states among `states` (a return is not one).
pub fn distinct(states: &[State]) -> usize {
    states.iter().filter(|s| s.returns_to.is_none()).count()
}

/// Builds the timeline from a walk's steps.
#[derive(Default)]
pub struct Timeline {
    /// ABI names in order of first appearance.
    pub abis: Vec<AbiHistory>,
    /// Problems at single revisions (the walk went on), oldest first.
    pub errors: Vec<RevisionError>,
    /// What each name promised, to judge a name that comes back.
    promises: Promises,
}

impl Timeline {
    /// A timeline of a range that starts after the history `promises` were
    /// learnt from ([`super::Walker::promises_until`]): a return to a state
    /// published before the range is still a return.
    pub fn knowing(promises: Promises) -> Timeline {
        Timeline {
            promises,
            ..Timeline::default()
        }
    }

    /// Whether some name covered an incompatible change of state.
    pub fn has_incompatible(&self) -> bool {
        self.abis
            .iter()
            .flat_map(|a| a.flavours.values().flatten())
            .any(|s| s.incompatible)
    }

    /// Takes one commit's step.
    pub fn visit(&mut self, mut step: Step<'_>) {
        self.errors.append(&mut step.errors);
        if !step.touched {
            return;
        }
        for (key, source) in &step.state.sources {
            if step.state.broken.contains_key(key) {
                continue;
            }
            let content = source.id.to_string();
            let last = self.states(&source.abi, key).last();
            if last.is_some_and(|s| s.content == content) {
                continue;
            }
            let state = self.judge(&step, key, source, content);
            self.states(&source.abi, key).push(state);
        }
        for first in self.promises.record(&step.commit, step.state) {
            step.reload.prefer(first);
        }
    }

    /// The new state `source` of flavour `key` at `step`: a return when the
    /// name had it already, else judged against the parent's reference under
    /// the same name, or against the name's first publication when the name
    /// came back.
    fn judge(
        &mut self,
        step: &Step<'_>,
        key: &FlavourKey,
        source: &FlavourSource,
        content: String,
    ) -> State {
        let (abi, parent) = (&source.abi, step.parent);
        let known = !self.promises.states(key, abi).is_empty();
        let previous = parent.sources.get(key).filter(|p| p.abi == *abi);
        // The name just before: the flavour's, else the parent's (a name
        // without references for it).
        let before = parent.sources.get(key).map(|p| &p.abi);
        let came_back_from = before
            .or(parent.reference.abi.as_ref())
            .filter(|before| known && *before != abi)
            .cloned();
        let returns_to = self
            .promises
            .had(key, abi, source.id)
            .map(|earlier| earlier.index + 1);
        let new = step.state.reference.flavours.get(key);
        let old = match (returns_to, previous, new) {
            (None, Some(_), Some(_)) => parent.reference.flavours.get(key).cloned(),
            (None, None, Some(_)) if known => self.first_publication(step, key, source),
            _ => None,
        };
        let judged = old
            .zip(new)
            .map(|(old, new)| judge_refresh(&old, new, source));
        State {
            content,
            commit: step.commit.clone(),
            title: step.title.clone(),
            incompatible: judged.as_ref().is_some_and(|c| c.is_breaking()),
            returns_to,
            came_back_from,
            symbols: new.map_or(0, |set| set.len()),
            changes: judged.map(|c| c.summary),
        }
    }

    /// What `abi` first promised for `key`; reported as an error of the
    /// step when it cannot be loaded again.
    fn first_publication(
        &mut self,
        step: &Step<'_>,
        key: &FlavourKey,
        source: &FlavourSource,
    ) -> Option<Arc<SymbolSet>> {
        let mut known = Consult::new(&mut self.promises, step.reload, &step.commit);
        let first = known.first(key, &source.abi, &source.path);
        self.errors.append(&mut known.errors);
        first.map(|(set, _)| set)
    }

    /// The states of `key` under `abi`, the name added if new.
    fn states(&mut self, abi: &AbiName, key: &FlavourKey) -> &mut Vec<State> {
        let index = match self.abis.iter().position(|a| a.abi == *abi) {
            Some(i) => i,
            None => {
                self.abis.push(AbiHistory {
                    abi: abi.clone(),
                    flavours: BTreeMap::new(),
                });
                self.abis.len() - 1
            }
        };
        self.abis[index]
            .flavours
            .entry(key.to_string())
            .or_default()
    }
}
