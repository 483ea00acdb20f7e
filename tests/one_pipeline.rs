//! One pipeline, one truth: `scan` (JSON and Markdown), `scan --post`
//! (file sink), `timeline` and the daemon (`--once`, file sink) run on the
//! same repository, described once by flags and once by a `[[repo]]`, and
//! report the same findings with the same ids and the same comment bodies;
//! `timeline` marks incompatible exactly what `scan` calls hidden breaks.
//!
//! The repository makes every part of the description matter: the
//! packaging sits two levels down (`pkg/linux`, where detection does not
//! look), a configuration `ignore` rule and a Debian `ignore-changes` rule
//! each silence one change, and a watched module is broken by the refresh.
//! It also holds the cases folded in from the former `post_agrees.rs` and
//! `timeline_agrees.rs`: what `scan --post` refuses, and the exit-code
//! contract `scan` and `timeline` share.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{TestRepo, abibot, changelog, daemon_once_then_post, debian_repo, defines, symvers};

const FAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/fat.ko"
);
/// Two levels down: only a root given by the description finds it.
const ROOT: &str = "pkg/linux";
const F1: &str = "amd64_none_amd64";
const F2: &str = "amd64_none_cloud-amd64";
/// Silenced by the configuration's `ignore` (and `scan --ignore`).
const CFG_IGNORED: &str = "cfg_ignored_sym";
/// Silenced by `ignore-changes` in `debian/config/defines`.
const DEB_IGNORED: &str = "deb_ignored_sym";

/// Three symbols `fat.ko` imports, read from the module itself.
fn fat_imports() -> Vec<String> {
    let modules = abibot::history::scan::WatchedModule::read(&[PathBuf::from(FAT)]).unwrap();
    modules[0].imports.iter().take(3).cloned().collect()
}

/// A reference holding `fat.ko`'s imports and three other symbols, every
/// CRC 1 except those in `changed` (CRC 9).
fn reference(imports: &[String], changed: &[&str]) -> String {
    let mut names: Vec<&str> = imports.iter().map(String::as_str).collect();
    names.extend([CFG_IGNORED, DEB_IGNORED, "other_sym"]);
    let symbols: Vec<(&str, u32)> = names
        .iter()
        .map(|n| (*n, if changed.contains(n) { 9 } else { 1 }))
        .collect();
    symvers(&symbols)
}

fn at(path: &str) -> String {
    format!("{ROOT}/debian/{path}")
}

/// Release; two changes each silenced by one rule; a refresh breaking
/// `fat.ko` in one flavour and `other_sym` in the other (hidden break); one
/// flavour's reference dropped (coverage lost); a bump to 50 whose reference
/// changes another import (bump). Returns the repository and its branch.
fn history() -> (TestRepo, String) {
    let imports = fat_imports();
    let (i1, i2) = (imports[0].as_str(), imports[1].as_str());
    let r = TestRepo::new();
    r.write(&at("changelog"), changelog("6.1.170-3", "a"));
    r.write(&at("config/defines"), defines("47", &[DEB_IGNORED]));
    let (ref1, ref2) = (
        at(&format!("abi/6.1.0-47/{F1}")),
        at(&format!("abi/6.1.0-47/{F2}")),
    );
    r.write(&ref1, reference(&imports, &[]));
    r.write(&ref2, reference(&imports, &[]));
    r.commit("Release 6.1.170-3");
    r.write(&ref1, reference(&imports, &[CFG_IGNORED]));
    r.commit("Touch the configuration's ignored symbol");
    r.write(&ref1, reference(&imports, &[CFG_IGNORED, DEB_IGNORED]));
    r.commit("Touch the Debian ignored symbol");
    r.write(&ref1, reference(&imports, &[CFG_IGNORED, DEB_IGNORED, i1]));
    r.write(&ref2, reference(&imports, &["other_sym"]));
    r.commit("Refresh ABI reference files");
    r.remove(&ref2);
    r.commit("Drop the cloud reference");
    r.write(&at("changelog"), changelog("6.1.171-1", "b"));
    r.write(&at("config/defines"), defines("50", &[DEB_IGNORED]));
    r.remove(&ref1);
    r.write(
        &at(&format!("abi/6.1.0-50/{F1}")),
        reference(&imports, &[CFG_IGNORED, DEB_IGNORED, i1, i2]),
    );
    r.commit("Bump ABI to 6.1.0-50");
    let git = git2::Repository::open(r.path()).unwrap();
    let branch = git.head().unwrap().shorthand().unwrap().to_owned();
    (r, branch)
}

/// A configuration watching `repo` (backfill) as `history` needs it,
/// posting to a file sink; returns its path and the sink's.
fn config(dir: &Path, tag: &str, repo: &Path, branches: &[&str]) -> (PathBuf, PathBuf) {
    let extra = format!(
        "layout = \"debian\"\nroot = \"{ROOT}\"\nignore = [\"name:{CFG_IGNORED}\"]\nmodules = [\"{FAT}\"]"
    );
    common::file_sink_config(dir, tag, repo, branches, &extra)
}

/// What the daemon (`--once`) and `scan --post` left, each run on `repo`
/// watching `branches` with a configuration, state and file sink of its own.
struct Both {
    _dir: tempfile::TempDir,
    daemon_config: PathBuf,
    daemon_sink: PathBuf,
    post_json: String,
    post_sink: PathBuf,
}

fn daemon_and_post(repo: &TestRepo, branches: &[&str]) -> Both {
    let dir = tempfile::tempdir().unwrap();
    let (daemon_config, daemon_sink) = config(dir.path(), "daemon", repo.path(), branches);
    let (post_config, post_sink) = config(dir.path(), "post", repo.path(), branches);
    let post_json = daemon_once_then_post(&daemon_config, &post_config);
    Both {
        _dir: dir,
        daemon_config,
        daemon_sink,
        post_json,
        post_sink,
    }
}

/// The flags describing what the configuration describes.
fn flags(repo: &TestRepo) -> Vec<String> {
    let ignore = format!("name:{CFG_IGNORED}");
    let repo = repo.path().to_str().unwrap();
    [
        "--repo",
        repo,
        "--root",
        ROOT,
        "--layout",
        "debian",
        "--ignore",
        &ignore,
        "--repo-name",
        "linux",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs abibot with `args` then `more`.
fn run(args: &[&str], more: &[String]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(more.iter().map(String::as_str));
    abibot(&all)
}

/// A finding as JSON lists it: id -> (commit, kind).
type Listed = BTreeMap<String, (String, String)>;

fn listed(json: &str) -> Listed {
    let doc: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (text(&f["id"]), (text(&f["commit"]), text(&f["kind"]))))
        .collect()
}

/// The id in a comment body's marker.
fn marked_id(body: &str) -> String {
    let (_, rest) = body.split_once("<!-- abibot:finding=").expect(body);
    rest.split_once(" -->").unwrap().0.to_owned()
}

/// A file sink's comments: id -> (commit, body).
fn posted(sink: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(sink).unwrap_or_else(|e| panic!("{}: {e}", sink.display()));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let body = v["body"].as_str().unwrap().to_owned();
            (
                marked_id(&body),
                (v["commit"].as_str().unwrap().to_owned(), body),
            )
        })
        .collect()
}

/// The daemon's record (`state list`): id -> (short commit, kind, status).
fn recorded(config: &Path) -> BTreeMap<String, (String, String, String)> {
    let (code, out, err) = abibot(&["state", "list", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let col = |i: usize| cols[i].to_owned();
            (col(0), (col(2), col(3), col(4)))
        })
        .collect()
}

/// (commit, flavour) of every state `timeline` marks incompatible.
fn timeline_breaks(json: &str) -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut out = BTreeSet::new();
    for abi in doc["abis"].as_array().unwrap() {
        for (flavour, states) in abi["flavours"].as_object().unwrap() {
            for s in states.as_array().unwrap() {
                if s["incompatible"] == true {
                    out.insert((s["commit"].as_str().unwrap().to_owned(), flavour.clone()));
                }
            }
        }
    }
    out
}

/// (commit, flavour) of every hidden break in a scan's JSON.
fn scan_breaks(json: &str) -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut out = BTreeSet::new();
    for f in doc["findings"].as_array().unwrap() {
        if f["kind"] == "hidden-break" {
            for fl in f["flavours"].as_array().unwrap() {
                let commit = f["commit"].as_str().unwrap().to_owned();
                out.insert((commit, fl["flavour"].as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_command_and_the_daemon_report_the_same_findings() {
    let (repo, branch) = history();
    let flags = flags(&repo);

    let (code, json, err) = run(&["scan", "--format", "json", "--module", FAT], &flags);
    assert_eq!(code, 1, "{err}");
    let scanned = listed(&json);
    let kinds: BTreeSet<&str> = scanned.values().map(|(_, k)| k.as_str()).collect();
    for kind in ["hidden-break", "coverage-lost", "bump"] {
        assert!(kinds.contains(kind), "{kind} missing: {json}");
    }
    // Neither ignored change is a finding: only the refresh and later are.
    let titles = json.matches("\"title\": \"Touch").count();
    assert_eq!(titles, 0, "{json}");
    // Each part of the description matters: without the configuration's
    // rule its change is a finding; without the root nothing is found.
    let without = |flag: &str| -> Vec<String> {
        let at = flags.iter().position(|f| f == flag).unwrap();
        [&flags[..at], &flags[at + 2..]].concat()
    };
    let (_, unruled, _) = run(&["scan", "--format", "json"], &without("--ignore"));
    assert!(
        unruled.contains("Touch the configuration's ignored symbol"),
        "{unruled}"
    );
    let (code, rootless, _) = run(&["scan", "--format", "json"], &without("--root"));
    assert_eq!((code, listed(&rootless).len()), (0, 0), "{rootless}");
    let (code, markdown, err) = run(&["scan", "--format", "markdown", "--module", FAT], &flags);
    assert_eq!(code, 1, "{err}");
    assert!(markdown.contains("**Breaks `fat.ko`**"), "{markdown}");

    let both = daemon_and_post(&repo, &[&branch]);
    let (daemon_config, daemon_sink) = (&both.daemon_config, &both.daemon_sink);

    // Same findings, same ids: scan, scan --post and the daemon's record.
    assert_eq!(listed(&both.post_json), scanned);
    let record = recorded(daemon_config);
    let record_ids: BTreeSet<&String> = record.keys().collect();
    assert_eq!(record_ids, scanned.keys().collect(), "{record:#?}");
    for (id, (short, kind, _)) in &record {
        let (commit, scanned_kind) = &scanned[id];
        assert!(
            commit.starts_with(short.as_str()) && kind == scanned_kind,
            "{id}"
        );
    }

    // Same comments: every problem the daemon recorded, posted by both
    // with identical bodies, each of them in scan's Markdown.
    let daemon = posted(daemon_sink);
    let problems: BTreeSet<&String> = record
        .iter()
        .filter(|(_, (_, _, status))| status != "info")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(daemon.keys().collect::<BTreeSet<_>>(), problems);
    assert_eq!(posted(&both.post_sink), daemon);
    for (id, (commit, body)) in &daemon {
        assert_eq!(commit, &scanned[id].0);
        assert!(
            markdown.contains(body.as_str()),
            "scan's Markdown lacks:\n{body}"
        );
    }

    // timeline: the same verdict (exit 1) on the same states.
    let (code, timeline, err) = run(&["timeline", "--format", "json"], &flags);
    assert_eq!(code, 1, "{err}");
    let breaks = timeline_breaks(&timeline);
    assert!(!breaks.is_empty());
    assert_eq!(breaks, scan_breaks(&json), "{timeline}");
}

#[test]
fn scan_post_walks_every_configured_branch_as_the_daemon_does() {
    let (repo, main) = history();
    // A side branch from the head, with one more break of its own.
    let git = &repo.repo;
    let head = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("side", &head, false).unwrap();
    git.set_head("refs/heads/side").unwrap();
    let imports = fat_imports();
    let changed = [
        CFG_IGNORED,
        DEB_IGNORED,
        &imports[0],
        &imports[1],
        "other_sym",
    ];
    repo.write(
        &at(&format!("abi/6.1.0-50/{F1}")),
        reference(&imports, &changed),
    );
    let side = repo.commit("Side refresh").to_string();
    let both = daemon_and_post(&repo, &[&main, "side"]);
    let json = &both.post_json;
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    // The shared history's findings once each, and the side branch's.
    assert_eq!(ids.len(), listed(json).len(), "an id twice: {json}");
    let record = recorded(&both.daemon_config);
    assert_eq!(
        listed(json).keys().collect::<Vec<_>>(),
        record.keys().collect::<Vec<_>>()
    );
    assert!(
        listed(json).values().any(|(commit, _)| commit == &side),
        "{json}"
    );
    assert_eq!(posted(&both.post_sink), posted(&both.daemon_sink));
}

/// The commits after `since` up to the head, as the walk sees them.
fn commits_after(repo: &TestRepo, since: git2::Oid) -> BTreeSet<String> {
    let mut walk = repo.repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.hide(since).unwrap();
    walk.map(|c| c.unwrap().to_string()).collect()
}

#[test]
fn scan_post_since_posts_what_the_daemon_found_after_it() {
    let (repo, branch) = history();
    let both = daemon_and_post(&repo, &[&branch]);
    let refresh = repo
        .repo
        .revparse_single(":/Refresh ABI reference files")
        .unwrap()
        .id();
    let later = commits_after(&repo, refresh);
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = config(dir.path(), "since", repo.path(), &[&branch]);
    let since = refresh.to_string();
    let args = ["--config", config.to_str().unwrap(), "--since", &since];
    let (code, json, err) = run(
        &["scan", "--post", "--format", "json"],
        &args.map(str::to_owned),
    );
    assert_eq!(code, 1, "{err}");
    let mut expected = listed(&both.post_json);
    expected.retain(|_, (commit, _)| later.contains(commit));
    assert!(!expected.is_empty() && expected.len() < listed(&both.post_json).len());
    assert_eq!(listed(&json), expected);
    let mut comments = posted(&both.daemon_sink);
    comments.retain(|_, (commit, _)| later.contains(commit));
    assert_eq!(posted(&sink), comments);
}

#[test]
fn scan_post_refuses_flags_that_would_walk_differently() {
    let (repo, branch) = history();
    let dir = tempfile::tempdir().unwrap();
    let (config, sink) = config(dir.path(), "post", repo.path(), &[&branch]);
    let config = config.to_str().unwrap();
    for extra in [
        &["--repo", repo.path().to_str().unwrap()][..],
        &["--root", ROOT],
        &["--branch", &branch],
        &["--ignore", "kfree"],
        &["--module", FAT],
    ] {
        let mut args = vec!["scan", "--post", "--config", config];
        args.extend_from_slice(extra);
        let (code, _, err) = abibot(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains("cannot be used with"), "{extra:?}: {err}");
    }
    assert!(!sink.exists(), "nothing posted");
}

#[test]
fn scan_post_refuses_a_repository_fetched_from_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("url.toml");
    let text = format!(
        "state = \"{}\"\n[[repo]]\nname = \"linux\"\nurl = \"https://salsa.debian.org/kernel-team/linux.git\"\n\
         branches = [\"master\"]\n[repo.file]\npath = \"{}\"\n",
        dir.path().join("s.sqlite").display(),
        dir.path().join("sink.jsonl").display(),
    );
    std::fs::write(&config, text).unwrap();
    let (code, _, err) = abibot(&["scan", "--post", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fetched from a url"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

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

/// Runs `command` on `repo` with JSON output: exit code, document.
fn json(command: &str, repo: &TestRepo) -> (i32, serde_json::Value) {
    let path = repo.path().to_str().unwrap();
    let (code, out, err) = abibot(&[command, "--repo", path, "--format", "json"]);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, doc)
}

#[test]
fn a_debian_ignore_rule_gives_one_verdict() {
    for (changed, code) in [("kmalloc", 0), ("kfree", 1)] {
        let repo = refresh_repo(changed, &["kmalloc"]);
        let (scan_code, scan) = json("scan", &repo);
        let (timeline_code, timeline) = json("timeline", &repo);
        assert_eq!(
            (scan_code, timeline_code),
            (code, code),
            "{scan}\n{timeline}"
        );
        assert_eq!(
            scan_breaks(&scan.to_string()),
            timeline_breaks(&timeline.to_string())
        );
    }
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
        // JSON too: exit 2, the error in the document's `errors`.
        let (code, doc) = json(command, &repo);
        assert_eq!(code, 2, "{command}: {doc}");
        assert_eq!(doc["errors"][0]["path"], REFERENCE, "{command}: {doc}");
        assert_eq!(doc["errors"][0]["severity"], "error", "{command}: {doc}");
    }
}

#[test]
fn garbage_in_the_middle_is_listed_not_fatal() {
    let (repo, garbage) = garbage_repo(true);
    for command in ["scan", "timeline"] {
        let (code, doc) = json(command, &repo);
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
