//! Rendering of `timeline` results: every ABI name with the reference
//! states it went through.

use std::fmt::Write as _;

use super::code_span;
use crate::history::timeline::AbiHistory;

/// `ABI 6.1.0-53 named 3 different ABIs (amd64_none_amd64: 3 states, ...)`.
pub fn verdict(abi: &AbiHistory) -> String {
    let n = abi.distinct();
    if n <= 1 {
        return format!("ABI {} named one ABI", abi.abi);
    }
    let detail: Vec<String> = abi
        .flavours
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(f, s)| format!("{f}: {} states", s.len()))
        .collect();
    format!(
        "ABI {} named {n} different ABIs ({})",
        abi.abi,
        detail.join(", ")
    )
}

/// Human text: a verdict per name, then the states of flavours that had several.
pub fn text(abis: &[AbiHistory]) -> String {
    let mut out = String::new();
    for abi in abis {
        let _ = writeln!(out, "{}", verdict(abi));
        for (flavour, states) in abi.flavours.iter().filter(|(_, s)| s.len() > 1) {
            for s in states {
                let tag = if s.incompatible {
                    " [incompatible]"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {flavour:<28} {} {}{tag}", s.commit.short(), s.title);
            }
        }
    }
    out
}

/// Markdown: a verdict per name and a table of states.
pub fn markdown(abis: &[AbiHistory]) -> String {
    let mut out = String::from("## abibot timeline\n");
    for abi in abis {
        let _ = writeln!(out, "\n**{}**\n", verdict(abi));
        out.push_str("| flavour | commit | title | incompatible |\n|---|---|---|---|\n");
        for (flavour, states) in &abi.flavours {
            for s in states {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code_span(flavour),
                    code_span(s.commit.short()),
                    code_span(&s.title),
                    if s.incompatible { "yes" } else { "" }
                );
            }
        }
    }
    out
}

/// JSON: the list of names with their states per flavour.
pub fn json(abis: &[AbiHistory]) -> String {
    serde_json::to_string_pretty(abis).expect("plain data serializes") + "\n"
}
