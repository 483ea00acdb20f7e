//! Debug info shipped as a whole: Debian's `linux-image-<abi>-<flavour>-dbg`
//! package read in place (its `ar` members streamed, the data tarball
//! decompressed as it is read, never unpacked to disk), or a directory
//! holding it unpacked (`usr/lib/debug/`).
//!
//! The files read are the vmlinux (`boot/vmlinux-*`, or a `vmlinux*` file
//! anywhere) and, when [`DebugOptions::modules`] asks for them, every
//! module (`*.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`) under `lib/modules/`.
//! Modules are not read by default: on Debian's 6.1 packages they are 4,022
//! files and 4.7 GB of DWARF beside the vmlinux's 630 MB, so the two whole
//! packages take minutes where the vmlinux alone takes seconds (README,
//! "Debug info"). Without modules, reading a package stops after its
//! vmlinux (dpkg-deb stores `boot/` first: the rest is never
//! decompressed). Symbolic links (`.build-id/`, `lib/modules/*/vmlinux`)
//! are not followed, so each file is read once.
//!
//! Memory: one member is held at a time, decompressed, within
//! [`crate::input::VMLINUX`] (a module within [`crate::input::MODULE`]);
//! a reader thread decompresses the next member while the current one is
//! spelled (a channel of [`AHEAD`] members). The model keeps each distinct
//! type definition once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::{DebugTypes, DwarfError, DwarfErrorKind, Model, spell_elf};
use crate::elf::{Compression, ReadOptions, decompress};
use crate::input;

/// Members decompressed ahead of the one being spelled.
pub const AHEAD: usize = 1;

/// What to read of a package or tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// Read the modules too, not only the vmlinux.
    pub modules: bool,
}

/// Which kind of debug file a path inside a package or tree names.
fn wanted(path: &str, options: &DebugOptions) -> Option<input::Limit> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("vmlinux") && !name.ends_with(".map") {
        return Some(input::VMLINUX);
    }
    let module = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|s| name.ends_with(s));
    (options.modules && module && path.contains("lib/modules/")).then_some(input::MODULE)
}

/// Whether `path` starts like a Debian package (an `ar` archive).
pub(super) fn is_deb(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"!<arch>\n")
}

/// Whether the directory `dir` holds debug files rather than symtypes: a
/// vmlinux or a module somewhere below it, and no `.symtypes` file.
pub(super) fn is_debug_tree(dir: &Path) -> bool {
    let Ok(files) = regular_files(dir) else {
        return false;
    };
    let names = || files.iter().map(|p| p.to_string_lossy());
    !names().any(|p| p.ends_with(".symtypes"))
        && names().any(|p| wanted(&p, &DebugOptions { modules: true }).is_some())
}

/// The regular files under `dir`, in path order (symbolic links are not
/// followed: `.build-id/` and `lib/modules/*/vmlinux` point at files read
/// anyway).
fn regular_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One file read out of a package or tree: its name for messages and
/// its bytes, decompressed.
type Member = Result<(String, Vec<u8>), DwarfError>;

/// Reads the debug files of the `-dbg` package at `path`.
pub fn load_deb(path: &Path, options: &DebugOptions) -> Result<DebugTypes, DwarfError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| io_err(&shown, &e))?;
    let options = *options;
    let name = shown.clone();
    build(&shown, move |send| read_deb(&name, file, &options, send))
}

/// Reads the debug files of the directory `dir` (an unpacked
/// `usr/lib/debug/`, or any directory holding a vmlinux and modules), in
/// path order.
pub fn load_tree(dir: &Path, options: &DebugOptions) -> Result<DebugTypes, DwarfError> {
    let shown = dir.display().to_string();
    let paths: Vec<(PathBuf, input::Limit)> = regular_files(dir)
        .map_err(|e| io_err(&shown, &e))?
        .into_iter()
        .filter_map(|p| {
            let limit = wanted(&p.to_string_lossy(), options)?;
            Some((p, limit))
        })
        .collect();
    build(&shown, move |send| {
        for (path, limit) in paths {
            let name = path.display().to_string();
            let member = input::read(&path, limit)
                .map_err(|e| DwarfError::new(&name, elf_kind(e.kind.to_string())))
                .and_then(|bytes| plain(&name, bytes));
            if send.send(member.map(|b| (name, b))).is_err() {
                return;
            }
        }
    })
}

/// Spells every member `produce` sends (from a thread of its own, at most
/// [`AHEAD`] members ahead) into one model; the first error ends it, and
/// so does finding no debug file at all in `shown`.
fn build<F>(shown: &str, produce: F) -> Result<DebugTypes, DwarfError>
where
    F: FnOnce(&mpsc::SyncSender<Member>) + Send,
{
    let (send, receive) = mpsc::sync_channel::<Member>(AHEAD);
    std::thread::scope(|scope| {
        scope.spawn(move || produce(&send));
        let mut model = Model::default();
        let mut read = 0;
        // Dropping the receiver on error stops the reader at its next send.
        for member in receive {
            let (name, bytes) = member?;
            let spelled = spell_elf(&name, &bytes)?;
            drop(bytes);
            model.add(&name, spelled)?;
            read += 1;
        }
        if read == 0 {
            let kind = DwarfErrorKind::Malformed(
                "no vmlinux (nor, with modules asked for, any module) in it".into(),
            );
            return Err(DwarfError::new(shown, kind));
        }
        Ok(model.finish())
    })
}

/// Streams the members of the package `file` (called `shown`): the data
/// tarball's wanted entries are sent one at a time.
fn read_deb(
    shown: &str,
    file: std::fs::File,
    options: &DebugOptions,
    send: &mpsc::SyncSender<Member>,
) {
    let mut archive = ar::Archive::new(std::io::BufReader::new(file));
    while let Some(entry) = archive.next_entry() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let _ = send.send(Err(DwarfError::new(shown, ar_kind(&e))));
                return;
            }
        };
        let member = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if !member.starts_with("data.tar") {
            continue;
        }
        let at = format!("{shown}:{member}");
        match tarball(&member, entry) {
            Ok(data) => read_tar(&at, data, options, send),
            Err(kind) => {
                let _ = send.send(Err(DwarfError::new(&at, kind)));
            }
        }
        return;
    }
    let kind = DwarfErrorKind::Malformed("no data.tar member: not a Debian package".into());
    let _ = send.send(Err(DwarfError::new(shown, kind)));
}

/// The data tarball, decompressed as it is read (told by its suffix, as
/// dpkg does).
fn tarball<'r>(member: &str, raw: impl Read + 'r) -> Result<Box<dyn Read + 'r>, DwarfErrorKind> {
    Ok(match member.rsplit('.').next() {
        Some("xz") => Box::new(xz2::read::XzDecoder::new_multi_decoder(raw)),
        Some("zst") => Box::new(
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| DwarfErrorKind::Malformed(e.to_string()))?,
        ),
        Some("gz") => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Some("tar") => Box::new(raw),
        _ => {
            return Err(DwarfErrorKind::Malformed(format!(
                "{member}: unknown compression"
            )));
        }
    })
}

/// Sends each wanted entry of the tar stream `data` (called `at`).
fn read_tar(at: &str, data: impl Read, options: &DebugOptions, send: &mpsc::SyncSender<Member>) {
    let mut tar = tar::Archive::new(data);
    let entries = match tar.entries() {
        Ok(e) => e,
        Err(e) => {
            let _ = send.send(Err(DwarfError::new(at, tar_kind(&e))));
            return;
        }
    };
    for entry in entries {
        let member = entry
            .map_err(|e| DwarfError::new(at, tar_kind(&e)))
            .and_then(|entry| tar_member(at, entry, options));
        // Without modules, the vmlinux is all there is to read.
        let stop = member
            .as_ref()
            .map_or(true, |m| m.is_some() && !options.modules);
        if let Some(member) = member.transpose()
            && (send.send(member).is_err() || stop)
        {
            return;
        }
    }
    // Every entry was read: the compressed stream must also end where it
    // says (a package cut inside the tar's padding still decompresses up
    // to there).
    if let Err(e) = std::io::copy(&mut tar.into_inner(), &mut std::io::sink()) {
        let _ = send.send(Err(DwarfError::new(at, tar_kind(&e))));
    }
}

/// The entry's bytes when it is a wanted regular file, decompressed.
fn tar_member(
    at: &str,
    mut entry: tar::Entry<'_, impl Read>,
    options: &DebugOptions,
) -> Result<Option<(String, Vec<u8>)>, DwarfError> {
    let path = entry
        .path()
        .map_err(|e| DwarfError::new(at, tar_kind(&e)))?
        .to_string_lossy()
        .into_owned();
    let name = format!("{at}:{path}");
    let limit = match wanted(&path, options) {
        Some(l) if entry.header().entry_type().is_file() => l,
        _ => return Ok(None),
    };
    let size = limit
        .admit(entry.size())
        .map_err(|e| DwarfError::new(&name, elf_kind(e.to_string())))?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The header's size is admitted above; take() holds a lying one to it.
    (&mut entry)
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| DwarfError::new(&name, tar_kind(&e)))?;
    if (bytes.len() as u64) < size {
        let kind = DwarfErrorKind::Malformed(format!("cut short: {} of {size} bytes", bytes.len()));
        return Err(DwarfError::new(&name, kind));
    }
    Ok(Some((name.clone(), plain(&name, bytes)?)))
}

/// A compressed module's ELF image; other bytes as they are.
fn plain(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, DwarfError> {
    match Compression::detect(&bytes) {
        Compression::None => Ok(bytes),
        c => decompress(&bytes, c, ReadOptions::default().max_decompressed, name)
            .map_err(|e| super::elf_err(name, e)),
    }
}

fn elf_kind(message: String) -> DwarfErrorKind {
    DwarfErrorKind::Elf(message)
}

fn io_err(file: &str, e: &std::io::Error) -> DwarfError {
    DwarfError::new(file, elf_kind(e.to_string()))
}

fn ar_kind(e: &std::io::Error) -> DwarfErrorKind {
    DwarfErrorKind::Malformed(format!("ar archive: {e}"))
}

fn tar_kind(e: &std::io::Error) -> DwarfErrorKind {
    DwarfErrorKind::Malformed(format!("tar archive: {e}"))
}
