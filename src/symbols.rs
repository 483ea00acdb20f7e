//! The ABI model: exported symbols with their modversion CRCs, one flavour's
//! [`SymbolSet`], and the [`ReferenceSet`] a packaging revision promises.
//!
//! This module knows nothing of files, git or forges; everything else in
//! abibot produces or consumes these types.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A 32-bit modversion checksum (genksyms CRC), written as `0x%08x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Crc(pub u32);

impl Crc {
    /// The CRC modpost writes for a symbol that carries no version: modules
    /// importing it are never checked, which is why references must not have it.
    pub const UNVERSIONED: Crc = Crc(0);

    /// Parses `0x` followed by one to eight hex digits (the kernel prints
    /// eight; older tools dropped leading zeros).
    pub fn parse(text: &str) -> Option<Crc> {
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))?;
        if digits.is_empty() || digits.len() > 8 {
            return None;
        }
        // Every line of a reference has a CRC, so this is on the parser's
        // hot path: a table lookup per digit, no branch, one test at the end.
        let (value, bad) = digits.bytes().fold((0u32, 0u8), |(value, bad), b| {
            let nibble = HEX_DIGITS[usize::from(b)];
            (value << 4 | u32::from(nibble & 0xf), bad | nibble)
        });
        (bad & NOT_HEX == 0).then_some(Crc(value))
    }

    /// Whether this is the "not versioned" CRC `0x00000000`.
    pub fn is_unversioned(self) -> bool {
        self == Self::UNVERSIONED
    }
}

/// Marks a byte that is not a hex digit in [`HEX_DIGITS`].
const NOT_HEX: u8 = 0x80;

/// Each byte's value as a hex digit, or [`NOT_HEX`].
const HEX_DIGITS: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        table[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl fmt::Display for Crc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

impl Serialize for Crc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Crc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Crc::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("bad CRC {text:?}")))
    }
}

/// How a symbol is exported, which decides who may import it.
///
/// Kinds this version does not know are kept verbatim in [`ExportKind::Other`]
/// so that a newer kernel's reference still parses and round-trips.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExportKind {
    /// `EXPORT_SYMBOL`: any module may import it.
    Symbol,
    /// `EXPORT_SYMBOL_GPL`: only GPL-compatible modules may import it.
    Gpl,
    /// `EXPORT_SYMBOL_GPL_FUTURE`: still open to all, announced to become GPL-only.
    GplFuture,
    /// `EXPORT_UNUSED_SYMBOL` (removed in 5.12): open to all.
    Unused,
    /// `EXPORT_UNUSED_SYMBOL_GPL` (removed in 5.12): GPL-only.
    UnusedGpl,
    /// Any other word found in the export column, kept as written (a
    /// shared string: one pointer, so that a [`Symbol`] stays small).
    Other(arcstr::ArcStr),
}

impl ExportKind {
    /// Reads the export column; never fails (see [`ExportKind::Other`]).
    pub fn parse(text: &str) -> ExportKind {
        match text {
            "EXPORT_SYMBOL" => Self::Symbol,
            "EXPORT_SYMBOL_GPL" => Self::Gpl,
            "EXPORT_SYMBOL_GPL_FUTURE" => Self::GplFuture,
            "EXPORT_UNUSED_SYMBOL" => Self::Unused,
            "EXPORT_UNUSED_SYMBOL_GPL" => Self::UnusedGpl,
            other => Self::Other(other.into()),
        }
    }

    /// The column text, as the kernel writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Symbol => "EXPORT_SYMBOL",
            Self::Gpl => "EXPORT_SYMBOL_GPL",
            Self::GplFuture => "EXPORT_SYMBOL_GPL_FUTURE",
            Self::Unused => "EXPORT_UNUSED_SYMBOL",
            Self::UnusedGpl => "EXPORT_UNUSED_SYMBOL_GPL",
            Self::Other(s) => s,
        }
    }

    /// Whether the module loader refuses this export to non-GPL modules.
    /// `None` for a kind abibot does not know.
    pub fn gpl_only(&self) -> Option<bool> {
        match self {
            Self::Gpl | Self::UnusedGpl => Some(true),
            Self::Symbol | Self::GplFuture | Self::Unused => Some(false),
            Self::Other(_) => None,
        }
    }
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExportKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExportKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ExportKind::parse(&String::deserialize(d)?))
    }
}

/// The text of a symbol's name, module or namespace: a shared, immutable
/// string that reads like a `&str` (`as_str`, `==` with `&str` and
/// `String`, `Display`, JSON as a string) and is built from either with
/// `.into()`.
///
/// A parsed reference keeps its whole text once, and each field is a slice
/// of it: no allocation per symbol when parsing, none to free after (module
/// paths repeat thousands of times in a reference). A symbol kept beyond
/// its set should be [`Symbol::detached`] so that it does not keep the whole
/// reference alive.
pub type Text = arcstr::Substr;

/// One exported symbol as a reference file records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Symbol {
    /// The C identifier, unique within a flavour.
    pub name: Text,
    /// The modversion CRC importers were built against.
    pub crc: Crc,
    /// Where it lives: `vmlinux` or a module path without `.ko`.
    pub module: Text,
    /// The export macro; `None` where the format has no such column
    /// (the 3-field Module.symvers of very old kernels).
    pub export: Option<ExportKind>,
    /// The symbol namespace importers must name (`MODULE_IMPORT_NS`), if any.
    pub namespace: Option<Text>,
}

impl Symbol {
    /// A copy holding only its own text: a symbol parsed from a reference
    /// shares that reference's text, which it would keep alive alone (a
    /// finding keeping a few changed symbols must not keep whole
    /// references).
    pub fn detached(&self) -> Symbol {
        let own = |text: &Text| Text::from(text.as_str());
        Symbol {
            name: own(&self.name),
            crc: self.crc,
            module: own(&self.module),
            export: self.export.clone(),
            namespace: self.namespace.as_ref().map(own),
        }
    }
}

/// The symbols of one flavour, unique by name and kept sorted by name so
/// that comparing two sets is a single merge pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SymbolSet {
    symbols: Vec<Symbol>,
}

/// Two different definitions of the same name were offered to a [`SymbolSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateSymbol {
    /// The symbol's name.
    pub name: String,
    /// Index (in input order) of the first definition.
    pub first: usize,
    /// Index (in input order) of the conflicting definition.
    pub second: usize,
}

/// Indices of `symbols` in name order, the first definition of each name
/// only; a name defined twice differently is refused.
fn sorted_order(symbols: &[Symbol]) -> Result<Vec<usize>, DuplicateSymbol> {
    // Sort one integer per symbol rather than whole symbols: the first 12
    // bytes of the name, big-endian, above the symbol's index, order most
    // names without reading them again. Names sharing those bytes
    // (`__tracepoint_sched_...`) are then ordered by the rest within their
    // run, stably, so that the first definition of a name stays first.
    // References beyond 2^32 symbols are refused long before (their size).
    let key = |(i, s): (usize, &Symbol)| {
        let mut bytes = [0u8; 16];
        let n = s.name.len().min(12);
        bytes[..n].copy_from_slice(&s.name.as_bytes()[..n]);
        u128::from_be_bytes(bytes) | i as u128
    };
    let mut order: Vec<u128> = symbols.iter().enumerate().map(key).collect();
    order.sort_unstable();
    let index = |k: u128| (k & u128::from(u32::MAX)) as usize;
    let name = |k: u128| symbols[index(k)].name.as_str();
    let prefix = |k: u128| k >> 32;
    for run in order.chunk_by_mut(|a, b| prefix(*a) == prefix(*b)) {
        if run.len() > 1 {
            run.sort_by(|a, b| name(*a).cmp(name(*b)));
        }
    }
    let same = |a: u128, b: u128| prefix(a) == prefix(b) && name(a) == name(b);
    for pair in order.windows(2) {
        let (first, second) = (index(pair[0]), index(pair[1]));
        if same(pair[0], pair[1]) && symbols[first] != symbols[second] {
            return Err(DuplicateSymbol {
                name: name(pair[0]).to_owned(),
                first,
                second,
            });
        }
    }
    order.dedup_by(|later, earlier| same(*later, *earlier));
    Ok(order.into_iter().map(index).collect())
}

impl SymbolSet {
    /// Builds a set from symbols in any order.
    ///
    /// An exact repetition of a symbol is collapsed (some tools concatenate
    /// overlapping Module.symvers files); two different definitions of one name
    /// are refused, because either choice would silently lose the other.
    pub fn from_symbols(mut symbols: Vec<Symbol>) -> Result<SymbolSet, DuplicateSymbol> {
        let keep = sorted_order(&symbols)?;
        // Where each symbol goes: its rank among those kept, or past them
        // (dropped repeats). Moving them there by swaps needs no second
        // array of symbols, which for millions of them is hundreds of MB.
        let mut dest = vec![usize::MAX; symbols.len()];
        for (rank, &i) in keep.iter().enumerate() {
            dest[i] = rank;
        }
        let dropped = dest.iter_mut().filter(|d| **d == usize::MAX);
        for (next, d) in (keep.len()..).zip(dropped) {
            *d = next;
        }
        for i in 0..symbols.len() {
            while dest[i] != i {
                let j = dest[i];
                symbols.swap(i, j);
                dest.swap(i, j);
            }
        }
        symbols.truncate(keep.len());
        Ok(SymbolSet { symbols })
    }

    /// The symbol called `name`, if exported.
    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.symbols
            .binary_search_by(|s| s.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.symbols[i])
    }

    /// All symbols, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Symbol> {
        self.symbols.iter()
    }

    /// All symbols, sorted by name, as a slice (for access by position).
    pub fn as_slice(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbols, sorted by name, taken out of the set.
    pub fn into_vec(self) -> Vec<Symbol> {
        self.symbols
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the set has no symbol.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Approximate heap footprint, used to bound caches in bytes: the
    /// symbol array plus each distinct text the symbols' fields are slices
    /// of (a parsed reference's text, counted once).
    pub fn approx_bytes(&self) -> usize {
        let mut texts = TextAccount::default();
        for s in &self.symbols {
            texts.add(&s.name);
            texts.add(&s.module);
            if let Some(ns) = &s.namespace {
                texts.add(ns);
            }
        }
        self.symbols.capacity() * std::mem::size_of::<Symbol>() + texts.bytes
    }
}

/// The bytes of the distinct texts some [`Text`]s are slices of.
#[derive(Default)]
struct TextAccount {
    /// Texts seen, by address: a parsed set has a few (one per piece
    /// parsed), so a short list searched in order beats hashing.
    seen: Vec<usize>,
    /// Past this many texts (symbols built one by one), a set.
    many: rustc_hash::FxHashSet<usize>,
    bytes: usize,
}

impl TextAccount {
    /// Texts looked for in `seen` before using `many`.
    const FEW: usize = 16;
    /// Allocator overhead of one text.
    const PER_ALLOCATION: usize = 16;

    fn add(&mut self, text: &Text) {
        let parent = text.parent();
        let at = parent.as_ptr() as usize;
        let new = if self.seen.contains(&at) {
            false
        } else if self.seen.len() < Self::FEW {
            self.seen.push(at);
            true
        } else {
            self.many.insert(at)
        };
        if new {
            self.bytes += parent.len() + Self::PER_ALLOCATION;
        }
    }
}

impl<'a> IntoIterator for &'a SymbolSet {
    type Item = &'a Symbol;
    type IntoIter = std::slice::Iter<'a, Symbol>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Which built image a reference belongs to, in Debian's terms
/// (`amd64_rt_amd64` is arch `amd64`, featureset `rt`, flavour `amd64`).
/// Layouts without featuresets use `none`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlavourKey {
    /// Debian architecture name (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Featureset (`none`, `rt`, historically `xen`, `openvz`).
    pub featureset: String,
    /// Flavour (`amd64`, `cloud-amd64`, `generic`, ...).
    pub flavour: String,
}

impl FlavourKey {
    /// Builds a key from its three parts.
    pub fn new(arch: &str, featureset: &str, flavour: &str) -> FlavourKey {
        FlavourKey {
            arch: arch.to_owned(),
            featureset: featureset.to_owned(),
            flavour: flavour.to_owned(),
        }
    }

    /// Parses Debian's reference file name `<arch>_<featureset>_<flavour>`
    /// (see the [`FromStr`] impl, which says why a name is refused).
    pub fn from_debian_name(name: &str) -> Option<FlavourKey> {
        name.parse().ok()
    }
}

impl fmt::Display for FlavourKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_{}", self.arch, self.featureset, self.flavour)
    }
}

/// Text that is not `<arch>_<featureset>_<flavour>` with three non-empty parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a flavour key: the {part} is missing (expected <arch>_<featureset>_<flavour>)"
)]
pub struct FlavourKeyError {
    /// The text offered.
    pub text: String,
    /// The first part that is absent or empty: `arch`, `featureset` or `flavour`.
    pub part: &'static str,
}

impl FromStr for FlavourKey {
    type Err = FlavourKeyError;

    /// Reads the form [`Display`](fmt::Display) writes, which is also
    /// Debian's reference file name: neither arch nor featureset contain
    /// `_`, so the flavour takes the rest.
    fn from_str(text: &str) -> Result<FlavourKey, FlavourKeyError> {
        let mut parts = text.splitn(3, '_');
        let mut next = |part| match parts.next() {
            Some(p) if !p.is_empty() => Ok(p),
            _ => Err(FlavourKeyError {
                text: text.to_owned(),
                part,
            }),
        };
        let (arch, featureset, flavour) = (next("arch")?, next("featureset")?, next("flavour")?);
        Ok(FlavourKey::new(arch, featureset, flavour))
    }
}

/// The name a distribution gives to one ABI (`6.1.0-50`, `3.2.0-1`,
/// `6.12.48+deb13`): modules built for it must load on every kernel that
/// carries the same name.
///
/// Build it with [`AbiName::new`] or [`FromStr`], which refuse text that
/// cannot be a name: the name becomes a directory (`debian/abi/<name>`), a
/// package name suffix and a line of a comment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AbiName(String);

/// The longest ABI name accepted, in bytes. Real ones are under 40
/// (`5.14.0-427.13.1.el9_4`); a longer one is a parse gone wrong.
pub const MAX_ABI_NAME_LEN: usize = 128;

/// Why text is not an ABI name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiNameError {
    /// Nothing was given.
    #[error("the ABI name is empty")]
    Empty,
    /// Longer than [`MAX_ABI_NAME_LEN`] bytes.
    #[error("the ABI name is {len} bytes long, more than the {MAX_ABI_NAME_LEN} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A white space, control character or `/` inside it, or the whole name
    /// is `.` or `..` (it names a directory).
    #[error("the ABI name {name:?} {problem}")]
    Invalid {
        /// The name as given (at most [`MAX_ABI_NAME_LEN`] bytes).
        name: String,
        /// What is wrong with it, for instance "contains a space at byte 2".
        problem: String,
    },
}

impl AbiName {
    /// Validates `name`: non-empty, at most [`MAX_ABI_NAME_LEN`] bytes, no
    /// white space, control character or `/`, and not `.` or `..`.
    pub fn new(name: impl Into<String>) -> Result<AbiName, AbiNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(AbiNameError::Empty);
        }
        if name.len() > MAX_ABI_NAME_LEN {
            return Err(AbiNameError::TooLong { len: name.len() });
        }
        let bad = name
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control() || *c == '/');
        let problem = match bad {
            Some((at, c)) => format!("contains {c:?} at byte {at}"),
            None if name == "." || name == ".." => "names a directory, not an ABI".to_owned(),
            None => return Ok(AbiName(name)),
        };
        Err(AbiNameError::Invalid { name, problem })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AbiName {
    type Err = AbiNameError;
    fn from_str(text: &str) -> Result<AbiName, AbiNameError> {
        AbiName::new(text)
    }
}

impl TryFrom<String> for AbiName {
    type Error = AbiNameError;
    fn try_from(text: String) -> Result<AbiName, AbiNameError> {
        AbiName::new(text)
    }
}

impl From<AbiName> for String {
    fn from(name: AbiName) -> String {
        name.0
    }
}

impl fmt::Display for AbiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything one revision promises: its ABI name and the reference of every
/// flavour. Sets are shared (`Arc`) because most revisions reuse their
/// parent's unchanged flavours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceSet {
    /// The ABI name in force, if the revision names one.
    pub abi: Option<AbiName>,
    /// One reference per flavour.
    pub flavours: BTreeMap<FlavourKey, Arc<SymbolSet>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, crc: u32) -> Symbol {
        Symbol {
            name: name.into(),
            crc: Crc(crc),
            module: "vmlinux".into(),
            export: Some(ExportKind::Symbol),
            namespace: None,
        }
    }

    #[test]
    fn crc_parses_and_prints_eight_digits() {
        assert_eq!(Crc::parse("0x0000abcd"), Some(Crc(0xabcd)));
        assert_eq!(Crc::parse("0xabcd"), Some(Crc(0xabcd)));
        assert_eq!(Crc(0xabcd).to_string(), "0x0000abcd");
        for bad in ["", "0x", "abcd", "0x123456789", "0xg1", "0x+1", "0x-1"] {
            assert_eq!(Crc::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unknown_export_kind_is_kept_verbatim() {
        let kind = ExportKind::parse("EXPORT_SYMBOL_NS_GPL");
        assert_eq!(kind.as_str(), "EXPORT_SYMBOL_NS_GPL");
        assert_eq!(kind.gpl_only(), None);
        assert_eq!(
            ExportKind::parse("EXPORT_SYMBOL_GPL").gpl_only(),
            Some(true)
        );
    }

    #[test]
    fn set_sorts_collapses_exact_repeats_and_refuses_conflicts() {
        let set = SymbolSet::from_symbols(vec![sym("b", 1), sym("a", 2), sym("b", 1)]).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("a").unwrap().crc, Crc(2));
        assert!(set.get("c").is_none());
        let err = SymbolSet::from_symbols(vec![sym("b", 1), sym("a", 2), sym("b", 3)]).unwrap_err();
        assert_eq!(
            err,
            DuplicateSymbol {
                name: "b".into(),
                first: 0,
                second: 2
            }
        );
    }

    #[test]
    fn names_sharing_their_first_sixteen_bytes_sort_by_the_rest() {
        // Tracepoint-like names: long shared prefixes, prefixes of each
        // other, and one repeated exactly; in a shuffled order.
        let mut names = vec![
            "__tracepoint_sched_switch",
            "__tracepoint_sched",
            "__tracepoint_sc",
        ];
        names.extend([
            "__tracepoint_sched_wakeup",
            "__tracepoint_sched_switch",
            "a",
            "",
        ]);
        names.extend([
            "__tracepoint_sched_switcH",
            "__tracepoint_sched_",
            "é_unicode",
        ]);
        let symbols: Vec<Symbol> = names.iter().map(|n| sym(n, 7)).collect();
        let set = SymbolSet::from_symbols(symbols.clone()).unwrap();
        let mut expected: Vec<&str> = names.clone();
        expected.sort();
        expected.dedup();
        let got: Vec<&str> = set.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(got, expected);
        // A conflict deep in a shared run names the first definition.
        let mut conflict = symbols;
        conflict.push(sym("__tracepoint_sched_wakeup", 8));
        let err = SymbolSet::from_symbols(conflict).unwrap_err();
        assert_eq!((err.first, err.second), (3, 10));
    }

    #[test]
    fn a_shared_text_is_counted_once_and_a_detached_symbol_owns_its_own() {
        let text = arcstr::ArcStr::from("a\tb\tvmlinux\n");
        let parsed = |name: &str| Symbol {
            name: text.substr_from(name),
            module: text.substr_from(&text[4..11]),
            ..sym("x", 1)
        };
        let set = SymbolSet::from_symbols(vec![parsed(&text[0..1]), parsed(&text[2..3])]).unwrap();
        let array = 2 * std::mem::size_of::<Symbol>();
        assert_eq!(set.approx_bytes(), array + text.len() + 16);
        let own = SymbolSet::from_symbols(vec![sym("a", 1), sym("b", 1)]).unwrap();
        // Four texts of their own: two names, two modules.
        assert_eq!(own.approx_bytes(), array + 2 + 2 * 7 + 4 * 16);
        let kept = set.as_slice()[0].detached();
        assert_eq!(kept, set.as_slice()[0]);
        assert!(!arcstr::ArcStr::ptr_eq(kept.name.parent(), &text));
        assert_eq!(kept.module.parent().len(), "vmlinux".len());
    }

    #[test]
    fn flavour_key_from_debian_file_name() {
        let key = FlavourKey::from_debian_name("amd64_none_cloud-amd64").unwrap();
        assert_eq!(key, FlavourKey::new("amd64", "none", "cloud-amd64"));
        assert_eq!(key.to_string(), "amd64_none_cloud-amd64");
        assert!(FlavourKey::from_debian_name("amd64_none").is_none());
        assert!(FlavourKey::from_debian_name("amd64__x").is_none());
    }

    #[test]
    fn flavour_key_parses_what_it_prints_and_names_the_missing_part() {
        let key = FlavourKey::new("arm64", "rt", "arm64_lpae");
        assert_eq!(key.to_string().parse::<FlavourKey>(), Ok(key));
        for (text, part) in [
            ("", "arch"),
            ("_none_amd64", "arch"),
            ("amd64", "featureset"),
            ("amd64__amd64", "featureset"),
            ("amd64_none", "flavour"),
            ("amd64_none_", "flavour"),
        ] {
            let err = text.parse::<FlavourKey>().unwrap_err();
            assert_eq!(err.part, part, "{text:?}");
            assert!(
                err.to_string().contains(&format!("the {part} is missing")),
                "{err}"
            );
        }
    }

    #[test]
    fn abi_name_accepts_real_names() {
        for name in [
            "6.1.0-47",
            "6.12.48+deb13",
            "5.14.0-427.13.1.el9_4",
            "3.2.0-1~bpo",
        ] {
            assert_eq!(AbiName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn abi_name_refuses_what_cannot_be_a_name() {
        assert_eq!(AbiName::new(""), Err(AbiNameError::Empty));
        let long = "1".repeat(MAX_ABI_NAME_LEN + 1);
        assert_eq!(
            AbiName::new(long),
            Err(AbiNameError::TooLong {
                len: MAX_ABI_NAME_LEN + 1
            })
        );
        assert!(AbiName::new("1".repeat(MAX_ABI_NAME_LEN)).is_ok());
        for (bad, says) in [
            ("47 # c", "' ' at byte 2"),
            ("47\t", "'\\t' at byte 2"),
            ("a\u{7f}", "'\\u{7f}' at byte 1"),
            ("6.1/../x", "'/' at byte 3"),
            ("6.1.0\u{a0}47", "'\\u{a0}' at byte 5"),
            ("..", "names a directory"),
        ] {
            let err = bad.parse::<AbiName>().unwrap_err();
            assert!(err.to_string().contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn abi_name_refused_in_json() {
        let ok: AbiName = serde_json::from_str("\"6.1.0-47\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"6.1.0-47\"");
        let err = serde_json::from_str::<AbiName>("\"6.1 47\"").unwrap_err();
        assert!(err.to_string().contains("contains ' ' at byte 3"), "{err}");
    }
}
