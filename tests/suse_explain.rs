//! A SUSE kernel-source history whose consolidated symtypes change with its
//! symvers: the hidden break carries the type change behind the CRC change
//! (JSON: all causes; comment: the cause and its member), restricted to the
//! exports whose CRC changed; a PASS rule silences it; damaged symtypes are
//! a warning naming commit and file, not a lost finding.

mod common;

use std::collections::BTreeMap;

use abibot::findings::FindingKind;
use abibot::history::scan::ScanReport;
use abibot::history::{Severity, WalkOptions};
use abibot::report::scan::{finding_markdown, scan_json};
use abibot::symtypes::{crc::all_crcs, load_bytes};
use common::{TestRepo, scan_with};

const CONFIG: &str = "SRCVERSION=5.14\nOBS_PROJECT=SUSE:SLE-15-SP5:Update\n";
const SYMVERS: &str = "kabi/x86_64/symvers-default";
const SYMTYPES: &str = "kabi/x86_64/symtypes-default";

/// Consolidated symtypes: `foo_xmit` takes a `struct foo_dev` whose body is
/// `body`; `foo_stats` and `kfree` reach no struct.
fn symtypes(body: &str) -> String {
    format!(
        "/* drivers/net/foo.symtypes */\n\
         s#foo_dev struct foo_dev {{ {body} }}\n\
         foo_xmit int foo_xmit ( s#foo_dev * )\n\
         foo_stats int foo_stats ( void )\n\
         /* mm/slab.symtypes */\n\
         kfree void kfree ( const void * )\n"
    )
}

/// Module.symvers with the CRCs genksyms computes from `types`.
fn symvers(types: &str) -> String {
    let st = load_bytes("test", types.as_bytes()).expect("valid symtypes");
    let crcs: BTreeMap<&str, u32> = all_crcs(&st)
        .expect("CRCs")
        .iter()
        .map(|c| (st.names.text(c.symbol), c.crc))
        .collect();
    assert_eq!(crcs.len(), 3, "{crcs:?}");
    crcs.iter()
        .map(|(name, crc)| {
            let module = if *name == "kfree" {
                "vmlinux"
            } else {
                "drivers/net/foo"
            };
            format!("0x{crc:08x}\t{name}\t{module}\tEXPORT_SYMBOL_GPL\t\n")
        })
        .collect()
}

const OLD_BODY: &str = "int len ;";
const NEW_BODY: &str = "int len ; long queued ;";

/// A history: base with `severities`, then `struct foo_dev` gains `queued`
/// (symvers regenerated; the new symtypes written as `new_types`).
fn gained_member(severities: &str, new_types: &str) -> ScanReport {
    let r = TestRepo::new();
    r.write("rpm/config.sh", CONFIG);
    r.write("kabi/severities", severities);
    r.write(SYMVERS, symvers(&symtypes(OLD_BODY)));
    r.write(SYMTYPES, symtypes(OLD_BODY));
    r.commit("base");
    r.write(SYMVERS, symvers(&symtypes(NEW_BODY)));
    r.write(SYMTYPES, new_types);
    r.commit("Update kabi files");
    scan_with(&r, WalkOptions::default()).0
}

#[test]
fn the_hidden_break_names_the_type_and_its_new_member() {
    let report = gained_member("", &symtypes(NEW_BODY));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.findings.len(), 1);
    let finding = &report.findings[0];
    assert_eq!(finding.kind, FindingKind::HiddenBreak);
    let ex = finding.flavours[0].explanation.as_ref().expect("explained");
    // Only the export whose CRC changed: foo_stats and kfree are not.
    let exports: Vec<(&str, &[String])> = ex
        .exports
        .iter()
        .map(|e| (e.symbol.as_str(), e.causes.as_slice()))
        .collect();
    assert_eq!(exports, [("foo_xmit", &["s#foo_dev".to_owned()][..])]);
    let json: serde_json::Value = serde_json::from_str(&scan_json(&report)).unwrap();
    let causes = &json["findings"][0]["flavours"][0]["explanation"]["causes"];
    assert_eq!(causes[0]["type"], "s#foo_dev", "{causes}");
    let change = &causes[0]["variants"][0]["changes"][0];
    assert_eq!(
        (&change["change"], &change["member"], &change["after"]),
        (&"added".into(), &"queued".into(), &"len".into()),
        "{change}"
    );
    let comment = finding_markdown(finding, 65_536);
    assert!(
        comment.contains("1 export changed because `s#foo_dev` gained `queued` after `len`"),
        "{comment}"
    );
    assert!(comment.contains("+ queued: long queued"), "{comment}");
}

#[test]
fn a_tight_budget_cuts_the_summary_table_before_the_cause() {
    let report = gained_member("", &symtypes(NEW_BODY));
    let finding = &report.findings[0];
    let full = finding_markdown(finding, 65_536);
    let cause = "`s#foo_dev` gained `queued`";
    let table = "| featureset |";
    assert!(full.contains(cause) && full.contains(table), "{full}");
    let mut cause_alone = 0;
    for budget in (full.len() / 2..full.len()).step_by(8) {
        let body = finding_markdown(finding, budget);
        assert!(!body.contains(table) || body.contains(cause), "{body}");
        cause_alone += usize::from(body.contains(cause) && !body.contains(table));
    }
    assert!(
        cause_alone > 0,
        "no budget kept the cause without the table"
    );
}

#[test]
fn a_pass_rule_silences_it_and_nothing_is_explained() {
    let report = gained_member("foo_xmit PASS\n", &symtypes(NEW_BODY));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.stats.compatible_refreshes, 1);
}

#[test]
fn damaged_symtypes_are_a_warning_and_the_finding_stays() {
    let damaged = "/* drivers/net/foo.symtypes */\nq#foo_dev struct foo_dev { int len ; }\n";
    let report = gained_member("", damaged);
    assert_eq!(report.findings.len(), 1);
    assert!(report.findings[0].flavours[0].explanation.is_none());
    let warnings: Vec<_> = report
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.severity))
        .collect();
    assert_eq!(warnings, [(SYMTYPES, Severity::Warning)]);
    let message = &report.errors[0].message;
    let commit = report.findings[0].commit.as_str();
    assert!(
        message.contains(&format!("{commit}:{SYMTYPES}")),
        "{message}"
    );
}

#[test]
fn diff_explain_adds_the_cause_of_the_breaking_crc_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (old_types, new_types) = (symtypes(OLD_BODY), symtypes(NEW_BODY));
    let old = file("old.symvers", symvers(&old_types));
    let new = file("new.symvers", symvers(&new_types));
    let ot = file("old.symtypes", old_types);
    let nt = file("new.symtypes", new_types);
    let args = [
        "diff",
        &old,
        &new,
        "--explain",
        &ot,
        &nt,
        "--format",
        "json",
    ];
    let (code, out, err) = common::abibot(&args);
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["summary"]["crc_changed"], 1, "{out}");
    let ex = &json["explanation"];
    assert_eq!(ex["exports"][0]["symbol"], "foo_xmit", "{out}");
    assert_eq!(ex["exports"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(ex["causes"][0]["type"], "s#foo_dev", "{out}");
    let (_, text, _) = common::abibot(&args[..6]);
    assert!(
        text.contains("`s#foo_dev` gained `queued` after `len`"),
        "{text}"
    );
    // Without --explain, diff says nothing of types.
    let (_, plain, _) = common::abibot(&args[..3]);
    assert!(!plain.contains("s#foo_dev"), "{plain}");
}
