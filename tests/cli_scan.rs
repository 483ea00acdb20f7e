//! `abibot scan` and `abibot timeline` as a user runs them.

mod common;

use common::markdown::outside_code;
use common::{TestRepo, abibot, abibot_on, debian_repo, symvers};

/// base (ABI 6.1.0-47) -> hidden break -> same state again twice under the
/// name -> rt dropped.
fn story() -> TestRepo {
    let r = debian_repo();
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 1), ("b", 1)]),
    );
    r.write("debian/abi/6.1.0-47/amd64_rt_amd64", symvers(&[("a", 1)]));
    r.commit("base");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 2), ("b", 1), ("`@team [x](http://e)`", 1)]),
    );
    r.commit("Refresh ABI reference files");
    r.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("a", 3), ("b", 1)]),
    );
    r.commit("Refresh again");
    r.remove("debian/abi/6.1.0-47/amd64_rt_amd64");
    r.commit("Drop rt");
    r
}

#[test]
fn scan_json_follows_the_documented_schema_and_exits_one() {
    let r = story();
    let (code, out, err) = abibot_on("scan", &r, &["--format", "json", "--repo-name", "linux"]);
    assert_eq!(code, 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["commits_scanned"], 4);
    let findings = doc["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hidden-break", "hidden-break", "coverage-lost"]);
    let first = &findings[0];
    assert_eq!(first["commit"].as_str().unwrap().len(), 40);
    assert_eq!(first["title"], "Refresh ABI reference files");
    assert_eq!(first["abi"], "6.1.0-47");
    assert!(first.get("new_abi").is_none());
    let flavour = &first["flavours"][0];
    assert_eq!(flavour["flavour"], "amd64_none_amd64");
    assert_eq!(flavour["featureset"], "none");
    assert_eq!(flavour["arch"], "amd64");
    assert_eq!(flavour["summary"]["crc_changed"], 1);
    assert_eq!(flavour["summary"]["added"], 1);
    assert!(doc["errors"].as_array().unwrap().is_empty());
    assert_eq!(findings[0]["id"].as_str().unwrap().len(), 24);
}

#[test]
fn scan_range_and_since_limit_the_commits() {
    let r = story();
    let (code, out, _) = abibot_on("scan", &r, &["--range", "HEAD~1..HEAD", "--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["commits_scanned"], 1);
    assert_eq!(doc["findings"][0]["kind"], "coverage-lost");
    let (code, out, _) = abibot_on("scan", &r, &["--since", "HEAD", "--format", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"commits_scanned\": 0"));
}

#[test]
fn scan_markdown_is_a_safe_comment_body() {
    let r = story();
    let (_, out, _) = abibot_on("scan", &r, &["--format", "markdown"]);
    assert!(
        out.contains("### abibot: hidden ABI break in ABI `6.1.0-47`"),
        "{out}"
    );
    assert!(out.contains("`Refresh ABI reference files`"));
    // The hostile symbol name only appears inside code spans or blocks.
    assert!(out.contains("@team"));
    let prose = outside_code(&out);
    assert!(
        !prose.contains("@team") && !prose.contains("](http"),
        "{prose}"
    );
    assert!(out.contains("<!-- abibot:finding="));
    assert!(out.contains("ignore-changes:\n name:a\n"), "{out}");
    assert!(out.contains("Unchanged under the same ABI name: `amd64_rt_amd64`."));
}

#[test]
fn scan_text_groups_by_featureset() {
    let r = story();
    let (code, out, _) = abibot_on("scan", &r, &[]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "scanned 4 commits: 3 findings (1 coverage-lost, 2 hidden-break), 0 errors"
        ),
        "{out}"
    );
    assert!(
        out.contains("  none featureset: 1 flavour, 1 CRC changed, 1 added (amd64_none_amd64)"),
        "{out}"
    );
    assert!(out.contains("  whole featureset lost: amd64 rt"), "{out}");
}

#[test]
fn timeline_counts_states_under_one_name() {
    let r = story();
    let (code, out, _) = abibot_on("timeline", &r, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("ABI 6.1.0-47 named 3 different ABIs (amd64_none_amd64: 3 states)"),
        "{out}"
    );
    assert_eq!(out.matches("[incompatible]").count(), 2, "{out}");
    let (_, json, _) = abibot_on("timeline", &r, &["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["abis"][0]["abi"], "6.1.0-47");
    assert_eq!(
        doc["abis"][0]["flavours"]["amd64_none_amd64"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        doc["abis"][0]["flavours"]["amd64_rt_amd64"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, md, _) = abibot_on("timeline", &r, &["--format", "markdown"]);
    assert!(
        md.contains("**ABI `6.1.0-47` named 3 different ABIs (`amd64_none_amd64`: 3 states)**"),
        "{md}"
    );
    assert_eq!(md.matches("| `amd64_none_amd64` |").count(), 3, "{md}");
    assert_eq!(md.matches(" | yes |").count(), 2, "{md}");
}

#[test]
fn scan_errors_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = abibot(&["scan", "--repo", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open git repository"), "{err}");
    let r = story();
    let (code, _, err) = abibot_on("scan", &r, &["--branch", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("revision \"nope\""), "{err}");
}

#[test]
fn scan_never_touches_the_work_tree_or_index() {
    let r = story();
    let index = std::fs::read(r.path().join(".git/index")).unwrap();
    let (code, _, _) = abibot_on("scan", &r, &[]);
    assert_eq!(code, 1);
    assert_eq!(std::fs::read(r.path().join(".git/index")).unwrap(), index);
    let entries: Vec<_> = std::fs::read_dir(r.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from(".git")]);
}

#[test]
fn a_repository_without_references_is_an_error_not_a_clean_bill() {
    let r = TestRepo::new();
    r.write("README", "just code");
    r.commit("no packaging here");
    let (code, _, err) = abibot_on("scan", &r, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no ABI reference layout found"), "{err}");
}
