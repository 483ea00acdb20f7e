//! What decides the ABI name is parsed strictly, as the distributions'
//! own tools parse it: a file that does not parse is an error at that
//! revision (naming the file and line), never a guessed name that turns
//! into a "bump".

mod common;

use abibot::findings::FindingKind;
use abibot::history::scan::ScanReport;
use abibot::history::{Severity, WalkOptions, Walker};
use common::{
    TestRepo, changelog, changelog_to, debian_repo, defines, findings_of, generic_options,
    kabi_entry, scan_with, symvers, ubuntu_repo,
};
use git2::Oid;

/// (commit, path, message) of each error.
fn errors(report: &ScanReport) -> Vec<(Oid, String, String)> {
    report
        .errors
        .iter()
        .inspect(|e| assert_eq!(e.severity, Severity::Error))
        .map(|e| {
            let commit = Oid::from_str(e.commit.as_str()).unwrap();
            (commit, e.path.clone(), e.message.clone())
        })
        .collect()
}

fn error(commit: Oid, path: &str, message: &str) -> (Oid, String, String) {
    (commit, path.to_owned(), message.to_owned())
}

/// A merge of two branches that each added a changelog entry, committed
/// with its conflict unresolved, together with refreshed references.
#[test]
fn conflict_markers_in_the_changelog_are_an_error_not_the_name_47() {
    let r = debian_repo();
    let path = "debian/abi/6.1.0-47/amd64_none_amd64";
    r.write(path, symvers(&[("nf_conntrack_in", 1), ("kfree", 2)]));
    r.commit("Release 6.1.170-3");
    let ours = changelog("6.1.170-3", "fullcone NAT");
    let theirs = changelog("6.1.170-3", "stable update");
    r.write(
        "debian/changelog",
        format!("<<<<<<< HEAD\n{ours}=======\n{theirs}>>>>>>> stable\n"),
    );
    r.write(path, symvers(&[("nf_conntrack_in", 9), ("kfree", 2)]));
    let conflicted = r.commit("Merge stable");
    r.write("debian/changelog", changelog("6.1.170-3", "merged"));
    r.commit("Resolve the changelog");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(
        errors(&report),
        [error(
            conflicted,
            "debian/changelog",
            "debian/changelog:1: merge-conflict marker `<<<<<<<`"
        )]
    );
    // No name `47`, hence no bump: the refresh is judged under 6.1.0-47
    // once the changelog can be read again.
    assert_eq!(
        findings_of(&report),
        [(
            FindingKind::HiddenBreak,
            "Resolve the changelog".into(),
            "6.1.0-47".into()
        )]
    );
}

/// Markers inside the first entry, after a good heading, are errors too.
#[test]
fn conflict_markers_inside_the_first_entry_are_an_error() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("Release");
    let text = "linux (6.1.170-3) bookworm-security; urgency=high\n\n<<<<<<< HEAD\n  * a\n=======\n  * b\n>>>>>>> x\n\n -- T <t@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n";
    r.write("debian/changelog", text);
    let bad = r.commit("Conflicted entry");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(
        errors(&report),
        [error(
            bad,
            "debian/changelog",
            "debian/changelog:3: merge-conflict marker `<<<<<<<`"
        )]
    );
    assert!(report.findings.is_empty(), "{:?}", findings_of(&report));
}

#[test]
fn an_empty_or_commented_abiname_is_an_error() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.commit("Release");
    r.write("debian/config/defines", defines("", &[]));
    let empty = r.commit("Empty abiname");
    r.write("debian/config/defines", defines("47 # c", &[]));
    let comment = r.commit("Commented abiname");
    r.write("debian/config/defines", defines("47", &[]));
    r.write("debian/config/amd64/defines", "[abi]\nabiname:\n");
    let arch = r.commit("Empty arch abiname");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    let defines_path = "debian/config/defines";
    assert_eq!(
        errors(&report),
        [
            error(
                empty,
                defines_path,
                "debian/config/defines:2: empty `abiname`: the ABI name would end in `-`"
            ),
            error(
                comment,
                defines_path,
                "debian/config/defines:2: `abiname: 47 # c`: Debian's defines reader has no inline comments, so the comment would be part of the ABI name"
            ),
            error(
                arch,
                "debian/config/amd64/defines",
                "debian/config/amd64/defines:2: empty `abiname`: the ABI name would end in `-`"
            ),
        ]
    );
    assert!(report.findings.is_empty(), "{:?}", findings_of(&report));
}

#[test]
fn an_empty_rhel_major_is_an_error() {
    let r = TestRepo::new();
    r.write("Makefile.rhelver", "RHEL_MAJOR = 9\nRHEL_MINOR = 4\n");
    r.write(
        "redhat/kabi/kabi-module/kabi_x86_64/kfree",
        kabi_entry(1, "kfree"),
    );
    r.commit("base");
    r.write("Makefile.rhelver", "RHEL_MAJOR =\nRHEL_MINOR = 4\n");
    let empty = r.commit("Empty major");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(
        errors(&report),
        [error(
            empty,
            "Makefile.rhelver",
            "Makefile.rhelver:1: RHEL_MAJOR is \"\", not a number"
        )]
    );
    assert!(report.findings.is_empty(), "{:?}", findings_of(&report));
}

/// Ubuntu with one reference and a changelog being prepared.
fn ubuntu_prepared() -> TestRepo {
    let r = ubuntu_repo();
    r.write(
        "debian.master/abi/amd64/generic",
        "EXPORT_SYMBOL vmlinux 0x00000001 a\n",
    );
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-92.102", "UNRELEASED", "a"),
    );
    r
}

/// Ubuntu's distribution comes from its branch's changelog, which the walk
/// watches; that changelog and the version file are parsed strictly.
#[test]
fn ubuntu_changelog_and_version_are_read_strictly() {
    let r = ubuntu_prepared();
    r.commit("Start 5.15.0-92.102");
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-92.102", "jammy", "a"),
    );
    let released = r.commit("Release to jammy");
    let mut walker = Walker::new(&r.repo, WalkOptions::default());
    let (state, problems) = walker.state_at(released, None).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(state.distribution.as_deref(), Some("jammy"));
    r.write(
        "debian.master/changelog",
        format!(
            "<<<<<<< HEAD\n{}",
            changelog_to("5.15.0-93.103", "jammy", "a")
        ),
    );
    let changelog = r.commit("Conflicted changelog");
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-93.103", "UNRELEASED", "a"),
    );
    r.write(
        "debian.master/abi/version",
        "<<<<<<< HEAD\n5.15.0-92.102\n=======\n5.15.0-93.103\n>>>>>>> b\n",
    );
    let version = r.commit("Conflicted version");
    r.write("debian.master/abi/version", "");
    let empty = r.commit("Empty version");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(
        errors(&report),
        [
            error(
                changelog,
                "debian.master/changelog",
                "debian.master/changelog:1: merge-conflict marker `<<<<<<<`"
            ),
            error(
                version,
                "debian.master/abi/version",
                "debian.master/abi/version:1: merge-conflict marker `<<<<<<<`"
            ),
            error(
                empty,
                "debian.master/abi/version",
                "debian.master/abi/version:0: empty: it should hold the ABI version"
            ),
        ]
    );
    assert!(report.findings.is_empty(), "{:?}", findings_of(&report));
}

/// The changelog's distribution comes from the same strict parse as the
/// version (Debian).
#[test]
fn debian_distribution_from_the_strict_parse() {
    let r = debian_repo();
    r.write("debian/abi/6.1.0-47/amd64_none_amd64", symvers(&[("a", 1)]));
    r.write(
        "debian/changelog",
        "linux (6.1.170-3) UNRELEASED; urgency=medium\n\n  * a\n\n -- T <t@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n",
    );
    let unreleased = r.commit("Prepare");
    let mut walker = Walker::new(&r.repo, WalkOptions::default());
    let (state, _) = walker.state_at(unreleased, None).unwrap();
    assert_eq!(state.distribution.as_deref(), Some("UNRELEASED"));
    // A heading dpkg refuses (no `;`) gives neither a version nor a
    // distribution.
    r.write(
        "debian/changelog",
        "linux (6.1.170-3) bookworm-security urgency=high\n",
    );
    let bad = r.commit("Broken heading");
    let (state, problems) = walker.state_at(bad, None).unwrap();
    assert_eq!(state.distribution, None);
    assert_eq!(
        problems[0].message,
        "debian/changelog:1: badly formatted heading line: \"linux (6.1.170-3) bookworm-security urgency=high\""
    );
}

#[test]
fn generic_abi_file_is_read_strictly() {
    let r = TestRepo::new();
    r.write("VERSION", "ABI_NAME = 7\n");
    r.write("abi/x86/default.symvers", symvers(&[("a", 1)]));
    r.commit("base");
    r.write(
        "VERSION",
        "<<<<<<< HEAD\nABI_NAME = 7\n=======\nABI_NAME = 8\n>>>>>>> b\n",
    );
    let conflicted = r.commit("Conflicted VERSION");
    r.write("VERSION", "NAME = 7\n");
    let unmatched = r.commit("No ABI_NAME");
    let (report, _, _) = scan_with(&r, generic_options());
    assert_eq!(
        errors(&report),
        [
            error(
                conflicted,
                "VERSION",
                "VERSION:1: merge-conflict marker `<<<<<<<`"
            ),
            error(
                unmatched,
                "VERSION",
                "VERSION:0: abi_regex `(?m)^ABI_NAME\\s*=\\s*(\\S+)` finds no name"
            ),
        ]
    );
    assert!(report.findings.is_empty(), "{:?}", findings_of(&report));
}

/// A conflicted `debian/debian.env` names two branches: neither is taken.
#[test]
fn a_conflicted_debian_env_is_an_error() {
    let r = ubuntu_prepared();
    r.commit("base");
    r.write(
        "debian/debian.env",
        "<<<<<<< HEAD\nDEBIAN=debian.master\n=======\nDEBIAN=debian.hwe\n>>>>>>> hwe\n",
    );
    let conflicted = r.commit("Merge hwe");
    let (report, _, _) = scan_with(&r, WalkOptions::default());
    assert_eq!(
        errors(&report),
        [error(
            conflicted,
            "debian/debian.env",
            "line 1: merge-conflict marker `<<<<<<<`"
        )]
    );
}
