//! Reading symtypes text: one record a line, split into words the way
//! genksyms' own reference reader splits them (see the module docs of
//! [`super`]), checked, interned and added to a [`Symtypes`].
//!
//! Per-object files repeat the same records hundreds of times (every file
//! that includes `list_head` holds the same `s#list_head` line), so a
//! [`Reader`] remembers each distinct line it parsed and reuses its
//! definition: most lines of a tree cost one hash lookup.

use rustc_hash::FxHashMap;

use super::{
    DefId, Definition, ErrorKind, FileId, Kind, MAX_FILES, MAX_RECORD_BYTES, MAX_TOKEN_BYTES,
    Symtypes, SymtypesError, SymtypesFile, Token, TypeKey,
};

/// What one record line gave.
struct Parsed {
    def: DefId,
    /// `X##name`: a declaration local to its consolidated section.
    local: bool,
}

/// Adds files to a [`Symtypes`], reusing the definitions of lines seen before.
pub(super) struct Reader<'a> {
    pub(super) st: &'a mut Symtypes,
    seen: FxHashMap<Box<[u8]>, DefId>,
}

/// A file being read: its records and the line each came from.
#[derive(Default)]
struct Section {
    file: SymtypesFile,
    lines: FxHashMap<TypeKey, usize>,
}

impl<'a> Reader<'a> {
    /// A reader adding to `st`.
    pub(super) fn new(st: &'a mut Symtypes) -> Reader<'a> {
        Reader {
            st,
            seen: FxHashMap::default(),
        }
    }

    /// Reads one per-object symtypes file called `path`.
    pub(super) fn file(&mut self, path: &str, text: &[u8]) -> Result<FileId, SymtypesError> {
        let mut section = Section::default();
        section.file.path = path.to_owned();
        for (n, line) in lines(text) {
            let at = |kind| SymtypesError::new(path, n, kind);
            let parsed = self.line(line).map_err(at)?;
            section.add(self.st, parsed.def, n).map_err(at)?;
        }
        self.check_refs(&section, path)?;
        self.finish(section)
    }

    /// Reads a consolidated file called `path`.
    pub(super) fn consolidated(
        &mut self,
        path: &str,
        text: &[u8],
    ) -> Result<Vec<FileId>, SymtypesError> {
        let mut active: FxHashMap<TypeKey, (DefId, usize)> = FxHashMap::default();
        let mut current: Option<Section> = None;
        let mut ids = Vec::new();
        for (n, line) in lines(text) {
            let at = |kind| SymtypesError::new(path, n, kind);
            if let Some(name) = header(line) {
                if let Some(done) = current.take() {
                    ids.push(self.close(done, &active, path)?);
                }
                let name = std::str::from_utf8(name).map_err(|_| at(ErrorKind::InvalidUtf8))?;
                let mut next = Section::default();
                next.file.path = name.to_owned();
                current = Some(next);
                continue;
            }
            let section = current.as_mut().ok_or_else(|| at(ErrorKind::NoHeader))?;
            let parsed = self.line(line).map_err(at)?;
            section.add(self.st, parsed.def, n).map_err(at)?;
            if !parsed.local {
                active.insert(self.st.def(parsed.def).key, (parsed.def, n));
            }
        }
        if let Some(done) = current.take() {
            ids.push(self.close(done, &active, path)?);
        }
        Ok(ids)
    }

    /// Completes a consolidated section with the records it left out (the
    /// last definition written before, found by walking its records).
    fn close(
        &mut self,
        mut section: Section,
        active: &FxHashMap<TypeKey, (DefId, usize)>,
        path: &str,
    ) -> Result<FileId, SymtypesError> {
        let mut work: Vec<(DefId, usize)> = section
            .file
            .records
            .values()
            .map(|&d| (d, section.lines[&self.st.def(d).key]))
            .collect();
        while let Some((def, line)) = work.pop() {
            for &token in self.st.def(def).tokens.iter() {
                let Token::Ref(key) = token else { continue };
                if section.file.records.contains_key(&key) {
                    continue;
                }
                let &(found, at) = active
                    .get(&key)
                    .ok_or_else(|| self.undefined(path, line, def, key))?;
                section.file.records.insert(key, found);
                section.lines.insert(key, at);
                work.push((found, at));
            }
        }
        self.finish(section)
    }

    /// Every reference of a per-object file must name one of its records.
    fn check_refs(&self, section: &Section, path: &str) -> Result<(), SymtypesError> {
        for &def in section.file.records.values() {
            for &token in self.st.def(def).tokens.iter() {
                if let Token::Ref(key) = token
                    && !section.file.records.contains_key(&key)
                {
                    let line = section.lines[&self.st.def(def).key];
                    return Err(self.undefined(path, line, def, key));
                }
            }
        }
        Ok(())
    }

    fn undefined(&self, path: &str, line: usize, def: DefId, key: TypeKey) -> SymtypesError {
        let kind = ErrorKind::Undefined {
            referrer: self.st.key_text(self.st.def(def).key),
            missing: self.st.key_text(key),
        };
        SymtypesError::new(path, line, kind)
    }

    fn finish(&mut self, section: Section) -> Result<FileId, SymtypesError> {
        if self.st.files.len() >= MAX_FILES {
            let kind = ErrorKind::TooMuch {
                what: "files",
                limit: MAX_FILES as u64,
            };
            return Err(SymtypesError::new(&section.file.path, 0, kind));
        }
        Ok(self.st.add_file(section.file))
    }

    /// Parses one record line, or reuses what the same line gave before.
    fn line(&mut self, line: &[u8]) -> Result<Parsed, ErrorKind> {
        // Checked before hashing: a huge line is refused without more work.
        if line.len() > MAX_RECORD_BYTES {
            return Err(ErrorKind::RecordTooLong {
                len: line.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        if let Some(&def) = self.seen.get(line) {
            return Ok(Parsed { def, local: false });
        }
        let text = std::str::from_utf8(line).map_err(|_| ErrorKind::InvalidUtf8)?;
        let (def, local) = record(self.st, text)?;
        let def = self.st.add_def(def);
        if !local {
            self.seen.insert(line.into(), def);
        }
        Ok(Parsed { def, local })
    }
}

impl Section {
    fn add(&mut self, st: &Symtypes, def: DefId, line: usize) -> Result<(), ErrorKind> {
        let key = st.def(def).key;
        if let Some(&first_line) = self.lines.get(&key) {
            let name = st.key_text(key);
            return Err(ErrorKind::Duplicate { name, first_line });
        }
        self.lines.insert(key, line);
        self.file.records.insert(key, def);
        if key.kind == Kind::Export {
            self.file.exports.push(key.name);
        }
        Ok(())
    }
}

/// The non-blank lines with their 1-based numbers (a final `\r` dropped).
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let blank = line.iter().all(u8::is_ascii_whitespace);
            (!blank).then_some((i + 1, line))
        })
}

/// The file name of a consolidated `/* name */` header line.
fn header(line: &[u8]) -> Option<&[u8]> {
    line.strip_prefix(b"/* ")?.strip_suffix(b" */")
}

/// Whether `text` starts like a consolidated file (its first non-blank line
/// is a header).
pub(super) fn is_consolidated(text: &[u8]) -> bool {
    lines(text).next().is_some_and(|(_, l)| header(l).is_some())
}

/// The words of a line: split on white space, except inside a double-quoted
/// string or a single-quoted type name (`s#'a b'`).
fn words(line: &str) -> impl Iterator<Item = Result<&str, ErrorKind>> {
    let bytes = line.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos == bytes.len() {
            return None;
        }
        let start = pos;
        let quoted_name =
            bytes.len() > pos + 2 && bytes[pos + 1] == b'#' && bytes[pos + 2] == b'\'';
        let mut quote = quoted_name.then_some(b'\'');
        pos += if quoted_name { 3 } else { 0 };
        while pos < bytes.len() && (quote.is_some() || !bytes[pos].is_ascii_whitespace()) {
            match (quote, bytes[pos]) {
                (Some(q), b) if b == q => quote = None,
                (None, b'"') => quote = Some(b'"'),
                _ => {}
            }
            pos += 1;
        }
        let word = &line[start..pos];
        Some(match quote {
            Some(_) => Err(ErrorKind::Unterminated(excerpt(word))),
            None if word.len() > MAX_TOKEN_BYTES => Err(ErrorKind::TokenTooLong {
                len: word.len(),
                max: MAX_TOKEN_BYTES,
            }),
            None => Ok(word),
        })
    })
}

/// `X#name` -> (kind, name); `Ok(None)` for a plain word.
fn split_ref(word: &str) -> Result<Option<(Kind, &str)>, ErrorKind> {
    let b = word.as_bytes();
    if b.len() < 2 || b[1] != b'#' || !b[0].is_ascii_alphabetic() {
        return Ok(None);
    }
    let kind = Kind::from_prefix(b[0]).ok_or_else(|| ErrorKind::UnknownPrefix(excerpt(word)))?;
    let name = &word[2..];
    let name = name
        .strip_prefix('\'')
        .and_then(|n| n.strip_suffix('\''))
        .unwrap_or(name);
    if name.is_empty() {
        return Err(ErrorKind::Empty(excerpt(word)));
    }
    Ok(Some((kind, name)))
}

/// Parses a record line into its definition; `true` for an `X##name`
/// declaration.
fn record(st: &mut Symtypes, line: &str) -> Result<(Definition, bool), ErrorKind> {
    let mut words = words(line).peekable();
    let mut first = words.next().transpose()?.unwrap_or_default();
    let is_override = first == "override";
    if is_override {
        first = words.next().transpose()?.unwrap_or_default();
    }
    if let Some((kind, name)) = first.split_once("##").filter(|(k, _)| k.len() == 1) {
        return declaration(st, kind, name, words.next().is_some()).map(|d| (d, true));
    }
    let key = match split_ref(first)? {
        Some((kind, name)) => TypeKey {
            kind,
            name: st.names.intern(name),
        },
        None => TypeKey {
            kind: Kind::Export,
            name: st.names.intern(first),
        },
    };
    let is_extern = words.next_if(|w| matches!(w, Ok("extern"))).is_some();
    let mut tokens = Vec::new();
    for word in words {
        let word = word?;
        tokens.push(match split_ref(word)? {
            Some((kind, name)) => Token::Ref(TypeKey {
                kind,
                name: st.names.intern(name),
            }),
            None => Token::Atom(st.names.intern(word)),
        });
    }
    if tokens.is_empty() {
        return Err(ErrorKind::Empty(excerpt(first)));
    }
    balanced(st, &tokens, key)?;
    let tokens = tokens.into_boxed_slice();
    let def = Definition {
        key,
        tokens,
        is_extern,
        is_override,
    };
    Ok((def, false))
}

/// `s##name` -> `struct name { UNKNOWN }`.
fn declaration(
    st: &mut Symtypes,
    letter: &str,
    name: &str,
    trailing: bool,
) -> Result<Definition, ErrorKind> {
    let word = || excerpt(&format!("{letter}##{name}"));
    let kind = Kind::from_prefix(letter.as_bytes()[0])
        .filter(|k| k.keyword().is_some())
        .ok_or_else(|| ErrorKind::UnknownPrefix(word()))?;
    if trailing || name.is_empty() {
        return Err(ErrorKind::Empty(word()));
    }
    let keyword = kind.keyword().unwrap_or_default();
    let name = st.names.intern(name);
    let tokens = [keyword, "", "{", "UNKNOWN", "}"].map(|t| {
        Token::Atom(if t.is_empty() {
            name
        } else {
            st.names.intern(t)
        })
    });
    Ok(Definition {
        key: TypeKey { kind, name },
        tokens: Box::new(tokens),
        is_extern: false,
        is_override: false,
    })
}

/// A closing brace, parenthesis or bracket must close the innermost open
/// one. Openers left open at the end are accepted: genksyms writes them when
/// it gives up on a declaration it cannot parse (Debian 6.1's
/// `s#prefix_info` stops inside a packed union) and its CRC covers them as
/// written.
fn balanced(st: &Symtypes, tokens: &[Token], key: TypeKey) -> Result<(), ErrorKind> {
    let mut open = Vec::new();
    for &token in tokens {
        let Token::Atom(n) = token else { continue };
        let text = st.names.text(n);
        let want = match text {
            "{" | "(" | "[" => {
                open.push(text);
                continue;
            }
            "}" => "{",
            ")" => "(",
            "]" => "[",
            _ => continue,
        };
        if open.pop() != Some(want) {
            let c = text.chars().next().unwrap_or(' ');
            return Err(ErrorKind::Unbalanced(c, st.key_text(key)));
        }
    }
    Ok(())
}

/// Keeps error messages short even for a huge word.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{}...", &text[..end])
    } else {
        text.to_owned()
    }
}

/// Parses one per-object symtypes file's text, adding it to `st` as `path`.
pub fn parse_file(st: &mut Symtypes, path: &str, text: &[u8]) -> Result<FileId, SymtypesError> {
    Reader::new(st).file(path, text)
}

/// Parses a consolidated symtypes file (called `path` in errors), adding each
/// of its sections to `st` as a file.
pub fn parse_consolidated(
    st: &mut Symtypes,
    path: &str,
    text: &[u8],
) -> Result<Vec<FileId>, SymtypesError> {
    if !is_consolidated(text) {
        let line = lines(text).next().map_or(0, |(n, _)| n);
        return Err(SymtypesError::new(path, line, ErrorKind::NoHeader));
    }
    Reader::new(st).consolidated(path, text)
}
