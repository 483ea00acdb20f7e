//! The text a parsed reference keeps: the names, module paths and
//! namespaces of its symbols gathered into one compact string, each module
//! path and namespace once.
//!
//! A reference line also holds a CRC and an export column, and a module
//! path repeats on every line of its module, so what the symbols point at
//! is about a third of the reference; a set keeps it for as long as it is
//! cached or compared.

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

/// Where a field is in the gathered text. Fields are checked against the
/// kernel's limits (at most 4,095 bytes) before they are gathered, and a
/// reference is at most 256 MiB, so offsets fit in 32 bits and lengths in
/// 16: the array of placed symbols is held beside the symbols' own while
/// they are made, 40 bytes each rather than 80.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u16,
}

impl Span {
    /// No namespace.
    const NONE: Span = Span { start: 0, len: 0 };

    fn of(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).expect("a reference is at most 256 MiB"),
            len: u16::try_from(end - start).expect("fields are checked against MAX_PATH"),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + usize::from(self.len)
    }
}

/// A symbol whose text is being gathered: where its name, module and
/// namespace are (the spans' parts apart, so that no padding is added).
struct Placed {
    crc: Crc,
    export: Option<ExportKind>,
    starts: [u32; 3],
    lens: [u16; 3],
}

/// The symbols of one text, in order, and the text they will share.
pub(super) struct Gathered<'t> {
    text: String,
    /// Where each module path and namespace already is in `text`.
    shared: FxHashMap<&'t str, Span>,
    /// The last module path placed, looked at first: the lines of one
    /// module follow each other.
    last: Option<(&'t str, Span)>,
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
        let namespace = fields.namespace.map_or(Span::NONE, |ns| self.shared(ns));
        let spans = [name, module, namespace];
        self.placed.push(Placed {
            crc: fields.crc,
            export: fields.export,
            starts: spans.map(|s| s.start),
            lens: spans.map(|s| s.len),
        });
    }

    fn append(&mut self, field: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(field);
        Span::of(start, self.text.len())
    }

    fn module(&mut self, module: &'t str) -> Span {
        if let Some((last, at)) = self.last
            && last == module
        {
            return at;
        }
        let at = self.shared(module);
        self.last = Some((module, at));
        at
    }

    fn shared(&mut self, field: &'t str) -> Span {
        if let Some(&at) = self.shared.get(field) {
            return at;
        }
        let at = self.append(field);
        self.shared.insert(field, at);
        at
    }

    /// The symbols, their fields slices of one shared text, in an array
    /// of at least `capacity` (room for symbols of later pieces).
    pub fn finish(self, capacity: usize) -> Vec<Symbol> {
        let text = ArcStr::from(self.text);
        let mut symbols = Vec::with_capacity(capacity.max(self.placed.len()));
        symbols.extend(self.placed.into_iter().map(|p| {
            let [name, module, namespace] = [0, 1, 2].map(|k| Span {
                start: p.starts[k],
                len: p.lens[k],
            });
            Symbol {
                name: text.substr(name.range()),
                crc: p.crc,
                module: text.substr(module.range()),
                export: p.export,
                namespace: (namespace != Span::NONE).then(|| text.substr(namespace.range())),
            }
        }));
        symbols
    }
}
