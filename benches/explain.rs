//! Timing of `explain` on the real Debian data (6.1.0-47 -> 6.1.0-50,
//! tests/data/symtypes) beside a naive baseline: spelling out every
//! export's expanded type text on both sides and comparing the strings.
//! A plain binary: `cargo bench --bench explain [-- SCALE]`. SCALE (default
//! 7) also times `explain` on both sets' consolidated form copied SCALE
//! times with identifiers renamed per copy (about a full x86_64 kernel:
//! 15 MB, 30k exports each); the baseline runs at scale 1 and at SCALE
//! when `EXPLAIN_NAIVE_SCALED=1` (minutes).

use std::collections::BTreeSet;
use std::time::Instant;

mod symtypes_scale;
use symtypes_scale::scaled;

use abibot::explain::explain;
use abibot::symtypes::{self, Symtypes, crc::Expander};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!(
        "{what:<60} {:>10.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    out
}

/// The naive way: every export's whole expanded text on both sides.
fn naive(old: &Symtypes, new: &Symtypes) -> BTreeSet<String> {
    let (mut a, mut b) = (Expander::new(old), Expander::new(new));
    let mut changed = BTreeSet::new();
    for (name, file) in old.exports() {
        let symbol = old.names.text(name);
        let Some(nfile) = new.export_file(symbol) else {
            continue;
        };
        let nname = new.names.get(symbol).expect("an export's name is interned");
        let x = a.text(file, name).expect("expands");
        let y = b.text(nfile, nname).expect("expands");
        if x != y {
            changed.insert(symbol.to_owned());
        }
    }
    changed
}

fn consolidated(st: &Symtypes, scale: usize) -> Symtypes {
    let mut bytes = Vec::new();
    symtypes::write(st, &mut bytes).expect("write");
    let text = scaled(std::str::from_utf8(&bytes).expect("utf-8"), scale);
    println!("consolidated x{scale}: {:.1} MB", text.len() as f64 / 1e6);
    symtypes::load_bytes("consolidated", text.as_bytes()).expect("parse")
}

fn compare(label: &str, old: &Symtypes, new: &Symtypes, baseline: bool) {
    let exports = old.exports().len();
    println!("{label}: {} files, {exports} exports", old.files().len());
    let ex = timed("  explain (rayon, all cores)", || explain(old, new));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    one.install(|| timed("  explain (one thread)", || explain(old, new)));
    println!(
        "  {} exports changed, {} root causes",
        ex.exports.len(),
        ex.causes.len()
    );
    if baseline {
        let naive = timed(
            "  naive baseline: expand both sides, compare (one thread)",
            || naive(old, new),
        );
        let mine: BTreeSet<String> = ex.exports.into_iter().map(|e| e.symbol).collect();
        assert_eq!(mine, naive, "explain and the baseline agree");
    }
}

fn main() {
    let scale: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/symtypes");
    let load = |v: &str| symtypes::load(format!("{dir}/{v}/symtypes.tar.xz").as_ref());
    let (old, new) = (load("6.1.0-47").expect("47"), load("6.1.0-50").expect("50"));
    compare("per-object tree", &old, &new, true);
    let (old, new) = (consolidated(&old, scale), consolidated(&new, scale));
    let naive_scaled = std::env::var_os("EXPLAIN_NAIVE_SCALED").is_some_and(|v| v == "1");
    compare(&format!("consolidated x{scale}"), &old, &new, naive_scaled);
}
