//! Timing of symtypes reading and CRC recomputation on the real Debian data
//! (tests/data/symtypes), beside a naive baseline: spelling out every
//! export's expanded type text and hashing the string. A plain binary:
//! `cargo bench --bench symtypes [-- SCALE]`. SCALE (default 7) copies the
//! 445 files with every identifier renamed per copy, to approach a full
//! x86_64 kernel's consolidated file (about 15 MB, 30k exports).

use std::io::Read;
use std::time::Instant;

mod symtypes_scale;
use symtypes_scale::scaled;

use abibot::symtypes::{self, Symtypes, crc};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{what:<58} {:>9.1} ms", start.elapsed().as_secs_f64() * 1e3);
    out
}

/// The naive way: every export's whole expanded text, then its CRC.
fn naive(st: &Symtypes) -> u64 {
    let mut exp = crc::Expander::new(st);
    let mut sum = 0u64;
    for (name, file) in st.exports() {
        let text = exp.text(file, name).expect("expands");
        sum += u64::from(crc32fast::hash(text.as_bytes()));
    }
    sum
}

fn report(label: &str, st: &Symtypes, bytes: usize) {
    let exports: usize = st.files().iter().map(|f| f.exports.len()).sum();
    println!(
        "{label}: {} files, {exports} exports, {} distinct definitions, {:.1} MB",
        st.files().len(),
        st.def_count(),
        bytes as f64 / 1e6
    );
    let crcs = timed("  CRC of every export (rayon, all cores)", || {
        crc::all_crcs(st).expect("crcs")
    });
    assert_eq!(crcs.len(), exports);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    one.install(|| {
        timed("  CRC of every export (one thread)", || {
            crc::all_crcs(st).expect("crcs")
        })
    });
    timed(
        "  naive baseline: expanded text + crc32 (one thread)",
        || naive(st),
    );
}

fn main() {
    let scale: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/symtypes/6.1.0-47/symtypes.tar.xz"
    );
    let packed = std::fs::read(path).expect("test data");
    let tar = timed("xz decompression alone (tar.xz -> tar)", || {
        let mut tar = Vec::new();
        xz2::read::XzDecoder::new(&packed[..])
            .read_to_end(&mut tar)
            .expect("xz");
        tar
    });
    let st = timed("parse 445 files from the tar", || {
        symtypes::load_bytes("47.tar", &tar).expect("parse")
    });
    report("per-object tree", &st, tar.len());
    let mut consolidated = Vec::new();
    timed("write consolidated", || {
        symtypes::write(&st, &mut consolidated).expect("write")
    });
    let st = timed("parse consolidated", || {
        symtypes::load_bytes("c", &consolidated).expect("parse")
    });
    report("consolidated", &st, consolidated.len());
    let big = scaled(std::str::from_utf8(&consolidated).expect("utf-8"), scale);
    let st = timed(&format!("parse consolidated x{scale}"), || {
        symtypes::load_bytes("big", big.as_bytes()).expect("parse")
    });
    report(&format!("consolidated x{scale}"), &st, big.len());
}
