//! Rendering an [`Explanation`]: text, JSON and Markdown. Every type name,
//! member and declaration comes from the symtypes input, so it is data:
//! escaped for the terminal in text, kept in code in Markdown
//! ([`super::untrusted`]).

use std::fmt::Write as _;

use serde::Serialize;

use super::thousands;
use super::untrusted::{clip, code, code_block, text};
use crate::explain::{Cause, Change, Explanation};

/// How many changes of a cause a headline names before "and N more".
pub const HEADLINE_CHANGES: usize = 3;

/// How many exports the Markdown form lists (all are in JSON and text).
pub const MARKDOWN_EXPORTS: usize = 50;

/// One change in a sentence: ``gained `foo` after `bar` ``; `q` shows a
/// string from the input.
pub fn sentence(change: &Change, q: &dyn Fn(&str) -> String) -> String {
    match change {
        Change::Added {
            member,
            after: Some(after),
            ..
        } => format!("gained {} after {}", q(member), q(after)),
        Change::Added { member, .. } => format!("gained {} at the start", q(member)),
        Change::Removed { member, .. } => format!("lost {}", q(member)),
        Change::Changed { member, old, new } => {
            format!("changed {} from {} to {}", q(member), q(old), q(new))
        }
        Change::Replaced { what, old, new } => {
            format!("changed its {what} from {} to {}", q(old), q(new))
        }
    }
}

/// ``412 exports changed because `s#sk_buff` gained `foo` after `bar` ``.
pub fn headline(cause: &Cause, q: &dyn Fn(&str) -> String) -> String {
    let changes: Vec<&Change> = cause.variants.iter().flat_map(|v| &v.changes).collect();
    let mut parts: Vec<String> = changes
        .iter()
        .take(HEADLINE_CHANGES)
        .map(|c| sentence(c, q))
        .collect();
    if changes.len() > HEADLINE_CHANGES {
        parts.push(format!("and {} more", changes.len() - HEADLINE_CHANGES));
    }
    let noun = if cause.exports == 1 {
        "export"
    } else {
        "exports"
    };
    format!(
        "{} {noun} changed because {} {}",
        thousands(cause.exports),
        q(&cause.key),
        parts.join(", ")
    )
}

/// A cause's diff: one line per change, each variant under its own header
/// when the type changed differently in different files.
pub fn diff_text(cause: &Cause) -> String {
    let mut out = String::new();
    let several = cause.variants.len() > 1;
    for (k, v) in cause.variants.iter().enumerate() {
        if several {
            let _ = writeln!(
                out,
                "variant {} of {} ({} exports, {} files):",
                k + 1,
                cause.variants.len(),
                v.exports,
                v.files
            );
        }
        for change in &v.changes {
            out.push_str(&change.line());
            out.push('\n');
        }
    }
    out
}

/// The summary line: counts of changed, unchanged, added and removed exports.
fn summary(ex: &Explanation) -> String {
    let noun = if ex.exports.len() == 1 {
        "export"
    } else {
        "exports"
    };
    format!(
        "{} {noun} changed ({} unchanged, {} added, {} removed), {} root causes",
        thousands(ex.exports.len()),
        thousands(ex.unchanged),
        thousands(ex.added.len()),
        thousands(ex.removed.len()),
        thousands(ex.causes.len())
    )
}

/// Human text: the summary, each cause (deepest first) with its diff, then
/// every changed export with its causes.
pub fn render_text(ex: &Explanation) -> String {
    let q = |s: &str| format!("`{}`", text(s));
    let mut out = summary(ex) + "\n";
    for cause in &ex.causes {
        let _ = writeln!(out, "\n{}", headline(cause, &q));
        for line in diff_text(cause).lines() {
            let _ = writeln!(out, "    {}", text(line));
        }
    }
    if !ex.exports.is_empty() {
        out.push_str("\nexports:\n");
    }
    for e in &ex.exports {
        let causes: Vec<_> = e.causes.iter().map(|c| text(c)).collect();
        let _ = writeln!(out, "  {}: {}", text(&e.symbol), causes.join(", "));
    }
    for (label, names) in [("added", &ex.added), ("removed", &ex.removed)] {
        for name in names {
            let _ = writeln!(out, "{label} {}", text(name));
        }
    }
    out
}

/// A cause in JSON: the [`Cause`] plus its `diff` as text.
#[derive(Serialize)]
struct JsonCause<'a> {
    #[serde(flatten)]
    cause: &'a Cause,
    diff: String,
}

/// The JSON form of `abibot explain`.
#[derive(Serialize)]
struct Json<'a> {
    exports: &'a [crate::explain::ExportChange],
    causes: Vec<JsonCause<'a>>,
    unchanged: usize,
    added: &'a [String],
    removed: &'a [String],
    /// With `--symvers`: exports whose CRC changed but whose expanded type
    /// is equal (stale or mismatched inputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    unexplained: Option<&'a [String]>,
}

/// Stable JSON: `{"exports": [{"symbol", "file", "causes"}], "causes":
/// [{"type", "exports", "depth", "variants", "diff"}], "unchanged", "added",
/// "removed"}` (and `unexplained` when given).
pub fn render_json(ex: &Explanation, unexplained: Option<&[String]>) -> serde_json::Result<String> {
    let json = Json {
        exports: &ex.exports,
        causes: ex
            .causes
            .iter()
            .map(|cause| JsonCause {
                cause,
                diff: diff_text(cause),
            })
            .collect(),
        unchanged: ex.unchanged,
        added: &ex.added,
        removed: &ex.removed,
        unexplained,
    };
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

/// Markdown: the summary, each cause's headline and diff in a code block,
/// then the first [`MARKDOWN_EXPORTS`] changed exports.
pub fn render_markdown(ex: &Explanation) -> String {
    let q = |s: &str| code(&clip(s));
    let mut out = format!("**{}**\n", summary(ex));
    for cause in &ex.causes {
        let _ = write!(out, "\n{}\n\n", headline(cause, &q));
        out.push_str(&code_block(&diff_text(cause)));
    }
    if !ex.exports.is_empty() {
        out.push_str("\n| export | causes |\n|---|---|\n");
    }
    for e in ex.exports.iter().take(MARKDOWN_EXPORTS) {
        let causes: Vec<String> = e.causes.iter().map(|c| super::untrusted::cell(c)).collect();
        let _ = writeln!(
            out,
            "| {} | {} |",
            super::untrusted::cell(&e.symbol),
            causes.join(" ")
        );
    }
    if ex.exports.len() > MARKDOWN_EXPORTS {
        let _ = writeln!(
            out,
            "\n... and {} more exports (all of them in `--format json`)",
            thousands(ex.exports.len() - MARKDOWN_EXPORTS)
        );
    }
    out
}
