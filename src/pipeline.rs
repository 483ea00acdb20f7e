//! The one pipeline from a packaging repository to findings: walk ->
//! reference sets -> compare -> findings.
//!
//! It owns two things. [`RepoSpec`] is the typed description of a
//! repository (its name in finding ids, layout, packaging root, ignore rules
//! added to every flavour's own, watched modules, the build output that
//! explains hidden breaks, and how to walk), built
//! once where the description enters: from the command-line flags of `scan`,
//! `timeline`, `bisect` and `check-module`, or from a `[[repo]]` of the
//! configuration (already validated by [`crate::config`]) for the daemon and
//! `scan --post`. [`Pipeline`] is the one way to run it over a commit range:
//! every step is judged with the description's ignore rules before anyone
//! sees it, so `scan`, `scan --post`, `timeline`, the daemon, `check-module
//! --repo` and bisect's reference mode see the same states and, on the same
//! history, report the same findings with the same ids.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use git2::{Oid, Repository};

use crate::config::RepoConfig;
use crate::elf::ReadErrors;
use crate::findings::Finding;
use crate::history::explain::source::BuildSources;
use crate::history::scan::{ScanReport, Scanner, WatchedModule};
use crate::history::timeline::Timeline;
use crate::history::{
    CommitSha, HistoryError, RevState, RevisionError, Severity, Step, WalkOptions, Walker,
};
use crate::ignore::IgnoreRules;
use crate::layouts::Layout;

/// A repository as the pipeline walks it, every part typed and validated.
#[derive(Clone, Debug, Default)]
pub struct RepoSpec {
    /// Its name, part of finding ids (the daemon's `[[repo]]` name).
    pub name: String,
    /// Layout (forced, or `None` to detect), packaging root, merge walk,
    /// threads and cache size.
    pub walk: WalkOptions,
    /// Rules added to every flavour's own (Debian `ignore-changes` syntax).
    pub ignore: IgnoreRules,
    /// Prebuilt modules whose broken imports findings name.
    pub watched: Vec<WatchedModule>,
    /// Build output outside the repository that explains hidden breaks
    /// (`symtypes_source`, `debug_source`); clones share its cache.
    pub explain: BuildSources,
}

/// A `[[repo]]` whose watched modules cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("repository {repo} (line {line} of the configuration): modules: {modules}")]
pub struct SpecError {
    /// The repository's name.
    pub repo: String,
    /// Line of its `[[repo]]` table.
    pub line: usize,
    /// What reading the modules said; shown in the message, not chained as
    /// a source, so `{:#}` does not print it twice.
    pub modules: ReadErrors,
}

impl RepoSpec {
    /// The description of a configured repository (`jobs` parsing threads,
    /// 0 for all cores). Layout, root and ignore rules were validated when
    /// the configuration was parsed; the watched modules are read here.
    pub fn of_config(repo: &RepoConfig, jobs: usize) -> Result<RepoSpec, SpecError> {
        let watched = WatchedModule::read(&repo.modules).map_err(|modules| SpecError {
            repo: repo.name.to_string(),
            line: repo.line,
            modules,
        })?;
        Ok(RepoSpec {
            name: repo.name.to_string(),
            walk: WalkOptions {
                root: repo.root.clone(),
                layout: repo.layout.clone(),
                jobs,
                ..WalkOptions::default()
            },
            ignore: repo.ignore.clone(),
            watched,
            explain: repo.explain.clone(),
        })
    }

    /// A description holding only a packaging root and a forced layout
    /// (`None`: detected), for the commands that ask about single
    /// revisions (`check-module --repo`, bisect's reference mode): they
    /// judge no history, so neither ignore rules nor modules apply.
    pub fn at(root: Option<String>, layout: Option<Layout>) -> RepoSpec {
        RepoSpec {
            walk: WalkOptions {
                root,
                layout,
                ..WalkOptions::default()
            },
            ..RepoSpec::default()
        }
    }

    /// The pipeline over `git`, as this description says.
    pub fn open<'r>(&'r self, git: &'r Repository) -> Pipeline<'r> {
        Pipeline {
            spec: self,
            walker: Walker::new(git, self.walk.clone()),
        }
    }

    /// Hands `see` one step with the extra rules added to every flavour's
    /// own, so every command judges the same states.
    fn judged(&self, step: Step<'_>, see: impl FnOnce(Step<'_>)) {
        if self.ignore.is_empty() || !step.touched {
            see(step);
        } else {
            let parent = with_extra_rules(step.parent, &self.ignore);
            let state = with_extra_rules(step.state, &self.ignore);
            see(Step {
                parent: &parent,
                state: &state,
                ..step
            });
        }
    }
}

/// Adds the description's ignore rules to every flavour of a revision.
fn with_extra_rules(state: &RevState, extra: &IgnoreRules) -> RevState {
    let mut state = state.clone();
    for source in state.sources.values_mut() {
        let mut rules = (*source.ignore).clone();
        rules.extend(extra.clone());
        source.ignore = Arc::new(rules);
    }
    state
}

/// What a scan found, with the errors of the current state (the range's
/// last commit), which the commands' exit-code contract treats apart.
pub struct Scan {
    /// Findings, commits, errors at single revisions, counters.
    pub report: ScanReport,
    /// Errors of the current state.
    pub current: Vec<RevisionError>,
}

/// A repository opened for walking as its [`RepoSpec`] describes.
pub struct Pipeline<'r> {
    spec: &'r RepoSpec,
    /// The walker, for single-revision questions and its counters.
    pub walker: Walker<'r>,
}

impl Pipeline<'_> {
    /// The commit a revision expression names.
    pub fn resolve(&self, rev: &str) -> Result<Oid, HistoryError> {
        self.walker.resolve(rev)
    }

    /// Walks the commits after `from` (from the root when `None`) up to
    /// `to`, handing `visit` every step judged with the description's ignore
    /// rules; `progress` gets (done, total). Returns the errors of `to`.
    pub fn walk(
        &mut self,
        from: Option<Oid>,
        to: Oid,
        progress: impl FnMut(usize, usize),
        mut visit: impl FnMut(Step<'_>),
    ) -> Result<Vec<RevisionError>, HistoryError> {
        let spec = self.spec;
        let head = CommitSha::of(to);
        let mut current = Vec::new();
        self.walker.walk(from, to, progress, |step| {
            if step.commit == head {
                current = current_errors(&step);
            }
            spec.judged(step, &mut visit);
        })?;
        Ok(current)
    }

    /// Every ABI name's states over the range (`timeline`), judged as
    /// [`Pipeline::scan`] judges them, with the errors of `to`.
    pub fn timeline(
        &mut self,
        from: Option<Oid>,
        to: Oid,
        progress: impl FnMut(usize, usize),
    ) -> Result<(Timeline, Vec<RevisionError>), HistoryError> {
        // As for a scan: what each name promised before `from`.
        let mut timeline = Timeline::knowing(self.walker.promises_until(from)?);
        let current = self.walk(from, to, progress, |step| timeline.visit(step))?;
        Ok((timeline, current))
    }

    /// Scans the range into findings. `details` keeps changed symbols
    /// (Markdown and comments need them; counts do for the rest); `taken`
    /// sees the findings after every commit and may drain them (the daemon
    /// renders them at once, so a long backfill does not pile them up).
    pub fn scan(
        &mut self,
        from: Option<Oid>,
        to: Oid,
        details: bool,
        progress: impl FnMut(usize, usize),
        mut taken: impl FnMut(&mut Vec<Finding>),
    ) -> Result<Scan, HistoryError> {
        let mut scanner = Scanner::new(&self.spec.name)
            .watch(self.spec.watched.clone())
            .explain_from(self.spec.explain.clone());
        // What happened before `from`: what each ABI name promised (a
        // revert there of a break made before the range is a restoration),
        // flavours whose check was turned off.
        self.walker.history_until(from, |commit, last, state| {
            scanner.learn(commit, last, state)
        })?;
        if !details {
            scanner = scanner.counts_only();
        }
        let current = self.walk(from, to, progress, |step| {
            scanner.visit(step);
            taken(&mut scanner.report.findings);
        })?;
        let mut report = scanner.finish();
        report.stats.references_parsed = self.walker.loader.stats.parsed.load(Ordering::Relaxed);
        report.stats.cache_hits = self.walker.loader.stats.hits.load(Ordering::Relaxed);
        Ok(Scan { report, current })
    }
}

/// The errors of the current state: those reported at its commit, and every
/// flavour whose reference there still does not parse (damaged earlier and
/// never repaired).
fn current_errors(step: &Step<'_>) -> Vec<RevisionError> {
    let mut out: Vec<RevisionError> = step
        .errors
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .cloned()
        .collect();
    for (key, message) in &step.state.broken {
        let path = step
            .state
            .sources
            .get(key)
            .map_or_else(|| key.to_string(), |s| s.path.clone());
        if !out.iter().any(|e| e.path == path) {
            out.push(RevisionError {
                commit: step.commit.clone(),
                path,
                message: message.clone(),
                severity: Severity::Error,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(modules: &str) -> Config {
        let text = format!(
            "state = \"s.sqlite\"\n[[repo]]\nname = \"linux\"\npath = \"/r\"\n\
             branches = [\"main\"]\nroot = \"linux\"\nignore = [\"kfree\"]\n\
             modules = [{modules}]\n[repo.stdout]\n"
        );
        Config::parse(&text, "abibot.toml").unwrap()
    }

    #[test]
    fn a_configured_repository_keeps_its_typed_parts() {
        let config = config("");
        let spec = RepoSpec::of_config(&config.repos[0], 3).unwrap();
        assert_eq!(spec.name, "linux");
        assert_eq!(spec.walk.root.as_deref(), Some("linux"));
        assert!(spec.walk.layout.is_none(), "detected, not forced");
        assert_eq!(spec.walk.jobs, 3);
        assert!(spec.ignore.matching("kfree", "vmlinux").is_some());
        assert!(spec.watched.is_empty());
    }

    #[test]
    fn an_unreadable_module_names_the_repository_and_its_line() {
        let config = config("\"/nonexistent/abibot-test.ko\"");
        let err = RepoSpec::of_config(&config.repos[0], 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("repository linux (line 2 of the configuration): modules: "));
        assert!(err.contains("/nonexistent/abibot-test.ko"), "{err}");
    }
}
