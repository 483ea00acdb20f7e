//! genksyms symtypes: the type data a kernel's symbol CRCs are computed from.
//!
//! With `KBUILD_SYMTYPES=1` kbuild writes, next to every object that exports
//! symbols, `<object>.symtypes`: one record a line, a name then the tokens of
//! its definition, separated by single spaces.
//!
//! | record | what |
//! |---|---|
//! | `s#name struct name { ... }` | a struct; `u#` union, `e#` enum, `t#` typedef, `E#` enum constant (its value) |
//! | `name int name ( s#foo * )` | an exported function or variable (no prefix); `name extern ...` marks an `extern` declaration (not part of the CRC) |
//! | `s##name` | a type only declared in that translation unit: short for `s#name struct name { UNKNOWN }` |
//! | `override s#name ...` | genksyms' `--preserve` override marker, kept as a flag |
//!
//! Inside a definition `X#name` is a reference to another record of the same
//! file; anything else is a literal token. A token may hold spaces inside a
//! double-quoted string (genksyms' own reader rule) and a type name may be
//! single-quoted (`s#'a b'`, suse-kabi-tools' rule).
//!
//! SUSE keeps all files of a build in one *consolidated* file: a
//! `/* path/file.symtypes */` line starts each file's section, and a section
//! omits a record whose definition equals the last one written for that name
//! earlier in the file (a reader finds it by walking the section's records);
//! `X##name` there applies to its own section only. [`Symtypes`] reads both
//! forms (see [`load`]) and writes the consolidated one ([`write`]).
//!
//! The model: every string is interned once ([`Interner`], [`Name`]); a
//! distinct definition of a type (its [`TypeKey`] and [`Token`]s) is stored
//! once as a [`Definition`] ([`DefId`]) however many files hold it, so two
//! files share a `DefId` exactly when their text for that type is equal;
//! each [`SymtypesFile`] maps the keys of its records to definitions. A type
//! defined differently in different files has several definitions, its
//! variants ([`Symtypes::variants`]). References inside a definition name
//! only the key: which variant they reach depends on the file.
//!
//! [`crc`] recomputes each export's CRC the way genksyms does.
//!
//! Hostile input is refused with an error naming file and line, within these
//! limits:
//!
//! | limit | value | why |
//! |---|---|---|
//! | [`MAX_RECORD_BYTES`] | 1 MiB | the longest real record (Debian 6.1 amd64) is 8 KB |
//! | [`MAX_TOKEN_BYTES`] | 4 KiB | genksyms' own reader stops at 255; the longest real token is 71 bytes |
//! | [`MAX_FILE_BYTES`] | 256 MiB | a whole consolidated x86_64 file is about 15 MB |
//! | [`MAX_TREE_BYTES`] | 2 GiB | all `.symtypes` of a full build tree (or archive), decompressed: a few hundred MB |
//! | [`MAX_FILES`] | 200,000 | files in a tree, archive or consolidated file: a full build has about 15,000 |
//! | [`crc::MAX_EXPANDED_TOKENS`] | 64 Mi | tokens one export's expansion may visit (each type once): bounds work on any input |

pub mod crc;
mod graph;
mod load;
mod parse;
mod write;

use std::collections::hash_map::Entry;
use std::fmt;

use rustc_hash::FxHashMap;

pub use load::{load, load_bytes};
pub use parse::{parse_consolidated, parse_file};
pub use write::write;

/// The longest record line accepted.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 4 << 10;
/// The largest single symtypes or consolidated file accepted.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// The most bytes all files of a tree or archive may hold together.
pub const MAX_TREE_BYTES: u64 = 2 << 30;
/// The most files a tree, archive or consolidated file may hold.
pub const MAX_FILES: usize = 200_000;

/// An interned string: an index into an [`Interner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(u32);

/// Every distinct string of a [`Symtypes`], stored once.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FxHashMap<Box<str>, Name>,
    strings: Vec<Box<str>>,
}

impl Interner {
    /// The [`Name`] of `text`, adding it when new.
    pub fn intern(&mut self, text: &str) -> Name {
        if let Some(&name) = self.ids.get(text) {
            return name;
        }
        // u32 suffices: MAX_FILE_BYTES bounds distinct strings per file, and a
        // tree of distinct tokens past 4 G would exceed MAX_TREE_BYTES.
        let name = Name(u32::try_from(self.strings.len()).unwrap_or(u32::MAX));
        self.strings.push(text.into());
        self.ids.insert(text.into(), name);
        name
    }

    /// The [`Name`] of `text` if it was interned.
    pub fn get(&self, text: &str) -> Option<Name> {
        self.ids.get(text).copied()
    }

    /// The text of `name`.
    pub fn text(&self, name: Name) -> &str {
        &self.strings[name.0 as usize]
    }

    /// How many distinct strings there are.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether nothing was interned.
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// What a record defines; its prefix letter in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An exported function or variable (no prefix).
    Export,
    /// `t#`: a typedef.
    Typedef,
    /// `e#`: an enum.
    Enum,
    /// `s#`: a struct.
    Struct,
    /// `u#`: a union.
    Union,
    /// `E#`: an enum constant, defined by its value.
    EnumConst,
}

impl Kind {
    /// The kind a prefix letter stands for (`s` -> [`Kind::Struct`]).
    pub fn from_prefix(letter: u8) -> Option<Kind> {
        Some(match letter {
            b't' => Kind::Typedef,
            b'e' => Kind::Enum,
            b's' => Kind::Struct,
            b'u' => Kind::Union,
            b'E' => Kind::EnumConst,
            _ => return None,
        })
    }

    /// The prefix letter, `None` for exports.
    pub fn prefix(self) -> Option<char> {
        match self {
            Kind::Export => None,
            Kind::Typedef => Some('t'),
            Kind::Enum => Some('e'),
            Kind::Struct => Some('s'),
            Kind::Union => Some('u'),
            Kind::EnumConst => Some('E'),
        }
    }

    /// The C keyword genksyms writes before the name of an already expanded
    /// struct, union or enum (`None` for the others, written as the bare name).
    pub fn keyword(self) -> Option<&'static str> {
        match self {
            Kind::Struct => Some("struct"),
            Kind::Union => Some("union"),
            Kind::Enum => Some("enum"),
            _ => None,
        }
    }
}

/// A record's identity within one file: its kind and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeKey {
    /// What it defines.
    pub kind: Kind,
    /// Its name (without prefix).
    pub name: Name,
}

/// One token of a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// A literal token (`struct`, `{`, `int`, a member name, `"string"`).
    Atom(Name),
    /// A reference to another record of the same file (`s#list_head`).
    Ref(TypeKey),
}

/// Index of a [`Definition`] in a [`Symtypes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId(pub u32);

/// One distinct definition of a type or export.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Definition {
    /// What it defines.
    pub key: TypeKey,
    /// Its tokens (without the `extern` marker).
    pub tokens: Box<[Token]>,
    /// `name extern ...`: an `extern` declaration.
    pub is_extern: bool,
    /// `override ...`: genksyms' override marker.
    pub is_override: bool,
}

/// Index of a [`SymtypesFile`] in a [`Symtypes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// The records one object's `.symtypes` held (or one consolidated section
/// stood for).
#[derive(Clone, Debug, Default)]
pub struct SymtypesFile {
    /// Its path (relative to the tree or archive root, or as the
    /// consolidated header names it).
    pub path: String,
    /// Every record: key -> definition.
    pub records: FxHashMap<TypeKey, DefId>,
    /// Its exports, in file order.
    pub exports: Vec<Name>,
}

impl SymtypesFile {
    /// The definition this file gives `key`.
    pub fn get(&self, key: TypeKey) -> Option<DefId> {
        self.records.get(&key).copied()
    }
}

/// A set of symtypes files: one build (a tree, an archive, a consolidated
/// file).
#[derive(Debug, Default)]
pub struct Symtypes {
    /// Every string.
    pub names: Interner,
    defs: Vec<Definition>,
    def_ids: FxHashMap<Definition, DefId>,
    variants: FxHashMap<TypeKey, Vec<DefId>>,
    files: Vec<SymtypesFile>,
    exports: FxHashMap<Name, FileId>,
    duplicates: Vec<(Name, FileId)>,
}

impl Symtypes {
    /// The definition `id` names.
    pub fn def(&self, id: DefId) -> &Definition {
        &self.defs[id.0 as usize]
    }

    /// How many distinct definitions there are.
    pub fn def_count(&self) -> usize {
        self.defs.len()
    }

    /// The distinct definitions of `key` across files, in order of first
    /// appearance (several when files disagree).
    pub fn variants(&self, key: TypeKey) -> &[DefId] {
        self.variants.get(&key).map_or(&[], Vec::as_slice)
    }

    /// Every file, in the order read (sorted by path for trees and archives).
    pub fn files(&self) -> &[SymtypesFile] {
        &self.files
    }

    /// The file `id` names.
    pub fn file(&self, id: FileId) -> &SymtypesFile {
        &self.files[id.0 as usize]
    }

    /// The file exporting `symbol` (the first, when several do).
    pub fn export_file(&self, symbol: &str) -> Option<FileId> {
        self.exports.get(&self.names.get(symbol)?).copied()
    }

    /// Every export with its file, sorted by name.
    pub fn exports(&self) -> Vec<(Name, FileId)> {
        let mut all: Vec<(Name, FileId)> = self.exports.iter().map(|(&n, &f)| (n, f)).collect();
        all.sort_by(|a, b| self.names.text(a.0).cmp(self.names.text(b.0)));
        all
    }

    /// Exports found again in a later file (the kernel build warns about
    /// these too), with that later file.
    pub fn duplicate_exports(&self) -> &[(Name, FileId)] {
        &self.duplicates
    }

    /// The `X#name` spelling of `key` (bare name for exports; quoted when the
    /// name holds white space).
    pub fn key_text(&self, key: TypeKey) -> String {
        KeyText(self, key).to_string()
    }

    /// The definition as its record line would spell it, without the name.
    pub fn def_text(&self, id: DefId) -> String {
        let def = self.def(id);
        let mut out = String::new();
        for (i, token) in def.tokens.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match *token {
                Token::Atom(n) => out.push_str(self.names.text(n)),
                Token::Ref(key) => out.push_str(&self.key_text(key)),
            }
        }
        out
    }

    /// Stores `def` once, returning its id.
    fn add_def(&mut self, def: Definition) -> DefId {
        if let Some(&id) = self.def_ids.get(&def) {
            return id;
        }
        let id = DefId(u32::try_from(self.defs.len()).unwrap_or(u32::MAX));
        self.variants.entry(def.key).or_default().push(id);
        self.def_ids.insert(def.clone(), id);
        self.defs.push(def);
        id
    }

    /// Adds a finished file, recording its exports.
    fn add_file(&mut self, file: SymtypesFile) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        for &name in &file.exports {
            match self.exports.entry(name) {
                Entry::Occupied(_) => self.duplicates.push((name, id)),
                Entry::Vacant(slot) => {
                    slot.insert(id);
                }
            }
        }
        self.files.push(file);
        id
    }
}

/// Displays a key as the file spells it.
struct KeyText<'a>(&'a Symtypes, TypeKey);

impl fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.names.text(self.1.name);
        if let Some(p) = self.1.kind.prefix() {
            write!(f, "{p}#")?;
            if name.bytes().any(|b| b.is_ascii_whitespace()) {
                return write!(f, "'{name}'");
            }
        }
        f.write_str(name)
    }
}

/// A symtypes input could not be read; names the file and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {kind}", at_line(*line))]
pub struct SymtypesError {
    /// The file (for a file inside an archive or a consolidated file:
    /// `outer:inner`).
    pub file: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// What was wrong.
    pub kind: ErrorKind,
}

/// `:<line>`, or nothing when the problem is the file as a whole.
fn at_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// What was wrong with symtypes input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A line longer than [`MAX_RECORD_BYTES`].
    #[error("record of {len} bytes is longer than the {max} allowed")]
    RecordTooLong {
        /// Its length (at least).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A token longer than [`MAX_TOKEN_BYTES`].
    #[error("token of {len} bytes is longer than the {max} allowed")]
    TokenTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More data than a limit allows.
    #[error("more than the {limit} {what} allowed")]
    TooMuch {
        /// What was counted ("files", "bytes").
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// `X#` with a letter genksyms does not use.
    #[error("unknown record prefix {0:?} (expected s#, u#, e#, E#, t# or a plain name)")]
    UnknownPrefix(String),
    /// A record name with no definition after it, or an empty name.
    #[error("record {0:?} has no definition")]
    Empty(String),
    /// An unterminated quote.
    #[error("unterminated quote in {0:?}")]
    Unterminated(String),
    /// A closing brace, parenthesis or bracket that closes nothing open, or
    /// an opener of another kind.
    #[error("unbalanced {0:?} in the definition of {1}")]
    Unbalanced(char, String),
    /// The same record twice in one file.
    #[error("{name} is already defined at line {first_line}")]
    Duplicate {
        /// The record.
        name: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// A reference to a record the file does not have.
    #[error("{referrer} refers to {missing}, which is not defined")]
    Undefined {
        /// The record holding the reference.
        referrer: String,
        /// The missing record.
        missing: String,
    },
    /// A consolidated file whose first line is no `/* file */` header.
    #[error("expected a \"/* path/file.symtypes */\" header")]
    NoHeader,
    /// A `.tar.xz` that is not a valid archive.
    #[error("bad archive: {0}")]
    Archive(String),
}

impl SymtypesError {
    fn new(file: &str, line: usize, kind: ErrorKind) -> SymtypesError {
        SymtypesError {
            file: file.to_owned(),
            line,
            kind,
        }
    }
}
