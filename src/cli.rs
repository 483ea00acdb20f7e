//! The command line: clap definitions, and the mapping of each command onto
//! the library. Exit codes are decided here and nowhere else.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use std::io::IsTerminal as _;
use std::sync::atomic::Ordering;

use crate::compare::compare;
use crate::formats::{self, Format};
use crate::history::scan::{ScanReport, Scanner};
use crate::history::timeline::Timeline;
use crate::history::{Step, WalkOptions, Walker};
use crate::ignore::IgnoreRules;
use crate::layouts::Layout;
use crate::layouts::generic::{Generic, GenericConfig};
use crate::report::{self, OutputFormat};

const EXIT_CODES: &str = "\
Exit codes:
  0  no incompatible change (or nothing found)
  1  an incompatible change was found
  2  error (unreadable input, bad arguments)";

/// Guards the kernel module ABI promised by distribution packaging repositories.
#[derive(Debug, Parser)]
#[command(name = "abibot", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two ABI reference files (Module.symvers, Debian, Ubuntu or kABI form).
    #[command(after_help = EXIT_CODES)]
    Diff(DiffArgs),
    /// Walk a packaging repository's history and report commits that change
    /// the ABI under an unchanged ABI name.
    #[command(after_help = EXIT_CODES)]
    Scan(ScanArgs),
    /// For every ABI name in a history, the distinct reference states it named.
    Timeline(TimelineArgs),
}

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
    /// Parsing threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Name of the repository in finding ids (default: its directory name).
    #[arg(long)]
    pub repo_name: Option<String>,
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
}

/// Arguments of `abibot diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The reference modules were built against.
    pub old: PathBuf,
    /// The reference to check against it.
    pub new: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Input format of both files (detected from the first line by default).
    #[arg(long, value_parser = parse_format)]
    pub input_format: Option<Format>,
    /// An ignore-changes entry: `name:<glob>` (default) or `module:<glob>`.
    #[arg(long = "ignore", value_name = "PATTERN")]
    pub ignore: Vec<String>,
    /// A file of ignore-changes entries, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Vec<PathBuf>,
}

fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format {name:?}; expected one of {}",
            names.join(", ")
        )
    })
}

/// What a command concluded, mapped onto the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Clean,
    /// Exit 1.
    Incompatible,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Incompatible => 1,
        }
    }
}

/// Runs a parsed command line. Errors map to exit code 2 in `main`.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Diff(args) => diff(args),
        Command::Scan(args) => scan(args),
        Command::Timeline(args) => timeline(args),
    }
}

fn read_reference(
    path: &Path,
    format: Option<Format>,
) -> anyhow::Result<crate::symbols::SymbolSet> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(formats::parse(&bytes, format, &path.display().to_string())?)
}

/// Collects `--ignore` entries and `--ignore-file` files into one rule list.
pub fn ignore_rules(entries: &[String], files: &[PathBuf]) -> anyhow::Result<IgnoreRules> {
    let mut rules = IgnoreRules::parse(entries.iter().map(String::as_str))?;
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read ignore file {}", file.display()))?;
        rules.extend(IgnoreRules::parse_file(&text, &file.display().to_string())?);
    }
    Ok(rules)
}

fn diff(args: DiffArgs) -> anyhow::Result<Outcome> {
    let rules = ignore_rules(&args.ignore, &args.ignore_file)?;
    let old = read_reference(&args.old, args.input_format)?;
    let new = read_reference(&args.new, args.input_format)?;
    let result = compare(&old, &new, &rules);
    let (o, n) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    let rendered = match args.format {
        OutputFormat::Text => report::diff_text(&result, &o, &n),
        OutputFormat::Json => report::diff_json(&result, &o, &n),
        OutputFormat::Markdown => report::diff_markdown(&result, &o, &n),
    };
    print(&rendered)?;
    Ok(if result.is_breaking() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
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
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let config: GenericConfig =
                    toml::from_str(&text).with_context(|| format!("in {}", file.display()))?;
                let generic =
                    Generic::new(config).with_context(|| format!("in {}", file.display()))?;
                Some(Layout::Generic(std::sync::Arc::new(generic)))
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
                ..WalkOptions::default()
            },
            from,
            to,
        })
    }
}

impl Walk {
    /// Walks with a progress bar on a terminal (none when stderr is piped).
    fn run(&self, mut visit: impl FnMut(Step<'_>)) -> anyhow::Result<Walker<'_>> {
        let mut walker = Walker::new(&self.repo, self.options.clone());
        let from = self
            .from
            .as_deref()
            .map(|r| walker.resolve(r))
            .transpose()?;
        let to = walker.resolve(&self.to)?;
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
            &mut visit,
        )?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(walker)
    }
}

/// Runs a scan as `abibot scan` does, for reuse by other commands.
pub fn run_scan(history: &HistoryArgs) -> anyhow::Result<ScanReport> {
    let walk = history.open()?;
    let mut scanner = Scanner::new(&walk.name);
    let walker = walk.run(|step| scanner.visit(step))?;
    let mut report = scanner.report;
    report.stats.references_parsed = walker.loader.stats.parsed.load(Ordering::Relaxed);
    report.stats.cache_hits = walker.loader.stats.hits.load(Ordering::Relaxed);
    Ok(report)
}

fn scan(args: ScanArgs) -> anyhow::Result<Outcome> {
    let report = run_scan(&args.history)?;
    let rendered = match args.format {
        OutputFormat::Text => report::scan::scan_text(&report),
        OutputFormat::Json => report::scan::scan_json(&report),
        OutputFormat::Markdown => report::scan::scan_markdown(&report),
    };
    print(&rendered)?;
    Ok(if report.has_problems() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}

fn timeline(args: TimelineArgs) -> anyhow::Result<Outcome> {
    let walk = args.history.open()?;
    let mut timeline = Timeline::default();
    walk.run(|step| timeline.visit(step))?;
    let rendered = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&timeline.abis)? + "\n",
        OutputFormat::Text | OutputFormat::Markdown => {
            let mut out = String::new();
            for abi in &timeline.abis {
                out.push_str(&abi.verdict());
                out.push('\n');
                for (flavour, states) in abi.flavours.iter().filter(|(_, s)| s.len() > 1) {
                    for s in states {
                        let tag = if s.incompatible {
                            " [incompatible]"
                        } else {
                            ""
                        };
                        out.push_str(&format!(
                            "  {flavour:<28} {} {}{tag}\n",
                            s.commit.short(),
                            s.title
                        ));
                    }
                }
            }
            out
        }
    };
    print(&rendered)?;
    let broken = timeline
        .abis
        .iter()
        .flat_map(|a| a.flavours.values().flatten())
        .any(|s| s.incompatible);
    Ok(if broken {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
