//! The advice in a finding (comment body, text, JSON) comes from the layout
//! it was found in: Debian's `abiname`, Ubuntu's ABI number, Red Hat's kABI
//! stablelists, a generic layout's ABI name. Never Debian's files elsewhere.

mod common;

use abibot::findings::FindingKind;
use abibot::history::WalkOptions;
use abibot::history::scan::ScanReport;
use abibot::report::scan::{finding_markdown, scan_json, scan_text};
use common::{TestRepo, debian_repo, generic_options, kabi_entry, scan_with, symvers, ubuntu_repo};

/// What a report says about one layout: the comment of each problem
/// finding, the text and the JSON of the whole scan.
struct Said {
    hidden_break: String,
    coverage_lost: String,
    text: String,
    json: serde_json::Value,
}

/// Scans `repo` (whose history must hold one hidden break, then one lost
/// reference) and renders it every way.
fn said(repo: &TestRepo, options: WalkOptions) -> Said {
    let report: ScanReport = scan_with(repo, options).0;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let comment = |kind: FindingKind| {
        let f = report
            .findings
            .iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} in {:?}", report.findings));
        finding_markdown(f, usize::MAX)
    };
    Said {
        hidden_break: comment(FindingKind::HiddenBreak),
        coverage_lost: comment(FindingKind::CoverageLost),
        text: scan_text(&report),
        json: serde_json::from_str(&scan_json(&report)).unwrap(),
    }
}

impl Said {
    /// The hidden-break comment says each of `hidden`, the coverage-lost
    /// comment each of `lost`.
    fn assert_says(&self, hidden: &[&str], lost: &[&str]) {
        let hb = &self.hidden_break;
        for needle in hidden {
            assert!(hb.contains(needle), "no {needle:?} in:\n{hb}");
        }
        let cl = &self.coverage_lost;
        for needle in lost {
            assert!(cl.contains(needle), "no {needle:?} in:\n{cl}");
        }
    }

    /// Every finding in the JSON names `layout`.
    fn assert_json_layout(&self, layout: &str) {
        let findings = self.json["findings"].as_array().unwrap();
        assert!(!findings.is_empty());
        for f in findings {
            assert_eq!(f["layout"], layout, "{f}");
        }
    }

    /// None of the renderings mentions any of `words`.
    fn assert_never(&self, words: &[&str]) {
        for (what, body) in [
            ("hidden-break comment", &self.hidden_break),
            ("coverage-lost comment", &self.coverage_lost),
            ("text", &self.text),
        ] {
            for word in words {
                assert!(!body.contains(word), "{what} says {word:?}:\n{body}");
            }
        }
    }
}

/// Debian advice, found only in a Debian repository.
const DEBIAN_WORDS: [&str; 4] = [
    "debian/config/defines",
    "abiname",
    "ignore-changes",
    "[abi]",
];

#[test]
fn debian_findings_point_at_abiname_in_defines() {
    let r = debian_repo();
    for flavour in ["amd64_none_amd64", "amd64_rt_amd64"] {
        r.write(
            &format!("debian/abi/6.1.0-47/{flavour}"),
            symvers(&[("kfree", 1), ("vfs_read", 1)]),
        );
    }
    r.commit("base");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kfree", 2), ("vfs_read", 1)]),
    );
    r.commit("Refresh references");
    r.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    r.commit("Drop rt reference");
    let said = said(&r, WalkOptions::default());
    said.assert_says(
        &[
            "`abiname`",
            "`[abi]`",
            "`debian/config/defines`",
            "`debian/config/defines.toml`",
            "only together with a new ABI name",
            "ignore-changes:\n name:kfree",
        ],
        &["`debian/abi/<ABI name>/`", "`abiname`"],
    );
    assert!(said.text.contains("  to resolve: "), "{}", said.text);
    assert!(said.text.contains("debian/config/defines"), "{}", said.text);
    said.assert_json_layout("debian");
}

fn ubuntu(lines: &[(u32, &str)]) -> String {
    lines
        .iter()
        .map(|(crc, name)| format!("EXPORT_SYMBOL\t vmlinux 0x{crc:08x}\t{name}\n"))
        .collect()
}

#[test]
fn ubuntu_findings_point_at_the_abi_number() {
    let r = ubuntu_repo();
    for flavour in ["generic", "lowlatency"] {
        r.write(
            &format!("debian.master/abi/amd64/{flavour}"),
            ubuntu(&[(1, "kfree"), (1, "vfs_read")]),
        );
    }
    r.commit("base");
    r.write(
        "debian.master/abi/amd64/generic",
        ubuntu(&[(2, "kfree"), (1, "vfs_read")]),
    );
    r.commit("Refresh abi");
    r.remove("debian.master/abi/amd64/lowlatency");
    r.commit("Drop lowlatency");
    let said = said(&r, WalkOptions::default());
    said.assert_says(
        &[
            "ABI number",
            "`debian.<branch>/abi/version`",
            "changelog",
            "`debian.<branch>/abi/abi.ignore`",
            "\nkfree\n",
        ],
        &["`debian.<branch>/abi/`", "`debian.<branch>/abi/version`"],
    );
    assert!(said.text.contains("debian.<branch>/abi/version"));
    said.assert_never(&DEBIAN_WORDS);
    said.assert_json_layout("ubuntu");
}

#[test]
fn redhat_findings_say_kabi_breaks_and_never_suggest_a_bump() {
    let r = TestRepo::new();
    r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
    for arch in ["x86_64", "aarch64"] {
        r.write(
            &format!("redhat/kabi/kabi-module/kabi_{arch}/kfree"),
            kabi_entry(1, "kfree"),
        );
    }
    r.commit("base");
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/kfree",
        kabi_entry(2, "kfree"),
    );
    r.commit("Update stablelist");
    r.remove("redhat/kabi/kabi-module/kabi_aarch64");
    r.commit("Drop aarch64 stablelist");
    let said = said(&r, WalkOptions::default());
    said.assert_says(
        &[
            "breaks kABI",
            "Revert",
            "kABI workaround",
            "`redhat/kabi/kabi-module/kabi_<arch>/`",
        ],
        &["`redhat/kabi/kabi-module/kabi_<arch>/`"],
    );
    said.assert_never(&DEBIAN_WORDS);
    said.assert_never(&["bump", "abi.ignore"]);
    said.assert_json_layout("redhat");
}

#[test]
fn generic_findings_say_bump_the_abi_name() {
    let r = TestRepo::new();
    r.write("VERSION", "ABI_NAME = 7\n");
    for flavour in ["default", "small"] {
        r.write(
            &format!("abi/x86/{flavour}.symvers"),
            symvers(&[("kfree", 1)]),
        );
    }
    r.commit("base");
    r.write("abi/x86/small.symvers", symvers(&[("kfree", 4)]));
    r.commit("Change small");
    r.remove("abi/x86/default.symvers");
    r.commit("Drop default");
    let said = said(&r, generic_options());
    said.assert_says(
        &["bump the ABI name", "`ignore`", "\"name:kfree\""],
        &["bump the ABI name"],
    );
    said.assert_never(&DEBIAN_WORDS);
    said.assert_json_layout("generic");
}
