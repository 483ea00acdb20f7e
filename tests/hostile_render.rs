//! Strings from a repository (flavour, featureset and ABI names, symbol
//! names, module paths, namespaces, ignore rules, commit titles and authors,
//! build output) in every position of every renderer: Markdown can form no
//! HTML, mention, link or extra table cell; text lets no control or
//! bidirectional character through; JSON keeps the exact string.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use abibot::bisect::{
    BisectReport, CommitInfo, FirstBad, FlavourMatch, Kind, Mode, Probe, Skipped, Verdict, Work,
};
use abibot::compare::{Comparison, compare};
use abibot::findings::{Finding, FindingKind, FlavourChange, ModuleImpact};
use abibot::history::scan::ScanReport;
use abibot::history::timeline::{AbiHistory, State};
use abibot::history::{CommitSha, RevisionError};
use abibot::ignore::{IgnoreRule, IgnoreRules};
use abibot::loadcheck::{self, LoadReport, Problem, Severity};
use abibot::report::{self, bisect, loadcheck as load, scan, timeline};
use abibot::symbols::{AbiName, Crc, ExportKind, FlavourKey, Symbol, SymbolSet};
use common::markdown::outside_code;

/// Every hazard at once: HTML, a mention, a link, an autolink, table
/// pipes (one after a backslash), a backtick, an ANSI escape, a carriage
/// return, a line of its own, a right-to-left override.
const H: &str = "x<img src=x onerror=alert(1)>@someone [l](https://evil.example) www.evil.example a|b\\|c `t` \x1b[31m\r\nfake line\u{202e}";

fn h(suffix: &str) -> String {
    format!("{H}{suffix}")
}

/// As hostile an ABI name as [`AbiName::new`] lets in: [`H`] without its
/// white space, control characters and slashes.
fn abi(suffix: &str) -> AbiName {
    let name = h(suffix).replace(
        |c: char| c.is_whitespace() || c.is_control() || c == '/',
        "",
    );
    AbiName::new(name).unwrap()
}

fn sha(c: char) -> CommitSha {
    c.to_string().repeat(40).parse().unwrap()
}

fn symbol(name: &str, crc: u32) -> Symbol {
    Symbol {
        name: name.into(),
        crc: Crc(crc),
        module: h("mod").into(),
        export: Some(ExportKind::parse(&h("EXPORT"))),
        namespace: Some(h("ns").into()),
    }
}

/// Two hostile symbols change CRC, one of them ignored by a hostile rule.
fn comparison() -> Comparison {
    let set =
        |crc| SymbolSet::from_symbols(vec![symbol(&h("1"), crc), symbol(&h("2"), crc)]).unwrap();
    let rule = IgnoreRule::parse("name:x<img src=x onerror=alert(1)>@someone**2").unwrap();
    compare(&set(1), &set(2), &IgnoreRules::new(vec![rule]))
}

fn finding() -> Finding {
    let c = Arc::new(comparison());
    let key = FlavourKey::new(&h("arch"), &h("fs"), &h("flavour"));
    Finding {
        id: "0123456789abcdef01234567".parse().unwrap(),
        kind: FindingKind::HiddenBreak,
        layout: abibot::layouts::Layout::named("debian", "").unwrap().kind(),
        commit: sha('a'),
        title: h("title"),
        abi: abi("abi"),
        new_abi: Some(abi("new")),
        bump_needed: Some(true),
        unchecked_since: None,
        flavours: vec![FlavourChange::new(&key, &h("path"), Some(c))],
        unchanged_flavours: vec![h("unchanged")],
        lost_featuresets: vec![h("lost")],
        breaks_modules: vec![ModuleImpact {
            module: h("ko"),
            changed_imports: 2,
            symbols: vec![h("import")],
        }],
    }
}

fn scan_report() -> ScanReport {
    ScanReport {
        commits_scanned: 2,
        findings: vec![finding()],
        errors: vec![RevisionError {
            commit: sha('b'),
            path: h("errpath"),
            message: h("message"),
            severity: abibot::history::Severity::Error,
        }],
        ..ScanReport::default()
    }
}

fn timeline_data() -> Vec<AbiHistory> {
    let state = |c, incompatible, came_back_from| State {
        content: "0".repeat(40),
        commit: sha(c),
        title: h("title"),
        incompatible,
        returns_to: None,
        came_back_from,
        symbols: 1,
        changes: None,
    };
    // The second state is the name coming back from another (hostile) name.
    let states = vec![
        state('a', false, None),
        state('b', true, Some(abi("came-back-from"))),
    ];
    vec![AbiHistory {
        abi: abi("abi"),
        flavours: BTreeMap::from([(h("flavour"), states)]),
    }]
}

fn commit_info() -> CommitInfo {
    CommitInfo {
        commit: sha('c'),
        title: h("title"),
        author: h("author"),
        date: h("date"),
    }
}

fn bisect_report() -> BisectReport {
    BisectReport {
        mode: Mode::Build,
        good: commit_info(),
        bad: commit_info(),
        kind: Kind::Any,
        flavours: vec![h("flavour")],
        symbols: vec![h("symbol")],
        commits_in_range: 3,
        first_bad: Some(FirstBad {
            commit: commit_info(),
            changes: vec![FlavourMatch {
                flavour: h("flavour"),
                changes: comparison().changes,
            }],
            maybe_earlier: vec![sha('d')],
        }),
        probes: vec![Probe {
            commit: sha('e'),
            title: h("title"),
            verdict: Verdict::Skip,
            reason: Some(h("reason")),
            output: Some(h("output")),
        }],
        skipped: vec![Skipped {
            commit: sha('e'),
            title: h("title"),
            reason: h("reason"),
        }],
        work: Work::default(),
        keep_dir: Some(h("dir")),
    }
}

fn load_reports() -> Vec<LoadReport> {
    let problems = vec![
        Problem::MissingSymbol { symbol: h("s") },
        Problem::GplOnly {
            symbol: h("s"),
            exporter: h("e"),
            license: Some(h("l")),
        },
        Problem::NamespaceNotImported {
            symbol: h("s"),
            namespace: h("n"),
            exporter: h("e"),
        },
        Problem::UnknownExportKind {
            symbol: h("s"),
            export: h("k"),
        },
        Problem::VermagicMismatch {
            module: h("m"),
            expected: h("x"),
            accepted: false,
        },
        Problem::DuplicateExport {
            symbol: h("s"),
            exporter: h("e"),
        },
    ];
    vec![LoadReport {
        path: h("path"),
        name: h("name"),
        loads: false,
        imports_checked: 1,
        findings: problems
            .into_iter()
            .map(|problem| loadcheck::Finding {
                severity: Severity::Error,
                problem,
            })
            .collect(),
    }]
}

/// Characters that must never reach a terminal or a comment raw.
fn acts(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn check_text(what: &str, out: &str) {
    assert!(
        out.contains("onerror"),
        "{what}: the name is not shown at all"
    );
    assert!(
        !out.chars().any(acts),
        "{what}: a control character:\n{out:?}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("fake line")),
        "{what}: a name made a line of its own:\n{out}"
    );
}

/// Every string value of a JSON document.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn check_json(what: &str, out: &str, expected: &[String]) {
    let doc: serde_json::Value = serde_json::from_str(out).unwrap();
    let mut found = Vec::new();
    strings(&doc, &mut found);
    for e in expected {
        assert!(found.contains(e), "{what}: {e:?} not kept exactly");
    }
    assert!(
        !out.contains('\x1b'),
        "{what}: JSON escapes control characters"
    );
}

/// The cells of a table row as GFM splits it: a backslash escapes the next
/// character, so `\\|` ends a cell and `\|` does not.
fn cells(row: &str) -> usize {
    let mut count = 0;
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => count += 1,
            _ => {}
        }
    }
    count - 1
}

fn check_markdown(what: &str, out: &str) {
    check_text(what, out);
    let visible = outside_code(out);
    for bad in ["<img", "onerror", "@someone", "https://", "www.evil", "]("] {
        assert!(
            !visible.contains(bad),
            "{what}: {bad:?} outside code:\n{visible}"
        );
    }
    let mut columns = None;
    for row in out.lines().filter(|l| l.starts_with('|')) {
        let n = cells(row);
        assert_eq!(*columns.get_or_insert(n), n, "{what}: a row split:\n{row}");
    }
    for line in out.lines().filter(|l| l.contains("<summary>")) {
        let html = line.replace("<code>", "").replace("</code>", "");
        let tags = html.matches('<').count();
        let allowed = html.matches("<details>").count()
            + html.matches("<summary>").count()
            + html.matches("</summary>").count();
        assert_eq!(tags, allowed, "{what}: HTML in a summary:\n{line}");
        assert!(
            !line.contains('@'),
            "{what}: a mention in a summary:\n{line}"
        );
    }
}

#[test]
fn scan_renderers() {
    let report = scan_report();
    check_text("scan text", &scan::scan_text(&report));
    check_markdown("scan markdown", &scan::scan_markdown(&report));
    for limit in [4_096, 65_536, usize::MAX] {
        let body = scan::finding_markdown(&finding(), limit);
        check_markdown(&format!("comment within {limit}"), &body);
        assert!(body.len() <= limit);
    }
    let expected = [
        h("title"),
        abi("abi").to_string(),
        h("unchanged"),
        h("lost"),
        h("ko"),
        h("message"),
    ];
    let mut expected = expected.to_vec();
    expected.push(FlavourKey::new(&h("arch"), &h("fs"), &h("flavour")).to_string());
    check_json("scan json", &scan::scan_json(&report), &expected);
}

#[test]
fn diff_renderers() {
    let c = comparison();
    check_text("diff text", &report::diff_text(&c, &h("old"), &h("new")));
    check_markdown(
        "diff markdown",
        &report::diff_markdown(&c, &h("old"), &h("new")),
    );
    check_json(
        "diff json",
        &report::diff_json(&c, &h("old"), &h("new")),
        &[h("old"), h("1"), h("mod"), h("ns"), h("EXPORT")],
    );
}

#[test]
fn timeline_renderers() {
    let t = timeline_data();
    check_text("timeline text", &timeline::text(&t));
    check_markdown("timeline markdown", &timeline::markdown(&t));
    check_json(
        "timeline json",
        &timeline::json(&t, &[]),
        &[
            abi("abi").to_string(),
            h("title"),
            abi("came-back-from").to_string(),
        ],
    );
}

/// A renderer with text and JSON forms only: the text is safe and the JSON
/// keeps the hostile strings ending in `suffixes` exactly.
fn check_text_and_json(what: &str, text: &str, json: &str, suffixes: &[&str]) {
    check_text(&format!("{what} text"), text);
    let expected: Vec<String> = suffixes.iter().map(|s| h(s)).collect();
    check_json(&format!("{what} json"), json, &expected);
}

#[test]
fn bisect_renderers() {
    let r = bisect_report();
    check_text_and_json(
        "bisect",
        &bisect::text(&r),
        &bisect::json(&r),
        &["title", "author", "output", "reason", "dir"],
    );
}

#[test]
fn loadcheck_renderers() {
    let r = load_reports();
    check_text_and_json(
        "loadcheck",
        &load::text(&r),
        &load::json(&r),
        &["path", "name", "s", "l", "m"],
    );
}

/// `compat`'s answer with a hostile module, flavour, ABI name, title and
/// findings: every state, the stories and the end.
fn compat_report() -> abibot::compat::CompatReport {
    use abibot::compat::{ChosenBy, CompatReport, EndVerdict, ModuleCompat, StateVerdict};
    let findings = load_reports().remove(0).findings;
    let state = |c, loads: bool, returns_to| StateVerdict {
        abi: abi("abi"),
        commit: sha(c),
        title: h("title"),
        content: "0".repeat(40),
        until: None,
        loads,
        problems: if loads { 0 } else { findings.len() },
        warnings: 0,
        returns_to,
        incompatible: !loads,
        findings: if loads { vec![] } else { findings.clone() },
    };
    let states = vec![
        state('a', true, None),
        state('b', false, None),
        state('c', true, Some(1)),
    ];
    CompatReport {
        modules: vec![ModuleCompat {
            module: h("path"),
            name: h("name"),
            vermagic: Some(h("vermagic")),
            flavour: FlavourKey::new(&h("arch"), &h("fs"), &h("flavour")),
            chosen_by: ChosenBy::Vermagic,
            states,
            end: Some(EndVerdict {
                abi: abi("end"),
                content: "0".repeat(40),
                loads: false,
                problems: 1,
            }),
            loads_at_end: false,
        }],
        errors: vec![],
        stats: Default::default(),
    }
}

#[test]
fn compat_renderers() {
    let r = compat_report();
    check_text("compat text", &report::compat::text(&r));
    check_markdown("compat markdown", &report::compat::markdown(&r));
    let flavour = FlavourKey::new(&h("arch"), &h("fs"), &h("flavour")).to_string();
    check_json(
        "compat json",
        &report::compat::json(&r),
        &[
            h("path"),
            h("name"),
            h("title"),
            abi("abi").to_string(),
            flavour,
            h("s"),
        ],
    );
}
