//! Rendering of results for people and programs: human text, JSON with a
//! stable schema, and Markdown (the body of a commit comment).
//!
//! Renderers take plain data ([`Comparison`], findings) and return strings;
//! they do no I/O and make no decisions about what is a problem.

use std::fmt::Write as _;

use serde::Serialize;

pub mod bisect;
pub mod loadcheck;
pub mod scan;
pub mod timeline;

use crate::compare::{Change, ChangeKind, Comparison, Summary};

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

/// A Markdown code span that shows `text` literally, whatever it holds: the
/// fence is longer than any backtick run inside, so a symbol name can never
/// form a mention, a link, or end the span early.
pub fn code_span(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A fenced code block whose fence no line inside can close.
pub fn code_block(body: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(body).max(2) + 1);
    format!("{fence}text\n{body}{fence}\n")
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
    let (o, n) = pick(&|s| Some(s.module.clone()));
    field_change(&mut out, "module", o, n);
    let (o, n) = pick(&|s| Some(s.crc.to_string()));
    field_change(&mut out, "version", o, n);
    let (o, n) = pick(&|s| s.export.as_ref().map(ToString::to_string));
    field_change(&mut out, "export", o, n);
    let (o, n) = pick(&|s| s.namespace.clone());
    if o.is_some() || n.is_some() {
        field_change(&mut out, "namespace", o, n);
    }
    out
}

fn change_tags(change: &Change) -> String {
    match (&change.ignored_by, change.breaks()) {
        (Some(rule), _) => format!(" [ignored by {rule}]"),
        (None, true) => " [incompatible]".to_owned(),
        (None, false) => String::new(),
    }
}

/// Human text of a comparison: summary first, then every change by kind.
pub fn diff_text(c: &Comparison, old: &str, new: &str) -> String {
    let mut out = format!("{old} -> {new}\n{}\n", summary_line(&c.summary));
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
                change.symbol,
                change_detail(change),
                change_tags(change)
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

/// Forges cap comment bodies (GitHub at 65,536 characters); the collapsed full
/// list is cut to stay well inside that.
pub const MARKDOWN_LIST_BUDGET: usize = 40_000;

/// Markdown sections listing changes: the first few of each breaking kind,
/// then the full list collapsed, cut at `budget` characters.
pub fn markdown_changes(out: &mut String, c: &Comparison, budget: usize) {
    for kind in ChangeKind::ALL {
        let count = c.summary.count(kind);
        if count == 0 || kind == ChangeKind::Moved || kind == ChangeKind::Added {
            continue;
        }
        let _ = writeln!(out, "\n**{}** ({}):", kind.title(), thousands(count));
        // Core kernel interfaces first: nearly every out-of-tree module
        // imports from vmlinux, few from any one module.
        let mut shown: Vec<&Change> = c.of_kind(kind).collect();
        shown.sort_by_key(|c| {
            c.new
                .as_ref()
                .or(c.old.as_ref())
                .is_none_or(|s| s.module != "vmlinux")
        });
        for change in shown.into_iter().take(MARKDOWN_SHOWN_PER_KIND) {
            let _ = writeln!(
                out,
                "- {} {}{}",
                code_span(&change.symbol),
                code_span(&change_detail(change)),
                change_tags(change)
            );
        }
        if count > MARKDOWN_SHOWN_PER_KIND {
            let _ = writeln!(
                out,
                "- ... and {} more",
                thousands(count - MARKDOWN_SHOWN_PER_KIND)
            );
        }
    }
    let mut list = String::new();
    let mut listed = 0;
    for change in &c.changes {
        let line = format!(
            "{} {} {}{}\n",
            change.kind.name(),
            change.symbol,
            change_detail(change),
            change_tags(change)
        );
        if list.len() + line.len() > budget {
            break;
        }
        list.push_str(&line);
        listed += 1;
    }
    if listed == 0 {
        return;
    }
    let _ = write!(
        out,
        "\n<details><summary>All {} changes</summary>\n\n{}",
        thousands(c.total()),
        code_block(&list)
    );
    if listed < c.total() {
        let _ = writeln!(
            out,
            "\n{} more not shown: run `abibot diff` for the full list.",
            thousands(c.total() - listed)
        );
    }
    out.push_str("\n</details>\n");
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

/// Markdown of a comparison.
pub fn diff_markdown(c: &Comparison, old: &str, new: &str) -> String {
    let verdict = if c.is_breaking() {
        "incompatible ABI change"
    } else {
        "no incompatible ABI change"
    };
    let mut out = format!(
        "### abibot: {verdict}\n\n{} -> {}: {}\n",
        code_span(old),
        code_span(new),
        summary_line(&c.summary)
    );
    markdown_summary_table(&mut out, &c.summary);
    markdown_changes(&mut out, c, MARKDOWN_LIST_BUDGET);
    out
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

    #[test]
    fn code_spans_cannot_be_escaped() {
        assert_eq!(code_span("kmalloc"), "`kmalloc`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("@team\n[x](y)"), "`@team [x](y)`");
        let block = code_block("a ``` b\n");
        assert!(block.starts_with("````text\n"), "{block}");
    }
}
