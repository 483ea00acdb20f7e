//! `timeline`: for every ABI name in a history, the distinct reference states
//! each flavour went through under it, and the commit that introduced each.
//! Several states under one name is the original complaint: different
//! kernels calling themselves "ABI 5".
//!
//! A new state is judged against the previous one exactly as `scan` judges
//! a refresh ([`judge_refresh`]: the flavour's own ignore rules), so the two
//! commands give one verdict on one history.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scan::judge_refresh;
use super::{CommitSha, RevisionError, Step};
use crate::symbols::AbiName;

/// One state of a flavour's reference under an ABI name.
#[derive(Clone, Debug, Serialize)]
pub struct State {
    /// Git object id of the reference: the content hash.
    pub content: String,
    /// The commit that introduced it.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// Whether it is incompatible with the previous state (always false for the first).
    pub incompatible: bool,
}

/// One ABI name's history.
#[derive(Clone, Debug, Serialize)]
pub struct AbiHistory {
    /// The ABI name.
    pub abi: AbiName,
    /// States per flavour, oldest first.
    pub flavours: BTreeMap<String, Vec<State>>,
}

impl AbiHistory {
    /// How many different ABIs carried this name: the most states any
    /// flavour went through.
    pub fn distinct(&self) -> usize {
        self.flavours.values().map(Vec::len).max().unwrap_or(0)
    }
}

/// Builds the timeline from a walk's steps.
#[derive(Default)]
pub struct Timeline {
    /// ABI names in order of first appearance.
    pub abis: Vec<AbiHistory>,
    /// Problems at single revisions (the walk went on), oldest first.
    pub errors: Vec<RevisionError>,
}

impl Timeline {
    /// Whether some name covered an incompatible change of state.
    pub fn has_incompatible(&self) -> bool {
        self.abis
            .iter()
            .flat_map(|a| a.flavours.values().flatten())
            .any(|s| s.incompatible)
    }

    /// Takes one commit's step.
    pub fn visit(&mut self, step: Step<'_>) {
        self.errors.extend(step.errors);
        if !step.touched {
            return;
        }
        for (key, source) in &step.state.sources {
            if step.state.broken.contains_key(key) {
                continue;
            }
            let index = match self.abis.iter().position(|a| a.abi == source.abi) {
                Some(i) => i,
                None => {
                    self.abis.push(AbiHistory {
                        abi: source.abi.clone(),
                        flavours: BTreeMap::new(),
                    });
                    self.abis.len() - 1
                }
            };
            let states = self.abis[index]
                .flavours
                .entry(key.to_string())
                .or_default();
            let content = source.id.to_string();
            if states.last().is_some_and(|s| s.content == content) {
                continue;
            }
            let incompatible = match (
                states.last(),
                step.parent.reference.flavours.get(key),
                step.state.reference.flavours.get(key),
            ) {
                (Some(_), Some(old), Some(new)) => judge_refresh(old, new, source).is_breaking(),
                _ => false,
            };
            states.push(State {
                content,
                commit: step.commit.clone(),
                title: step.title.clone(),
                incompatible,
            });
        }
    }
}
