//! The text a parsed reference keeps: the names, module paths and
//! namespaces of its symbols gathered into one compact string, each module
//! path and namespace once.
//!
//! A reference line also holds a CRC and an export column, and a module
//! path repeats on every line of its module, so what the symbols point at
//! is about a third of the reference; a set keeps it for as long as it is
//! cached or compared.

use std::ops::Range;

use arcstr::ArcStr;
use rustc_hash::FxHashMap;

use crate::symbols::{Crc, ExportKind, Symbol};

/// A symbol's checked fields, slices of the line they were read from.
pub(super) struct Fields<'t> {
    /// The CRC.
    pub crc: Crc,
    /// The symbol's name.
    pub name: &'t str,
    /// Its module path.
    pub module: &'t str,
    /// Its export kind, where the format has the column.
    pub export: Option<ExportKind>,
    /// Its namespace, if any.
    pub namespace: Option<&'t str>,
}

/// A symbol whose text is being gathered: where its fields are.
struct Placed {
    crc: Crc,
    name: Range<usize>,
    module: Range<usize>,
    export: Option<ExportKind>,
    namespace: Option<Range<usize>>,
}

/// The symbols of one text, in order, and the text they will share.
pub(super) struct Gathered<'t> {
    text: String,
    /// Where each module path and namespace already is in `text`.
    shared: FxHashMap<&'t str, Range<usize>>,
    /// The last module path placed, looked at first: the lines of one
    /// module follow each other.
    last: Option<(&'t str, Range<usize>)>,
    placed: Vec<Placed>,
}

impl<'t> Gathered<'t> {
    /// Room for `lines` symbols read from a text of `bytes` bytes.
    pub fn with_capacity(lines: usize, bytes: usize) -> Gathered<'t> {
        Gathered {
            text: String::with_capacity(bytes / 2),
            shared: FxHashMap::default(),
            last: None,
            placed: Vec::with_capacity(lines),
        }
    }

    /// Adds a symbol.
    pub fn push(&mut self, fields: Fields<'t>) {
        let name = self.append(fields.name);
        let module = self.module(fields.module);
        let namespace = fields.namespace.map(|ns| self.shared(ns));
        self.placed.push(Placed {
            crc: fields.crc,
            name,
            module,
            export: fields.export,
            namespace,
        });
    }

    fn append(&mut self, field: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(field);
        start..self.text.len()
    }

    fn module(&mut self, module: &'t str) -> Range<usize> {
        if let Some((last, at)) = &self.last
            && *last == module
        {
            return at.clone();
        }
        let at = self.shared(module);
        self.last = Some((module, at.clone()));
        at
    }

    fn shared(&mut self, field: &'t str) -> Range<usize> {
        if let Some(at) = self.shared.get(field) {
            return at.clone();
        }
        let at = self.append(field);
        self.shared.insert(field, at.clone());
        at
    }

    /// The symbols, their fields slices of one shared text, in an array
    /// of at least `capacity` (room for symbols of later pieces).
    pub fn finish(self, capacity: usize) -> Vec<Symbol> {
        let text = ArcStr::from(self.text);
        let mut symbols = Vec::with_capacity(capacity.max(self.placed.len()));
        symbols.extend(self.placed.into_iter().map(|p| Symbol {
            name: text.substr(p.name),
            crc: p.crc,
            module: text.substr(p.module),
            export: p.export,
            namespace: p.namespace.map(|ns| text.substr(ns)),
        }));
        symbols
    }
}
