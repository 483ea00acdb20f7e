//! `abibot scan` and `abibot timeline`: history walks over a packaging
//! repository, with a progress bar on a terminal.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use clap::Args;

use super::{Outcome, print};
use crate::daemon::git::RepoWalk;
use crate::history::cache::{DEFAULT_CACHE_BYTES, MAX_JOBS};
use crate::history::scan::{ScanReport, Scanner, WatchedModule};
use crate::history::timeline::Timeline;
use crate::history::{CommitSha, RevisionError, Step, WalkOptions, Walker};
use crate::layouts::Layout;
use crate::layouts::generic::{Generic, GenericConfig};
use crate::report::{self, OutputFormat};

/// Which repository and commits to walk, shared by `scan` and `timeline`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The packaging repository (a git clone; never modified).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Branch or revision to walk (default: HEAD).
    #[arg(long, conflicts_with = "range")]
    pub branch: Option<String>,
    /// Commits in `A..B` (after A, up to B).
    #[arg(long)]
    pub range: Option<String>,
    /// Only commits after this revision.
    #[arg(long, conflicts_with = "range")]
    pub since: Option<String>,
    /// Directory holding the packaging (`linux`, `linux-2.6`); detected by default.
    #[arg(long)]
    pub root: Option<String>,
    /// Force a layout: debian, ubuntu, redhat.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::layouts::LAYOUT_NAMES))]
    pub layout: Option<String>,
    /// A TOML file describing a generic layout (references, format, abi_file, abi_regex).
    #[arg(long, value_name = "FILE", conflicts_with = "layout")]
    pub generic_layout: Option<PathBuf>,
    /// Visit the other parents of merges too (default: first parent only).
    #[arg(long)]
    pub all_parents: bool,
    /// Parsing threads (0: all cores; at most 256).
    #[arg(long, default_value_t = 0, value_parser = jobs_parser())]
    pub jobs: usize,
    /// MiB of parsed references held at once (cache and the revisions being
    /// compared; one comparison's references are kept even above it).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_CACHE_BYTES >> 20)]
    pub cache_mib: usize,
    /// Name of the repository in finding ids (default: its directory name).
    #[arg(long)]
    pub repo_name: Option<String>,
}

/// `--jobs`: 0 (all cores) up to [`MAX_JOBS`], refused above with the limit.
fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(0..=MAX_JOBS as u64)
}

/// Arguments of `abibot scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to walk.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Also post a comment per problem finding through the forge of a
    /// configuration's repository (chosen by --repo-name, whose finding ids
    /// then match the daemon's); comments already there are not repeated.
    #[arg(long, requires = "config")]
    pub post: bool,
    /// The configuration file for --post.
    #[arg(long, value_name = "FILE", requires = "post")]
    pub config: Option<PathBuf>,
    /// A prebuilt module to protect (.ko, .ko.xz, ...; repeatable): findings
    /// that break its imports are ranked first and say so.
    #[arg(long = "module", value_name = "FILE")]
    pub modules: Vec<PathBuf>,
    /// An ignore-changes entry added to every flavour's own, as in `diff`:
    /// `name:<glob>` (default) or `module:<glob>` (repeatable).
    #[arg(long = "ignore", value_name = "PATTERN")]
    pub ignore: Vec<String>,
}

/// Arguments of `abibot timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// What to walk.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// An ignore-changes entry added to every flavour's own, as in `scan`
    /// (repeatable): the same rules give the same verdict.
    #[arg(long = "ignore", value_name = "PATTERN")]
    pub ignore: Vec<String>,
}

/// An opened repository, the walk options and the commits to visit.
struct Walk {
    repo: git2::Repository,
    name: String,
    options: WalkOptions,
    from: Option<String>,
    to: String,
}

impl HistoryArgs {
    fn open(&self) -> anyhow::Result<Walk> {
        let repo = git2::Repository::open(&self.repo)
            .with_context(|| format!("cannot open git repository {}", self.repo.display()))?;
        let layout = match (&self.layout, &self.generic_layout) {
            (Some(name), _) => Some(
                Layout::named(name, self.root.as_deref().unwrap_or(""))
                    .with_context(|| format!("unknown layout {name:?}"))?,
            ),
            (None, Some(file)) => {
                let text = crate::input::read_text(file, crate::input::CONFIG)?;
                let config: GenericConfig =
                    toml::from_str(&text).with_context(|| format!("in {}", file.display()))?;
                let generic =
                    Generic::new(config).with_context(|| format!("in {}", file.display()))?;
                Some(Layout::generic(generic))
            }
            (None, None) => None,
        };
        let (from, to) = match &self.range {
            Some(range) => {
                let (a, b) = range
                    .split_once("..")
                    .with_context(|| format!("--range {range:?}: expected A..B"))?;
                (
                    Some(a.to_owned()),
                    if b.is_empty() {
                        "HEAD".to_owned()
                    } else {
                        b.to_owned()
                    },
                )
            }
            None => (
                self.since.clone(),
                self.branch.clone().unwrap_or_else(|| "HEAD".to_owned()),
            ),
        };
        let name = self.repo_name.clone().unwrap_or_else(|| {
            let path = std::fs::canonicalize(&self.repo).unwrap_or_else(|_| self.repo.clone());
            path.file_name()
                .map_or("repo".to_owned(), |n| n.to_string_lossy().into_owned())
        });
        Ok(Walk {
            repo,
            name,
            options: WalkOptions {
                root: self.root.clone(),
                layout,
                all_parents: self.all_parents,
                jobs: self.jobs,
                cache_bytes: self.cache_mib.saturating_mul(1 << 20),
            },
            from,
            to,
        })
    }
}

/// The errors of the current state (the walk's last commit): those reported
/// there, and every flavour whose reference there still does not parse
/// (damaged earlier and never repaired).
fn current_errors(step: &Step<'_>) -> Vec<RevisionError> {
    let mut out = step.errors.clone();
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
            });
        }
    }
    out
}

/// The exit-code contract of `scan` and `timeline`: an error in the current
/// state is exit 2 (the answer would be about a state nobody can read);
/// errors at older revisions are only listed and counted.
fn refuse_current(current: &[RevisionError]) -> anyhow::Result<()> {
    let Some(first) = current.first() else {
        return Ok(());
    };
    let all: Vec<String> = current
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    anyhow::bail!(
        "the current state ({}) is unreadable: {}",
        first.commit.short(),
        all.join("; ")
    )
}

impl Walk {
    /// Walks with a progress bar on a terminal (none when stderr is piped);
    /// returns the walker and the errors of the current state.
    fn run(
        &self,
        mut visit: impl FnMut(Step<'_>),
    ) -> anyhow::Result<(Walker<'_>, Vec<RevisionError>)> {
        let mut walker = Walker::new(&self.repo, self.options.clone());
        let from = self
            .from
            .as_deref()
            .map(|r| walker.resolve(r))
            .transpose()?;
        let to = walker.resolve(&self.to)?;
        let head = CommitSha::of(to);
        let mut current = Vec::new();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} commits {per_sec} eta {eta}",
                )
                .expect("valid template"),
            );
            bar
        });
        walker.walk(
            from,
            to,
            |done, total| {
                if let Some(bar) = &bar {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
            },
            |step| {
                if step.commit == head {
                    current = current_errors(&step);
                }
                visit(step)
            },
        )?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok((walker, current))
    }
}

/// Runs a scan as `abibot scan` does: walking as `target`'s configuration
/// describes (else as the flags do), adding `--ignore` rules, saying which
/// watched modules each finding breaks, and keeping changed symbols only
/// when `details`; with the errors of the current state.
fn run_scan(
    args: &ScanArgs,
    target: Option<&super::PostTarget>,
    details: bool,
) -> anyhow::Result<(ScanReport, Vec<RevisionError>)> {
    let mut walk = args.history.open()?;
    // With --post, the walk the daemon makes of the configuration's
    // repository, so that findings and comments agree with the daemon's.
    let mut described = match target {
        Some(target) => target.walk(&walk.options)?,
        None => RepoWalk {
            options: walk.options.clone(),
            extra: crate::ignore::IgnoreRules::default(),
            watched: Vec::new(),
        },
    };
    walk.options = described.options.clone();
    described
        .extra
        .extend(super::ignore_rules(&args.ignore, &[])?);
    described
        .watched
        .extend(WatchedModule::read(&args.modules)?);
    let mut scanner = Scanner::new(&walk.name).watch(described.watched.clone());
    if !details {
        scanner = scanner.counts_only();
    }
    let (walker, current) = walk.run(|step| described.visit(&mut scanner, step))?;
    let mut report = scanner.finish();
    report.stats.references_parsed = walker.loader.stats.parsed.load(Ordering::Relaxed);
    report.stats.cache_hits = walker.loader.stats.hits.load(Ordering::Relaxed);
    Ok((report, current))
}

pub(super) fn scan(mut args: ScanArgs) -> anyhow::Result<Outcome> {
    let target = match (&args.config, args.post) {
        (Some(config), true) => Some(super::PostTarget::load(
            config,
            args.history.repo_name.as_deref(),
        )?),
        _ => None,
    };
    if let Some(target) = &target {
        args.history.repo_name = Some(target.name());
    }
    // Only Markdown and posted comments list changed symbols; the other
    // forms need counts.
    let details = args.format == OutputFormat::Markdown || target.is_some();
    let (report, current) = run_scan(&args, target.as_ref(), details)?;
    let rendered = match args.format {
        OutputFormat::Text => report::scan::scan_text(&report),
        OutputFormat::Json => report::scan::scan_json(&report),
        OutputFormat::Markdown => report::scan::scan_markdown(&report),
    };
    print(&rendered)?;
    if let Some(target) = target {
        target.post(&report)?;
    }
    refuse_current(&current)?;
    Ok(if report.has_problems() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}

pub(super) fn timeline(args: TimelineArgs) -> anyhow::Result<Outcome> {
    let walk = args.history.open()?;
    let described = RepoWalk {
        options: walk.options.clone(),
        extra: super::ignore_rules(&args.ignore, &[])?,
        watched: Vec::new(),
    };
    let mut timeline = Timeline::default();
    let (_, current) = walk.run(|step| described.judged(step, |s| timeline.visit(s)))?;
    let rendered = match args.format {
        OutputFormat::Text => report::timeline::text(&timeline.abis),
        OutputFormat::Json => report::timeline::json(&timeline.abis, &timeline.errors),
        OutputFormat::Markdown => report::timeline::markdown(&timeline.abis),
    };
    print(&rendered)?;
    if args.format != OutputFormat::Json && !timeline.errors.is_empty() {
        eprint!("{}", report::timeline::errors(&timeline.errors));
    }
    refuse_current(&current)?;
    Ok(if timeline.has_incompatible() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}
