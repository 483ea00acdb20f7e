//! Exports of a vmlinux or module as modpost records them in Module.symvers:
//! CRC, name, module, export kind and namespace, in modpost's order.
//!
//! Sources, by preference:
//! - CRC: `__crc_<sym>`; a local label into `__kcrctab*` (5.19+: the value is
//!   an offset in a module, an address in vmlinux) or an absolute symbol whose
//!   value is the CRC (older kernels). Exports without one get `0x00000000`,
//!   as modpost writes for an unversioned export.
//! - Kind: the section of `__ksymtab_<sym>`, else of `__crc_<sym>`, else the
//!   license of a 6.5+ `__export_symbol_<sym>` record (`GPL` or empty).
//! - Namespace: `__kstrtabns_<sym>` in `__ksymtab_strings`, else the namespace
//!   of an `__export_symbol_<sym>` record; an empty string means none.
//!
//! Order: modpost writes each module's `SYMBOL_CRC()` lines into the
//! generated `.mod.c` in the order it writes Module.symvers, and the linker
//! keeps those local labels in that order, so `__crc_` symbol-table order is
//! modpost's order (checked line for line against Debian's references).
//! Exports without a CRC follow, in symbol-table order.

use std::collections::HashMap;

use super::error::{ElfError, ElfErrorKind};
use super::reader::{ElfFile, Section, c_string};
use super::symtab::{Markers, Role, role};
use crate::symbols::{Crc, ExportKind, Symbol};

#[derive(Default)]
struct Draft {
    crc: Option<(usize, u32)>,
    first_index: usize,
    ksymtab_kind: Option<ExportKind>,
    crc_kind: Option<ExportKind>,
    record: Option<(String, String)>,
    namespace: Option<String>,
}

/// Builds the exports of one object from the markers found in its symbols.
pub(crate) fn assemble(markers: &Markers, module: &str) -> Vec<Symbol> {
    let mut drafts: HashMap<&str, Draft> = HashMap::new();
    for c in &markers.crcs {
        let d = drafts.entry(c.name.as_str()).or_insert_with(|| Draft {
            first_index: c.index,
            ..Draft::default()
        });
        // A duplicate `__crc_` (impossible from kbuild) keeps the first, as
        // modpost would have refused the second.
        if d.crc.is_none() {
            d.crc = Some((c.index, c.crc));
            d.crc_kind = c.kind.clone();
        }
        d.first_index = d.first_index.min(c.index);
    }
    for (name, index, kind) in &markers.ksymtab {
        let d = drafts.entry(name.as_str()).or_insert_with(|| Draft {
            first_index: *index,
            ..Draft::default()
        });
        d.ksymtab_kind.get_or_insert_with(|| kind.clone());
        d.first_index = d.first_index.min(*index);
    }
    for (name, index, license, ns) in &markers.records {
        let d = drafts.entry(name.as_str()).or_insert_with(|| Draft {
            first_index: *index,
            ..Draft::default()
        });
        d.record
            .get_or_insert_with(|| (license.clone(), ns.clone()));
        d.first_index = d.first_index.min(*index);
    }
    // Namespaces annotate exports found above; alone they export nothing.
    for (name, ns) in &markers.namespaces {
        if let Some(d) = drafts.get_mut(name.as_str()) {
            d.namespace.get_or_insert_with(|| ns.clone());
        }
    }

    let mut exports: Vec<(&str, Draft)> = drafts.into_iter().collect();
    exports.sort_by_key(|(_, d)| match d.crc {
        Some((index, _)) => (0, index),
        None => (1, d.first_index),
    });
    exports
        .into_iter()
        .map(|(name, d)| {
            let record_kind = d.record.as_ref().map(|(license, _)| {
                if license == "GPL" {
                    ExportKind::Gpl
                } else {
                    ExportKind::Symbol
                }
            });
            let namespace = d
                .namespace
                .or_else(|| d.record.map(|(_, ns)| ns))
                .filter(|ns| !ns.is_empty());
            Symbol {
                name: name.into(),
                crc: Crc(d.crc.map_or(0, |(_, crc)| crc)),
                module: module.into(),
                export: d.ksymtab_kind.or(d.crc_kind).or(record_kind),
                namespace: namespace.map(Into::into),
            }
        })
        .collect()
}

/// How `struct kernel_symbol` is laid out in `__ksymtab*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `CONFIG_HAVE_ARCH_PREL32_RELOCATIONS`: `int` offsets relative to each
    /// field (value, name and, from 5.4, namespace).
    Prel32 { namespace: bool },
    /// Absolute pointers of the target's word size.
    Absolute { namespace: bool },
}

impl Layout {
    fn entry_size(self, word: usize) -> usize {
        match self {
            Layout::Prel32 { namespace } => 4 * if namespace { 3 } else { 2 },
            Layout::Absolute { namespace } => word * if namespace { 3 } else { 2 },
        }
    }

    fn has_namespace(self) -> bool {
        matches!(
            self,
            Layout::Prel32 { namespace: true } | Layout::Absolute { namespace: true }
        )
    }

    /// The address field `n` of the entry at `entry_addr` points to (value,
    /// name, namespace), or `None` for a null pointer.
    fn field(self, elf: &ElfFile<'_>, entry: &[u8], entry_addr: u64, n: usize) -> Option<u64> {
        match self {
            Layout::Prel32 { .. } => {
                let rel = elf.u32_at(entry, n * 4)? as i32;
                // PREL32 0 means "no pointer" (an absent namespace).
                (rel != 0).then(|| {
                    entry_addr
                        .wrapping_add((n * 4) as u64)
                        .wrapping_add_signed(i64::from(rel))
                })
            }
            Layout::Absolute { .. } => elf.word_at(entry, n * elf.word_size()).filter(|a| *a != 0),
        }
    }
}

/// Architectures that select `HAVE_ARCH_PREL32_RELOCATIONS` (64-bit only).
fn uses_prel32(machine: u16) -> bool {
    const EM_PPC64: u16 = 21;
    const EM_S390: u16 = 22;
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    const EM_RISCV: u16 = 243;
    const EM_LOONGARCH: u16 = 258;
    matches!(
        machine,
        EM_PPC64 | EM_S390 | EM_X86_64 | EM_AARCH64 | EM_RISCV | EM_LOONGARCH
    )
}

/// Reads the exports of a vmlinux without a symbol table (Debian's
/// `vmlinuz` holds a stripped one) the way the kernel does: from the
/// `__ksymtab*` tables and their parallel `__kcrctab*` arrays.
///
/// The tables are sorted by name at link time, so the order is the kernel's
/// (by kind, then by name), not modpost's; CRCs, kinds and namespaces match.
pub(crate) fn from_tables(elf: &ElfFile<'_>, module: &str) -> Result<Vec<Symbol>, ElfError> {
    let strings = elf.section_by_name(b"__ksymtab_strings").map(|(_, s)| s);
    let mut out = Vec::new();
    for table in &elf.sections {
        if let Role::Ksymtab(kind) = role(table) {
            out.extend(read_ksymtab(elf, table, &kind, strings, module)?);
        }
    }
    Ok(out)
}

/// The exports of one `__ksymtab*` table (all of one `kind`), with CRCs
/// from its parallel `__kcrctab*` array when there is one, names and
/// namespaces from `strings` (`__ksymtab_strings`).
fn read_ksymtab(
    elf: &ElfFile<'_>,
    table: &Section<'_>,
    kind: &ExportKind,
    strings: Option<&Section<'_>>,
    module: &str,
) -> Result<Vec<Symbol>, ElfError> {
    let bad = |problem: String| {
        ElfError::new(
            elf.file(),
            ElfErrorKind::BadSection {
                section: table.name_lossy(),
                problem,
            },
        )
    };
    let data = elf.section_data(table)?;
    let crcs = match elf
        .sections
        .iter()
        .find(|s| role(s) == Role::Kcrctab(kind.clone()))
    {
        Some(s) => Some(elf.section_data(s)?),
        None => None,
    };
    let layout = guess_layout(elf, data.len(), crcs.map(|c| c.len() / 4)).ok_or_else(|| {
        bad(format!(
            "size {:#x} fits no struct kernel_symbol layout",
            data.len()
        ))
    })?;
    let size = layout.entry_size(elf.word_size());
    let Some(strings) = strings else {
        return Err(bad("no __ksymtab_strings section holds the names".into()));
    };
    let strings_data = elf.section_data(strings)?;
    let string_at = |addr: u64, what: &str, entry: usize| -> Result<String, ElfError> {
        let bytes = addr
            .checked_sub(strings.addr)
            .filter(|o| *o < strings.size)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| c_string(strings_data, o))
            .ok_or_else(|| {
                bad(format!(
                    "the {what} of entry {entry} points to {addr:#x}, not to a string in __ksymtab_strings"
                ))
            })?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| bad(format!("the {what} of entry {entry} is not UTF-8")))
    };
    let mut out = Vec::new();
    for (i, entry) in data.chunks_exact(size).enumerate() {
        let entry_addr = table.addr.wrapping_add((i * size) as u64);
        let field = |n: usize| layout.field(elf, entry, entry_addr, n);
        let name_addr = field(1).ok_or_else(|| bad(format!("entry {i} has no name")))?;
        let name = string_at(name_addr, "name", i)?;
        let namespace = match field(2).filter(|_| layout.has_namespace()) {
            Some(addr) => Some(string_at(addr, "namespace", i)?).filter(|ns| !ns.is_empty()),
            None => None,
        };
        let crc = crcs.and_then(|c| elf.u32_at(c, i * 4)).unwrap_or(0);
        out.push(Symbol {
            name: name.into(),
            crc: Crc(crc),
            module: module.into(),
            export: Some(kind.clone()),
            namespace: namespace.map(Into::into),
        });
    }
    Ok(out)
}

/// Picks the entry layout: from the number of entries when a CRC table
/// gives it, else from the architecture and kernel era's likeliest layout.
fn guess_layout(elf: &ElfFile<'_>, len: usize, count: Option<usize>) -> Option<Layout> {
    let word = elf.word_size();
    let mut candidates = Vec::with_capacity(4);
    if elf.is_64() && uses_prel32(elf.machine) {
        candidates.push(Layout::Prel32 { namespace: true });
        candidates.push(Layout::Prel32 { namespace: false });
    }
    candidates.push(Layout::Absolute { namespace: true });
    candidates.push(Layout::Absolute { namespace: false });
    candidates.into_iter().find(|l| {
        let size = l.entry_size(word);
        match count {
            Some(n) if n > 0 => n.checked_mul(size) == Some(len),
            _ => len.is_multiple_of(size),
        }
    })
}
