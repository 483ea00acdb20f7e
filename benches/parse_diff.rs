//! Parse + diff of two real 24.6k-symbol Debian references, beside a naive
//! baseline doing the same work with `split_whitespace` and `HashMap<String, _>`.

use std::collections::HashMap;
use std::hint::black_box;

use abibot::compare::compare;
use abibot::formats;
use abibot::ignore::IgnoreRules;
use criterion::{Criterion, criterion_group, criterion_main};

/// The allocator the `abibot` binary ships with (see `src/main.rs`), so
/// that the walk is timed as users run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ABI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/abi"
);

/// What a quick script would do: owned strings in a hash map per file, then
/// look every name up on the other side. Same classification of CRC, module,
/// export and namespace.
fn naive(old: &str, new: &str) -> (usize, usize, usize) {
    fn load(text: &str) -> HashMap<String, Vec<String>> {
        text.lines()
            .filter_map(|l| {
                let f: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
                Some((f.get(1)?.clone(), f))
            })
            .collect()
    }
    let (a, b) = (load(old), load(new));
    let removed = a.keys().filter(|k| !b.contains_key(*k)).count();
    let added = b.keys().filter(|k| !a.contains_key(*k)).count();
    let changed = a
        .iter()
        .filter(|(k, v)| {
            b.get(*k)
                .is_some_and(|w| w[0] != v[0] || w.get(3) != v.get(3) || w.get(4) != v.get(4))
        })
        .count();
    (added, removed, changed)
}

fn bench(c: &mut Criterion) {
    let old = std::fs::read_to_string(format!("{ABI}/6.1.0-47/amd64_none_amd64")).unwrap();
    let new = std::fs::read_to_string(format!("{ABI}/6.1.0-50/amd64_none_amd64")).unwrap();
    assert_eq!(naive(&old, &new), (7, 3, 18_107));
    let rules = IgnoreRules::default();
    let mut group = c.benchmark_group("parse+diff 24.6k symbols");
    group.bench_function("abibot", |b| {
        b.iter(|| {
            let a = formats::parse(old.as_bytes(), None, "old").unwrap();
            let n = formats::parse(new.as_bytes(), None, "new").unwrap();
            black_box(compare(&a, &n, &rules))
        })
    });
    group.bench_function("naive baseline", |b| {
        b.iter(|| black_box(naive(&old, &new)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
