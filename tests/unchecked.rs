//! A change of ABI name to one without references turns Debian's build
//! check off ("Can't read ABI reference. ABI not checked!"): `unchecked`
//! while a bump is being prepared, `unchecked-release` (a problem) when a
//! release is made in that state.

mod common;

use abibot::findings::{Finding, FindingKind};
use abibot::history::WalkOptions;
use abibot::history::scan::ScanReport;
use abibot::report::scan::{finding_markdown, scan_json, scan_text};
use common::{
    FLAVOURS, TestRepo, abibot, abibot_on, changelog_to, debian_repo, defines,
    file_sink_daemon_config, scan_with, symvers, ubuntu_repo,
};
use git2::Oid;

/// A small reference, the same for every flavour.
fn reference() -> String {
    symvers(&[("kmalloc", 1), ("kfree", 2), ("nf_conntrack_find_get", 3)])
}

/// A Debian repository released (bookworm-security) with references for
/// every flavour under 6.1.0-47, then a new changelog entry being prepared.
fn released_then_unreleased() -> TestRepo {
    let r = debian_repo();
    for f in FLAVOURS {
        r.write(&format!("debian/abi/6.1.0-47/{f}"), reference());
    }
    r.commit("Release 6.1.170-3");
    r.write(
        "debian/changelog",
        changelog_to("6.1.170-4", "UNRELEASED", "Prepare the next upload"),
    );
    r.commit("Start 6.1.170-4");
    r
}

/// Sets the changelog's distribution to bookworm-security: a release.
fn release(r: &TestRepo, version: &str) -> Oid {
    r.write(
        "debian/changelog",
        changelog_to(version, "bookworm-security", "Release"),
    );
    r.commit(&format!("Release {version}"))
}

fn scan(r: &TestRepo) -> ScanReport {
    let report = scan_with(r, WalkOptions::default()).0;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

fn kinds(report: &ScanReport) -> Vec<FindingKind> {
    report.findings.iter().map(|f| f.kind).collect()
}

fn flavours(f: &Finding) -> Vec<&str> {
    f.flavours.iter().map(|f| f.flavour.as_str()).collect()
}

/// The normal Debian flow: the name is bumped while the entry is
/// UNRELEASED and its references come with the upload. The check is off
/// meanwhile: said, but not a problem (it used to be a "bump, not needed").
#[test]
fn a_bump_without_references_while_unreleased_is_informational() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("50", &[]));
    let bump = r.commit("Bump ABI to 50");

    let report = scan(&r);
    assert_eq!(kinds(&report), [FindingKind::Unchecked]);
    assert!(!report.has_problems());
    let f = &report.findings[0];
    assert_eq!(f.commit.to_string(), bump.to_string());
    assert_eq!(flavours(f), FLAVOURS);
    assert_eq!(f.abi.as_str(), "6.1.0-47");
    assert_eq!(f.new_abi.as_ref().map(|a| a.as_str()), Some("6.1.0-50"));
    assert_eq!(f.unchecked_since, None);
    let text = scan_text(&report);
    assert!(
        text.contains("ABI 6.1.0-47 -> 6.1.0-50, which has no reference for 3 flavours: their build check is off"),
        "{text}"
    );
}

/// The silently disabled check: `abiname: 47` -> `47-2` with a patch and no
/// references, then released. A problem naming the flavours and the commit
/// that changed the name, with what to do in Debian.
#[test]
fn a_release_without_references_is_a_problem_since_the_rename() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("47-2", &[]));
    r.write(
        "debian/patches/features/all/fullcone-nat.patch",
        "--- a\n+++ b\n",
    );
    let rename = r.commit("Add fullcone NAT; abiname 47-2");
    r.write(
        "debian/changelog",
        changelog_to("6.1.170-4", "UNRELEASED", "More"),
    );
    r.commit("Update changelog");
    let released = release(&r, "6.1.170-4");

    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [FindingKind::Unchecked, FindingKind::UncheckedRelease]
    );
    assert!(report.has_problems());
    let f = &report.findings[1];
    assert!(f.kind.is_problem());
    assert_eq!(f.commit.to_string(), released.to_string());
    assert_eq!(flavours(f), FLAVOURS);
    assert_eq!(f.abi.as_str(), "6.1.0-47");
    assert_eq!(f.new_abi.as_ref().map(|a| a.as_str()), Some("6.1.0-47-2"));
    let since = f.unchecked_since.as_ref().map(ToString::to_string);
    assert_eq!(since, Some(rename.to_string()));

    let short = &rename.to_string()[..12];
    let text = scan_text(&report);
    assert!(text.contains(&format!("Released with 3 flavours unchecked: no reference under ABI 6.1.0-47-2 since commit {short} changed the name from 6.1.0-47")), "{text}");
    let json: serde_json::Value = serde_json::from_str(&scan_json(&report)).unwrap();
    let problem = &json["findings"][1];
    assert_eq!(problem["kind"], "unchecked-release");
    assert_eq!(problem["unchecked_since"], rename.to_string());
    assert_eq!(problem["new_abi"], "6.1.0-47-2");
    let md = finding_markdown(f, 65_536);
    assert!(md.contains("release without ABI check"), "{md}");
    assert!(
        md.contains("go back to the previous ABI name (`abiname` in `debian/config/defines`)"),
        "{md}"
    );
    assert!(md.contains(&f.id.marker()), "{md}");
}

/// References arriving under the new name clear the state: only the
/// flavour still without one is reported at the release, and once its
/// reference comes, the next release is clean.
#[test]
fn references_arriving_clear_the_state() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("50", &[]));
    let bump = r.commit("Bump ABI to 50");
    for f in &FLAVOURS[..2] {
        r.write(&format!("debian/abi/6.1.0-50/{f}"), reference());
    }
    r.commit("Add ABI references for 6.1.0-50 (not rt)");
    let first = release(&r, "6.1.170-4");
    r.write(
        "debian/changelog",
        changelog_to("6.1.170-5", "UNRELEASED", "Next"),
    );
    r.commit("Start 6.1.170-5");
    r.write("debian/abi/6.1.0-50/amd64_rt_amd64", reference());
    r.commit("Add the rt reference");
    release(&r, "6.1.170-5");

    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [FindingKind::Unchecked, FindingKind::UncheckedRelease]
    );
    let f = &report.findings[1];
    assert_eq!(f.commit.to_string(), first.to_string());
    assert_eq!(flavours(f), ["amd64_rt_amd64"]);
    let since = f.unchecked_since.as_ref().map(ToString::to_string);
    assert_eq!(since, Some(bump.to_string()));
}

/// The references of the new name coming before the release: the bump
/// being prepared is said, the release is clean.
#[test]
fn a_release_with_the_new_references_is_clean() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("50", &[]));
    r.commit("Bump ABI to 50");
    for f in FLAVOURS {
        r.write(&format!("debian/abi/6.1.0-50/{f}"), reference());
    }
    r.commit("Add ABI references for 6.1.0-50");
    release(&r, "6.1.170-4");

    let report = scan(&r);
    assert_eq!(kinds(&report), [FindingKind::Unchecked]);
    assert!(!report.has_problems());
}

/// A scan that starts after the rename (`--since`, as the daemon's next
/// poll does) still knows since when the check has been off.
#[test]
fn a_release_after_the_range_start_still_names_the_rename() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("47-2", &[]));
    let rename = r.commit("Add fullcone NAT; abiname 47-2");
    let released = release(&r, "6.1.170-4");

    let since = rename.to_string();
    let (code, out, err) = abibot_on("scan", &r, &["--since", &since, "--format", "json"]);
    assert_eq!(code, 1, "a problem: {out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["kind"], "unchecked-release");
    assert_eq!(findings[0]["commit"], released.to_string());
    assert_eq!(findings[0]["unchecked_since"], since);
}

/// The daemon says nothing at the rename (informational) and comments on
/// the release, which arrives at a later poll.
#[test]
fn the_daemon_comments_on_the_release_at_a_later_poll() {
    let r = released_then_unreleased();
    r.write("debian/config/defines", defines("47-2", &[]));
    r.commit("Add fullcone NAT; abiname 47-2");
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = file_sink_daemon_config(dir.path(), &r);
    let poll = || {
        let config = config.to_str().unwrap();
        let (code, out, err) = abibot(&["daemon", "--once", "--config", config]);
        assert_eq!(code, 0, "{out}\n{err}");
        std::fs::read_to_string(&sink).unwrap_or_default()
    };
    assert_eq!(poll().lines().count(), 0, "the rename is not commented on");
    release(&r, "6.1.170-4");
    let comments = poll();
    assert_eq!(comments.lines().count(), 1, "{comments}");
    assert!(comments.contains("release without ABI check"), "{comments}");
}

/// Ubuntu: the ABI number bumped with its references removed, then
/// released (`debian.master/changelog` from UNRELEASED to jammy). The
/// advice is Ubuntu's, not Debian's `abiname`.
#[test]
fn an_ubuntu_release_without_references_gets_ubuntu_advice() {
    let r = ubuntu_repo();
    // Ubuntu's reference line: export kind, module, CRC, symbol.
    r.write(
        "debian.master/abi/amd64/generic",
        "EXPORT_SYMBOL\t vmlinux 0x00000001\tkmalloc\n",
    );
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-91.101", "jammy", "Release"),
    );
    r.commit("UBUNTU: Ubuntu-5.15.0-91.101");
    r.write("debian.master/abi/version", "5.15.0-92.102\n");
    r.remove("debian.master/abi/amd64/generic");
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-92.102", "UNRELEASED", "Start"),
    );
    let bump = r.commit("UBUNTU: Start new release");
    r.write(
        "debian.master/changelog",
        changelog_to("5.15.0-92.102", "jammy", "Release"),
    );
    r.commit("UBUNTU: Ubuntu-5.15.0-92.102");

    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [FindingKind::Unchecked, FindingKind::UncheckedRelease]
    );
    let f = &report.findings[1];
    assert_eq!(flavours(f), ["amd64_none_generic"]);
    assert_eq!(f.abi.as_str(), "5.15.0-91");
    assert_eq!(f.new_abi.as_ref().map(|a| a.as_str()), Some("5.15.0-92"));
    let since = f.unchecked_since.as_ref().map(ToString::to_string);
    assert_eq!(since, Some(bump.to_string()));
    let md = finding_markdown(f, 65_536);
    assert!(md.contains("`debian.<branch>/abi/`"), "{md}");
    assert!(!md.contains("abiname"), "{md}");
}

/// At Debian's scale: 30 flavours over three featuresets, a rename with no
/// references, 300 unrelated commits while UNRELEASED, then the release.
/// One `unchecked` at the rename, one `unchecked-release` naming all 30
/// flavours and the rename, and its comment fits GitHub's body limit.
#[test]
fn a_release_without_references_at_thirty_flavours() {
    let names: Vec<String> = ["none", "rt", "cloud"]
        .iter()
        .flat_map(|fs| (0..10).map(move |k| format!("amd64_{fs}_f{k}")))
        .collect();
    let r = debian_repo();
    for f in &names {
        r.write(&format!("debian/abi/6.1.0-47/{f}"), reference());
    }
    r.commit("Release 6.1.170-3");
    r.write("debian/config/defines", defines("47-2", &[]));
    let rename = r.commit("Use abiname 47-2");
    for k in 0..300 {
        let entry = format!("Change {k}");
        r.write(
            "debian/changelog",
            changelog_to("6.1.170-4", "UNRELEASED", &entry),
        );
        r.commit("Unrelated packaging change");
    }
    let released = release(&r, "6.1.170-4");

    let report = scan(&r);
    assert_eq!(
        kinds(&report),
        [FindingKind::Unchecked, FindingKind::UncheckedRelease]
    );
    let (noted, problem) = (&report.findings[0], &report.findings[1]);
    assert_eq!(noted.commit.to_string(), rename.to_string());
    assert_eq!(problem.commit.to_string(), released.to_string());
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(flavours(problem), expected);
    let since = problem.unchecked_since.as_ref().map(ToString::to_string);
    assert_eq!(since, Some(rename.to_string()));
    let body = finding_markdown(problem, 65_536);
    assert!(body.len() <= 65_536, "{} bytes", body.len());
    assert!(
        body.contains("amd64_cloud_f9"),
        "every flavour named: {body}"
    );
}
