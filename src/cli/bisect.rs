//! `abibot bisect`: finds the first commit that changed a symbol or broke a
//! flavour, from the references (default) or by building (`--run`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::{ArgGroup, Args, ValueEnum};

use super::{Outcome, print};
use crate::bisect::build::{AbiReader, BuildOptions, ElfReader, SymversReader, bisect_builds};
use crate::bisect::reference::{ReferenceOptions, bisect_references};
use crate::bisect::{BisectReport, Kind, Predicate};
use crate::pipeline::RepoSpec;
use crate::report::bisect as render;
use crate::symbols::FlavourKey;

pub(crate) const BISECT_EXIT_CODES: &str = "\
Exit codes:
  0  a first bad commit was found
  1  no commit in the range changes the ABI the way asked
  2  error (bad ends, unreadable ends, a failing build, interrupted)";

/// Output forms of `abibot bisect`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BisectFormat {
    /// For people.
    #[default]
    Text,
    /// The report's JSON form.
    Json,
}

/// Arguments of `abibot bisect`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("abi_source").args(["symvers", "vmlinux"])))]
pub struct BisectArgs {
    /// The packaging repository (a git clone; its checkout and index are never modified).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// A revision without the change (the baseline every probe is compared with).
    #[arg(long)]
    pub good: String,
    /// A later revision with the change, on the good one's first-parent line.
    #[arg(long)]
    pub bad: String,
    /// Judge only this flavour (repeatable; default: every flavour at --good).
    #[arg(long = "flavour", value_name = "FLAVOUR", conflicts_with = "run")]
    pub flavours: Vec<FlavourKey>,
    /// Watch only this symbol (repeatable; default: every symbol).
    #[arg(long = "symbol", value_name = "SYMBOL")]
    pub symbols: Vec<String>,
    /// Which difference from --good makes a revision bad (any: any incompatible change).
    #[arg(long, value_enum, default_value_t)]
    pub kind: Kind,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: BisectFormat,
    /// Directory holding the packaging (`linux`); detected by default.
    #[arg(long, conflicts_with = "run")]
    pub root: Option<String>,
    /// Force a layout (detected by default).
    #[arg(long, conflicts_with = "run", value_parser = clap::builder::PossibleValuesParser::new(crate::layouts::possible_values()))]
    pub layout: Option<String>,
    /// Build mode: run CMD (through `sh -c`, in a temporary worktree, with
    /// ABIBOT_REV set) at each probe. Exit 125 skips the revision. Ctrl-C
    /// stops the build and removes the worktrees before exiting.
    #[arg(long, value_name = "CMD", requires = "abi_source")]
    pub run: Option<String>,
    /// Build mode: the Module.symvers the build leaves, relative to the worktree.
    #[arg(long, value_name = "PATH", requires = "run")]
    pub symvers: Option<PathBuf>,
    /// Build mode: the vmlinux the build leaves (with --modules).
    #[arg(long, value_name = "PATH", requires_all = ["run", "modules"])]
    pub vmlinux: Option<PathBuf>,
    /// Build mode: the directory of built modules (with --vmlinux).
    #[arg(long, value_name = "DIR", requires = "vmlinux")]
    pub modules: Option<PathBuf>,
    /// Build mode: what to call the built ABI in the report.
    #[arg(long, value_name = "NAME", requires = "run", default_value = "build")]
    pub flavour_name: String,
    /// Build mode: a failing CMD (other than exit 125) makes the revision bad
    /// instead of stopping with an error.
    #[arg(long, requires = "run")]
    pub fail_is_bad: bool,
    /// Build mode: where to keep each probe's stdout, stderr and ABI (new or
    /// empty; default: a new temporary directory, named in the report).
    #[arg(long, value_name = "DIR", requires = "run")]
    pub keep_dir: Option<PathBuf>,
}

/// Runs `abibot bisect`.
pub(super) fn run(args: BisectArgs) -> anyhow::Result<Outcome> {
    let predicate = Predicate {
        kind: args.kind,
        symbols: args.symbols.iter().cloned().collect(),
    };
    let mut log = |line: &str| eprintln!("abibot bisect: {line}");
    let report = match &args.run {
        None => reference(&args, predicate, &mut log)?,
        Some(command) => build(&args, command, predicate, &mut log)?,
    };
    print(&match args.format {
        BisectFormat::Text => render::text(&report),
        BisectFormat::Json => render::json(&report),
    })?;
    // Exit 0 when the question has an answer, as scripts around `git
    // bisect` expect; `Outcome::Clean` is the variant carrying code 0.
    Ok(if report.first_bad.is_some() {
        Outcome::Clean
    } else {
        Outcome::Incompatible
    })
}

fn reference(
    args: &BisectArgs,
    predicate: Predicate,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<BisectReport> {
    let repo = git2::Repository::open(&args.repo)
        .with_context(|| format!("cannot open git repository {}", args.repo.display()))?;
    // Probes are judged by bisect's own predicate: of the repository's
    // description only the layout and root apply.
    let spec = RepoSpec::at(
        args.root.clone(),
        super::history::forced_layout(args.layout.as_deref(), None, args.root.as_deref())?,
    );
    let options = ReferenceOptions {
        good: args.good.clone(),
        bad: args.bad.clone(),
        flavours: args.flavours.clone(),
        predicate,
        spec,
    };
    Ok(bisect_references(&repo, &options, log)?)
}

fn build(
    args: &BisectArgs,
    command: &str,
    predicate: Predicate,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<BisectReport> {
    let reader: Box<dyn AbiReader> = match (&args.symvers, &args.vmlinux, &args.modules) {
        (Some(path), _, _) => Box::new(SymversReader::new(path)?),
        (None, Some(vmlinux), Some(modules)) => Box::new(ElfReader::new(vmlinux, modules)?),
        _ => unreachable!("clap requires --symvers, or --vmlinux with --modules, with --run"),
    };
    let options = BuildOptions {
        repo: args.repo.clone(),
        good: args.good.clone(),
        bad: args.bad.clone(),
        command: command.to_owned(),
        predicate,
        flavour_name: args.flavour_name.clone(),
        fail_is_bad: args.fail_is_bad,
        keep_dir: args.keep_dir.clone(),
        cancel: cancel_on_signals()?,
    };
    Ok(bisect_builds(&options, reader.as_ref(), log)?)
}

/// A flag set on SIGINT (Ctrl-C) or SIGTERM. Once this is installed those
/// signals no longer kill abibot: build mode sees the flag, stops the
/// running build, removes its worktrees and exits with an error (code 2).
fn cancel_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    // Registered here, before any worktree exists, so no Ctrl-C can slip
    // between a worktree's creation and the handler's.
    let (mut interrupt, mut terminate) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })
        .context("cannot install the Ctrl-C handler")?;
    let set = flag.clone();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                eprintln!("abibot bisect: interrupted; stopping the build and removing worktrees");
                set.store(true, Ordering::SeqCst);
            }
        });
    });
    Ok(flag)
}
