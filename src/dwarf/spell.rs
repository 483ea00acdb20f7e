//! One compilation unit's exports and the types they reach, spelled as
//! genksyms spells symtypes records: `s#name struct name { ... }` for each
//! named struct, union (`u#`), enum (`e#`) and typedef (`t#`), references
//! as `X#name`, anonymous aggregates written out where they are used,
//! C declarators (`void ( * fn ) ( int )`, `char name [ 16 ]`), bit-fields
//! as `name : width`, enumerators as `NAME = value`. A struct known only by
//! its declaration in this unit (no definition here, none through a type
//! signature) is `struct name { UNKNOWN }`, as genksyms writes it; so is
//! one defined in the unit's own source file (genksyms does not expand such
//! internal types).
//!
//! Work is bounded: [`MAX_TYPE_DEPTH`] nested types per declarator (a
//! reference cycle through pointers or anonymous types ends there) and
//! [`MAX_RECORD_WORK`] DIEs visited per record.

use gimli::{AttributeValue, DwTag, constants as c};
use rustc_hash::{FxHashMap, FxHashSet};

use super::units::{Loc, Units};
use super::{DwarfErrorKind, MAX_RECORD_WORK, MAX_TYPE_DEPTH};

/// One record: its key (`s#foo`, or the bare export name) and definition.
pub(super) type Record = (String, String);

/// The walk of one unit.
pub(super) struct Walker<'u, 'a> {
    units: &'u Units<'a>,
    unit: usize,
    /// Definitions of named aggregates in this unit, for declarations.
    defined: FxHashMap<(char, String), Loc>,
    /// The unit's own source file and where it was compiled.
    own: (Option<String>, Option<String>),
    /// Whether (unit, line table index) is the unit's own source file.
    internal_files: FxHashMap<(usize, u64), bool>,
    queue: Vec<(String, Loc)>,
    queued: FxHashSet<String>,
    work: usize,
}

type Res<T> = Result<T, DwarfErrorKind>;

impl<'u, 'a> Walker<'u, 'a> {
    /// A walker over compilation unit `unit`.
    pub(super) fn new(units: &'u Units<'a>, unit: usize) -> Walker<'u, 'a> {
        Walker {
            units,
            unit,
            defined: FxHashMap::default(),
            own: (units.own_path(unit), units.comp_dir(unit)),
            internal_files: FxHashMap::default(),
            queue: Vec::new(),
            queued: FxHashSet::default(),
            work: 0,
        }
    }

    /// The records of the exports this unit defines (named in `wanted`),
    /// then of every type they reach, each once.
    pub(super) fn records(mut self, wanted: &FxHashSet<String>) -> Res<Vec<Record>> {
        let exports = self.scan(wanted)?;
        let mut out = Vec::new();
        for (name, loc) in exports {
            self.work = 0;
            out.push((name.clone(), self.export(&name, loc)?));
        }
        while let Some((key, loc)) = self.queue.pop() {
            self.work = 0;
            out.push((key, self.definition(loc)?));
        }
        Ok(out)
    }

    /// The unit's top-level DIEs: the exports it defines, and the named
    /// aggregate definitions (recorded in `self.defined`).
    fn scan(&mut self, wanted: &FxHashSet<String>) -> Res<Vec<(String, Loc)>> {
        let unit = &self.units.all[self.unit];
        let mut tree = unit.entries_tree(None)?;
        let root = tree.root()?;
        let mut children = root.children();
        let mut exports: Vec<(String, Loc)> = Vec::new();
        let mut seen = FxHashSet::default();
        while let Some(child) = children.next()? {
            let die = child.entry();
            let loc = Loc {
                unit: self.unit,
                offset: die.offset(),
            };
            let declaration = die.attr_value(c::DW_AT_declaration).is_some();
            if let Some(prefix) = prefix(die.tag()) {
                if let (false, Some(name)) = (declaration, self.name_of(loc, die)) {
                    self.defined.entry((prefix, name)).or_insert(loc);
                }
                continue;
            }
            let is_decl = matches!(die.tag(), c::DW_TAG_subprogram | c::DW_TAG_variable);
            if !is_decl || declaration {
                continue;
            }
            let root = self.origin(loc)?;
            let name = self.name_along(loc, root)?;
            if let Some(name) = name.filter(|n| wanted.contains(n))
                && seen.insert(name.clone())
            {
                exports.push((name, root));
            }
        }
        Ok(exports)
    }

    /// The DIE at the end of `DW_AT_specification`/`DW_AT_abstract_origin`
    /// links from `loc` (the declaration with the prototype).
    fn origin(&self, mut loc: Loc) -> Res<Loc> {
        for _ in 0..MAX_TYPE_DEPTH {
            let die = self.units.entry(loc)?;
            let link = die
                .attr_value(c::DW_AT_specification)
                .or_else(|| die.attr_value(c::DW_AT_abstract_origin));
            match link.and_then(|v| self.units.target(loc.unit, v)) {
                Some(next) => loc = next,
                None => return Ok(loc),
            }
        }
        Err(too_deep(loc))
    }

    /// The name of `loc`, else of its origin `root`.
    fn name_along(&self, loc: Loc, root: Loc) -> Res<Option<String>> {
        let die = self.units.entry(loc)?;
        if let Some(name) = self.name_of(loc, &die) {
            return Ok(Some(name));
        }
        Ok(self.name_of(root, &self.units.entry(root)?))
    }

    /// The DIE's name as one token.
    fn name_of(&self, loc: Loc, die: &Die<'a>) -> Option<String> {
        self.raw_name(loc, die).map(|n| token(&n))
    }

    fn raw_name(&self, loc: Loc, die: &Die<'a>) -> Option<String> {
        let value = die.attr_value(c::DW_AT_name)?;
        let name = self.units.string(loc.unit, value)?;
        (!name.is_empty()).then_some(name)
    }

    /// An export's declaration: `int name ( s#foo * , long )` or `t#u8 name`.
    fn export(&mut self, name: &str, loc: Loc) -> Res<String> {
        let die = self.units.entry(loc)?;
        let ty = self.type_of(loc, &die);
        let mut inner = vec![name.to_owned()];
        if die.tag() == c::DW_TAG_subprogram {
            inner.extend(self.parameters(loc, &die)?);
        }
        Ok(self.declare(ty, inner, 0)?.join(" "))
    }

    /// The record of a queued named type.
    fn definition(&mut self, loc: Loc) -> Res<String> {
        let die = self.units.entry(loc)?;
        let tokens = if die.tag() == c::DW_TAG_typedef {
            let ty = self.type_of(loc, &die);
            self.declare(ty, Vec::new(), 0)?
        } else {
            self.aggregate(loc, &die, 0)?
        };
        Ok(tokens.join(" "))
    }

    fn type_of(&self, loc: Loc, die: &Die<'a>) -> Option<Loc> {
        let value = die.attr_value(c::DW_AT_type)?;
        self.units.target(loc.unit, value)
    }

    /// Counts one DIE visit against [`MAX_RECORD_WORK`].
    fn spend(&mut self, loc: Loc) -> Res<()> {
        self.work += 1;
        if self.work > MAX_RECORD_WORK {
            return Err(DwarfErrorKind::TooMuch {
                what: "DIEs visited for one record",
                limit: MAX_RECORD_WORK as u64,
            })
            .map_err(|e| at(e, loc));
        }
        Ok(())
    }

    /// The tokens declaring `inner` (a declarator: name, `*`, suffixes) of
    /// type `ty` (`None`: void).
    fn declare(&mut self, ty: Option<Loc>, inner: Vec<String>, depth: usize) -> Res<Vec<String>> {
        let Some(loc) = ty else {
            return Ok(prepend(vec!["void".into()], inner));
        };
        if depth > MAX_TYPE_DEPTH {
            return Err(too_deep(loc));
        }
        self.spend(loc)?;
        let (loc, die) = self.signed(loc)?;
        let target = self.type_of(loc, &die);
        match die.tag() {
            c::DW_TAG_pointer_type | c::DW_TAG_reference_type | c::DW_TAG_rvalue_reference_type => {
                let wrap = self.needs_parens(target)?;
                let mut d = vec!["*".to_owned()];
                d.extend(inner);
                if wrap {
                    d.insert(0, "(".into());
                    d.push(")".into());
                }
                self.declare(target, d, depth + 1)
            }
            c::DW_TAG_const_type
            | c::DW_TAG_volatile_type
            | c::DW_TAG_restrict_type
            | c::DW_TAG_atomic_type => self.qualified(&die, target, inner, depth),
            c::DW_TAG_array_type => {
                let mut d = inner;
                d.extend(self.dimensions(loc)?);
                self.declare(target, d, depth + 1)
            }
            c::DW_TAG_subroutine_type => {
                let mut d = inner;
                d.extend(self.parameters(loc, &die)?);
                self.declare(target, d, depth + 1)
            }
            _ => Ok(prepend(self.named(loc, &die, depth)?, inner)),
        }
    }

    /// The DIE at `loc`, or the type its `DW_AT_signature` names: with type
    /// units, a unit refers to a type by a stub holding only that.
    fn signed(&self, loc: Loc) -> Res<(Loc, Die<'a>)> {
        let die = self.units.entry(loc)?;
        let Some(value) = die.attr_value(c::DW_AT_signature) else {
            return Ok((loc, die));
        };
        match self.units.target(loc.unit, value) {
            Some(t) => Ok((t, self.units.entry(t)?)),
            None => Ok((loc, die)),
        }
    }

    /// `const T x` (or `T * const x` when `T` is a pointer).
    fn qualified(
        &mut self,
        die: &Die<'a>,
        target: Option<Loc>,
        inner: Vec<String>,
        depth: usize,
    ) -> Res<Vec<String>> {
        let word = match die.tag() {
            c::DW_TAG_const_type => "const",
            c::DW_TAG_volatile_type => "volatile",
            c::DW_TAG_restrict_type => "restrict",
            _ => "_Atomic",
        };
        let pointer = match target {
            Some(t) => self.units.entry(t)?.tag() == c::DW_TAG_pointer_type,
            None => false,
        };
        if pointer {
            return self.declare(target, prepend(vec![word.into()], inner), depth + 1);
        }
        let spelled = self.declare(target, inner, depth + 1)?;
        Ok(prepend(vec![word.into()], spelled))
    }

    /// Whether a pointer to `target` needs `( * x )`: arrays and functions.
    fn needs_parens(&self, target: Option<Loc>) -> Res<bool> {
        let Some(t) = target else { return Ok(false) };
        let tag = self.units.entry(t)?.tag();
        Ok(matches!(
            tag,
            c::DW_TAG_array_type | c::DW_TAG_subroutine_type
        ))
    }

    /// A type spelled by name: a base type, a reference to a named record
    /// (queued), or an anonymous aggregate written out.
    fn named(&mut self, loc: Loc, die: &Die<'a>, depth: usize) -> Res<Vec<String>> {
        let tag = die.tag();
        if matches!(tag, c::DW_TAG_base_type | c::DW_TAG_unspecified_type) {
            // `long unsigned int`: one token a word, as genksyms has them.
            let name = self.raw_name(loc, die).unwrap_or_else(|| "void".into());
            return Ok(name.split_whitespace().map(token).collect());
        }
        let name = self.name_of(loc, die);
        let Some(p) = prefix(tag) else {
            return Err(at(DwarfErrorKind::NotAType(tag.to_string()), loc));
        };
        let Some(name) = name else {
            return self.aggregate(loc, die, depth + 1);
        };
        let key = format!("{p}#{name}");
        if self.queued.insert(key.clone()) {
            let def = self.resolve(loc, die, p, &name)?;
            self.queue.push((key.clone(), def));
        }
        Ok(vec![key])
    }

    /// The DIE defining a named type whose reference landed on `loc`: a
    /// declaration leads to this unit's definition of the same name, else
    /// stays (opaque).
    fn resolve(&self, loc: Loc, die: &Die<'a>, p: char, name: &str) -> Res<Loc> {
        if die.attr_value(c::DW_AT_declaration).is_none() {
            return Ok(loc);
        }
        Ok(self
            .defined
            .get(&(p, name.to_owned()))
            .copied()
            .unwrap_or(loc))
    }

    /// `struct name { members }`, `enum { A = 0 , }`; `struct name { UNKNOWN
    /// }` for a declaration.
    fn aggregate(&mut self, loc: Loc, die: &Die<'a>, depth: usize) -> Res<Vec<String>> {
        if depth > MAX_TYPE_DEPTH {
            return Err(too_deep(loc));
        }
        let keyword = match die.tag() {
            c::DW_TAG_union_type => "union",
            c::DW_TAG_enumeration_type => "enum",
            _ => "struct",
        };
        let mut out = vec![keyword.to_owned()];
        let name = self.name_of(loc, die);
        let internal = name.is_some() && self.internal(loc, die);
        out.extend(name);
        out.push("{".into());
        if internal || die.attr_value(c::DW_AT_declaration).is_some() {
            out.push("UNKNOWN".into());
        } else if keyword == "enum" {
            out.extend(self.enumerators(loc)?);
        } else {
            out.extend(self.members(loc, depth)?);
        }
        out.push("}".into());
        Ok(out)
    }

    /// Whether the DIE is defined in the unit's own source file rather than
    /// a header: genksyms keeps such a named struct, union or enum opaque.
    /// A type unit has a line table of its own: files are compared by path.
    fn internal(&mut self, loc: Loc, die: &Die<'a>) -> bool {
        let file = match die.attr_value(c::DW_AT_decl_file) {
            Some(AttributeValue::FileIndex(f)) => f,
            Some(v) => match v.udata_value() {
                Some(f) => f,
                None => return false,
            },
            None => return false,
        };
        let (units, own) = (self.units, &self.own);
        *self
            .internal_files
            .entry((loc.unit, file))
            .or_insert_with(|| {
                let path = units.file_path(loc.unit, file, own.1.as_deref());
                path.is_some() && path == own.0
            })
    }

    fn members(&mut self, loc: Loc, depth: usize) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for child in self.children(loc)? {
            let die = self.units.entry(child)?;
            if die.tag() != c::DW_TAG_member {
                continue;
            }
            self.spend(child)?;
            let inner: Vec<String> = self.name_of(child, &die).into_iter().collect();
            let ty = self.type_of(child, &die);
            out.extend(self.declare(ty, inner, depth + 1)?);
            if let Some(bits) = die
                .attr_value(c::DW_AT_bit_size)
                .and_then(|v| v.udata_value())
            {
                out.extend([":".into(), bits.to_string()]);
            }
            out.push(";".into());
        }
        Ok(out)
    }

    fn enumerators(&mut self, loc: Loc) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for child in self.children(loc)? {
            let die = self.units.entry(child)?;
            if die.tag() != c::DW_TAG_enumerator {
                continue;
            }
            self.spend(child)?;
            let name = self.name_of(child, &die).unwrap_or_else(|| "?".into());
            let value = match die.attr_value(c::DW_AT_const_value) {
                Some(AttributeValue::Sdata(v)) => v.to_string(),
                Some(v) => v
                    .udata_value()
                    .map_or_else(|| "?".into(), |u| u.to_string()),
                None => "?".into(),
            };
            out.extend([name, "=".into(), value, ",".into()]);
        }
        Ok(out)
    }

    /// `[ 16 ]` per dimension of an array type (`[ ]` when unsized).
    fn dimensions(&mut self, loc: Loc) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for child in self.children(loc)? {
            let die = self.units.entry(child)?;
            if die.tag() != c::DW_TAG_subrange_type {
                continue;
            }
            self.spend(child)?;
            let count = die.attr_value(c::DW_AT_count).and_then(|v| v.udata_value());
            let upper = die
                .attr_value(c::DW_AT_upper_bound)
                .and_then(|v| v.udata_value());
            out.push("[".into());
            out.extend(
                count
                    .or(upper.map(|u| u.wrapping_add(1)))
                    .map(|n| n.to_string()),
            );
            out.push("]".into());
        }
        Ok(out)
    }

    /// `( T1 , T2 )`, `( void )` for a prototype without parameters, `...`
    /// for variadic ones.
    fn parameters(&mut self, loc: Loc, die: &Die<'a>) -> Res<Vec<String>> {
        let mut params: Vec<Vec<String>> = Vec::new();
        for child in self.children(loc)? {
            let p = self.units.entry(child)?;
            match p.tag() {
                c::DW_TAG_formal_parameter => {
                    self.spend(child)?;
                    let ty = self.type_of(child, &p);
                    params.push(self.declare(ty, Vec::new(), 1)?);
                }
                c::DW_TAG_unspecified_parameters => params.push(vec!["...".into()]),
                _ => {}
            }
        }
        let prototyped = die.attr_value(c::DW_AT_prototyped).is_some();
        if params.is_empty() && prototyped {
            params.push(vec!["void".into()]);
        }
        let mut out = vec!["(".to_owned()];
        for (i, p) in params.into_iter().enumerate() {
            if i > 0 {
                out.push(",".into());
            }
            out.extend(p);
        }
        out.push(")".into());
        Ok(out)
    }

    /// The direct children of the DIE at `loc`.
    fn children(&self, loc: Loc) -> Res<Vec<Loc>> {
        let unit = &self.units.all[loc.unit];
        let mut tree = unit.entries_tree(Some(loc.offset))?;
        let root = tree.root()?;
        let mut iter = root.children();
        let mut out = Vec::new();
        while let Some(child) = iter.next()? {
            out.push(Loc {
                unit: loc.unit,
                offset: child.entry().offset(),
            });
        }
        Ok(out)
    }
}

type Die<'a> = gimli::DebuggingInformationEntry<super::sections::R<'a>>;

/// The symtypes prefix of a named aggregate or typedef tag.
fn prefix(tag: DwTag) -> Option<char> {
    Some(match tag {
        c::DW_TAG_structure_type | c::DW_TAG_class_type => 's',
        c::DW_TAG_union_type => 'u',
        c::DW_TAG_enumeration_type => 'e',
        c::DW_TAG_typedef => 't',
        _ => return None,
    })
}

fn prepend(mut head: Vec<String>, tail: Vec<String>) -> Vec<String> {
    head.extend(tail);
    head
}

/// A DWARF name as one symtypes token: white space and quotes (which would
/// split or open a token) and a second-place `#` (which would make it a
/// reference) are replaced by `?`.
fn token(name: &str) -> String {
    name.char_indices()
        .map(|(i, ch)| match ch {
            '#' if i == 1 => '?',
            '"' | '\'' => '?',
            ch if ch.is_whitespace() || ch.is_control() => '?',
            ch => ch,
        })
        .collect()
}

fn too_deep(loc: Loc) -> DwarfErrorKind {
    at(
        DwarfErrorKind::TooMuch {
            what: "nested types in one declaration",
            limit: MAX_TYPE_DEPTH as u64,
        },
        loc,
    )
}

/// `kind`, placed at the DIE `loc`.
fn at(kind: DwarfErrorKind, loc: Loc) -> DwarfErrorKind {
    DwarfErrorKind::At {
        unit: loc.unit,
        offset: loc.offset.0,
        inner: Box::new(kind),
    }
}
