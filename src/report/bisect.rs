//! Renders a [`BisectReport`] for people (text) and programs (JSON). The
//! JSON is the report's serde form: `first_bad` (`null` when nothing in the
//! range matches) with `commit`, `title`, `author`, `date`, `changes` and
//! `maybe_earlier`; `probes` (`commit`, `title`, `verdict`: `good`, `bad` or
//! `skip`, `reason`, `output`); `skipped` (`commit`, `title`, `reason`);
//! `work` counters; and the question asked (`mode`, `kind`, `flavours`,
//! `symbols`).

use std::fmt::Write as _;

use super::untrusted::text as safe;
use crate::bisect::{BisectReport, Kind, Mode};
use crate::compare::{Change, ChangeKind};

/// Repository strings for human text, joined.
fn joined(items: &[String]) -> String {
    let items: Vec<_> = items.iter().map(|s| safe(s)).collect();
    items.join(", ")
}

/// Changes listed per flavour in text; the rest are counted.
const TEXT_CHANGES: usize = 20;

/// The report as pretty JSON, with a final newline.
pub fn json(report: &BisectReport) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes") + "\n"
}

/// The report for people.
pub fn text(report: &BisectReport) -> String {
    let mut out = String::new();
    write_question(&mut out, report);
    out.push('\n');
    write_first_bad(&mut out, report);
    out.push('\n');
    write_probes(&mut out, report);
    out
}

/// What was bisected: the range, what is compared, and what counts as bad.
fn write_question(out: &mut String, report: &BisectReport) {
    let mode = match report.mode {
        Mode::Reference => "references",
        Mode::Build => "builds",
    };
    let symbols = if report.symbols.is_empty() {
        "any symbol".to_owned()
    } else {
        joined(&report.symbols)
    };
    let _ = writeln!(
        out,
        "Bisected {} commits after {} (good) up to {} (bad), comparing {mode}",
        report.commits_in_range,
        report.good.commit.short(),
        report.bad.commit.short(),
    );
    let kind = match report.kind {
        Kind::Crc => "CRC changes",
        Kind::Removed => "removals",
        Kind::Export => "export changes",
        Kind::Namespace => "namespace changes",
        Kind::Any => "incompatible changes",
    };
    let _ = writeln!(
        out,
        "Looking for: {kind} of {symbols} in {}",
        joined(&report.flavours)
    );
}

/// The answer: the first bad commit with its matching changes per flavour,
/// or why there is none.
fn write_first_bad(out: &mut String, report: &BisectReport) {
    match &report.first_bad {
        None => {
            let _ = writeln!(
                out,
                "No change in range: the bad end {} does not differ from the good end this way.",
                report.bad.commit.short()
            );
        }
        Some(first) => {
            let _ = writeln!(out, "First bad commit: {}", first.commit.commit);
            let _ = writeln!(out, "  Title:  {}", safe(&first.commit.title));
            let _ = writeln!(out, "  Author: {}", safe(&first.commit.author));
            let _ = writeln!(out, "  Date:   {}", safe(&first.commit.date));
            if !first.maybe_earlier.is_empty() {
                let shas: Vec<&str> = first.maybe_earlier.iter().map(|s| s.short()).collect();
                let _ = writeln!(
                    out,
                    "  It may be one of these skipped commits before it instead: {}",
                    shas.join(", ")
                );
            }
            for flavour in &first.changes {
                let _ = writeln!(
                    out,
                    "  {}: {} matching change(s)",
                    safe(&flavour.flavour),
                    flavour.changes.len()
                );
                for change in flavour.changes.iter().take(TEXT_CHANGES) {
                    let _ = writeln!(out, "    {}", change_line(change));
                }
                if flavour.changes.len() > TEXT_CHANGES {
                    let _ = writeln!(
                        out,
                        "    ... and {} more (see --format json)",
                        flavour.changes.len() - TEXT_CHANGES
                    );
                }
            }
        }
    }
}

/// How the answer was reached: every probe, the commits skipped, the work
/// done.
fn write_probes(out: &mut String, report: &BisectReport) {
    let _ = writeln!(out, "Probes ({}):", report.probes.len());
    for probe in &report.probes {
        let _ = write!(
            out,
            "  {:<4}  {}  {}",
            probe.verdict.name(),
            probe.commit.short(),
            safe(&probe.title)
        );
        if let Some(output) = &probe.output {
            let _ = write!(out, "  [{}]", safe(output));
        }
        out.push('\n');
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "Skipped ({}):", report.skipped.len());
        for skip in &report.skipped {
            let _ = writeln!(out, "  {}  {}", skip.commit.short(), safe(&skip.reason));
        }
    }
    match report.mode {
        Mode::Reference => {
            let _ = writeln!(
                out,
                "Reference reads: {} ({} files parsed)",
                report.work.reference_reads, report.work.references_parsed
            );
        }
        Mode::Build => {
            let _ = writeln!(out, "Builds: {}", report.work.builds);
        }
    }
    if let Some(dir) = &report.keep_dir {
        let _ = writeln!(out, "Build output kept in {}", safe(dir));
    }
}

/// `crc_changed  symbol_x  0x00000001 -> 0x00000002`.
fn change_line(change: &Change) -> String {
    let (old, new) = (change.old.as_ref(), change.new.as_ref());
    let detail = match change.kind {
        ChangeKind::CrcChanged | ChangeKind::Unversioned => {
            old.zip(new).map(|(o, n)| format!("{} -> {}", o.crc, n.crc))
        }
        ChangeKind::Removed => old.map(|o| format!("was {} in {}", o.crc, safe(&o.module))),
        ChangeKind::Added => new.map(|n| format!("{} in {}", n.crc, safe(&n.module))),
        ChangeKind::ExportChanged => old.zip(new).map(|(o, n)| {
            let kind = |e: &Option<crate::symbols::ExportKind>| {
                e.as_ref()
                    .map_or("?".to_owned(), |e| safe(&e.to_string()).into_owned())
            };
            format!("{} -> {}", kind(&o.export), kind(&n.export))
        }),
        ChangeKind::NamespaceChanged => old.zip(new).map(|(o, n)| {
            let ns = |s: &Option<crate::symbols::Text>| {
                s.as_deref()
                    .map_or("(none)".into(), |s| safe(s).into_owned())
            };
            format!("{} -> {}", ns(&o.namespace), ns(&n.namespace))
        }),
        ChangeKind::Moved => old
            .zip(new)
            .map(|(o, n)| format!("{} -> {}", safe(&o.module), safe(&n.module))),
    };
    format!(
        "{:<18} {}  {}",
        change.kind.name(),
        safe(&change.symbol),
        detail.unwrap_or_default()
    )
}
