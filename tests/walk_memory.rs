//! The walk holds parsed references within its budget whatever the churn:
//! every parsed set alive during a walk (the compared revisions', the
//! cache's) counts against `cache_bytes`.
//!
//! What is measured is independent of the loader's own bookkeeping: the
//! visitor keeps a weak handle on every set it is shown and, at each commit,
//! sums the sets still alive somewhere.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use abibot::findings::FindingKind;
use abibot::history::scan::{ScanReport, Scanner};
use abibot::history::{Step, WalkOptions, Walker};
use abibot::symbols::SymbolSet;
use common::{FLAVOURS, TestRepo, abi_file, changelog, defines, symvers};

/// Lines of each real reference kept: real-looking sets, small enough for a
/// debug build to parse a few hundred of them quickly.
const LINES: usize = 3_000;

/// The first `LINES` lines of a real reference, every CRC xor-ed with `salt`.
fn salted(flavour: &str, salt: u32) -> String {
    let real = String::from_utf8(abi_file("6.1.0-47", flavour)).unwrap();
    let mut out = String::new();
    for line in real.lines().take(LINES) {
        let (crc, rest) = line.split_once('\t').unwrap();
        let crc = u32::from_str_radix(&crc[2..], 16).unwrap() ^ salt;
        out.push_str(&format!("0x{crc:08x}\t{rest}\n"));
    }
    out
}

/// A history in which every commit rewrites the CRCs of all three real
/// references under the same ABI name: every commit is a hidden break.
fn churning(commits: u32) -> TestRepo {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    for n in 0..commits {
        for f in FLAVOURS {
            r.write(&format!("debian/abi/6.1.0-47/{f}"), salted(f, n));
        }
        r.commit(&format!("Refresh {n}"));
    }
    r
}

/// Bytes of one flavour's parsed set as the loader accounts them.
fn set_bytes() -> usize {
    let text = salted(FLAVOURS[0], 0);
    abibot::formats::parse(text.as_bytes(), None, "x")
        .unwrap()
        .approx_bytes()
}

/// Parsed sets a visitor was shown, held weakly.
#[derive(Default)]
struct Alive {
    seen: Vec<(Weak<SymbolSet>, usize)>,
    peak: usize,
}

impl Alive {
    /// Records the sets of `step`, then how many bytes of every set seen so
    /// far are still held by anyone.
    fn observe(&mut self, step: &Step<'_>) {
        let sets = step.parent.reference.flavours.values();
        for set in sets.chain(step.state.reference.flavours.values()) {
            if !self
                .seen
                .iter()
                .any(|(w, _)| w.as_ptr() == Arc::as_ptr(set))
            {
                self.seen.push((Arc::downgrade(set), set.approx_bytes()));
            }
        }
        let alive: usize = self
            .seen
            .iter()
            .filter(|(w, _)| w.strong_count() > 0)
            .map(|(_, bytes)| bytes)
            .sum();
        self.peak = self.peak.max(alive);
    }
}

/// A scan with its peak bytes of parsed sets alive at any commit, and how
/// many commits were built ahead of the visitor.
struct Measured {
    report: ScanReport,
    peak: usize,
    built_ahead: usize,
}

/// Scans `repo` with `budget` bytes. Checks the loader's own account
/// agrees: it never saw more alive than the visitor did.
fn measured(repo: &TestRepo, budget: usize) -> Measured {
    let options = WalkOptions {
        cache_bytes: budget,
        jobs: 2,
        ..WalkOptions::default()
    };
    let mut walker = Walker::new(&repo.repo, options);
    let head = walker.resolve("HEAD").unwrap();
    let mut scanner = Scanner::new("test").counts_only();
    let mut alive = Alive::default();
    walker
        .walk(
            None,
            head,
            |_, _| {},
            |step| {
                alive.observe(&step);
                scanner.visit(step);
            },
        )
        .unwrap();
    let accounted = walker.loader.stats.peak_live_bytes.load(Ordering::Relaxed);
    assert!(accounted > 0 && accounted <= alive.peak.max(budget));
    Measured {
        report: scanner.finish(),
        peak: alive.peak,
        built_ahead: walker.built_ahead,
    }
}

/// [`measured`]: the report and the peak.
fn scan_measuring(repo: &TestRepo, budget: usize) -> (ScanReport, usize) {
    let m = measured(repo, budget);
    (m.report, m.peak)
}

fn hidden_breaks(report: &ScanReport) -> usize {
    report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::HiddenBreak)
        .count()
}

#[test]
fn parsed_sets_alive_during_a_churning_walk_stay_within_the_budget() {
    let commits = 30;
    let r = churning(commits);
    let one = set_bytes();
    // Room for the compared pair of revisions (3 sets each) and a few
    // cached sets; far less than the churn parses.
    let budget = 12 * one;
    let (report, peak) = scan_measuring(&r, budget);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(hidden_breaks(&report), commits as usize - 1);
    assert!(
        peak <= budget,
        "{peak} bytes of parsed sets alive ({} sets), budget {budget} ({} sets)",
        peak / one,
        budget / one
    );
}

#[test]
fn a_budget_below_one_comparison_keeps_only_what_the_comparison_needs() {
    let r = churning(12);
    let one = set_bytes();
    let (report, peak) = scan_measuring(&r, 0);
    assert_eq!(hidden_breaks(&report), 11);
    // The parent's 3 sets and this commit's 3: nothing else survives a
    // commit (the first references of the ABI name are had again by
    // object id when a bump needs them, not held).
    assert!(peak <= 6 * one, "{} sets alive", peak as f64 / one as f64);
}

/// With room in the budget, commits are built ahead of the visitor (on a
/// second thread) and the cache makes room for them: the same findings,
/// still within the budget. With none, nothing is built ahead.
#[test]
fn commits_are_built_ahead_only_within_the_budget() {
    let commits = 20;
    let r = churning(commits);
    let one = set_bytes();
    let budget = 40 * one;
    let roomy = measured(&r, budget);
    assert!(roomy.built_ahead > 0);
    assert!(roomy.peak <= budget, "{} sets alive", roomy.peak / one);
    let tight = measured(&r, 0);
    assert_eq!(tight.built_ahead, 0);
    assert_eq!(hidden_breaks(&roomy.report), commits as usize - 1);
    let ids = |m: &Measured| -> Vec<String> {
        let findings = m.report.findings.iter();
        findings.map(|f| f.id.to_string()).collect()
    };
    assert_eq!(ids(&roomy), ids(&tight));
}

/// The baseline of a name (its first reference) is what a bump is judged
/// against, even when the cache keeps nothing.
#[test]
fn a_bump_is_judged_against_the_first_reference_of_the_name_with_no_cache() {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    let path = "debian/abi/6.1.0-47/amd64_none_amd64";
    r.write(path, symvers(&[("a", 1), ("b", 1)]));
    r.commit("base");
    r.write(path, symvers(&[("a", 2), ("b", 1)]));
    r.commit("hidden break");
    r.write("debian/config/defines", defines("50", &[]));
    r.remove("debian/abi/6.1.0-47");
    r.write(
        "debian/abi/6.1.0-50/amd64_none_amd64",
        symvers(&[("a", 2), ("b", 1)]),
    );
    r.commit("Bump ABI to 50");
    let (report, _) = scan_measuring(&r, 0);
    let bump = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Bump)
        .expect("a bump");
    // Same as its parent, but not as what 6.1.0-47 first promised.
    assert_eq!(bump.bump_needed, Some(true));
}

/// `scan --cache-mib` sets the budget; with none at all the findings are
/// the same.
#[test]
fn scan_takes_the_budget_from_the_command_line() {
    let r = churning(6);
    let repo = r.path().to_str().unwrap();
    let mut outputs = Vec::new();
    for mib in ["0", "256"] {
        let (code, stdout, stderr) = common::abibot(&[
            "scan",
            "--format",
            "json",
            "--cache-mib",
            mib,
            "--repo",
            repo,
        ]);
        assert_eq!(code, 1, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        outputs.push(report["findings"].clone());
    }
    assert_eq!(outputs[0].as_array().unwrap().len(), 5);
    assert_eq!(outputs[0], outputs[1]);
    let (code, _, stderr) = common::abibot(&["scan", "--cache-mib", "lots", "--repo", repo]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--cache-mib"), "{stderr}");
}
