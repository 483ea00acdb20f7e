//! genksyms symtypes: reading both forms, writing the consolidated one,
//! recomputing CRCs (against genksyms' own on real Debian data) and
//! `abibot verify`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use abibot::symtypes::{self, ErrorKind, Kind, Symtypes, SymtypesError, crc};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// symbol -> CRC as genksyms computed them (`symversions.tsv.xz`: symbol,
/// crc, object).
fn genksyms_crcs(version: &str) -> BTreeMap<String, u32> {
    let path = data(&format!("symtypes/{version}/symversions.tsv.xz"));
    let mut text = String::new();
    xz2::read::XzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let crc = u32::from_str_radix(fields[1].trim_start_matches("0x"), 16).unwrap();
            (fields[0].to_owned(), crc)
        })
        .collect()
}

fn real(version: &str) -> Symtypes {
    symtypes::load(&data(&format!("symtypes/{version}/symtypes.tar.xz"))).unwrap()
}

/// Every export's recomputed CRC, by name.
fn computed(st: &Symtypes) -> BTreeMap<String, u32> {
    crc::all_crcs(st)
        .unwrap()
        .into_iter()
        .map(|e| (st.names.text(e.symbol).to_owned(), e.crc))
        .collect()
}

#[test]
fn every_real_crc_equals_genksyms() {
    for (version, count) in [("6.1.0-47", 4217), ("6.1.0-50", 4217)] {
        let st = real(version);
        assert_eq!(st.files().len(), 445, "{version}");
        let want = genksyms_crcs(version);
        let got = computed(&st);
        assert_eq!(want.len(), count, "{version}");
        assert_eq!(got.len(), count, "{version}: exports in the symtypes");
        let differ: Vec<_> = want
            .iter()
            .filter(|(name, crc)| got.get(*name) != Some(crc))
            .map(|(name, crc)| (name, *crc, got.get(name).copied()))
            .collect();
        assert!(
            differ.is_empty(),
            "{version}: {} differ: {:x?}",
            differ.len(),
            &differ[..differ.len().min(5)]
        );
    }
}

/// A small file exercising every rule of the expansion.
const SMALL: &str = "\
s#list struct list { s#list * next ; t#u8 tag ; }
t#u8 typedef unsigned char u8
E#MAX 4
e#kind enum kind { A , B = E#MAX }
s#node struct node { s#list l ; s#list * p ; e#kind k ; t#u8 raw [ E#MAX ] ; s#peer * peer ; }
s#peer struct peer { s#node * back ; }
s##opaque
use_node extern int use_node ( s#node * , s#opaque * , t#u8 )
";

/// What genksyms feeds its CRC for `use_node`, written out by hand: each
/// type in full the first time, a short reference after (also from inside
/// itself: `list`, and the `node` <-> `peer` cycle), every token followed by
/// a space, `extern` left out.
const USE_NODE: &str = "int use_node ( struct node { struct list { struct list * next ; \
typedef unsigned char u8 tag ; } l ; struct list * p ; enum kind { A , B = 4 } k ; u8 raw [ \
MAX ] ; struct peer { struct node * back ; } * peer ; } * , struct opaque { UNKNOWN } * , u8 ) ";

fn small() -> Symtypes {
    symtypes::load_bytes("small.symtypes", SMALL.as_bytes()).unwrap()
}

#[test]
fn expansion_follows_genksyms_rules() {
    let st = small();
    let file = st.export_file("use_node").unwrap();
    let symbol = st.names.get("use_node").unwrap();
    let mut exp = crc::Expander::new(&st);
    assert_eq!(exp.text(file, symbol).unwrap(), USE_NODE);
    // The CRC is the common CRC-32 of that text (crc32fast: an independent
    // implementation of the same polynomial, start and final xor).
    assert_eq!(
        exp.crc(file, symbol).unwrap(),
        crc32fast::hash(USE_NODE.as_bytes())
    );
    // Opaque and extern are kept in the model.
    let key = symtypes::TypeKey {
        kind: Kind::Export,
        name: symbol,
    };
    assert!(st.def(st.file(file).get(key).unwrap()).is_extern);
}

/// SUSE's documented example: `b` leaves out `s#foo` (same as in `a`), `a`
/// has `u#bar` only declared (`u##bar`).
const CONSOLIDATED: &str = "\
/* a.symtypes */
s#foo struct foo { int m ; }
u##bar
baz void baz ( s#foo a1 , u#bar * a2 )

/* b.symtypes */
u#bar union bar { int i ; float f ; }
qux void qux ( s#foo a1 , u#bar * a2 )
";

#[test]
fn consolidated_sections_take_left_out_records_and_keep_variants() {
    let st = symtypes::load_bytes("kabi/x86_64/symtypes-default", CONSOLIDATED.as_bytes()).unwrap();
    let paths: Vec<&str> = st.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a.symtypes", "b.symtypes"]);
    let bar = symtypes::TypeKey {
        kind: Kind::Union,
        name: st.names.get("bar").unwrap(),
    };
    let foo = symtypes::TypeKey {
        kind: Kind::Struct,
        name: st.names.get("foo").unwrap(),
    };
    let variants: Vec<String> = st.variants(bar).iter().map(|&d| st.def_text(d)).collect();
    assert_eq!(
        variants,
        ["union bar { UNKNOWN }", "union bar { int i ; float f ; }"]
    );
    let (a, b) = (&st.files()[0], &st.files()[1]);
    assert_eq!(b.get(foo), a.get(foo), "b takes a's struct foo");
    assert_ne!(a.get(bar), b.get(bar));
    let mut exp = crc::Expander::new(&st);
    let qux = st.names.get("qux").unwrap();
    let want = "void qux ( struct foo { int m ; } a1 , union bar { int i ; float f ; } * a2 ) ";
    assert_eq!(exp.text(st.export_file("qux").unwrap(), qux).unwrap(), want);
}

/// Every file's records as text: path -> (record -> definition).
fn record_texts(st: &Symtypes) -> BTreeMap<String, BTreeMap<String, String>> {
    st.files()
        .iter()
        .map(|f| {
            let records = f
                .records
                .iter()
                .map(|(&k, &d)| (st.key_text(k), st.def_text(d)));
            (f.path.clone(), records.collect())
        })
        .collect()
}

#[test]
fn consolidated_round_trip_keeps_every_record_and_crc() {
    let st = real("6.1.0-47");
    let mut written = Vec::new();
    symtypes::write(&st, &mut written).unwrap();
    let again = symtypes::load_bytes("symtypes-amd64", &written).unwrap();
    assert_eq!(record_texts(&again), record_texts(&st));
    assert_eq!(computed(&again), computed(&st));
    // Shared definitions are written once: far smaller than the 32 MB tree.
    assert!(written.len() < 8 << 20, "{} bytes", written.len());
    let mut twice = Vec::new();
    symtypes::write(&again, &mut twice).unwrap();
    assert_eq!(twice, written);
}

/// A hostile input, the line its error names, and a check of the error.
type Case = (&'static [u8], usize, fn(&ErrorKind) -> bool);

fn refused(text: &[u8]) -> SymtypesError {
    symtypes::load_bytes("bad.symtypes", text).expect_err("refused")
}

#[test]
fn hostile_input_is_an_error_naming_file_and_line() {
    let cases: [Case; 9] = [
        (
            b"t#u8 typedef unsigned char u8\ns#a struct a { int x ; } }\n",
            2,
            |k| matches!(k, ErrorKind::Unbalanced('}', n) if n == "s#a"),
        ),
        (b"s#a struct a { int x ( ; }\n", 1, |k| {
            matches!(k, ErrorKind::Unbalanced('}', _))
        }),
        (
            b"x#foo struct foo { int a ; }\n",
            1,
            |k| matches!(k, ErrorKind::UnknownPrefix(w) if w == "x#foo"),
        ),
        (
            b"f int f ( q#bar )\n",
            1,
            |k| matches!(k, ErrorKind::UnknownPrefix(w) if w == "q#bar"),
        ),
        (
            b"s#a struct a { int x ; }\nf int f ( s#a , s#missing )\n",
            2,
            |k| matches!(k, ErrorKind::Undefined { referrer, missing } if referrer == "f" && missing == "s#missing"),
        ),
        (
            b"s#a struct a { int x ; }\n\ns#a struct a { long x ; }\n",
            3,
            |k| matches!(k, ErrorKind::Duplicate { first_line: 1, .. }),
        ),
        (b"f int f ( s#'open struct )\n", 1, |k| {
            matches!(k, ErrorKind::Unterminated(_))
        }),
        (b"f int f ( \xff )\n", 1, |k| *k == ErrorKind::InvalidUtf8),
        (b"s#a\n", 1, |k| matches!(k, ErrorKind::Empty(_))),
    ];
    for (text, line, kind) in cases {
        let e = refused(text);
        assert_eq!((e.file.as_str(), e.line), ("bad.symtypes", line), "{e}");
        assert!(kind(&e.kind), "{e}");
    }
}

#[test]
fn a_50_mb_record_is_refused_by_the_record_limit() {
    let mut text = b"s#a struct a { int x ; }\nf int f ( ".to_vec();
    text.resize(50 << 20, b'x');
    text.extend_from_slice(b" )\n");
    let e = refused(&text);
    assert_eq!(e.line, 2);
    assert!(
        matches!(
            e.kind,
            ErrorKind::RecordTooLong {
                max: symtypes::MAX_RECORD_BYTES,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn archives_and_consolidated_files_that_lie_are_errors() {
    let e = refused(b"\xfd7zXZ\0 not really xz");
    assert!(matches!(e.kind, ErrorKind::Archive(_)), "{e}");
    // A record before the first header of a consolidated file.
    let mut st = Symtypes::default();
    let e =
        symtypes::parse_consolidated(&mut st, "symtypes-default", b"s#a struct a { int x ; }\n")
            .unwrap_err();
    assert_eq!((e.line, &e.kind), (1, &ErrorKind::NoHeader));
    // A section referring to a type no earlier section defined.
    let text = b"/* a.symtypes */\nf int f ( s#gone )\n";
    let e = symtypes::load_bytes("symtypes-default", text).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn reference_cycles_and_deep_chains_end() {
    // A typedef cycle (no C compiler writes one): each type is expanded
    // once per export, so the walk ends, with genksyms' answer.
    let text = "t#a typedef t#b a\nt#b typedef t#a b\nf int f ( t#a )\n";
    let st = symtypes::load_bytes("cycle.symtypes", text.as_bytes()).unwrap();
    let f = st.names.get("f").unwrap();
    let mut exp = crc::Expander::new(&st);
    let file = st.export_file("f").unwrap();
    assert_eq!(
        exp.text(file, f).unwrap(),
        "int f ( typedef typedef a b a ) "
    );
    // 200,000 chained typedefs: the walk keeps its own stack.
    const N: usize = 200_000;
    let mut text: String = (0..N)
        .map(|i| format!("t#t{i} typedef t#t{} t{i}\n", i + 1))
        .collect();
    text.push_str(&format!("t#t{N} typedef int t{N}\nf int f ( t#t0 )\n"));
    let st = symtypes::load_bytes("chain.symtypes", text.as_bytes()).unwrap();
    let f = st.names.get("f").unwrap();
    let mut exp = crc::Expander::new(&st);
    let got = exp.text(st.export_file("f").unwrap(), f).unwrap();
    let want = format!(
        "int f ( {}int {}) ",
        "typedef ".repeat(N + 1),
        (0..=N).rev().map(|i| format!("t{i} ")).collect::<String>()
    );
    assert_eq!(got, want);
}

/// Runs the binary; (exit code, stdout, stderr).
fn abibot(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abibot"))
        .args(args)
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (
        out.status.code().unwrap_or(-1),
        text(out.stdout),
        text(out.stderr),
    )
}

/// `SMALL` and a Module.symvers for it with `use_node`'s CRC as given.
fn small_pair(dir: &Path, crc: u32) -> (String, String) {
    let (types, symvers) = (dir.join("small.symtypes"), dir.join("Module.symvers"));
    std::fs::write(&types, SMALL).unwrap();
    let line = format!(
        "0x{crc:08x}\tuse_node\tvmlinux\tEXPORT_SYMBOL\t\n0x12345678\tother\tvmlinux\tEXPORT_SYMBOL\t\n"
    );
    std::fs::write(&symvers, line).unwrap();
    (types.display().to_string(), symvers.display().to_string())
}

#[test]
fn verify_names_a_mismatched_symbol_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let right = crc32fast::hash(USE_NODE.as_bytes());
    let (types, symvers) = small_pair(dir.path(), right);
    let (code, out, err) = abibot(&["verify", &types, &symvers]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 exports of 1 symtypes files checked"),
        "{out}"
    );
    let (types, symvers) = small_pair(dir.path(), right ^ 1);
    let (code, out, _) = abibot(&["verify", &types, &symvers, "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["checked"], 1);
    let m = &json["mismatched"][0];
    assert_eq!(m["symbol"], "use_node");
    assert_eq!(m["computed"], format!("0x{right:08x}"));
    assert_eq!(m["reference"], format!("0x{:08x}", right ^ 1));
    let (code, out, _) = abibot(&["verify", &types, &symvers]);
    assert_eq!(code, 1);
    assert!(out.contains("mismatch use_node: computed"), "{out}");
}

#[test]
fn verify_fails_on_an_export_the_reference_lacks_and_errs_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let (types, _) = small_pair(dir.path(), 0);
    let other = dir.path().join("other.symvers");
    std::fs::write(&other, "0x12345678\tother\tvmlinux\tEXPORT_SYMBOL\t\n").unwrap();
    let (code, out, _) = abibot(&[
        "verify",
        &types,
        other.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (json["checked"].as_u64(), json["missing"][0].as_str()),
        (Some(0), Some("use_node"))
    );
    std::fs::write(&types, "s#a struct a { } }\n").unwrap();
    let (code, _, err) = abibot(&["verify", &types, other.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("small.symtypes:1:"), "{err}");
}

/// Real pairs: 6.1.0-47's symtypes agree with Debian's 6.1.0-47 reference;
/// 6.1.0-50's do not, for exactly the exports whose CRC genksyms changed.
#[test]
fn verify_real_pairs() {
    let reference = data("debian-bookworm/abi/6.1.0-47/amd64_none_amd64");
    let reference = reference.to_str().unwrap();
    let run = |version: &str| {
        let types = data(&format!("symtypes/{version}/symtypes.tar.xz"));
        let (code, out, err) = abibot(&[
            "verify",
            types.to_str().unwrap(),
            reference,
            "--format",
            "json",
        ]);
        (
            code,
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap_or_else(|_| panic!("{out}{err}")),
        )
    };
    let (code, json) = run("6.1.0-47");
    assert_eq!((code, json["checked"].as_u64()), (0, Some(4217)));
    let (old, new) = (genksyms_crcs("6.1.0-47"), genksyms_crcs("6.1.0-50"));
    let changed: Vec<&String> = new
        .iter()
        .filter(|(n, c)| old.get(*n) != Some(c))
        .map(|(n, _)| n)
        .collect();
    let (code, json) = run("6.1.0-50");
    assert_eq!(code, 1);
    let named: Vec<&str> = json["mismatched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(named, changed);
    assert!(named.contains(&"I_BDEV"));
}

/// The CRC of `symbol` both ways: the fast walk, and crc32fast over the
/// spelled-out text.
fn both_ways(st: &Symtypes, symbol: &str) -> (u32, u32) {
    let (file, name) = (
        st.export_file(symbol).unwrap(),
        st.names.get(symbol).unwrap(),
    );
    let mut exp = crc::Expander::new(st);
    let text = exp.text(file, name).unwrap();
    (
        exp.crc(file, name).unwrap(),
        crc32fast::hash(text.as_bytes()),
    )
}

#[test]
fn fast_crc_equals_the_spelled_out_text_on_shared_and_cyclic_types() {
    // Two exports of one file share types: the second reuses segments the
    // first recorded, where its surroundings allow.
    let text = format!("{SMALL}again int again ( s#peer * , s#list , s#node * )\n");
    let st = symtypes::load_bytes("small.symtypes", text.as_bytes()).unwrap();
    for symbol in ["use_node", "again", "use_node"] {
        let (fast, slow) = both_ways(&st, symbol);
        assert_eq!(fast, slow, "{symbol}");
    }
    let cycle = "t#a typedef t#b a\nt#b typedef t#a b\nf int f ( t#a , t#b )\n";
    let st = symtypes::load_bytes("cycle.symtypes", cycle.as_bytes()).unwrap();
    let (fast, slow) = both_ways(&st, "f");
    assert_eq!(fast, slow);
    // A file past MAX_GRAPH_RECORDS is walked token by token: same CRC.
    let n = crc::MAX_GRAPH_RECORDS + 1;
    let mut big: String = (0..n)
        .map(|i| format!("t#t{i} typedef t#t{} t{i}\n", i + 1))
        .collect();
    big.push_str(&format!(
        "t#t{n} typedef int t{n}\nf int f ( t#t0 , t#t7 )\n"
    ));
    let st = symtypes::load_bytes("big.symtypes", big.as_bytes()).unwrap();
    let (fast, slow) = both_ways(&st, "f");
    assert_eq!(fast, slow);
}
