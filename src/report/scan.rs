//! Rendering of `scan` results and of single findings (the commit comment).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::compare::{ChangeKind, Summary};
use crate::findings::{Finding, FindingKind, FlavourChange, ModuleImpact};
use crate::history::Severity;
use crate::history::scan::ScanReport;

use super::budget::{self, Part};
use super::finding_explain::explanation_parts;
use super::untrusted::{cell, clip, code, code_block, html_code, plain, text};
use super::{
    by_severity, changes_parts, cut_notice, problems_text, short_label, summary_line, thousands,
};

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

/// `3 flavours, 18,697 CRC changed, 3 removed`.
fn counts_line(flavours: &[&FlavourChange], s: &Summary) -> String {
    let n = flavours.len();
    let plural = if n == 1 { "" } else { "s" };
    let mut line = format!("{n} flavour{plural}");
    for k in ChangeKind::ALL.into_iter().filter(|&k| s.count(k) > 0) {
        let _ = write!(line, ", {} {}", thousands(s.count(k)), short_label(k));
    }
    line
}

/// `breaks nvidia.ko: 3 imported symbols changed (a, b, c)`, names shown by `show`.
fn module_line(m: &ModuleImpact, show: &dyn Fn(&str) -> String) -> String {
    let plural = if m.changed_imports == 1 {
        "symbol"
    } else {
        "symbols"
    };
    let names: Vec<String> = m.symbols.iter().map(|s| show(s)).collect();
    format!(
        "breaks {}: {} imported {plural} changed ({}{})",
        show(&m.module),
        thousands(m.changed_imports),
        names.join(", "),
        if m.changed_imports > m.symbols.len() {
            ", ..."
        } else {
            ""
        }
    )
}

/// A repository string in a Markdown sentence: cut short, in code.
fn inline(s: &str) -> String {
    code(&clip(s))
}

/// One line saying what a finding is, the ABI names shown by `show`.
pub fn headline(f: &Finding, show: &dyn Fn(&str) -> String) -> String {
    let n = f.flavours.len();
    let flavours = if n == 1 {
        "1 flavour".to_owned()
    } else {
        format!("{} flavours", thousands(n))
    };
    let abi = show(f.abi.as_str());
    if let Some(line) = promise_headline(f, &abi, &flavours, show) {
        return line;
    }
    match f.kind {
        FindingKind::HiddenBreak => {
            format!("ABI {abi} unchanged, but the references of {flavours} changed incompatibly")
        }
        FindingKind::CoverageLost => {
            let verb = if n == 1 { "lost its" } else { "lost their" };
            format!("ABI {abi} unchanged, but {flavours} {verb} reference")
        }
        FindingKind::Unversioned => {
            format!("{flavours} gained symbols with CRC 0x00000000 (not versioned)")
        }
        FindingKind::Bump => {
            let needed = match f.bump_needed {
                Some(true) => {
                    "needed: the new reference is incompatible with what the old name promised"
                }
                Some(false) => {
                    "not needed: no incompatible change since the old name was first published"
                }
                None => "need unknown",
            };
            format!("ABI {abi} -> {} ({needed})", new_abi(f, show))
        }
        FindingKind::Unchecked => format!(
            "ABI {abi} -> {}, which has no reference for {flavours}: their build check is off until the references of the new name come (normal while a bump is prepared, a problem if released so)",
            new_abi(f, show)
        ),
        FindingKind::Restoration => {
            format!("ABI {abi}: the references of {flavours} restore ones it published before")
        }
        FindingKind::UncheckedRelease => {
            let since = f.unchecked_since.as_ref().map_or("?", |c| c.short());
            format!(
                "Released with {flavours} unchecked: no reference under ABI {} since commit {} changed the name from {abi}, so the build check did not run",
                new_abi(f, show),
                show(since)
            )
        }
    }
}

/// The headline of a restoration, or of a hidden break judged against an
/// earlier publication of the name (it came back): what it keeps or breaks,
/// and since which commit. `None` for the other findings.
fn promise_headline(
    f: &Finding,
    abi: &str,
    flavours: &str,
    show: &dyn Fn(&str) -> String,
) -> Option<String> {
    let (published, from) = f
        .flavours
        .iter()
        .find_map(|fl| Some((fl.published.as_ref()?, fl.came_back_from.as_ref())))?;
    let at = format!("commit {}", show(published.short()));
    let back = from.map(|from| format!("ABI {abi} came back from {}", show(from.as_str())));
    Some(match (f.kind, back) {
        (FindingKind::Restoration, Some(back)) => format!(
            "{back} with the references of {flavours} it published at {at}: a restoration, nothing broken"
        ),
        (FindingKind::Restoration, None) => format!(
            "ABI {abi} unchanged: the references of {flavours} restore the ones published at {at} (a revert, nothing broken)"
        ),
        (FindingKind::HiddenBreak, Some(back)) => format!(
            "{back}, but the references of {flavours} are incompatible with what it first published ({at})"
        ),
        (FindingKind::HiddenBreak, None) => format!(
            "ABI {abi} unchanged, but the references of {flavours} came back incompatible with what it first published ({at})"
        ),
        _ => return None,
    })
}

/// The new ABI name of a finding, shown by `show`.
fn new_abi(f: &Finding, show: &dyn Fn(&str) -> String) -> String {
    f.new_abi
        .as_ref()
        .map_or("(none)".to_owned(), |a| show(a.as_str()))
}

/// Human text of one finding, after a blank line.
fn finding_text(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "\n{:<13} {} {}",
        f.kind.name(),
        f.commit.short(),
        text(&f.title)
    );
    let _ = writeln!(out, "  {}", headline(f, &plain));
    for m in &f.breaks_modules {
        let _ = writeln!(out, "  {}", module_line(m, &plain));
    }
    if let Some(phrase) = remedy_phrase(f) {
        let _ = writeln!(out, "  to resolve: {phrase}");
    }
    for (fs, (flavours, summary)) in by_featureset(&f.flavours) {
        let names: Vec<String> = flavours.iter().map(|f| plain(&f.flavour)).collect();
        let _ = writeln!(
            out,
            "  {} featureset: {} ({})",
            text(fs),
            counts_line(&flavours, &summary),
            names.join(", ")
        );
    }
    for fs in &f.lost_featuresets {
        let _ = writeln!(out, "  whole featureset lost: {}", text(fs));
    }
    if !f.unchanged_flavours.is_empty() {
        let names: Vec<String> = f.unchanged_flavours.iter().map(|n| plain(n)).collect();
        let _ = writeln!(
            out,
            "  unchanged under {}: {}",
            text(f.abi.as_str()),
            names.join(", ")
        );
    }
}

/// Human text of a scan.
pub fn scan_text(report: &ScanReport) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *kinds.entry(f.kind.name()).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    // Warnings (entries not read) are counted apart, never as errors.
    let warnings = report.errors.iter();
    let warnings = warnings.filter(|e| e.severity == Severity::Warning).count();
    let mut out = format!(
        "scanned {} commits: {} findings{}, {} errors{}, {} compatible refreshes\n",
        thousands(report.commits_scanned),
        report.findings.len(),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        report.errors.len() - warnings,
        if warnings == 0 {
            String::new()
        } else {
            format!(
                ", {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            )
        },
        report.stats.compatible_refreshes,
    );
    for f in &report.findings {
        finding_text(&mut out, f);
    }
    if !report.errors.is_empty() {
        out.push('\n');
        out.push_str(&problems_text(&report.errors));
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

/// Ranks of a comment's parts: 0 is always kept, higher is cut first.
mod rank {
    /// Modules broken, the promise, lost featuresets.
    pub const CONTEXT: u8 = 1;
    /// The table of featuresets and their flavours.
    pub const TABLE: u8 = 2;
    /// Flavours under the same name that did not change.
    pub const UNCHANGED: u8 = 3;
    /// One collapsed section per changed flavour, with its counts.
    pub const FLAVOUR: u8 = 4;
    /// The first symbols of each kind in a flavour (then, one rank
    /// lower, its full list).
    pub const SYMBOLS: u8 = 5;
}

/// `, \`b\``: one name of a list whose first item has no separator.
fn name_part(rank: u8, first: bool, name: String) -> Part {
    Part::new(rank, if first { name } else { format!(", {name}") })
}

/// ` and 12 more`, after a cut list of names.
fn more_names(n: usize) -> String {
    format!(" and {} more", thousands(n))
}

/// The table: one row per featureset, its flavours and counts.
fn table_part(f: &Finding) -> Part {
    let mut table = Part::new(
        rank::TABLE,
        "\n| featureset | flavours | summary |\n|---|---|---|\n",
    )
    .what("summary tables");
    for (fs, (flavours, summary)) in by_featureset(&f.flavours) {
        let mut names = Part::new(rank::TABLE, "").list(flavours.len(), more_names);
        for (i, fl) in flavours.iter().enumerate() {
            names.push(name_part(rank::TABLE, i == 0, cell(&clip(&fl.flavour))));
        }
        let mut row = Part::new(rank::TABLE, format!("| {} | ", cell(&clip(fs))))
            .tail(format!(" | {} |\n", counts_line(&flavours, &summary)))
            .what("table rows");
        row.push(names);
        table.push(row);
    }
    table
}

/// `Unchanged under the same ABI name: \`a\`, \`b\`.`
fn unchanged_part(f: &Finding) -> Part {
    let mut names = Part::new(rank::UNCHANGED, "\nUnchanged under the same ABI name: ")
        .tail(".\n")
        .what("lists of unchanged flavours")
        .list(f.unchanged_flavours.len(), more_names);
    for (i, n) in f.unchanged_flavours.iter().enumerate() {
        names.push(name_part(rank::UNCHANGED, i == 0, inline(n)));
    }
    names
}

/// Modules broken, the promise, and featuresets lost: short, kept early.
fn context_parts(f: &Finding) -> Vec<Part> {
    let mut parts: Vec<Part> = f
        .breaks_modules
        .iter()
        .map(|m| {
            let names: Vec<String> = m.symbols.iter().map(|s| inline(s)).collect();
            let line = format!(
                "\n**Breaks {}**: {} imported symbol(s) changed: {}.\n",
                inline(&m.module),
                thousands(m.changed_imports),
                names.join(", ")
            );
            Part::new(rank::CONTEXT, line).what("broken module lines")
        })
        .collect();
    match f.kind {
        FindingKind::HiddenBreak | FindingKind::CoverageLost => parts.push(Part::new(rank::CONTEXT, format!(
            "\nModules built for ABI {} (DKMS, NVIDIA, ZFS, VirtualBox) are promised to load on every kernel with this name; after this commit that promise does not hold.\n",
            inline(f.abi.as_str())
        ))),
        FindingKind::UncheckedRelease => parts.push(Part::new(rank::CONTEXT, format!(
            "\nWithout references for its ABI name the build check prints \"ABI not checked!\" and passes: nothing checked this release against what {} promised, and a change that breaks modules (a patch to a core structure, say) ships unseen.\n",
            inline(f.abi.as_str())
        ))),
        FindingKind::Unversioned
        | FindingKind::Bump
        | FindingKind::Unchecked
        | FindingKind::Restoration => {}
    }
    for fs in &f.lost_featuresets {
        parts.push(
            Part::new(
                rank::CONTEXT,
                format!(
                    "\nThe whole {} featureset lost its reference.\n",
                    inline(fs)
                ),
            )
            .what("lost featureset lines"),
        );
    }
    parts
}

/// One collapsed section per flavour with changes, in the finding's order.
fn flavour_parts(f: &Finding, max_bytes: usize) -> Vec<Part> {
    f.flavours
        .iter()
        .filter_map(|fl| Some((fl, fl.comparison.as_deref()?)))
        .map(|(fl, c)| {
            let mut section = Part::new(
                rank::FLAVOUR,
                format!(
                    "\n<details><summary>{} ({})</summary>\n",
                    html_code(&clip(&fl.flavour)),
                    summary_line(&c.summary)
                ),
            )
            .tail("\n</details>\n")
            .what("flavour sections");
            let sha = f.commit.as_str();
            let path = clip(&fl.path);
            let see_all = format!(
                "run `abibot diff` on the reference before and after ({}, {})",
                code(&format!("git show {sha}^:{path}")),
                code(&format!("git show {sha}:{path}"))
            );
            for part in changes_parts(c, rank::SYMBOLS, max_bytes, &see_all) {
                section.push(part);
            }
            section
        })
        .collect()
}

/// What to do about a problem finding, in the layout it was found in:
/// a static phrase completing "To resolve: ...".
fn remedy_phrase(f: &Finding) -> Option<&'static str> {
    let remedy = f.layout.remedy();
    match f.kind {
        FindingKind::HiddenBreak => Some(remedy.hidden_break),
        FindingKind::CoverageLost => Some(remedy.coverage_lost),
        FindingKind::UncheckedRelease => Some(remedy.unchecked),
        FindingKind::Unversioned
        | FindingKind::Bump
        | FindingKind::Unchecked
        | FindingKind::Restoration => None,
    }
}

/// What to do about it, and the hidden marker.
fn footer(f: &Finding) -> String {
    let mut out = String::new();
    if let Some(phrase) = remedy_phrase(f) {
        match f.layout.remedy().ignore {
            Some(hint) if f.kind == FindingKind::HiddenBreak => {
                // Escaped before the block is split into lines: a newline in
                // the name must not make a line of its own.
                let example = text(&clip(example_symbol(f).unwrap_or("symbol_name"))).into_owned();
                let entry = format!("{}{example}{}", hint.before, hint.after);
                let _ = write!(
                    out,
                    "\n**To resolve**: {phrase}; or, if the change cannot affect out-of-tree modules, ignore it in {}:\n\n{}",
                    hint.place,
                    code_block(&entry)
                );
            }
            _ => {
                let _ = writeln!(out, "\n**To resolve**: {phrase}.");
            }
        }
    }
    let _ = write!(out, "\n{}\n", f.id.marker());
    out
}

/// The Markdown comment for one finding, within `max_bytes` bytes (so
/// within a forge's limit in characters), ending in its hidden marker.
/// When everything does not fit, the least important parts are cut first
/// (later flavours' full lists, then their symbol lists, then the
/// unchanged flavours, then the table), and a note near the top says what
/// was left out and how to see it all.
pub fn finding_markdown(f: &Finding, max_bytes: usize) -> String {
    let kind = match f.kind {
        FindingKind::HiddenBreak => "hidden ABI break",
        FindingKind::CoverageLost => "ABI coverage lost",
        FindingKind::Unversioned => "unversioned symbols",
        FindingKind::Bump => "ABI bump",
        FindingKind::Unchecked => "ABI check off",
        FindingKind::UncheckedRelease => "release without ABI check",
        FindingKind::Restoration => "ABI restoration",
    };
    let mut root = Part::new(
        0,
        format!(
            "### abibot: {kind} in ABI {}\n\nCommit {} {}\n\n{}.\n",
            inline(f.abi.as_str()),
            code(f.commit.short()),
            inline(&f.title),
            headline(f, &inline),
        ),
    )
    .tail(footer(f));
    root.push(Part::notice());
    for part in context_parts(f) {
        root.push(part);
    }
    // What changed in the types: the first thing a maintainer acts on.
    for part in explanation_parts(&f.flavours, rank::CONTEXT, rank::FLAVOUR) {
        root.push(part);
    }
    root.push(table_part(f));
    if !f.unchanged_flavours.is_empty() {
        root.push(unchanged_part(f));
    }
    for part in flavour_parts(f, max_bytes) {
        root.push(part);
    }
    let see_all = format!(
        "run `abibot scan --range {0}^..{0} --format markdown` in a clone of this repository",
        f.commit
    );
    budget::fit(&root, max_bytes, &|cuts| {
        cut_notice(max_bytes, cuts, &see_all)
    })
}

/// Markdown of a whole scan: every finding's comment body in turn, in full.
pub fn scan_markdown(report: &ScanReport) -> String {
    let mut out = format!(
        "## abibot scan: {} commits, {} findings\n",
        thousands(report.commits_scanned),
        report.findings.len()
    );
    for f in &report.findings {
        out.push_str("\n---\n\n");
        out.push_str(&finding_markdown(f, usize::MAX));
    }
    for (noun, group) in by_severity(&report.errors) {
        let _ = write!(out, "\n### {}{}s\n\n", noun[..1].to_uppercase(), &noun[1..]);
        for e in group {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                code(e.commit.short()),
                code(&e.path),
                code(&e.message)
            );
        }
    }
    out
}
