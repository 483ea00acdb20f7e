//! Rendering of `scan` results and of single findings (the commit comment).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::compare::{ChangeKind, Summary};
use crate::findings::{Finding, FindingKind, FlavourChange, ModuleImpact};
use crate::history::scan::ScanReport;

use super::{
    MARKDOWN_LIST_BUDGET, code_block, code_span, markdown_changes, short_label, summary_line,
    thousands,
};

/// The hidden marker that ties a posted comment to its finding.
pub fn marker(id: &str) -> String {
    format!("<!-- abibot:finding={id} -->")
}

/// Flavours grouped by featureset, with summed counts.
fn by_featureset(flavours: &[FlavourChange]) -> BTreeMap<&str, (Vec<&FlavourChange>, Summary)> {
    let mut groups: BTreeMap<&str, (Vec<&FlavourChange>, Summary)> = BTreeMap::new();
    for f in flavours {
        let group = groups.entry(f.featureset.as_str()).or_default();
        group.0.push(f);
        group.1.add(&f.summary);
    }
    groups
}

/// `rt featureset: 3 flavours, 18,697 CRC changed, 3 removed`.
fn featureset_line(featureset: &str, flavours: &[&FlavourChange], s: &Summary) -> String {
    let n = flavours.len();
    let counts: Vec<String> = ChangeKind::ALL
        .iter()
        .filter(|&&k| s.count(k) > 0)
        .map(|&k| format!("{} {}", thousands(s.count(k)), short_label(k)))
        .collect();
    let plural = if n == 1 { "" } else { "s" };
    let mut line = format!("{featureset} featureset: {n} flavour{plural}");
    if !counts.is_empty() {
        let _ = write!(line, ", {}", counts.join(", "));
    }
    line
}

/// `breaks nvidia.ko: 3 imported symbols changed (a, b, c)`.
fn module_line(m: &ModuleImpact) -> String {
    let plural = if m.changed_imports == 1 {
        "symbol"
    } else {
        "symbols"
    };
    format!(
        "breaks {}: {} imported {plural} changed ({}{})",
        m.module,
        thousands(m.changed_imports),
        m.symbols.join(", "),
        if m.changed_imports > m.symbols.len() {
            ", ..."
        } else {
            ""
        }
    )
}

/// One line saying what a finding is.
pub fn headline(f: &Finding) -> String {
    let n = f.flavours.len();
    let flavours = if n == 1 {
        "1 flavour".to_owned()
    } else {
        format!("{n} flavours")
    };
    match f.kind {
        FindingKind::HiddenBreak => format!(
            "ABI {} unchanged, but the references of {flavours} changed incompatibly",
            f.abi
        ),
        FindingKind::CoverageLost => {
            let verb = if n == 1 { "lost its" } else { "lost their" };
            format!("ABI {} unchanged, but {flavours} {verb} reference", f.abi)
        }
        FindingKind::Unversioned => {
            format!("{flavours} gained symbols with CRC 0x00000000 (not versioned)")
        }
        FindingKind::Bump => {
            let new = f
                .new_abi
                .as_ref()
                .map_or("(none)".to_owned(), ToString::to_string);
            let needed = match f.bump_needed {
                Some(true) => {
                    "needed: the new reference is incompatible with what the old name promised"
                }
                Some(false) => {
                    "not needed: no incompatible change since the old name was first published"
                }
                None => "need unknown",
            };
            format!("ABI {} -> {new} ({needed})", f.abi)
        }
    }
}

/// Human text of a scan.
pub fn scan_text(report: &ScanReport) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *kinds.entry(f.kind.name()).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut out = format!(
        "scanned {} commits: {} findings{}, {} errors, {} compatible refreshes\n",
        thousands(report.commits_scanned),
        report.findings.len(),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        report.errors.len(),
        report.stats.compatible_refreshes,
    );
    for f in &report.findings {
        let _ = writeln!(
            out,
            "\n{:<13} {} {}",
            f.kind.name(),
            f.commit.short(),
            f.title
        );
        let _ = writeln!(out, "  {}", headline(f));
        for m in &f.breaks_modules {
            let _ = writeln!(out, "  {}", module_line(m));
        }
        for (fs, (flavours, summary)) in by_featureset(&f.flavours) {
            let names: Vec<&str> = flavours.iter().map(|f| f.flavour.as_str()).collect();
            let _ = writeln!(
                out,
                "  {} ({})",
                featureset_line(fs, &flavours, &summary),
                names.join(", ")
            );
        }
        for fs in &f.lost_featuresets {
            let _ = writeln!(out, "  whole featureset lost: {fs}");
        }
        if !f.unchanged_flavours.is_empty() {
            let _ = writeln!(
                out,
                "  unchanged under {}: {}",
                f.abi,
                f.unchanged_flavours.join(", ")
            );
        }
    }
    if !report.errors.is_empty() {
        out.push_str("\nerrors:\n");
        for e in &report.errors {
            let _ = writeln!(out, "  {} {}: {}", &e.commit.short(), e.path, e.message);
        }
    }
    out
}

/// JSON of a scan (schema in the README).
pub fn scan_json(report: &ScanReport) -> String {
    serde_json::to_string_pretty(report).expect("plain data serializes") + "\n"
}

/// The first breaking symbol of a finding, for the "how to silence" example.
fn example_symbol(f: &Finding) -> Option<&str> {
    f.flavours
        .iter()
        .filter_map(|fl| fl.comparison.as_deref())
        .flat_map(|c| c.changes.iter())
        .find(|c| c.breaks())
        .map(|c| c.symbol.as_str())
}

/// The Markdown comment for one finding, ending in its hidden marker.
pub fn finding_markdown(f: &Finding) -> String {
    let kind = match f.kind {
        FindingKind::HiddenBreak => "hidden ABI break",
        FindingKind::CoverageLost => "ABI coverage lost",
        FindingKind::Unversioned => "unversioned symbols",
        FindingKind::Bump => "ABI bump",
    };
    let mut out = format!(
        "### abibot: {kind} in ABI {}\n\nCommit {} {}\n\n{}.\n",
        code_span(f.abi.as_str()),
        code_span(f.commit.short()),
        code_span(&f.title),
        headline(f),
    );
    for m in &f.breaks_modules {
        let names: Vec<String> = m.symbols.iter().map(|s| code_span(s)).collect();
        let _ = writeln!(
            out,
            "\n**Breaks {}**: {} imported symbol(s) changed: {}.",
            code_span(&m.module),
            thousands(m.changed_imports),
            names.join(", ")
        );
    }
    if f.kind.is_problem() {
        let _ = writeln!(
            out,
            "\nModules built for ABI {} (DKMS, NVIDIA, ZFS, VirtualBox) are promised to load on every kernel with this name; after this commit that promise does not hold.",
            code_span(f.abi.as_str())
        );
    }
    out.push_str("\n| featureset | flavours | summary |\n|---|---|---|\n");
    for (fs, (flavours, summary)) in by_featureset(&f.flavours) {
        let names: Vec<String> = flavours.iter().map(|f| code_span(&f.flavour)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code_span(fs),
            names.join(" "),
            featureset_line(fs, &flavours, &summary)
        );
    }
    for fs in &f.lost_featuresets {
        let _ = writeln!(
            out,
            "\nThe whole {} featureset lost its reference.",
            code_span(fs)
        );
    }
    if !f.unchanged_flavours.is_empty() {
        let names: Vec<String> = f.unchanged_flavours.iter().map(|n| code_span(n)).collect();
        let _ = writeln!(
            out,
            "\nUnchanged under the same ABI name: {}.",
            names.join(", ")
        );
    }
    let with_changes: Vec<&FlavourChange> = f
        .flavours
        .iter()
        .filter(|fl| fl.comparison.is_some())
        .collect();
    let budget = MARKDOWN_LIST_BUDGET / with_changes.len().max(1);
    for fl in with_changes {
        let c = fl.comparison.as_deref().expect("filtered");
        let _ = writeln!(
            out,
            "\n<details><summary>{} ({})</summary>\n",
            fl.flavour,
            summary_line(&c.summary)
        );
        markdown_changes(&mut out, c, budget);
        out.push_str("\n</details>\n");
    }
    match f.kind {
        FindingKind::HiddenBreak => {
            let example = example_symbol(f).unwrap_or("symbol_name");
            let _ = write!(
                out,
                "\n**To resolve**: bump the ABI name (`abiname` in `debian/config/defines`), or, if the change cannot affect out-of-tree modules, ignore it in the `[abi]` section:\n\n{}",
                code_block(&format!("[abi]\nignore-changes:\n name:{example}\n"))
            );
        }
        FindingKind::CoverageLost => out.push_str(
            "\n**To resolve**: restore the reference files, or bump the ABI name if the flavour is gone for good.\n",
        ),
        FindingKind::Unversioned | FindingKind::Bump => {}
    }
    let _ = write!(out, "\n{}\n", marker(&f.id));
    out
}

/// Markdown of a whole scan: every finding's comment body in turn.
pub fn scan_markdown(report: &ScanReport) -> String {
    let mut out = format!(
        "## abibot scan: {} commits, {} findings\n",
        thousands(report.commits_scanned),
        report.findings.len()
    );
    for f in &report.findings {
        out.push_str("\n---\n\n");
        out.push_str(&finding_markdown(f));
    }
    if !report.errors.is_empty() {
        out.push_str("\n### Errors\n\n");
        for e in &report.errors {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                code_span(e.commit.short()),
                code_span(&e.path),
                code_span(&e.message)
            );
        }
    }
    out
}
