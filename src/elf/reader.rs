//! Bounds-checked access to one ELF image: header and section table (parsed
//! by goblin), section contents, symbols and strings, and integers read in
//! the file's own byte order and word size.
//!
//! Every offset taken from the file is checked before use; nothing here can
//! panic or allocate more than the file's own size on hostile input.

use goblin::container::{Container, Ctx};
use goblin::elf::section_header::{
    SHN_LORESERVE, SHN_XINDEX, SHT_NOBITS, SHT_SYMTAB, SHT_SYMTAB_SHNDX, SectionHeader,
};
use goblin::elf::sym::{Sym, Symtab};
use goblin::elf::{Elf, Header};

use super::error::{ElfError, ElfErrorKind};

/// One section, with its name resolved.
#[derive(Clone, Debug)]
pub(crate) struct Section<'a> {
    pub name: &'a [u8],
    pub sh_type: u32,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub entsize: u64,
}

impl Section<'_> {
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(self.name).into_owned()
    }
}

/// A parsed ELF image.
pub(crate) struct ElfFile<'a> {
    data: &'a [u8],
    file: &'a str,
    pub ctx: Ctx,
    pub e_type: u16,
    pub machine: u16,
    pub sections: Vec<Section<'a>>,
}

/// The symbol table with its string table (and extended section indexes).
pub(crate) struct Symbols<'a> {
    table: Symtab<'a>,
    count: usize,
    strtab: &'a [u8],
    shndx: Option<&'a [u8]>,
    little: bool,
}

impl<'a> ElfFile<'a> {
    /// Parses the header and section table and checks that every section
    /// with file contents lies inside the data, as the kernel's
    /// `elf_validity_check` does.
    pub fn parse(data: &'a [u8], file: &'a str) -> Result<ElfFile<'a>, ElfError> {
        let err = |kind| ElfError::new(file, kind);
        let (header, ctx) = parse_header(data).map_err(err)?;
        let sections = if header.e_shoff == 0 {
            Vec::new()
        } else {
            let headers = section_headers(data, &header, ctx).map_err(err)?;
            let shstrndx = if u32::from(header.e_shstrndx) == SHN_XINDEX {
                headers.first().map_or(0, |s| s.sh_link as usize)
            } else {
                usize::from(header.e_shstrndx)
            };
            check_inside(data, &headers, shstrndx).map_err(err)?;
            named_sections(data, &headers, shstrndx).map_err(err)?
        };
        Ok(ElfFile {
            data,
            file,
            ctx,
            e_type: header.e_type,
            machine: header.e_machine,
            sections,
        })
    }

    /// The file name used in errors.
    pub fn file(&self) -> &'a str {
        self.file
    }

    pub fn is_64(&self) -> bool {
        self.ctx.container == Container::Big
    }

    pub fn is_little_endian(&self) -> bool {
        self.ctx.is_little_endian()
    }

    /// Bytes of a machine word (`unsigned long`) of the target.
    pub fn word_size(&self) -> usize {
        if self.is_64() { 8 } else { 4 }
    }

    /// The first section called `name`.
    pub fn section_by_name(&self, name: &[u8]) -> Option<(usize, &Section<'a>)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
    }

    /// A section's contents (empty for `SHT_NOBITS`). Bounds were checked in
    /// [`ElfFile::parse`]; the check here only keeps this function total.
    pub fn section_data(&self, section: &Section<'a>) -> Result<&'a [u8], ElfError> {
        if section.sh_type == SHT_NOBITS || section.size == 0 {
            return Ok(&[]);
        }
        let range = usize::try_from(section.offset)
            .ok()
            .zip(usize::try_from(section.size).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?));
        range.and_then(|r| self.data.get(r)).ok_or_else(|| {
            ElfError::new(
                self.file,
                ElfErrorKind::SectionOutOfBounds {
                    section: section.name_lossy(),
                    offset: section.offset,
                    size: section.size,
                    file_size: self.data.len() as u64,
                },
            )
        })
    }

    /// Reads a `u32` in the file's byte order at `offset` of `bytes`.
    pub fn u32_at(&self, bytes: &[u8], offset: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
        Some(if self.is_little_endian() {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }

    /// Reads an `unsigned long` of the target at `offset` of `bytes`.
    pub fn word_at(&self, bytes: &[u8], offset: usize) -> Option<u64> {
        if !self.is_64() {
            return self.u32_at(bytes, offset).map(u64::from);
        }
        let raw: [u8; 8] = bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?;
        Some(if self.is_little_endian() {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    }

    /// The offset of `value` inside section `section`: symbol values are
    /// section-relative in relocatable objects and addresses elsewhere.
    pub fn offset_in_section(&self, section: &Section<'_>, value: u64) -> Option<u64> {
        let offset = if self.e_type == goblin::elf::header::ET_REL {
            value
        } else {
            value.checked_sub(section.addr)?
        };
        (offset < section.size).then_some(offset)
    }

    /// The symbol table (`SHT_SYMTAB`), if the file has one.
    pub fn symbols(&self) -> Result<Option<Symbols<'a>>, ElfError> {
        let Some((index, symtab)) = self
            .sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.sh_type == SHT_SYMTAB)
        else {
            return Ok(None);
        };
        let bad = |problem: String| {
            ElfError::new(
                self.file,
                ElfErrorKind::BadSection {
                    section: symtab.name_lossy(),
                    problem,
                },
            )
        };
        let sym_size = Sym::size(self.ctx.container);
        if symtab.entsize != sym_size as u64 {
            return Err(bad(format!(
                "symbol entry size is {}, expected {sym_size}",
                symtab.entsize
            )));
        }
        let bytes = self.section_data(symtab)?;
        let count = bytes.len() / sym_size;
        let bytes = bytes.get(..count * sym_size).unwrap_or_default();
        let table = if count == 0 {
            Symtab::default()
        } else {
            Symtab::parse(bytes, 0, count, self.ctx).map_err(|e| bad(e.to_string()))?
        };
        let strtab = self.sections.get(symtab.link as usize).ok_or_else(|| {
            bad(format!(
                "string table index {} is out of range",
                symtab.link
            ))
        })?;
        let strtab = self.section_data(strtab)?;
        let shndx = match self
            .sections
            .iter()
            .find(|s| s.sh_type == SHT_SYMTAB_SHNDX && s.link as usize == index)
        {
            Some(s) => Some(self.section_data(s)?),
            None => None,
        };
        Ok(Some(Symbols {
            table,
            count,
            strtab,
            shndx,
            little: self.is_little_endian(),
        }))
    }
}

impl<'a> Symbols<'a> {
    /// Number of symbols, including the null symbol 0.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Symbol `index`.
    pub fn get(&self, index: usize) -> Option<Sym> {
        self.table.get(index)
    }

    /// A symbol's name bytes; `None` when `st_name` is outside the string
    /// table or the name is unterminated.
    pub fn name(&self, sym: &Sym) -> Option<&'a [u8]> {
        c_string(self.strtab, sym.st_name)
    }

    /// The section a symbol is defined in, resolving `SHN_XINDEX`; `None` for
    /// special indexes (`SHN_UNDEF` is `Some(0)`).
    pub fn section_index(&self, index: usize, sym: &Sym) -> Option<usize> {
        let shndx = u32::try_from(sym.st_shndx).ok()?;
        if shndx == SHN_XINDEX {
            let table = self.shndx?;
            let at = index.checked_mul(4)?;
            let raw: [u8; 4] = table.get(at..at.checked_add(4)?)?.try_into().ok()?;
            let v = if self.little {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            return Some(v as usize);
        }
        (shndx < SHN_LORESERVE).then_some(shndx as usize)
    }
}

/// The NUL-terminated string at `offset` of `bytes`, without the NUL.
pub(crate) fn c_string(bytes: &[u8], offset: usize) -> Option<&[u8]> {
    let tail = bytes.get(offset..)?;
    let end = memchr::memchr(0, tail)?;
    tail.get(..end)
}

/// The ELF header and the word size and byte order it gives.
fn parse_header(data: &[u8]) -> Result<(Header, Ctx), ElfErrorKind> {
    if !data.starts_with(b"\x7fELF") {
        let magic: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let magic = if magic.is_empty() {
            "nothing: the file is empty".to_owned()
        } else {
            magic.join(" ")
        };
        return Err(ElfErrorKind::NotElf { magic });
    }
    let header: Header =
        Elf::parse_header(data).map_err(|e| ElfErrorKind::Header(e.to_string()))?;
    let container = header
        .container()
        .map_err(|e| ElfErrorKind::Header(e.to_string()))?;
    let endian = header
        .endianness()
        .map_err(|e| ElfErrorKind::Header(e.to_string()))?;
    Ok((header, Ctx::new(container, endian)))
}

/// The section header table, which must lie inside the data with entries
/// of this word size's header size.
fn section_headers(
    data: &[u8],
    header: &Header,
    ctx: Ctx,
) -> Result<Vec<SectionHeader>, ElfErrorKind> {
    let file_size = data.len() as u64;
    let entsize = SectionHeader::size(ctx) as u64;
    if u64::from(header.e_shentsize) != entsize {
        return Err(ElfErrorKind::Header(format!(
            "section header size is {} bytes, expected {entsize}",
            header.e_shentsize
        )));
    }
    // e_shnum 0 means "more than 0xff00, see sh_size of section 0";
    // goblin reads it, but its count must still fit in the file.
    let count = if header.e_shnum == 0 {
        first_section_field(data, header.e_shoff, ctx, |s| s.sh_size).ok_or(
            ElfErrorKind::SectionTableOutOfBounds {
                offset: header.e_shoff,
                count: 1,
                entsize,
                file_size,
            },
        )?
    } else {
        u64::from(header.e_shnum)
    };
    let fits = count
        .checked_mul(entsize)
        .and_then(|len| len.checked_add(header.e_shoff))
        .is_some_and(|end| end <= file_size);
    if !fits || count == 0 {
        return Err(ElfErrorKind::SectionTableOutOfBounds {
            offset: header.e_shoff,
            count,
            entsize,
            file_size,
        });
    }
    SectionHeader::parse(data, header.e_shoff as usize, count as usize, ctx)
        .map_err(|e| ElfErrorKind::Header(format!("section headers: {e}")))
}

/// Every section with file contents lies inside the data, and the section
/// name table index names a section.
fn check_inside(
    data: &[u8],
    headers: &[SectionHeader],
    shstrndx: usize,
) -> Result<(), ElfErrorKind> {
    let file_size = data.len() as u64;
    for (index, h) in headers.iter().enumerate() {
        if h.sh_type != SHT_NOBITS && h.sh_size != 0 {
            let inside = h
                .sh_offset
                .checked_add(h.sh_size)
                .is_some_and(|end| end <= file_size);
            if !inside {
                let section = section_name(data, headers, shstrndx, h)
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_else(|| format!("#{index}"));
                return Err(ElfErrorKind::SectionOutOfBounds {
                    section,
                    offset: h.sh_offset,
                    size: h.sh_size,
                    file_size,
                });
            }
        }
    }
    if shstrndx != 0 && headers.get(shstrndx).is_none() {
        return Err(ElfErrorKind::Header(format!(
            "section name table index {shstrndx} is out of range ({} sections)",
            headers.len()
        )));
    }
    Ok(())
}

/// The sections with their names resolved (all empty when the file has no
/// name table).
fn named_sections<'a>(
    data: &'a [u8],
    headers: &[SectionHeader],
    shstrndx: usize,
) -> Result<Vec<Section<'a>>, ElfErrorKind> {
    let mut sections = Vec::with_capacity(headers.len());
    for h in headers {
        let name = if shstrndx == 0 {
            &[][..]
        } else {
            section_name(data, headers, shstrndx, h).ok_or_else(|| {
                ElfErrorKind::Header(format!(
                    "section name at offset {:#x} of the name table is out of range or unterminated",
                    h.sh_name
                ))
            })?
        };
        sections.push(Section {
            name,
            sh_type: h.sh_type,
            addr: h.sh_addr,
            offset: h.sh_offset,
            size: h.sh_size,
            link: h.sh_link,
            entsize: h.sh_entsize,
        });
    }
    Ok(sections)
}

fn first_section_field(
    data: &[u8],
    shoff: u64,
    ctx: Ctx,
    field: impl Fn(&SectionHeader) -> u64,
) -> Option<u64> {
    let headers = SectionHeader::parse_from(data, usize::try_from(shoff).ok()?, 1, ctx).ok()?;
    headers.first().map(field)
}

fn section_name<'a>(
    data: &'a [u8],
    headers: &[SectionHeader],
    shstrndx: usize,
    header: &SectionHeader,
) -> Option<&'a [u8]> {
    let table = headers.get(shstrndx)?;
    let start = usize::try_from(table.sh_offset).ok()?;
    let len = usize::try_from(table.sh_size).ok()?;
    let bytes = data.get(start..start.checked_add(len)?)?;
    c_string(bytes, header.sh_name)
}
