//! `explain`: the type changes behind CRC changes, on real Debian symtypes
//! (6.1.0-47 -> 6.1.0-50, checked against the CRCs genksyms computed) and on
//! small synthetic cases; and `abibot explain` on the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use abibot::explain::{Change, Explanation, explain};
use abibot::symtypes::{self, Symtypes};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/symtypes")
        .join(rel)
}

/// symbol -> CRC as genksyms computed them in the build.
fn genksyms_crcs(version: &str) -> BTreeMap<String, String> {
    let mut text = String::new();
    let file = std::fs::File::open(data(&format!("{version}/symversions.tsv.xz"))).unwrap();
    xz2::read::XzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect()
}

fn real(version: &str) -> Symtypes {
    symtypes::load(&data(&format!("{version}/symtypes.tar.xz"))).unwrap()
}

fn real_explanation() -> Explanation {
    explain(&real("6.1.0-47"), &real("6.1.0-50"))
}

fn cause<'a>(ex: &'a Explanation, key: &str) -> &'a abibot::explain::Cause {
    ex.causes
        .iter()
        .find(|c| c.key == key)
        .unwrap_or_else(|| panic!("no cause {key}"))
}

#[test]
fn real_changes_are_exactly_the_crc_changes() {
    let ex = real_explanation();
    let (old, new) = (genksyms_crcs("6.1.0-47"), genksyms_crcs("6.1.0-50"));
    let crc_changed: BTreeSet<&str> = old
        .iter()
        .filter(|(s, crc)| new.get(*s).is_some_and(|n| n != *crc))
        .map(|(s, _)| s.as_str())
        .collect();
    let explained: BTreeSet<&str> = ex.exports.iter().map(|e| e.symbol.as_str()).collect();
    assert_eq!(crc_changed.len(), 2052);
    assert_eq!(explained, crc_changed);
    assert_eq!(ex.exports.len(), explained.len(), "each export listed once");
    assert!(ex.exports.iter().all(|e| !e.causes.is_empty()));
    assert_eq!(ex.unchanged, 4217 - 2052);
    assert!(ex.added.is_empty() && ex.removed.is_empty());
    // Every cause named by an export is listed, with the right count.
    for c in &ex.causes {
        let n = ex
            .exports
            .iter()
            .filter(|e| e.causes.contains(&c.key))
            .count();
        assert_eq!(c.exports, n, "{}", c.key);
        assert!(
            c.variants.iter().all(|v| !v.changes.is_empty()),
            "{}",
            c.key
        );
    }
}

#[test]
fn real_causes_are_pinned_with_their_member_diff() {
    let ex = real_explanation();
    let task = cause(&ex, "s#task_struct");
    let added: Vec<&str> = task.variants[0]
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Added { member, .. } => Some(member.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(added, ["user_dumpable", "kstack_offset"]);
    assert!(matches!(&cause(&ex, "s#device").variants[0].changes[..],
        [Change::Added { member, text, .. }] if member == "flags" && text.contains("DEV_FLAG_COUNT")));
    assert_eq!(
        cause(&ex, "s#fwnode_handle").variants[0].changes,
        [Change::Changed {
            member: "flags".into(),
            old: "u8 flags".into(),
            new: "unsigned long flags".into()
        }]
    );
    assert!(
        matches!(&cause(&ex, "E#CPUHP_BP_PREPARE_DYN").variants[0].changes[..],
        [Change::Replaced { what, old, new }] if what == "value" && old == "( 0 ) + 71" && new == "( 0 ) + 70")
    );
    // task_struct reaches device-free exports too; its exports are counted.
    assert!(task.exports > 100, "{}", task.exports);
}

/// Explains single-file symtypes `old` -> `new`.
fn small(old: &str, new: &str) -> Explanation {
    let old = symtypes::load_bytes("a.symtypes", old.as_bytes()).unwrap();
    let new = symtypes::load_bytes("a.symtypes", new.as_bytes()).unwrap();
    explain(&old, &new)
}

/// (symbol, causes) of every changed export.
fn listed(ex: &Explanation) -> Vec<(String, Vec<String>)> {
    ex.exports
        .iter()
        .map(|e| (e.symbol.clone(), e.causes.clone()))
        .collect()
}

fn only_change(ex: &Explanation, key: &str) -> Change {
    let c = cause(ex, key);
    assert_eq!(c.variants.len(), 1);
    assert_eq!(
        c.variants[0].changes.len(),
        1,
        "{:?}",
        c.variants[0].changes
    );
    c.variants[0].changes[0].clone()
}

const BASE: &str = "\
s#foo struct foo { int a ; s#bar * b ; }
s#bar struct bar { long x ; }
f int f ( s#foo * )
g void g ( int )
";

#[test]
fn a_struct_member_added() {
    let new = BASE.replace("int a ;", "int a ; char * name ;");
    let ex = small(BASE, &new);
    assert_eq!(listed(&ex), [("f".into(), vec!["s#foo".into()])]);
    assert_eq!(ex.unchanged, 1);
    assert_eq!(
        only_change(&ex, "s#foo"),
        Change::Added {
            member: "name".into(),
            text: "char * name".into(),
            after: Some("a".into())
        }
    );
}

#[test]
fn equal_symtypes_explain_nothing() {
    let ex = small(BASE, BASE);
    assert!(ex.exports.is_empty() && ex.causes.is_empty());
    assert_eq!(ex.unchanged, 2);
}

#[test]
fn an_enum_constant_changed() {
    let old = "E#MAX 4\ne#kind enum kind { A , B = E#MAX }\nh int h ( e#kind )\n";
    let ex = small(old, &old.replace("E#MAX 4", "E#MAX 5"));
    assert_eq!(listed(&ex), [("h".into(), vec!["E#MAX".into()])]);
    assert_eq!(cause(&ex, "E#MAX").depth, 2);
    let change = only_change(&ex, "E#MAX");
    assert!(
        matches!(change, Change::Replaced { ref what, ref old, ref new }
        if what == "value" && old == "4" && new == "5")
    );
    let ex = small(old, &old.replace("A ,", "A , C = 7 ,"));
    assert_eq!(
        only_change(&ex, "e#kind"),
        Change::Added {
            member: "C".into(),
            text: "C = 7".into(),
            after: Some("A".into())
        }
    );
}

#[test]
fn a_typedef_retargeted() {
    let old = "t#u8 typedef unsigned char u8\nf int f ( t#u8 )\n";
    let ex = small(old, &old.replace("unsigned char", "unsigned int"));
    assert_eq!(listed(&ex), [("f".into(), vec!["t#u8".into()])]);
    assert!(
        matches!(only_change(&ex, "t#u8"), Change::Replaced { what, new, .. }
        if what == "typedef" && new == "typedef unsigned int u8")
    );
}

#[test]
fn an_argument_type_changed_is_its_own_cause() {
    let ex = small(BASE, &BASE.replace("g ( int )", "g ( long )"));
    assert_eq!(listed(&ex), [("g".into(), vec!["g".into()])]);
    assert_eq!(cause(&ex, "g").depth, 0);
    assert_eq!(
        only_change(&ex, "g"),
        Change::Changed {
            member: "argument 1".into(),
            old: "int".into(),
            new: "long".into()
        }
    );
}

#[test]
fn the_root_cause_two_levels_deep_is_the_deep_type() {
    let ex = small(BASE, &BASE.replace("long x", "long long x"));
    assert_eq!(listed(&ex), [("f".into(), vec!["s#bar".into()])]);
    assert_eq!(ex.causes.len(), 1, "s#foo did not change itself");
    assert_eq!(cause(&ex, "s#bar").depth, 2);
    // Both changed: deepest first.
    let new = BASE.replace("long x", "short x").replace("int a", "int z");
    let ex = small(BASE, &new);
    assert_eq!(
        listed(&ex),
        [("f".into(), vec!["s#bar".into(), "s#foo".into()])]
    );
    let keys: Vec<&str> = ex.causes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["s#bar", "s#foo"]);
}

#[test]
fn variants_in_different_files_are_told_apart() {
    let old = "/* a.symtypes */\ns#foo struct foo { int a ; }\nf int f ( s#foo )\n\
               /* b.symtypes */\ns#foo struct foo { int b ; }\ng int g ( s#foo )\n";
    let new = old.replace("int b ;", "int b ; int c ;");
    let load = |t: &str| symtypes::load_bytes("consolidated", t.as_bytes()).unwrap();
    let (old, new) = (load(old), load(&new));
    assert_eq!(old.files().len(), 2);
    let ex = explain(&old, &new);
    assert_eq!(listed(&ex), [("g".into(), vec!["s#foo".into()])]);
    let c = cause(&ex, "s#foo");
    assert_eq!(c.variants.len(), 1);
    assert_eq!(c.variants[0].old, "struct foo { int b ; }");
    assert_eq!(c.variants[0].files, 1);
}

#[test]
fn an_anonymous_union_is_diffed_inside() {
    let old = "s#foo struct foo { union { int a ; long b ; } ; int c ; }\nf int f ( s#foo )\n";
    let ex = small(old, &old.replace("long b ;", "long b ; void * p ;"));
    assert_eq!(
        only_change(&ex, "s#foo"),
        Change::Added {
            member: "<anonymous union>.p".into(),
            text: "void * p".into(),
            after: Some("<anonymous union>.b".into())
        }
    );
}

#[test]
fn added_and_removed_exports_are_named_not_explained() {
    let ex = small(BASE, &BASE.replace("g void g", "h void h"));
    assert!(ex.exports.is_empty());
    assert_eq!(
        (ex.removed.clone(), ex.added.clone()),
        (vec!["g".into()], vec!["h".into()])
    );
}

fn abibot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abibot"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        out.status.code().unwrap(),
        text(out.stdout),
        text(out.stderr),
    )
}

fn path(rel: &str) -> String {
    data(rel).display().to_string()
}

#[test]
fn cli_json_keeps_the_contract_and_exits_1() {
    let (old, new) = (
        path("6.1.0-47/symtypes.tar.xz"),
        path("6.1.0-50/symtypes.tar.xz"),
    );
    let (code, out, _) = abibot(&["explain", &old, &new, "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let exports = json["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 2052);
    let bdev = exports.iter().find(|e| e["symbol"] == "I_BDEV").unwrap();
    assert!(
        bdev["causes"]
            .as_array()
            .unwrap()
            .contains(&"s#task_struct".into())
    );
    let task = json["causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "s#task_struct")
        .unwrap();
    assert!(task["exports"].as_u64().unwrap() > 100);
    assert!(
        task["diff"]
            .as_str()
            .unwrap()
            .contains("+ user_dumpable: unsigned user_dumpable : 1")
    );
}

#[test]
fn cli_symvers_restricts_to_crc_changes_and_equal_input_exits_0() {
    let st47 = path("6.1.0-47/symtypes.tar.xz");
    let refs = |v: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/debian-bookworm/abi")
            .join(v)
            .join("amd64_none_amd64")
            .display()
            .to_string()
    };
    let (r47, r50) = (refs("6.1.0-47"), refs("6.1.0-50"));
    // The same symtypes on both sides: nothing changed, but every CRC
    // change the references show is unexplained (exit 1).
    let (code, out, _) = abibot(&[
        "explain",
        &st47,
        &st47,
        "--symvers",
        &r47,
        &r50,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json["exports"].as_array().unwrap().is_empty());
    assert_eq!(json["unexplained"].as_array().unwrap().len(), 2052);
    let (code, out, _) = abibot(&["explain", &st47, &st47, "--symvers", &r47, &r47]);
    assert_eq!(
        (code, out.lines().next()),
        (
            0,
            Some("0 exports changed (0 unchanged, 0 added, 0 removed), 0 root causes")
        )
    );
    let st50 = path("6.1.0-50/symtypes.tar.xz");
    let (code, out, _) = abibot(&[
        "explain",
        &st47,
        &st50,
        "--symvers",
        &r47,
        &r50,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["exports"].as_array().unwrap().len(), 2052);
    assert!(json["unexplained"].as_array().unwrap().is_empty());
}

#[test]
fn cli_errors_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.symtypes");
    std::fs::write(&bad, "s#foo struct foo { int a ; }\nx#foo int\n").unwrap();
    let bad = bad.display().to_string();
    let (code, out, err) = abibot(&["explain", &bad, &bad]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("bad.symtypes:2"), "{err}");
}

#[test]
fn markdown_keeps_input_strings_in_code() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let old = write(
        "old.symtypes",
        "s#foo struct foo { int a ; }\nf int f ( s#foo )\n",
    );
    let new = write(
        "new.symtypes",
        "s#foo struct foo { int a ; @team __evil__ ; }\nf int f ( s#foo )\n",
    );
    let (code, out, _) = abibot(&["explain", &old, &new, "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("because `s#foo` gained `__evil__` after `a`"),
        "{out}"
    );
    assert!(
        out.contains("```text\n+ __evil__: @team __evil__   (after a)\n```"),
        "{out}"
    );
    // Nowhere else: a mention or emphasis outside code would act.
    let rest = out
        .replace("`__evil__`", "")
        .replace("+ __evil__: @team __evil__", "");
    assert!(
        !rest.contains("@team") && !rest.contains("__evil__"),
        "{out}"
    );
}
