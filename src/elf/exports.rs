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

use super::symtab::Markers;
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
                name: name.to_owned(),
                crc: Crc(d.crc.map_or(0, |(_, crc)| crc)),
                module: module.to_owned(),
                export: d.ksymtab_kind.or(d.crc_kind).or(record_kind),
                namespace,
            }
        })
        .collect()
}
