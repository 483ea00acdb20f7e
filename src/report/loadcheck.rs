//! Showing [`LoadReport`]s: text for people, JSON for programs. Rendering
//! decides nothing; the verdicts come from [`crate::loadcheck::check`].

use std::fmt::Write as _;

use serde::Serialize;

use super::untrusted::text as safe;

use crate::loadcheck::{Finding, LoadReport, Problem, Severity};

/// A quoted string from a module (license, vermagic): Rust's quoting, then
/// whatever it leaves that could still act.
fn quoted(s: &str) -> String {
    safe(&format!("{s:?}")).into_owned()
}

/// One line describing a problem, as the kernel would complain about it.
pub fn describe(problem: &Problem) -> String {
    match problem {
        Problem::MissingSymbol { symbol } => {
            format!("unknown symbol {} (nothing exports it)", safe(symbol))
        }
        Problem::GplOnly {
            symbol,
            exporter,
            license,
        } => format!(
            "unknown symbol {}: {} exports it GPL-only and the module's license {} is not GPL-compatible",
            safe(symbol),
            safe(exporter),
            license
                .as_deref()
                .map_or_else(|| "(none)".to_owned(), quoted)
        ),
        Problem::CrcMismatch {
            symbol,
            exporter,
            module_crc,
            kernel_crc,
        } => format!(
            "disagrees about version of symbol {}: module has 0x{module_crc:08x}, {} exports {kernel_crc}",
            safe(symbol),
            safe(exporter)
        ),
        Problem::NoSymbolVersion { symbol } => format!("no symbol version for {}", safe(symbol)),
        Problem::NoVersions => {
            "the module has no symbol versions (__versions); the kernel only loads it when forced"
                .to_owned()
        }
        Problem::NamespaceNotImported {
            symbol,
            namespace,
            exporter,
        } => format!(
            "uses symbol {} from namespace {} ({}) but does not import it (MODULE_IMPORT_NS)",
            safe(symbol),
            safe(namespace),
            safe(exporter)
        ),
        Problem::UnknownExportKind { symbol, export } => format!(
            "symbol {} has export kind {}, unknown to abibot; the GPL rule was not applied",
            safe(symbol),
            safe(export)
        ),
        Problem::MissingVermagic => {
            "no vermagic in .modinfo; the kernel only loads it when forced".to_owned()
        }
        Problem::VermagicMismatch {
            module,
            expected,
            accepted,
        } => format!(
            "version magic {} should be {}{}",
            quoted(module),
            quoted(expected),
            if *accepted {
                " (only the release differs, which the kernel ignores for modules with CRCs)"
            } else {
                ""
            }
        ),
        Problem::DuplicateExport { symbol, exporter } => format!(
            "exports duplicate symbol {} (owned by {})",
            safe(symbol),
            safe(exporter)
        ),
    }
}

fn label(f: &Finding) -> &'static str {
    match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Human-readable text: one verdict line per module, then its findings.
pub fn text(reports: &[LoadReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let verdict = if r.loads { "loads" } else { "would NOT load" };
        let _ = writeln!(
            out,
            "{} ({}): {verdict} ({} imports checked)",
            safe(&r.path),
            safe(&r.name),
            r.imports_checked
        );
        for f in &r.findings {
            let _ = writeln!(out, "  {}: {}", label(f), describe(&f.problem));
        }
    }
    let refused = reports.iter().filter(|r| !r.loads).count();
    let _ = writeln!(
        out,
        "{} module(s) checked, {refused} would not load",
        reports.len()
    );
    out
}

#[derive(Serialize)]
struct JsonOut<'a> {
    loads: bool,
    modules: &'a [LoadReport],
}

/// JSON: `{"loads": bool, "modules": [LoadReport...]}`, each finding with
/// `severity`, `kind` and the kind's fields.
pub fn json(reports: &[LoadReport]) -> String {
    let out = JsonOut {
        loads: reports.iter().all(|r| r.loads),
        modules: reports,
    };
    let mut text = serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    text.push('\n');
    text
}
