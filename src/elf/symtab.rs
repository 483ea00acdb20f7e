//! One pass over the symbol table that finds what modpost and the module
//! loader look at: the export markers (`__crc_*`, `__ksymtab_*`,
//! `__kstrtabns_*`, `__export_symbol_*`) and the undefined symbols a module
//! imports. Turning the markers into exports is [`super::exports`]' job.

use goblin::elf::section_header::SHN_ABS;
use goblin::elf::sym::{STB_WEAK, STT_FILE, STT_SECTION, Sym};
use serde::Serialize;

use super::error::{ElfError, ElfErrorKind};
use super::reader::{ElfFile, Section, Symbols, c_string};
use crate::symbols::ExportKind;

/// A symbol the module uses but does not define (`SHN_UNDEF`): the loader
/// resolves each against the kernel's exports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UndefinedSymbol {
    /// The symbol's name.
    pub name: String,
    /// A weak reference may stay unresolved without failing the load.
    pub weak: bool,
}

/// What a section holds, as far as exports are concerned.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Role {
    /// `__kcrctab*` (or `___kcrctab*+sym` in an unlinked object).
    Kcrctab(ExportKind),
    /// `__ksymtab*` (or `___ksymtab*+sym`).
    Ksymtab(ExportKind),
    /// `__ksymtab_strings`: export names and namespaces.
    Strings,
    /// `.export_symbol`: 6.5+ export records in unlinked objects.
    ExportRecords,
    Other,
}

/// `__ksymtab` -> `EXPORT_SYMBOL`, `__kcrctab_gpl` -> `EXPORT_SYMBOL_GPL`, ...
fn export_kind(section: &[u8], base: &[u8]) -> Option<ExportKind> {
    // Unlinked objects keep one section per export: `___ksymtab_gpl+name`.
    let section = match section.strip_prefix(b"_") {
        Some(rest) if rest.starts_with(base) => {
            let end = memchr::memchr(b'+', rest)?;
            rest.get(..end)?
        }
        _ => section,
    };
    match section.strip_prefix(base)? {
        b"" => Some(ExportKind::Symbol),
        b"_gpl" => Some(ExportKind::Gpl),
        b"_gpl_future" => Some(ExportKind::GplFuture),
        b"_unused" => Some(ExportKind::Unused),
        b"_unused_gpl" => Some(ExportKind::UnusedGpl),
        _ => None,
    }
}

pub(crate) fn role(section: &Section<'_>) -> Role {
    if section.name == b"__ksymtab_strings" {
        Role::Strings
    } else if section.name == b".export_symbol" {
        Role::ExportRecords
    } else if let Some(kind) = export_kind(section.name, b"__kcrctab") {
        Role::Kcrctab(kind)
    } else if let Some(kind) = export_kind(section.name, b"__ksymtab") {
        Role::Ksymtab(kind)
    } else {
        Role::Other
    }
}

/// Where a `__crc_` symbol says the CRC is.
#[derive(Clone, Debug)]
pub(crate) struct CrcMarker {
    pub name: String,
    pub index: usize,
    pub crc: u32,
    /// The kind implied by the `__kcrctab*` section (none for `SHN_ABS`).
    pub kind: Option<ExportKind>,
}

/// Everything the pass found, in symbol table order.
#[derive(Debug, Default)]
pub(crate) struct Markers {
    pub crcs: Vec<CrcMarker>,
    /// `(name, symbol index, kind from the section)` of `__ksymtab_*`.
    pub ksymtab: Vec<(String, usize, ExportKind)>,
    /// `(name, namespace)` from `__kstrtabns_*`; empty namespace = none.
    pub namespaces: Vec<(String, String)>,
    /// `(name, symbol index, license, namespace)` from `__export_symbol_*`.
    pub records: Vec<(String, usize, String, String)>,
    pub undefined: Vec<UndefinedSymbol>,
}

impl Markers {
    /// Whether no export marker was found (a stripped image).
    pub fn is_empty(&self) -> bool {
        self.crcs.is_empty() && self.ksymtab.is_empty() && self.records.is_empty()
    }
}

fn bad_symbol(elf: &ElfFile<'_>, symbol: &[u8], problem: String) -> ElfError {
    ElfError::new(
        elf.file(),
        ElfErrorKind::BadSymbol {
            symbol: String::from_utf8_lossy(symbol).into_owned(),
            problem,
        },
    )
}

fn utf8(elf: &ElfFile<'_>, symbol: &[u8], bytes: &[u8], what: &str) -> Result<String, ElfError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| bad_symbol(elf, symbol, format!("{what} is not UTF-8")))
}

/// Scans every symbol once.
pub(crate) fn scan(elf: &ElfFile<'_>, syms: &Symbols<'_>) -> Result<Markers, ElfError> {
    let roles: Vec<Role> = elf.sections.iter().map(role).collect();
    let mut out = Markers::default();
    for index in 1..syms.len() {
        let Some(sym) = syms.get(index) else { break };
        let Some(name) = syms.name(&sym) else {
            return Err(bad_symbol(
                elf,
                format!("#{index}").as_bytes(),
                format!(
                    "name offset {:#x} is outside the string table or unterminated",
                    sym.st_name
                ),
            ));
        };
        let shndx = syms.section_index(index, &sym);
        if shndx == Some(0) {
            let kind = sym.st_type();
            if !name.is_empty() && kind != STT_SECTION && kind != STT_FILE {
                out.undefined.push(UndefinedSymbol {
                    name: utf8(elf, name, name, "the name")?,
                    weak: sym.st_bind() == STB_WEAK,
                });
            }
            continue;
        }
        let section = shndx.and_then(|i| Some((elf.sections.get(i)?, roles.get(i)?)));
        if let Some(export) = name.strip_prefix(b"__crc_") {
            out.crcs
                .push(crc_marker(elf, &sym, index, name, export, section)?);
        } else if let Some(export) = name.strip_prefix(b"__ksymtab_") {
            if let Some((_, Role::Ksymtab(kind))) = section {
                out.ksymtab
                    .push((utf8(elf, name, export, "the name")?, index, kind.clone()));
            }
        } else if let Some(export) = name.strip_prefix(b"__kstrtabns_") {
            if let Some((section, Role::Strings)) = section {
                let ns = read_string_in(elf, section, sym.st_value, name)?;
                out.namespaces.push((
                    utf8(elf, name, export, "the name")?,
                    utf8(elf, name, ns, "the namespace")?,
                ));
            }
        } else if let Some(export) = name.strip_prefix(b"__export_symbol_")
            && let Some((section, Role::ExportRecords)) = section
        {
            let record = export_record(elf, section, sym.st_value, index, name, export)?;
            out.records.push(record);
        }
    }
    Ok(out)
}

/// A `__crc_<name>` marker: its CRC is the value of an absolute symbol
/// (before 5.19) or 32 bits in a `__kcrctab` section, whose kind it takes.
fn crc_marker(
    elf: &ElfFile<'_>,
    sym: &Sym,
    index: usize,
    name: &[u8],
    export: &[u8],
    section: Option<(&Section<'_>, &Role)>,
) -> Result<CrcMarker, ElfError> {
    let (crc, kind) = if u32::try_from(sym.st_shndx).ok() == Some(SHN_ABS) {
        // Before 5.19 the CRC *is* the value of an absolute symbol.
        let crc = u32::try_from(sym.st_value).map_err(|_| {
            bad_symbol(
                elf,
                name,
                format!("absolute CRC {:#x} exceeds 32 bits", sym.st_value),
            )
        })?;
        (crc, None)
    } else {
        let Some((section, Role::Kcrctab(kind))) = section else {
            return Err(bad_symbol(
                elf,
                name,
                format!(
                    "defined in section {}, expected __kcrctab or an absolute value",
                    section.map_or_else(|| format!("{:#x}", sym.st_shndx), |(s, _)| s.name_lossy())
                ),
            ));
        };
        (
            read_u32_in(elf, section, sym.st_value, name)?,
            Some(kind.clone()),
        )
    };
    Ok(CrcMarker {
        name: utf8(elf, name, export, "the name")?,
        index,
        crc,
        kind,
    })
}

/// An `__export_symbol_<name>` record at `value` in its section:
/// `(name, symbol index, license, namespace)`.
fn export_record(
    elf: &ElfFile<'_>,
    section: &Section<'_>,
    value: u64,
    index: usize,
    name: &[u8],
    export: &[u8],
) -> Result<(String, usize, String, String), ElfError> {
    // `.asciz license; .asciz namespace; <reference>` (6.5+).
    let license = read_string_in(elf, section, value, name)?;
    let next = value
        .checked_add(license.len() as u64 + 1)
        .ok_or_else(|| bad_symbol(elf, name, "value overflows".into()))?;
    let ns = read_string_in(elf, section, next, name)?;
    Ok((
        utf8(elf, name, export, "the name")?,
        index,
        utf8(elf, name, license, "the license")?,
        utf8(elf, name, ns, "the namespace")?,
    ))
}

fn locate<'a>(
    elf: &ElfFile<'a>,
    section: &Section<'a>,
    value: u64,
    symbol: &[u8],
) -> Result<(&'a [u8], usize), ElfError> {
    let data = elf.section_data(section)?;
    let offset = elf
        .offset_in_section(section, value)
        .and_then(|o| usize::try_from(o).ok())
        .ok_or_else(|| {
            bad_symbol(
                elf,
                symbol,
                format!(
                    "value {value:#x} lies outside section {} (address {:#x}, size {:#x})",
                    section.name_lossy(),
                    section.addr,
                    section.size
                ),
            )
        })?;
    Ok((data, offset))
}

fn read_u32_in(
    elf: &ElfFile<'_>,
    section: &Section<'_>,
    value: u64,
    symbol: &[u8],
) -> Result<u32, ElfError> {
    let (data, offset) = locate(elf, section, value, symbol)?;
    elf.u32_at(data, offset).ok_or_else(|| {
        bad_symbol(
            elf,
            symbol,
            format!(
                "4 bytes at offset {offset:#x} run past the end of section {} (size {:#x})",
                section.name_lossy(),
                section.size
            ),
        )
    })
}

fn read_string_in<'a>(
    elf: &ElfFile<'a>,
    section: &Section<'a>,
    value: u64,
    symbol: &[u8],
) -> Result<&'a [u8], ElfError> {
    let (data, offset) = locate(elf, section, value, symbol)?;
    c_string(data, offset).ok_or_else(|| {
        bad_symbol(
            elf,
            symbol,
            format!(
                "string at offset {offset:#x} of section {} is not NUL-terminated",
                section.name_lossy()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_give_export_kinds() {
        let cases: [(&[u8], &[u8], Option<ExportKind>); 8] = [
            (b"__ksymtab", b"__ksymtab", Some(ExportKind::Symbol)),
            (b"__kcrctab_gpl", b"__kcrctab", Some(ExportKind::Gpl)),
            (
                b"___ksymtab_gpl+fat_scan",
                b"__ksymtab",
                Some(ExportKind::Gpl),
            ),
            (b"___kcrctab+printk", b"__kcrctab", Some(ExportKind::Symbol)),
            (
                b"__ksymtab_unused_gpl",
                b"__ksymtab",
                Some(ExportKind::UnusedGpl),
            ),
            (b"__ksymtab_strings", b"__ksymtab", None),
            (b"___ksymtab", b"__ksymtab", None),
            (b".text", b"__ksymtab", None),
        ];
        for (section, prefix, kind) in cases {
            let name = String::from_utf8_lossy(section);
            assert_eq!(export_kind(section, prefix), kind, "{name}");
        }
    }
}
