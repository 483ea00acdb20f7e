//! `scan` over git2-built packaging repositories.

mod common;

use abibot::findings::FindingKind;
use abibot::history::WalkOptions;
use abibot::history::scan::ScanReport;
use common::{
    TestRepo, changelog, debian_repo, defines, scan_with, symvers, write_real_references,
};

fn scan(repo: &TestRepo) -> ScanReport {
    scan_with(repo, WalkOptions::default()).0
}

fn kinds(report: &ScanReport) -> Vec<(FindingKind, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.kind, f.title.clone()))
        .collect()
}

/// The story on Debian's real files.
#[test]
fn refresh_hides_a_break_then_coverage_is_lost_then_a_bump() {
    let r = TestRepo::new();
    r.write(
        "debian/changelog",
        changelog("6.1.170-3", "New upstream release"),
    );
    r.write("debian/config/defines", defines("47", &[]));
    write_real_references(&r, "6.1.0-47", "6.1.0-47");
    r.commit("Release 6.1.170-3");
    r.write("debian/changelog", changelog("6.1.170-3", "Fix a typo"));
    r.commit("Update changelog");
    write_real_references(&r, "6.1.0-47", "6.1.0-50");
    let refresh = r.commit("Refresh ABI reference files");
    r.write("debian/patches/bugfix/x86/fix.patch", "--- a\n+++ b\n");
    r.commit("Add a patch");
    r.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    let drop_rt = r.commit("Drop rt reference");
    r.write(
        "debian/changelog",
        changelog("6.1.176-1", "New upstream stable update"),
    );
    r.write("debian/config/defines", defines("50", &[]));
    r.remove("debian/abi/6.1.0-47");
    write_real_references(&r, "6.1.0-50", "6.1.0-50");
    let bump = r.commit("Bump ABI to 50");

    let (report, parsed, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(report.commits_scanned, 6);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        kinds(&report),
        [
            (
                FindingKind::HiddenBreak,
                "Refresh ABI reference files".into()
            ),
            (FindingKind::CoverageLost, "Drop rt reference".into()),
            (FindingKind::Bump, "Bump ABI to 50".into()),
        ]
    );
    let hidden = &report.findings[0];
    assert_eq!(hidden.commit.as_str(), refresh.to_string());
    assert_eq!(hidden.abi.as_str(), "6.1.0-47");
    let counts: Vec<(&str, usize, usize, usize)> = hidden
        .flavours
        .iter()
        .map(|f| {
            (
                f.flavour.as_str(),
                f.summary.added,
                f.summary.removed,
                f.summary.crc_changed,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("amd64_none_amd64", 7, 3, 18_107),
            ("amd64_none_cloud-amd64", 5, 2, 9_595),
            ("amd64_rt_amd64", 7, 3, 18_697),
        ]
    );
    assert!(hidden.unchanged_flavours.is_empty());

    let lost = &report.findings[1];
    assert_eq!(lost.commit.as_str(), drop_rt.to_string());
    assert_eq!(lost.flavours.len(), 1);
    assert_eq!(lost.flavours[0].flavour, "amd64_rt_amd64");
    assert_eq!(lost.lost_featuresets, ["amd64 rt"]);
    assert_eq!(
        lost.unchanged_flavours,
        ["amd64_none_amd64", "amd64_none_cloud-amd64"]
    );

    let bumped = &report.findings[2];
    assert_eq!(bumped.commit.as_str(), bump.to_string());
    assert_eq!(bumped.abi.as_str(), "6.1.0-47");
    assert_eq!(bumped.new_abi.as_ref().unwrap().as_str(), "6.1.0-50");
    // Needed: 6.1.0-50 differs incompatibly from what 6.1.0-47 first promised.
    assert_eq!(bumped.bump_needed, Some(true));
    let amd64 = bumped
        .flavours
        .iter()
        .find(|f| f.flavour == "amd64_none_amd64")
        .unwrap();
    assert_eq!(
        (amd64.summary.removed, amd64.summary.crc_changed),
        (3, 18_107)
    );
    assert!(report.has_problems());

    // 3 at the root, 3 at the refresh; the bump's files are the same blobs
    // as the refreshed ones, so they come from the cache.
    assert_eq!(parsed, 6);
}

#[test]
fn unrelated_commits_produce_nothing_and_are_not_parsed() {
    let r = debian_repo();
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("b", 2)]),
    );
    r.commit("base");
    for i in 0..20 {
        r.write(&format!("debian/patches/p{i}.patch"), format!("patch {i}"));
        r.commit(&format!("Add patch {i}"));
    }
    r.write("debian/changelog", changelog("6.1.170-3", "b"));
    r.commit("Changelog");
    let (report, parsed, snapshots) = scan_with(&r, WalkOptions::default());
    assert_eq!(report.commits_scanned, 22);
    assert!(report.findings.is_empty());
    assert_eq!(parsed, 1, "only the root's reference is parsed");
    // The root and the changelog edit are read; the 20 patches are not.
    assert_eq!(snapshots, 2);
    assert_eq!(report.stats.commits_touching_references, 2);
}

#[test]
fn ignore_changes_silences_exactly_the_matching_changes() {
    let r = debian_repo();
    let base = [
        ("kvm_a", 1),
        ("kvm_b", 1),
        ("fixed_phy_add", 1),
        ("other", 1),
    ];
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&base));
    r.commit("base");
    r.write(
        "debian/config/defines",
        defines("47", &["name:kvm_*", "fixed_phy_add"]),
    );
    r.commit("Ignore kvm changes");
    let ignored_only = [
        ("kvm_a", 2),
        ("kvm_b", 2),
        ("fixed_phy_add", 2),
        ("other", 1),
    ];
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&ignored_only),
    );
    r.commit("Refresh (ignored)");
    let plus_other = [
        ("kvm_a", 3),
        ("kvm_b", 2),
        ("fixed_phy_add", 2),
        ("other", 9),
    ];
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&plus_other));
    r.commit("Refresh (breaks other)");
    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [(FindingKind::HiddenBreak, "Refresh (breaks other)".into())]
    );
    let s = report.findings[0].flavours[0].summary;
    assert_eq!((s.crc_changed, s.ignored, s.incompatible), (2, 1, 1));
    assert_eq!(report.stats.compatible_refreshes, 1);
}

#[test]
fn per_section_ignore_rules_apply_to_their_flavours_only() {
    let r = debian_repo();
    r.write(
        "debian/config/amd64/rt/defines",
        "[abi]\nignore-changes: name:x\n",
    );
    for f in ["amd64_none_amd64", "amd64_rt_amd64"] {
        r.write(&format!("debian/abi/6.1.0-47/{f}"), symvers(&[("x", 1)]));
    }
    r.commit("base");
    for f in ["amd64_none_amd64", "amd64_rt_amd64"] {
        r.write(&format!("debian/abi/6.1.0-47/{f}"), symvers(&[("x", 2)]));
    }
    r.commit("refresh");
    let report = scan(&r);
    assert_eq!(report.findings.len(), 1);
    let flavours: Vec<&str> = report.findings[0]
        .flavours
        .iter()
        .map(|f| f.flavour.as_str())
        .collect();
    assert_eq!(flavours, ["amd64_none_amd64"]);
    assert_eq!(report.findings[0].unchanged_flavours, ["amd64_rt_amd64"]);
}

#[test]
fn root_commit_missing_abi_dir_and_merge() {
    let r = TestRepo::new();
    r.write("README", "no packaging yet");
    r.commit("root without debian/");
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    r.commit("packaging without debian/abi");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("b", 1)]),
    );
    let base = r.commit("add references");
    // A side branch that breaks the ABI, merged back.
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 7)]));
    let side = r.commit("side: refresh");
    r.repo
        .reset(
            &r.repo.find_object(base, None).unwrap(),
            git2::ResetType::Soft,
            None,
        )
        .unwrap();
    let mut index = r.repo.index().unwrap();
    index
        .read_tree(&r.repo.find_commit(base).unwrap().tree().unwrap())
        .unwrap();
    index.write().unwrap();
    r.write("debian/changelog", changelog("6.1.170-3", "mainline work"));
    r.commit("mainline: changelog");
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 7)]));
    let merge = r.commit_with_parents("Merge side", &[side]);

    let report = scan(&r);
    assert_eq!(report.commits_scanned, 5, "first parent only");
    assert_eq!(
        kinds(&report),
        [(FindingKind::HiddenBreak, "Merge side".into())]
    );
    assert_eq!(report.findings[0].commit.as_str(), merge.to_string());

    let (all, _, _) = scan_with(
        &r,
        WalkOptions {
            all_parents: true,
            ..WalkOptions::default()
        },
    );
    assert_eq!(all.commits_scanned, 6);
    let titles: Vec<String> = all.findings.iter().map(|f| f.title.clone()).collect();
    assert!(titles.contains(&"side: refresh".to_owned()), "{titles:?}");
    // The merge matches its first parent's line of history: it brings the break in.
    assert!(titles.contains(&"Merge side".to_owned()), "{titles:?}");
}

#[test]
fn renamed_packaging_directory_is_followed() {
    let r = TestRepo::new();
    r.write("linux-2.6/debian/changelog", changelog("3.2.41-2", "a"));
    r.write("linux-2.6/debian/config/defines", defines("4", &[]));
    let legacy = "0x4191061e DAC1064_global_init drivers/video/matrox/matroxfb_DAC1064 EXPORT_SYMBOL\n0x00000001 b vmlinux EXPORT_SYMBOL\n";
    r.write("linux-2.6/debian/abi/3.2.0-4/i386_none_686", legacy);
    r.commit("svn era");
    r.rename_dir("linux-2.6", "linux");
    r.commit("Rename linux-2.6 to linux");
    r.write(
        "linux/debian/abi/3.2.0-4/i386_none_686",
        "0x4191061e DAC1064_global_init drivers/video/matrox/matroxfb_DAC1064 EXPORT_SYMBOL\n",
    );
    r.commit("Refresh after rename");
    let report = scan(&r);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        kinds(&report),
        [(FindingKind::HiddenBreak, "Refresh after rename".into())]
    );
    let f = &report.findings[0];
    assert_eq!(f.abi.as_str(), "3.2.0-4");
    assert_eq!(f.flavours[0].flavour, "i386_none_686");
    assert_eq!(f.flavours[0].summary.removed, 1);
}

#[test]
fn malformed_reference_names_commit_and_file_and_the_scan_goes_on() {
    let r = debian_repo();
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("b", 1)]),
    );
    r.commit("base");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        "0x00000001\ta\tvmlinux\tEXPORT_SYMBOL\t\nGARBAGE LINE\n",
    );
    let bad = r.commit("Broken refresh");
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    let fixed = r.commit("Fixed refresh");
    let report = scan(&r);
    assert_eq!(report.errors.len(), 1);
    let e = &report.errors[0];
    assert_eq!(e.commit.as_str(), bad.to_string());
    assert_eq!(e.path, "debian/abi/6.1.0-47/amd64_none_amd64");
    assert!(e.message.contains(":2: "), "{}", e.message);
    assert!(e.message.contains(&bad.to_string()[..12]), "{}", e.message);
    // The repair is compared with the last good state: `b` was removed.
    assert_eq!(
        kinds(&report),
        [(FindingKind::HiddenBreak, "Fixed refresh".into())]
    );
    assert_eq!(report.findings[0].commit.as_str(), fixed.to_string());
    assert_eq!(report.findings[0].flavours[0].summary.removed, 1);
}

#[test]
fn stale_directories_of_other_abi_names_do_not_count() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.write("debian/abi/6.1.0-46/amd64_none_amd64", symvers(&[("a", 5)]));
    r.commit("base");
    r.remove("debian/abi/6.1.0-46");
    r.commit("Remove stale reference");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("new", 3)]),
    );
    r.commit("Compatible refresh");
    let report = scan(&r);
    assert!(report.findings.is_empty(), "{:?}", kinds(&report));
    assert_eq!(report.stats.compatible_refreshes, 1);
}

#[test]
fn unversioned_symbols_are_reported() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("base");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("z", 0)]),
    );
    r.commit("Add unversioned");
    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [(FindingKind::Unversioned, "Add unversioned".into())]
    );
    assert_eq!(report.findings[0].flavours[0].summary.unversioned, 1);
    assert!(!report.has_problems());
}

#[test]
fn finding_ids_are_stable_across_scans() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("base");
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 2)]));
    r.commit("break");
    let a = scan(&r);
    let b = scan(&r);
    assert_eq!(a.findings[0].id, b.findings[0].id);
    assert_eq!(a.findings[0].id.as_str().len(), 24);
}
