//! Extract + check every module of a directory, beside the baseline of
//! running `modprobe --dump-modversions` (kmod) on each file.
//!
//! ```sh
//! apt-get download linux-image-6.1.0-47-amd64-unsigned
//! dpkg-deb -x linux-image-6.1.0-47-amd64-unsigned_*.deb /tmp/kimg
//! ABIBOT_BENCH_DIR=/tmp/kimg/lib/modules/6.1.0-47-amd64 \
//! ABIBOT_BENCH_SYMVERS=tests/data/debian-bookworm/abi/6.1.0-47/amd64_none_amd64 \
//!     cargo bench --bench elf
//! ```
//!
//! Reports both times, their ratio, and whether the import CRCs abibot reads
//! are identical to modprobe's. Without `ABIBOT_BENCH_DIR` it says so and
//! exits successfully (nothing to measure).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use abibot::elf::{self, ModuleInfo, ReadOptions};
use abibot::formats;
use abibot::loadcheck;
use abibot::symbols::SymbolSet;

fn run_abibot(inputs: &[elf::Input], against: &SymbolSet) -> (Vec<ModuleInfo>, usize) {
    let infos: Vec<ModuleInfo> = elf::read_inputs(inputs, &ReadOptions::default())
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every module reads");
    let refused = infos
        .iter()
        .filter(|i| i.kind == elf::ObjectKind::Module)
        .map(|i| loadcheck::check(i, against, None))
        .filter(|r| !r.loads)
        .count();
    (infos, refused)
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// `modprobe --dump-modversions` prints `0x%08lx\t%s` per `__versions` entry.
fn parse_dump(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (crc, name) = l.split_once('\t')?;
            let crc = u64::from_str_radix(crc.trim_start_matches("0x"), 16).ok()?;
            Some((name.to_owned(), crc))
        })
        .collect()
}

fn main() {
    let Some(dir) = std::env::var_os("ABIBOT_BENCH_DIR").map(PathBuf::from) else {
        println!("elf bench: set ABIBOT_BENCH_DIR to an unpacked lib/modules/<release> to measure");
        return;
    };
    let against = match std::env::var_os("ABIBOT_BENCH_SYMVERS") {
        Some(p) => formats::parse(&std::fs::read(&p).expect("read symvers"), None, "symvers")
            .expect("parse symvers"),
        None => SymbolSet::default(),
    };
    let inputs = elf::collect_inputs(std::slice::from_ref(&dir)).expect("walk");
    println!("elf bench: {} files under {}", inputs.len(), dir.display());

    // Warm the page cache for both contenders.
    let (infos, refused) = run_abibot(&inputs, &against);
    let parallel = best_of(5, || {
        run_abibot(&inputs, &against);
    });
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let single = best_of(3, || {
        one.install(|| run_abibot(&inputs, &against));
    });

    let mut identical = 0usize;
    let mut differing = Vec::new();
    let start = Instant::now();
    for (input, info) in inputs.iter().zip(&infos) {
        let out = Command::new("modprobe")
            .arg("--dump-modversions")
            .arg(&input.path)
            .output()
            .expect("modprobe (kmod) must be installed");
        let theirs = parse_dump(&String::from_utf8_lossy(&out.stdout));
        let ours: Vec<(String, u64)> = info
            .versions
            .iter()
            .map(|v| (v.name.clone(), v.crc))
            .collect();
        if theirs == ours {
            identical += 1;
        } else {
            differing.push(input.path.display().to_string());
        }
    }
    let modprobe = start.elapsed();

    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "abibot extract+check: {:.3} s on {} threads, {:.3} s on 1 thread ({refused} modules would not load)",
        secs(parallel),
        rayon::current_num_threads(),
        secs(single)
    );
    println!("modprobe --dump-modversions loop: {:.3} s", secs(modprobe));
    println!(
        "ratio: {:.1}x ({:.1}x single-threaded)",
        secs(modprobe) / secs(parallel),
        secs(modprobe) / secs(single)
    );
    println!(
        "CRCs identical to modprobe's: {identical} of {} modules{}",
        infos.len(),
        if differing.is_empty() {
            String::new()
        } else {
            format!("; differing: {}", differing.join(", "))
        }
    );
}
