//! `abibot compat MODULE.ko... --repo R`: where prebuilt modules load
//! along a packaging history (see [`crate::compat`]).

use std::path::PathBuf;

use clap::Args;

use super::history::{HistoryArgs, refuse_current, with_progress};
use super::{Outcome, print};
use crate::compat::Choice;
use crate::report::{self, OutputFormat};
use crate::symbols::FlavourKey;

pub(crate) const COMPAT_EXIT_CODES: &str = "\
Exit codes:
  0  every module loads on each of its flavours at the range's last commit
  1  some module does not load there (or its flavour has no reference there)
  2  error (unreadable module or repository, bad revision or range, a flavour
     or module that matches nothing in the range)";

/// Arguments of `abibot compat`.
#[derive(Debug, Args)]
pub struct CompatArgs {
    /// Modules to check (.ko, .ko.xz, .ko.zst, .ko.gz) or directories of them.
    #[arg(required = true)]
    pub modules: Vec<PathBuf>,
    /// What to walk.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Check every module against this flavour, as `<arch>_<featureset>_<flavour>`
    /// (repeatable). Default: the flavour each module's vermagic names
    /// (`6.1.0-50-amd64` is `amd64_none_amd64`, `6.1.0-50-rt-amd64` is
    /// `amd64_rt_amd64`), on its architecture.
    #[arg(long = "flavour", value_name = "FLAVOUR")]
    pub flavours: Vec<FlavourKey>,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Refuse compressed modules that decompress to more bytes than this.
    #[arg(long, value_name = "BYTES", default_value_t = crate::elf::DEFAULT_MAX_DECOMPRESSED)]
    pub max_decompressed: u64,
}

/// Runs `abibot compat`.
pub fn run(args: CompatArgs) -> anyhow::Result<Outcome> {
    let modules = super::elf::read_modules(&args.modules, args.max_decompressed)?;
    let choice = if args.flavours.is_empty() {
        Choice::Vermagic
    } else {
        Choice::Given(args.flavours.clone())
    };
    let walk = args.history.open(&[], &[])?;
    let (mut pipeline, from, to) = walk.pipeline()?;
    let (report, current) = with_progress(|progress| {
        crate::compat::compat(&mut pipeline, from, to, &modules, &choice, progress)
    })?;
    let rendered = match args.format {
        OutputFormat::Text => report::compat::text(&report),
        OutputFormat::Json => report::compat::json(&report),
        OutputFormat::Markdown => report::compat::markdown(&report),
    };
    print(&rendered)?;
    if args.format != OutputFormat::Json && !report.errors.is_empty() {
        eprint!("{}", report::problems_text(&report.errors));
    }
    refuse_current(&current)?;
    Ok(if report.all_load_at_end() {
        Outcome::Clean
    } else {
        Outcome::Incompatible
    })
}
