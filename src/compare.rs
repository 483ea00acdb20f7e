//! Classifies every difference between two [`SymbolSet`]s the way the kernel's
//! module loader (and Debian's `buildcheck.py`) sees it.
//!
//! | change | incompatible? | why |
//! |---|---|---|
//! | removed | yes | modules importing it no longer resolve |
//! | CRC changed | yes | `check_version` refuses the module |
//! | export made GPL-only | yes | non-GPL modules (NVIDIA's) are refused |
//! | export opened up | no | |
//! | export kind unknown to abibot changed | yes | assume the worst |
//! | namespace added or changed | yes | importers must name it |
//! | namespace removed | no | |
//! | added | no | |
//! | moved to another module | no | depmod resolves it |
//! | newly unversioned (CRC `0x00000000`) | no, but its own problem | nothing will check importers |
//!
//! One [`Change`] is reported per (symbol, kind): a symbol whose CRC changed and
//! that moved gives two. Ignored changes stay in the list, marked, and are
//! counted both in their kind and in `ignored`; `incompatible` counts only the
//! incompatible changes that are not ignored.

use serde::Serialize;

use crate::ignore::IgnoreRules;
use crate::symbols::{Symbol, SymbolSet};

/// The kind of one difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Exported by the new side only.
    Added,
    /// Exported by the old side only.
    Removed,
    /// Same name, different modversion CRC.
    CrcChanged,
    /// Same name, different export macro.
    ExportChanged,
    /// Same name, different symbol namespace.
    NamespaceChanged,
    /// Same name, different module.
    Moved,
    /// The new side has CRC `0x00000000` where the old side did not.
    Unversioned,
}

impl ChangeKind {
    /// Every kind, in the order reports list them (breaking kinds first).
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::Removed,
        ChangeKind::CrcChanged,
        ChangeKind::ExportChanged,
        ChangeKind::NamespaceChanged,
        ChangeKind::Unversioned,
        ChangeKind::Added,
        ChangeKind::Moved,
    ];

    /// The name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::CrcChanged => "crc_changed",
            ChangeKind::ExportChanged => "export_changed",
            ChangeKind::NamespaceChanged => "namespace_changed",
            ChangeKind::Moved => "moved",
            ChangeKind::Unversioned => "unversioned",
        }
    }

    /// A heading for human reports.
    pub fn title(self) -> &'static str {
        match self {
            ChangeKind::Added => "Added symbols",
            ChangeKind::Removed => "Removed symbols",
            ChangeKind::CrcChanged => "CRC changes",
            ChangeKind::ExportChanged => "Export changes",
            ChangeKind::NamespaceChanged => "Namespace changes",
            ChangeKind::Moved => "Moved symbols",
            ChangeKind::Unversioned => "Unversioned symbols (CRC 0x00000000)",
        }
    }
}

/// One difference of one symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The symbol name.
    pub symbol: String,
    /// What changed.
    pub kind: ChangeKind,
    /// Whether a module built against the old side may fail to load on the new.
    pub incompatible: bool,
    /// Whether an ignore rule covers it.
    pub ignored: bool,
    /// The rule that covers it, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_by: Option<String>,
    /// The symbol on the old side (`null` when added).
    pub old: Option<Symbol>,
    /// The symbol on the new side (`null` when removed).
    pub new: Option<Symbol>,
}

impl Change {
    /// Whether this change breaks the promise: incompatible and not ignored.
    pub fn breaks(&self) -> bool {
        self.incompatible && !self.ignored
    }
}

/// Counts per kind. Field names are part of the JSON schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Symbols added.
    pub added: usize,
    /// Symbols removed.
    pub removed: usize,
    /// CRCs changed.
    pub crc_changed: usize,
    /// Export kinds changed (either way).
    pub export_changed: usize,
    /// Namespaces changed (either way).
    pub namespace_changed: usize,
    /// Symbols moved to another module.
    pub moved: usize,
    /// Symbols newly at CRC `0x00000000`.
    pub unversioned: usize,
    /// Changes covered by an ignore rule (also counted in their kind).
    pub ignored: usize,
    /// Incompatible changes not covered by an ignore rule.
    pub incompatible: usize,
    /// Of those, changes to symbols that live in `vmlinux`: the core kernel
    /// interfaces nearly every out-of-tree module imports (SUSE's kABI
    /// severity ranks them highest too).
    pub incompatible_in_vmlinux: usize,
}

impl Summary {
    /// The count of one kind.
    pub fn count(&self, kind: ChangeKind) -> usize {
        match kind {
            ChangeKind::Added => self.added,
            ChangeKind::Removed => self.removed,
            ChangeKind::CrcChanged => self.crc_changed,
            ChangeKind::ExportChanged => self.export_changed,
            ChangeKind::NamespaceChanged => self.namespace_changed,
            ChangeKind::Moved => self.moved,
            ChangeKind::Unversioned => self.unversioned,
        }
    }

    fn record(&mut self, kind: ChangeKind, ignored: bool, breaks: bool, in_vmlinux: bool) {
        *match kind {
            ChangeKind::Added => &mut self.added,
            ChangeKind::Removed => &mut self.removed,
            ChangeKind::CrcChanged => &mut self.crc_changed,
            ChangeKind::ExportChanged => &mut self.export_changed,
            ChangeKind::NamespaceChanged => &mut self.namespace_changed,
            ChangeKind::Moved => &mut self.moved,
            ChangeKind::Unversioned => &mut self.unversioned,
        } += 1;
        self.ignored += usize::from(ignored);
        self.incompatible += usize::from(breaks);
        self.incompatible_in_vmlinux += usize::from(breaks && in_vmlinux);
    }

    /// Adds another summary's counts (for totals over flavours).
    pub fn add(&mut self, other: &Summary) {
        self.added += other.added;
        self.removed += other.removed;
        self.crc_changed += other.crc_changed;
        self.export_changed += other.export_changed;
        self.namespace_changed += other.namespace_changed;
        self.moved += other.moved;
        self.unversioned += other.unversioned;
        self.ignored += other.ignored;
        self.incompatible += other.incompatible;
        self.incompatible_in_vmlinux += other.incompatible_in_vmlinux;
    }
}

/// The result of comparing two symbol sets: plain data, rendered elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Counts per kind.
    pub summary: Summary,
    /// Every change, sorted by symbol name, then kind.
    pub changes: Vec<Change>,
}

impl Comparison {
    /// Whether any change breaks the promise (see [`Change::breaks`]).
    pub fn is_breaking(&self) -> bool {
        self.summary.incompatible > 0
    }

    /// Whether nothing at all differs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes there were, including any not kept (see [`compare_keeping`]).
    pub fn total(&self) -> usize {
        ChangeKind::ALL.iter().map(|&k| self.summary.count(k)).sum()
    }

    /// The changes of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// Whether an export change can refuse an importer that loaded before.
fn export_tightened(old: &Symbol, new: &Symbol) -> bool {
    match (&old.export, &new.export) {
        (Some(o), Some(n)) => match (o.gpl_only(), n.gpl_only()) {
            (Some(o), Some(n)) => !o && n,
            _ => true,
        },
        _ => false,
    }
}

/// Where a kept change's symbols are: positions in the old and new sets.
type Sides = (Option<usize>, Option<usize>);

struct Collector<'r> {
    ignore: &'r IgnoreRules,
    keep: usize,
    kept: [usize; ChangeKind::ALL.len()],
    out: Comparison,
    /// One entry per kept change; the symbols are filled in after the merge,
    /// copied ([`compare_keeping`]) or moved ([`compare_owned`]).
    sides: Vec<Sides>,
}

/// A symbol and its position in its set.
type At<'a> = (usize, &'a Symbol);

impl Collector<'_> {
    fn push(&mut self, kind: ChangeKind, incompatible: bool, old: Option<At>, new: Option<At>) {
        let subject = new.or(old).expect("a change has a side").1;
        // A Debian rule on either side's module covers a moved symbol, as
        // a maintainer who ignores `module:old/path` would expect; a SUSE
        // severities rule looks at the reference side, and a FAIL there
        // decides (the first matching rule does).
        let rule = self
            .ignore
            .deciding(old.map(|(_, o)| o), new.map(|(_, n)| n))
            .filter(|r| r.tolerates());
        let ignored = rule.is_some();
        self.out.summary.record(
            kind,
            ignored,
            incompatible && !ignored,
            subject.module == "vmlinux",
        );
        let kept = &mut self.kept[kind as usize];
        if *kept == self.keep {
            return;
        }
        *kept += 1;
        self.out.changes.push(Change {
            symbol: subject.name.to_string(),
            kind,
            incompatible,
            ignored,
            ignored_by: rule.map(|r| r.entry.clone()),
            old: None,
            new: None,
        });
        self.sides.push((old.map(|(i, _)| i), new.map(|(i, _)| i)));
    }

    fn both(&mut self, old: At, new: At) {
        let (o, n) = (Some(old), Some(new));
        let (old, new) = (old.1, new.1);
        if old.crc != new.crc {
            self.push(ChangeKind::CrcChanged, true, o, n);
        }
        if old.export != new.export && old.export.is_some() && new.export.is_some() {
            self.push(ChangeKind::ExportChanged, export_tightened(old, new), o, n);
        }
        if old.namespace != new.namespace {
            self.push(ChangeKind::NamespaceChanged, new.namespace.is_some(), o, n);
        }
        if old.module != new.module {
            self.push(ChangeKind::Moved, false, o, n);
        }
        if new.crc.is_unversioned() && !old.crc.is_unversioned() {
            self.push(ChangeKind::Unversioned, false, o, n);
        }
    }

    fn added(&mut self, new: At) {
        self.push(ChangeKind::Added, false, None, Some(new));
        if new.1.crc.is_unversioned() {
            self.push(ChangeKind::Unversioned, false, None, Some(new));
        }
    }
}

/// Compares `old` (the reference) with `new` and classifies every difference.
pub fn compare(old: &SymbolSet, new: &SymbolSet, ignore: &IgnoreRules) -> Comparison {
    compare_keeping(old, new, ignore, usize::MAX)
}

/// Like [`compare`], but keeps only the first `keep` changes of each kind
/// (by symbol name) while counting all of them. A refresh of 30 flavours
/// can carry half a million changes; reports show a few hundred.
pub fn compare_keeping(
    old: &SymbolSet,
    new: &SymbolSet,
    ignore: &IgnoreRules,
    keep: usize,
) -> Comparison {
    let (mut out, sides) = merge(old, new, ignore, keep);
    let (old, new) = (old.as_slice(), new.as_slice());
    // Detached: a kept change outlives the sets (a finding keeps it), and
    // must not keep whole references alive.
    for (change, (o, n)) in out.changes.iter_mut().zip(sides) {
        change.old = o.map(|i| old[i].detached());
        change.new = n.map(|i| new[i].detached());
    }
    out
}

/// Like [`compare`], but consumes both sets and moves the changed symbols
/// into the result rather than copying them: `abibot diff` of two
/// references of millions of symbols needs the sets no more afterwards.
pub fn compare_owned(old: SymbolSet, new: SymbolSet, ignore: &IgnoreRules) -> Comparison {
    let (mut out, sides) = merge(&old, &new, ignore, usize::MAX);
    let mut old: Vec<Option<Symbol>> = old.into_vec().into_iter().map(Some).collect();
    let mut new: Vec<Option<Symbol>> = new.into_vec().into_iter().map(Some).collect();
    for (k, &(o, n)) in sides.iter().enumerate() {
        let (next_o, next_n) = sides.get(k + 1).copied().unwrap_or_default();
        out.changes[k].old = take(&mut old, o, next_o);
        out.changes[k].new = take(&mut new, n, next_n);
    }
    out
}

/// The symbol at `at` for a change; the changes of one symbol are
/// consecutive, so all but its last (`next` is elsewhere) take a copy.
fn take(slots: &mut [Option<Symbol>], at: Option<usize>, next: Option<usize>) -> Option<Symbol> {
    let i = at?;
    if next == Some(i) {
        slots[i].clone()
    } else {
        slots[i].take()
    }
}

/// Whether two symbols of the same name differ: the name is not compared
/// again (the merge just did), and the CRC, the cheapest field that tells
/// most changes apart, is compared first.
fn differs(old: &Symbol, new: &Symbol) -> bool {
    old.crc != new.crc
        || old.export != new.export
        || old.namespace != new.namespace
        || old.module != new.module
}

/// One merge pass over both sets (sorted by name): the classified changes
/// without their symbols, and where those are.
fn merge(
    old: &SymbolSet,
    new: &SymbolSet,
    ignore: &IgnoreRules,
    keep: usize,
) -> (Comparison, Vec<Sides>) {
    let mut c = Collector {
        ignore,
        keep,
        kept: [0; ChangeKind::ALL.len()],
        out: Comparison::default(),
        sides: Vec::new(),
    };
    let (mut a, mut b) = (
        old.iter().enumerate().peekable(),
        new.iter().enumerate().peekable(),
    );
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (Some(o), Some(n)) => match o.1.name.cmp(&n.1.name) {
                std::cmp::Ordering::Less => {
                    c.push(ChangeKind::Removed, true, Some(o), None);
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    c.added(n);
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if differs(o.1, n.1) {
                        c.both(o, n);
                    }
                    a.next();
                    b.next();
                }
            },
            (Some(o), None) => {
                c.push(ChangeKind::Removed, true, Some(o), None);
                a.next();
            }
            (None, Some(n)) => {
                c.added(n);
                b.next();
            }
            (None, None) => break,
        }
    }
    (c.out, c.sides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::{Crc, ExportKind};

    fn sym(name: &str, crc: u32, module: &str, export: ExportKind, ns: Option<&str>) -> Symbol {
        Symbol {
            name: name.into(),
            crc: Crc(crc),
            module: module.into(),
            export: Some(export),
            namespace: ns.map(Into::into),
        }
    }

    fn set(symbols: Vec<Symbol>) -> SymbolSet {
        SymbolSet::from_symbols(symbols).unwrap()
    }

    fn kinds(c: &Comparison) -> Vec<(String, ChangeKind, bool)> {
        c.changes
            .iter()
            .map(|c| (c.symbol.clone(), c.kind, c.incompatible))
            .collect()
    }

    #[test]
    fn classifies_like_the_loader() {
        use ChangeKind::*;
        use ExportKind::{Gpl, Symbol as Plain};
        let old = set(vec![
            sym("gone", 1, "vmlinux", Plain, None),
            sym("crc", 1, "vmlinux", Plain, None),
            sym("tight", 1, "vmlinux", Plain, None),
            sym("loose", 1, "vmlinux", Gpl, None),
            sym("ns_add", 1, "vmlinux", Plain, None),
            sym("ns_drop", 1, "vmlinux", Plain, Some("A")),
            sym("ns_change", 1, "vmlinux", Plain, Some("A")),
            sym("move", 1, "fs/a", Plain, None),
            sym("zero", 1, "vmlinux", Plain, None),
        ]);
        let new = set(vec![
            sym("new", 2, "vmlinux", Plain, None),
            sym("crc", 2, "vmlinux", Plain, None),
            sym("tight", 1, "vmlinux", Gpl, None),
            sym("loose", 1, "vmlinux", Plain, None),
            sym("ns_add", 1, "vmlinux", Plain, Some("B")),
            sym("ns_drop", 1, "vmlinux", Plain, None),
            sym("ns_change", 1, "vmlinux", Plain, Some("B")),
            sym("move", 1, "fs/b", Plain, None),
            sym("zero", 0, "vmlinux", Plain, None),
        ]);
        let c = compare(&old, &new, &IgnoreRules::default());
        // Moving the symbols gives the same result as copying them.
        assert_eq!(
            compare_owned(old.clone(), new.clone(), &IgnoreRules::default()),
            c
        );
        let expected = [
            ("crc", CrcChanged, true),
            ("gone", Removed, true),
            ("loose", ExportChanged, false),
            ("move", Moved, false),
            ("new", Added, false),
            ("ns_add", NamespaceChanged, true),
            ("ns_change", NamespaceChanged, true),
            ("ns_drop", NamespaceChanged, false),
            ("tight", ExportChanged, true),
            ("zero", CrcChanged, true),
            ("zero", Unversioned, false),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(n, k, i)| (n.to_string(), *k, *i))
            .collect();
        assert_eq!(kinds(&c), expected);
        assert_eq!(c.summary.incompatible, 6);
        assert_eq!(c.summary.incompatible_in_vmlinux, 6);
        assert_eq!(c.summary.namespace_changed, 3);
        assert!(c.is_breaking());
    }

    #[test]
    fn ignored_changes_are_counted_and_marked() {
        let old = set(vec![
            sym("kvm_a", 1, "arch/x86/kvm/kvm", ExportKind::Gpl, None),
            sym("b", 1, "vmlinux", ExportKind::Gpl, None),
        ]);
        let new = set(vec![
            sym("kvm_a", 2, "arch/x86/kvm/kvm", ExportKind::Gpl, None),
            sym("b", 2, "vmlinux", ExportKind::Gpl, None),
        ]);
        let rules = IgnoreRules::parse(["module:arch/x86/kvm/*"]).unwrap();
        let c = compare(&old, &new, &rules);
        assert_eq!(c.summary.crc_changed, 2);
        assert_eq!(c.summary.ignored, 1);
        assert_eq!(c.summary.incompatible, 1);
        let kvm = c.changes.iter().find(|c| c.symbol == "kvm_a").unwrap();
        assert!(kvm.ignored && kvm.incompatible && !kvm.breaks());
        assert_eq!(kvm.ignored_by.as_deref(), Some("module:arch/x86/kvm/*"));
    }

    #[test]
    fn keeping_few_changes_keeps_counts_and_the_first_of_each_kind() {
        let old = set((0..10)
            .map(|i| sym(&format!("s{i}"), 1, "vmlinux", ExportKind::Symbol, None))
            .collect());
        let new = set((5..15)
            .map(|i| sym(&format!("s{i}"), 2, "vmlinux", ExportKind::Symbol, None))
            .collect());
        let full = compare(&old, &new, &IgnoreRules::default());
        let c = compare_keeping(&old, &new, &IgnoreRules::default(), 2);
        assert_eq!(c.summary, full.summary);
        assert_eq!(c.total(), 15);
        let names: Vec<(&str, ChangeKind)> = c
            .changes
            .iter()
            .map(|c| (c.symbol.as_str(), c.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("s0", ChangeKind::Removed),
                ("s1", ChangeKind::Removed),
                ("s10", ChangeKind::Added),
                ("s11", ChangeKind::Added),
                ("s5", ChangeKind::CrcChanged),
                ("s6", ChangeKind::CrcChanged),
            ]
        );
    }

    #[test]
    fn unknown_export_kind_change_is_assumed_incompatible() {
        let old = set(vec![sym("a", 1, "vmlinux", ExportKind::Symbol, None)]);
        let new = set(vec![sym(
            "a",
            1,
            "vmlinux",
            ExportKind::parse("EXPORT_X"),
            None,
        )]);
        assert!(compare(&old, &new, &IgnoreRules::default()).is_breaking());
    }
}
