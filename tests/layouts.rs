//! Ubuntu, Red Hat and generic layouts, and Debian's ABI-name rules, through
//! the same history walk.

mod common;

use abibot::findings::FindingKind;
use abibot::history::WalkOptions;
use abibot::history::scan::ScanReport;
use abibot::layouts::generic::{Generic, GenericConfig};
use common::{
    TestRepo, changelog, debian_repo, defines, findings_of, generic_options, kabi_entry, scan_with,
    symvers, ubuntu_repo,
};

fn scan_report(repo: &TestRepo, options: WalkOptions) -> ScanReport {
    scan_with(repo, options).0
}

fn ubuntu(lines: &[(&str, &str, u32, &str)]) -> String {
    lines
        .iter()
        .map(|(kind, module, crc, name)| format!("{kind}\t {module} 0x{crc:08x}\t{name}\n"))
        .collect()
}

#[test]
fn ubuntu_versioned_file_and_ignores() {
    let r = ubuntu_repo();
    let base = [
        ("EXPORT_SYMBOL", "arch/x86/kvm/kvm", 1, "kvm_a"),
        ("EXPORT_SYMBOL_GPL", "vmlinux", 1, "b"),
        ("EXPORT_SYMBOL", "vmlinux", 1, "ignored_sym"),
    ];
    r.write("debian.master/abi/amd64/generic", ubuntu(&base));
    r.write("debian.master/abi/amd64/generic.modules", "kvm\n");
    r.write("debian.master/abi/amd64/lowlatency", ubuntu(&base));
    r.write("debian.master/abi/abi.ignore", "# known\nignored_sym\n");
    r.write("debian.master/abi/amd64/lowlatency.ignore.abi", "");
    r.commit("base");
    r.write("debian.master/abi/version", "5.15.0-91.102\n");
    r.commit("New upload, same ABI");
    let changed = [
        ("EXPORT_SYMBOL", "arch/x86/kvm/kvm", 1, "kvm_a"),
        ("EXPORT_SYMBOL_GPL", "vmlinux", 2, "b"),
        ("EXPORT_SYMBOL", "vmlinux", 5, "ignored_sym"),
    ];
    r.write("debian.master/abi/amd64/generic", ubuntu(&changed));
    r.write("debian.master/abi/amd64/lowlatency", ubuntu(&changed));
    r.commit("Refresh abi");
    r.write("debian.master/abi/version", "5.15.0-92.102\n");
    r.commit("Bump ABI");
    let report = scan_report(&r, WalkOptions::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        findings_of(&report),
        [
            (
                FindingKind::HiddenBreak,
                "Refresh abi".into(),
                "5.15.0-91".into()
            ),
            (FindingKind::Bump, "Bump ABI".into(), "5.15.0-91".into()),
        ]
    );
    let f = &report.findings[0];
    // lowlatency is switched off by its .ignore.abi marker.
    assert_eq!(f.flavours.len(), 1);
    assert_eq!(f.flavours[0].flavour, "amd64_none_generic");
    let s = f.flavours[0].summary;
    assert_eq!((s.crc_changed, s.ignored, s.incompatible), (2, 1, 1));
}

#[test]
fn ubuntu_older_versioned_directory() {
    let r = TestRepo::new();
    let line = [("EXPORT_SYMBOL", "vmlinux", 1, "a")];
    r.write(
        "debian.master/abi/3.13.0-13.33/amd64/generic",
        ubuntu(&line),
    );
    r.commit("base");
    r.write("debian.master/abi/3.13.0-13.33/amd64/generic", "");
    r.commit("Truncated reference");
    let report = scan_report(&r, WalkOptions::default());
    assert_eq!(
        findings_of(&report),
        [(
            FindingKind::HiddenBreak,
            "Truncated reference".into(),
            "3.13.0-13".into()
        )]
    );
    assert_eq!(report.findings[0].flavours[0].summary.removed, 1);
}

#[test]
fn redhat_stablelists() {
    let r = TestRepo::new();
    r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/alloc_pages",
        kabi_entry(1, "alloc_pages"),
    );
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/kfree",
        kabi_entry(2, "kfree"),
    );
    r.write(
        "redhat/kabi/kabi-module/kabi_aarch64/kfree",
        kabi_entry(2, "kfree"),
    );
    r.commit("base");
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/new_sym",
        kabi_entry(3, "new_sym"),
    );
    r.commit("Add to stablelist");
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/kfree",
        kabi_entry(9, "kfree"),
    );
    r.commit("kfree changed");
    r.remove("redhat/kabi/kabi-module/kabi_aarch64");
    r.commit("Drop aarch64 stablelist");
    r.write("redhat/kabi/kabi-module/kabi_x86_64/broken", "no marker\n");
    r.commit("Broken entry");
    let report = scan_report(&r, WalkOptions::default());
    assert_eq!(
        findings_of(&report),
        [
            (
                FindingKind::HiddenBreak,
                "kfree changed".into(),
                "9.4".into()
            ),
            (
                FindingKind::CoverageLost,
                "Drop aarch64 stablelist".into(),
                "9.4".into()
            ),
        ]
    );
    assert_eq!(
        report.findings[0].flavours[0].flavour,
        "x86_64_none_stablelist"
    );
    assert_eq!(report.stats.compatible_refreshes, 1);
    assert_eq!(report.errors.len(), 1);
    // The file to fix, and its line; not the directory of thousands.
    let message = &report.errors[0].message;
    assert!(
        message.contains(
            "redhat/kabi/kabi-module/kabi_x86_64/broken:1: expected a kABI release marker"
        ),
        "{message}"
    );
}

#[test]
fn redhat_errors_name_the_entry_file_and_line() {
    let r = TestRepo::new();
    r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
    let dir = "redhat/kabi/kabi-module/kabi_x86_64";
    r.write(&format!("{dir}/kfree"), kabi_entry(2, "kfree"));
    r.write(&format!("{dir}/kmalloc"), "#2-\n\n0x1\tkmalloc\n");
    r.commit("bad field count");
    r.write(&format!("{dir}/kmalloc"), kabi_entry(3, "kmalloc"));
    r.write(
        &format!("{dir}/kfree_copy"),
        format!("\n{}", kabi_entry(4, "kfree")),
    );
    r.commit("kfree listed twice");
    let report = scan_report(&r, WalkOptions::default());
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains(&format!(
            "{dir}/kmalloc:3: expected 3 to 5 tab-separated fields"
        )),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains(&format!(
            "{dir}/kfree_copy:3: symbol \"kfree\" is already listed differently in "
        )) && messages[1].ends_with(&format!("{dir}/kfree:2")),
        "{}",
        messages[1]
    );
}

#[test]
fn generic_layout_from_configuration() {
    let r = TestRepo::new();
    r.write("VERSION", "ABI_NAME = 7\nother = x\n");
    r.write("abi/x86/default.symvers", symvers(&[("a", 1)]));
    r.write("abi/arm/small.symvers", symvers(&[("a", 1)]));
    r.write("abi/README", "not a reference");
    r.commit("base");
    r.write("abi/arm/small.symvers", symvers(&[("a", 4)]));
    r.commit("Change arm");
    let report = scan_report(&r, generic_options());
    assert_eq!(
        findings_of(&report),
        [(FindingKind::HiddenBreak, "Change arm".into(), "7".into())]
    );
    assert_eq!(report.findings[0].flavours[0].flavour, "arm_none_small");
    assert_eq!(report.findings[0].unchanged_flavours, ["x86_none_default"]);
    let bad: Result<GenericConfig, _> =
        toml::from_str("references = \"x\"\nformat = \"symvers\"\nbogus = 1\n");
    assert!(bad.unwrap_err().to_string().contains("bogus"));
    let placeholder =
        toml::from_str::<GenericConfig>("references = \"{nope}\"\nformat = \"symvers\"\n").unwrap();
    assert!(
        Generic::new(placeholder)
            .unwrap_err()
            .to_string()
            .contains("unknown placeholder")
    );
}

#[test]
fn debian_per_arch_abiname_and_defines_toml() {
    let r = debian_repo();
    r.write("debian/config/arm64/defines", "[abi]\nabiname: 47a\n");
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.write(
        "debian/abi/6.1.0-47a/arm64_none_arm64",
        symvers(&[("a", 1)]),
    );
    // The arm64 file under the global name is a stale leftover.
    r.write("debian/abi/6.1.0-47/arm64_none_arm64", symvers(&[("a", 9)]));
    r.commit("base");
    r.write("debian/abi/6.1.0-47/arm64_none_arm64", symvers(&[("a", 8)]));
    r.commit("Touch stale arm64 leftover");
    r.write(
        "debian/abi/6.1.0-47a/arm64_none_arm64",
        symvers(&[("a", 2)]),
    );
    r.commit("Refresh arm64");
    let report = scan_report(&r, WalkOptions::default());
    assert_eq!(
        findings_of(&report),
        [(
            FindingKind::HiddenBreak,
            "Refresh arm64".into(),
            "6.1.0-47a".into()
        )]
    );

    let t = TestRepo::new();
    t.write("debian/changelog", changelog("6.12.48-1", "a"));
    t.write(
        "debian/config/defines.toml",
        "[[debianrelease]]\nname = 'trixie'\nabi_suffix = '+deb13'\n\n[abi]\nignore-changes = ['name:ignored']\n",
    );
    t.write(
        "debian/abi/6.12.48+deb13/amd64_none_amd64",
        symvers(&[("a", 1), ("ignored", 1)]),
    );
    t.commit("base");
    t.write(
        "debian/abi/6.12.48+deb13/amd64_none_amd64",
        symvers(&[("a", 1), ("ignored", 2)]),
    );
    t.commit("Ignored change");
    t.write(
        "debian/abi/6.12.48+deb13/amd64_none_amd64",
        symvers(&[("a", 3), ("ignored", 2)]),
    );
    t.commit("Real change");
    let report = scan_report(&t, WalkOptions::default());
    assert_eq!(
        findings_of(&report),
        [(
            FindingKind::HiddenBreak,
            "Real change".into(),
            "6.12.48+deb13".into()
        )]
    );
}

#[test]
fn malformed_defines_is_an_error_at_that_revision() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("base");
    r.write("debian/config/defines", "[abi]\nabiname 47\n");
    let bad = r.commit("Broken defines");
    r.write("debian/config/defines", defines("47", &["bogus:prefix"]));
    r.commit("Bad ignore entry");
    let report = scan_report(&r, WalkOptions::default());
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(report.errors[0].commit.as_str(), bad.to_string());
    assert_eq!(report.errors[0].path, "debian/config/defines");
    assert!(
        report.errors[0]
            .message
            .contains("defines:2: expected `key: value`")
    );
    assert!(report.errors[1].message.contains("unknown prefix"));
    assert!(report.findings.is_empty());
}

/// `--layout`'s values and help, and the message when no layout is found,
/// come from the layout registry: a new layout appears in all of them.
#[test]
fn help_and_detection_come_from_the_registry() {
    let (code, help, _) = common::abibot(&["scan", "--help"]);
    assert_eq!(code, 0);
    // Clap aligns the helps: `- suse:   kabi/...`.
    for registered in abibot::layouts::REGISTRY {
        let listed = help.lines().map(str::trim).any(|line| {
            line.strip_prefix(&format!("- {}:", registered.spec.name))
                .is_some_and(|rest| rest.trim_start() == registered.spec.help)
        });
        assert!(listed, "{} not in\n{help}", registered.spec.name);
    }
    let r = TestRepo::new();
    r.write("README", "no packaging here\n");
    r.commit("Unrelated");
    let (code, _, err) = common::abibot(&["scan", "--repo", r.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    for registered in abibot::layouts::REGISTRY {
        let tried = format!("{} ({})", registered.looks_for, registered.spec.name);
        assert!(err.contains(&tried), "{tried:?} not in {err}");
    }
    // Advice follows the layout a finding was found in.
    for registered in abibot::layouts::REGISTRY {
        let layout = abibot::layouts::Layout::named(registered.spec.name, "").unwrap();
        assert_eq!(layout.kind().remedy(), registered.spec.remedy);
    }
}
