//! `scan --post --config F` and the daemon read the same repository
//! description (layout, root, ignore rules, watched modules) from the
//! configuration, so on the same history they post the same findings with
//! the same ids and identical bodies.

mod common;

use std::path::{Path, PathBuf};

use common::{TestRepo, abi_file, abibot, changelog, defines};

const FAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/fat.ko"
);
/// The packaging sits two levels down, where detection does not look.
const ROOT: &str = "pkg/linux";
const REF: &str = "pkg/linux/debian/abi/6.1.0-47/amd64_none_amd64";

/// A release, a change to `register_netdev` only (ignored by the
/// configuration), then a refresh that breaks `fat.ko`'s imports.
fn history() -> (TestRepo, String) {
    let r = TestRepo::new();
    r.write(
        &format!("{ROOT}/debian/changelog"),
        changelog("6.1.170-3", "a"),
    );
    r.write(&format!("{ROOT}/debian/config/defines"), defines("47", &[]));
    let old = String::from_utf8(abi_file("6.1.0-47", "amd64_none_amd64")).unwrap();
    r.write(REF, &old);
    r.commit("Release 6.1.170-3");
    let tweaked = old.replace(
        "0x090c094b\tregister_netdev\t",
        "0x12345678\tregister_netdev\t",
    );
    assert_ne!(tweaked, old);
    r.write(REF, &tweaked);
    r.commit("Touch register_netdev");
    r.write(REF, abi_file("6.1.0-50", "amd64_none_amd64"));
    r.commit("Refresh ABI reference files");
    let head = git2::Repository::open(r.path()).unwrap();
    let branch = head.head().unwrap().shorthand().unwrap().to_owned();
    (r, branch)
}

/// A configuration for `repo` whose comments go to `sink`.
fn config(dir: &Path, tag: &str, repo: &Path, branch: &str) -> (PathBuf, PathBuf) {
    let sink = dir.join(format!("{tag}.jsonl"));
    let text = format!(
        "state = \"{state}\"\n[[repo]]\nname = \"linux\"\npath = \"{repo}\"\n\
         branches = [\"{branch}\"]\nbackfill = true\nlayout = \"debian\"\nroot = \"{ROOT}\"\n\
         ignore = [\"name:register_netdev\"]\nmodules = [\"{FAT}\"]\n[repo.file]\npath = \"{sink}\"\n",
        state = dir.join(format!("{tag}.sqlite")).display(),
        repo = repo.display(),
        sink = sink.display(),
    );
    let path = dir.join(format!("{tag}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, sink)
}

/// The sink's `(commit, body)` records, sorted.
fn posted(sink: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(sink).unwrap_or_else(|e| panic!("{}: {e}", sink.display()));
    let mut lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["commit"].as_str().unwrap().to_owned(),
                v["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn scan_post_and_the_daemon_post_identical_comments() {
    let (repo, branch) = history();
    let dir = tempfile::tempdir().unwrap();
    let (daemon_config, daemon_sink) = config(dir.path(), "daemon", repo.path(), &branch);
    let (scan_config, scan_sink) = config(dir.path(), "scan", repo.path(), &branch);

    let (code, _, err) = abibot(&[
        "daemon",
        "--once",
        "--config",
        daemon_config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let repo_arg = repo.path().to_str().unwrap();
    let (code, out, err) = abibot(&[
        "scan",
        "--post",
        "--config",
        scan_config.to_str().unwrap(),
        "--repo",
        repo_arg,
        "--branch",
        &branch,
    ]);
    assert_eq!(code, 1, "{out}\n{err}");

    let daemon = posted(&daemon_sink);
    let scan = posted(&scan_sink);
    // One comment: the refresh, naming the watched module; the ignored
    // register_netdev change is no finding.
    assert_eq!(daemon.len(), 1, "{daemon:#?}");
    assert!(
        daemon[0].1.contains("**Breaks `fat.ko`**"),
        "{}",
        daemon[0].1
    );
    assert!(!daemon[0].1.contains("register_netdev"), "{}", daemon[0].1);
    assert_eq!(scan, daemon);
}

#[test]
fn scan_ignore_drops_the_changes_it_names() {
    let (repo, branch) = history();
    let repo_arg = repo.path().to_str().unwrap();
    let scan = |extra: &[&str]| {
        let mut args = vec![
            "scan", "--repo", repo_arg, "--branch", &branch, "--root", ROOT, "--format", "json",
        ];
        args.extend_from_slice(extra);
        let (_, out, err) = abibot(&args);
        let doc: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        doc["findings"].as_array().unwrap().len()
    };
    let all = scan(&[]);
    let ignored = scan(&["--ignore", "register_netdev"]);
    assert_eq!(
        ignored + 1,
        all,
        "the register_netdev change is no longer a finding"
    );
}

#[test]
fn scan_post_refuses_a_walk_the_daemon_would_not_make() {
    let (repo, branch) = history();
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = config(dir.path(), "scan", repo.path(), &branch);
    let (code, _, err) = abibot(&[
        "scan",
        "--post",
        "--config",
        config.to_str().unwrap(),
        "--repo",
        repo.path().to_str().unwrap(),
        "--root",
        ROOT,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("drop --layout"), "{err}");
    assert!(!sink.exists(), "nothing posted");
}
