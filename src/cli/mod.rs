//! The command line: clap definitions, and the mapping of each command onto
//! the library. Exit codes are decided here and nowhere else.

mod bisect;
mod compat;
mod daemon;
mod diff;
mod elf;
mod explain;
mod history;
mod package_files;
mod verify;

use clap::{Parser, Subcommand};

pub use bisect::{BisectArgs, BisectFormat};
pub use compat::CompatArgs;
pub use daemon::{
    ConfigArgs, ConfigCommand, DaemonArgs, DemoArgs, PostTarget, StateArgs, StateCommand,
};
pub use diff::{DiffArgs, ignore_rules};
pub use elf::{CheckFormat, CheckModuleArgs, ExtractArgs, ExtractFormat};
pub use explain::ExplainArgs;
pub use history::{HistoryArgs, ScanArgs, TimelineArgs};
pub use package_files::{CompletionsArgs, ManArgs};
pub use verify::{VerifyArgs, VerifyFormat};

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  no incompatible change (or nothing found)
  1  an incompatible change was found
  2  error (unreadable input, bad arguments)";

/// `abibot --version`: the crate's version and the git commit it was built
/// from (`unknown` outside a checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ABIBOT_COMMIT"),
    ")"
);

/// Guards the kernel module ABI promised by distribution packaging repositories.
#[derive(Debug, Parser)]
#[command(name = "abibot", version = VERSION, after_help = EXIT_CODES)]
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
    /// Find the first commit that changed a symbol or broke a flavour, from
    /// the references (default) or by building each probe (--run).
    #[command(after_help = bisect::BISECT_EXIT_CODES)]
    Bisect(BisectArgs),
    /// List the exports of vmlinux and modules as Module.symvers lines.
    #[command(after_help = elf::EXTRACT_EXIT_CODES)]
    Extract(ExtractArgs),
    /// Decide whether modules would load on a kernel with the given exports.
    #[command(after_help = elf::CHECK_EXIT_CODES)]
    CheckModule(CheckModuleArgs),
    /// Where prebuilt modules load along a packaging history: for every ABI
    /// name and reference state of their flavours, the loader's verdict.
    #[command(after_help = compat::COMPAT_EXIT_CODES)]
    Compat(CompatArgs),
    /// Watch repositories and comment on commits that hide an ABI change.
    Daemon(DaemonArgs),
    /// Configuration file tools.
    Config(ConfigArgs),
    /// The daemon's record: list findings, retry failed ones.
    State(StateArgs),
    /// Build a small packaging repository from real Debian references and
    /// show the comments the daemon would post on it (no setup, no network).
    Demo(DemoArgs),
    /// Recompute every export's CRC from genksyms symtypes and compare it
    /// with a Module.symvers: is this pair from the same build?
    #[command(after_help = verify::VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
    /// Name the type changes behind CRC changes: compare two genksyms
    /// symtypes sets and group the changed exports by root cause.
    #[command(after_help = explain::EXPLAIN_EXIT_CODES)]
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page, or write one per subcommand with --dir.
    Man(ManArgs),
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
        Command::Diff(args) => diff::run(args),
        Command::Scan(args) => history::scan(args),
        Command::Timeline(args) => history::timeline(args),
        Command::Bisect(args) => bisect::run(args),
        Command::Extract(args) => elf::extract(args),
        Command::CheckModule(args) => elf::check_module(args),
        Command::Compat(args) => compat::run(args),
        Command::Daemon(args) => daemon::daemon(args),
        Command::Config(args) => daemon::config(args),
        Command::State(args) => daemon::state(args),
        Command::Demo(args) => daemon::demo(args),
        Command::Verify(args) => verify::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Completions(args) => package_files::completions(args),
        Command::Man(args) => package_files::man(args),
    }
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
