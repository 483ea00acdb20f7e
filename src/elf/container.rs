//! Getting at the ELF bytes of a file: memory-mapping or reading it (a
//! regular file within its size limit, see [`crate::input`]), decompressing
//! `.ko.xz` / `.ko.zst` / `.ko.gz` (multi-stream too, with a hard bound on
//! the output size), and cutting off an appended module signature.
//!
//! Compression is recognised by magic bytes, not by file name, so a renamed
//! file is still read correctly.

use std::io::Read;
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;
use serde::Serialize;

use super::error::{ElfError, ElfErrorKind};
use crate::input;

/// Default bound on decompressed size: 256 MiB. Stripped modules are at most
/// tens of MiB; a larger output is far more likely a bomb than a module.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 256 << 20;

/// Files smaller than this are read, larger ones mapped: for a 20 KiB module
/// a read is as cheap as setting up a mapping, and it cannot fault later.
const MMAP_THRESHOLD: u64 = 64 << 10;

/// How files are opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// The most bytes a compressed file may decompress to.
    pub max_decompressed: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// The bytes of a file, mapped or owned.
pub enum Bytes {
    /// A read-only mapping of an uncompressed file.
    Mapped(Mmap),
    /// Bytes read or decompressed into memory.
    Owned(Vec<u8>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// The compression a file uses, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain data.
    None,
    /// xz (`FD 37 7A 58 5A 00`).
    Xz,
    /// Zstandard (`28 B5 2F FD`).
    Zstd,
    /// gzip (`1F 8B`).
    Gzip,
}

impl Compression {
    /// Recognises the compression from the first bytes.
    pub fn detect(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// Reads a file and decompresses it if needed. The file must be regular and
/// within [`input::VMLINUX`]; a module (compressed, or a relocatable ELF)
/// within [`input::MODULE`].
pub fn load(
    path: &Path,
    file: &str,
    options: &ReadOptions,
) -> Result<(Bytes, Compression), ElfError> {
    let refuse = |kind| ElfError::new(file, ElfErrorKind::Input(kind));
    let (handle, len) = input::open(path, input::VMLINUX).map_err(|e| refuse(e.kind))?;
    let io = |e| ElfError::new(file, ElfErrorKind::Io(e));
    let raw = if len >= MMAP_THRESHOLD {
        // SAFETY: the mapping is read-only and private to this process. If
        // another process truncates the file while we read it, access faults
        // (SIGBUS); module trees are not rewritten while being checked, and a
        // read of every large vmlinux would cost far more.
        Bytes::Mapped(unsafe { Mmap::map(&handle) }.map_err(io)?)
    } else {
        Bytes::Owned(read_sized(&handle, len, file)?)
    };
    let compression = Compression::detect(&raw);
    if compression != Compression::None || is_relocatable(&raw) {
        input::MODULE.admit(len).map_err(refuse)?;
    }
    match compression {
        Compression::None => Ok((raw, Compression::None)),
        c => Ok((
            Bytes::Owned(decompress(&raw, c, options.max_decompressed, file)?),
            c,
        )),
    }
}

/// Reads the `len` bytes `input::open` found, refusing a file that has more
/// by the time it is read: a file still being written (or a `/proc` file,
/// which reports size 0) would otherwise be checked cut short or unbounded.
fn read_sized(reader: impl Read, len: u64, file: &str) -> Result<Vec<u8>, ElfError> {
    let mut v = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte past `len` is enough to see that the file grew.
    reader
        .take(len.saturating_add(1))
        .read_to_end(&mut v)
        .map_err(|e| ElfError::new(file, ElfErrorKind::Io(e)))?;
    if u64::try_from(v.len()).map_or(true, |n| n > len) {
        return Err(ElfError::new(file, ElfErrorKind::Grew { size: len }));
    }
    Ok(v)
}

/// Whether the bytes start like a relocatable ELF object (a module): `e_type`
/// 1 in the byte order `EI_DATA` names.
fn is_relocatable(bytes: &[u8]) -> bool {
    let e_type = match bytes.get(5) {
        Some(1) => bytes.get(16..18).map(|t| [t[0], t[1]]),
        Some(2) => bytes.get(16..18).map(|t| [t[1], t[0]]),
        _ => None,
    };
    bytes.starts_with(b"\x7fELF") && e_type == Some([1, 0])
}

/// Decompresses `bytes`, refusing to produce more than `limit` bytes.
///
/// Concatenated xz streams, gzip members and zstd frames are one file, as
/// `xz -d`, `gzip -d` and the kernel's module loader read them. When the data
/// declares a size (the index of the last xz stream, the first zstd frame
/// header), a declared size above the limit is refused at once (the whole is
/// at least that large) and the buffer starts at that size. Otherwise the buffer grows by doubling up to the limit,
/// so memory stays below twice the limit (a buffer is briefly held twice
/// while it grows) whatever the input claims.
pub fn decompress(
    bytes: &[u8],
    compression: Compression,
    limit: u64,
    file: &str,
) -> Result<Vec<u8>, ElfError> {
    let format = compression.name();
    let too_large = || ElfError::new(file, ElfErrorKind::TooLarge { format, limit });
    let declared = match compression {
        Compression::Xz => xz_declared_size(bytes),
        Compression::Zstd => zstd::zstd_safe::get_frame_content_size(bytes)
            .ok()
            .flatten(),
        Compression::None | Compression::Gzip => None,
    };
    if declared.is_some_and(|d| d > limit) {
        return Err(too_large());
    }
    // A declared size is a hint only: the bound below is what holds.
    let hint = declared.map_or_else(
        || bytes.len().saturating_mul(4),
        |d| usize::try_from(d).unwrap_or(usize::MAX),
    );
    let result = match compression {
        Compression::None => return Ok(bytes.to_vec()),
        Compression::Xz => {
            bounded_read(xz2::read::XzDecoder::new_multi_decoder(bytes), limit, hint)
        }
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(bytes) {
            Ok(d) => bounded_read(d, limit, hint),
            Err(e) => Err(Bounded::Io(e)),
        },
        Compression::Gzip => bounded_read(flate2::read::MultiGzDecoder::new(bytes), limit, hint),
    };
    result.map_err(|e| match e {
        Bounded::Io(e) => ElfError::new(
            file,
            ElfErrorKind::Decompress {
                format,
                message: e.to_string(),
            },
        ),
        Bounded::TooLarge => too_large(),
    })
}

enum Bounded {
    Io(std::io::Error),
    TooLarge,
}

fn bounded_read(mut reader: impl Read, limit: u64, hint: usize) -> Result<Vec<u8>, Bounded> {
    const CHUNK: usize = 64 << 10;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // One byte past a declared size lets the end of the stream be seen
    // without growing the buffer.
    let mut out: Vec<u8> =
        Vec::with_capacity(hint.saturating_add(1).clamp(CHUNK.min(limit), limit.max(1)));
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Bounded::Io(e)),
        };
        let new_len = out.len().saturating_add(n);
        if new_len > limit {
            return Err(Bounded::TooLarge);
        }
        if new_len > out.capacity() {
            let target = out.capacity().saturating_mul(2).max(new_len).min(limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The uncompressed size an xz file declares in the index of its last
/// stream; `None` when the tail is not a well-formed index.
fn xz_declared_size(bytes: &[u8]) -> Option<u64> {
    // Stream padding: NUL bytes in groups of four after the footer.
    let mut end = bytes.len();
    while end >= 4 && bytes.get(end - 4..end)? == [0, 0, 0, 0] {
        end -= 4;
    }
    // Footer: CRC32, backward size, stream flags, "YZ".
    let footer = bytes.get(end.checked_sub(12)?..end)?;
    if footer.get(10..12)? != b"YZ" {
        return None;
    }
    let backward = u64::from(u32::from_le_bytes(footer.get(4..8)?.try_into().ok()?));
    let index_len = usize::try_from((backward + 1) * 4).ok()?;
    let index = bytes.get((end - 12).checked_sub(index_len)?..end - 12)?;
    let (&indicator, mut rest) = index.split_first()?;
    if indicator != 0 {
        return None;
    }
    let records = read_vli(&mut rest)?;
    let mut total: u64 = 0;
    for _ in 0..records {
        let _unpadded = read_vli(&mut rest)?;
        total = total.checked_add(read_vli(&mut rest)?)?;
    }
    Some(total)
}

/// xz's variable-length integer: 7 bits per byte, at most 9 bytes.
fn read_vli(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// What an appended module signature says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SignatureInfo {
    /// Bytes of signature data (the PKCS#7 blob).
    pub signature_len: u32,
    /// `id_type` of `struct module_signature` (2 = PKCS#7).
    pub id_type: u8,
}

/// The marker `scripts/sign-file` appends after the signature.
pub const SIGNATURE_MARKER: &[u8] = b"~Module signature appended~\n";

/// `struct module_signature`: algo, hash, id_type, signer_len, key_id_len,
/// 3 bytes of padding, then the big-endian signature length.
const MODULE_SIGNATURE_LEN: usize = 12;

/// Splits off an appended signature, returning the ELF part.
///
/// The layout is `ELF | signature | struct module_signature | marker`; like the
/// kernel's `mod_verify_sig`, only `sig_len` decides where the ELF ends.
pub fn strip_signature<'a>(
    bytes: &'a [u8],
    file: &str,
) -> Result<(&'a [u8], Option<SignatureInfo>), ElfError> {
    let Some(rest) = bytes.strip_suffix(SIGNATURE_MARKER) else {
        return Ok((bytes, None));
    };
    let bad = |why: String| ElfError::new(file, ElfErrorKind::Signature(why));
    let header_start = rest
        .len()
        .checked_sub(MODULE_SIGNATURE_LEN)
        .ok_or_else(|| bad("the marker is not preceded by a signature header".into()))?;
    let header = rest.get(header_start..).unwrap_or_default();
    let (id_type, len_bytes) = match (header.get(2), header.get(8..12)) {
        (Some(&id), Some(len)) => (id, len),
        _ => return Err(bad("truncated signature header".into())),
    };
    let mut be = [0u8; 4];
    be.copy_from_slice(len_bytes);
    let signature_len = u32::from_be_bytes(be);
    let elf_end = usize::try_from(signature_len)
        .ok()
        .and_then(|l| header_start.checked_sub(l))
        .ok_or_else(|| {
            bad(format!(
                "signature length {signature_len} is larger than the {header_start} bytes before it"
            ))
        })?;
    Ok((
        rest.get(..elf_end).unwrap_or_default(),
        Some(SignatureInfo {
            signature_len,
            id_type,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn xz_index_gives_the_declared_size() {
        let data = vec![7u8; 123_457];
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 0);
        enc.write_all(&data).unwrap();
        let xz = enc.finish().unwrap();
        assert_eq!(xz_declared_size(&xz), Some(123_457));
        assert!(matches!(
            decompress(&xz, Compression::Xz, 100_000, "t")
                .unwrap_err()
                .kind,
            ElfErrorKind::TooLarge { .. }
        ));
        assert_eq!(
            decompress(&xz, Compression::Xz, 123_457, "t").unwrap(),
            data
        );
        let padded = [&xz[..], &[0; 8]].concat();
        assert_eq!(xz_declared_size(&padded), Some(123_457));
        assert_eq!(xz_declared_size(b"YZ"), None);
        assert_eq!(xz_declared_size(&[0xff; 40]), None);
    }

    #[test]
    fn bounded_read_stops_at_limit() {
        let data = vec![0u8; 300_000];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(
            decompress(&gz, Compression::Gzip, 300_000, "t")
                .unwrap()
                .len(),
            300_000
        );
        let err = decompress(&gz, Compression::Gzip, 299_999, "t").unwrap_err();
        assert!(
            matches!(err.kind, ElfErrorKind::TooLarge { limit: 299_999, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_grows_while_read_is_an_error_naming_it() {
        // A /proc file passes the size check with 0 bytes and then has
        // more: the same as a file written to after it was opened.
        let path = "/proc/self/status";
        let Err(err) = load(Path::new(path), path, &ReadOptions::default()) else {
            panic!("{path} was read as if it had 0 bytes");
        };
        assert!(matches!(err.kind, ElfErrorKind::Grew { size: 0 }), "{err}");
        assert!(
            err.to_string()
                .starts_with("/proc/self/status: changed while being read")
        );
        assert_eq!(read_sized(&b"abcd"[..], 4, "f").unwrap(), b"abcd");
        let err = read_sized(&b"abcde"[..], 4, "f").unwrap_err();
        assert!(matches!(err.kind, ElfErrorKind::Grew { size: 4 }), "{err}");
    }

    #[test]
    fn signature_is_cut_off_and_lies_are_refused() {
        let mut file = b"ELFDATA".to_vec();
        file.extend_from_slice(b"SIG");
        file.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        file.extend_from_slice(SIGNATURE_MARKER);
        let (elf, sig) = strip_signature(&file, "t").unwrap();
        assert_eq!(elf, b"ELFDATA");
        assert_eq!(sig.unwrap().signature_len, 3);

        let mut lie = b"AB".to_vec();
        lie.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        lie.extend_from_slice(SIGNATURE_MARKER);
        assert!(strip_signature(&lie, "t").is_err());
        assert!(strip_signature(SIGNATURE_MARKER, "t").is_err());
        assert_eq!(
            strip_signature(b"plain", "t").unwrap(),
            (&b"plain"[..], None)
        );
    }
}
