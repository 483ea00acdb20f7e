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
