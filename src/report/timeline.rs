//! Rendering of `timeline` results: every ABI name with the reference
//! states it went through.

use std::fmt::Write as _;

use super::untrusted::{self, cell, code, plain};
use crate::history::RevisionError;
use crate::history::timeline::AbiHistory;

/// `ABI 6.1.0-53 named 3 different ABIs (amd64_none_amd64: 3 states, ...)`,
/// names shown by `show`.
pub fn verdict(abi: &AbiHistory, show: &dyn Fn(&str) -> String) -> String {
    let n = abi.distinct();
    let name = show(abi.abi.as_str());
    if n <= 1 {
        return format!("ABI {name} named one ABI");
    }
    let detail: Vec<String> = abi
        .flavours
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(f, s)| format!("{}: {} states", show(f), s.len()))
        .collect();
    format!(
        "ABI {name} named {n} different ABIs ({})",
        detail.join(", ")
    )
}

/// Human text: a verdict per name, then the states of flavours that had several.
pub fn text(abis: &[AbiHistory]) -> String {
    let mut out = String::new();
    for abi in abis {
        let _ = writeln!(out, "{}", verdict(abi, &plain));
        for (flavour, states) in abi.flavours.iter().filter(|(_, s)| s.len() > 1) {
            for s in states {
                let tag = if s.incompatible {
                    " [incompatible]"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {:<28} {} {}{tag}",
                    untrusted::text(flavour),
                    s.commit.short(),
                    untrusted::text(&s.title)
                );
            }
        }
    }
    out
}

/// Markdown: a verdict per name and a table of states.
pub fn markdown(abis: &[AbiHistory]) -> String {
    let mut out = String::from("## abibot timeline\n");
    for abi in abis {
        let _ = writeln!(out, "\n**{}**\n", verdict(abi, &code));
        out.push_str("| flavour | commit | title | incompatible |\n|---|---|---|---|\n");
        for (flavour, states) in &abi.flavours {
            for s in states {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    cell(flavour),
                    cell(s.commit.short()),
                    cell(&s.title),
                    if s.incompatible { "yes" } else { "" }
                );
            }
        }
    }
    out
}

/// Problems at single revisions, counted and then one per line (commit,
/// file, message): written to stderr beside the text and Markdown forms.
pub fn errors(errors: &[RevisionError]) -> String {
    let plural = if errors.len() == 1 { "" } else { "s" };
    let mut out = format!("{} error{plural}:\n", errors.len());
    for e in errors {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            e.commit.short(),
            untrusted::text(&e.path),
            untrusted::text(&e.message)
        );
    }
    out
}

/// JSON: `abis`, the list of names with their states per flavour, and
/// `errors`, the problems at single revisions (commit, path, message).
pub fn json(abis: &[AbiHistory], errors: &[RevisionError]) -> String {
    let doc = serde_json::json!({ "abis": abis, "errors": errors });
    serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
}
