//! `abibot explain OLD NEW [--symvers OLD NEW]`: which type changes are
//! behind the CRC changes between two genksyms symtypes sets
//! ([`crate::explain`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{Outcome, print};
use crate::explain::explain_only;
use crate::report::OutputFormat;
use crate::report::explain::{render_json, render_markdown, render_text};

/// Exit codes of `abibot explain`.
pub(crate) const EXPLAIN_EXIT_CODES: &str = "\
Exit codes:
  0  no export's expanded type changed
  1  some did (or, with --symvers, a CRC changed that the symtypes do not explain)
  2  error (unreadable input, bad arguments)";

/// Arguments of `abibot explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The old symtypes: a directory tree of `.symtypes` files, a `.tar.xz`
    /// of them, or a consolidated file; or debug info (its DWARF read into
    /// the same model): a vmlinux or module, a directory of them (an
    /// unpacked `usr/lib/debug/`), or a `-dbg` `.deb` read in place.
    pub old: PathBuf,
    /// The new symtypes, in any of the same forms.
    pub new: PathBuf,
    /// Only the exports whose CRC changed between these two references
    /// (Module.symvers or another reference format), old then new.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub symvers: Option<Vec<PathBuf>>,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Of a `-dbg` package or a directory of debug info, read the modules
    /// too, not only the vmlinux (minutes instead of seconds on Debian's).
    #[arg(long)]
    pub modules: bool,
}

/// The exports whose CRC differs between the two references.
fn crc_changed(paths: &[PathBuf]) -> anyhow::Result<BTreeSet<String>> {
    let read = |p: &PathBuf| {
        super::diff::read_reference(p, None).with_context(|| format!("reading {}", p.display()))
    };
    let (old, new) = (read(&paths[0])?, read(&paths[1])?);
    Ok(old
        .iter()
        .filter(|s| new.get(&s.name).is_some_and(|n| n.crc != s.crc))
        .map(|s| s.name.to_string())
        .collect())
}

pub(super) fn run(args: ExplainArgs) -> anyhow::Result<Outcome> {
    let options = crate::dwarf::DebugOptions {
        modules: args.modules,
    };
    let old = crate::dwarf::load_types_with(&args.old, &options)?;
    let new = crate::dwarf::load_types_with(&args.new, &options)?;
    let changed = args.symvers.as_deref().map(crc_changed).transpose()?;
    let ex = match &changed {
        Some(set) => explain_only(&old, &new, &|name| set.contains(name)),
        None => explain_only(&old, &new, &|_| true),
    };
    // A CRC change of an export both sets define whose expanded types are
    // equal: the symtypes are not from the builds the references came from.
    let unexplained: Option<Vec<String>> = changed.as_ref().map(|set| {
        let listed: BTreeSet<&str> = ex.exports.iter().map(|e| e.symbol.as_str()).collect();
        set.iter()
            .filter(|s| old.export_file(s).is_some() && new.export_file(s).is_some())
            .filter(|s| !listed.contains(s.as_str()))
            .cloned()
            .collect()
    });
    let rendered = match args.format {
        OutputFormat::Json => render_json(&ex, unexplained.as_deref())?,
        OutputFormat::Text => render_text(&ex) + &unexplained_text(unexplained.as_deref()),
        OutputFormat::Markdown => render_markdown(&ex),
    };
    print(&rendered)?;
    let clean = ex.exports.is_empty() && unexplained.is_none_or(|u| u.is_empty());
    Ok(if clean {
        Outcome::Clean
    } else {
        Outcome::Incompatible
    })
}

fn unexplained_text(unexplained: Option<&[String]>) -> String {
    unexplained
        .unwrap_or_default()
        .iter()
        .map(|s| {
            format!(
                "unexplained {}: its CRC changed but its expanded type did not\n",
                crate::report::untrusted::text(s)
            )
        })
        .collect()
}
