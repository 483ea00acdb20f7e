//! `bisect` in reference mode over git2-built Debian packaging histories.

mod common;

use abibot::bisect::reference::{ReferenceOptions, bisect_references};
use abibot::bisect::{BisectError, BisectReport, Kind, Predicate, Verdict};
use abibot::compare::ChangeKind;
use abibot::symbols::Crc;
use common::{FLAVOURS, TestRepo, abibot, changelog, defines};
use git2::Oid;

const NONE: &str = "amd64_none_amd64";
const RT: &str = "amd64_rt_amd64";

fn path(flavour: &str) -> String {
    format!("debian/abi/6.1.0-47/{flavour}")
}

/// A reference of 40 stable symbols, `symbol_x` at `crc_x`, and `fillers`
/// added symbols (compatible growth that makes every commit's reference a
/// new blob, so a probe that reads it really parses it).
fn reference(crc_x: u32, fillers: usize) -> String {
    let mut out = String::new();
    for j in 0..40 {
        out.push_str(&format!(
            "0x{:08x}\tstable_{j:03}\tvmlinux\tEXPORT_SYMBOL\t\n",
            j + 1
        ));
    }
    out.push_str(&format!(
        "0x{crc_x:08x}\tsymbol_x\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"
    ));
    for j in 0..fillers {
        out.push_str(&format!(
            "0x00000007\tfiller_{j:04}\tfs/x\tEXPORT_SYMBOL\t\n"
        ));
    }
    out
}

/// `count` commits of Debian layout; commit `i` (0 is the root) holds
/// `content(i, flavour)` as each flavour's reference.
fn history(count: usize, content: impl Fn(usize, &str) -> String) -> (TestRepo, Vec<Oid>) {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    let mut commits = Vec::with_capacity(count);
    for i in 0..count {
        for f in FLAVOURS {
            r.write(&path(f), content(i, f));
        }
        commits.push(r.commit(&format!("Commit {i}")));
    }
    (r, commits)
}

fn options(
    good: Oid,
    bad: Oid,
    flavours: &[&str],
    kind: Kind,
    symbols: &[&str],
) -> ReferenceOptions {
    ReferenceOptions {
        good: good.to_string(),
        bad: bad.to_string(),
        flavours: flavours.iter().map(|f| f.parse().unwrap()).collect(),
        predicate: Predicate {
            kind,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        },
        ..ReferenceOptions::default()
    }
}

fn run(r: &TestRepo, options: &ReferenceOptions) -> Result<BisectReport, BisectError> {
    bisect_references(&r.repo, options, &mut |_| {})
}

/// ceil(log2(300)) + 2: the good end, the bad end, and the halvings.
const MAX_READS: usize = 9 + 2;

#[test]
fn finds_the_commit_that_changed_a_crc_in_300_commits_reading_log_n_revisions() {
    for k in [1, 137, 299] {
        let (r, commits) = history(300, |i, f| {
            let crc = if f == NONE && i >= k { 0xbad } else { 0x600d };
            reference(crc, if f == NONE { i } else { 0 })
        });
        let opts = options(commits[0], commits[299], &[NONE], Kind::Crc, &["symbol_x"]);
        let report = run(&r, &opts).unwrap();
        let first = report.first_bad.as_ref().expect("a first bad commit");
        assert_eq!(
            first.commit.commit.as_str(),
            commits[k].to_string(),
            "k={k}"
        );
        assert_eq!(first.commit.title, format!("Commit {k}"));
        assert_eq!(first.commit.author, "Test <test@example.org>");
        assert_eq!(first.commit.date, "2023-11-14T22:13:20Z");
        assert!(first.maybe_earlier.is_empty());
        assert_eq!(first.changes.len(), 1);
        assert_eq!(first.changes[0].flavour, NONE);
        let change = &first.changes[0].changes[..];
        assert_eq!(change.len(), 1, "{change:?}");
        assert_eq!(change[0].symbol, "symbol_x");
        assert_eq!(change[0].kind, ChangeKind::CrcChanged);
        assert_eq!(change[0].old.as_ref().unwrap().crc, Crc(0x600d));
        assert_eq!(change[0].new.as_ref().unwrap().crc, Crc(0xbad));

        assert!(
            report.work.reference_reads <= MAX_READS,
            "k={k}: {} reference reads",
            report.work.reference_reads
        );
        // One read per probe: nothing between probes is read.
        assert_eq!(report.work.reference_reads, report.probes.len());
        // The good end's three flavours are one blob, parsed once; each
        // later probe parses only the one flavour whose blob differs.
        assert_eq!(report.work.references_parsed, report.probes.len());
        assert!(report.skipped.is_empty());
        for probe in &report.probes {
            let i = commits
                .iter()
                .position(|c| c.to_string() == probe.commit.as_str())
                .unwrap();
            let expected = if i >= k { Verdict::Bad } else { Verdict::Good };
            assert_eq!(probe.verdict, expected, "k={k}, commit {i}");
        }
        assert_eq!(report.probes[0].commit.as_str(), commits[0].to_string());
        assert_eq!(report.probes[1].commit.as_str(), commits[299].to_string());
        assert_eq!(report.commits_in_range, 299);
    }
}

#[test]
fn additions_do_not_count_and_other_symbols_are_not_watched() {
    let k = 20;
    let (r, commits) = history(40, |i, f| {
        let crc = if f == NONE && i >= k { 0xbad } else { 0x600d };
        reference(crc, if f == NONE { i } else { 0 })
    });
    // Every commit adds a symbol, but `any` is about incompatible changes.
    let report = run(&r, &options(commits[0], commits[39], &[], Kind::Any, &[])).unwrap();
    assert_eq!(
        report.first_bad.unwrap().commit.commit.as_str(),
        commits[k].to_string()
    );
    assert_eq!(report.flavours, FLAVOURS);
    // Only stable_001 is watched, and it never changes: the bad end is good.
    let report = run(
        &r,
        &options(commits[0], commits[39], &[], Kind::Any, &["stable_001"]),
    )
    .unwrap();
    assert!(report.first_bad.is_none());
    assert_eq!(report.probes.len(), 2, "stops after the bad end");
    // `removed` does not match a CRC change.
    let report = run(
        &r,
        &options(commits[0], commits[39], &[], Kind::Removed, &[]),
    )
    .unwrap();
    assert!(report.first_bad.is_none());
}

#[test]
fn a_change_in_the_rt_flavour_only_is_found_there_and_not_in_none() {
    let k = 211;
    let (r, commits) = history(300, |i, f| {
        let crc = if f == RT && i >= k { 0xbad } else { 0x600d };
        reference(crc, if f == NONE { i } else { 0 })
    });
    let (good, bad) = (commits[0], commits[299]);
    let rt = run(&r, &options(good, bad, &[RT], Kind::Any, &["symbol_x"])).unwrap();
    let first = rt.first_bad.expect("found in rt");
    assert_eq!(first.commit.commit.as_str(), commits[k].to_string());
    assert_eq!(first.changes[0].flavour, RT);
    assert!(rt.work.reference_reads <= MAX_READS);

    let none = run(&r, &options(good, bad, &[NONE], Kind::Any, &["symbol_x"])).unwrap();
    assert!(none.first_bad.is_none());
    assert_eq!(none.flavours, [NONE]);
    let verdicts: Vec<Verdict> = none.probes.iter().map(|p| p.verdict).collect();
    assert_eq!(verdicts, [Verdict::Good, Verdict::Good]);

    // All flavours (the default) see the rt change.
    let all = run(&r, &options(good, bad, &[], Kind::Crc, &[])).unwrap();
    assert_eq!(
        all.first_bad.unwrap().commit.commit.as_str(),
        commits[k].to_string()
    );
}

#[test]
fn a_corrupt_reference_mid_range_is_skipped_and_named() {
    // Commits after the root are indices 0..=298 of the range; the first
    // middle probed is (-1 + 298) / 2 = 148, commit 149: corrupt it there.
    let (corrupt, k) = (149, 200);
    let (r, commits) = history(300, |i, f| {
        let crc = if f == NONE && i >= k { 0xbad } else { 0x600d };
        let mut text = reference(crc, if f == NONE { i } else { 0 });
        if f == NONE && i == corrupt {
            text.push_str("GARBAGE LINE\n");
        }
        text
    });
    let report = run(
        &r,
        &options(commits[0], commits[299], &[NONE], Kind::Crc, &[]),
    )
    .unwrap();
    let first = report.first_bad.as_ref().unwrap();
    assert_eq!(first.commit.commit.as_str(), commits[k].to_string());
    assert!(first.maybe_earlier.is_empty());
    assert_eq!(report.skipped.len(), 1);
    let skipped = &report.skipped[0];
    assert_eq!(skipped.commit.as_str(), commits[corrupt].to_string());
    assert_eq!(skipped.title, format!("Commit {corrupt}"));
    assert!(skipped.reason.contains(&path(NONE)), "{}", skipped.reason);
    assert!(skipped.reason.contains("GARBAGE"), "{}", skipped.reason);
    let probe = report
        .probes
        .iter()
        .find(|p| p.commit == skipped.commit)
        .unwrap();
    assert_eq!(probe.verdict, Verdict::Skip);
    // One extra probe steps around the skipped revision.
    assert!(report.work.reference_reads <= MAX_READS + 1);

    // Judging only the rt flavour, the damage to amd64's file is irrelevant.
    let rt = run(
        &r,
        &options(commits[0], commits[299], &[RT], Kind::Crc, &[]),
    )
    .unwrap();
    assert!(rt.skipped.is_empty());
}

#[test]
fn skipped_commits_right_before_the_change_are_reported_not_guessed() {
    let k = 20;
    let (r, commits) = history(30, |i, f| {
        let crc = if i >= k { 0xbad } else { 0x600d };
        if f == NONE && (i == k - 2 || i == k - 1) {
            return "not a reference\n".to_owned();
        }
        reference(crc, 0)
    });
    let report = run(
        &r,
        &options(commits[0], commits[29], &[NONE], Kind::Crc, &[]),
    )
    .unwrap();
    let first = report.first_bad.unwrap();
    assert_eq!(first.commit.commit.as_str(), commits[k].to_string());
    let earlier: Vec<String> = first.maybe_earlier.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        earlier,
        [commits[k - 2].to_string(), commits[k - 1].to_string()]
    );
    assert_eq!(report.skipped.len(), 2);
}

#[test]
fn a_flavour_dropped_mid_range_is_a_skip_unless_another_shows_the_change() {
    let (k, dropped) = (10, 5);
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    let mut commits = Vec::new();
    for i in 0..16 {
        let crc = if i >= k { 0xbad } else { 0x600d };
        r.write(&path(NONE), reference(crc, i));
        if i < dropped {
            r.write(&path(RT), reference(crc, 0));
        } else if i == dropped {
            r.remove(&path(RT));
        }
        commits.push(r.commit(&format!("Commit {i}")));
    }
    let report = run(
        &r,
        &options(commits[0], commits[15], &[NONE, RT], Kind::Crc, &[]),
    )
    .unwrap();
    assert_eq!(
        report.first_bad.as_ref().unwrap().commit.commit.as_str(),
        commits[k].to_string()
    );
    // Probes between the drop and the change could not read rt and saw no
    // change in amd64: skips, naming the flavour. The first middle, commit
    // 7, is one of them.
    assert!(!report.skipped.is_empty());
    for probe in &report.probes {
        let i = commits
            .iter()
            .position(|c| c.to_string() == probe.commit.as_str())
            .unwrap();
        let expected = match i {
            _ if i >= k => Verdict::Bad,
            _ if i >= dropped => Verdict::Skip,
            _ => Verdict::Good,
        };
        assert_eq!(probe.verdict, expected, "commit {i}");
        if expected == Verdict::Skip {
            let reason = probe.reason.as_deref().unwrap();
            assert!(reason.contains(RT), "{reason}");
        }
    }
}

#[test]
fn wrong_ends_are_refused_with_the_reason() {
    let k = 5;
    let (r, commits) = history(10, |i, _| reference(if i >= k { 0xbad } else { 0x600d }, 0));
    let swapped = run(&r, &options(commits[9], commits[0], &[], Kind::Any, &[])).unwrap_err();
    assert!(
        matches!(swapped, BisectError::NotAncestor { .. }),
        "{swapped}"
    );
    assert!(swapped.to_string().contains("swapped"), "{swapped}");

    let same = run(&r, &options(commits[3], commits[3], &[], Kind::Any, &[])).unwrap_err();
    assert!(matches!(same, BisectError::SameCommit { .. }), "{same}");

    let absent = run(
        &r,
        &options(
            commits[0],
            commits[9],
            &[],
            Kind::Removed,
            &["no_such_symbol"],
        ),
    )
    .unwrap_err();
    let text = absent.to_string();
    assert!(matches!(absent, BisectError::GoodIsBad { .. }), "{text}");
    assert!(
        text.contains("already bad") && text.contains("no_such_symbol"),
        "{text}"
    );
    assert!(text.contains(&commits[0].to_string()), "{text}");

    let unknown = run(
        &r,
        &options(commits[0], commits[9], &["amd64_xen_amd64"], Kind::Any, &[]),
    )
    .unwrap_err();
    let text = unknown.to_string();
    assert!(
        text.contains("amd64_xen_amd64") && text.contains(NONE),
        "{text}"
    );
}

#[test]
fn an_unreadable_bad_end_stops_without_guessing() {
    let (r, commits) = history(10, |i, f| {
        if f == NONE && i == 9 {
            return "not a reference\n".to_owned();
        }
        reference(if i >= 5 { 0xbad } else { 0x600d }, 0)
    });
    let err = run(
        &r,
        &options(commits[0], commits[9], &[NONE], Kind::Crc, &[]),
    )
    .unwrap_err();
    assert!(matches!(err, BisectError::BadUnreadable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&commits[9].to_string()) && text.contains(&path(NONE)),
        "{text}"
    );
}

#[test]
fn cli_json_follows_the_documented_shape_and_exit_codes() {
    let (k, corrupt) = (14, 9);
    let (r, commits) = history(20, |i, f| {
        let crc = if f == NONE && i >= k { 0xbad } else { 0x600d };
        let mut text = reference(crc, 0);
        if f == NONE && i == corrupt {
            text.push_str("GARBAGE LINE\n");
        }
        text
    });
    let repo = r.path().to_str().unwrap();
    let (good, bad) = (commits[0].to_string(), commits[19].to_string());
    let ends = ["bisect", "--repo", repo, "--good", &good, "--bad", &bad];
    let (code, out, err) = abibot(
        &[
            &ends[..],
            &[
                "--flavour",
                NONE,
                "--symbol",
                "symbol_x",
                "--kind",
                "crc",
                "--format",
                "json",
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &doc["first_bad"];
    let sha = first["commit"].as_str().unwrap();
    assert_eq!(sha, commits[k].to_string());
    assert!(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
    for key in ["title", "author", "date"] {
        assert!(first[key].is_string(), "{key}");
    }
    assert_eq!(first["changes"][0]["changes"][0]["kind"], "crc_changed");
    let probes = doc["probes"].as_array().unwrap();
    for p in probes {
        let verdict = p["verdict"].as_str().unwrap();
        assert!(["good", "bad", "skip"].contains(&verdict), "{verdict}");
        assert_eq!(p["commit"].as_str().unwrap().len(), 40);
    }
    // The range after the root is indices 0..=18; the first middle,
    // (-1 + 18) / 2 = 8, is commit 9, the corrupt one.
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["commit"], commits[corrupt].to_string());
    assert!(err.contains("probe 1:"), "progress is logged: {err}");

    // Text names the answer; the second flavour never changed: exit 1.
    let (code, out, _) = abibot(&[&ends[..], &["--flavour", NONE]].concat());
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("First bad commit: {}", commits[k])),
        "{out}"
    );
    let (code, out, _) = abibot(&[&ends[..], &["--flavour", RT, "--format", "json"]].concat());
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(doc["first_bad"].is_null());

    // Good is bad (symbol already gone), swapped ends: exit 2 and why.
    let (code, out, err) =
        abibot(&[&ends[..], &["--symbol", "gone_symbol", "--kind", "removed"]].concat());
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("already bad") && err.contains("gone_symbol"),
        "{err}"
    );
    let (code, _, err) = abibot(&["bisect", "--repo", repo, "--good", &bad, "--bad", &good]);
    assert_eq!(code, 2);
    assert!(err.contains("swapped"), "{err}");
}
