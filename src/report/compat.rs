//! Showing `compat`'s answer ([`CompatReport`]): per module and flavour,
//! every state with the loader's verdict, and for each ABI name the
//! sentence a packager wants ("6.1.0-50 loads from X; not from Y on (3
//! imported symbols changed: 3 CRC mismatches)"). Rendering decides
//! nothing; repository strings (titles, names, module paths) are shown
//! through [`super::untrusted`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::untrusted::{cell, code, plain, text as safe};
use crate::compat::{ChosenBy, CompatReport, ModuleCompat, StateVerdict};
use crate::loadcheck::{Finding, Problem, Severity};

/// A finding's kind in summaries, singular and plural.
fn kind(problem: &Problem) -> (&'static str, &'static str) {
    match problem {
        Problem::MissingSymbol { .. } => ("missing symbol", "missing symbols"),
        Problem::GplOnly { .. } => ("GPL-only symbol", "GPL-only symbols"),
        Problem::CrcMismatch { .. } => ("CRC mismatch", "CRC mismatches"),
        Problem::NoSymbolVersion { .. } => ("unversioned import", "unversioned imports"),
        Problem::NoVersions => ("module without versions", "modules without versions"),
        Problem::NamespaceNotImported { .. } => {
            ("namespace not imported", "namespaces not imported")
        }
        Problem::UnknownExportKind { .. } => ("unknown export kind", "unknown export kinds"),
        Problem::MissingVermagic => ("missing vermagic", "missing vermagic"),
        Problem::VermagicMismatch { .. } => ("vermagic mismatch", "vermagic mismatches"),
        Problem::DuplicateExport { .. } => ("duplicate export", "duplicate exports"),
    }
}

/// Whether the problem is about one imported symbol.
fn about_an_import(problem: &Problem) -> bool {
    matches!(
        problem,
        Problem::MissingSymbol { .. }
            | Problem::GplOnly { .. }
            | Problem::CrcMismatch { .. }
            | Problem::NamespaceNotImported { .. }
    )
}

/// Why a module would not load: `3 imported symbols changed: 3 CRC
/// mismatches` (or `2 problems: ...` when some are not about imports).
pub fn reason(findings: &[Finding]) -> String {
    let errors: Vec<&Problem> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| &f.problem)
        .collect();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for p in &errors {
        *counts.entry(kind(p)).or_default() += 1;
    }
    let kinds: Vec<String> = counts
        .iter()
        .map(|((one, many), n)| format!("{n} {}", if *n == 1 { one } else { many }))
        .collect();
    let n = errors.len();
    let head = match (errors.iter().all(|p| about_an_import(p)), n) {
        (true, 1) => "1 imported symbol changed".to_owned(),
        (true, _) => format!("{n} imported symbols changed"),
        (false, 1) => "1 problem".to_owned(),
        (false, _) => format!("{n} problems"),
    };
    format!("{head}: {}", kinds.join(", "))
}

/// Each state with its label: its number among the name's distinct
/// states of the flavour, or `returns to N`.
fn labelled(states: &[StateVerdict]) -> Vec<(String, &StateVerdict)> {
    let mut counters: BTreeMap<&str, usize> = BTreeMap::new();
    states
        .iter()
        .map(|s| match s.returns_to {
            Some(to) => (format!("returns to {to}"), s),
            None => {
                let n = counters.entry(s.abi.as_str()).or_default();
                *n += 1;
                (n.to_string(), s)
            }
        })
        .collect()
}

/// For each ABI name in order of appearance, where the module loads:
/// `6.1.0-50 loads from X; not from Y on (...); loads again from Z`.
/// Commits are shown by `show`.
pub fn stories(m: &ModuleCompat, show: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for s in &m.states {
        if !names.contains(&s.abi.as_str()) {
            names.push(s.abi.as_str());
        }
    }
    names
        .into_iter()
        .map(|abi| {
            let states: Vec<&StateVerdict> =
                m.states.iter().filter(|s| s.abi.as_str() == abi).collect();
            format!("{} {}", show(abi), story(&states, show))
        })
        .collect()
}

/// One name's sentence from its states, oldest first.
fn story(states: &[&StateVerdict], show: &dyn Fn(&str) -> String) -> String {
    let Some(first) = states.first() else {
        return String::new();
    };
    if states.iter().all(|s| !s.loads) {
        return format!("never loads ({})", reason(&first.findings));
    }
    let mut parts = Vec::new();
    let mut before: Option<&StateVerdict> = None;
    for s in states {
        let commit = show(s.commit.short());
        match (before.map(|b| b.loads), s.loads) {
            (None, true) => parts.push(format!("loads from {commit}")),
            (None, false) => parts.push(format!(
                "does not load from {commit} ({})",
                reason(&s.findings)
            )),
            (Some(false), true) => parts.push(format!("loads again from {commit}")),
            (Some(true), false) => {
                parts.push(format!("not from {commit} on ({})", reason(&s.findings)))
            }
            _ => {}
        }
        before = Some(s);
    }
    parts.join("; ")
}

/// `fat.ko (fat) on amd64_none_amd64`, with how the flavour was chosen.
fn heading(m: &ModuleCompat, show: &dyn Fn(&str) -> String) -> String {
    let chosen = match (m.chosen_by, &m.vermagic) {
        (ChosenBy::Flavour, _) => "given with --flavour".to_owned(),
        (ChosenBy::Vermagic, Some(v)) => {
            format!(
                "named by vermagic {}",
                show(v.split(' ').next().unwrap_or(""))
            )
        }
        (ChosenBy::Vermagic, None) => "named by vermagic".to_owned(),
    };
    format!(
        "{} ({}) on {} ({chosen})",
        show(&m.module),
        show(&m.name),
        show(&m.flavour.to_string())
    )
}

/// The verdict at the range's end.
fn end_line(m: &ModuleCompat, show: &dyn Fn(&str) -> String) -> String {
    match &m.end {
        Some(end) if end.loads => format!("loads on {}", show(end.abi.as_str())),
        Some(end) => format!(
            "does NOT load on {} ({} problems)",
            show(end.abi.as_str()),
            end.problems
        ),
        None => "does NOT load: the flavour has no reference there".to_owned(),
    }
}

/// The closing counts line.
fn totals(report: &CompatReport) -> String {
    let refused = report.modules.iter().filter(|m| !m.loads_at_end).count();
    let s = &report.stats;
    format!(
        "{} module/flavour pair(s), {refused} not loading at the end; {} loader checks for {} states over {} commits",
        report.modules.len(),
        s.checks,
        s.states,
        s.commits
    )
}

/// Human text: per module and flavour, a line per state, the stories, the end.
pub fn text(report: &CompatReport) -> String {
    let mut out = String::new();
    for m in &report.modules {
        let _ = writeln!(out, "{}:", heading(m, &plain));
        for (label, s) in labelled(&m.states) {
            let verdict = if s.loads {
                "loads".to_owned()
            } else {
                format!("would NOT load ({})", reason(&s.findings))
            };
            let hidden = if s.incompatible {
                " [hidden break]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  ABI {:<16} {label:>12} {} {verdict}  {}{hidden}",
                safe(s.abi.as_str()),
                s.commit.short(),
                safe(&s.title)
            );
        }
        for line in stories(m, &plain) {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  at the end: {}", end_line(m, &plain));
    }
    let _ = writeln!(out, "{}", totals(report));
    out
}

/// Markdown: per module and flavour, the stories and a table of states.
pub fn markdown(report: &CompatReport) -> String {
    let mut out = String::from("## abibot compat\n");
    for m in &report.modules {
        let _ = writeln!(
            out,
            "\n**{}**: at the end it {}\n",
            heading(m, &code),
            end_line(m, &code)
        );
        for line in stories(m, &code) {
            let _ = writeln!(out, "- {line}");
        }
        out.push_str(
            "\n| ABI | state | commit | loads | problems | hidden break | title |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for (label, s) in labelled(&m.states) {
            let problems = match s.problems {
                0 => "0".to_owned(),
                _ => reason(&s.findings),
            };
            let _ = writeln!(
                out,
                "| {} | {label} | {} | {} | {problems} | {} | {} |",
                cell(s.abi.as_str()),
                cell(s.commit.short()),
                if s.loads { "yes" } else { "**no**" },
                if s.incompatible { "yes" } else { "" },
                cell(&s.title)
            );
        }
    }
    let _ = writeln!(out, "\n{}", totals(report));
    out
}

/// JSON: `{"loads_at_end": bool, "modules": [{"module", "name", "vermagic",
/// "flavour", "chosen_by", "states": [{"abi", "commit", "title", "content",
/// "until", "loads", "problems", "warnings", "returns_to"?, "incompatible",
/// "findings"}], "end": {...} | null, "loads_at_end"}], "errors", "stats"}`.
pub fn json(report: &CompatReport) -> String {
    let doc = serde_json::json!({
        "loads_at_end": report.all_load_at_end(),
        "modules": report.modules,
        "errors": report.errors,
        "stats": report.stats,
    });
    serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::CommitSha;
    use crate::symbols::{AbiName, Crc};

    fn crc_mismatch(symbol: &str) -> Finding {
        Finding {
            severity: Severity::Error,
            problem: Problem::CrcMismatch {
                symbol: symbol.into(),
                exporter: "vmlinux".into(),
                module_crc: 1,
                kernel_crc: Crc(2),
            },
        }
    }

    fn state(n: u8, abi: &str, findings: Vec<Finding>, returns_to: Option<usize>) -> StateVerdict {
        StateVerdict {
            abi: AbiName::new(abi).unwrap(),
            commit: format!("{n:02x}").repeat(20).parse::<CommitSha>().unwrap(),
            title: format!("commit {n}\u{1b}[31m"),
            content: format!("{n:02x}").repeat(20),
            until: None,
            loads: findings.is_empty(),
            problems: findings.len(),
            warnings: 0,
            returns_to,
            incompatible: n == 3,
            findings,
        }
    }

    fn module() -> ModuleCompat {
        let three = vec![crc_mismatch("a"), crc_mismatch("b"), crc_mismatch("c")];
        ModuleCompat {
            module: "fat.ko".into(),
            name: "fat".into(),
            vermagic: Some("6.1.0-50-amd64 SMP ".into()),
            flavour: "amd64_none_amd64".parse().unwrap(),
            chosen_by: ChosenBy::Vermagic,
            states: vec![
                state(1, "6.1.0-47", vec![crc_mismatch("a")], None),
                state(2, "6.1.0-50", vec![], None),
                state(3, "6.1.0-50", three, None),
                state(4, "6.1.0-50", vec![], Some(1)),
            ],
            end: None,
            loads_at_end: false,
        }
    }

    #[test]
    fn each_name_tells_where_the_module_loads() {
        let m = module();
        let lines = stories(&m, &plain);
        assert_eq!(
            lines,
            [
                "6.1.0-47 never loads (1 imported symbol changed: 1 CRC mismatch)",
                "6.1.0-50 loads from 020202020202; not from 030303030303 on \
                 (3 imported symbols changed: 3 CRC mismatches); loads again from 040404040404"
            ]
        );
    }

    #[test]
    fn states_are_numbered_per_name_and_titles_cannot_act() {
        let report = CompatReport {
            modules: vec![module()],
            errors: vec![],
            stats: Default::default(),
        };
        let text = text(&report);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains("commit 3\\u{1b}[31m [hidden break]"),
            "{text}"
        );
        let labels: Vec<String> = labelled(&report.modules[0].states)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(labels, ["1", "1", "2", "returns to 1"]);
        assert!(text.contains("at the end: does NOT load: the flavour has no reference"));
        let md = markdown(&report);
        assert!(
            md.contains("| `6.1.0-50` | 2 | `030303030303` | **no** |"),
            "{md}"
        );
        assert!(md.contains("`commit 3\\u{1b}[31m`"), "{md}");
    }
}
