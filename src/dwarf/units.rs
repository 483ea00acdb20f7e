//! Every unit of a file's DWARF, and how a reference attribute finds the
//! DIE it names: in the same unit (`DW_FORM_ref*`), anywhere in
//! `.debug_info` (`DW_FORM_ref_addr`), or in a type unit by signature
//! (`DW_FORM_ref_sig8`, DWARF 4 `.debug_types` or DWARF 5 `DW_UT_type`).

use gimli::{AttributeValue, DebugInfoOffset, UnitOffset, UnitType};
use rustc_hash::FxHashMap;

use super::sections::R;
use super::{DwarfError, DwarfErrorKind, MAX_UNITS};

/// A DIE: its unit (index into [`Units::all`]) and offset in that unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Loc {
    pub(super) unit: usize,
    pub(super) offset: UnitOffset<usize>,
}

/// The parsed units of one file.
pub(super) struct Units<'a> {
    pub(super) dwarf: &'a gimli::Dwarf<R<'a>>,
    /// Every unit: `.debug_info` ones first, in section order.
    pub(super) all: Vec<gimli::Unit<R<'a>>>,
    /// Indices of the compilation units (where exports are defined).
    pub(super) compile: Vec<usize>,
    /// Section offset of each `.debug_info` unit, ascending, with its index.
    info_starts: Vec<(usize, usize)>,
    signatures: FxHashMap<u64, Loc>,
}

impl<'a> Units<'a> {
    /// Parses every unit header (and its abbreviations) of `dwarf`.
    pub(super) fn parse(dwarf: &'a gimli::Dwarf<R<'a>>, file: &str) -> Result<Self, DwarfError> {
        let mut units = Units {
            dwarf,
            all: Vec::new(),
            compile: Vec::new(),
            info_starts: Vec::new(),
            signatures: FxHashMap::default(),
        };
        let mut info = dwarf.units();
        while let Some(header) = info.next().map_err(|e| gimli_err(file, e))? {
            if let Some(start) = header.debug_info_offset() {
                units.info_starts.push((start.0, units.all.len()));
            }
            units.add(header, file)?;
        }
        let mut types = dwarf.type_units();
        while let Some(header) = types.next().map_err(|e| gimli_err(file, e))? {
            units.add(header, file)?;
        }
        Ok(units)
    }

    fn add(&mut self, header: gimli::UnitHeader<R<'a>>, file: &str) -> Result<(), DwarfError> {
        if self.all.len() >= MAX_UNITS {
            let kind = DwarfErrorKind::TooMuch {
                what: "units",
                limit: MAX_UNITS as u64,
            };
            return Err(DwarfError::new(file, kind));
        }
        let index = self.all.len();
        match header.type_() {
            UnitType::Compilation => self.compile.push(index),
            UnitType::Type {
                type_signature,
                type_offset,
            } => {
                let loc = Loc {
                    unit: index,
                    offset: type_offset,
                };
                self.signatures.entry(type_signature.0).or_insert(loc);
            }
            _ => {}
        }
        let unit = self.dwarf.unit(header).map_err(|e| gimli_err(file, e))?;
        self.all.push(unit);
        Ok(())
    }

    /// The DIE at `loc`.
    pub(super) fn entry(
        &self,
        loc: Loc,
    ) -> Result<gimli::DebuggingInformationEntry<R<'a>>, gimli::Error> {
        self.all[loc.unit].entry(loc.offset)
    }

    /// The DIE a reference attribute value names, seen from `unit`.
    pub(super) fn target(&self, unit: usize, value: AttributeValue<R<'a>>) -> Option<Loc> {
        match value {
            AttributeValue::UnitRef(offset) => Some(Loc { unit, offset }),
            AttributeValue::DebugInfoRef(offset) => self.info_ref(offset),
            AttributeValue::DebugTypesRef(sig) => self.signatures.get(&sig.0).copied(),
            _ => None,
        }
    }

    fn info_ref(&self, offset: DebugInfoOffset<usize>) -> Option<Loc> {
        let at = self.info_starts.partition_point(|&(s, _)| s <= offset.0);
        let &(_, unit) = self.info_starts.get(at.checked_sub(1)?)?;
        let offset = offset.to_unit_offset(&self.all[unit].header)?;
        Some(Loc { unit, offset })
    }

    /// A string attribute value as text (lossy: names are bytes in DWARF).
    pub(super) fn string(&self, unit: usize, value: AttributeValue<R<'a>>) -> Option<String> {
        let r = self.dwarf.attr_string(&self.all[unit], value).ok()?;
        Some(r.to_string_lossy().into_owned())
    }
}

impl<'a> Units<'a> {
    /// The path of `unit`'s own source file (`kernel/fork.c` itself, not a
    /// header it includes), absolute when the unit says where it was
    /// compiled: genksyms leaves a struct, union or enum defined there
    /// opaque (an internal type, kernel commit "genksyms: Do not expand
    /// internal types"), and so does the walk ([`super::spell`]).
    pub(super) fn own_path(&self, unit: usize) -> Option<String> {
        let u = &self.all[unit];
        let comp_dir = self.comp_dir(unit);
        Some(normal(&joined(
            comp_dir.as_deref(),
            &lossy(u.name?.slice()),
        )))
    }

    /// Where `unit` was compiled (`DW_AT_comp_dir`).
    pub(super) fn comp_dir(&self, unit: usize) -> Option<String> {
        self.all[unit].comp_dir.map(|d| lossy(d.slice()))
    }

    /// The path of file `index` of `unit`'s line table, relative paths
    /// under `comp_dir` (a type unit names no directory of its own).
    pub(super) fn file_path(
        &self,
        unit: usize,
        index: u64,
        comp_dir: Option<&str>,
    ) -> Option<String> {
        let u = &self.all[unit];
        let header = u.line_program.as_ref()?.header();
        let file = header.file(index)?;
        let dir = file
            .directory(header)
            .and_then(|d| self.dwarf.attr_string(u, d).ok())
            .map(|d| joined(comp_dir, &d.to_string_lossy()));
        let path = self.dwarf.attr_string(u, file.path_name()).ok()?;
        let path = joined(dir.as_deref().or(comp_dir), &path.to_string_lossy());
        Some(normal(&path))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `path`, under `dir` when relative.
fn joined(dir: Option<&str>, path: &str) -> String {
    match dir {
        Some(d) if !path.starts_with('/') => format!("{d}/{path}"),
        _ => path.to_owned(),
    }
}

/// `path` with `.` and `dir/..` components resolved lexically.
fn normal(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A gimli error, naming the file.
pub(super) fn gimli_err(file: &str, e: gimli::Error) -> DwarfError {
    DwarfError::new(file, DwarfErrorKind::Malformed(e.to_string()))
}
