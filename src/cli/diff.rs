//! `abibot diff`: two reference files, compared and rendered.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::{Outcome, print};
use crate::compare::{ChangeKind, Comparison, compare_owned};
use crate::explain::{Explanation, explain_only};
use crate::formats::{self, Format};
use crate::ignore::IgnoreRules;
use crate::input;
use crate::report::explain::{render_markdown, render_text};
use crate::report::{self, OutputFormat};

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
    /// The type data of both builds, in any form `abibot explain` takes:
    /// symtypes (a tree of `.symtypes`, a consolidated file, a `.tar.xz`)
    /// or debug info (a vmlinux or module with DWARF); the form is read
    /// from each file, so `--explain-debug` is the same flag. The type
    /// changes behind the breaking CRC changes are added to the output.
    #[arg(
        long,
        visible_alias = "explain-debug",
        num_args = 2,
        value_names = ["OLD_TYPES", "NEW_TYPES"]
    )]
    pub explain: Option<Vec<PathBuf>>,
}

pub(super) fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format {name:?}; expected one of {}",
            names.join(", ")
        )
    })
}

pub(super) fn read_reference(
    path: &Path,
    format: Option<Format>,
) -> anyhow::Result<crate::symbols::SymbolSet> {
    let bytes = input::read(path, input::REFERENCE)?;
    Ok(formats::parse(&bytes, format, &path.display().to_string())?)
}

/// Collects `--ignore` entries and `--ignore-file` files into one rule list.
pub fn ignore_rules(entries: &[String], files: &[PathBuf]) -> anyhow::Result<IgnoreRules> {
    let mut rules = IgnoreRules::parse(entries.iter().map(String::as_str))?;
    for file in files {
        let text = input::read_text(file, input::LIST).context("cannot read an ignore file")?;
        rules.extend(IgnoreRules::parse_file(&text, &file.display().to_string())?);
    }
    Ok(rules)
}

pub(super) fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let rules = ignore_rules(&args.ignore, &args.ignore_file)?;
    let old = read_reference(&args.old, args.input_format)?;
    let new = read_reference(&args.new, args.input_format)?;
    // The sets are not needed after: their changed symbols move into the result.
    let result = compare_owned(old, new, &rules);
    let (o, n) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    let explanation = match &args.explain {
        Some(paths) => Some(explain_breaks(&result, &paths[0], &paths[1])?),
        None => None,
    };
    let rendered = match args.format {
        OutputFormat::Text => report::diff_text(&result, &o, &n),
        OutputFormat::Json => report::diff_json(&result, &o, &n),
        OutputFormat::Markdown => report::diff_markdown(&result, &o, &n),
    };
    let rendered = match &explanation {
        Some(ex) => with_explanation(rendered, ex, args.format)?,
        None => rendered,
    };
    print(&rendered)?;
    Ok(if result.is_breaking() {
        Outcome::Incompatible
    } else {
        Outcome::Clean
    })
}

/// The explanation of `result`'s breaking CRC changes from the type data
/// (symtypes or debug info) at `old` and `new`.
fn explain_breaks(result: &Comparison, old: &Path, new: &Path) -> anyhow::Result<Explanation> {
    let changed: HashSet<&str> = result
        .of_kind(ChangeKind::CrcChanged)
        .filter(|c| c.breaks())
        .map(|c| c.symbol.as_str())
        .collect();
    let old = crate::dwarf::load_types(old)?;
    let new = crate::dwarf::load_types(new)?;
    Ok(explain_only(&old, &new, &|name| changed.contains(name)))
}

/// `rendered` (diff's output in `format`) with the explanation: a field
/// `explanation` of the JSON object, or the explanation's own text or
/// Markdown after it.
fn with_explanation(
    rendered: String,
    ex: &Explanation,
    format: OutputFormat,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => {
            let mut json: serde_json::Value = serde_json::from_str(&rendered)?;
            json["explanation"] = serde_json::to_value(ex)?;
            serde_json::to_string_pretty(&json)? + "\n"
        }
        OutputFormat::Text => rendered + "\n" + &render_text(ex),
        OutputFormat::Markdown => rendered + "\n" + &render_markdown(ex),
    })
}
