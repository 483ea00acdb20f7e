//! What one commit did to each flavour, worked out once for every detector:
//! the old and new reference of each flavour, their comparison (a refresh
//! judged with the flavour's own ignore rules, a renamed flavour against
//! what its old name first promised, a name that comes back against what it
//! first promised, a reference the name already had as a restoration), the
//! watched modules it breaks, the layout and the ABI names.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::compare::{Comparison, compare, compare_keeping};
use crate::findings::{Finding, FindingKind, FlavourChange, ModuleImpact, finding_id};
use crate::history::cache::Reload;
use crate::history::promises::{Consult, Promised, Promises};
use crate::history::scan::{KEPT_CHANGES_PER_KIND, WatchedModule, judge_refresh};
use crate::history::{CommitSha, RevState, RevisionError};
use crate::ignore::IgnoreRules;
use crate::layouts::{FlavourSource, Layout, LayoutKind};
use crate::symbols::{AbiName, FlavourKey, SymbolSet};

/// How many symbols of a module impact are named.
const NAMED_IMPORTS: usize = 10;

/// One flavour's part in a finding, with its key.
pub type Entry<'a> = (&'a FlavourKey, FlavourChange);

/// A reference compared with an earlier one of the same flavour.
pub struct Compared<'a> {
    /// Its source after the commit.
    pub new: &'a FlavourSource,
    /// The comparison (changes kept up to [`KEPT_CHANGES_PER_KIND`]).
    pub comparison: Arc<Comparison>,
    /// For each watched module (in order), its imports that break.
    pub broken_imports: Vec<BTreeSet<String>>,
}

impl Compared<'_> {
    /// Whether the change breaks the promise: incompatible after the ignore
    /// rules, or in a symbol a watched module imports (a change the
    /// maintainers ignore still stops a module that imports it).
    pub fn breaks(&self) -> bool {
        self.comparison.is_breaking() || self.broken_imports.iter().any(|b| !b.is_empty())
    }
}

/// What a commit did to one flavour's reference (unchanged flavours and
/// flavours whose reference fails to parse have none).
pub enum FlavourFact<'a> {
    /// Same ABI name, the reference changed (or was repaired): compared
    /// with the parent's, under the flavour's ignore rules.
    Refreshed(Compared<'a>),
    /// Same ABI name, the reference disappeared.
    Lost {
        /// Where it was.
        old: &'a FlavourSource,
    },
    /// The ABI name changed and the flavour has no reference under the new
    /// one: the build check no longer runs for it.
    Unreferenced {
        /// Where its reference was, under the old name.
        old: &'a FlavourSource,
    },
    /// The ABI name changed: the new reference compared with what the old
    /// name first promised (its baseline).
    Renamed(Compared<'a>),
    /// The reference is a state its ABI name already had (a revert, a
    /// reverted bump with its references, a reference put back): a
    /// restoration, whatever the parent held.
    Restored {
        /// Its source.
        new: &'a FlavourSource,
        /// The state restored.
        promise: Promised,
    },
    /// The ABI name came back to the flavour (a bump reverted, a reference
    /// put back after it was removed) with a reference it never had:
    /// compared with what the name first promised.
    Returned(Compared<'a>, Promised),
    /// A flavour that had no reference before: compared with nothing.
    Added {
        /// Its source.
        new: &'a FlavourSource,
        /// Every symbol added.
        comparison: Arc<Comparison>,
    },
}

/// What the detectors know of one commit.
pub struct Facts<'a> {
    /// The repository's name (part of finding ids).
    pub repo: &'a str,
    /// The commit.
    pub commit: &'a CommitSha,
    /// Its title.
    pub title: &'a str,
    /// The first parent's reference set.
    pub parent: &'a RevState,
    /// This commit's.
    pub state: &'a RevState,
    /// The layout (of the commit, else of its parent; Generic, whose advice
    /// is neutral, when neither has one).
    pub layout: LayoutKind,
    /// What happened to each flavour, in flavour order.
    pub flavours: BTreeMap<&'a FlavourKey, FlavourFact<'a>>,
    /// The watched modules.
    pub modules: &'a [WatchedModule],
    /// Problems met working the facts out (an earlier publication that no
    /// longer loads), as errors of the commit.
    pub errors: Vec<RevisionError>,
}

impl<'a> Facts<'a> {
    /// Works out what the commit from `parent` to `state` did, consulting
    /// what each ABI name promised before (first publications reloaded
    /// through `reload` when let go).
    pub fn new(
        repo: &'a str,
        commit: &'a CommitSha,
        title: &'a str,
        (parent, state): (&'a RevState, &'a RevState),
        (promises, reload): (&mut Promises, Reload<'_>),
        modules: &'a [WatchedModule],
    ) -> Facts<'a> {
        let layout = state.layout.as_ref().or(parent.layout.as_ref());
        let mut facts = Facts {
            repo,
            commit,
            title,
            parent,
            state,
            layout: layout.map_or(LayoutKind::GENERIC, Layout::kind),
            flavours: BTreeMap::new(),
            modules,
            errors: Vec::new(),
        };
        let mut known = Consult::new(promises, reload, commit);
        let keys: BTreeSet<&FlavourKey> =
            parent.sources.keys().chain(state.sources.keys()).collect();
        let keys: Vec<&FlavourKey> = keys.into_iter().collect();
        for chunk in keys.chunks(known.jobs()) {
            let judged: Vec<_> = chunk
                .iter()
                .filter_map(|key| Some((*key, facts.judged_against(key, &known)?)))
                .collect();
            known.warm(&judged);
            for key in chunk {
                if let Some(fact) = facts.fact(key, &mut known) {
                    facts.flavours.insert(key, fact);
                }
            }
        }
        facts.errors = known.errors;
        facts
    }

    /// The ABI name whose first publication [`Facts::fact`] will judge
    /// flavour `key` against, if any: the name that comes back to it, else
    /// the name it had before a rename (none for a restoration, a refresh
    /// under the same name or a flavour new to every name).
    fn judged_against(&self, key: &FlavourKey, known: &Consult<'_>) -> Option<&'a AbiName> {
        let new = self.state.sources.get(key)?;
        let old = self.parent.sources.get(key);
        if self.state.broken.contains_key(key)
            || old.is_some_and(|old| old.abi == new.abi)
            || known.restored(key, new, None).is_some()
        {
            return None;
        }
        if known.covered(key, &new.abi) {
            return Some(&new.abi);
        }
        old.map(|old| &old.abi)
    }

    /// What happened to flavour `key`, if anything.
    fn fact(&self, key: &'a FlavourKey, known: &mut Consult<'_>) -> Option<FlavourFact<'a>> {
        let (parent, state) = (self.parent, self.state);
        if state.broken.contains_key(key) {
            return None;
        }
        let old = parent
            .sources
            .get(key)
            .zip(parent.reference.flavours.get(key));
        let new = state
            .sources
            .get(key)
            .zip(state.reference.flavours.get(key));
        Some(match (old, new) {
            (Some((os, oset)), Some((ns, nset))) if os.abi == ns.abi => {
                if os.id == ns.id && !parent.broken.contains_key(key) {
                    return None;
                }
                if let Some(promise) = known.restored(key, ns, None) {
                    return Some(FlavourFact::Restored { new: ns, promise });
                }
                FlavourFact::Refreshed(Compared {
                    new: ns,
                    comparison: judge_refresh(oset, nset, ns),
                    broken_imports: self.broken_imports(oset, nset),
                })
            }
            (Some((os, _)), None) if keeps_name(os, parent, state) => FlavourFact::Lost { old: os },
            (Some((os, _)), None) => FlavourFact::Unreferenced { old: os },
            (Some((os, oset)), Some((ns, nset))) => {
                if let Some(fact) = self.returned(key, ns, nset, Some(&os.abi), known) {
                    return Some(fact);
                }
                let first = known.first(key, &os.abi, &os.path);
                let baseline = first.as_ref().map_or(oset, |(set, _)| set);
                FlavourFact::Renamed(Compared {
                    new: ns,
                    comparison: kept(baseline, nset, &ns.ignore),
                    broken_imports: self.broken_imports(baseline, nset),
                })
            }
            (None, Some((ns, nset))) => {
                // The flavour had no reference under the parent's name (a
                // name without references, `unchecked`): it comes back from it.
                let from = parent.reference.abi.as_ref().filter(|a| **a != ns.abi);
                match self.returned(key, ns, nset, from, known) {
                    Some(fact) => fact,
                    None => FlavourFact::Added {
                        new: ns,
                        comparison: kept(&SymbolSet::default(), nset, &ns.ignore),
                    },
                }
            }
            (None, None) => return None,
        })
    }

    /// When the ABI name of `new` comes back to flavour `key` (it covered
    /// it before; `from`, the name just before, if any): a restoration when
    /// the reference is one the name had, else the reference compared with
    /// what the name first promised. `None` for a name new to the flavour.
    fn returned(
        &self,
        key: &FlavourKey,
        new: &'a FlavourSource,
        set: &SymbolSet,
        from: Option<&AbiName>,
        known: &mut Consult<'_>,
    ) -> Option<FlavourFact<'a>> {
        if let Some(promise) = known.restored(key, new, from) {
            return Some(FlavourFact::Restored { new, promise });
        }
        let (first, published) = known.first(key, &new.abi, &new.path)?;
        let promise = Promised {
            published,
            came_back_from: from.cloned(),
        };
        let compared = Compared {
            new,
            comparison: judge_refresh(&first, set, new),
            broken_imports: self.broken_imports(&first, set),
        };
        Some(FlavourFact::Returned(compared, promise))
    }

    /// For each watched module (in order), its imports that break between
    /// `old` and `new`. Ignore rules do not apply: a maintainer's "harmless"
    /// does not make a symbol a module really imports load.
    fn broken_imports(&self, old: &SymbolSet, new: &SymbolSet) -> Vec<BTreeSet<String>> {
        let none = IgnoreRules::default();
        self.modules
            .iter()
            .map(|module| {
                let pick = |set: &SymbolSet| {
                    let imported = module
                        .imports
                        .iter()
                        .filter_map(|n| set.get(n))
                        .cloned()
                        .collect();
                    SymbolSet::from_symbols(imported).expect("names from a set are unique")
                };
                let c = compare(&pick(old), &pick(new), &none);
                c.changes
                    .into_iter()
                    .filter(|c| c.breaks())
                    .map(|c| c.symbol)
                    .collect()
            })
            .collect()
    }

    /// Module impacts of the broken imports of `compared` flavours, gathered.
    pub fn impacts<'c>(
        &self,
        compared: impl Iterator<Item = &'c Compared<'c>>,
    ) -> Vec<ModuleImpact> {
        let mut broken = vec![BTreeSet::new(); self.modules.len()];
        for c in compared {
            for (all, more) in broken.iter_mut().zip(&c.broken_imports) {
                all.extend(more.iter().cloned());
            }
        }
        self.modules
            .iter()
            .zip(broken)
            .filter(|(_, b)| !b.is_empty())
            .map(|(module, b)| ModuleImpact {
                module: module.name.clone(),
                changed_imports: b.len(),
                symbols: b.into_iter().take(NAMED_IMPORTS).collect(),
            })
            .collect()
    }

    /// Whether the commit only refreshed references compatibly: something
    /// changed under the same name, and nothing broke.
    pub fn compatible_refresh(&self) -> bool {
        let refreshes = || {
            self.flavours.values().filter_map(|f| match f {
                FlavourFact::Refreshed(c) | FlavourFact::Returned(c, _) => Some(c),
                _ => None,
            })
        };
        refreshes().all(|c| !c.breaks()) && refreshes().any(|c| !c.comparison.is_empty())
    }

    /// The ABI name in force before the commit (else after it).
    fn old_abi(&self) -> AbiName {
        self.parent
            .reference
            .abi
            .clone()
            .or_else(|| self.state.reference.abi.clone())
            .unwrap_or_else(|| AbiName::new("unknown").expect("a valid name"))
    }

    /// A finding of `kind` about `flavours` (none when empty), under the old
    /// ABI name of its first flavour; the detector fills in the rest.
    pub fn finding(&self, kind: FindingKind, flavours: Vec<Entry<'_>>) -> Option<Finding> {
        let first = flavours.first()?.0;
        let abi = self
            .parent
            .sources
            .get(first)
            .map_or_else(|| self.old_abi(), |s| s.abi.clone());
        let flavours: Vec<FlavourChange> = flavours.into_iter().map(|(_, f)| f).collect();
        Some(Finding {
            id: finding_id(self.repo, self.commit, kind, &flavours),
            kind,
            layout: self.layout,
            commit: self.commit.clone(),
            title: self.title.to_owned(),
            abi,
            new_abi: None,
            bump_needed: None,
            unchecked_since: None,
            flavours,
            unchanged_flavours: Vec::new(),
            lost_featuresets: Vec::new(),
            breaks_modules: Vec::new(),
        })
    }

    /// The flavours whose fact `pick` takes something from, in flavour
    /// order, with what it took: what each detector starts from.
    pub fn select<'f, T>(
        &'f self,
        pick: impl Fn(&'a FlavourKey, &'f FlavourFact<'a>) -> Option<T>,
    ) -> Vec<(&'a FlavourKey, T)> {
        self.flavours
            .iter()
            .filter_map(|(key, fact)| Some((*key, pick(key, fact)?)))
            .collect()
    }

    /// The flavours of this commit not among `changed` (one ABI name covers
    /// them all).
    pub fn unchanged(&self, changed: &[Entry<'_>]) -> Vec<String> {
        self.state
            .sources
            .keys()
            .filter(|k| !changed.iter().any(|(c, _)| c == k))
            .map(ToString::to_string)
            .collect()
    }
}

/// Whether the name `old` covered its flavour with is still in force after
/// the commit from `parent` to `state` (when `state` names none, the
/// parent's name is taken as kept): a reference gone under a kept name is
/// lost coverage, under a changed one the flavour is unreferenced.
fn keeps_name(old: &FlavourSource, parent: &RevState, state: &RevState) -> bool {
    state.reference.abi.as_ref() == Some(&old.abi)
        || state.reference.abi.is_none() && parent.reference.abi.as_ref() == Some(&old.abi)
}

/// The flavours that had a reference in `parent` and have none in `state`
/// because the ABI name changed ([`FlavourFact::Unreferenced`]), with their
/// old source. Reads only where references are, never their content, so it
/// serves commits before a scan's range too.
pub fn unreferenced<'s>(
    parent: &'s RevState,
    state: &'s RevState,
) -> impl Iterator<Item = (&'s FlavourKey, &'s FlavourSource)> {
    parent.sources.iter().filter(move |(key, old)| {
        !state.sources.contains_key(*key) && !keeps_name(old, parent, state)
    })
}

/// Compares two sets keeping up to [`KEPT_CHANGES_PER_KIND`] changes of each kind.
pub(crate) fn kept(old: &SymbolSet, new: &SymbolSet, ignore: &IgnoreRules) -> Arc<Comparison> {
    Arc::new(compare_keeping(old, new, ignore, KEPT_CHANGES_PER_KIND))
}
