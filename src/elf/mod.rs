//! Reading kernel binaries: a `vmlinux` or a module (`.ko`, `.ko.xz`,
//! `.ko.zst`, `.ko.gz`, signed or not) becomes a [`ModuleInfo`] with the
//! exports modpost would list in Module.symvers, the CRCs the module was
//! built against, its undefined symbols and its `.modinfo`.
//!
//! ELF32 and ELF64 in either byte order are read; goblin parses the
//! container, and everything inside sections is read in the file's own byte
//! order and word size with every offset checked. Hostile input gives an
//! [`ElfError`], never a panic, and decompression is bounded
//! ([`ReadOptions::max_decompressed`]).
//!
//! | file | owns |
//! |---|---|
//! | `container` | mapping/reading, decompression, appended signatures |
//! | `reader` | bounds-checked ELF access (sections, symbols, integers) |
//! | `symtab` | the single pass over symbols: export markers, undefined symbols |
//! | `exports` | markers -> Module.symvers lines in modpost's order |
//! | `versions` | `__versions` and the extended version tables |
//! | `modinfo` | `.modinfo` keys |
//! | `inputs` | which files an argument means, their module column and order |

mod container;
mod error;
mod exports;
mod inputs;
mod modinfo;
mod reader;
mod symtab;
mod versions;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

pub use container::{
    Compression, DEFAULT_MAX_DECOMPRESSED, ReadOptions, SIGNATURE_MARKER, SignatureInfo,
    decompress, strip_signature,
};
pub use error::{ElfError, ElfErrorKind};
pub use inputs::{Input, collect as collect_inputs, module_column_for_file, module_stem};
pub use modinfo::ModInfo;
pub use symtab::UndefinedSymbol;
pub use versions::{VersionEntry, VersionsSource};

use crate::symbols::Symbol;

/// What kind of kernel binary a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A relocatable object: a loadable module (or an unlinked `.o`).
    Module,
    /// A linked image: vmlinux.
    Vmlinux,
}

/// The ELF flavour of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ElfClass {
    /// 32 or 64.
    pub bits: u8,
    /// Byte order of the target.
    pub big_endian: bool,
    /// `e_machine` (62 = x86-64, 3 = i386, 183 = AArch64, 21 = PPC64, ...).
    pub machine: u16,
}

/// Everything abibot reads from one kernel binary.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleInfo {
    /// The file as the caller named it.
    pub path: String,
    /// The Module.symvers module column (`vmlinux`, `fs/fat/fat`).
    pub module: String,
    /// Module or vmlinux.
    pub kind: ObjectKind,
    /// ELF class, byte order and machine.
    pub class: ElfClass,
    /// How the file was compressed.
    pub compression: Compression,
    /// The appended signature, if the module is signed.
    pub signature: Option<SignatureInfo>,
    /// `.modinfo` (empty for vmlinux).
    pub modinfo: ModInfo,
    /// Exports in modpost's order, with `module` as their module column.
    pub exports: Vec<Symbol>,
    /// The CRCs the module expects of its imports.
    pub versions: Vec<VersionEntry>,
    /// Which table [`ModuleInfo::versions`] came from.
    pub versions_source: VersionsSource,
    /// Undefined symbols, in symbol-table order.
    pub undefined: Vec<UndefinedSymbol>,
}

impl ModuleInfo {
    /// The name the kernel knows the module by: `.modinfo` `name=`, else the
    /// file name with `-` turned into `_` as kbuild does.
    pub fn name(&self) -> String {
        if let Some(name) = &self.modinfo.name {
            return name.clone();
        }
        let last = self.module.rsplit('/').next().unwrap_or(&self.module);
        last.replace('-', "_")
    }
}

/// Reads one file; `module` is its Module.symvers module column (see
/// [`module_column_for_file`]).
pub fn read_file(path: &Path, module: &str, options: &ReadOptions) -> Result<ModuleInfo, ElfError> {
    let name = path.display().to_string();
    let (bytes, compression) = container::load(path, &name, options)?;
    parse_elf(&bytes, &name, module, compression)
}

/// Reads a file's bytes as they are stored (compressed or not).
pub fn read_bytes(
    bytes: &[u8],
    name: &str,
    module: &str,
    options: &ReadOptions,
) -> Result<ModuleInfo, ElfError> {
    match Compression::detect(bytes) {
        Compression::None => parse_elf(bytes, name, module, Compression::None),
        c => {
            let plain = decompress(bytes, c, options.max_decompressed, name)?;
            parse_elf(&plain, name, module, c)
        }
    }
}

/// Several files failed to read; every error is kept, the first is shown.
#[derive(Debug, thiserror::Error)]
#[error("{}{}", .0[0], if .0.len() > 1 { format!(" (and {} more)", .0.len() - 1) } else { String::new() })]
pub struct ReadErrors(pub Vec<ElfError>);

/// Reads every file named in `paths` or found below them (in parallel),
/// vmlinux first, then modules in `collect`'s order. Any unreadable file
/// fails the whole read: a partial ABI would look like removed symbols.
pub fn read_paths(
    paths: &[std::path::PathBuf],
    options: &ReadOptions,
) -> Result<Vec<ModuleInfo>, ReadErrors> {
    let read = read_paths_partial(paths, options);
    if read.errors.is_empty() {
        Ok(read.infos)
    } else {
        Err(ReadErrors(read.errors))
    }
}

/// What [`read_paths_partial`] could read, and why it could not read the rest.
#[derive(Debug, Default)]
pub struct PartialRead {
    /// The files read, vmlinux first, then modules in `collect`'s order.
    pub infos: Vec<ModuleInfo>,
    /// One error per file or directory that could not be read.
    pub errors: Vec<ElfError>,
}

/// Like [`read_paths`], but reads every file it can and returns an error for
/// each one it cannot, for a caller that shows both (`abibot extract`).
pub fn read_paths_partial(paths: &[std::path::PathBuf], options: &ReadOptions) -> PartialRead {
    let (inputs, mut errors) = inputs::collect_all(paths);
    let mut infos = Vec::with_capacity(inputs.len());
    for result in read_inputs(&inputs, options) {
        match result {
            Ok(info) => infos.push(info),
            Err(e) => errors.push(e),
        }
    }
    // A linked image reads as vmlinux whatever its name: keep it first.
    infos.sort_by_key(|i| i.kind != ObjectKind::Vmlinux);
    PartialRead { infos, errors }
}

/// A name exported by two files, differently. The kernel has one export per
/// name: modpost stops with "exported twice", and the module loader refuses
/// a module exporting a name that is already exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}: exports {symbol}, already exported by {first_file} (module {first_module}); the kernel keeps one export per name, so only the first is listed"
)]
pub struct DuplicateExport {
    /// The symbol.
    pub symbol: String,
    /// The file exporting it again.
    pub file: String,
    /// The file whose export is kept (the first in modpost's order).
    pub first_file: String,
    /// The module column of the kept export.
    pub first_module: String,
}

/// Every export of `infos`, in their order, each name once, as modpost
/// would list them in one Module.symvers. The same export read twice (a
/// module present as `fat.ko` and `fat.ko.xz`) is listed once silently; a
/// name exported differently by a later file is a [`DuplicateExport`].
pub fn unique_exports(infos: &[ModuleInfo]) -> (Vec<&Symbol>, Vec<DuplicateExport>) {
    let mut first: std::collections::HashMap<&str, (&Symbol, &ModuleInfo)> =
        std::collections::HashMap::new();
    let mut kept = Vec::new();
    let mut duplicates = Vec::new();
    for info in infos {
        for symbol in &info.exports {
            match first.get(symbol.name.as_str()) {
                None => {
                    first.insert(&symbol.name, (symbol, info));
                    kept.push(symbol);
                }
                Some((earlier, _)) if *earlier == symbol => {}
                Some((earlier, owner)) => duplicates.push(DuplicateExport {
                    symbol: symbol.name.to_string(),
                    file: info.path.clone(),
                    first_file: owner.path.clone(),
                    first_module: earlier.module.to_string(),
                }),
            }
        }
    }
    (kept, duplicates)
}

/// Reads many inputs in parallel, one result per input in the same order.
pub fn read_inputs(inputs: &[Input], options: &ReadOptions) -> Vec<Result<ModuleInfo, ElfError>> {
    inputs
        .par_iter()
        .map(|i| read_file(&i.path, &i.module, options))
        .collect()
}

fn parse_elf(
    bytes: &[u8],
    name: &str,
    module: &str,
    compression: Compression,
) -> Result<ModuleInfo, ElfError> {
    let (elf_bytes, signature) = strip_signature(bytes, name)?;
    let elf = reader::ElfFile::parse(elf_bytes, name)?;
    let kind = if elf.e_type == goblin::elf::header::ET_REL {
        ObjectKind::Module
    } else {
        ObjectKind::Vmlinux
    };
    let module = match kind {
        ObjectKind::Vmlinux => "vmlinux",
        ObjectKind::Module => module,
    };
    let markers = match elf.symbols()? {
        Some(syms) => symtab::scan(&elf, &syms)?,
        None => symtab::Markers::default(),
    };
    let modinfo = match elf.section_by_name(b".modinfo") {
        Some((_, s)) => ModInfo::parse(elf.section_data(s)?),
        None => ModInfo::default(),
    };
    let (versions, versions_source) = versions::read(&elf)?;
    let exports = if kind == ObjectKind::Vmlinux && markers.is_empty() {
        exports::from_tables(&elf, module)?
    } else {
        exports::assemble(&markers, module)
    };
    Ok(ModuleInfo {
        path: name.to_owned(),
        module: module.to_owned(),
        kind,
        class: ElfClass {
            bits: if elf.is_64() { 64 } else { 32 },
            big_endian: !elf.is_little_endian(),
            machine: elf.machine,
        },
        compression,
        signature,
        modinfo,
        exports,
        versions,
        versions_source,
        undefined: markers.undefined,
    })
}
