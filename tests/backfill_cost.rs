//! The daemon's first-start backfill of a long history costs what `scan`
//! costs: one walk, each distinct reference parsed once, whatever the
//! number of findings (no walk or parse per finding). Shown with the
//! walk's counters, not with time.

mod common;

use std::collections::HashSet;

use abibot::config::Config;
use abibot::daemon::git::{Start, scan_branch};
use abibot::pipeline::RepoSpec;
use common::{TestRepo, changelog, debian_repo, defines, symvers};
use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};

const FLAVOURS: [&str; 3] = [
    "amd64_none_amd64",
    "amd64_none_cloud-amd64",
    "amd64_rt_amd64",
];

/// A reference of 200 symbols whose CRCs are salted with `salt`.
fn reference(salt: u32) -> String {
    let names: Vec<String> = (0..200).map(|i| format!("sym_{i:03}")).collect();
    let symbols: Vec<(&str, u32)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32 ^ salt))
        .collect();
    symvers(&symbols)
}

/// 300 commits under two ABI names: every commit touches the changelog;
/// every 10th breaks one flavour's CRCs (a hidden break) and the next
/// reverts it (the first publication is needed again); a bump halfway.
fn history() -> TestRepo {
    let r = debian_repo();
    for f in FLAVOURS {
        r.write(&format!("debian/abi/6.1.0-47/{f}"), reference(0));
    }
    r.commit("Release 6.1.170-3");
    let mut abi = "6.1.0-47";
    for n in 1..300 {
        r.write("debian/changelog", changelog("6.1.171-1", &format!("c{n}")));
        if n == 150 {
            r.remove("debian/abi/6.1.0-47");
            r.write("debian/config/defines", defines("48", &[]));
            abi = "6.1.0-48";
            for f in FLAVOURS {
                r.write(&format!("debian/abi/{abi}/{f}"), reference(1 << 20));
            }
            r.commit("Bump ABI to 48");
            continue;
        }
        let flavour = FLAVOURS[n / 10 % FLAVOURS.len()];
        let base = if n > 150 { 1 << 20 } else { 0 };
        let path = format!("debian/abi/{abi}/{flavour}");
        match n % 10 {
            0 => {
                r.write(&path, reference(base ^ (n as u32) << 8));
                r.commit("Refresh ABI reference files");
            }
            1 => {
                r.write(&path, reference(base));
                r.commit("Revert the refresh");
            }
            _ => {
                r.commit("Update changelog");
            }
        }
    }
    r
}

/// Distinct reference blobs in the whole history.
fn distinct_references(r: &TestRepo) -> usize {
    let mut walk = r.repo.revwalk().unwrap();
    walk.push_head().unwrap();
    let mut blobs: HashSet<Oid> = HashSet::new();
    for oid in walk {
        let tree = r.repo.find_commit(oid.unwrap()).unwrap().tree().unwrap();
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            if dir.starts_with("debian/abi/") && entry.kind() == Some(ObjectType::Blob) {
                blobs.insert(entry.id());
            }
            TreeWalkResult::Ok
        })
        .unwrap();
    }
    blobs.len()
}

fn daemon_config(dir: &std::path::Path, r: &TestRepo, branch: &str) -> Config {
    let text = format!(
        "state = \"{state}\"\n[[repo]]\nname = \"linux\"\npath = \"{repo}\"\n\
         branches = [\"{branch}\"]\nbackfill = true\n[repo.file]\npath = \"{sink}\"\n",
        state = dir.join("state.sqlite").display(),
        repo = r.path().display(),
        sink = dir.join("comments.jsonl").display(),
    );
    Config::parse(&text, "abibot.toml").unwrap()
}

#[test]
fn backfill_parses_each_reference_once_like_scan_whatever_the_findings() {
    let r = history();
    let dir = tempfile::tempdir().unwrap();
    let branch = r.repo.head().unwrap().shorthand().unwrap().to_owned();
    let config = daemon_config(dir.path(), &r, &branch);
    let backfill = scan_branch(&r.repo, &config.repos[0], &branch, None, 2, 60_000).unwrap();
    assert!(matches!(backfill.start, Start::Backfill));
    let spec = RepoSpec {
        name: "linux".into(),
        ..RepoSpec::default()
    };
    let mut pipeline = spec.open(&r.repo);
    let head = pipeline.resolve("HEAD").unwrap();
    let scan = pipeline
        .scan(None, head, false, |_, _| {}, |_| {})
        .unwrap()
        .report;
    // Many findings (a hidden break and a restoration per refresh)...
    assert_eq!(backfill.commits, 300);
    assert!(backfill.findings.len() >= 50, "{}", backfill.findings.len());
    assert_eq!(backfill.findings.len(), scan.findings.len());
    // ...yet the backfill parsed what one scan parses: every distinct
    // reference once (3 + 3 at the bump + one per refresh; a revert's
    // reference is the cached first publication), and read as many from
    // the cache, with no walk or parse per finding.
    let distinct = distinct_references(&r);
    assert_eq!(scan.stats.references_parsed, distinct);
    assert_eq!(backfill.stats.references_parsed, distinct);
    assert_eq!(backfill.stats.cache_hits, scan.stats.cache_hits);
    assert_eq!(
        backfill.stats.commits_touching_references,
        scan.stats.commits_touching_references
    );
}
