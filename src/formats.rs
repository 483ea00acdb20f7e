//! Reading and writing the line formats ABI references are kept in.
//!
//! | [`Format`] | a line | where |
//! |---|---|---|
//! | `Symvers` | `0x1234abcd<TAB>name<TAB>module<TAB>EXPORT_SYMBOL<TAB>NS` (5 fields, namespace may be empty), 4 fields before namespaces, 3 in very old kernels | `Module.symvers`, Debian 6.x references |
//! | `DebianLegacy` | `0x4191061e DAC1064_global_init drivers/video/matrox/matroxfb_DAC1064 EXPORT_SYMBOL` | Debian 3.x references |
//! | `Ubuntu` | `EXPORT_SYMBOL arch/x86/kvm/kvm 0x8b1e0478<TAB>name`, or with a namespace `NS EXPORT_SYMBOL_GPL 0x..<TAB>name<TAB>module` | `debian.<branch>/abi/` |
//! | `Kabi` | `#2-` then one `Symvers` line | Red Hat `kabi_<arch>/<symbol>` stablelists |
//!
//! How awkward input is treated, on purpose:
//! - A line that does not have the expected shape is an error naming the file,
//!   the line and what was expected; nothing is skipped silently.
//! - Bytes that are not UTF-8 are an error at that line and column: symbol and
//!   module names are ASCII, so such bytes mean a damaged file.
//! - CRLF line ends are accepted (the `\r` is dropped); blank lines are skipped;
//!   a UTF-8 byte order mark at the start is skipped.
//! - An empty file is an empty reference, not an error, so that a reference
//!   truncated to nothing shows up as every symbol removed.
//! - A symbol listed twice with identical fields is kept once; listed twice
//!   with different fields it is an error naming both lines.
//! - `Symvers` lines are split on tabs only, never on other white space.
//! - A symbol name longer than the kernel allows ([`MAX_SYMBOL_NAME`]), or a
//!   module path or namespace longer than [`MAX_PATH`], is an error.

mod gather;

use std::fmt;
use std::io::{self, Write};

use crate::symbols::{Crc, ExportKind, Symbol, SymbolSet};
use gather::{Fields, Gathered};

/// A reference file format (see the module docs for the line shapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Tab-separated `Module.symvers` (3, 4 or 5 fields); Debian 6.x references.
    Symvers,
    /// Space-separated 4-field lines of Debian 3.x references.
    DebianLegacy,
    /// Ubuntu's `type location crc<TAB>name` lines.
    Ubuntu,
    /// A Red Hat kABI stablelist entry: a `#N-` marker and one symvers line.
    Kabi,
}

impl Format {
    /// Every format, for `--input-format` help and tests.
    pub const ALL: [Format; 4] = [
        Format::Symvers,
        Format::DebianLegacy,
        Format::Ubuntu,
        Format::Kabi,
    ];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Format::Symvers => "symvers",
            Format::DebianLegacy => "debian-legacy",
            Format::Ubuntu => "ubuntu",
            Format::Kabi => "kabi",
        }
    }

    /// Looks a format up by [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest symbol name the kernel can export: `KSYM_NAME_LEN` (512
/// since 6.1) less its NUL; modpost and kallsyms stop at it too.
pub const MAX_SYMBOL_NAME: usize = 511;

/// The longest module path or namespace accepted: `PATH_MAX` (4096) less
/// its NUL. A module column is a path in the kernel tree.
pub const MAX_PATH: usize = 4095;

/// A reference file could not be read; names the file and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct ParseError {
    /// The file as the caller named it (a path, or `<rev>:<path>` in history).
    pub file: String,
    /// 1-based line number (0 when the problem is the file as a whole).
    pub line: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// What was wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// Bytes that are not UTF-8.
    #[error("invalid UTF-8 at column {column}")]
    InvalidUtf8 {
        /// 1-based byte column of the first bad byte.
        column: usize,
    },
    /// The line has the wrong number of fields.
    #[error("expected {expected}, found {found} field(s) in {text:?}")]
    Fields {
        /// The shape the format wants.
        expected: &'static str,
        /// How many fields the line had.
        found: usize,
        /// The start of the line.
        text: String,
    },
    /// The CRC field is not `0x` and 1 to 8 hex digits.
    #[error("expected a CRC like 0x1234abcd, found {found:?}")]
    BadCrc {
        /// The start of the offending field.
        found: String,
    },
    /// A field that must have text is empty.
    #[error("empty {field} field")]
    EmptyField {
        /// Which field.
        field: &'static str,
    },
    /// A field holds a control character.
    #[error("control character in the {field} field")]
    ControlCharacter {
        /// Which field.
        field: &'static str,
    },
    /// The same symbol is defined twice, differently.
    #[error("symbol {name:?} is already defined differently at line {first_line}")]
    Duplicate {
        /// The symbol.
        name: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// The same symbol is listed differently in two files of one reference
    /// (a kABI stablelist directory).
    #[error("symbol {name:?} is already listed differently in {first}")]
    DuplicateEntry {
        /// The symbol.
        name: String,
        /// The file listing it first.
        first: String,
    },
    /// The whole reference is larger than [`crate::input::REFERENCE`] allows
    /// (a git blob; files are refused before being read).
    #[error("{size} bytes is more than the {} allowed for a reference file", crate::input::size_text(*.limit))]
    TooLarge {
        /// The reference's size.
        size: usize,
        /// The limit in bytes.
        limit: u64,
    },
    /// A field is longer than the kernel allows.
    #[error("{field} of {len} bytes is longer than the {max} the kernel allows")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The first line fits no known format.
    #[error(
        "unknown reference format: {text:?} is not a Module.symvers, Debian, Ubuntu or kABI line"
    )]
    UnknownFormat {
        /// The start of the line.
        text: String,
    },
    /// A kABI stablelist entry lacks its `#N-` release marker.
    #[error("expected a kABI release marker like \"#2-\", found {found:?}")]
    KabiMarker {
        /// The start of the line.
        found: String,
    },
    /// A kABI stablelist entry holds more or fewer than one symbol.
    #[error("a kABI stablelist entry holds exactly one symbol line, found {found}")]
    KabiSymbolCount {
        /// Symbol lines found.
        found: usize,
    },
}

/// Keeps error messages short even for a 10 MB line.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Guesses the format from the first non-blank line; `None` for a file with
/// no such line, a line of no known shape, or bytes that are not UTF-8.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    detect_text(without_bom(std::str::from_utf8(bytes).ok()?))
}

/// Drops a UTF-8 byte order mark: editors on Windows put one at the start of
/// text files, and it is not part of the first line.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn detect_text(text: &str) -> Option<Format> {
    let first = text_lines(text).find(|(_, l)| !is_blank(l))?.1;
    if first.starts_with('#') {
        return Some(Format::Kabi);
    }
    if first.starts_with("0x") || first.starts_with("0X") {
        return Some(if first.contains('\t') {
            Format::Symvers
        } else {
            Format::DebianLegacy
        });
    }
    let tokens: Vec<&str> = first.split_ascii_whitespace().take(6).collect();
    // Both Ubuntu shapes keep the CRC in the third token.
    if (4..=5).contains(&tokens.len()) && Crc::parse(tokens[2]).is_some() {
        return Some(Format::Ubuntu);
    }
    None
}

/// Reads a whole reference file. `format` `None` means detect it; `file` names
/// the source in errors.
pub fn parse(bytes: &[u8], format: Option<Format>, file: &str) -> Result<SymbolSet, ParseError> {
    let err = |line, kind| ParseError {
        file: file.to_owned(),
        line,
        kind,
    };
    let size = bytes.len();
    let limit = crate::input::REFERENCE;
    limit
        .admit(u64::try_from(size).unwrap_or(u64::MAX))
        .map_err(|_| {
            let limit = limit.bytes;
            err(0, ParseErrorKind::TooLarge { size, limit })
        })?;
    let text = without_bom(checked_utf8(bytes).map_err(|(line, kind)| err(line, kind))?);
    let format = match format.or_else(|| detect_text(text)) {
        Some(f) => f,
        None => return parse_undetected(text, file),
    };
    if format == Format::Kabi {
        return Ok(
            SymbolSet::from_symbols(vec![parse_kabi(bytes, file)?.symbol])
                .expect("one symbol has no duplicate"),
        );
    }
    let symbols = parse_symbols(text, format).map_err(|(line, kind)| err(line, kind))?;
    SymbolSet::from_symbols(symbols).map_err(|dup| {
        // Symbol `i` is the `i`-th non-blank line: found again only on this
        // error path rather than kept for every line.
        let line_of = |index| {
            text_lines(text)
                .filter(|(_, l)| !is_blank(l))
                .nth(index)
                .map_or(0, |(n, _)| n)
        };
        err(
            line_of(dup.second),
            ParseErrorKind::Duplicate {
                name: dup.name,
                first_line: line_of(dup.first),
            },
        )
    })
}

/// References of at least this many bytes are parsed in pieces on the
/// threads of the current rayon pool (the loader's, when walking history), so
/// that a commit changing one reference keeps every core busy; below it,
/// sharing out the work costs more than it saves.
pub const PARALLEL_PARSE_MIN: usize = 256 << 10;

/// References above this many bytes are parsed on one thread: the pieces'
/// symbols are joined into one array, so that all but the first piece are
/// briefly held twice, which for a reference of millions of lines is
/// hundreds of MB (Debian's are about 1.5 MB).
pub const PARALLEL_PARSE_MAX: usize = 8 << 20;

/// The symbol lines of `text`, in order, in pieces on the current rayon
/// pool when it is large enough (see [`PARALLEL_PARSE_MIN`]); an error names
/// the first bad line of the whole text.
fn parse_symbols(text: &str, format: Format) -> Result<Vec<Symbol>, (usize, ParseErrorKind)> {
    use rayon::prelude::*;
    let pieces = (text.len() / PARALLEL_PARSE_MIN).clamp(1, rayon::current_num_threads());
    if pieces == 1 || text.len() > PARALLEL_PARSE_MAX {
        return parse_lines(text, format, text_line_count(text));
    }
    let lines = text_line_count(text);
    let parts: Vec<Result<Vec<Symbol>, _>> = split_at_lines(text, pieces)
        .into_par_iter()
        .enumerate()
        .map(|(k, (before, piece))| {
            // The first piece's array takes every symbol in the end: one
            // exact allocation, never grown.
            let capacity = if k == 0 {
                lines
            } else {
                text_line_count(piece)
            };
            // Each piece gathers a text of its own: sharing one between
            // threads would make every slice's reference count a contended
            // cache line.
            parse_lines(piece, format, capacity).map_err(|(line, kind)| (before + line, kind))
        })
        .collect();
    let mut parts = parts.into_iter();
    let mut symbols = parts.next().expect("at least one piece")?;
    for part in parts {
        symbols.extend(part?);
    }
    Ok(symbols)
}

/// An upper bound of the symbol lines in `text` (one per line end, and one
/// more for a last line without one).
fn text_line_count(text: &str) -> usize {
    memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1
}

/// `text` cut after line ends into `n` pieces of about the same size, each
/// with the number of lines before it.
fn split_at_lines(text: &str, n: usize) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(n);
    let (mut start, mut before) = (0, 0);
    for k in 1..n {
        let target = (text.len() * k / n).max(start);
        let Some(at) = memchr::memchr(b'\n', &bytes[target..]) else {
            break;
        };
        let end = target + at + 1;
        out.push((before, &text[start..end]));
        before += memchr::memchr_iter(b'\n', &bytes[start..end]).count();
        start = end;
    }
    out.push((before, &text[start..]));
    out
}

/// The symbol lines of `text` (1-based line numbers in errors), into an
/// array of `capacity`: one exact allocation, as a reference of millions of
/// lines would otherwise grow its vector by doubling, briefly holding it
/// twice. The symbols' fields are slices of one text gathered from `text`
/// ([`gather`]).
fn parse_lines(
    text: &str,
    format: Format,
    capacity: usize,
) -> Result<Vec<Symbol>, (usize, ParseErrorKind)> {
    let mut gathered = Gathered::with_capacity(capacity, text.len());
    if format == Format::Symvers && Scan::of(text) == Scan::Clean {
        gather_clean_symvers(text, &mut gathered)?;
        return Ok(gathered.finish(capacity));
    }
    for (number, line) in text_lines(text) {
        if is_blank(line) {
            continue;
        }
        let fields = match format {
            Format::Symvers => parse_symvers_line(line),
            Format::DebianLegacy => parse_legacy_line(line),
            Format::Ubuntu => parse_ubuntu_line(line),
            Format::Kabi => unreachable!("parse reads kABI entries apart"),
        }
        .map_err(|kind| (number, kind))?;
        gathered.push(fields);
    }
    Ok(gathered.finish(capacity))
}

/// How the characters of a text's fields are checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// The whole text has no control character but tab and line feed, so
    /// no field can hold one.
    Clean,
    /// Each field is looked at.
    PerField,
}

impl Scan {
    /// One pass over `text` in blocks of branch-free compares (vector
    /// instructions): a reference is clean unless it is damaged or has
    /// CRLF line ends, and then its fields need no scan of their own.
    fn of(text: &str) -> Scan {
        let allowed = |b: u8| (b >= 0x20) & (b != 0x7f) | (b == b'\t') | (b == b'\n');
        let clean = text
            .as_bytes()
            .chunks(64)
            .all(|block| block.iter().fold(true, |ok, &b| ok & allowed(b)));
        if clean { Scan::Clean } else { Scan::PerField }
    }
}

/// [`parse_lines`] of a [`Clean`](Scan::Clean) `Symvers` text: one vector
/// search for tabs and line ends over the whole text splits it into lines
/// and fields at once. A line of another shape (blank, too few or too many
/// fields) goes to [`parse_symvers_line`], which says what is wrong.
fn gather_clean_symvers<'t>(
    text: &'t str,
    gathered: &mut Gathered<'t>,
) -> Result<(), (usize, ParseErrorKind)> {
    let bytes = text.as_bytes();
    let (mut start, mut number) = (0, 0);
    // The line's first four tabs, and how many it has.
    let (mut tabs, mut found) = ([0usize; 4], 0);
    let stops = memchr::memchr2_iter(b'\t', b'\n', bytes).chain(std::iter::once(bytes.len()));
    for at in stops {
        if bytes.get(at) == Some(&b'\t') {
            if let Some(slot) = tabs.get_mut(found) {
                *slot = at;
            }
            found += 1;
            continue;
        }
        number += 1;
        let line = &text[start..at];
        let field = |k: usize| {
            let from = if k == 0 { start } else { tabs[k - 1] + 1 };
            &text[from..if k == found { at } else { tabs[k] }]
        };
        let parsed = match found {
            _ if is_blank(line) => None,
            2..=4 => Some(scanned_fields(
                [field(0), field(1), field(2)],
                (found >= 3).then(|| field(3)),
                (found == 4).then(|| field(4)),
                Scan::Clean,
            )),
            _ => Some(parse_symvers_line(line)),
        };
        if let Some(parsed) = parsed {
            gathered.push(parsed.map_err(|kind| (number, kind))?);
        }
        (start, found) = (at + 1, 0);
    }
    Ok(())
}

/// An empty file is an empty reference; anything else of unknown shape is an error.
fn parse_undetected(text: &str, file: &str) -> Result<SymbolSet, ParseError> {
    match text_lines(text).find(|(_, l)| !is_blank(l)) {
        None => Ok(SymbolSet::default()),
        Some((line, first)) => Err(ParseError {
            file: file.to_owned(),
            line,
            kind: ParseErrorKind::UnknownFormat {
                text: excerpt(first),
            },
        }),
    }
}

/// One Red Hat kABI stablelist entry (`kabi_<arch>/<symbol>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KabiEntry {
    /// The number of the `#N-` release marker.
    pub release: u32,
    /// The listed symbol.
    pub symbol: Symbol,
}

/// Reads one kABI stablelist file.
pub fn parse_kabi(bytes: &[u8], file: &str) -> Result<KabiEntry, ParseError> {
    parse_kabi_line(bytes, file).map(|(entry, _)| entry)
}

/// [`parse_kabi`], with the line the symbol is on.
pub(crate) fn parse_kabi_line(bytes: &[u8], file: &str) -> Result<(KabiEntry, usize), ParseError> {
    let err = |line, kind| ParseError {
        file: file.to_owned(),
        line,
        kind,
    };
    let text = without_bom(checked_utf8(bytes).map_err(|(line, kind)| err(line, kind))?);
    let mut content = text_lines(text).filter(|(_, l)| !is_blank(l));
    let (marker_line, marker) = content.next().ok_or_else(|| {
        err(
            1,
            ParseErrorKind::KabiMarker {
                found: String::new(),
            },
        )
    })?;
    let release = marker
        .strip_prefix('#')
        .and_then(|m| m.strip_suffix('-'))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| {
            err(
                marker_line,
                ParseErrorKind::KabiMarker {
                    found: excerpt(marker),
                },
            )
        })?;
    let rest: Vec<(usize, &str)> = content.collect();
    match rest.as_slice() {
        [(line, text)] => {
            let fields = parse_symvers_line(text).map_err(|kind| err(*line, kind))?;
            let mut gathered = Gathered::with_capacity(1, text.len());
            gathered.push(fields);
            let symbol = gathered.finish(1).pop().expect("one symbol gathered");
            Ok((KabiEntry { release, symbol }, *line))
        }
        other => Err(err(
            other.get(1).map_or(marker_line, |(n, _)| *n),
            ParseErrorKind::KabiSymbolCount { found: other.len() },
        )),
    }
}

/// Numbered lines (1-based) with a trailing `\r` removed.
fn text_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut pieces = body.split('\n');
    if body.is_empty() {
        // `split` yields one empty piece for an empty input; an empty file has no line.
        pieces.next();
    }
    pieces
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b.is_ascii_whitespace())
}

/// Validates the whole buffer at once (fast path) and locates the first bad
/// byte by line and column when it fails.
fn checked_utf8(bytes: &[u8]) -> Result<&str, (usize, ParseErrorKind)> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        let before = &bytes[..offset];
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        (
            line,
            ParseErrorKind::InvalidUtf8 {
                column: offset - line_start + 1,
            },
        )
    })
}

fn crc_field(text: &str) -> Result<Crc, ParseErrorKind> {
    Crc::parse(text).ok_or_else(|| ParseErrorKind::BadCrc {
        found: excerpt(text),
    })
}

/// A field must have text and no control characters: a stray `\r` or NUL
/// means a damaged file, and could not be written back faithfully. The
/// characters are looked at only when the whole text was not found
/// [`Clean`](Scan::Clean) first.
fn non_empty<'a>(
    text: &'a str,
    field: &'static str,
    scan: Scan,
) -> Result<&'a str, ParseErrorKind> {
    if text.is_empty() {
        Err(ParseErrorKind::EmptyField { field })
    } else if scan == Scan::PerField && text.bytes().any(|b| b.is_ascii_control()) {
        Err(ParseErrorKind::ControlCharacter { field })
    } else {
        Ok(text)
    }
}

fn namespace(text: &str, scan: Scan) -> Result<Option<&str>, ParseErrorKind> {
    if text.is_empty() {
        return Ok(None);
    }
    bounded(non_empty(text, "namespace", scan)?, "namespace", MAX_PATH).map(Some)
}

/// Refuses a field longer than the kernel could have written.
fn bounded<'a>(text: &'a str, field: &'static str, max: usize) -> Result<&'a str, ParseErrorKind> {
    if text.len() > max {
        return Err(ParseErrorKind::TooLong {
            field,
            len: text.len(),
            max,
        });
    }
    Ok(text)
}

/// A symbol's fields checked: `[crc, name, module]`, the export column
/// and the namespace where the line has them.
fn checked_fields<'t>(
    fields: [&'t str; 3],
    export: Option<&'t str>,
    ns: Option<&'t str>,
) -> Result<Fields<'t>, ParseErrorKind> {
    scanned_fields(fields, export, ns, Scan::PerField)
}

/// [`checked_fields`], their characters looked at as `scan` says.
fn scanned_fields<'t>(
    [crc, name, module]: [&'t str; 3],
    export: Option<&'t str>,
    ns: Option<&'t str>,
    scan: Scan,
) -> Result<Fields<'t>, ParseErrorKind> {
    let name = bounded(
        non_empty(name, "symbol name", scan)?,
        "symbol name",
        MAX_SYMBOL_NAME,
    )?;
    let module = bounded(non_empty(module, "module", scan)?, "module", MAX_PATH)?;
    Ok(Fields {
        crc: crc_field(crc)?,
        name,
        module,
        export: export
            .map(|e| non_empty(e, "export", scan).map(ExportKind::parse))
            .transpose()?,
        namespace: ns.map(|ns| namespace(ns, scan)).transpose()?.flatten(),
    })
}

/// `crc<TAB>name<TAB>module[<TAB>export[<TAB>namespace]]`.
fn parse_symvers_line(line: &str) -> Result<Fields<'_>, ParseErrorKind> {
    let mut fields = [""; 5];
    let mut found = 0;
    let mut start = 0;
    // One pass over the bytes; lines are short, so this beats a memchr per field.
    for (i, &b) in line.as_bytes().iter().enumerate() {
        if b == b'\t' {
            if found == fields.len() {
                found += 1;
                break;
            }
            fields[found] = &line[start..i];
            found += 1;
            start = i + 1;
        }
    }
    if found < fields.len() {
        fields[found] = &line[start..];
    }
    found += 1;
    match found {
        3 => checked_fields([fields[0], fields[1], fields[2]], None, None),
        4 => checked_fields([fields[0], fields[1], fields[2]], Some(fields[3]), None),
        5 => checked_fields(
            [fields[0], fields[1], fields[2]],
            Some(fields[3]),
            Some(fields[4]),
        ),
        _ => wrong_count(
            "3 to 5 tab-separated fields (crc, name, module, export, namespace)",
            line.split('\t').count(),
            line,
        ),
    }
}

/// The error for a line with `found` fields where `expected` says how many.
fn wrong_count<'t>(
    expected: &'static str,
    found: usize,
    line: &str,
) -> Result<Fields<'t>, ParseErrorKind> {
    Err(ParseErrorKind::Fields {
        expected,
        found,
        text: excerpt(line),
    })
}

/// The first `N` white-space separated tokens of `line` (empty strings for
/// missing ones) and how many tokens it has in all, so that a caller can
/// tell a line with too many from one with just enough.
fn tokens<const N: usize>(line: &str) -> ([&str; N], usize) {
    let mut tokens = [""; N];
    let mut found = 0;
    for token in line.split_ascii_whitespace() {
        if let Some(slot) = tokens.get_mut(found) {
            *slot = token;
        }
        found += 1;
    }
    (tokens, found)
}

/// `crc name module [export]`, separated by any white space.
fn parse_legacy_line(line: &str) -> Result<Fields<'_>, ParseErrorKind> {
    let (tokens, found) = tokens::<4>(line);
    let fields = [tokens[0], tokens[1], tokens[2]];
    match found {
        3 => checked_fields(fields, None, None),
        4 => checked_fields(fields, Some(tokens[3]), None),
        _ => wrong_count(
            "3 or 4 space-separated fields (crc, name, module, export)",
            found,
            line,
        ),
    }
}

/// `type location crc name`, or `namespace type crc name location` (what
/// Ubuntu's sed makes of a 5-field Module.symvers line with a namespace).
fn parse_ubuntu_line(line: &str) -> Result<Fields<'_>, ParseErrorKind> {
    let (tokens, found) = tokens::<5>(line);
    match found {
        4 => checked_fields([tokens[2], tokens[3], tokens[1]], Some(tokens[0]), None),
        5 => checked_fields(
            [tokens[2], tokens[3], tokens[4]],
            Some(tokens[1]),
            Some(tokens[0]),
        ),
        _ => wrong_count(
            "4 fields (type, location, crc, name) or 5 (namespace, type, crc, name, location)",
            found,
            line,
        ),
    }
}

/// A symbol cannot be written in the requested format without losing a field.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Writing to the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The format has no place for something the symbol carries.
    #[error("symbol {symbol:?} cannot be written as {format}: {why}")]
    Unrepresentable {
        /// The symbol.
        symbol: String,
        /// The format asked for.
        format: Format,
        /// What would be lost.
        why: &'static str,
    },
}

/// Writes symbols in a line format, in the order given (a [`SymbolSet`] gives
/// them sorted by name; `extract` gives the kernel's order).
///
/// `Symvers` writes 5 fields (3 when the set has no export kinds, as very old
/// kernels did). Formats without a column for a field the symbol carries
/// refuse rather than drop it. `Kabi` holds one symbol per file: use
/// [`write_kabi`].
pub fn write<'a>(
    symbols: impl IntoIterator<Item = &'a Symbol>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), WriteError> {
    let mut out = io::BufWriter::new(out);
    for s in symbols {
        let refuse = |why| WriteError::Unrepresentable {
            symbol: s.name.to_string(),
            format,
            why,
        };
        let ns = s.namespace.as_deref().unwrap_or("");
        match (format, &s.export) {
            (Format::Symvers | Format::Kabi, None) if ns.is_empty() => {
                writeln!(out, "{}\t{}\t{}", s.crc, s.name, s.module)?
            }
            (Format::Symvers | Format::Kabi, None) => {
                return Err(refuse("a namespace needs an export column"));
            }
            (Format::Symvers | Format::Kabi, Some(e)) => {
                writeln!(out, "{}\t{}\t{}\t{e}\t{ns}", s.crc, s.name, s.module)?
            }
            (_, _) if !ns.is_empty() && format == Format::DebianLegacy => {
                return Err(refuse("the format has no namespace column"));
            }
            (Format::DebianLegacy, None) => writeln!(out, "{} {} {}", s.crc, s.name, s.module)?,
            (Format::DebianLegacy, Some(e)) => {
                writeln!(out, "{} {} {} {e}", s.crc, s.name, s.module)?
            }
            (Format::Ubuntu, None) => return Err(refuse("the format needs an export type")),
            (Format::Ubuntu, Some(e)) if ns.is_empty() => {
                writeln!(out, "{e}\t {} {}\t{}", s.module, s.crc, s.name)?
            }
            (Format::Ubuntu, Some(e)) => {
                writeln!(out, "{ns} {e} {}\t{}\t{}", s.crc, s.name, s.module)?
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Writes one kABI stablelist entry.
pub fn write_kabi(entry: &KabiEntry, out: &mut dyn Write) -> Result<(), WriteError> {
    writeln!(out, "#{}-", entry.release)?;
    write([&entry.symbol], Format::Symvers, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &str, format: Option<Format>) -> Result<Symbol, ParseError> {
        let set = parse(bytes.as_bytes(), format, "t")?;
        assert_eq!(set.len(), 1);
        Ok(set.iter().next().unwrap().clone())
    }

    #[test]
    fn symvers_three_four_and_five_fields() {
        let s = one("0x00000001\tfoo\tvmlinux\n", None).unwrap();
        assert_eq!((s.crc, s.export), (Crc(1), None));
        let s = one("0x00000001\tfoo\tvmlinux\tEXPORT_SYMBOL_GPL\n", None).unwrap();
        assert_eq!(s.export, Some(ExportKind::Gpl));
        let s = one("0x00000001\tfoo\tfs/fat/fat\tEXPORT_SYMBOL\t\n", None).unwrap();
        assert_eq!((s.module.as_str(), s.namespace), ("fs/fat/fat", None));
        let s = one(
            "0x00000001\tfoo\tdrivers/usb/x\tEXPORT_SYMBOL_GPL\tUSB STORAGE\r\n",
            None,
        )
        .unwrap();
        // Tab-only splitting keeps a namespace with a space intact.
        assert_eq!(s.namespace.as_deref(), Some("USB STORAGE"));
    }

    #[test]
    fn debian_legacy_and_ubuntu_lines() {
        let s = one(
            "0x4191061e DAC1064_global_init drivers/video/matrox/matroxfb_DAC1064 EXPORT_SYMBOL\n",
            None,
        )
        .unwrap();
        assert_eq!(s.module, "drivers/video/matrox/matroxfb_DAC1064");
        assert_eq!(
            detect(b"0x1 a b EXPORT_SYMBOL\n"),
            Some(Format::DebianLegacy)
        );
        let s = one(
            "EXPORT_SYMBOL arch/x86/kvm/kvm 0x8b1e0478\tkvm_cpu_has_pending_timer\n",
            None,
        )
        .unwrap();
        assert_eq!(
            (s.name.as_str(), s.module.as_str(), s.crc),
            (
                "kvm_cpu_has_pending_timer",
                "arch/x86/kvm/kvm",
                Crc(0x8b1e0478)
            )
        );
        let s = one(
            "EXPORT_SYMBOL\t lib/objagg 0x0363233d\tobjagg_obj_raw\n",
            None,
        )
        .unwrap();
        assert_eq!(s.module, "lib/objagg");
        let s = one(
            "USB_STORAGE EXPORT_SYMBOL_GPL 0x0363233d\tusb_stor_x\tdrivers/usb/storage/usb-storage\n",
            None,
        )
        .unwrap();
        assert_eq!(s.namespace.as_deref(), Some("USB_STORAGE"));
        assert_eq!(s.module, "drivers/usb/storage/usb-storage");
    }

    #[test]
    fn kabi_entry() {
        let e = parse_kabi(
            b"#2-\n0xa6e0ef4b\t__alloc_pages\tvmlinux\tEXPORT_SYMBOL\t\n",
            "k",
        )
        .unwrap();
        assert_eq!(e.release, 2);
        assert_eq!(e.symbol.name, "__alloc_pages");
        let err = parse_kabi(b"0xa6e0ef4b\t__alloc_pages\tvmlinux\n", "k").unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::KabiMarker { .. }),
            "{err}"
        );
        let err = parse_kabi(b"#2-\n0x1\ta\tvmlinux\n0x1\tb\tvmlinux\n", "k").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::KabiSymbolCount { found: 2 });
        assert_eq!(err.line, 3);
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let err = parse(b"0x1\ta\tvmlinux\n\n0x1\tb\n", None, "ref").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(
            err.to_string().starts_with("ref:3: expected 3 to 5"),
            "{err}"
        );
        let err = parse(b"0x1\ta\tvmlinux\n0xZZ\tb\tvmlinux\n", None, "ref").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ref:2: expected a CRC like 0x1234abcd, found \"0xZZ\""
        );
        let err = parse(b"0x1\ta\tvmlinux\n0x1\tb\tvm\xfflinux\n", None, "ref").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::InvalidUtf8 { column: 9 });
        assert_eq!(err.line, 2);
        let err = parse(b"0x1\ta\tvmlinux\n0x1\tb\tvm\rlinux\n", None, "ref").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ref:2: control character in the module field"
        );
        let err = parse(b"0x1\ta\tvmlinux\n0x2\ta\tvmlinux\n", None, "ref").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Duplicate {
                name: "a".into(),
                first_line: 1
            }
        );
    }

    #[test]
    fn undetectable_bytes_are_located_before_guessing_a_format() {
        let err = parse(b"\n\nab\xffc\n", None, "f").unwrap_err();
        assert_eq!(
            (err.line, err.kind),
            (3, ParseErrorKind::InvalidUtf8 { column: 3 })
        );
        assert_eq!(detect(b"0x1\ta\tvmlinux\n\xff\n"), None);
        let err = parse(b"\nnot a reference\n", None, "f").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f:2: unknown reference format: \"not a reference\" is not a Module.symvers, Debian, Ubuntu or kABI line"
        );
    }

    /// A reference large enough to be parsed in pieces: `lines` symvers
    /// lines, a blank one every 1,000.
    fn large_reference(lines: usize) -> String {
        let mut text = String::new();
        for i in 0..lines {
            text.push_str(&format!(
                "0x{i:08x}\tsym_{i:06}\tdrivers/m{}\tEXPORT_SYMBOL\t\n",
                i % 7
            ));
            if i % 1000 == 999 {
                text.push_str("\r\n");
            }
        }
        assert!(text.len() > 2 * PARALLEL_PARSE_MIN);
        text
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn pieces_parsed_in_parallel_give_the_set_and_lines_of_one_pass() {
        let text = large_reference(40_000);
        let one = in_pool(1, || parse(text.as_bytes(), None, "big")).unwrap();
        let four = in_pool(4, || parse(text.as_bytes(), None, "big")).unwrap();
        assert_eq!(one.len(), 40_000);
        assert_eq!(one, four);
        // Bad lines in the last pieces: the first of them is reported, at
        // its line in the whole file (40,000 symbols and 40 blank lines).
        let mut bad = text.clone();
        bad.push_str("0x1\tonly_two\n0xZZ\tx\tvmlinux\n");
        let err = in_pool(4, || parse(bad.as_bytes(), None, "big")).unwrap_err();
        assert_eq!(err.line, 40_041, "{err}");
        assert!(matches!(err.kind, ParseErrorKind::Fields { found: 2, .. }));
        // A duplicate across pieces names both lines.
        let mut dup = text.clone();
        dup.push_str("0x2\tsym_000000\tvmlinux\tEXPORT_SYMBOL\t\n");
        let err = in_pool(4, || parse(dup.as_bytes(), None, "big")).unwrap_err();
        assert_eq!(
            (err.line, err.kind),
            (
                40_041,
                ParseErrorKind::Duplicate {
                    name: "sym_000000".into(),
                    first_line: 1
                }
            )
        );
    }

    #[test]
    fn pieces_end_at_line_ends_and_count_the_lines_before() {
        let text = "a\nbb\nccc\n\nd";
        let pieces = split_at_lines(text, 3);
        let joined: String = pieces.iter().map(|(_, p)| *p).collect();
        assert_eq!(joined, text);
        let mut start = 0;
        for (before, piece) in &pieces {
            assert_eq!(*before, text[..start].matches('\n').count());
            assert!(
                start == 0 || text.as_bytes()[start - 1] == b'\n',
                "{piece:?}"
            );
            start += piece.len();
        }
        assert_eq!(pieces.len(), 3);
        assert_eq!(split_at_lines("no line end", 4), vec![(0, "no line end")]);
    }

    /// Lines of every shape a `Symvers` reference may hold, good and bad.
    const SYMVERS_LINES: [&str; 14] = [
        "0x00000001\tplain\tvmlinux\tEXPORT_SYMBOL\t",
        "0x2\tshort_crc\tfs/fat/fat\tEXPORT_SYMBOL_GPL\tFAT_NS",
        "0XaBcD\tthree_fields\tvmlinux",
        "0x4\tfour_fields\tvmlinux\tEXPORT_SYMBOL",
        "0x5\tother_export\tvmlinux\tEXPORT_SOMETHING_NEW\t",
        "",
        " \t ",
        "0x6\ttoo\tmany\tEXPORT_SYMBOL\tNS\textra",
        "0x7\tonly_two",
        "0xZZ\tbad_crc\tvmlinux\tEXPORT_SYMBOL\t",
        "0x123456789\tlong_crc\tvmlinux\tEXPORT_SYMBOL\t",
        "0x8\t\tvmlinux\tEXPORT_SYMBOL\t",
        "0x9\tno_module\t\tEXPORT_SYMBOL\t",
        "0xa\tno_export\tvmlinux\t\t",
    ];

    #[test]
    fn clean_texts_split_at_once_parse_as_scanned_ones() {
        // CRLF line ends make a text unclean, so that the same lines go
        // through the per-field scan: both paths must agree on every
        // symbol and on the first error, line for line.
        let long_name = format!("0xb\t{}\tvmlinux\tEXPORT_SYMBOL\t", "n".repeat(512));
        let mut lines: Vec<String> = SYMVERS_LINES.iter().map(|l| l.to_string()).collect();
        lines.push(long_name);
        for skip in 0..lines.len() {
            let text: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
            let crlf = text.replace('\n', "\r\n");
            assert!(Scan::of(&text) == Scan::Clean);
            assert!(Scan::of(&crlf) == Scan::PerField);
            let clean = parse(text.as_bytes(), Some(Format::Symvers), "f");
            let scanned = parse(crlf.as_bytes(), Some(Format::Symvers), "f");
            assert_eq!(clean, scanned, "from line {skip}");
        }
        let good: String = SYMVERS_LINES[..7]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        let set = parse(good.as_bytes(), Some(Format::Symvers), "f").unwrap();
        assert_eq!(set.len(), 5);
        assert_eq!(set.get("short_crc").unwrap().crc, Crc(2));
        assert_eq!(set.get("three_fields").unwrap().crc, Crc(0xabcd));
    }

    #[test]
    fn a_set_keeps_names_and_each_module_path_once_not_the_reference() {
        for text in [
            large_reference(40_000),
            large_reference(40_000).replace('\n', "\r\n"),
        ] {
            let set = in_pool(2, || parse(text.as_bytes(), None, "big")).unwrap();
            // 7 module paths, each gathered once per piece parsed: every
            // symbol of one module points at the same bytes.
            let mut modules: Vec<*const u8> = set.iter().map(|s| s.module.as_ptr()).collect();
            modules.sort();
            modules.dedup();
            assert!(modules.len() <= 2 * 7, "{} module texts", modules.len());
            // The CRC, export and tab columns are not kept: the names
            // (10 bytes each) and the array, less than the reference.
            let text_kept = set.approx_bytes() - set.len() * std::mem::size_of::<Symbol>();
            assert!(text_kept < 40_000 * 11, "{text_kept} bytes of text kept");
            assert!(text_kept >= 40_000 * 10);
        }
    }

    #[test]
    fn a_control_character_makes_a_text_unclean_and_is_found() {
        for bad in ['\0', '\x01', '\x7f', '\r', '\x1b'] {
            let text = format!("0x1\tok\tvmlinux\tEXPORT_SYMBOL\t\n0x2\tb{bad}d\tvmlinux\n");
            assert!(Scan::of(&text) == Scan::PerField, "{bad:?}");
            let err = parse(text.as_bytes(), Some(Format::Symvers), "f").unwrap_err();
            assert_eq!(err.line, 2, "{bad:?}");
            assert!(
                matches!(err.kind, ParseErrorKind::ControlCharacter { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_and_blank_files_are_empty_references() {
        for input in [&b""[..], b"\n", b"\r\n \n"] {
            assert!(parse(input, None, "e").unwrap().is_empty());
        }
    }
}
