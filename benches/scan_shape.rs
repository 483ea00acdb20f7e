//! `abibot scan` on the history shape of issue 14, beside its floor and the
//! naive baseline, timed in one run:
//! - 1,000 commits, every one touching `debian/changelog`;
//! - 12 flavours (4 per featureset) derived from Debian's real references
//!   (14-25k symbols each), CRCs salted per flavour;
//! - 5 bumps rewriting all 12 references under a new ABI name, and a
//!   compatible refresh of one flavour every 16 commits: about 120
//!   distinct reference blobs, about 170 MB of reference text.
//!
//! Timed, alternating, `ABIBOT_BENCH_RUNS` times each (default 3), with the
//! wall and CPU (user + system) time of each child process:
//! - `git cat-file --batch` of the distinct reference blobs (the floor:
//!   the least any tool must read), to `/dev/null` and through a pipe;
//! - the built `abibot scan --format json` (a child process, as a user
//!   runs it), and any other build listed in `ABIBOT_BENCH_OTHER_BINS`
//!   (colon-separated paths) in the same round, for before and after;
//! - this build's `abibot daemon --once` backfilling the history into a
//!   file sink from a fresh state (the daemon's first start: the same walk,
//!   each finding recorded and rendered as its commit is scanned);
//! - naive: read and parse every reference at every commit, timed on 40
//!   evenly spaced commits and scaled to the history.
//!
//! The repository is generated once under `target/bench-scan-shape-*`.
//! Run: `cargo bench --bench scan_shape` (env `ABIBOT_BENCH_COMMITS`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use git2::Oid;

#[path = "../tests/common/mod.rs"]
mod common;
mod synthetic;

use synthetic::{FEATURESETS, Gen, derive, flavour_salt};

/// Flavours per featureset: 12 in all.
const PER_FEATURESET: usize = 4;
/// Every this many commits, a bump rewrites every reference.
const BUMP_EVERY: usize = 200;
/// Every this many commits (offset by half), one flavour gains exports.
const REFRESH_EVERY: usize = 16;

fn flavour_name(index: usize) -> String {
    format!(
        "amd64_{}_f{}",
        FEATURESETS[index / PER_FEATURESET],
        index % PER_FEATURESET
    )
}

/// Builds the history: see the module docs.
fn generate(dir: &Path, commits: usize) {
    let repo = git2::Repository::init(dir).unwrap();
    let mut g = Gen::new(&repo);
    let bases = synthetic::bases("6.1.0-47");
    let flavours = FEATURESETS.len() * PER_FEATURESET;
    // Exports added to each flavour since its last rewrite.
    let mut added = vec![0usize; flavours];
    let mut abiname = 40;
    let write = |g: &mut Gen<'_>, abiname: u32, i: usize, salt: u32, added: usize| {
        let base = &bases[i / PER_FEATURESET];
        let path = format!("debian/abi/6.1.0-{abiname}/{}", flavour_name(i));
        g.write(&path, &derive(base, salt ^ flavour_salt(i), added));
    };
    for n in 0..commits {
        // Every commit touches the changelog, as a busy packaging branch does.
        let entry = common::changelog("6.1.100-1", &format!("change {n}"));
        g.write("debian/changelog", entry.as_bytes());
        if n % BUMP_EVERY == 0 {
            if n > 0 {
                let old = format!("debian/abi/6.1.0-{abiname}");
                g.index.remove_dir(Path::new(&old), 0).unwrap();
                abiname += 1;
            }
            g.write(
                "debian/config/defines",
                format!("[abi]\nabiname: {abiname}\n").as_bytes(),
            );
            for (i, a) in added.iter_mut().enumerate() {
                *a = 0;
                write(&mut g, abiname, i, n as u32, 0);
            }
            g.commit(&format!("Bump ABI to {abiname}"));
        } else if n % REFRESH_EVERY == REFRESH_EVERY / 2 {
            let i = (n / REFRESH_EVERY) % flavours;
            added[i] += 3;
            let salt = (n / BUMP_EVERY * BUMP_EVERY) as u32;
            write(&mut g, abiname, i, salt, added[i]);
            g.commit("Add new exports to ABI reference");
        } else {
            g.commit("Update changelog");
        }
    }
}

/// The `abibot` binaries timed: this build's, then any listed in
/// `ABIBOT_BENCH_OTHER_BINS` (colon-separated: earlier builds kept aside,
/// to time before and after in one run).
fn binaries() -> Vec<PathBuf> {
    let mut bins = vec![PathBuf::from(env!("CARGO_BIN_EXE_abibot"))];
    if let Ok(others) = std::env::var("ABIBOT_BENCH_OTHER_BINS") {
        bins.extend(
            others
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        );
    }
    bins
}

/// One round: the floor (`git cat-file --batch` to `/dev/null`, then
/// through a pipe read as `abibot` reads it), then `abibot scan` with each
/// binary; (wall, cpu) of each.
fn round(dir: &Path, input: &[u8], bins: &[PathBuf]) -> Vec<(f64, f64)> {
    let (null, piped) = synthetic::cat_file(dir, input);
    let mut out = vec![(null.wall, null.cpu), (piped.wall, piped.cpu)];
    for bin in bins {
        let scan = synthetic::timed(
            Command::new(bin)
                .args(["scan", "--format", "json", "--repo"])
                .arg(dir),
            Vec::new(),
        );
        out.push((scan.wall, scan.cpu));
    }
    out
}

/// The naive baseline's (wall, cpu) per commit, on 40 evenly spaced commits.
fn naive(repo: &git2::Repository, all: &[Oid]) -> (f64, f64) {
    let sample: Vec<Oid> = all
        .iter()
        .step_by((all.len() / 40).max(1))
        .copied()
        .collect();
    let (t, cpu) = (Instant::now(), synthetic::own_cpu());
    for oid in &sample {
        std::hint::black_box(synthetic::naive_commit(repo, *oid));
    }
    let n = sample.len() as f64;
    (
        t.elapsed().as_secs_f64() / n,
        (synthetic::own_cpu() - cpu) / n,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let commits = synthetic::commits_from_env(1_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-scan-shape-{commits}"));
    let repo = synthetic::generated(&dir, commits, generate);
    let blobs = synthetic::changed_blobs(&repo);
    let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    let all: Vec<Oid> = walk.map(Result::unwrap).collect();
    let size: usize = blobs
        .iter()
        .map(|b| repo.find_blob(*b).unwrap().size())
        .sum();
    println!(
        "{} commits, {} distinct reference blobs, {} MB of reference text, load average {}",
        all.len(),
        blobs.len(),
        size / 1_000_000,
        synthetic::load_average()
    );
    let runs = synthetic::count_from_env("ABIBOT_BENCH_RUNS", 3);
    let bins = binaries();
    for run in 1..=runs {
        let times = round(&dir, input.as_bytes(), &bins);
        let ((cw, cc), (pw, pc)) = (times[0], times[1]);
        println!(
            "run {run}: git cat-file --batch > /dev/null {cw:.2} s wall / {cc:.2} s cpu; through a pipe {pw:.2} s / {pc:.2} s"
        );
        for (bin, (sw, sc)) in bins.iter().zip(&times[2..]) {
            println!(
                "  {} scan --format json: {sw:.2} s wall / {sc:.2} s cpu ({:.2}x the floor's wall)",
                bin.display(),
                sw / cw
            );
        }
        let work = tempfile::tempdir().unwrap();
        let (daemon, comments) = synthetic::backfill(&bins[0], &dir, work.path());
        println!(
            "  {} daemon --once (backfill, {comments} comments): {:.2} s wall / {:.2} s cpu ({:.2}x the floor's wall, {:.2}x its scan's)",
            bins[0].display(),
            daemon.wall,
            daemon.cpu,
            daemon.wall / cw,
            daemon.wall / times[2].0
        );
        println!("  load average {}", synthetic::load_average());
    }
    let (per_wall, per_cpu) = naive(&repo, &all);
    let n = all.len() as f64;
    println!(
        "naive (parse every reference at every commit): {:.1} ms/commit -> {:.1} s wall / {:.1} s cpu for {} commits",
        per_wall * 1e3,
        per_wall * n,
        per_cpu * n,
        all.len()
    );
}
