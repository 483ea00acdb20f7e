//! Hostile input: truncated, random, mutated and lying files, and
//! decompression bombs must give an error, never a panic, and never an
//! allocation beyond a bound. A counting allocator measures the latter.

mod elf_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

use abibot::elf::{self, ElfErrorKind, ReadOptions};
use elf_common::data;
use proptest::prelude::*;

/// Counts, per thread, the bytes currently allocated and their peak, so a
/// test can bound what one read allocates while other tests run in parallel.
struct Counting;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = CURRENT.try_with(|c| {
        let now = c.get().saturating_add(n);
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn sub(n: usize) {
    let _ = CURRENT.try_with(|c| c.set(c.get().saturating_sub(n)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        sub(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated by `f` on this thread beyond what was live before.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(before))
}

fn fat() -> Vec<u8> {
    std::fs::read(data("modules/6.1.0-50/fat.ko")).unwrap()
}

fn read(bytes: &[u8]) -> Result<elf::ModuleInfo, elf::ElfError> {
    elf::read_bytes(bytes, "fat.ko", "fs/fat/fat", &ReadOptions::default())
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Offset of section header `index` of a little-endian ELF64 file.
fn shdr(b: &[u8], index: usize) -> usize {
    u64_le(b, 0x28) as usize + 64 * index
}

fn section_index(b: &[u8], name: &str) -> usize {
    let g = goblin::elf::Elf::parse(b).unwrap();
    g.section_headers
        .iter()
        .position(|s| g.shdr_strtab.get_at(s.sh_name) == Some(name))
        .unwrap()
}

#[test]
fn a_module_truncated_at_every_kib_fails_cleanly() {
    let full = fat();
    let (elf_part, _) = elf::strip_signature(&full, "fat.ko").unwrap();
    let elf_len = elf_part.len();
    for cut in (0..full.len()).step_by(1024) {
        let (result, peak) = peak_of(|| read(&full[..cut]));
        match result {
            Ok(_) => assert!(
                cut >= elf_len,
                "cut at {cut} of {elf_len} ELF bytes was accepted"
            ),
            Err(e) => assert!(!e.to_string().is_empty() && e.file == "fat.ko"),
        }
        assert!(
            peak < 4 * full.len() + (1 << 20),
            "cut {cut}: {peak} bytes allocated"
        );
    }
}

#[test]
fn a_compressed_module_truncated_at_every_kib_fails_cleanly() {
    let full = std::fs::read(data("modules/6.12.117+deb12/uas.ko.xz")).unwrap();
    for cut in (0..full.len()).step_by(1024) {
        let err = read(&full[..cut]).unwrap_err();
        if cut > 0 {
            assert!(
                matches!(err.kind, ElfErrorKind::Decompress { format: "xz", .. }),
                "{err}"
            );
        }
    }
    assert!(read(&full).is_ok());
}

#[test]
fn random_bytes_are_refused() {
    let mut state = 0x2545f4914f6cdd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for len in [0usize, 1, 3, 4, 16, 52, 63, 64, 100, 1000, 4096, 65536] {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            assert!(read(&bytes).is_err());
            // The same behind an ELF magic, either class and byte order.
            let mut elf = bytes.clone();
            if elf.len() >= 6 {
                elf[..4].copy_from_slice(b"\x7fELF");
                elf[4] = 1 + (next() % 2) as u8;
                elf[5] = 1 + (next() % 2) as u8;
                let _ = read(&elf);
            }
        }
    }
    let err = read(b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "fat.ko: not an ELF file (starts with nothing: the file is empty)"
    );
}

#[test]
fn a_section_pointing_past_the_end_is_named_in_the_error() {
    let mut b = fat();
    let (elf_part, _) = elf::strip_signature(&b, "fat.ko").unwrap();
    let elf_len = elf_part.len() as u64;
    let at = shdr(&b, section_index(&b, "__versions")) + 0x18; // sh_offset
    b[at..at + 8].copy_from_slice(&0x1234_5678u64.to_le_bytes());
    let err = read(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "fat.ko: section __versions at offset 0x12345678 (size 0x26c0) runs past end of file (size {elf_len:#x})"
        )
    );

    // sh_offset + sh_size overflowing u64.
    let mut b = fat();
    let at = shdr(&b, section_index(&b, ".modinfo"));
    b[at + 0x18..at + 0x20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        read(&b).unwrap_err().kind,
        ElfErrorKind::SectionOutOfBounds { .. }
    ));

    // The section table itself outside the file, and a huge count.
    let mut b = fat();
    b[0x28..0x30].copy_from_slice(&(u64::MAX - 10).to_le_bytes());
    assert!(matches!(
        read(&b).unwrap_err().kind,
        ElfErrorKind::SectionTableOutOfBounds { .. }
    ));
    let mut b = fat();
    b[0x3c..0x3e].copy_from_slice(&0xffffu16.to_le_bytes());
    assert!(matches!(
        read(&b).unwrap_err().kind,
        ElfErrorKind::SectionTableOutOfBounds { .. }
    ));

    // Section names outside the name table.
    let mut b = fat();
    b[0x3e..0x40].copy_from_slice(&0xfff0u16.to_le_bytes());
    assert!(matches!(
        read(&b).unwrap_err().kind,
        ElfErrorKind::Header(_)
    ));
}

#[test]
fn a_symbol_pointing_outside_its_section_is_refused() {
    let mut b = fat();
    let g = goblin::elf::Elf::parse(&b).unwrap();
    let (index, _) = g
        .syms
        .iter()
        .enumerate()
        .find(|(_, s)| g.strtab.get_at(s.st_name) == Some("__crc_fat_scan"))
        .unwrap();
    let symtab = g.section_headers.iter().find(|s| s.sh_type == 2).unwrap();
    let at = symtab.sh_offset as usize + 24 * index + 8; // st_value
    b[at..at + 8].copy_from_slice(&0xffff_fff0u64.to_le_bytes());
    let err = read(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "fat.ko: symbol __crc_fat_scan: value 0xfffffff0 lies outside section __kcrctab_gpl (address 0x0, size 0x54)"
    );
    // The last 2 bytes of the table: in the section, but a u32 does not fit.
    b[at..at + 8].copy_from_slice(&0x52u64.to_le_bytes());
    assert!(
        read(&b)
            .unwrap_err()
            .to_string()
            .contains("4 bytes at offset 0x52 run past the end")
    );
}

#[test]
fn a_lying_signature_length_is_refused() {
    let mut b = fat();
    let len = b.len();
    let sig_len_at = len - elf::SIGNATURE_MARKER.len() - 4;
    b[sig_len_at..sig_len_at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    assert!(matches!(
        read(&b).unwrap_err().kind,
        ElfErrorKind::Signature(_)
    ));
}

/// Streams `total` zero bytes through `encoder` without holding them.
fn zeros(mut encoder: impl Write, total: usize) {
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..total / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
}

#[test]
fn an_xz_bomb_is_refused_within_the_default_bound() {
    // 1 GiB of zeros, compressed as a stream: the bomb itself is ~150 KiB.
    let mut bomb = Vec::new();
    {
        let mut enc = xz2::write::XzEncoder::new(&mut bomb, 0);
        zeros(&mut enc, 1 << 30);
        enc.finish().unwrap();
    }
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.ko.xz");
    std::fs::write(&path, &bomb).unwrap();

    // The xz index declares 1 GiB: refused before decompressing anything.
    let (result, peak) = peak_of(|| elf::read_file(&path, "bomb", &ReadOptions::default()));
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind, ElfErrorKind::TooLarge { format: "xz", limit } if limit == elf::DEFAULT_MAX_DECOMPRESSED),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "bomb.ko.xz: xz data decompresses to more than 256 MiB (the limit, --max-decompressed)"
        ),
        "{err}"
    );
    assert!(peak < 2 << 20, "peak {peak}");

    // A tiny second stream makes the last index lie about the first stream:
    // the bound while decompressing is what refuses it then.
    let mut tiny = xz2::write::XzEncoder::new(Vec::new(), 0);
    tiny.write_all(b"small").unwrap();
    let liar = [bomb, tiny.finish().unwrap()].concat();
    let (result, peak) =
        peak_of(|| elf::read_bytes(&liar, "liar.ko.xz", "liar", &ReadOptions::default()));
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind, ElfErrorKind::TooLarge { format: "xz", .. }),
        "{err}"
    );
    // The limit, briefly twice while the buffer grows, plus decoder state.
    let bound = 2 * elf::DEFAULT_MAX_DECOMPRESSED as usize + (16 << 20);
    assert!(peak <= bound, "peak {peak} > {bound}");
    assert!(
        peak > elf::DEFAULT_MAX_DECOMPRESSED as usize / 2,
        "the streaming path ran: peak {peak}"
    );
}

#[test]
fn zstd_and_gzip_bombs_are_refused_at_a_small_limit() {
    let options = ReadOptions {
        max_decompressed: 1 << 20,
    };
    let mut zst = Vec::new();
    {
        let mut enc = zstd::stream::write::Encoder::new(&mut zst, 1).unwrap();
        zeros(&mut enc, 64 << 20);
        enc.finish().unwrap();
    }
    let mut gz = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        zeros(&mut enc, 8 << 20);
        enc.finish().unwrap();
    }
    for (bytes, format) in [(zst, "zstd"), (gz, "gzip")] {
        let (result, peak) = peak_of(|| elf::read_bytes(&bytes, "bomb", "bomb", &options));
        let err = result.unwrap_err();
        assert!(
            matches!(err.kind, ElfErrorKind::TooLarge { format: f, limit: 1048576 } if f == format),
            "{err}"
        );
        assert!(peak < (1 << 20) + (4 << 20), "{format}: peak {peak}");
        assert!(
            peak > 512 << 10,
            "{format}: the streaming bound refused it, peak {peak}"
        );
    }
}

/// Compresses `parts` one by one with the real tool and concatenates the
/// results: what `xz`, `gzip` and `zstd` themselves write when appending.
fn concatenated(tool: &str, parts: &[&[u8]]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut out = Vec::new();
    for part in parts {
        let mut child = Command::new(tool)
            .args(["-c", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let part = part.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&part).unwrap());
        let done = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(done.status.success(), "{tool} failed");
        out.extend_from_slice(&done.stdout);
    }
    out
}

#[test]
fn multi_stream_xz_multi_member_gzip_and_multi_frame_zstd_are_valid_modules() {
    let plain = fat();
    let expected = read(&plain).unwrap();
    let (a, rest) = plain.split_at(100_000);
    let (b, c) = rest.split_at(50_000);
    let dir = tempfile::tempdir().unwrap();
    for (tool, suffix) in [("xz", "xz"), ("gzip", "gz"), ("zstd", "zst")] {
        let bytes = concatenated(tool, &[a, b, c]);
        let path = dir.path().join(format!("fat.ko.{suffix}"));
        std::fs::write(&path, &bytes).unwrap();
        let info = elf::read_file(&path, "fs/fat/fat", &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(info.exports, expected.exports, "{tool}");
        assert_eq!(info.versions, expected.versions, "{tool}");
        assert_eq!(info.exports.len(), 21);
        // The bound holds over the whole, not per stream.
        let small = ReadOptions {
            max_decompressed: plain.len() as u64 - 1,
        };
        let err = elf::read_file(&path, "fs/fat/fat", &small).unwrap_err();
        assert!(
            matches!(err.kind, ElfErrorKind::TooLarge { .. }),
            "{tool}: {err}"
        );
    }
}

/// Offsets worth mutating: the ELF header, the section table and anywhere.
fn mutation_offset(len: usize, shoff: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0..64usize, shoff..len.min(shoff + 51 * 64), 0..len]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_modules_never_panic(
        edits in proptest::collection::vec((mutation_offset(189_184, 0x2d640), any::<u8>()), 1..8)
    ) {
        let mut b = fat();
        for (at, byte) in edits {
            if let Some(slot) = b.get_mut(at) {
                *slot = byte;
            }
        }
        let (_, peak) = peak_of(|| read(&b));
        prop_assert!(peak < 4 * b.len() + (1 << 20));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read(&bytes);
        let mut with_magic = b"\x7fELF\x02\x01\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = read(&with_magic);
    }
}
