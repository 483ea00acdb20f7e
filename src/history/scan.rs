//! `scan`: turns each commit's [`Step`] into [`Finding`]s.
//!
//! Per flavour, against the first parent:
//! - same ABI name, reference changed incompatibly (after ignore rules, or
//!   in a symbol a watched module imports, whatever the rules say): part of
//!   the commit's `hidden-break`;
//! - same ABI name, reference gone: part of its `coverage-lost`;
//! - new symbols at CRC `0x00000000`: part of its `unversioned`;
//! - ABI name changed: part of its `bump`, `needed` when the new reference is
//!   incompatible with what the old name first promised (its baseline).
//!
//! A compatible refresh (additions, moves, ignored changes) is counted only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use super::{CommitSha, RevState, RevisionError, Step};
use crate::compare::{Comparison, compare, compare_keeping};
use crate::elf::{ElfError, ElfErrorKind, ObjectKind, ReadErrors, ReadOptions, read_paths};
use crate::findings::{Finding, FindingKind, FlavourChange, ModuleImpact, finding_id};
use crate::ignore::IgnoreRules;
use crate::layouts::{FlavourSource, Layout, LayoutKind};
use crate::symbols::{AbiName, FlavourKey, SymbolSet};

/// Counters of a scan beside its findings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanStats {
    /// Commits whose reference changed only compatibly under the same name.
    pub compatible_refreshes: usize,
    /// Commits that touched the layout's inputs.
    pub commits_touching_references: usize,
    /// Reference files parsed.
    pub references_parsed: usize,
    /// Parsed references reused from the cache.
    pub cache_hits: usize,
}

/// The result of `abibot scan` (JSON schema in the README).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanReport {
    /// Commits visited.
    pub commits_scanned: usize,
    /// Findings, oldest commit first.
    pub findings: Vec<Finding>,
    /// Problems at single revisions (the scan went on).
    pub errors: Vec<RevisionError>,
    /// Work counters.
    pub stats: ScanStats,
}

impl ScanReport {
    /// Whether any finding breaks the promise (`hidden-break`, `coverage-lost`).
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.kind.is_problem())
    }
}

/// Changes of each kind a finding keeps for rendering (a Markdown comment
/// shows far fewer); counts stay exact.
pub const KEPT_CHANGES_PER_KIND: usize = 300;

fn kept(old: &SymbolSet, new: &SymbolSet, ignore: &IgnoreRules) -> Arc<Comparison> {
    Arc::new(compare_keeping(old, new, ignore, KEPT_CHANGES_PER_KIND))
}

/// How a flavour's reference changing under one ABI name is judged: with
/// that flavour's own ignore rules (Debian's `ignore-changes`). `timeline`
/// judges its states with it too, so the two never disagree.
pub fn judge_refresh(old: &SymbolSet, new: &SymbolSet, source: &FlavourSource) -> Arc<Comparison> {
    kept(old, new, &source.ignore)
}

/// A prebuilt module to protect (`scan --module`): its name and the symbols
/// it imports.
#[derive(Clone, Debug)]
pub struct WatchedModule {
    /// File name, as shown (`nvidia.ko`).
    pub name: String,
    /// Names of the symbols it imports.
    pub imports: BTreeSet<String>,
}

impl WatchedModule {
    /// Reads modules (`.ko`, `.ko.xz`, ...): each is named by its file name
    /// and imports its `__versions` entries and undefined symbols.
    pub fn read(paths: &[std::path::PathBuf]) -> Result<Vec<WatchedModule>, ReadErrors> {
        let infos = read_paths(paths, &ReadOptions::default())?;
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            if info.kind != ObjectKind::Module {
                let error = ElfError::new(&info.path, ElfErrorKind::NotAModule);
                return Err(ReadErrors(vec![error]));
            }
            let name = std::path::Path::new(&info.path)
                .file_name()
                .map_or_else(|| info.path.clone(), |n| n.to_string_lossy().into_owned());
            let versions = info.versions.into_iter().map(|v| v.name);
            let undefined = info.undefined.into_iter().map(|u| u.name);
            out.push(WatchedModule {
                name,
                imports: versions.chain(undefined).collect(),
            });
        }
        Ok(out)
    }
}

/// How many symbols of a module impact are named.
const NAMED_IMPORTS: usize = 10;

/// Derives findings commit by commit; keeps only per-flavour baselines, so
/// memory does not grow with the number of commits.
pub struct Scanner {
    repo: String,
    baselines: BTreeMap<FlavourKey, (AbiName, Arc<SymbolSet>)>,
    modules: Vec<WatchedModule>,
    details: bool,
    /// The report being built.
    pub report: ScanReport,
}

impl Scanner {
    /// A scanner for the repository called `repo` (part of finding ids).
    pub fn new(repo: &str) -> Scanner {
        Scanner {
            repo: repo.to_owned(),
            baselines: BTreeMap::new(),
            modules: Vec::new(),
            details: true,
            report: ScanReport::default(),
        }
    }

    /// Keeps only counts in findings, not the changed symbols: what JSON and
    /// text need, and memory then stays flat however many findings a long
    /// history holds.
    pub fn counts_only(mut self) -> Scanner {
        self.details = false;
        self
    }

    /// Also says, for each finding, which of these modules it breaks, and
    /// ranks the report by it (see [`Scanner::finish`]).
    pub fn watch(mut self, modules: Vec<WatchedModule>) -> Scanner {
        self.modules = modules;
        self
    }

    /// The report. With watched modules, findings are ranked: those breaking
    /// a watched module first (most broken imports first), then problems
    /// before information, then by incompatible `vmlinux` changes (the core
    /// interfaces), then in commit order. Without, they stay in commit order.
    pub fn finish(mut self) -> ScanReport {
        if !self.modules.is_empty() {
            let rank = |f: &Finding| {
                let broken: usize = f.breaks_modules.iter().map(|m| m.changed_imports).sum();
                (
                    std::cmp::Reverse(broken),
                    !f.kind.is_problem(),
                    std::cmp::Reverse(f.vmlinux_breaks()),
                )
            };
            self.report.findings.sort_by_key(rank);
        }
        self.report
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

    /// Module impacts from the broken imports gathered over a finding's flavours.
    fn impacts(&self, broken: Vec<BTreeSet<String>>) -> Vec<ModuleImpact> {
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

    /// Takes one commit's step.
    pub fn visit(&mut self, step: Step<'_>) {
        self.report.commits_scanned += 1;
        self.report.errors.extend(step.errors);
        if !step.touched {
            return;
        }
        self.report.stats.commits_touching_references += 1;
        let mut findings = self.findings(&step.commit, &step.title, step.parent, step.state);
        if !self.details {
            for flavour in findings.iter_mut().flat_map(|f| f.flavours.iter_mut()) {
                flavour.comparison = None;
            }
        }
        self.report.findings.extend(findings);
        self.update_baselines(step.state);
    }

    fn update_baselines(&mut self, state: &RevState) {
        for (key, source) in &state.sources {
            let Some(set) = state.reference.flavours.get(key) else {
                continue;
            };
            let stale = self
                .baselines
                .get(key)
                .is_none_or(|(abi, _)| *abi != source.abi);
            if stale && !state.broken.contains_key(key) {
                self.baselines
                    .insert(key.clone(), (source.abi.clone(), set.clone()));
            }
        }
    }

    fn findings(
        &mut self,
        sha: &CommitSha,
        title: &str,
        parent: &RevState,
        state: &RevState,
    ) -> Vec<Finding> {
        let mut broken = Vec::new();
        let mut refreshed = false;
        let mut lost = Vec::new();
        let mut unversioned = Vec::new();
        let mut bumped = Vec::new();
        let mut bump_needed = false;
        let mut hidden_imports = vec![BTreeSet::new(); self.modules.len()];
        let mut bump_imports = vec![BTreeSet::new(); self.modules.len()];
        let gather = |into: &mut Vec<BTreeSet<String>>, from: Vec<BTreeSet<String>>| {
            for (all, more) in into.iter_mut().zip(from) {
                all.extend(more);
            }
        };
        let empty = Arc::new(SymbolSet::default());
        let keys: BTreeSet<&FlavourKey> =
            parent.sources.keys().chain(state.sources.keys()).collect();
        for key in keys {
            if state.broken.contains_key(key) {
                continue;
            }
            let old = parent
                .sources
                .get(key)
                .zip(parent.reference.flavours.get(key));
            let new = state
                .sources
                .get(key)
                .zip(state.reference.flavours.get(key));
            match (old, new) {
                (Some((os, oset)), Some((ns, nset))) if os.abi == ns.abi => {
                    if os.id == ns.id && !parent.broken.contains_key(key) {
                        continue;
                    }
                    let c = judge_refresh(oset, nset, ns);
                    if c.summary.unversioned > 0 {
                        unversioned.push(FlavourChange::new(key, &ns.path, Some(c.clone())));
                    }
                    // A change the maintainers ignore still stops a watched
                    // module that imports the symbol: that is a hidden break.
                    let imports = self.broken_imports(oset, nset);
                    let breaks_watched = imports.iter().any(|b| !b.is_empty());
                    if c.is_breaking() || breaks_watched {
                        gather(&mut hidden_imports, imports);
                        broken.push(FlavourChange::new(key, &ns.path, Some(c)));
                    } else if !c.is_empty() {
                        refreshed = true;
                    }
                }
                (Some((os, _)), None) => {
                    let abi_stayed = state.reference.abi.as_ref() == Some(&os.abi)
                        || state.reference.abi.is_none()
                            && parent.reference.abi.as_ref() == Some(&os.abi);
                    if abi_stayed {
                        lost.push(FlavourChange::new(key, &os.path, None));
                    } else {
                        bumped.push(FlavourChange::new(key, &os.path, None));
                    }
                }
                (Some((os, oset)), Some((ns, nset))) => {
                    let baseline = self
                        .baselines
                        .get(key)
                        .filter(|(abi, _)| *abi == os.abi)
                        .map_or(oset, |(_, set)| set);
                    let c = kept(baseline, nset, &ns.ignore);
                    bump_needed |= c.is_breaking();
                    gather(&mut bump_imports, self.broken_imports(baseline, nset));
                    bumped.push(FlavourChange::new(key, &ns.path, Some(c)));
                }
                (None, Some((ns, nset))) => {
                    let c = kept(&empty, nset, &ns.ignore);
                    if c.summary.unversioned > 0 {
                        unversioned.push(FlavourChange::new(key, &ns.path, Some(c)));
                    }
                }
                (None, None) => {}
            }
        }
        if refreshed && broken.is_empty() {
            self.report.stats.compatible_refreshes += 1;
        }
        let old_abi = parent
            .reference
            .abi
            .clone()
            .or_else(|| state.reference.abi.clone())
            .unwrap_or_else(|| AbiName("unknown".into()));
        let abi_of = |flavours: &[FlavourChange]| {
            flavours
                .first()
                .and_then(|f| {
                    parent
                        .sources
                        .iter()
                        .find(|(k, _)| k.to_string() == f.flavour)
                })
                .map(|(_, s)| s.abi.clone())
                .unwrap_or_else(|| old_abi.clone())
        };
        let broken_modules = self.impacts(hidden_imports);
        let bump_modules = self.impacts(bump_imports);
        // A finding needs a layout's flavours; Generic's advice is the neutral one.
        let layout = state.layout.as_ref().or(parent.layout.as_ref());
        let layout = layout.map_or(LayoutKind::Generic, Layout::kind);
        let mut out = Vec::new();
        let mut emit = |kind, flavours: Vec<FlavourChange>, extra: &dyn Fn(&mut Finding)| {
            if flavours.is_empty() {
                return;
            }
            let mut finding = Finding {
                id: finding_id(&self.repo, sha, kind, &flavours),
                kind,
                layout,
                commit: sha.clone(),
                title: title.to_owned(),
                abi: abi_of(&flavours),
                new_abi: None,
                bump_needed: None,
                flavours,
                unchanged_flavours: Vec::new(),
                lost_featuresets: Vec::new(),
                breaks_modules: Vec::new(),
            };
            extra(&mut finding);
            out.push(finding);
        };
        let unchanged = |changed: &[FlavourChange]| -> Vec<String> {
            state
                .sources
                .keys()
                .map(ToString::to_string)
                .filter(|k| !changed.iter().any(|c| &c.flavour == k))
                .collect()
        };
        let broken_unchanged = unchanged(&broken);
        emit(FindingKind::HiddenBreak, broken, &|f| {
            f.unchanged_flavours = broken_unchanged.clone();
            f.breaks_modules = broken_modules.clone();
        });
        let lost_unchanged = unchanged(&lost);
        let lost_featuresets = whole_featuresets(&lost, parent);
        emit(FindingKind::CoverageLost, lost, &|f| {
            f.unchanged_flavours = lost_unchanged.clone();
            f.lost_featuresets = lost_featuresets.clone();
        });
        emit(FindingKind::Unversioned, unversioned, &|_| {});
        let new_abi = state.reference.abi.clone();
        emit(FindingKind::Bump, bumped, &|f| {
            f.new_abi = new_abi.clone();
            f.bump_needed = Some(bump_needed);
            f.breaks_modules = bump_modules.clone();
        });
        out
    }
}

/// Featuresets (per arch) whose every flavour is among `lost`.
fn whole_featuresets(lost: &[FlavourChange], parent: &RevState) -> Vec<String> {
    let mut groups: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for key in parent.sources.keys() {
        groups
            .entry((key.arch.clone(), key.featureset.clone()))
            .or_default()
            .0 += 1;
    }
    for f in lost {
        if let Some(g) = groups.get_mut(&(f.arch.clone(), f.featureset.clone())) {
            g.1 += 1;
        }
    }
    groups
        .into_iter()
        .filter(|(_, (all, gone))| all == gone)
        .map(|((arch, fs), _)| format!("{arch} {fs}"))
        .collect()
}

/// Comparisons reachable from a finding, for renderers.
pub fn comparisons(finding: &Finding) -> impl Iterator<Item = (&FlavourChange, &Comparison)> {
    finding
        .flavours
        .iter()
        .filter_map(|f| f.comparison.as_deref().map(|c| (f, c)))
}
