//! `timeline` and `scan` agree on the same history: the same ignore rules
//! judge a change, and the same exit-code contract holds (an unreadable
//! current state is exit 2; errors at older revisions are listed and
//! counted, the exit code stays 0 or 1).

mod common;

use common::{TestRepo, abibot, debian_repo, defines, symvers};

const REFERENCE: &str = "debian/abi/6.1.0-47/amd64_none_amd64";

/// A release, then a refresh under the same name changing `changed`'s CRC,
/// with `ignore` as the `[abi] ignore-changes` of `debian/config/defines`.
fn refresh_repo(changed: &str, ignore: &[&str]) -> TestRepo {
    let repo = debian_repo();
    repo.write("debian/config/defines", defines("47", ignore));
    repo.write(REFERENCE, symvers(&[("kmalloc", 1), ("kfree", 2)]));
    repo.commit("Release 6.1.170-3");
    let crc = |name: &str, old: u32| if name == changed { 9 } else { old };
    repo.write(
        REFERENCE,
        symvers(&[("kmalloc", crc("kmalloc", 1)), ("kfree", crc("kfree", 2))]),
    );
    repo.commit("Refresh ABI reference files");
    repo
}

/// Runs `command` on `repo` with JSON output: exit code, document, stderr.
fn json(command: &str, repo: &TestRepo) -> (i32, serde_json::Value, String) {
    let path = repo.path().to_str().unwrap();
    let (code, out, err) = abibot(&[command, "--repo", path, "--format", "json"]);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, doc, err)
}

fn hidden_breaks(scan: &serde_json::Value) -> usize {
    let findings = scan["findings"].as_array().unwrap();
    findings
        .iter()
        .filter(|f| f["kind"] == "hidden-break")
        .count()
}

fn incompatible_states(timeline: &serde_json::Value) -> usize {
    let abis = timeline["abis"].as_array().unwrap();
    abis.iter()
        .flat_map(|a| a["flavours"].as_object().unwrap().values())
        .flat_map(|states| states.as_array().unwrap())
        .filter(|s| s["incompatible"] == true)
        .count()
}

/// `scan` exits `code` with `breaks` hidden breaks, and `timeline` exits
/// `code` with `breaks` incompatible states.
fn assert_both_say(repo: &TestRepo, code: i32, breaks: usize) {
    let (scan_code, scan, _) = json("scan", repo);
    assert_eq!((scan_code, hidden_breaks(&scan)), (code, breaks), "{scan}");
    let (timeline_code, timeline, _) = json("timeline", repo);
    assert_eq!(timeline_code, code, "{timeline}");
    assert_eq!(incompatible_states(&timeline), breaks, "{timeline}");
}

#[test]
fn an_ignored_change_is_no_break_for_either() {
    let repo = refresh_repo("kmalloc", &["kmalloc"]);
    assert_both_say(&repo, 0, 0);
    let path = repo.path().to_str().unwrap();
    let (_, text, _) = abibot(&["timeline", "--repo", path]);
    assert!(!text.contains("[incompatible]"), "{text}");
}

#[test]
fn a_change_not_ignored_is_a_break_for_both() {
    let repo = refresh_repo("kfree", &["kmalloc"]);
    assert_both_say(&repo, 1, 1);
}

/// A release, a commit replacing the reference by garbage and, when
/// `repaired`, a commit restoring it.
fn garbage_repo(repaired: bool) -> (TestRepo, String) {
    let repo = debian_repo();
    repo.write(REFERENCE, symvers(&[("kmalloc", 1), ("kfree", 2)]));
    repo.commit("Release 6.1.170-3");
    repo.write(REFERENCE, "this is not a reference\n");
    let garbage = repo.commit("Break the reference").to_string();
    if repaired {
        repo.write(REFERENCE, symvers(&[("kmalloc", 1), ("kfree", 2)]));
        repo.commit("Restore the reference");
    }
    (repo, garbage)
}

#[test]
fn garbage_at_the_head_is_exit_two_for_both() {
    let (repo, _) = garbage_repo(false);
    let path = repo.path().to_str().unwrap();
    for command in ["scan", "timeline"] {
        let (code, out, err) = abibot(&[command, "--repo", path]);
        assert_eq!(code, 2, "{command}: {out} {err}");
        assert!(err.contains(REFERENCE), "{command}: {err}");
        assert!(err.contains("current state"), "{command}: {err}");
    }
}

#[test]
fn garbage_in_the_middle_is_listed_not_fatal() {
    let (repo, garbage) = garbage_repo(true);
    for command in ["scan", "timeline"] {
        let (code, doc, _) = json(command, &repo);
        assert_eq!(code, 0, "{command}: {doc}");
        let errors = doc["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{command}: {doc}");
        assert_eq!(errors[0]["commit"], garbage.as_str(), "{command}: {doc}");
        assert_eq!(errors[0]["path"], REFERENCE, "{command}: {doc}");
        assert!(errors[0]["message"].as_str().unwrap() != "", "{doc}");
    }
    let path = repo.path().to_str().unwrap();
    let (code, _, err) = abibot(&["timeline", "--repo", path]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 error"), "{err}");
    assert!(err.contains(&garbage[..12]), "{err}");
    assert!(err.contains(REFERENCE), "{err}");
}

#[test]
fn an_ignore_flag_is_applied_by_both() {
    let repo = refresh_repo("kfree", &[]);
    let path = repo.path().to_str().unwrap();
    for command in ["scan", "timeline"] {
        let args = [command, "--repo", path, "--ignore", "kfree"];
        let (code, out, err) = abibot(&args);
        assert_eq!(code, 0, "{command}: {out} {err}");
        assert!(!out.contains("[incompatible]"), "{out}");
        assert!(!out.contains("hidden-break"), "{out}");
    }
}
