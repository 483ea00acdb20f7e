//! `abibot scan` and `abibot timeline`: history walks over a packaging
//! repository, with a progress bar on a terminal.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use git2::Oid;

use super::{Outcome, print};
use crate::config::RepoSource;
use crate::history::cache::{DEFAULT_CACHE_BYTES, MAX_JOBS};
use crate::history::explain::source::{BuildSources, Template};
use crate::history::scan::{ScanReport, ScanStats, WatchedModule};
use crate::history::{RevisionError, WalkOptions};
use crate::layouts::Layout;
use crate::layouts::generic::{Generic, GenericConfig};
use crate::picture::Picture;
use crate::pipeline::{Pipeline, RepoSpec, Scan};
use crate::report::{self, HistoryFormat};

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
    /// Force a layout (detected by default).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::layouts::possible_values()))]
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

/// What `scan --post` takes from the configuration: the flags that would
/// walk something else than the daemon does.
const POST_CONFLICTS: [&str; 11] = [
    "repo",
    "branch",
    "range",
    "root",
    "layout",
    "generic_layout",
    "all_parents",
    "modules",
    "ignore",
    "symtypes_source",
    "debug_source",
];

/// Arguments of `abibot scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to walk.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output form (html: the timeline as one self-contained page).
    #[arg(long, value_enum, default_value_t)]
    pub format: HistoryFormat,
    /// Scan a configuration's repository as the daemon does (its path,
    /// branches, layout, root, ignore rules and modules; --repo-name picks
    /// the `[[repo]]`) and post a comment per problem finding through its
    /// forge; comments already there are not repeated. The flags that say
    /// what to walk are refused with it, but for --since.
    #[arg(long, requires = "config", conflicts_with_all = POST_CONFLICTS)]
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
    /// Symtypes kept outside the repository, explaining hidden breaks: a
    /// path template filled for the commit that wrote each side's reference
    /// (`{commit}`, `{version}`: at least one; `{abi}`, `{arch}`,
    /// `{featureset}`, `{flavour}`, `{image_flavour}`); checked against the
    /// reference's CRCs.
    #[arg(long, value_name = "TEMPLATE")]
    pub symtypes_source: Option<Template>,
    /// Debug info kept outside the repository (a vmlinux, a directory, a
    /// `-dbg` `.deb`), as --symtypes-source; tried after it.
    #[arg(long, value_name = "TEMPLATE")]
    pub debug_source: Option<Template>,
}

/// Arguments of `abibot timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// What to walk.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Output form (html: the timeline as one self-contained page).
    #[arg(long, value_enum, default_value_t)]
    pub format: HistoryFormat,
    /// An ignore-changes entry added to every flavour's own, as in `scan`
    /// (repeatable): the same rules give the same verdict.
    #[arg(long = "ignore", value_name = "PATTERN")]
    pub ignore: Vec<String>,
}

/// The layout forced by `--layout NAME` (built at `root`) or by
/// `--generic-layout FILE`; `None` to detect it.
pub(super) fn forced_layout(
    name: Option<&str>,
    generic: Option<&Path>,
    root: Option<&str>,
) -> anyhow::Result<Option<Layout>> {
    Ok(match (name, generic) {
        (Some(name), _) => Some(
            Layout::named(name, root.unwrap_or(""))
                .with_context(|| format!("unknown layout {name:?}"))?,
        ),
        (None, Some(file)) => {
            let text = crate::input::read_text(file, crate::input::CONFIG)?;
            let config: GenericConfig =
                toml::from_str(&text).with_context(|| format!("in {}", file.display()))?;
            let generic = Generic::new(config).with_context(|| format!("in {}", file.display()))?;
            Some(Layout::generic(generic))
        }
        (None, None) => None,
    })
}

/// An opened repository, its description and the commits to visit, as the
/// flags say.
pub(super) struct Walk {
    repo: git2::Repository,
    spec: RepoSpec,
    from: Option<String>,
    to: String,
}

impl HistoryArgs {
    /// The first and last revisions of the walk (`None`: from the root).
    fn ends(&self) -> anyhow::Result<(Option<String>, String)> {
        Ok(match &self.range {
            Some(range) => {
                let (a, b) = range
                    .split_once("..")
                    .with_context(|| format!("--range {range:?}: expected A..B"))?;
                let b = if b.is_empty() { "HEAD" } else { b };
                (Some(a.to_owned()), b.to_owned())
            }
            None => (
                self.since.clone(),
                self.branch.clone().unwrap_or_else(|| "HEAD".to_owned()),
            ),
        })
    }

    /// The repository's name in finding ids: `--repo-name`, else its
    /// directory's name.
    fn name(&self) -> String {
        self.repo_name.clone().unwrap_or_else(|| {
            let path = std::fs::canonicalize(&self.repo).unwrap_or_else(|_| self.repo.clone());
            path.file_name()
                .map_or("repo".to_owned(), |n| n.to_string_lossy().into_owned())
        })
    }

    /// The walk the flags describe, with the `--ignore` rules and the
    /// watched `--module`s of the command: every part parsed here, once.
    pub(super) fn open(&self, ignore: &[String], modules: &[PathBuf]) -> anyhow::Result<Walk> {
        let repo = git2::Repository::open(&self.repo)
            .with_context(|| format!("cannot open git repository {}", self.repo.display()))?;
        let (from, to) = self.ends()?;
        let spec = RepoSpec {
            name: self.name(),
            walk: WalkOptions {
                root: self.root.clone(),
                layout: forced_layout(
                    self.layout.as_deref(),
                    self.generic_layout.as_deref(),
                    self.root.as_deref(),
                )?,
                all_parents: self.all_parents,
                jobs: self.jobs,
                cache_bytes: self.cache_bytes(),
            },
            ignore: super::ignore_rules(ignore, &[])?,
            watched: WatchedModule::read(modules)?,
            explain: BuildSources::default(),
        };
        Ok(Walk {
            repo,
            spec,
            from,
            to,
        })
    }

    fn cache_bytes(&self) -> usize {
        self.cache_mib.saturating_mul(1 << 20)
    }
}

impl Walk {
    /// The pipeline over the repository, and the range resolved.
    pub(super) fn pipeline(&self) -> anyhow::Result<(Pipeline<'_>, Option<Oid>, Oid)> {
        let pipeline = self.spec.open(&self.repo);
        let from = self
            .from
            .as_deref()
            .map(|r| pipeline.resolve(r))
            .transpose()?;
        let to = pipeline.resolve(&self.to)?;
        Ok((pipeline, from, to))
    }
}

/// Runs `walk` with a progress bar on a terminal (none when stderr is piped).
pub(super) fn with_progress<T>(walk: impl FnOnce(&mut dyn FnMut(usize, usize)) -> T) -> T {
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
    let out = walk(&mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

/// The exit-code contract of `scan` and `timeline`: an error in the current
/// state is exit 2 (the answer would be about a state nobody can read);
/// errors at older revisions are only listed and counted.
pub(super) fn refuse_current(current: &[RevisionError]) -> anyhow::Result<()> {
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

/// `scan` as the flags describe it; changed symbols kept only when `details`.
fn scan_flags(args: &ScanArgs, details: bool) -> anyhow::Result<Scan> {
    let mut walk = args.history.open(&args.ignore, &args.modules)?;
    walk.spec.explain = BuildSources::new(args.symtypes_source.clone(), args.debug_source.clone());
    let (mut pipeline, from, to) = walk.pipeline()?;
    Ok(with_progress(|progress| {
        pipeline.scan(from, to, details, progress, |_| {})
    })?)
}

/// `scan --post`: the configuration's repository, walked as the daemon with
/// `backfill` walks it: its `path`, every branch from its root (or from
/// `--since`, as a later poll), its description (layout, root, ignore rules,
/// watched modules). Besides `--since`, only the speed flags (`--jobs`,
/// `--cache-mib`) come from the command line.
fn scan_configured(target: &super::PostTarget, flags: &HistoryArgs) -> anyhow::Result<Scan> {
    let repo = target.repo();
    let RepoSource::Path(path) = &repo.source else {
        anyhow::bail!(
            "repository {} (line {} of the configuration) is fetched from a url: \
             scan --post reads a [[repo]] given by `path` (a clone of it), never fetches",
            repo.name,
            repo.line
        );
    };
    let git = git2::Repository::open(path)
        .with_context(|| format!("cannot open git repository {}", path.display()))?;
    let mut spec = RepoSpec::of_config(repo, flags.jobs)?;
    spec.walk.cache_bytes = flags.cache_bytes();
    let mut all: Option<Scan> = None;
    for branch in &repo.branches {
        let head = crate::daemon::git::branch_head(&git, repo, branch)?;
        let mut pipeline = spec.open(&git);
        // As the daemon's later polls: the commits after `--since`, knowing
        // what each name promised before.
        let from = flags
            .since
            .as_deref()
            .map(|r| pipeline.resolve(r))
            .transpose()?;
        let scan = with_progress(|progress| pipeline.scan(from, head, true, progress, |_| {}))?;
        all = Some(match all {
            Some(so_far) => merged(so_far, scan),
            None => scan,
        });
    }
    Ok(all.expect("the configuration lists at least one branch"))
}

/// Two branches' scans as one: a finding of a commit both branches hold has
/// one id and is kept once; counters add up.
fn merged(mut into: Scan, more: Scan) -> Scan {
    let ScanReport {
        commits_scanned,
        findings,
        errors,
        stats,
    } = more.report;
    let report = &mut into.report;
    report.commits_scanned += commits_scanned;
    add_new(&mut report.findings, findings, |a, b| a.id == b.id);
    add_new(&mut report.errors, errors, PartialEq::eq);
    add_new(&mut into.current, more.current, PartialEq::eq);
    let ScanStats {
        compatible_refreshes,
        commits_touching_references,
        references_parsed,
        cache_hits,
    } = stats;
    let report = &mut into.report;
    report.stats.compatible_refreshes += compatible_refreshes;
    report.stats.commits_touching_references += commits_touching_references;
    report.stats.references_parsed += references_parsed;
    report.stats.cache_hits += cache_hits;
    into
}

/// Appends the items `list` does not hold yet (`same` tells).
fn add_new<T>(list: &mut Vec<T>, items: Vec<T>, same: impl Fn(&T, &T) -> bool) {
    for item in items {
        if !list.iter().any(|held| same(held, &item)) {
            list.push(item);
        }
    }
}

pub(super) fn scan(args: ScanArgs) -> anyhow::Result<Outcome> {
    let target = match (&args.config, args.post) {
        (Some(config), true) => Some(super::PostTarget::load(
            config,
            args.history.repo_name.as_deref(),
        )?),
        _ => None,
    };
    // Only Markdown and posted comments list changed symbols; the other
    // forms need counts.
    let details = args.format == HistoryFormat::Markdown;
    if args.format == HistoryFormat::Html {
        anyhow::ensure!(
            target.is_none(),
            "scan --post renders its comments itself: --format html draws a walk of --repo \
             (run it without --post)"
        );
        let (picture, current) = html_picture(&args.history, &args.ignore, &args.modules)?;
        print(&report::html::page(&picture))?;
        refuse_current(&current)?;
        let problems = picture.findings.iter().any(|f| f.kind.is_problem());
        return Ok(if problems {
            Outcome::Incompatible
        } else {
            Outcome::Clean
        });
    }
    let Scan { report, current } = match &target {
        Some(target) => scan_configured(target, &args.history)?,
        None => scan_flags(&args, details)?,
    };
    let rendered = match args.format {
        HistoryFormat::Text => report::scan::scan_text(&report),
        HistoryFormat::Json => report::scan::scan_json(&report),
        HistoryFormat::Markdown => report::scan::scan_markdown(&report),
        HistoryFormat::Html => unreachable!("drawn above"),
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

/// The picture `--format html` draws: the walk the flags describe, once,
/// giving the timeline and the scan's findings.
fn html_picture(
    history: &HistoryArgs,
    ignore: &[String],
    modules: &[PathBuf],
) -> anyhow::Result<(Picture, Vec<RevisionError>)> {
    let walk = history.open(ignore, modules)?;
    let (_, from, to) = walk.pipeline()?;
    Ok(with_progress(|progress| {
        crate::picture::gather(&walk.repo, &walk.spec, from, to, progress)
    })?)
}

pub(super) fn timeline(args: TimelineArgs) -> anyhow::Result<Outcome> {
    if args.format == HistoryFormat::Html {
        let (picture, current) = html_picture(&args.history, &args.ignore, &[])?;
        print(&report::html::page(&picture))?;
        refuse_current(&current)?;
        let broke = picture
            .abis
            .iter()
            .flat_map(|a| a.flavours.values().flatten());
        return Ok(if broke.into_iter().any(|s| s.incompatible) {
            Outcome::Incompatible
        } else {
            Outcome::Clean
        });
    }
    let walk = args.history.open(&args.ignore, &[])?;
    let (mut pipeline, from, to) = walk.pipeline()?;
    let (timeline, current) = with_progress(|progress| pipeline.timeline(from, to, progress))?;
    let rendered = match args.format {
        HistoryFormat::Text => report::timeline::text(&timeline.abis),
        HistoryFormat::Json => report::timeline::json(&timeline.abis, &timeline.errors),
        HistoryFormat::Markdown => report::timeline::markdown(&timeline.abis),
        HistoryFormat::Html => unreachable!("drawn above"),
    };
    print(&rendered)?;
    if args.format != HistoryFormat::Json && !timeline.errors.is_empty() {
        eprint!("{}", report::problems_text(&timeline.errors));
    }
    refuse_current(&current)?;
    Ok(if timeline.has_incompatible() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}
