//! `abibot compat MODULE.ko... --repo R`: where real bookworm modules load
//! along a repository built from Debian's real references (ABI 6.1.0-47,
//! a bump to 6.1.0-50, a hidden break of three of fat.ko's imports under
//! 6.1.0-50, its revert), checked against `check-module --repo --rev` at
//! every distinct state.

mod common;

use std::collections::HashSet;

use common::{
    FAT_KO, FLAVOURS, TestRepo, abi_file, abibot, changelog, debian_repo, defines,
    write_real_references,
};
use git2::Oid;
use serde_json::Value;

const MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/"
);

fn module(name: &str) -> String {
    format!("{MODULES}{name}")
}

const AMD64: &str = "debian/abi/6.1.0-50/amd64_none_amd64";

/// The first three symbols fat.ko imports with a CRC (module_layout aside).
fn three_fat_imports() -> Vec<String> {
    let options = abibot::elf::ReadOptions::default();
    let infos = abibot::elf::read_paths(&[FAT_KO.into()], &options).unwrap();
    infos[0]
        .versions
        .iter()
        .map(|v| v.name.to_string())
        .filter(|n| n != "module_layout")
        .take(3)
        .collect()
}

/// 6.1.0-50's real amd64 reference with the CRCs of `names` changed.
fn broken_amd64(names: &[String]) -> String {
    let real = String::from_utf8(abi_file("6.1.0-50", "amd64_none_amd64")).unwrap();
    let mut changed = 0;
    let lines: Vec<String> = real
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if !names.iter().any(|n| n == fields[1]) {
                return line.to_owned();
            }
            changed += 1;
            let crc = u32::from_str_radix(&fields[0][2..], 16).unwrap() ^ 0x5a5a;
            format!("0x{crc:08x}\t{}", fields[1..].join("\t"))
        })
        .collect();
    assert_eq!(changed, names.len(), "every name is in the reference");
    lines.join("\n") + "\n"
}

/// The commits of the test history.
struct History {
    r: TestRepo,
    release: Oid,
    bump: Oid,
    hidden: Oid,
    later: Oid,
    revert: Oid,
}

/// ABI 6.1.0-47 released, an unrelated commit, the bump to 6.1.0-50 (real
/// references of both), a refresh changing three CRCs fat.ko imports
/// under 6.1.0-50 (a hidden break), an unrelated commit, its revert.
fn history() -> History {
    let r = debian_repo();
    write_real_references(&r, "6.1.0-47", "6.1.0-47");
    let release = r.commit("Release 6.1.170-3");
    r.write("debian/changelog", changelog("6.1.170-3", "more"));
    r.commit("Unrelated: changelog");
    r.remove("debian/abi/6.1.0-47");
    write_real_references(&r, "6.1.0-50", "6.1.0-50");
    r.write("debian/config/defines", defines("50", &[]));
    r.write("debian/changelog", changelog("6.1.176-1", "bump"));
    let bump = r.commit("Bump ABI to 6.1.0-50");
    r.write(AMD64, broken_amd64(&three_fat_imports()));
    let hidden = r.commit("Refresh ABI reference files");
    r.write("debian/changelog", changelog("6.1.176-1", "later"));
    let later = r.commit("Unrelated: changelog again");
    r.write(AMD64, abi_file("6.1.0-50", "amd64_none_amd64"));
    let revert = r.commit("Revert \"Refresh ABI reference files\"");
    History {
        r,
        release,
        bump,
        hidden,
        later,
        revert,
    }
}

fn repo_path(r: &TestRepo) -> &str {
    r.path().to_str().unwrap()
}

/// `abibot compat MODULES... --repo R EXTRA...`.
fn compat(r: &TestRepo, modules: &[String], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["compat"];
    args.extend(modules.iter().map(String::as_str));
    args.extend(["--repo", repo_path(r)]);
    args.extend(extra);
    abibot(&args)
}

fn compat_json(r: &TestRepo, modules: &[String], extra: &[&str]) -> (i32, Value) {
    let (code, out, err) = compat(r, modules, &[extra, &["--format", "json"]].concat());
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, doc)
}

/// `check-module`'s JSON verdict on `module` at `rev` for `flavour`.
fn check_module_at(r: &TestRepo, module: &str, rev: &str, flavour: &str) -> Value {
    let (code, out, err) = abibot(&[
        "check-module",
        module,
        "--repo",
        repo_path(r),
        "--rev",
        rev,
        "--flavour",
        flavour,
        "--format",
        "json",
    ]);
    assert!(code == 0 || code == 1, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn errors_in(findings: &Value) -> usize {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .count()
}

/// Every state of every module entry has check-module's verdict at its
/// first commit: loads, the number of errors, the very findings.
fn agrees_with_check_module(r: &TestRepo, doc: &Value) -> usize {
    let mut compared = 0;
    for entry in doc["modules"].as_array().unwrap() {
        let flavour = entry["flavour"].as_str().unwrap();
        let module = entry["module"].as_str().unwrap();
        for state in entry["states"].as_array().unwrap() {
            let commit = state["commit"].as_str().unwrap();
            let verdict = check_module_at(r, module, commit, flavour);
            let there = &verdict["modules"][0];
            let at = format!("{module} {flavour} at {commit}");
            assert_eq!(state["loads"], there["loads"], "{at}");
            assert_eq!(state["problems"], errors_in(&there["findings"]), "{at}");
            assert_eq!(state["findings"], there["findings"], "{at}");
            compared += 1;
        }
    }
    compared
}

/// (ABI, commit, loads, problems, returns_to) of each state.
fn states_of(entry: &Value) -> Vec<(String, String, bool, u64, Option<u64>)> {
    entry["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["abi"].as_str().unwrap().to_owned(),
                s["commit"].as_str().unwrap().to_owned(),
                s["loads"].as_bool().unwrap(),
                s["problems"].as_u64().unwrap(),
                s["returns_to"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn every_state_of_every_module_is_check_modules_verdict_there() {
    let h = history();
    let modules = [module("fat.ko"), module("vfat.ko"), module("uas.ko")];
    let (code, doc) = compat_json(&h.r, &modules, &[]);
    assert_eq!(code, 0, "all load at the end (the revert): {doc}");
    assert_eq!(doc["loads_at_end"], true);
    let entries = doc["modules"].as_array().unwrap();
    // vermagic 6.1.0-50-amd64 names the amd64 flavour only.
    assert_eq!(entries.len(), 3, "{doc}");
    assert!(entries.iter().all(|e| e["flavour"] == "amd64_none_amd64"));
    assert!(entries.iter().all(|e| e["chosen_by"] == "vermagic"));
    let sha = |c: Oid| c.to_string();
    let fat = states_of(&entries[0]);
    assert_eq!(
        fat.iter()
            .map(|(abi, c, l, _, r)| (abi.as_str(), c.clone(), *l, *r))
            .collect::<Vec<_>>(),
        [
            ("6.1.0-47", sha(h.release), false, None),
            ("6.1.0-50", sha(h.bump), true, None),
            ("6.1.0-50", sha(h.hidden), false, None),
            ("6.1.0-50", sha(h.revert), true, Some(1)),
        ]
    );
    assert_eq!(fat[2].3, 3, "three imported symbols changed");
    let fat_states = &entries[0]["states"];
    assert_eq!(fat_states[1]["until"], sha(h.hidden));
    assert_eq!(fat_states[2]["until"], sha(h.revert));
    assert_eq!(fat_states[2]["incompatible"], true, "the hidden break");
    assert!(fat_states[3]["until"].is_null());
    assert_eq!(entries[0]["end"]["abi"], "6.1.0-50");
    assert_eq!(agrees_with_check_module(&h.r, &doc), 12);
}

#[test]
fn given_flavours_are_checked_at_their_own_states() {
    let h = history();
    let modules = [module("fat.ko"), module("usb-storage.ko")];
    let extra = [
        "--flavour",
        "amd64_rt_amd64",
        "--flavour",
        "amd64_none_amd64",
    ];
    let (code, doc) = compat_json(&h.r, &modules, &extra);
    assert_eq!(code, 1, "the rt flavour's CRCs are not amd64's: {doc}");
    let entries = doc["modules"].as_array().unwrap();
    let flavours: Vec<&str> = entries
        .iter()
        .map(|e| e["flavour"].as_str().unwrap())
        .collect();
    assert_eq!(
        flavours,
        [
            "amd64_none_amd64",
            "amd64_rt_amd64",
            "amd64_none_amd64",
            "amd64_rt_amd64"
        ]
    );
    assert!(entries.iter().all(|e| e["chosen_by"] == "flavour"));
    let rt = states_of(&entries[1]);
    assert_eq!(rt.len(), 2, "47 and 50: the refresh left rt alone");
    assert_eq!(entries[1]["loads_at_end"], false);
    assert_eq!(agrees_with_check_module(&h.r, &doc), 12);
}

#[test]
fn a_module_that_stops_loading_says_where_and_why() {
    let h = history();
    let hidden = h.hidden.to_string();
    let (code, out, err) = compat(&h.r, &[FAT_KO.to_owned()], &["--branch", &hidden]);
    assert_eq!(code, 1, "{out}{err}");
    let short = |c: Oid| c.to_string()[..12].to_owned();
    let story = format!(
        "6.1.0-50 loads from {}; not from {} on (3 imported symbols changed: 3 CRC mismatches)",
        short(h.bump),
        short(h.hidden)
    );
    assert!(out.contains(&story), "{out}");
    assert!(out.contains("6.1.0-47 never loads ("), "{out}");
    assert!(
        out.contains("at the end: does NOT load on 6.1.0-50"),
        "{out}"
    );
    assert!(out.contains("[hidden break]"), "{out}");
    let (_, md, _) = compat(
        &h.r,
        &[FAT_KO.to_owned()],
        &["--branch", &hidden, "--format", "markdown"],
    );
    assert!(md.starts_with("## abibot compat\n"), "{md}");
    let row = format!("| `6.1.0-50` | 2 | `{}` | **no** |", short(h.hidden));
    assert!(md.contains(&row), "{md}");
}

#[test]
fn a_range_reports_the_states_it_introduces_and_the_end() {
    let h = history();
    let range = format!("{}..{}", h.bump, h.hidden);
    let (code, doc) = compat_json(&h.r, &[FAT_KO.to_owned()], &["--range", &range]);
    assert_eq!(code, 1, "{doc}");
    let fat = states_of(&doc["modules"][0]);
    assert_eq!(fat.len(), 1, "only the hidden break is in the range: {doc}");
    assert_eq!(fat[0].1, h.hidden.to_string());
    assert_eq!(doc["modules"][0]["end"]["loads"], false);
    // A range whose one commit touches the packaging (the changelog) shows
    // the state in force there, as timeline does: a return to the break.
    let range = format!("{}..{}", h.hidden, h.later);
    let (code, doc) = compat_json(&h.r, &[FAT_KO.to_owned()], &["--range", &range]);
    assert_eq!(code, 1, "{doc}");
    let fat = states_of(&doc["modules"][0]);
    assert_eq!(
        fat,
        [("6.1.0-50".into(), h.later.to_string(), false, 3, Some(2))]
    );
    // A range touching nothing the layout reads has no state, but its end
    // (the revert's reference, made before the range) is still judged.
    h.r.write("README", "not packaging\n");
    let readme = h.r.commit("README");
    let range = format!("{}..{readme}", h.revert);
    let (code, doc) = compat_json(&h.r, &[FAT_KO.to_owned()], &["--range", &range]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["modules"][0]["states"], serde_json::json!([]));
    assert_eq!(doc["modules"][0]["end"]["loads"], true, "{doc}");
    assert_eq!(doc["stats"]["checks"], 1, "{doc}");
    let range = format!("{}..{}", h.revert, h.revert);
    let (code, _, err) = compat(&h.r, &[FAT_KO.to_owned()], &["--range", &range]);
    assert_eq!(code, 2, "an empty range walks nothing: {err}");
}

#[test]
fn one_check_per_module_and_distinct_reference_blob() {
    let h = history();
    let broken = broken_amd64(&three_fat_imports());
    // Ten more commits flipping between the same two blobs.
    for round in 0..5 {
        h.r.write(AMD64, &broken);
        h.r.commit(&format!("Refresh again {round}"));
        h.r.write(AMD64, abi_file("6.1.0-50", "amd64_none_amd64"));
        h.r.commit(&format!("Revert again {round}"));
    }
    let modules = [module("fat.ko"), module("vfat.ko")];
    let (code, doc) = compat_json(&h.r, &modules, &[]);
    assert_eq!(code, 0, "{doc}");
    let stats = &doc["stats"];
    assert_eq!(stats["commits"], 16);
    // Per module 14 states (4, then 10 returns) over 3 distinct blobs of
    // amd64_none_amd64 (47, 50, 50 broken): 3 checks each, not 14 or 16.
    assert_eq!(stats["states"], 28, "{stats}");
    assert_eq!(stats["checks"], 6, "{stats}");
    let blobs: HashSet<&str> = doc["modules"][0]["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["content"].as_str().unwrap())
        .collect();
    assert_eq!(blobs.len(), 3);
}

#[test]
fn bad_input_is_exit_2_naming_the_file_revision_or_flavour() {
    let h = history();
    let missing = format!("{MODULES}nvidia.ko");
    let (code, _, err) = compat(&h.r, std::slice::from_ref(&missing), &[]);
    assert_eq!(code, 2);
    assert!(err.contains(&missing), "{err}");
    let fat = [FAT_KO.to_owned()];
    let (code, _, err) = compat(&h.r, &fat, &["--range", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("--range \"nope\": expected A..B"), "{err}");
    let (code, _, err) = compat(&h.r, &fat, &["--range", "nope..HEAD"]);
    assert_eq!(code, 2);
    assert!(err.contains("revision \"nope\""), "{err}");
    let (code, _, err) = compat(&h.r, &fat, &["--flavour", "arm64_none_arm64"]);
    assert_eq!(code, 2);
    let listed = FLAVOURS.join(", ");
    assert!(
        err.contains(&format!(
            "flavour arm64_none_arm64 has no reference in the range (flavours there: {listed})"
        )),
        "{err}"
    );
    let (code, _, err) = abibot(&["compat", FAT_KO, "--repo", "/nonexistent/abibot-repo"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/abibot-repo"), "{err}");
}

#[test]
fn a_module_whose_vermagic_names_no_flavour_is_told_to_choose() {
    let r = debian_repo();
    r.write(
        "debian/abi/6.1.0-47/amd64_rt_amd64",
        abi_file("6.1.0-47", "amd64_rt_amd64"),
    );
    r.commit("Release: rt only");
    let (code, _, err) = compat(&r, &[FAT_KO.to_owned()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("fat.ko: its vermagic \"6.1.0-50-amd64 SMP preempt mod_unload modversions \" names no flavour"),
        "{err}"
    );
    assert!(err.contains("choose with --flavour"), "{err}");
}

#[test]
fn repository_strings_cannot_act_in_text_or_markdown() {
    let h = history();
    h.r.write(AMD64, broken_amd64(&three_fat_imports()));
    h.r.commit("Refresh \u{1b}[31m<b>@team</b> | x");
    let fat = [FAT_KO.to_owned()];
    let (code, out, _) = compat(&h.r, &fat, &[]);
    assert_eq!(code, 1);
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.contains("\\u{1b}[31m"), "{out}");
    let (_, md, _) = compat(&h.r, &fat, &["--format", "markdown"]);
    let row = md.lines().find(|l| l.contains("@team")).unwrap();
    let unescaped = row.matches('|').count() - row.matches("\\|").count();
    assert_eq!(unescaped, 8, "a | cannot split the row: {row}");
    assert!(
        row.ends_with("| `Refresh \\u{1b}[31m<b>@team</b> \\| x` |"),
        "{row}"
    );
}

#[test]
fn a_damaged_reference_at_the_end_is_exit_2_naming_commit_file_and_line() {
    let h = history();
    h.r.write(
        AMD64,
        "0x00000001\tfoo\tvmlinux\tEXPORT_SYMBOL\t\nbroken line\n",
    );
    let bad = h.r.commit("Broken refresh");
    let (code, out, err) = compat(&h.r, &[FAT_KO.to_owned()], &[]);
    assert_eq!(code, 2, "{out}{err}");
    let short = &bad.to_string()[..12];
    assert!(
        err.contains(&format!(
            "the current state ({short}) is unreadable: {AMD64}: "
        )),
        "{err}"
    );
    assert!(err.contains(":2: "), "{err}");
    // Before the damage the answer stands: the states up to the revert.
    let (code, doc) = compat_json(&h.r, &[FAT_KO.to_owned()], &["--branch", "HEAD~1"]);
    assert_eq!(code, 0, "{doc}");
}

/// Debian's scale: 30 flavours over 1,000 commits that all touch the
/// changelog, each flavour broken (three of fat.ko's imports) and reverted
/// in its turn. Each flavour goes through three states (the break its only
/// failure) and the whole history takes one check per distinct blob: two.
#[test]
fn thirty_flavours_over_a_thousand_commits_take_one_check_per_blob() {
    let flavours: Vec<String> = (0..30).map(|i| format!("amd64_none_f{i:02}")).collect();
    let real = abi_file("6.1.0-50", "amd64_none_amd64");
    let broken = broken_amd64(&three_fat_imports());
    let r = debian_repo();
    r.write("debian/config/defines", defines("50", &[]));
    for f in &flavours {
        r.write(&format!("debian/abi/6.1.0-50/{f}"), &real);
    }
    r.write("debian/changelog", changelog("6.1.176-1", "release"));
    r.commit("Release 6.1.176-1");
    for n in 0..999 {
        let (f, at) = (&flavours[n / 33 % 30], n % 33);
        let path = format!("debian/abi/6.1.0-50/{f}");
        if at == 10 {
            r.write(&path, &broken);
        } else if at == 15 {
            r.write(&path, &real);
        }
        r.write("debian/changelog", changelog("6.1.176-1", &format!("c{n}")));
        r.commit(&format!("Commit {n}"));
    }
    let mut extra = vec![];
    for f in &flavours {
        extra.extend(["--flavour", f.as_str()]);
    }
    let (code, doc) = compat_json(&r, &[FAT_KO.to_owned()], &extra);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["stats"]["commits"], 1000, "{}", doc["stats"]);
    assert_eq!(doc["stats"]["checks"], 2, "{}", doc["stats"]);
    let entries = doc["modules"].as_array().unwrap();
    assert_eq!(entries.len(), 30);
    for entry in entries {
        let states = entry["states"].as_array().unwrap();
        let verdicts: Vec<(bool, u64)> = states
            .iter()
            .map(|s| {
                (
                    s["loads"].as_bool().unwrap(),
                    s["problems"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(verdicts, [(true, 0), (false, 3), (true, 0)], "{entry}");
    }
}
