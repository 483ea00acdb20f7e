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
//! The walk keeps its own stack (deeply nested or chained types cannot
//! overflow the thread's stack) and a generation stamp per definition, so
//! starting the next export costs nothing. Each export's walk visits every
//! type at most once, so its work is bounded by the file's size; the named
//! [`MAX_EXPANDED_TOKENS`] bounds it further.

use rayon::prelude::*;

use super::{DefId, FileId, Name, Symtypes, SymtypesFile, Token, TypeKey};

/// The most tokens one export's expansion may go through.
pub const MAX_EXPANDED_TOKENS: usize = 64 << 20;

/// genksyms' CRC-32 table (reflected `0xEDB88320`), built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
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

/// Receives the expanded token stream.
trait Sink {
    fn token(&mut self, text: &str);
}

/// The running genksyms CRC (before its final xor).
struct Crc(u32);

impl Sink for Crc {
    fn token(&mut self, text: &str) {
        for &b in text.as_bytes().iter().chain(b" ") {
            self.0 = TABLE[((self.0 ^ u32::from(b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }
}

impl Sink for String {
    fn token(&mut self, text: &str) {
        self.push_str(text);
        self.push(' ');
    }
}

/// Expands exports of one [`Symtypes`]; reusable across exports and files.
pub struct Expander<'a> {
    st: &'a Symtypes,
    stamps: Vec<u32>,
    generation: u32,
    stack: Vec<(DefId, usize)>,
}

impl<'a> Expander<'a> {
    /// An expander over `st`.
    pub fn new(st: &'a Symtypes) -> Expander<'a> {
        Expander {
            st,
            stamps: vec![0; st.def_count()],
            generation: 0,
            stack: Vec::new(),
        }
    }

    /// The CRC genksyms computes for `symbol` as `file` defines it.
    pub fn crc(&mut self, file: FileId, symbol: Name) -> Result<u32, CrcError> {
        let mut crc = Crc(0xffff_ffff);
        self.walk(file, symbol, &mut crc)?;
        Ok(crc.0 ^ 0xffff_ffff)
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
        let root = file.get(key).ok_or_else(|| CrcError::NoSuchExport {
            file: file.path.clone(),
            symbol: st.names.text(symbol).to_owned(),
        })?;
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
                .ok_or_else(|| self.fail(file, symbol, None))?;
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
            .ok_or_else(|| self.fail(file, symbol, Some(key)))?;
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

    fn fail(&self, file: &SymtypesFile, symbol: Name, missing: Option<TypeKey>) -> CrcError {
        let (file, symbol) = (file.path.clone(), self.st.names.text(symbol).to_owned());
        match missing {
            Some(key) => CrcError::Undefined {
                file,
                symbol,
                missing: self.st.key_text(key),
            },
            None => CrcError::TooLarge { file, symbol },
        }
    }
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
                        Ok(ExportCrc { symbol, file: id, crc })
                    })
                    .collect::<Result<Vec<_>, CrcError>>()
            },
        )
        .collect::<Result<_, _>>()?;
    Ok(per_file.into_iter().flatten().collect())
}
