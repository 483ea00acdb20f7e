//! History walk benchmark on a synthetic Debian-scale packaging repository,
//! beside two baselines:
//! - naive: at every commit, read and parse every reference file;
//! - `git cat-file --batch` printing just the reference blobs that changed
//!   (the least any tool must do).
//!
//! The repository (2,000+ commits, 30 flavours of ~25k symbols derived from
//! Debian's real files, ~5% of commits touching `debian/abi`, bumps and
//! hidden breaks) is generated once under `target/bench-history` and reused.
//! The naive walk is timed on an evenly spaced sample of commits and scaled
//! to the whole history, since parsing 60,000 references takes minutes.
//!
//! Run: `cargo bench --bench history` (env `ABIBOT_BENCH_COMMITS` to resize).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use abibot::history::scan::Scanner;
use abibot::history::{WalkOptions, Walker};
use git2::{Oid, Repository};

#[path = "../tests/common/mod.rs"]
mod common;
mod synthetic;

use synthetic::{FEATURESETS, FLAVOURS_PER_FEATURESET, Gen, derive, flavour_name, flavour_salt};

/// The allocator the `abibot` binary ships with (see `src/main.rs`), so
/// that the walk is timed as users run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn flavour_names() -> Vec<String> {
    (0..FEATURESETS.len() * FLAVOURS_PER_FEATURESET)
        .map(flavour_name)
        .collect()
}

/// One synthetic flavour and what its reference holds now.
struct Flavour {
    index: usize,
    name: String,
    /// Xor-ed into every CRC: a rewrite changes it, a compatible refresh keeps it.
    salt: u32,
    /// Whether it holds 6.1.0-50's symbols rather than 6.1.0-47's.
    refreshed: bool,
    /// Symbols gained in compatible refreshes since the last rewrite: a few
    /// at a time, so references keep a realistic size.
    added: usize,
}

impl Flavour {
    fn new(index: usize, name: String) -> Flavour {
        Flavour {
            index,
            name,
            salt: 0,
            refreshed: false,
            added: 0,
        }
    }

    fn write(&self, g: &mut Gen<'_>, abiname: u32, sets: &[&[Vec<u8>; 3]; 2]) {
        let base = &sets[usize::from(self.refreshed)][self.index / FLAVOURS_PER_FEATURESET];
        let salt = flavour_salt(self.index) ^ self.salt;
        g.write(
            &format!("debian/abi/6.1.0-{abiname}/{}", self.name),
            &derive(base, salt, self.added),
        );
    }

    /// New CRCs throughout (a hidden break, or a bump's fresh references).
    fn rewrite(
        &mut self,
        g: &mut Gen<'_>,
        abiname: u32,
        sets: &[&[Vec<u8>; 3]; 2],
        refreshed: bool,
        salt: u32,
    ) {
        (self.salt, self.refreshed, self.added) = (salt, refreshed, 0);
        self.write(g, abiname, sets);
    }

    /// A compatible refresh: `n` more exports, nothing else changed.
    fn add_exports(&mut self, g: &mut Gen<'_>, abiname: u32, sets: &[&[Vec<u8>; 3]; 2], n: usize) {
        self.added += n;
        self.write(g, abiname, sets);
    }
}

/// Builds the synthetic history of `commits` commits.
fn generate(dir: &Path, commits: usize) {
    let repo = Repository::init(dir).unwrap();
    let mut g = Gen::new(&repo);
    let bases = synthetic::bases("6.1.0-47");
    let changed = synthetic::bases("6.1.0-50");
    let mut flavours: Vec<Flavour> = flavour_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| Flavour::new(i, name))
        .collect();
    let mut abiname = 40;
    let mut version = 0u32;
    let sets = [&bases, &changed];
    g.write(
        "debian/changelog",
        common::changelog("6.1.100-1", "start").as_bytes(),
    );
    g.write(
        "debian/config/defines",
        format!("[abi]\nabiname: {abiname}\n").as_bytes(),
    );
    for f in &mut flavours {
        f.rewrite(&mut g, abiname, &sets, false, 0);
    }
    g.commit("Initial packaging");
    let mut state = 0x1234_5678_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for n in 1..commits {
        match n % 20 {
            // ~5% of commits touch debian/abi: cycle through kinds.
            0 => match (n / 20) % 10 {
                3 => {
                    // A hidden break: one featureset refreshed with other CRCs.
                    let fs = (n / 200) % 3;
                    for f in &mut flavours
                        [fs * FLAVOURS_PER_FEATURESET..(fs + 1) * FLAVOURS_PER_FEATURESET]
                    {
                        f.rewrite(&mut g, abiname, &sets, true, n as u32);
                    }
                    g.commit("Refresh ABI reference files");
                }
                7 => {
                    // A bump: new name, every reference rewritten.
                    g.index
                        .remove_dir(Path::new(&format!("debian/abi/6.1.0-{abiname}")), 0)
                        .unwrap();
                    abiname += 1;
                    g.write(
                        "debian/config/defines",
                        format!("[abi]\nabiname: {abiname}\n").as_bytes(),
                    );
                    for f in &mut flavours {
                        f.rewrite(&mut g, abiname, &sets, false, n as u32);
                    }
                    g.commit(&format!("Bump ABI to {abiname}"));
                }
                _ => {
                    // A compatible refresh of a couple of flavours.
                    for _ in 0..2 {
                        let i = (rand() % flavours.len() as u64) as usize;
                        flavours[i].add_exports(&mut g, abiname, &sets, 3);
                    }
                    g.commit("Add new exports to ABI reference");
                }
            },
            k if k % 3 == 0 => {
                version += 1;
                let entry = common::changelog("6.1.100-1", &format!("change {version}"));
                g.write("debian/changelog", entry.as_bytes());
                g.commit("Update changelog");
            }
            _ => {
                g.write(
                    &format!("debian/patches/bugfix/p{}.patch", rand() % 400),
                    format!("patch {n}\n").as_bytes(),
                );
                g.commit("Add patch");
            }
        }
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: walk the first `limit` commits and print peak memory.
fn child_walk(path: &Path, limit: usize) {
    let repo = Repository::open(path).unwrap();
    let mut walker = Walker::new(&repo, WalkOptions::default());
    let head = walker.resolve("HEAD").unwrap();
    let commits = walker.commits(None, head).unwrap();
    let to = commits[limit.min(commits.len()) - 1];
    // Counts only, as `scan --format json` keeps them: what is measured is
    // the walk, not the findings a long history accumulates.
    let mut scanner = Scanner::new("bench").counts_only();
    walker
        .walk(None, to, |_, _| {}, |s| scanner.visit(s))
        .unwrap();
    println!("{} {}", scanner.report.findings.len(), vm_hwm_kib());
}

fn main() {
    if let Ok(spec) = std::env::var("ABIBOT_BENCH_CHILD") {
        let (path, limit) = spec.rsplit_once(':').unwrap();
        child_walk(Path::new(path), limit.parse().unwrap());
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let commits = synthetic::commits_from_env(2_000);
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-history-{commits}"));
    let repo = synthetic::generated(&dir, commits, generate);

    let t = Instant::now();
    let mut walker = Walker::new(&repo, WalkOptions::default());
    let head = walker.resolve("HEAD").unwrap();
    let mut scanner = Scanner::new("bench");
    walker
        .walk(None, head, |_, _| {}, |s| scanner.visit(s))
        .unwrap();
    let walk_time = t.elapsed();
    let report = scanner.report;
    let parsed = walker
        .loader
        .stats
        .parsed
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut kinds = std::collections::BTreeMap::new();
    for f in &report.findings {
        *kinds.entry(f.kind.name()).or_insert(0) += 1;
    }
    println!(
        "abibot scan: {} commits in {walk_time:.2?}, {parsed} references parsed, findings {kinds:?}",
        report.commits_scanned
    );

    let blobs = synthetic::changed_blobs(&repo);
    let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
    let (null, piped) = synthetic::cat_file(&dir, input.as_bytes());
    let cat_time = std::time::Duration::from_secs_f64(null.wall);
    println!(
        "git cat-file --batch of the {} changed reference blobs ({} MB): {cat_time:.2?} to /dev/null, {:.2} s through a pipe",
        blobs.len(),
        piped.out_bytes >> 20,
        piped.wall
    );

    let all = walker.commits(None, head).unwrap();
    let sample: Vec<Oid> = all
        .iter()
        .step_by((all.len() / 40).max(1))
        .copied()
        .collect();
    let t = Instant::now();
    for oid in &sample {
        std::hint::black_box(synthetic::naive_commit(&repo, *oid));
    }
    let per_commit = t.elapsed() / sample.len() as u32;
    let naive_total = per_commit * all.len() as u32;
    println!(
        "naive (parse every reference at every commit): {per_commit:.2?}/commit on {} sampled commits -> {naive_total:.1?} for {}",
        sample.len(),
        all.len()
    );
    println!(
        "ratios: naive/abibot = {:.0}x, abibot/cat-file = {:.2}x",
        naive_total.as_secs_f64() / walk_time.as_secs_f64(),
        walk_time.as_secs_f64() / cat_time.as_secs_f64()
    );

    let exe = std::env::current_exe().unwrap();
    for limit in [all.len() / 4, all.len() / 2, all.len()] {
        let out = Command::new(&exe)
            .env("ABIBOT_BENCH_CHILD", format!("{}:{limit}", dir.display()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let hwm = text.split_whitespace().nth(1).unwrap_or("?");
        println!("peak memory walking {limit} commits: {hwm} KiB");
    }
}
