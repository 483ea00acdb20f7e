//! The ELF reader's error type: every error names the file and says what was
//! wrong, and where, so that one bad module in a tree of thousands can be found.

/// Reading one file failed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {kind}")]
pub struct ElfError {
    /// The file as the caller named it.
    pub file: String,
    /// What was wrong.
    pub kind: ElfErrorKind,
}

impl ElfError {
    /// Builds an error for `file`.
    pub fn new(file: impl Into<String>, kind: ElfErrorKind) -> ElfError {
        ElfError {
            file: file.into(),
            kind,
        }
    }
}

/// What was wrong with a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElfErrorKind {
    /// The file or directory could not be read.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// The file grew between the check of its size and the read of its
    /// bytes (it is being written, or reports a wrong size like `/proc` files).
    #[error("changed while being read: it had {size} bytes when opened and more when read")]
    Grew {
        /// Its size when opened.
        size: u64,
    },
    /// The path is not a regular file, or is larger than its kind may be
    /// (see [`crate::input`]).
    #[error(transparent)]
    Input(crate::input::InputErrorKind),
    /// A kernel module was expected, but this is a linked image (vmlinux).
    #[error("a linked image, not a kernel module")]
    NotAModule,
    /// The data does not start with the ELF magic (after decompression).
    #[error("not an ELF file (starts with {magic})")]
    NotElf {
        /// The first bytes, in hex.
        magic: String,
    },
    /// The ELF header is damaged or of a kind this reader does not handle.
    #[error("bad ELF header: {0}")]
    Header(String),
    /// The section header table does not fit in the file.
    #[error(
        "section header table at offset {offset:#x} ({count} entries of {entsize} bytes) runs past end of file (size {file_size:#x})"
    )]
    SectionTableOutOfBounds {
        /// `e_shoff`.
        offset: u64,
        /// Number of section headers.
        count: u64,
        /// Size of one header.
        entsize: u64,
        /// Size of the ELF data.
        file_size: u64,
    },
    /// A section's bytes lie (partly) outside the file.
    #[error(
        "section {section} at offset {offset:#x} (size {size:#x}) runs past end of file (size {file_size:#x})"
    )]
    SectionOutOfBounds {
        /// The section's name (or `#index` when the name cannot be read).
        section: String,
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
        /// Size of the ELF data.
        file_size: u64,
    },
    /// A section's contents do not have the shape its role requires.
    #[error("section {section}: {problem}")]
    BadSection {
        /// The section's name.
        section: String,
        /// What was wrong.
        problem: String,
    },
    /// A symbol points somewhere it cannot.
    #[error("symbol {symbol}: {problem}")]
    BadSymbol {
        /// The symbol's name.
        symbol: String,
        /// What was wrong.
        problem: String,
    },
    /// Compressed data could not be decompressed.
    #[error("{format} data is damaged: {message}")]
    Decompress {
        /// `xz`, `zstd` or `gzip`.
        format: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// Decompression would produce more than the allowed number of bytes.
    #[error(
        "{format} data decompresses to more than {} (the limit, --max-decompressed); refusing it as a possible decompression bomb", crate::input::size_text(*.limit)
    )]
    TooLarge {
        /// `xz`, `zstd` or `gzip`.
        format: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The appended module signature is inconsistent.
    #[error("appended module signature: {0}")]
    Signature(String),
    /// The file is an ELF object of a kind the command cannot use.
    #[error("{0}")]
    Unsupported(String),
}
