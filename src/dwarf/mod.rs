//! Debug information (DWARF 4 and 5) read into the symtypes model, so the
//! same explanation engine ([`crate::explain`]) names the type change
//! behind a CRC change for distributions that keep no symtypes but publish
//! debug info (Debian's `linux-image-*-dbg`, Ubuntu's ddebs).
//!
//! For a vmlinux or module (or any ELF object with `__ksymtab_*` export
//! markers, read by [`crate::elf`]) with debug info:
//! - the debug sections are loaded, decompressed (`-gz`: zlib or zstd,
//!   `SHF_COMPRESSED` or GNU `.zdebug_*`) and, in a relocatable object,
//!   relocated ([`sections`]); units are parsed with gimli, type units
//!   (DWARF 4 `.debug_types`, DWARF 5 `DW_UT_type`) and `.debug_str_offsets`
//!   included ([`units`]);
//! - each compilation unit defining an export (a top-level
//!   `DW_TAG_subprogram`/`DW_TAG_variable` of that name that is no mere
//!   declaration) becomes one symtypes file named after the unit's source
//!   file relative to the source tree (`kernel/fork.c`), holding the
//!   exports' declarations and every struct, union, enum and typedef they
//!   reach, spelled as genksyms spells them ([`spell`]; a named type defined
//!   in the unit's own `.c` file stays opaque, as genksyms keeps internal
//!   types); units are walked in parallel;
//! - the records are written as a consolidated symtypes text (a record equal
//!   to the last one written under its name is left out, as SUSE's files do)
//!   and added to one model by [`crate::symtypes::parse_consolidated`], which
//!   stores each distinct definition once: types are deduplicated by content
//!   across units and files.
//!
//! A `-dbg` package or a directory of debug files adds its vmlinux (and,
//! when asked, its modules) to one model, file after file ([`package`]).
//!
//! What genksyms and DWARF see differently: DWARF has no macros or
//! attributes (`__attribute__((section))`, `__typeof__`); enumerators always
//! carry their value (`A = 0`); base types are spelled as the compiler names
//! them (`long unsigned int`); member offsets are not tokens (they follow
//! from the member types; a shift would repeat every later member as
//! changed), bit-field widths are. Exports without a DWARF declaration
//! (assembly) are listed in [`DebugTypes::missing`].
//!
//! Hostile input gives an error naming the file, within these limits:
//!
//! | limit | value | why |
//! |---|---|---|
//! | [`MAX_SECTION_BYTES`] | 1 GiB | one decompressed debug section: all DWARF of Debian 6.1's vmlinux together is 632 MB |
//! | [`MAX_UNITS`] | 4 Mi | units in one file: a vmlinux has a few thousand compilation units |
//! | [`MAX_TYPE_DEPTH`] | 64 | nested types in one declarator (a reference cycle ends here): real ones are under 10 |
//! | [`MAX_RECORD_WORK`] | 1 Mi | DIEs visited to spell one record (anonymous types nested in each other) |
//! | [`UNITS_PER_BATCH`] | 256 | units spelled at once: bounds the records held in memory |

mod package;
mod sections;
mod spell;
mod units;

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::elf::{Compression, ReadOptions, decompress};
use crate::symtypes::Symtypes;
pub use package::{AHEAD, DebugOptions, load_deb, load_tree};

/// The largest decompressed debug section accepted.
pub const MAX_SECTION_BYTES: u64 = 1 << 30;
/// The most units (compilation and type units) one file may hold.
pub const MAX_UNITS: usize = 4 << 20;
/// The deepest nesting of types within one declaration.
pub const MAX_TYPE_DEPTH: usize = 64;
/// The most DIEs visited to spell one record.
pub const MAX_RECORD_WORK: usize = 1 << 20;
/// How many compilation units are spelled before their records are written.
pub const UNITS_PER_BATCH: usize = 256;

/// The type model read from one file's debug info.
#[derive(Debug)]
pub struct DebugTypes {
    /// One symtypes file per compilation unit defining exports.
    pub symtypes: Symtypes,
    /// Exports with no declaration in the debug info, sorted.
    pub missing: Vec<String>,
}

/// What `abibot explain` compares: symtypes (see [`crate::symtypes::load`])
/// or the model read from debug info: of an ELF file (plain, or a module
/// compressed as `.ko.xz`, `.ko.zst`, `.ko.gz`), of a directory of them
/// (an unpacked `usr/lib/debug/`: a directory with a vmlinux or modules
/// and no `.symtypes` file) or of a `-dbg` `.deb` read in place; of those
/// two, the vmlinux only ([`DebugOptions::default`]).
pub fn load_types(path: &Path) -> Result<Symtypes, LoadError> {
    load_types_with(path, &DebugOptions::default())
}

/// [`load_types`], choosing what a package or directory gives.
pub fn load_types_with(path: &Path, options: &DebugOptions) -> Result<Symtypes, LoadError> {
    if is_elf(path) {
        Ok(load(path)?.symtypes)
    } else if package::is_deb(path) {
        Ok(load_deb(path, options)?.symtypes)
    } else if path.is_dir() && package::is_debug_tree(path) {
        Ok(load_tree(path, options)?.symtypes)
    } else {
        Ok(crate::symtypes::load(path)?)
    }
}

/// Whether `path` is an ELF file, told by its magic or a compressed
/// module's suffix.
fn is_elf(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if [".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|s| name.ends_with(s))
    {
        return true;
    }
    // Opening a FIFO would wait for a writer: only a regular file is
    // looked at; anything else goes to the symtypes reader, which refuses it.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == b"\x7fELF")
}

/// Either input of [`load_types`] could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Symtypes input.
    #[error(transparent)]
    Symtypes(#[from] crate::symtypes::SymtypesError),
    /// Debug info.
    #[error(transparent)]
    Dwarf(#[from] DwarfError),
}

/// Reads the debug info of the ELF file at `path` (`.ko.xz`, `.ko.zst`,
/// `.ko.gz` too, as [`crate::elf`] opens them).
pub fn load(path: &Path) -> Result<DebugTypes, DwarfError> {
    let name = path.display().to_string();
    // Regular files only, at most a vmlinux's size: a FIFO or a runaway
    // file is refused before it is read.
    let stored = crate::input::read(path, crate::input::VMLINUX)
        .map_err(|e| DwarfError::new(&name, DwarfErrorKind::Elf(e.kind.to_string())))?;
    match Compression::detect(&stored) {
        Compression::None => from_elf(&name, &stored),
        c => {
            let max = ReadOptions::default().max_decompressed;
            let plain = decompress(&stored, c, max, &name).map_err(|e| elf_err(&name, e))?;
            from_elf(&name, &plain)
        }
    }
}

/// Reads the debug info of an uncompressed ELF image called `name`.
pub fn from_elf(name: &str, bytes: &[u8]) -> Result<DebugTypes, DwarfError> {
    let mut model = Model::default();
    model.add(name, spell_elf(name, bytes)?)?;
    Ok(model.finish())
}

/// One ELF file's records, spelled (the costly part, done in parallel over
/// its units and, for a tree or package, over files).
struct Spelled {
    /// Consolidated symtypes text: one section per unit defining exports.
    text: String,
    /// The file's exports.
    wanted: FxHashSet<String>,
    /// The exports a declaration was found for.
    found: FxHashSet<String>,
}

/// Spells the debug info of the uncompressed ELF image `bytes`.
fn spell_elf(name: &str, bytes: &[u8]) -> Result<Spelled, DwarfError> {
    let info = crate::elf::read_bytes(bytes, name, "module", &ReadOptions::default())
        .map_err(|e| elf_err(name, e))?;
    let wanted: FxHashSet<String> = info.exports.iter().map(|s| s.name.to_string()).collect();
    let loaded = sections::Sections::read(bytes, name)?;
    let dwarf = loaded.dwarf();
    let units = units::Units::parse(&dwarf, name)?;
    let (text, found) = consolidated(&units, &wanted, name)?;
    Ok(Spelled {
        text,
        wanted,
        found,
    })
}

/// The model of one or more ELF files (a vmlinux and its modules), built
/// one file at a time.
#[derive(Default)]
struct Model {
    symtypes: Symtypes,
    missing: Vec<String>,
}

impl Model {
    /// Adds one file's records.
    fn add(&mut self, name: &str, spelled: Spelled) -> Result<(), DwarfError> {
        if !spelled.text.is_empty() {
            crate::symtypes::parse_consolidated(&mut self.symtypes, name, spelled.text.as_bytes())
                .map_err(|e| DwarfError::new(name, DwarfErrorKind::Model(e.to_string())))?;
        }
        let found = &spelled.found;
        self.missing
            .extend(spelled.wanted.into_iter().filter(|w| !found.contains(w)));
        Ok(())
    }

    fn finish(mut self) -> DebugTypes {
        self.missing.sort();
        self.missing.dedup();
        DebugTypes {
            symtypes: self.symtypes,
            missing: self.missing,
        }
    }
}

/// Every compilation unit's records as one consolidated symtypes text, and
/// the exports found.
fn consolidated(
    units: &units::Units<'_>,
    wanted: &FxHashSet<String>,
    file: &str,
) -> Result<(String, FxHashSet<String>), DwarfError> {
    let mut text = String::new();
    let mut last: FxHashMap<String, String> = FxHashMap::default();
    let mut found = FxHashSet::default();
    for batch in units.compile.chunks(UNITS_PER_BATCH) {
        let spelled: Vec<Result<Vec<spell::Record>, DwarfErrorKind>> = batch
            .par_iter()
            .map(|&unit| spell::Walker::new(units, unit).records(wanted))
            .collect();
        for (&unit, records) in batch.iter().zip(spelled) {
            let records = records.map_err(|kind| DwarfError::new(file, kind))?;
            if records.is_empty() {
                continue;
            }
            let path = unit_path(units, unit);
            text.push_str(&format!("/* {path} */\n"));
            for (key, def) in records {
                if !key.contains('#') {
                    found.insert(key.clone());
                }
                if last.get(&key) == Some(&def) {
                    continue;
                }
                text.push_str(&format!("{key} {def}\n"));
                last.insert(key, def);
            }
        }
    }
    Ok((text, found))
}

/// The unit's source file, one line long, relative to the source tree
/// when the unit names it absolutely: Debian builds in
/// `/build/reproducible-path/linux-6.1.170/debian/build/build_amd64_none_amd64`
/// and names `/build/reproducible-path/linux-6.1.170/kernel/fork.c`, so the
/// directories it shares with `DW_AT_comp_dir` are dropped (`kernel/fork.c`,
/// the same in both versions).
fn unit_path(units: &units::Units<'_>, unit: usize) -> String {
    let Some(name) = units.all[unit].name else {
        return format!("<unit {unit}>");
    };
    let name = String::from_utf8_lossy(name.slice());
    let dir = units.comp_dir(unit).unwrap_or_default();
    let mut shared = 0;
    for (i, (a, b)) in name.bytes().zip(dir.bytes().chain([b'/'])).enumerate() {
        if a != b {
            break;
        }
        if a == b'/' {
            shared = i + 1;
        }
    }
    name[shared..].replace(['\n', '\r'], "?")
}

fn elf_err(file: &str, e: crate::elf::ElfError) -> DwarfError {
    DwarfError::new(file, DwarfErrorKind::Elf(e.to_string()))
}

/// Debug info could not be read; names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {kind}")]
pub struct DwarfError {
    /// The file.
    pub file: String,
    /// What was wrong.
    pub kind: DwarfErrorKind,
}

impl DwarfError {
    fn new(file: &str, kind: DwarfErrorKind) -> DwarfError {
        DwarfError {
            file: file.to_owned(),
            kind,
        }
    }
}

/// What was wrong with debug info.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DwarfErrorKind {
    /// The file could not be opened or is no ELF file.
    #[error("{0}")]
    Elf(String),
    /// The file has no `.debug_info` section.
    #[error("no debug info (.debug_info section)")]
    NoDebugInfo,
    /// A section, relocation or DWARF structure that cannot be read.
    #[error("malformed debug info: {0}")]
    Malformed(String),
    /// A type reference that names a DIE which is no type.
    #[error("a type reference names a {0}")]
    NotAType(String),
    /// More than a limit allows.
    #[error("more than the {limit} {what} allowed")]
    TooMuch {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A problem at one DIE.
    #[error("unit {unit}, DIE at {offset:#x}: {inner}")]
    At {
        /// Index of the unit (in section order).
        unit: usize,
        /// The DIE's offset in its unit.
        offset: usize,
        /// What was wrong.
        inner: Box<DwarfErrorKind>,
    },
    /// The records built could not be read as symtypes (a limit of
    /// [`crate::symtypes`], such as its longest record).
    #[error("{0}")]
    Model(String),
}

impl From<gimli::Error> for DwarfErrorKind {
    fn from(e: gimli::Error) -> Self {
        DwarfErrorKind::Malformed(e.to_string())
    }
}
