//! Property tests: every writer round-trips through its parser, and
//! comparison is empty on equal sets and mirrors itself when swapped.

use abibot::compare::{ChangeKind, compare};
use abibot::formats::{self, Format, KabiEntry};
use abibot::ignore::IgnoreRules;
use abibot::symbols::{Crc, ExportKind, Symbol, SymbolSet};
use proptest::prelude::*;

fn export_kind() -> impl Strategy<Value = ExportKind> {
    prop_oneof![
        Just(ExportKind::Symbol),
        Just(ExportKind::Gpl),
        Just(ExportKind::GplFuture),
        Just(ExportKind::Unused),
        Just(ExportKind::UnusedGpl),
        "EXPORT_[A-Z_]{1,12}".prop_map(|s| ExportKind::parse(&s)),
    ]
}

/// A symbol as `format` can hold it: names are identifiers, modules paths.
fn symbol(format: Format) -> impl Strategy<Value = Symbol> {
    symbol_named(format, "[a-z_][a-z0-9_]{0,20}")
}

/// Like [`symbol`], with names drawn from `names` (a small space makes two
/// random sets overlap, which comparison tests need).
fn symbol_named(format: Format, names: &'static str) -> impl Strategy<Value = Symbol> {
    let ns = match format {
        Format::DebianLegacy => Just(None).boxed(),
        _ => proptest::option::of("[A-Z_]{1,10}").boxed(),
    };
    let export = match format {
        Format::Ubuntu => export_kind().prop_map(Some).boxed(),
        _ => proptest::option::of(export_kind()).boxed(),
    };
    (
        names,
        prop_oneof![Just(0u32), Just(1u32), any::<u32>()],
        "(vmlinux|[a-z]{1,6}(/[a-z0-9_-]{1,8}){0,3})",
        export,
        ns,
    )
        .prop_map(|(name, crc, module, export, namespace)| {
            // A namespace needs an export column in every format.
            let namespace = if export.is_some() { namespace } else { None };
            Symbol {
                name: name.into(),
                crc: Crc(crc),
                module: module.into(),
                export,
                namespace: namespace.map(Into::into),
            }
        })
}

fn set_of(format: Format) -> impl Strategy<Value = SymbolSet> {
    proptest::collection::vec(symbol(format), 0..40).prop_map(dedup)
}

/// Sets over a dozen names, with few module and CRC values, so that two of
/// them share names and differ in every way `compare` distinguishes.
fn overlapping_set() -> impl Strategy<Value = SymbolSet> {
    let sym = (
        "[a-c]{1,2}",
        0u32..3,
        "(vmlinux|fs/fat)",
        proptest::option::of(prop_oneof![Just(ExportKind::Symbol), Just(ExportKind::Gpl)]),
        proptest::option::of("(A|B)"),
    )
        .prop_map(|(name, crc, module, export, namespace)| Symbol {
            name: name.into(),
            crc: Crc(crc),
            module: module.into(),
            namespace: export.as_ref().and(namespace).map(Into::into),
            export,
        });
    proptest::collection::vec(sym, 0..12).prop_map(dedup)
}

fn dedup(symbols: Vec<Symbol>) -> SymbolSet {
    let mut symbols = symbols;
    symbols.sort_by(|a, b| a.name.cmp(&b.name));
    symbols.dedup_by(|a, b| a.name == b.name);
    SymbolSet::from_symbols(symbols).unwrap()
}

fn round_trip(set: &SymbolSet, format: Format) -> SymbolSet {
    let mut out = Vec::new();
    formats::write(set, format, &mut out).unwrap();
    if !set.is_empty() {
        assert_eq!(
            formats::detect(&out),
            Some(format),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    formats::parse(&out, None, "round-trip").unwrap()
}

proptest! {
    #[test]
    fn symvers_round_trips(set in set_of(Format::Symvers)) {
        prop_assert_eq!(round_trip(&set, Format::Symvers), set);
    }

    #[test]
    fn debian_legacy_round_trips(set in set_of(Format::DebianLegacy)) {
        prop_assert_eq!(round_trip(&set, Format::DebianLegacy), set);
    }

    #[test]
    fn ubuntu_round_trips(set in set_of(Format::Ubuntu)) {
        prop_assert_eq!(round_trip(&set, Format::Ubuntu), set);
    }

    #[test]
    fn kabi_round_trips(symbol in symbol(Format::Kabi), release in 0u32..100) {
        let entry = KabiEntry { release, symbol };
        let mut out = Vec::new();
        formats::write_kabi(&entry, &mut out).unwrap();
        prop_assert_eq!(formats::detect(&out), Some(Format::Kabi));
        prop_assert_eq!(formats::parse_kabi(&out, "k").unwrap(), entry);
    }

    #[test]
    fn comparing_a_set_with_itself_finds_nothing(set in overlapping_set()) {
        prop_assert!(compare(&set, &set, &IgnoreRules::default()).is_empty());
    }

    /// Unversioned is a property of the new side alone, so it does not mirror.
    #[test]
    fn swapping_sides_mirrors_the_changes(a in overlapping_set(), b in overlapping_set()) {
        let none = IgnoreRules::default();
        let (ab, ba) = (compare(&a, &b, &none), compare(&b, &a, &none));
        let mirror = |k: ChangeKind| match k {
            ChangeKind::Added => ChangeKind::Removed,
            ChangeKind::Removed => ChangeKind::Added,
            other => other,
        };
        let mut forward: Vec<_> = ab.changes.iter()
            .filter(|c| c.kind != ChangeKind::Unversioned)
            .map(|c| (c.symbol.clone(), mirror(c.kind), c.new.clone(), c.old.clone()))
            .collect();
        let mut backward: Vec<_> = ba.changes.iter()
            .filter(|c| c.kind != ChangeKind::Unversioned)
            .map(|c| (c.symbol.clone(), c.kind, c.old.clone(), c.new.clone()))
            .collect();
        forward.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
        backward.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
        prop_assert_eq!(forward, backward);
        prop_assert_eq!(ab.summary.added, ba.summary.removed);
        prop_assert_eq!(ab.summary.crc_changed, ba.summary.crc_changed);
    }
}

proptest! {
    /// Every symbol of the new side is either added or shared.
    #[test]
    fn added_plus_shared_is_the_new_size(a in overlapping_set(), b in overlapping_set()) {
        let c = compare(&a, &b, &IgnoreRules::default());
        let shared = a.iter().filter(|s| b.get(&s.name).is_some()).count();
        prop_assert_eq!(c.summary.added + shared, b.len());
    }
}
