//! Finding symtypes input: a build tree of `.symtypes` files, a tar archive
//! of them (`.tar.xz` or plain `.tar`, told by content), one per-object file
//! or a consolidated file (told by its `/* file */` first line).
//!
//! Files of a tree or archive are read in path order, so the result does not
//! depend on directory order. A tree is walked without following symbolic
//! links; only regular files are read ([`crate::input`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::parse::{Reader, is_consolidated};
use super::{ErrorKind, MAX_FILE_BYTES, MAX_FILES, MAX_TREE_BYTES, Symtypes, SymtypesError};
use crate::input::{self, Limit};

/// One symtypes or consolidated file, for [`input::read`].
const FILE: Limit = Limit::new("symtypes file", MAX_FILE_BYTES);

/// The magic of an xz stream.
const XZ_MAGIC: &[u8] = b"\xfd7zXZ\0";

/// Reads symtypes from `path`: a directory tree, an archive, a consolidated
/// or a single symtypes file.
pub fn load(path: &Path) -> Result<Symtypes, SymtypesError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| SymtypesError::new(&shown, 0, ErrorKind::Io(e.to_string())))?;
    if meta.is_dir() {
        return load_tree(path);
    }
    let bytes = input::read(path, FILE)
        .map_err(|e| SymtypesError::new(&shown, 0, ErrorKind::Io(e.kind.to_string())))?;
    let name = path
        .file_name()
        .map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
    load_named(&shown, &name, &bytes)
}

/// Reads symtypes from the bytes of one file called `name`: an archive
/// (`.tar.xz` or `.tar`), a consolidated or a single symtypes file.
pub fn load_bytes(name: &str, bytes: &[u8]) -> Result<Symtypes, SymtypesError> {
    load_named(name, name, bytes)
}

fn load_named(shown: &str, name: &str, bytes: &[u8]) -> Result<Symtypes, SymtypesError> {
    let mut st = Symtypes::default();
    let mut reader = Reader::new(&mut st);
    if bytes.starts_with(XZ_MAGIC) {
        let xz = xz2::read::XzDecoder::new_multi_decoder(bytes);
        read_archive(&mut reader, shown, xz)?;
    } else if bytes.get(257..262) == Some(b"ustar") {
        read_archive(&mut reader, shown, bytes)?;
    } else if is_consolidated(bytes) {
        reader.consolidated(shown, bytes)?;
    } else {
        reader.file(name, bytes).map_err(|mut e| {
            e.file = shown.to_owned();
            e
        })?;
    }
    Ok(st)
}

/// Counts files and bytes against [`MAX_FILES`] and [`MAX_TREE_BYTES`].
#[derive(Default)]
struct Budget {
    files: usize,
    bytes: u64,
}

impl Budget {
    fn admit(&mut self, shown: &str, size: u64) -> Result<(), SymtypesError> {
        self.files += 1;
        self.bytes = self.bytes.saturating_add(size);
        let kind = if self.files > MAX_FILES {
            ErrorKind::TooMuch {
                what: "files",
                limit: MAX_FILES as u64,
            }
        } else if self.bytes > MAX_TREE_BYTES {
            ErrorKind::TooMuch {
                what: "bytes of symtypes",
                limit: MAX_TREE_BYTES,
            }
        } else {
            return Ok(());
        };
        Err(SymtypesError::new(shown, 0, kind))
    }
}

/// Reads every `.symtypes` member of a tar stream, in path order.
fn read_archive(reader: &mut Reader, shown: &str, data: impl Read) -> Result<(), SymtypesError> {
    let bad = |e: std::io::Error| SymtypesError::new(shown, 0, ErrorKind::Archive(e.to_string()));
    // Members that are skipped are decompressed too: the whole stream is
    // bounded, not only the members kept.
    let mut archive = tar::Archive::new(data.take(MAX_TREE_BYTES));
    let mut members = Vec::new();
    let mut budget = Budget::default();
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() || !path.ends_with(".symtypes") {
            continue;
        }
        budget.admit(shown, entry.size())?;
        let mut bytes = Vec::new();
        // The header's size is checked above; take() keeps a lying one bounded.
        entry
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(bad)?;
        members.push((path, bytes));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, bytes) in members {
        reader.file(&path, &bytes).map_err(|mut e| {
            e.file = format!("{shown}:{}", e.file);
            e
        })?;
    }
    Ok(())
}

/// Reads every `.symtypes` file under `root`, in path order.
fn load_tree(root: &Path) -> Result<Symtypes, SymtypesError> {
    let mut paths = Vec::new();
    collect(root, &mut paths)?;
    paths.sort();
    let mut st = Symtypes::default();
    let mut reader = Reader::new(&mut st);
    let mut budget = Budget::default();
    for path in paths {
        let shown = path.display().to_string();
        let bytes = input::read(&path, FILE)
            .map_err(|e| SymtypesError::new(&shown, 0, ErrorKind::Io(e.kind.to_string())))?;
        budget.admit(&shown, bytes.len() as u64)?;
        let relative = path.strip_prefix(root).unwrap_or(&path);
        reader
            .file(&relative.to_string_lossy(), &bytes)
            .map_err(|mut e| {
                e.file = shown.clone();
                e
            })?;
    }
    Ok(st)
}

/// Collects the `.symtypes` regular files under `dir` (symbolic links are
/// not followed).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SymtypesError> {
    let io = |p: &Path, e: std::io::Error| {
        SymtypesError::new(&p.display().to_string(), 0, ErrorKind::Io(e.to_string()))
    };
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "symtypes") {
                if out.len() >= MAX_FILES {
                    let kind = ErrorKind::TooMuch {
                        what: "files",
                        limit: MAX_FILES as u64,
                    };
                    return Err(SymtypesError::new(&dir.display().to_string(), 0, kind));
                }
                out.push(path);
            }
        }
    }
    Ok(())
}
