//! The debug sections of an ELF file as gimli reads them: decompressed
//! (`SHF_COMPRESSED` zlib/zstd, or GNU `.zdebug_*`) and, in a relocatable
//! object (a module, a `gcc -c` object), with their absolute relocations
//! applied: in an unlinked object every string and abbreviation offset of
//! `.debug_info` is 0 plus a relocation addend.
//!
//! Only the sections the type walk reads are loaded (and `.debug_line`,
//! whose header gimli reads with each unit): the location, range and frame
//! tables are left alone.

use std::borrow::Cow;

use gimli::{EndianSlice, RunTimeEndian, SectionId};
use object::{Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget};
use rustc_hash::FxHashMap;

use super::{DwarfError, DwarfErrorKind, MAX_SECTION_BYTES};

/// The sections the type walk needs.
const WANTED: [SectionId; 8] = [
    SectionId::DebugAbbrev,
    SectionId::DebugAddr,
    SectionId::DebugLine,
    SectionId::DebugInfo,
    SectionId::DebugStr,
    SectionId::DebugStrOffsets,
    SectionId::DebugLineStr,
    SectionId::DebugTypes,
];

/// The reader every DWARF structure here uses.
pub(super) type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// The loaded section bytes of one file.
pub(super) struct Sections<'a> {
    data: FxHashMap<SectionId, Cow<'a, [u8]>>,
    endian: RunTimeEndian,
}

impl<'a> Sections<'a> {
    /// Reads the wanted sections of the ELF image `bytes` (`file` names it
    /// in errors).
    pub(super) fn read(bytes: &'a [u8], file: &str) -> Result<Sections<'a>, DwarfError> {
        let obj = object::File::parse(bytes).map_err(|e| bad(file, e))?;
        let endian = if obj.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let mut data = FxHashMap::default();
        for id in WANTED {
            if let Some(bytes) = section_bytes(&obj, id, endian, file)? {
                data.insert(id, bytes);
            }
        }
        if !data.contains_key(&SectionId::DebugInfo) {
            return Err(DwarfError::new(file, DwarfErrorKind::NoDebugInfo));
        }
        Ok(Sections { data, endian })
    }

    /// gimli's view of the sections (empty for those not loaded).
    pub(super) fn dwarf(&self) -> gimli::Dwarf<R<'_>> {
        let load = |id: SectionId| -> Result<R<'_>, std::convert::Infallible> {
            let bytes = self.data.get(&id).map_or(&[][..], |c| &c[..]);
            Ok(EndianSlice::new(bytes, self.endian))
        };
        let Ok(dwarf) = gimli::Dwarf::load(load);
        dwarf
    }
}

/// The bytes of section `id`, decompressed and relocated. An unlinked
/// object keeps each type unit in a section of its own (a COMDAT group):
/// same-named sections are read as one, in file order.
fn section_bytes<'a>(
    obj: &object::File<'a>,
    id: SectionId,
    endian: RunTimeEndian,
    file: &str,
) -> Result<Option<Cow<'a, [u8]>>, DwarfError> {
    let mut parts = Vec::new();
    for section in obj.sections().filter(|s| s.name().ok() == Some(id.name())) {
        let mut bytes = uncompressed(&section, file)?;
        let out = bytes.to_mut_if_relocated(&section);
        relocate(obj, &section, out, endian, file)?;
        parts.push(bytes);
    }
    if parts.is_empty()
        && let Some(section) = obj.section_by_name(id.name())
    {
        // GNU `.zdebug_*`, which object finds under the plain name.
        parts.push(uncompressed(&section, file)?);
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Cow::Owned(parts.concat())),
    })
}

/// A section's bytes, refusing a declared size past [`MAX_SECTION_BYTES`]
/// before anything is allocated.
fn uncompressed<'a>(
    section: &object::Section<'a, '_>,
    file: &str,
) -> Result<Cow<'a, [u8]>, DwarfError> {
    let compressed = section.compressed_data().map_err(|e| bad(file, e))?;
    if compressed.uncompressed_size > MAX_SECTION_BYTES {
        return Err(DwarfError::new(
            file,
            DwarfErrorKind::TooMuch {
                what: "bytes in one debug section",
                limit: MAX_SECTION_BYTES,
            },
        ));
    }
    compressed.decompress().map_err(|e| bad(file, e))
}

/// Owning the bytes only when relocations will be written into them.
trait MutIfRelocated {
    fn to_mut_if_relocated(&mut self, section: &object::Section<'_, '_>) -> Option<&mut Vec<u8>>;
}

impl MutIfRelocated for Cow<'_, [u8]> {
    fn to_mut_if_relocated(&mut self, section: &object::Section<'_, '_>) -> Option<&mut Vec<u8>> {
        section.relocations().next()?;
        Some(self.to_mut())
    }
}

/// Applies the absolute relocations of `section` to `out` (PC-relative ones
/// only occur in tables not read here).
fn relocate(
    obj: &object::File<'_>,
    section: &object::Section<'_, '_>,
    out: Option<&mut Vec<u8>>,
    endian: RunTimeEndian,
    file: &str,
) -> Result<(), DwarfError> {
    let Some(out) = out else { return Ok(()) };
    for (offset, reloc) in section.relocations() {
        if reloc.kind() != RelocationKind::Absolute {
            continue;
        }
        let base = match reloc.target() {
            RelocationTarget::Symbol(index) => obj
                .symbol_by_index(index)
                .map_err(|e| bad(file, e))?
                .address(),
            _ => 0,
        };
        let width = usize::from(reloc.size() / 8);
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = at.checked_add(width).filter(|&e| e <= out.len());
        let (Some(end), true) = (end, width == 4 || width == 8) else {
            return Err(DwarfError::new(
                file,
                DwarfErrorKind::Malformed(format!(
                    "relocation at {offset:#x} of {} does not fit it",
                    section.name().unwrap_or("?")
                )),
            ));
        };
        let implicit = if reloc.has_implicit_addend() {
            read_uint(&out[at..end], endian)
        } else {
            0
        };
        let value = base
            .wrapping_add(implicit)
            .wrapping_add_signed(reloc.addend());
        write_uint(&mut out[at..end], value, endian);
    }
    Ok(())
}

fn read_uint(bytes: &[u8], endian: RunTimeEndian) -> u64 {
    let mut word = [0u8; 8];
    if endian == RunTimeEndian::Little {
        word[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(word)
    } else {
        word[8 - bytes.len()..].copy_from_slice(bytes);
        u64::from_be_bytes(word)
    }
}

fn write_uint(out: &mut [u8], value: u64, endian: RunTimeEndian) {
    let n = out.len();
    if endian == RunTimeEndian::Little {
        out.copy_from_slice(&value.to_le_bytes()[..n]);
    } else {
        out.copy_from_slice(&value.to_be_bytes()[8 - n..]);
    }
}

fn bad(file: &str, e: object::Error) -> DwarfError {
    DwarfError::new(file, DwarfErrorKind::Malformed(e.to_string()))
}
