//! The CRCs a module was built against: `__versions` (one
//! `struct modversion_info` per import: an `unsigned long` CRC and a
//! NUL-padded name, 64 bytes in all on 32- and 64-bit targets) or, from 6.15,
//! the extended tables `__version_ext_crcs` (u32 array) and
//! `__version_ext_names` (NUL-terminated names in the same order), which the
//! loader prefers whenever `__version_ext_crcs` exists.

use serde::{Serialize, Serializer};

use super::error::{ElfError, ElfErrorKind};
use super::reader::{ElfFile, c_string};

/// `sizeof(struct modversion_info)`: `MODULE_NAME_LEN` is `64 - sizeof(long)`.
const MODVERSION_INFO_LEN: usize = 64;

/// One CRC a module expects of an imported symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionEntry {
    /// The imported symbol.
    pub name: String,
    /// The CRC as stored: an `unsigned long` in `__versions`, so the loader's
    /// comparison against a 32-bit CRC fails if any high bit is set.
    #[serde(serialize_with = "hex_crc")]
    pub crc: u64,
}

fn hex_crc<S: Serializer>(crc: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("0x{crc:08x}"))
}

/// Which table the module's CRCs came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionsSource {
    /// Neither table: the kernel refuses such a module unless forced.
    None,
    /// `__versions`.
    Versions,
    /// `__version_ext_crcs` + `__version_ext_names`.
    Extended,
}

fn bad(elf: &ElfFile<'_>, section: &str, problem: String) -> ElfError {
    ElfError::new(
        elf.file(),
        ElfErrorKind::BadSection {
            section: section.to_owned(),
            problem,
        },
    )
}

/// Reads the module's version table.
pub(crate) fn read(elf: &ElfFile<'_>) -> Result<(Vec<VersionEntry>, VersionsSource), ElfError> {
    if let Some((_, crcs)) = elf.section_by_name(b"__version_ext_crcs") {
        let crcs = elf.section_data(crcs)?;
        if crcs.len() % 4 != 0 {
            return Err(bad(
                elf,
                "__version_ext_crcs",
                format!("size {:#x} is not a multiple of 4", crcs.len()),
            ));
        }
        let names = match elf.section_by_name(b"__version_ext_names") {
            Some((_, s)) => elf.section_data(s)?,
            // The loader then finds no entry for any symbol and only warns.
            None => return Ok((Vec::new(), VersionsSource::Extended)),
        };
        let count = crcs.len() / 4;
        let mut entries = Vec::with_capacity(count);
        let mut at = 0usize;
        for i in 0..count {
            let name = c_string(names, at).ok_or_else(|| {
                bad(
                    elf,
                    "__version_ext_names",
                    format!(
                        "holds fewer NUL-terminated names than the {count} CRCs of __version_ext_crcs (name {i} at offset {at:#x})"
                    ),
                )
            })?;
            at = at.saturating_add(name.len() + 1);
            let crc = elf.u32_at(crcs, i * 4).unwrap_or_default();
            entries.push(VersionEntry {
                name: name_string(elf, "__version_ext_names", name)?,
                crc: u64::from(crc),
            });
        }
        return Ok((entries, VersionsSource::Extended));
    }

    let Some((_, section)) = elf.section_by_name(b"__versions") else {
        return Ok((Vec::new(), VersionsSource::None));
    };
    let data = elf.section_data(section)?;
    if data.len() % MODVERSION_INFO_LEN != 0 {
        return Err(bad(
            elf,
            "__versions",
            format!(
                "size {:#x} is not a multiple of {MODVERSION_INFO_LEN}",
                data.len()
            ),
        ));
    }
    let word = elf.word_size();
    let entries = data
        .chunks_exact(MODVERSION_INFO_LEN)
        .enumerate()
        .map(|(i, entry)| {
            let crc = elf.word_at(entry, 0).unwrap_or_default();
            let field = entry.get(word..).unwrap_or_default();
            let name = c_string(field, 0).ok_or_else(|| {
                bad(
                    elf,
                    "__versions",
                    format!(
                        "name of entry {i} (offset {:#x}) is not NUL-terminated",
                        i * MODVERSION_INFO_LEN
                    ),
                )
            })?;
            Ok(VersionEntry {
                name: name_string(elf, "__versions", name)?,
                crc,
            })
        })
        .collect::<Result<Vec<_>, ElfError>>()?;
    Ok((entries, VersionsSource::Versions))
}

fn name_string(elf: &ElfFile<'_>, section: &str, name: &[u8]) -> Result<String, ElfError> {
    String::from_utf8(name.to_vec()).map_err(|_| {
        bad(
            elf,
            section,
            format!(
                "symbol name {:?} is not UTF-8",
                String::from_utf8_lossy(name)
            ),
        )
    })
}
