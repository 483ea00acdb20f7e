//! Debug info read into the symtypes model ([`abibot::dwarf`]) and explained
//! by the same engine as symtypes ([`abibot::explain`]).
//!
//! REQUIRES `gcc` on PATH (installed by `.ci/run`): every object here is
//! built from the sources in `tests/data/dwarf/` by `gcc -g -c` with the
//! flags under test (DWARF 4 and 5, type units, `-gz` compressed sections).
//! `v1.c` and `v2.c` are two versions of one file (their types in
//! `types1.h` and `types2.h`); each export reaches one kind of change (or
//! none).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use abibot::dwarf::{self, DebugTypes, DwarfErrorKind};
use abibot::explain::{Change, explain};
use abibot::symtypes::{Kind, Symtypes, TypeKey};

/// The compiler flag sets every check runs under.
const FLAG_SETS: &[&[&str]] = &[
    &["-gdwarf-4"],
    &["-gdwarf-5"],
    &["-gdwarf-4", "-fdebug-types-section"],
    &["-gdwarf-5", "-fdebug-types-section"],
    &["-gdwarf-5", "-gz"],
    &["-gdwarf-4", "-gz"],
];

/// `gcc -c` of `source` with `flags` into `dir`.
fn compile(dir: &Path, source: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(format!("{source}.o"));
    common::gcc::compile(source, &out, flags);
    out
}

fn load(dir: &Path, source: &str, flags: &[&str]) -> DebugTypes {
    let object = compile(dir, source, flags);
    dwarf::load(&object).unwrap_or_else(|e| panic!("{flags:?}: {e}"))
}

/// The text of `kind name` in the file defining `export` (the file's
/// records listed when it is missing).
fn record(st: &Symtypes, export: &str, kind: Kind, name: &str) -> String {
    let file = st.file(st.export_file(export).expect("export has a file"));
    let key = st.names.get(name).map(|name| TypeKey { kind, name });
    match key.and_then(|k| file.get(k)) {
        Some(def) => st.def_text(def),
        None => {
            let all: Vec<String> = file
                .records
                .iter()
                .map(|(&k, &d)| format!("{} {}", st.key_text(k), st.def_text(d)))
                .collect();
            panic!("no {kind:?} {name} in {}: {all:#?}", file.path)
        }
    }
}

#[test]
fn records_spell_types_as_genksyms_does() {
    let dir = tempfile::tempdir().unwrap();
    for flags in FLAG_SETS {
        eprintln!("flags {flags:?}");
        let v1 = load(dir.path(), "v1.c", flags);
        let st = &v1.symtypes;
        assert!(v1.missing.is_empty(), "{flags:?}: {:?}", v1.missing);
        assert_eq!(st.exports().len(), 10, "{flags:?}");
        let r = |export, kind, name| record(st, export, kind, name);
        assert_eq!(
            r("grows_get", Kind::Export, "grows_get"),
            "int grows_get ( s#grows * )"
        );
        assert_eq!(
            r("grows_get", Kind::Struct, "grows"),
            "struct grows { int a ; int b ; }"
        );
        assert_eq!(
            r("opaque_get", Kind::Struct, "opaque"),
            "struct opaque { UNKNOWN }",
            "{flags:?}: a declared-only struct stays opaque"
        );
        assert_eq!(
            r("internal_get", Kind::Struct, "internal"),
            "struct internal { UNKNOWN }",
            "{flags:?}: a struct defined in the .c file itself is internal, as genksyms has it"
        );
        assert_eq!(
            r("opaque_get", Kind::Export, "opaque_get"),
            "s#opaque * opaque_get ( void )"
        );
        assert_eq!(r("level_get", Kind::Typedef, "level_t"), "t#count_t");
        assert_eq!(r("level_get", Kind::Typedef, "count_t"), "unsigned int");
        assert_eq!(
            r("mode_set", Kind::Enum, "mode"),
            "enum mode { MODE_A = 0 , MODE_B = 5 , MODE_C = 6 , }"
        );
        assert_eq!(
            r("flags_get", Kind::Struct, "flags"),
            "struct flags { unsigned int ready : 1 ; unsigned int busy : 2 ; }"
        );
        assert_eq!(
            r("holder_get", Kind::Struct, "holder"),
            "struct holder { int kind ; union { long int raw ; struct { short int lo ; \
             short int hi ; } ; } ; s#holder * next ; void ( * callback ) ( s#holder * , int ) ; \
             char name [ 16 ] ; }",
            "{flags:?}"
        );
        assert_eq!(
            r("holder_get", Kind::Export, "holder_get"),
            "long int holder_get ( const s#holder * )"
        );
        assert_eq!(
            r("holder_table", Kind::Export, "holder_table"),
            "s#holder holder_table [ 4 ]"
        );
    }
}

#[test]
fn explain_names_each_change_from_debug_info() {
    let dir = tempfile::tempdir().unwrap();
    for flags in FLAG_SETS {
        let old = load(dir.path(), "v1.c", flags).symtypes;
        let new = load(dir.path(), "v2.c", flags).symtypes;
        let ex = explain(&old, &new);
        let causes: Vec<(&str, Vec<&str>)> = ex
            .exports
            .iter()
            .map(|e| {
                (
                    e.symbol.as_str(),
                    e.causes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            causes,
            [
                ("decl_change", vec!["decl_change"]),
                ("flags_get", vec!["s#flags"]),
                ("grows_get", vec!["s#grows"]),
                ("holder_get", vec!["s#holder"]),
                ("holder_table", vec!["s#holder"]),
                ("level_get", vec!["t#level_t"]),
                ("mode_set", vec!["e#mode"]),
            ],
            "{flags:?}"
        );
        assert_eq!(
            ex.unchanged, 3,
            "{flags:?}: opaque_get, plain_count and internal_get (its struct is internal)"
        );
        let changes = |key: &str| -> Vec<Change> {
            let cause = ex
                .causes
                .iter()
                .find(|c| c.key == key)
                .expect("cause listed");
            cause.variants[0].changes.clone()
        };
        assert_eq!(
            changes("s#grows"),
            [Change::Added {
                member: "added".into(),
                text: "int added".into(),
                after: Some("a".into()),
            }]
        );
        assert_eq!(
            changes("s#flags"),
            [Change::Changed {
                member: "busy".into(),
                old: "unsigned int busy : 2".into(),
                new: "unsigned int busy : 3".into(),
            }]
        );
        let holder: Vec<String> = changes("s#holder").iter().map(Change::line).collect();
        assert!(
            holder
                .iter()
                .any(|l| l.contains("ptr") && l.starts_with('+')),
            "{flags:?}: the anonymous union's new member: {holder:?}"
        );
        assert_eq!(
            changes("t#level_t"),
            [Change::Replaced {
                what: "typedef".into(),
                old: "count_t".into(),
                new: "wide_t".into(),
            }]
        );
        let mode: Vec<String> = changes("e#mode").iter().map(Change::line).collect();
        // DWARF holds every enumerator's value: the implicit one after the
        // changed constant moves too (genksyms would show only MODE_B).
        assert_eq!(
            mode,
            [
                "~ MODE_B: MODE_B = 5 -> MODE_B = 6",
                "~ MODE_C: MODE_C = 6 -> MODE_C = 7"
            ],
            "{flags:?}"
        );
    }
}

#[test]
fn the_same_source_twice_explains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = load(dir.path(), "v1.c", &["-gdwarf-5"]).symtypes;
    let b = load(dir.path(), "v1.c", &["-gdwarf-4", "-gz"]).symtypes;
    let ex = explain(&a, &b);
    assert!(ex.exports.is_empty(), "{:?}", ex.exports);
    assert_eq!(ex.unchanged, 10);
}

/// `abibot explain OLD.o NEW.o --format json` on the two objects alone:
/// the symtypes JSON contract, exit 1 (some export changed).
#[test]
fn abibot_explain_accepts_objects_with_debug_info() {
    let dir = tempfile::tempdir().unwrap();
    let old = compile(dir.path(), "v1.c", &["-gdwarf-5"]);
    let new = compile(dir.path(), "v2.c", &["-gdwarf-5", "-gz"]);
    let out = Command::new(env!("CARGO_BIN_EXE_abibot"))
        .arg("explain")
        .args([&old, &new])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let grows = json["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["symbol"] == "grows_get")
        .expect("grows_get listed");
    assert_eq!(grows["causes"], serde_json::json!(["s#grows"]));
    let cause = json["causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "s#grows")
        .expect("s#grows listed");
    assert_eq!(cause["exports"], 1);
}

#[test]
fn a_type_reference_cycle_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let object = compile(dir.path(), "cycle.s", &[]);
    let err = dwarf::load(&object).unwrap_err();
    assert_eq!(err.file, object.display().to_string());
    let DwarfErrorKind::At { inner, .. } = &err.kind else {
        panic!("{err}");
    };
    assert!(
        matches!(**inner, DwarfErrorKind::TooMuch { limit, .. } if limit == dwarf::MAX_TYPE_DEPTH as u64),
        "{err}"
    );
}

#[test]
fn an_object_without_debug_info_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let object = compile(dir.path(), "v1.c", &["-g0"]);
    let err = dwarf::load(&object).unwrap_err();
    assert_eq!(err.kind, DwarfErrorKind::NoDebugInfo, "{err}");
}

/// Every byte of `.debug_info` and `.debug_abbrev` overwritten in turn,
/// and the file cut short at many lengths: an answer or an error naming the
/// file, never a panic.
#[test]
fn corrupted_debug_info_never_panics() {
    use object::{Object, ObjectSection};
    let dir = tempfile::tempdir().unwrap();
    let object = compile(dir.path(), "v1.c", &["-gdwarf-5"]);
    let bytes = std::fs::read(&object).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let mut ranges = Vec::new();
    for name in [".debug_info", ".debug_abbrev", ".debug_str_offsets"] {
        if let Some((start, len)) = file.section_by_name(name).and_then(|s| s.file_range()) {
            ranges.push(start as usize..(start + len) as usize);
        }
    }
    let check = |mutated: &[u8]| {
        if let Err(e) = dwarf::from_elf("mutated.o", mutated) {
            assert_eq!(e.file, "mutated.o");
        }
    };
    assert!(ranges.len() >= 2, "gcc wrote .debug_info and .debug_abbrev");
    for range in ranges {
        for at in range.step_by(3) {
            for value in [0x00, 0xff, 0x7f] {
                let mut mutated = bytes.clone();
                mutated[at] = value;
                check(&mutated);
            }
        }
    }
    for len in (0..bytes.len()).step_by(61) {
        check(&bytes[..len]);
    }
}
