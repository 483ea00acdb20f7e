//! Recomputing export CRCs the way genksyms does (`scripts/genksyms/genksyms.c`,
//! `expand_and_crc_sym` and `export_symbol`).
//!
//! An export's CRC covers its definition with every type reference expanded
//! in place, depth first: the first time a type is met while expanding one
//! export it is replaced by its whole definition (which is expanded in turn);
//! every later time (including from inside itself) by a short reference:
//! `struct name`, `union name`, `enum name`, or the bare name of a typedef or
//! enum constant. Each token goes into the CRC followed by one space. The
//! CRC is CRC-32 with the reflected polynomial `0xEDB88320`, started at
//! `0xffffffff` and xored with `0xffffffff` at the end: the common CRC-32 of
//! the expanded text, as [`Expander::text`] spells it. `extern` and
//! `override` markers are not part of a definition, so not of the CRC.
//!
//! Spelled out, the expanded text of an export reaching `struct sk_buff`
//! is hundreds of KB, and a file's exports reach the same types again and
//! again (4,217 exports of Debian's data: about 1 GB of text). So the CRC is
//! not computed over the text: a type none of whose reachable types was
//! visited yet in this export expands exactly as it does on its own, so its
//! expansion's CRC segment is computed once per file and appended with
//! CRC-32's linearity (zlib's `crc32_combine`); only the types whose
//! surroundings differ are walked token by token ([`super::graph`] gives
//! each type's reachable set as a bitset, to tell which).
//!
//! The walks keep their own stacks (deeply nested or chained types cannot
//! overflow the thread's stack). Each export's walk visits every type at
//! most once, so its work is bounded by the file's size; the named
//! [`MAX_EXPANDED_TOKENS`] bounds it further.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::graph::{FileGraph, UNRESOLVED};
use super::{DefId, FileId, Name, Symtypes, SymtypesFile, Token, TypeKey};

/// The most tokens one export's expansion may go through.
pub const MAX_EXPANDED_TOKENS: usize = 64 << 20;

/// The most records a file may have for the segment shortcut: its
/// reachability bitsets take records² / 8 bytes (32 MiB at this limit; the
/// largest real file has 1,467 records). Larger files are walked token by
/// token: same CRC, more time.
pub const MAX_GRAPH_RECORDS: usize = 16 << 10;

/// The most memory one file's recorded segments may take; past it new ones
/// are not kept (same CRCs, more time). Debian's largest file needs about
/// 1 MiB.
pub const MAX_SEGMENT_BYTES: usize = 256 << 20;

/// Expansions shorter than this are walked again rather than recorded:
/// walking them costs less than computing and keeping a segment.
const MIN_SEGMENT_BYTES: u64 = 512;

/// genksyms' CRC-32 table (reflected `0xEDB88320`), built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// An export's CRC could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrcError {
    /// The file has no record for the export.
    #[error("{file}: no record for {symbol}")]
    NoSuchExport {
        /// The file.
        file: String,
        /// The export.
        symbol: String,
    },
    /// A reference names a record the file does not have.
    #[error("{file}: expanding {symbol}: {missing} is not defined")]
    Undefined {
        /// The file.
        file: String,
        /// The export being expanded.
        symbol: String,
        /// The missing record (`s#foo`).
        missing: String,
    },
    /// The expansion passed [`MAX_EXPANDED_TOKENS`].
    #[error("{file}: expanding {symbol} passed {MAX_EXPANDED_TOKENS} tokens")]
    TooLarge {
        /// The file.
        file: String,
        /// The export being expanded.
        symbol: String,
    },
}

/// A type's expansion on its own, kept per file: the raw CRC register it
/// leaves starting from 0, its length, and `x^(8 len) mod P` to append it.
#[derive(Clone, Copy, Debug)]
struct Segment {
    crc: u32,
    len: u64,
    op: u32,
}

/// A raw CRC register (before the final xor) and the bytes it went through.
#[derive(Clone, Copy, Debug)]
struct Register {
    crc: u32,
    len: u64,
}

impl Register {
    /// One token and the space genksyms puts after it.
    fn token(&mut self, text: &str) {
        for &b in text.as_bytes().iter().chain(b" ") {
            self.crc = TABLE[((self.crc ^ u32::from(b)) & 0xff) as usize] ^ (self.crc >> 8);
        }
        self.len += text.len() as u64 + 1;
    }

    /// Appends a segment: CRC-32 is linear, so feeding `len` bytes equals
    /// shifting the register by `len` zero bytes and adding the bytes' own
    /// register from 0.
    fn append(&mut self, seg: Segment) {
        self.crc = multmodp(seg.op, self.crc) ^ seg.crc;
        self.len += seg.len;
    }
}

/// `a * b mod P` in CRC-32's reflected bit order (as zlib's `multmodp`).
fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 {
            (b >> 1) ^ 0xEDB8_8320
        } else {
            b >> 1
        };
    }
}

/// `x^(2^k) mod P` for k in 0..64.
const X2N: [u32; 64] = {
    let mut table = [0u32; 64];
    let mut p = 1u32 << 30; // x^1
    let mut k = 0;
    while k < 64 {
        table[k] = p;
        // p = p * p mod P, spelled out: const fns cannot loop over calls.
        let (a, mut b, mut m, mut q) = (p, p, 1u32 << 31, 0u32);
        loop {
            if a & m != 0 {
                q ^= b;
                if a & (m - 1) == 0 {
                    break;
                }
            }
            m >>= 1;
            b = if b & 1 != 0 {
                (b >> 1) ^ 0xEDB8_8320
            } else {
                b >> 1
            };
        }
        p = q;
        k += 1;
    }
    table
};

/// `x^(8 len) mod P`: the operator that shifts a register by `len` bytes.
fn shift_op(len: u64) -> u32 {
    let (mut p, mut n, mut k) = (1u32 << 31, len, 3usize);
    while n != 0 {
        if n & 1 != 0 {
            p = multmodp(X2N[k & 63], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// One definition being expanded: local index, next token, next reference,
/// and, when its expansion may be recorded, where it started.
struct Frame {
    local: u32,
    token: usize,
    reference: usize,
    recording: Option<Entry>,
}

/// The context a frame's expansion is recorded under, and the register
/// when it started (its segment is what it added since).
struct Entry {
    hash: u64,
    context: Box<[u64]>,
    before: Register,
}

/// The resolved graph of the file last expanded, with its segments.
struct FileState {
    id: FileId,
    graph: FileGraph,
    segments: Segments,
    visited: Vec<u64>,
    /// Types whose last expansion was shorter than [`MIN_SEGMENT_BYTES`]:
    /// walked without looking for a segment.
    small: Vec<bool>,
}

/// Recorded segments of one file: a type's expansion depends only on which
/// of the types it reaches were already visited (its context), so each is
/// kept under (type, context), with the types it visits: not all it reaches
/// when the context is not empty (a visited type's own references are not
/// followed). Bounded by [`MAX_SEGMENT_BYTES`].
#[derive(Default)]
struct Segments {
    map: FxHashMap<(u32, u64), Vec<Recorded>>,
    bytes: usize,
}

/// A segment with the context it was recorded in and the visited set after.
struct Recorded {
    context: Box<[u64]>,
    after: Box<[u64]>,
    segment: Segment,
}

impl Segments {
    fn get(&self, local: u32, hash: u64, context: &[u64]) -> Option<&Recorded> {
        let bucket = self.map.get(&(local, hash))?;
        bucket.iter().find(|r| *r.context == *context)
    }

    fn insert(&mut self, local: u32, hash: u64, recorded: Recorded) {
        let size =
            (recorded.context.len() + recorded.after.len()) * 8 + std::mem::size_of::<Recorded>();
        if self.bytes + size > MAX_SEGMENT_BYTES {
            return;
        }
        self.bytes += size;
        self.map.entry((local, hash)).or_default().push(recorded);
    }
}

/// A context's hash (its exact words are compared on a hit).
fn context_hash(words: &[u64]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    words.hash(&mut h);
    h.finish()
}

/// Expands exports of one [`Symtypes`]; reusable across exports and files
/// (it keeps the last file's graph and segments).
pub struct Expander<'a> {
    st: &'a Symtypes,
    stamps: Vec<u32>,
    generation: u32,
    stack: Vec<(DefId, usize)>,
    file: Option<FileState>,
}

impl<'a> Expander<'a> {
    /// An expander over `st`.
    pub fn new(st: &'a Symtypes) -> Expander<'a> {
        Expander {
            st,
            stamps: vec![0; st.def_count()],
            generation: 0,
            stack: Vec::new(),
            file: None,
        }
    }

    /// The CRC genksyms computes for `symbol` as `file` defines it.
    ///
    /// The same walk as [`Expander::text`], without spelling the text out:
    /// a type none of whose reachable types was visited yet expands exactly
    /// as it does on its own, so its CRC segment is computed once per file
    /// and appended ([`Register::append`]); only the other types are walked
    /// token by token.
    pub fn crc(&mut self, file: FileId, symbol: Name) -> Result<u32, CrcError> {
        if self.st.file(file).records.len() > MAX_GRAPH_RECORDS {
            let mut reg = Register {
                crc: 0xffff_ffff,
                len: 0,
            };
            self.walk(file, symbol, &mut reg)?;
            return Ok(reg.crc ^ 0xffff_ffff);
        }
        if self.file.as_ref().is_none_or(|f| f.id != file) {
            let graph = FileGraph::new(self.st, self.st.file(file));
            self.file = Some(FileState {
                id: file,
                segments: Segments::default(),
                visited: vec![0; graph.words],
                small: vec![false; graph.defs.len()],
                graph,
            });
        }
        let state = self.file.as_mut().expect("set above");
        let st = self.st;
        let key = TypeKey {
            kind: super::Kind::Export,
            name: symbol,
        };
        let root = state
            .graph
            .local(key)
            .ok_or_else(|| no_such_export(st, st.file(file), symbol))?;
        let crc = fast_walk(st, state, root).map_err(|e| e.describe(st, st.file(file), symbol))?;
        Ok(crc ^ 0xffff_ffff)
    }

    /// The expanded text the CRC is computed over: every token followed by
    /// one space (the naive form: large, for tests and baselines).
    pub fn text(&mut self, file: FileId, symbol: Name) -> Result<String, CrcError> {
        let mut text = String::new();
        self.walk(file, symbol, &mut text)?;
        Ok(text)
    }

    fn next_generation(&mut self) -> u32 {
        if self.generation == u32::MAX {
            self.stamps.fill(0);
            self.generation = 0;
        }
        self.generation += 1;
        self.generation
    }

    fn walk(&mut self, file_id: FileId, symbol: Name, sink: &mut dyn Sink) -> Result<(), CrcError> {
        let st = self.st;
        let file = st.file(file_id);
        let key = TypeKey {
            kind: super::Kind::Export,
            name: symbol,
        };
        let root = file
            .get(key)
            .ok_or_else(|| no_such_export(st, file, symbol))?;
        let generation = self.next_generation();
        self.stamps[root.0 as usize] = generation;
        self.stack.clear();
        self.stack.push((root, 0));
        let mut budget = MAX_EXPANDED_TOKENS;
        while let Some(top) = self.stack.last_mut() {
            let Some(&token) = st.def(top.0).tokens.get(top.1) else {
                self.stack.pop();
                continue;
            };
            top.1 += 1;
            budget = budget
                .checked_sub(1)
                .ok_or_else(|| Failure::TooLarge.describe(st, file, symbol))?;
            match token {
                Token::Atom(n) => sink.token(st.names.text(n)),
                Token::Ref(key) => self.reference(file, symbol, key, generation, sink)?,
            }
        }
        Ok(())
    }

    /// A reference: the definition the first time, a short reference after.
    fn reference(
        &mut self,
        file: &SymtypesFile,
        symbol: Name,
        key: TypeKey,
        generation: u32,
        sink: &mut dyn Sink,
    ) -> Result<(), CrcError> {
        let id = file
            .get(key)
            .ok_or_else(|| Failure::Undefined(key).describe(self.st, file, symbol))?;
        let stamp = &mut self.stamps[id.0 as usize];
        if *stamp == generation {
            if let Some(keyword) = key.kind.keyword() {
                sink.token(keyword);
            }
            sink.token(self.st.names.text(key.name));
        } else {
            *stamp = generation;
            self.stack.push((id, 0));
        }
        Ok(())
    }
}

/// Receives the expanded token stream of the plain walk.
trait Sink {
    fn token(&mut self, text: &str);
}

impl Sink for String {
    fn token(&mut self, text: &str) {
        self.push_str(text);
        self.push(' ');
    }
}

impl Sink for Register {
    fn token(&mut self, text: &str) {
        Register::token(self, text);
    }
}

fn no_such_export(st: &Symtypes, file: &SymtypesFile, symbol: Name) -> CrcError {
    CrcError::NoSuchExport {
        file: file.path.clone(),
        symbol: st.names.text(symbol).to_owned(),
    }
}

/// Why a walk stopped, before it is described with file and symbol.
enum Failure {
    Undefined(TypeKey),
    TooLarge,
}

impl Failure {
    fn describe(self, st: &Symtypes, file: &SymtypesFile, symbol: Name) -> CrcError {
        let (file, symbol) = (file.path.clone(), st.names.text(symbol).to_owned());
        match self {
            Failure::Undefined(key) => CrcError::Undefined {
                file,
                symbol,
                missing: st.key_text(key),
            },
            Failure::TooLarge => CrcError::TooLarge { file, symbol },
        }
    }
}

fn is_set(bits: &[u64], i: u32) -> bool {
    bits[i as usize / 64] & (1 << (i % 64)) != 0
}

fn set(bits: &mut [u64], i: u32) {
    bits[i as usize / 64] |= 1 << (i % 64);
}

/// The raw CRC register after expanding local `root` (see [`Expander::crc`]).
fn fast_walk(st: &Symtypes, state: &mut FileState, root: u32) -> Result<u32, Failure> {
    state.visited.fill(0);
    set(&mut state.visited, root);
    let mut reg = Register {
        crc: 0xffff_ffff,
        len: 0,
    };
    let mut frames = vec![Frame {
        local: root,
        token: 0,
        reference: 0,
        recording: None,
    }];
    let mut budget = MAX_EXPANDED_TOKENS;
    while let Some(top) = frames.last_mut() {
        let def = st.def(state.graph.defs[top.local as usize]);
        let Some(&token) = def.tokens.get(top.token) else {
            let done = frames.pop().expect("a frame is on top");
            if let Some(entry) = done.recording {
                record(state, done.local, entry, reg);
            }
            continue;
        };
        top.token += 1;
        budget = budget.checked_sub(1).ok_or(Failure::TooLarge)?;
        let key = match token {
            Token::Atom(n) => {
                reg.token(st.names.text(n));
                continue;
            }
            Token::Ref(key) => key,
        };
        let target = state.graph.refs(top.local)[top.reference];
        top.reference += 1;
        if target == UNRESOLVED {
            return Err(Failure::Undefined(key));
        }
        if is_set(&state.visited, target) {
            if let Some(keyword) = key.kind.keyword() {
                reg.token(keyword);
            }
            reg.token(st.names.text(key.name));
            continue;
        }
        let recording = enter(state, target, &mut reg);
        if let Some(Ok(())) = recording {
            continue;
        }
        set(&mut state.visited, target);
        frames.push(Frame {
            local: target,
            token: 0,
            reference: 0,
            recording: recording.and_then(Result::err),
        });
    }
    Ok(reg.crc)
}

/// Entering `target`: `Some(Ok(()))` when a recorded segment was appended,
/// `Some(Err(entry))` to walk it and record it, `None` to walk it only.
fn enter(state: &mut FileState, target: u32, reg: &mut Register) -> Option<Result<(), Entry>> {
    if state.small[target as usize] {
        return None;
    }
    let reach = state.graph.reach(target);
    let context: Box<[u64]> = reach
        .iter()
        .zip(&state.visited)
        .map(|(r, v)| r & v)
        .collect();
    let hash = context_hash(&context);
    if let Some(recorded) = state.segments.get(target, hash, &context) {
        reg.append(recorded.segment);
        let after = recorded.after.iter();
        state
            .visited
            .iter_mut()
            .zip(after)
            .for_each(|(v, a)| *v |= a);
        return Some(Ok(()));
    }
    Some(Err(Entry {
        hash,
        context,
        before: *reg,
    }))
}

/// A recorded frame ends: its segment is what it added to the register
/// (by linearity, `after = shift(before, len) ^ segment`).
fn record(state: &mut FileState, local: u32, entry: Entry, reg: Register) {
    let len = reg.len - entry.before.len;
    if len < MIN_SEGMENT_BYTES {
        state.small[local as usize] = true;
        return;
    }
    let op = shift_op(len);
    let segment = Segment {
        crc: reg.crc ^ multmodp(op, entry.before.crc),
        len,
        op,
    };
    let reach = state.graph.reach(local);
    let after = reach
        .iter()
        .zip(&state.visited)
        .map(|(r, v)| r & v)
        .collect();
    let recorded = Recorded {
        context: entry.context,
        after,
        segment,
    };
    state.segments.insert(local, entry.hash, recorded);
}

/// One export's recomputed CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportCrc {
    /// The export.
    pub symbol: Name,
    /// The file defining it.
    pub file: FileId,
    /// Its CRC.
    pub crc: u32,
}

/// The CRC of every export of every file (an export defined by two files
/// appears twice), in file order; files are shared out over rayon's threads.
pub fn all_crcs(st: &Symtypes) -> Result<Vec<ExportCrc>, CrcError> {
    let per_file: Vec<Vec<ExportCrc>> = st
        .files()
        .par_iter()
        .enumerate()
        .map_init(
            || Expander::new(st),
            |exp, (i, file)| {
                let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
                file.exports
                    .iter()
                    .map(|&symbol| {
                        let crc = exp.crc(id, symbol)?;
                        Ok(ExportCrc {
                            symbol,
                            file: id,
                            crc,
                        })
                    })
                    .collect::<Result<Vec<_>, CrcError>>()
            },
        )
        .collect::<Result<_, _>>()?;
    Ok(per_file.into_iter().flatten().collect())
}
