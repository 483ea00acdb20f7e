//! What an ABI name promised when it was first published is what it is held
//! to when it comes back: a revert to a state the name already had is a
//! restoration (not a hidden break, not a new ABI in `timeline`); a reverted
//! bump whose references changed meanwhile is a hidden break against the
//! name's first publication.

mod common;

use std::sync::atomic::Ordering;

use abibot::findings::{Finding, FindingKind};
use abibot::history::scan::ScanReport;
use abibot::history::timeline::Timeline;
use abibot::history::{WalkOptions, Walker};
use common::{
    TestRepo, abi_file, abibot, abibot_on, changelog, defines, file_sink_daemon_config,
    scan_counted,
};
use git2::Oid;

const FLAVOUR: &str = "amd64_none_amd64";

fn reference(abi: &str) -> String {
    format!("debian/abi/{abi}/{FLAVOUR}")
}

/// A Debian repository whose first commit publishes 6.1.0-47 with its real
/// reference; returns it and that commit.
fn published() -> (TestRepo, Oid) {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    r.write(&reference("6.1.0-47"), abi_file("6.1.0-47", FLAVOUR));
    let first = r.commit("Release 6.1.170-3");
    (r, first)
}

/// Bumps to 6.1.0-50 with its real reference, then goes back to 6.1.0-47
/// whose reference is `back` (a file of tests/data); returns the revert.
fn bump_and_back(r: &TestRepo, back: &str) -> Oid {
    r.write("debian/config/defines", defines("50", &[]));
    r.remove("debian/abi/6.1.0-47");
    r.write(&reference("6.1.0-50"), abi_file("6.1.0-50", FLAVOUR));
    r.commit("Bump ABI to 50");
    r.write("debian/config/defines", defines("47", &[]));
    r.remove("debian/abi/6.1.0-50");
    r.write(&reference("6.1.0-47"), abi_file(back, FLAVOUR));
    r.commit("Revert \"Bump ABI to 50\"")
}

fn at(report: &ScanReport, commit: Oid) -> Vec<&Finding> {
    let sha = commit.to_string();
    report
        .findings
        .iter()
        .filter(|f| f.commit.to_string() == sha)
        .collect()
}

fn kinds(findings: &[&Finding]) -> Vec<FindingKind> {
    findings.iter().map(|f| f.kind).collect()
}

/// The timeline of the whole history.
fn timeline(r: &TestRepo) -> Timeline {
    let mut walker = Walker::new(&r.repo, WalkOptions::default());
    let head = walker.resolve("HEAD").unwrap();
    let mut timeline = Timeline::default();
    walker
        .walk(None, head, |_, _| {}, |s| timeline.visit(s))
        .unwrap();
    timeline
}

fn json(finding: &Finding) -> serde_json::Value {
    serde_json::to_value(finding).unwrap()
}

#[test]
fn reverting_a_hidden_break_is_a_restoration_not_another_break() {
    let (r, first) = published();
    let (broken, revert) = break_and_revert(&r);

    let report = scan_counted(&r, WalkOptions::default()).report;
    assert_eq!(kinds(&at(&report, broken)), [FindingKind::HiddenBreak]);
    let restored = at(&report, revert);
    assert_eq!(kinds(&restored), [FindingKind::Restoration], "{report:#?}");
    assert!(!restored[0].kind.is_problem(), "no comment on the fix");
    let doc = json(restored[0]);
    assert_eq!(doc["kind"], "restoration");
    assert_eq!(doc["abi"], "6.1.0-47");
    assert_eq!(doc["flavours"][0]["published"], first.to_string());
    assert!(doc["flavours"][0].get("came_back_from").is_none(), "{doc}");

    let t = timeline(&r);
    assert_eq!(t.abis.len(), 1);
    assert_eq!(t.abis[0].distinct(), 2, "the same blob is one ABI");
    let states = &t.abis[0].flavours[FLAVOUR];
    let returns: Vec<Option<usize>> = states.iter().map(|s| s.returns_to).collect();
    assert_eq!(returns, [None, None, Some(1)]);
    assert!(states[1].incompatible && !states[2].incompatible);

    let (code, out, err) = abibot_on("timeline", &r, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.starts_with(
            "ABI 6.1.0-47 named 2 different ABIs (amd64_none_amd64: 2 states, 1 return)"
        ),
        "{out}"
    );
    assert!(out.contains("returns to 1"), "{out}");
}

#[test]
fn a_reverted_bump_with_other_references_is_judged_against_the_first_publication() {
    let (r, first) = published();
    // The bump is reverted but the references of 6.1.0-50 stay, now
    // published as 6.1.0-47 again: not what 6.1.0-47 first promised.
    let revert = bump_and_back(&r, "6.1.0-50");
    let options = WalkOptions {
        cache_bytes: 0,
        ..WalkOptions::default()
    };
    let mut walker = Walker::new(&r.repo, options);
    let head = walker.resolve("HEAD").unwrap();
    let mut scanner = abibot::history::scan::Scanner::new("test");
    walker
        .walk(None, head, |_, _| {}, |s| scanner.visit(s))
        .unwrap();
    let report = scanner.finish();
    let found = at(&report, revert);
    assert_eq!(kinds(&found), [FindingKind::HiddenBreak], "{report:#?}");
    let doc = json(found[0]);
    assert_eq!(doc["abi"], "6.1.0-47");
    assert_eq!(doc["flavours"][0]["came_back_from"], "6.1.0-50");
    assert_eq!(doc["flavours"][0]["published"], first.to_string());
    assert!(found[0].flavours[0].summary.incompatible > 0);
    let said = abibot::report::scan::headline(found[0], &|s: &str| s.to_owned());
    assert!(
        said.starts_with("ABI 6.1.0-47 came back from 6.1.0-50, but the references of 1 flavour are incompatible with what it first published"),
        "{said}"
    );
    // No set is kept for a name: 6.1.0-47's first publication is asked
    // of the loader by object id at the bump (the parent's, alive) and
    // when the name comes back (no parse since, so nothing was trimmed).
    let stats = &walker.loader.stats;
    let parsed = stats.parsed.load(Ordering::Relaxed);
    assert_eq!(parsed, 2, "47 and 50");
    assert_eq!(
        stats.hits.load(Ordering::Relaxed),
        2,
        "47 at the bump and back"
    );

    let t = timeline(&r);
    let states = &t.abis[0].flavours[FLAVOUR];
    assert_eq!(states.len(), 2);
    assert!(
        states[1].incompatible,
        "judged against the first publication"
    );
    assert_eq!(
        states[1].came_back_from.as_ref().map(|a| a.as_str()),
        Some("6.1.0-50")
    );
}

#[test]
fn a_reverted_bump_with_the_same_references_is_no_problem() {
    let (r, first) = published();
    let revert = bump_and_back(&r, "6.1.0-47");
    let report = scan_counted(&r, WalkOptions::default()).report;
    assert!(!report.has_problems(), "{report:#?}");
    let found = at(&report, revert);
    // Not a bump (let alone a "needed" one): the name came back as it was.
    assert_eq!(kinds(&found), [FindingKind::Restoration], "{report:#?}");
    let doc = json(found[0]);
    assert_eq!(doc["flavours"][0]["came_back_from"], "6.1.0-50");
    assert_eq!(doc["flavours"][0]["published"], first.to_string());

    let t = timeline(&r);
    let names: Vec<&str> = t.abis.iter().map(|a| a.abi.as_str()).collect();
    assert_eq!(names, ["6.1.0-47", "6.1.0-50"]);
    assert_eq!(t.abis[0].distinct(), 1);
    assert!(!t.has_incompatible());
}

/// A release, a hidden break, and its revert; returns the break and the revert.
fn break_and_revert(r: &TestRepo) -> (Oid, Oid) {
    let path = reference("6.1.0-47");
    r.write(&path, abi_file("6.1.0-50", FLAVOUR));
    let broken = r.commit("Refresh ABI reference files");
    r.write(&path, abi_file("6.1.0-47", FLAVOUR));
    let revert = r.commit("Revert \"Refresh ABI reference files\"");
    (broken, revert)
}

/// A walk that starts after the break (`--since`, the daemon's next poll)
/// still knows what the name published before it.
#[test]
fn a_revert_after_the_range_start_is_still_a_restoration() {
    let (r, first) = published();
    let (broken, revert) = break_and_revert(&r);
    let since = broken.to_string();
    let json_since = ["--since", &since, "--format", "json"];
    let (code, out, err) = abibot_on("scan", &r, &json_since);
    assert_eq!(code, 0, "the fix is no problem: {out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{out}");
    assert_eq!(findings[0]["kind"], "restoration");
    assert_eq!(findings[0]["commit"], revert.to_string());
    assert_eq!(findings[0]["flavours"][0]["published"], first.to_string());

    let (code, out, err) = abibot_on("timeline", &r, &json_since);
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let states = doc["abis"][0]["flavours"][FLAVOUR].as_array().unwrap();
    assert_eq!(states.len(), 1, "{out}");
    assert_eq!(states[0]["returns_to"], 1, "{out}");
    assert_eq!(states[0]["incompatible"], false, "{out}");
}

/// The daemon comments on the break, and not on its fix, which arrives at
/// a later poll.
#[test]
fn the_daemon_does_not_comment_on_the_fix() {
    let (r, _) = published();
    let path = reference("6.1.0-47");
    r.write(&path, abi_file("6.1.0-50", FLAVOUR));
    r.commit("Refresh ABI reference files");
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = file_sink_daemon_config(dir.path(), &r);
    let poll = || {
        let (code, out, err) = abibot(&["daemon", "--once", "--config", config.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}\n{err}");
        std::fs::read_to_string(&sink).unwrap().lines().count()
    };
    assert_eq!(poll(), 1, "the break is commented on");
    r.write(&path, abi_file("6.1.0-47", FLAVOUR));
    r.commit("Revert \"Refresh ABI reference files\"");
    assert_eq!(poll(), 1, "the revert is not");
}

/// `abiname: 47` -> `47-2` (no references: unchecked) -> `47` again with
/// other references: the name came back from 6.1.0-47-2, and is held to
/// what it first published.
#[test]
fn a_name_back_from_one_without_references_is_held_to_its_first_publication() {
    let (r, first) = published();
    r.write("debian/config/defines", defines("47-2", &[]));
    r.remove("debian/abi/6.1.0-47");
    r.commit("Bump abiname to 47-2");
    r.write("debian/config/defines", defines("47", &[]));
    r.write(&reference("6.1.0-47"), abi_file("6.1.0-50", FLAVOUR));
    let back = r.commit("Back to abiname 47");
    let report = scan_counted(&r, WalkOptions::default()).report;
    let found = at(&report, back);
    assert_eq!(kinds(&found), [FindingKind::HiddenBreak], "{report:#?}");
    let doc = json(found[0]);
    assert_eq!(doc["abi"], "6.1.0-47");
    assert_eq!(doc["flavours"][0]["came_back_from"], "6.1.0-47-2");
    assert_eq!(doc["flavours"][0]["published"], first.to_string());

    let t = timeline(&r);
    let states = &t.abis[0].flavours[FLAVOUR];
    assert!(states[1].incompatible);
    let from = states[1].came_back_from.as_ref().map(|a| a.as_str());
    assert_eq!(from, Some("6.1.0-47-2"));
}

/// A Module.symvers reference of `symbols` symbols whose CRCs depend on
/// `seed`.
fn synthetic(symbols: usize, seed: u32) -> String {
    (0..symbols)
        .map(|i| {
            let crc = (i as u32 + 1).wrapping_mul(2_654_435_761) ^ seed;
            format!("0x{crc:08x}\tsym_{i}\tvmlinux\tEXPORT_SYMBOL\t\n")
        })
        .collect()
}

/// At Debian's scale (30 flavours, hundreds of commits all touching the
/// changelog), each flavour in turn is broken and the break reverted: every
/// break is one hidden break of that flavour alone, every revert one
/// restoration, and timeline counts two ABIs under the name, not 31.
#[test]
fn breaks_and_reverts_across_thirty_flavours_are_each_counted_once() {
    const FLAVOURS: usize = 30;
    const QUIET: usize = 8;
    let flavour = |k: usize| format!("amd64_none_f{k:02}");
    let r = TestRepo::new();
    r.write("debian/config/defines", defines("47", &[]));
    for k in 0..FLAVOURS {
        r.write(
            &format!("debian/abi/6.1.0-47/{}", flavour(k)),
            synthetic(400, 0),
        );
    }
    r.write("debian/changelog", changelog("6.1.170-3", "release"));
    r.commit("Release 6.1.170-3");
    let mut breaks = Vec::new();
    let mut reverts = Vec::new();
    for k in 0..FLAVOURS {
        for q in 0..QUIET {
            r.write(
                "debian/changelog",
                changelog("6.1.170-3", &format!("c{k}-{q}")),
            );
            r.commit("Unrelated packaging change");
        }
        let path = format!("debian/abi/6.1.0-47/{}", flavour(k));
        r.write(&path, synthetic(400, 1));
        breaks.push((k, r.commit("Refresh ABI reference files")));
        r.write(&path, synthetic(400, 0));
        reverts.push(r.commit("Revert \"Refresh ABI reference files\""));
    }

    let report = scan_counted(&r, WalkOptions::default()).report;
    for (k, commit) in &breaks {
        let found = at(&report, *commit);
        assert_eq!(kinds(&found), [FindingKind::HiddenBreak], "flavour {k}");
        let names: Vec<&str> = found[0]
            .flavours
            .iter()
            .map(|f| f.flavour.as_str())
            .collect();
        assert_eq!(names, [flavour(*k)]);
    }
    for commit in &reverts {
        assert_eq!(kinds(&at(&report, *commit)), [FindingKind::Restoration]);
    }
    assert_eq!(report.findings.len(), 2 * FLAVOURS, "nothing else reported");

    let t = timeline(&r);
    assert_eq!(t.abis.len(), 1);
    assert_eq!(t.abis[0].distinct(), 2, "a revert is not another ABI");
    assert_eq!(t.abis[0].flavours.len(), FLAVOURS);
}
