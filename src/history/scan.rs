//! `scan`: turns each commit's [`Step`] into [`Finding`]s.
//!
//! What the commit did to each flavour, against the first parent, is worked
//! out once ([`Facts`]); then each detector of [`detect::registry`] (one per
//! kind of finding: `hidden-break`, `coverage-lost`, `unversioned`, `bump`,
//! ...) adds its findings. A compatible refresh (additions, moves, ignored
//! changes) is counted only.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::detect::{self, Detector, Facts, facts::kept};
use super::explain::{Explainer, Sides, source::BuildSources};
use super::promises::Promises;
use super::{CommitSha, RevState, RevisionError, Step};
use crate::compare::Comparison;
use crate::elf::{ElfError, ElfErrorKind, ObjectKind, ReadErrors, ReadOptions, read_paths};
use crate::findings::{Finding, FlavourChange};
use crate::layouts::FlavourSource;
use crate::symbols::SymbolSet;

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

/// Derives findings commit by commit; keeps what each ABI name promised
/// ([`Promises`]: object ids, and the parsed first publication of the name
/// in force per flavour) and the detectors' own state, so memory does not
/// grow with the number of commits.
pub struct Scanner {
    repo: String,
    promises: Promises,
    modules: Vec<WatchedModule>,
    detectors: Vec<Box<dyn Detector>>,
    explainer: Explainer,
    details: bool,
    /// The report being built.
    pub report: ScanReport,
}

impl Scanner {
    /// A scanner for the repository called `repo` (part of finding ids).
    pub fn new(repo: &str) -> Scanner {
        Scanner {
            repo: repo.to_owned(),
            promises: Promises::default(),
            modules: Vec::new(),
            detectors: detect::registry(),
            explainer: Explainer::default(),
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

    /// Learns from a commit before the range it will scan (fed by
    /// [`super::Walker::history_until`]): what each ABI name promised, so a
    /// revert of a break made before the range is a restoration there too,
    /// and each detector's state (flavours whose check is off, since when),
    /// so a range or a daemon's poll judges its commits as a scan of the
    /// whole history would.
    pub fn learn(&mut self, commit: &CommitSha, parent: &RevState, state: &RevState) {
        self.promises.record(commit, state);
        self.explainer.record(commit, state);
        for detector in &mut self.detectors {
            detector.learn(commit, parent, state);
        }
    }

    /// Also explains hidden breaks from these configured build outputs
    /// (besides the symtypes a layout keeps).
    pub fn explain_from(mut self, sources: BuildSources) -> Scanner {
        self.explainer = Explainer::new(sources);
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

    /// Takes one commit's step.
    pub fn visit(&mut self, step: Step<'_>) {
        self.report.commits_scanned += 1;
        self.report.errors.extend(step.errors);
        if !step.touched {
            return;
        }
        self.report.stats.commits_touching_references += 1;
        let mut facts = Facts::new(
            &self.repo,
            &step.commit,
            &step.title,
            (step.parent, step.state),
            (&mut self.promises, step.reload),
            &self.modules,
        );
        let mut findings = Vec::new();
        for detector in &mut self.detectors {
            detector.detect(&facts, &mut findings);
        }
        self.report.errors.append(&mut facts.errors);
        let sides = Sides {
            commit: &step.commit,
            parent: step.parent,
            state: step.state,
            reload: step.reload,
        };
        let problems = self.explainer.attach(&mut findings, sides);
        self.report.errors.extend(problems);
        self.explainer.record(&step.commit, step.state);
        if facts.compatible_refresh() {
            self.report.stats.compatible_refreshes += 1;
        }
        if !self.details {
            for flavour in findings.iter_mut().flat_map(|f| f.flavours.iter_mut()) {
                flavour.comparison = None;
            }
        }
        self.report.findings.extend(findings);
        for first in self.promises.record(&step.commit, step.state) {
            step.reload.prefer(first);
        }
    }
}

/// Comparisons reachable from a finding, for renderers.
pub fn comparisons(finding: &Finding) -> impl Iterator<Item = (&FlavourChange, &Comparison)> {
    finding
        .flavours
        .iter()
        .filter_map(|f| f.comparison.as_deref().map(|c| (f, c)))
}
