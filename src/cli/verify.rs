//! `abibot verify SYMTYPES SYMVERS`: recompute every export's CRC from
//! genksyms symtypes and compare it with a reference (Module.symvers or any
//! reference format [`crate::formats`] reads). A mismatch means the pair is
//! stale or not from the same build, so an explanation drawn from these
//! symtypes would not be about the CRCs the reference holds.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{Outcome, print};
use crate::symbols::SymbolSet;
use crate::symtypes::{self, Symtypes, crc};

/// Exit codes of `abibot verify`.
pub(crate) const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every export's recomputed CRC equals the reference's
  1  some differ, or an export is missing from the reference
  2  error (unreadable input, bad arguments)";

/// Arguments of `abibot verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// genksyms symtypes: a directory tree of `.symtypes` files, a `.tar.xz`
    /// of them, or a consolidated file.
    pub symtypes: PathBuf,
    /// The reference CRCs: a Module.symvers (or another reference format).
    pub symvers: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value_t)]
    pub format: VerifyFormat,
}

/// Output forms of `abibot verify`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// One line per problem and a summary.
    #[default]
    Text,
    /// `{"checked": N, "mismatched": [...], "missing": [...]}`.
    Json,
}

/// One export whose recomputed CRC differs from the reference.
#[derive(Debug, Serialize)]
struct Mismatch {
    symbol: String,
    computed: String,
    reference: String,
    /// The symtypes file defining it.
    file: String,
}

/// What `verify` found.
#[derive(Debug, Serialize)]
struct Verdict {
    /// Exports found in both the symtypes and the reference.
    checked: usize,
    mismatched: Vec<Mismatch>,
    /// Exports of the symtypes the reference does not list.
    missing: Vec<String>,
    /// Symtypes files read.
    files: usize,
}

pub(super) fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let st = symtypes::load(&args.symtypes)?;
    let reference = super::diff::read_reference(&args.symvers, None)
        .with_context(|| format!("reading {}", args.symvers.display()))?;
    let verdict = verify(&st, &reference)?;
    let rendered = match args.format {
        VerifyFormat::Json => serde_json::to_string_pretty(&verdict)? + "\n",
        VerifyFormat::Text => text(&verdict, &args),
    };
    print(&rendered)?;
    Ok(
        if verdict.mismatched.is_empty() && verdict.missing.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Incompatible
        },
    )
}

/// Compares every export's recomputed CRC with the reference's.
fn verify(st: &Symtypes, reference: &SymbolSet) -> anyhow::Result<Verdict> {
    let mut verdict = Verdict {
        checked: 0,
        mismatched: Vec::new(),
        missing: Vec::new(),
        files: st.files().len(),
    };
    for export in crc::all_crcs(st)? {
        let symbol = st.names.text(export.symbol);
        let Some(known) = reference.get(symbol) else {
            verdict.missing.push(symbol.to_owned());
            continue;
        };
        verdict.checked += 1;
        if known.crc.0 != export.crc {
            verdict.mismatched.push(Mismatch {
                symbol: symbol.to_owned(),
                computed: format!("0x{:08x}", export.crc),
                reference: format!("0x{:08x}", known.crc.0),
                file: st.file(export.file).path.clone(),
            });
        }
    }
    verdict.mismatched.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    verdict.missing.sort();
    Ok(verdict)
}

fn text(verdict: &Verdict, args: &VerifyArgs) -> String {
    let mut out = String::new();
    for m in &verdict.mismatched {
        out.push_str(&format!(
            "mismatch {}: computed {}, reference {} ({})\n",
            m.symbol, m.computed, m.reference, m.file
        ));
    }
    for symbol in &verdict.missing {
        out.push_str(&format!("missing {symbol}: not in the reference\n"));
    }
    out.push_str(&format!(
        "{} exports of {} symtypes files checked against {}: {} mismatched, {} missing\n",
        verdict.checked,
        verdict.files,
        args.symvers.display(),
        verdict.mismatched.len(),
        verdict.missing.len()
    ));
    out
}
