//! Rendering of results for people and programs: human text, JSON with a
//! stable schema, and Markdown (the body of a commit comment).
//!
//! Renderers take plain data ([`Comparison`], findings) and return strings;
//! they do no I/O and make no decisions about what is a problem.

use std::fmt::Write as _;

use serde::Serialize;

pub mod bisect;
pub mod budget;
pub mod compat;
pub mod explain;
pub mod finding_explain;
pub mod html;
pub mod loadcheck;
pub mod scan;
pub mod timeline;
pub mod untrusted;

use crate::compare::{Change, ChangeKind, Comparison, Summary};
use crate::history::{RevisionError, Severity};
use budget::Part;
use untrusted::{code, text};

/// The output forms every reporting command offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Grouped, counts first, Debian's detail style.
    #[default]
    Text,
    /// Stable JSON (schema in the README).
    Json,
    /// Markdown, as posted in a commit comment.
    Markdown,
}

/// The output forms of the history commands (`scan`, `timeline`): those
/// every reporting command offers, and the HTML timeline. Only these two
/// walk a history, so only they take `html`; the others keep
/// [`OutputFormat`] and never meet it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HistoryFormat {
    /// Grouped, counts first, Debian's detail style.
    #[default]
    Text,
    /// Stable JSON (schema in the README).
    Json,
    /// Markdown, as posted in a commit comment.
    Markdown,
    /// One self-contained HTML page: the timeline as a chart per ABI name.
    Html,
}

/// `18697` -> `18,697`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `3 removed, 18,107 CRC changed, 7 added (18,110 incompatible, 0 ignored)`.
pub fn summary_line(s: &Summary) -> String {
    let parts: Vec<String> = ChangeKind::ALL
        .iter()
        .filter(|&&k| s.count(k) > 0)
        .map(|&k| format!("{} {}", thousands(s.count(k)), short_label(k)))
        .collect();
    let body = if parts.is_empty() {
        "no change".to_owned()
    } else {
        parts.join(", ")
    };
    format!(
        "{body} ({} incompatible, {} ignored)",
        thousands(s.incompatible),
        thousands(s.ignored)
    )
}

/// Short label of a kind in summaries (`CRC changed`).
pub fn short_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::CrcChanged => "CRC changed",
        ChangeKind::ExportChanged => "export changed",
        ChangeKind::NamespaceChanged => "namespace changed",
        ChangeKind::Moved => "moved",
        ChangeKind::Unversioned => "unversioned",
    }
}

fn field_change(out: &mut String, label: &str, old: Option<String>, new: Option<String>) {
    if !out.is_empty() {
        out.push_str(", ");
    }
    let show = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    if old == new {
        let _ = write!(out, "{label}: {}", show(new));
    } else {
        let _ = write!(out, "{label}: {} -> {}", show(old), show(new));
    }
}

/// Debian's detail style: `module: a -> b, version: 0x.. -> 0x.., export: ..`.
pub fn change_detail(change: &Change) -> String {
    // An added or removed symbol has one side: show it without arrows.
    let (old, new) = match (change.old.as_ref(), change.new.as_ref()) {
        (Some(o), None) => (Some(o), Some(o)),
        (None, Some(n)) => (Some(n), Some(n)),
        sides => sides,
    };
    let pick =
        |f: &dyn Fn(&crate::symbols::Symbol) -> Option<String>| (old.and_then(f), new.and_then(f));
    let mut out = String::new();
    let (o, n) = pick(&|s| Some(s.module.to_string()));
    field_change(&mut out, "module", o, n);
    let (o, n) = pick(&|s| Some(s.crc.to_string()));
    field_change(&mut out, "version", o, n);
    let (o, n) = pick(&|s| s.export.as_ref().map(ToString::to_string));
    field_change(&mut out, "export", o, n);
    let (o, n) = pick(&|s| s.namespace.as_ref().map(ToString::to_string));
    if o.is_some() || n.is_some() {
        field_change(&mut out, "namespace", o, n);
    }
    out
}

/// ` [incompatible]`, or ` [ignored by RULE]` with the rule (from the
/// repository) shown by `show`.
fn change_tags(change: &Change, show: &dyn Fn(&str) -> String) -> String {
    match (&change.ignored_by, change.breaks()) {
        (Some(rule), _) => format!(" [ignored by {}]", show(rule)),
        (None, true) => " [incompatible]".to_owned(),
        (None, false) => String::new(),
    }
}

/// `kind symbol detail [tags]`, control characters escaped.
fn change_text(change: &Change) -> String {
    format!(
        "{} {} {}{}",
        change.kind.name(),
        text(&change.symbol),
        text(&change_detail(change)),
        change_tags(change, &untrusted::plain)
    )
}

/// Human text of a comparison: summary first, then every change by kind.
pub fn diff_text(c: &Comparison, old: &str, new: &str) -> String {
    let mut out = format!(
        "{} -> {}\n{}\n",
        text(old),
        text(new),
        summary_line(&c.summary)
    );
    for kind in ChangeKind::ALL {
        let count = c.summary.count(kind);
        if count == 0 {
            continue;
        }
        let _ = writeln!(out, "\n{} ({}):", kind.title(), thousands(count));
        for change in c.of_kind(kind) {
            let _ = writeln!(
                out,
                " {:<40} {}{}",
                text(&change.symbol),
                text(&change_detail(change)),
                change_tags(change, &untrusted::plain)
            );
        }
    }
    out
}

/// The JSON document of `abibot diff` (schema in the README).
#[derive(Serialize)]
struct DiffJson<'a> {
    old: &'a str,
    new: &'a str,
    summary: &'a Summary,
    changes: &'a [Change],
}

/// JSON of a comparison: `{"old", "new", "summary", "changes"}`.
pub fn diff_json(c: &Comparison, old: &str, new: &str) -> String {
    let doc = DiffJson {
        old,
        new,
        summary: &c.summary,
        changes: &c.changes,
    };
    serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
}

/// How many symbols of each kind a Markdown body lists before collapsing.
pub const MARKDOWN_SHOWN_PER_KIND: usize = 10;

/// The size of `abibot diff --format markdown`, in bytes: within every
/// supported forge's comment limit (GitHub's 65,536 characters is the
/// smallest), with room to spare for a few words around it.
pub const DIFF_MARKDOWN_BUDGET: usize = 60_000;

/// `- ... and 18,097 more`, after a shortened list of symbols.
fn more_items(n: usize) -> String {
    format!("- ... and {} more\n", thousands(n))
}

/// After a shortened full list (outside its code block): how many lines
/// are missing, and `see_all`, how to see them.
fn more_lines(see_all: &str) -> impl Fn(usize) -> String + 'static {
    let see_all = see_all.to_owned();
    move |n| format!("\n{} more not shown: {see_all}.\n", thousands(n))
}

/// The first few changes of one breaking kind, core kernel interfaces
/// first: nearly every out-of-tree module imports from vmlinux, few from
/// any one module, so module symbols are the first cut.
fn kind_part(c: &Comparison, kind: ChangeKind, rank: u8) -> Part {
    let count = c.summary.count(kind);
    let mut list = Part::new(
        rank,
        format!("\n**{}** ({}):\n", kind.title(), thousands(count)),
    )
    .what("symbol lists")
    .list(count, more_items);
    let mut shown: Vec<&Change> = c.of_kind(kind).collect();
    shown.sort_by_key(|c| {
        c.new
            .as_ref()
            .or(c.old.as_ref())
            .is_none_or(|s| s.module != "vmlinux")
    });
    for change in shown.into_iter().take(MARKDOWN_SHOWN_PER_KIND) {
        list.push(Part::new(
            rank,
            format!(
                "- {} {}{}\n",
                code(&change.symbol),
                code(&change_detail(change)),
                change_tags(change, &code)
            ),
        ));
    }
    list
}

/// Every change in a collapsed code block; no more lines are made than
/// `budget` bytes could hold (the rest are counted, not built).
fn full_list_part(c: &Comparison, rank: u8, budget: usize, see_all: &str) -> Part {
    let lines: Vec<String> = c
        .changes
        .iter()
        .map(|change| change_text(change) + "\n")
        .scan(0usize, |size, line| {
            *size += line.len();
            (*size <= budget.saturating_add(line.len())).then_some(line)
        })
        .collect();
    let fence = untrusted::fence(lines.iter().map(String::as_str));
    let mut block = Part::new(rank, format!("{fence}text\n"))
        .tail(format!("{fence}\n"))
        .list(c.total(), more_lines(see_all));
    for line in lines {
        block.push(Part::new(rank, line));
    }
    let mut details = Part::new(
        rank,
        format!(
            "\n<details><summary>All {} changes</summary>\n\n",
            thousands(c.total())
        ),
    )
    .tail("\n</details>\n")
    .what("full change lists");
    details.push(block);
    details
}

/// The Markdown parts listing a comparison's changes: the first few of
/// each breaking kind at `rank`, then the full list collapsed at `rank + 1`,
/// built for at most `budget` bytes; `see_all` says how to see every change
/// when the list is cut (findings keep only some of them).
pub fn changes_parts(c: &Comparison, rank: u8, budget: usize, see_all: &str) -> Vec<Part> {
    let mut parts: Vec<Part> = ChangeKind::ALL
        .into_iter()
        .filter(|&k| c.summary.count(k) > 0 && k != ChangeKind::Moved && k != ChangeKind::Added)
        .map(|k| kind_part(c, k, rank))
        .collect();
    if c.total() > 0 {
        parts.push(full_list_part(c, rank + 1, budget, see_all));
    }
    parts
}

/// The notice of what a shortened body left out, and where to see it all.
pub fn cut_notice(limit: usize, cuts: &budget::Cuts, see_all: &str) -> String {
    let what: Vec<String> = cuts
        .iter()
        .map(|(w, n)| format!("{} {w}", thousands(*n)))
        .collect();
    format!(
        "\n> **Shortened to fit the {} byte limit of a comment**: left out {}; shortened lists say how much they miss. To see it all, {see_all}.\n",
        thousands(limit),
        what.join(", ")
    )
}

/// Problems at single revisions in the groups every renderer lists apart,
/// errors first, each non-empty group with its noun (`error`, `warning`):
/// a warning (an entry of a references directory that is not read) leaves
/// the state readable, so it is never shown or counted as an error.
pub fn by_severity(problems: &[RevisionError]) -> Vec<(&'static str, Vec<&RevisionError>)> {
    [(Severity::Error, "error"), (Severity::Warning, "warning")]
        .into_iter()
        .map(|(severity, noun)| {
            let group: Vec<&RevisionError> =
                problems.iter().filter(|p| p.severity == severity).collect();
            (noun, group)
        })
        .filter(|(_, group)| !group.is_empty())
        .collect()
}

/// Problems at single revisions as human text: per severity a count
/// (`1 error:`, `2 warnings:`), then one line each (commit, file, message).
pub fn problems_text(problems: &[RevisionError]) -> String {
    let mut out = String::new();
    for (noun, group) in by_severity(problems) {
        let plural = if group.len() == 1 { "" } else { "s" };
        let _ = writeln!(out, "{} {noun}{plural}:", group.len());
        for e in group {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                e.commit.short(),
                text(&e.path),
                text(&e.message)
            );
        }
    }
    out
}

/// A Markdown table of counts.
pub fn markdown_summary_table(out: &mut String, s: &Summary) {
    out.push_str("\n| change | count |\n|---|---:|\n");
    for kind in ChangeKind::ALL {
        let _ = writeln!(
            out,
            "| {} | {} |",
            short_label(kind),
            thousands(s.count(kind))
        );
    }
    let _ = writeln!(out, "| ignored | {} |", thousands(s.ignored));
    let _ = writeln!(
        out,
        "| **incompatible** | **{}** |",
        thousands(s.incompatible)
    );
}

/// Markdown of a comparison, within [`DIFF_MARKDOWN_BUDGET`] bytes.
pub fn diff_markdown(c: &Comparison, old: &str, new: &str) -> String {
    let verdict = if c.is_breaking() {
        "incompatible ABI change"
    } else {
        "no incompatible ABI change"
    };
    let mut head = format!(
        "### abibot: {verdict}\n\n{} -> {}: {}\n",
        code(&untrusted::clip(old)),
        code(&untrusted::clip(new)),
        summary_line(&c.summary)
    );
    markdown_summary_table(&mut head, &c.summary);
    let mut root = Part::new(0, head);
    root.push(Part::notice());
    let see_all = "run `abibot diff` with `--format text` or `json` for the full list";
    for part in changes_parts(c, 1, DIFF_MARKDOWN_BUDGET, see_all) {
        root.push(part);
    }
    budget::fit(&root, DIFF_MARKDOWN_BUDGET, &|cuts| {
        cut_notice(DIFF_MARKDOWN_BUDGET, cuts, see_all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(18697), "18,697");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
