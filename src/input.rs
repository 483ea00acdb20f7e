//! Opening the plain files abibot is given (reference files, modules,
//! vmlinux, ignore lists) without trusting them to be plain.
//!
//! A path on the command line or inside a build tree may name a FIFO (an
//! open would block until a writer comes, a read until it leaves), a
//! character device (`/dev/zero` never ends), a directory, or a symbolic
//! link to any of those. [`open`] follows symbolic links, then refuses
//! anything that is not a regular file before opening it, and checks the
//! opened file again (the path may have been swapped in between; the open
//! does not block on a FIFO). Every kind of input has a size [`Limit`],
//! named in the error; decompressed sizes are bounded separately by the
//! ELF reader.
//!
//! | limit | bytes | why |
//! |---|---|---|
//! | [`REFERENCE`] | 256 MiB | the largest real references are a few MiB (Debian amd64: 1.7 MB, 24.6k symbols); parsing costs a few times the file size |
//! | [`LIST`] | 16 MiB | ignore lists, `modules.order`: a few KiB in practice |
//! | [`MODULE`] | 1 GiB | an unstripped module with debug info in a build tree reaches hundreds of MiB; installed modules are stripped |
//! | [`VMLINUX`] | 4 GiB | a vmlinux with full debug info of a large configuration reaches a few GiB; it is mapped, not read |
//! | [`CONFIG`] | 1 MiB | the daemon's configuration: a few KiB even with hundreds of repositories |
//! | [`SECRET`] | 64 KiB | a `token_file` or key file: a token is under 100 bytes, a PEM key a few KiB |

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most bytes one kind of input may have, and what to call it in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for messages ("reference file").
    pub what: &'static str,
    /// The most bytes accepted.
    pub bytes: u64,
}

impl Limit {
    /// A limit of `bytes` for files called `what` in errors.
    pub const fn new(what: &'static str, bytes: u64) -> Limit {
        Limit { what, bytes }
    }

    /// `size` if a file of that many bytes is within the limit, else the
    /// [`InputErrorKind::TooLarge`] naming it.
    pub fn admit(self, size: u64) -> Result<u64, InputErrorKind> {
        if size > self.bytes {
            return Err(InputErrorKind::TooLarge { size, limit: self });
        }
        Ok(size)
    }
}

/// A reference file (Module.symvers, Debian/Ubuntu reference, kABI entry).
pub const REFERENCE: Limit = Limit::new("reference file", 256 << 20);

/// A small list file: `--ignore-file`, `modules.order`.
pub const LIST: Limit = Limit::new("list file", 16 << 20);

/// A kernel module as stored (compressed or not).
pub const MODULE: Limit = Limit::new("kernel module", 1 << 30);

/// A linked kernel image (vmlinux), the largest input abibot maps.
pub const VMLINUX: Limit = Limit::new("vmlinux", 4 << 30);

/// The daemon's configuration file.
pub const CONFIG: Limit = Limit::new("configuration file", 1 << 20);

/// A secret file (`token_file`, a GitHub App key).
pub const SECRET: Limit = Limit::new("secret file", 64 << 10);

/// A file could not be opened or read within its limit.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct InputError {
    /// The file as the caller named it.
    pub path: String,
    /// What was wrong.
    pub kind: InputErrorKind,
}

/// What was wrong with an input file.
#[derive(Debug, thiserror::Error)]
pub enum InputErrorKind {
    /// The operating system refused to open or read it.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// It is a FIFO, a device, a directory or a socket.
    #[error("is {what}, not a regular file")]
    NotRegular {
        /// What it is ("a FIFO").
        what: &'static str,
    },
    /// It holds more bytes than its kind may.
    #[error("is {size} bytes, more than the {} allowed for a {}", size_text(.limit.bytes), .limit.what)]
    TooLarge {
        /// Its size (at least this many bytes were seen).
        size: u64,
        /// The limit it broke.
        limit: Limit,
    },
}

/// `268435456` -> `256 MiB`; sizes below 1 KiB stay in bytes.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let whole = bytes / unit;
            let tenths = (bytes % unit) * 10 / unit;
            return if tenths == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenths} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// What a non-regular file is, for [`InputErrorKind::NotRegular`].
fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    let what = if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "of an unknown kind"
    };
    Some(what)
}

fn check(meta: &Metadata, limit: Limit) -> Result<u64, InputErrorKind> {
    if let Some(what) = not_regular(meta) {
        return Err(InputErrorKind::NotRegular { what });
    }
    limit.admit(meta.len())
}

/// Opens a regular file of at most `limit` bytes, following symbolic links;
/// returns it with its size.
pub fn open(path: &Path, limit: Limit) -> Result<(File, u64), InputError> {
    let fail = |kind| InputError {
        path: path.display().to_string(),
        kind,
    };
    // Checked before opening: opening a device can have effects of its own.
    let meta = std::fs::metadata(path).map_err(|e| fail(InputErrorKind::Io(e)))?;
    check(&meta, limit).map_err(fail)?;
    // O_NONBLOCK: if the path became a FIFO since, the open returns at once
    // and the check below refuses it. Reads of regular files ignore the flag.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fail(InputErrorKind::Io(e)))?;
    let meta = file.metadata().map_err(|e| fail(InputErrorKind::Io(e)))?;
    let size = check(&meta, limit).map_err(fail)?;
    Ok((file, size))
}

/// Reads a whole regular file of at most `limit` bytes (see [`open`]). A
/// file that grows past the limit while being read is refused too.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, InputError> {
    let (file, size) = open(path, limit)?;
    let fail = |kind| InputError {
        path: path.display().to_string(),
        kind,
    };
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(InputErrorKind::Io(e)))?;
    limit
        .admit(u64::try_from(bytes.len()).unwrap_or(u64::MAX))
        .map_err(fail)?;
    Ok(bytes)
}

/// Reads a whole regular file as UTF-8 text (see [`read`]).
pub fn read_text(path: &Path, limit: Limit) -> Result<String, InputError> {
    String::from_utf8(read(path, limit)?).map_err(|e| InputError {
        path: path.display().to_string(),
        kind: InputErrorKind::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: Limit = Limit {
        what: "test file",
        bytes: 10,
    };

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read(&path, TINY).unwrap(), b"0123456789");
        std::fs::write(&path, b"0123456789a").unwrap();
        let err = read(&path, TINY).unwrap_err();
        assert!(matches!(
            err.kind,
            InputErrorKind::TooLarge { size: 11, .. }
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "{}: is 11 bytes, more than the 10 bytes allowed for a test file",
                path.display()
            )
        );
    }

    #[test]
    fn devices_directories_and_links_to_them_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for (path, what) in [
            (Path::new("/dev/zero"), "a character device"),
            (&link, "a character device"),
            (dir.path(), "a directory"),
        ] {
            let err = read(path, REFERENCE).unwrap_err();
            assert!(
                matches!(err.kind, InputErrorKind::NotRegular { what: w } if w == what),
                "{err}"
            );
        }
    }

    #[test]
    fn sizes_are_written_for_people() {
        assert_eq!(size_text(REFERENCE.bytes), "256 MiB");
        assert_eq!(size_text(VMLINUX.bytes), "4 GiB");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(12), "12 bytes");
    }
}
