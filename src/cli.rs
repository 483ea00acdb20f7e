//! The command line: clap definitions, and the mapping of each command onto
//! the library. Exit codes are decided here and nowhere else.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::compare::compare;
use crate::formats::{self, Format};
use crate::ignore::IgnoreRules;
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

/// Writes to stdout, treating a closed pipe (`| head`) as success.
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
