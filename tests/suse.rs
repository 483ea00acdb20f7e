//! SUSE's kernel-source layout on git2-built repositories: detection, the
//! service pack as ABI name, `kabi/severities` with SUSE's first-match
//! PASS/FAIL semantics, and the symtypes file carried for explanations.

mod common;

use abibot::findings::FindingKind;
use abibot::history::scan::ScanReport;
use abibot::history::{GitTree, WalkOptions};
use abibot::layouts::{Layout, Snapshot};
use abibot::report::scan::finding_markdown;
use common::{TestRepo, findings_of, scan_with};

const CONFIG: &str = "# The version of the main tarball to use\nSRCVERSION=5.14\nVARIANT=\n\
                      OBS_PROJECT=SUSE:SLE-15-SP5:Update\nIBS_PROJECT=SUSE:SLE-15-SP5:Update\n";
/// The ABI name `CONFIG` gives.
const SP5: &str = "5.14@SUSE:SLE-15-SP5";
const SYMVERS: &str = "kabi/x86_64/symvers-default";
const SYMTYPES: &str = "kabi/x86_64/symtypes-default";

/// A Module.symvers line.
fn line(crc: u32, name: &str, module: &str) -> String {
    format!("0x{crc:08x}\t{name}\t{module}\tEXPORT_SYMBOL_GPL\t\n")
}

/// The reference: `kfree` in vmlinux, `foo_xmit` in `module` with `crc`.
fn reference(crc: u32, module: &str) -> String {
    line(0x1111, "kfree", "vmlinux") + &line(crc, "foo_xmit", module)
}

/// A kernel-source tree with `severities`, committed as "base".
fn base(severities: &str) -> TestRepo {
    let r = TestRepo::new();
    r.write("rpm/config.sh", CONFIG);
    r.write("kabi/severities", severities);
    r.write(SYMVERS, reference(0x2222, "drivers/net/foo"));
    r.write(
        SYMTYPES,
        "/* drivers/net/foo.symtypes */\nfoo_xmit int foo_xmit ( )\n",
    );
    r.commit("base");
    r
}

/// `base(severities)`, then `foo_xmit`'s CRC changed in `module` under the
/// same service pack ("Update kabi files"); the scan of that history.
fn crc_changed(severities: &str, module: &str) -> ScanReport {
    let r = base(severities);
    r.write(SYMVERS, reference(0x3333, module));
    r.commit("Update kabi files");
    let report = scan_with(&r, WalkOptions::default()).0;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

/// The refresh was read and judged compatible: its only change tolerated.
fn assert_tolerated(report: &ScanReport, rules: &str) {
    assert_eq!(findings_of(report), [], "{rules:?}");
    assert_eq!(report.stats.compatible_refreshes, 1, "{rules:?}");
}

fn hidden_break() -> Vec<(FindingKind, String, String)> {
    vec![(
        FindingKind::HiddenBreak,
        "Update kabi files".into(),
        SP5.into(),
    )]
}

/// The layout detected at HEAD and what it reads there.
fn head_snapshot(r: &TestRepo) -> (Layout, Snapshot) {
    let commit = r.repo.head().unwrap().peel_to_commit().unwrap();
    let tree = GitTree::of_commit(&r.repo, &commit).unwrap();
    let layout = Layout::detect(&tree, None).unwrap().expect("a layout");
    let snapshot = layout.read(&tree).unwrap();
    (layout, snapshot)
}

#[test]
fn detected_with_the_service_pack_as_abi_name_and_symtypes_carried() {
    let r = base("");
    r.write("kabi/x86_64/symsets-default.tar.gz", "old symbol sets");
    r.write("kabi/x86_64/README", "not a reference");
    r.write_raw(
        b"kabi/x86_64/symvers-rt",
        0o120000,
        b"symvers-default",
        None,
    );
    r.write("kabi/s390x/symtypes-zfcpdump", "s#x struct x { int a ; }\n");
    r.commit("more files");
    let (layout, snapshot) = head_snapshot(&r);
    assert_eq!(layout.name(), "suse");
    assert_eq!(snapshot.abi.as_ref().map(|a| a.as_str()), Some(SP5));
    let keys: Vec<String> = snapshot.flavours.keys().map(|k| k.to_string()).collect();
    assert_eq!(keys, ["x86_64_none_default"]);
    let source = snapshot.flavours.values().next().unwrap();
    assert_eq!(source.path, SYMVERS);
    let symtypes = source.symtypes.as_ref().expect("symtypes carried");
    let blob = r.repo.revparse_single(&format!("HEAD:{SYMTYPES}")).unwrap();
    assert_eq!((symtypes.path.as_str(), symtypes.id), (SYMTYPES, blob.id()));
    // Symbol sets are derived data; the rest is reported, not dropped.
    let skipped: Vec<&str> = snapshot.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "kabi/s390x/symtypes-zfcpdump",
            "kabi/x86_64/README",
            "kabi/x86_64/symvers-rt"
        ]
    );
    // Without rpm/config.sh the name is the same at every revision.
    r.remove("rpm/config.sh");
    r.commit("no config");
    let (_, snapshot) = head_snapshot(&r);
    assert_eq!(snapshot.abi.as_ref().map(|a| a.as_str()), Some("kabi"));
}

#[test]
fn a_crc_change_under_the_same_service_pack_is_a_hidden_break() {
    let report = crc_changed("# nothing tolerated\n", "drivers/net/foo");
    assert_eq!(findings_of(&report), hidden_break());
    let finding = &report.findings[0];
    assert_eq!(finding.layout.name(), "suse");
    // The comment gives SUSE's remedies: a kABI fix-up patch, or a
    // severities line tolerating the symbol.
    let comment = finding_markdown(finding, 65_536);
    assert!(comment.contains("`patches.kabi/`"), "{comment}");
    assert!(comment.contains("scripts/update-symvers"), "{comment}");
    assert!(comment.contains("\nfoo_xmit PASS\n"), "{comment}");
    let summary = finding.flavours[0].summary;
    assert_eq!((summary.crc_changed, summary.incompatible), (1, 1));
}

#[test]
fn a_pass_rule_silences_it() {
    for rule in ["drivers/net/*\tPASS\n", "foo_*   PASS\n", "*/foo pass\n"] {
        let report = crc_changed(rule, "drivers/net/foo");
        assert_tolerated(&report, rule);
    }
}

#[test]
fn the_first_matching_rule_decides_and_fail_listed_first_wins() {
    let fail_first = "drivers/net/foo\tFAIL\ndrivers/net/*\tPASS\n";
    assert_eq!(
        findings_of(&crc_changed(fail_first, "drivers/net/foo")),
        hidden_break()
    );
    let pass_first = "drivers/net/*\tPASS\ndrivers/net/foo\tFAIL\n";
    assert_tolerated(&crc_changed(pass_first, "drivers/net/foo"), pass_first);
    // A symbol rule and a module rule compete by order too.
    let by_name = "foo_xmit FAIL\ndrivers/** PASS\n";
    assert_eq!(
        findings_of(&crc_changed(by_name, "drivers/net/foo")),
        hidden_break()
    );
}

#[test]
fn no_matching_rule_means_fail() {
    let unrelated = "fs/*\tPASS\nvmlinux\tPASS\nkfree PASS\nFOO_NS PASS\n";
    assert_eq!(
        findings_of(&crc_changed(unrelated, "drivers/net/foo")),
        hidden_break()
    );
    // The reference's module is matched, not the one the symbol moved to.
    assert_eq!(
        findings_of(&crc_changed("fs/*\tPASS\n", "fs/foo")),
        hidden_break()
    );
}

#[test]
fn a_bad_severities_line_is_an_error_naming_the_file_and_line() {
    let r = base("drivers/net/*\tPASS\n");
    r.write(
        "kabi/severities",
        "drivers/net/*\tPASS\n# ok\nfoo_xmit MAYBE\n",
    );
    r.commit("Break severities");
    let report = scan_with(&r, WalkOptions::default()).0;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let error = &report.errors[0];
    assert_eq!(error.path, "kabi/severities");
    assert!(
        error
            .message
            .starts_with("kabi/severities:3: invalid verdict \"MAYBE\""),
        "{}",
        error.message
    );
}

#[test]
fn a_refresh_that_adds_a_symbol_is_compatible() {
    let r = base("");
    r.write(
        SYMVERS,
        reference(0x2222, "drivers/net/foo") + &line(0x4444, "kmalloc_new", "vmlinux"),
    );
    r.commit("Update kabi files");
    let report = scan_with(&r, WalkOptions::default()).0;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(findings_of(&report), []);
    assert_eq!(report.stats.commits_touching_references, 2);
}

#[test]
fn an_ignore_file_switches_the_flavour_check_off() {
    let r = base("");
    r.write("kabi/x86_64/ignore-default", "");
    r.commit("tolerate");
    r.write(SYMVERS, reference(0x3333, "drivers/net/foo"));
    r.commit("Update kabi files");
    let report = scan_with(&r, WalkOptions::default()).0;
    assert_tolerated(&report, "kabi/x86_64/ignore-default");
}
