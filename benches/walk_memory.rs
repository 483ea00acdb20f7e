//! Peak memory of `abibot scan` on a history that churns references at
//! every commit: 30 flavours of ~25k symbols derived from Debian's real
//! files, 2,000 commits (issue 14's 30 flavours x 2,000 commits with
//! references touched at every commit), each rewriting the CRCs of 3
//! flavours (a hidden break per commit, rotating through the flavours), and
//! a bump rewriting all 30 every 250 commits.
//!
//! The repository is generated once under `target/bench-walk-memory-*`.
//! Each measurement runs the built `abibot scan --format json` as a child
//! and reads its peak resident set from `wait4` (`ru_maxrss`): after the
//! first 100, 500, 1,000 and 2,000 commits with the default budget, then
//! the whole history with other budgets (`--cache-mib`). Last, the
//! daemon's first start on the whole history (`daemon --once` backfilling
//! into a file sink), its peak resident set and time beside the scan's.
//!
//! Run: `cargo bench --bench walk_memory` (env `ABIBOT_BENCH_COMMITS`,
//! `ABIBOT_BENCH_BUDGETS`: comma-separated MiB, `default` for none).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use git2::{Oid, Repository};

#[path = "../tests/common/mod.rs"]
mod common;
mod synthetic;

use synthetic::{FEATURESETS, FLAVOURS_PER_FEATURESET, Gen, derive, flavour_name, flavour_salt};

/// Flavours rewritten by every commit.
const CHURN: usize = 3;
/// Every this many commits, a bump rewrites every flavour under a new name.
const BUMP_EVERY: usize = 250;

/// Writes flavour `index` under ABI `abiname`, its CRCs salted with `salt`.
fn write_flavour(g: &mut Gen<'_>, bases: &[Vec<u8>; 3], abiname: u32, index: usize, salt: u32) {
    let base = &bases[index / FLAVOURS_PER_FEATURESET];
    let salt = salt ^ flavour_salt(index);
    let path = format!("debian/abi/6.1.0-{abiname}/{}", flavour_name(index));
    g.write(&path, &derive(base, salt, 0));
}

fn generate(dir: &Path, commits: usize) {
    let bases = synthetic::bases("6.1.0-47");
    let repo = Repository::init(dir).unwrap();
    let mut g = Gen::new(&repo);
    let flavours = FEATURESETS.len() * FLAVOURS_PER_FEATURESET;
    let mut abiname = 40;
    let changelog = common::changelog("6.1.100-1", "start");
    g.write("debian/changelog", changelog.as_bytes());
    for n in 0..commits {
        if n % BUMP_EVERY == 0 {
            if n > 0 {
                let old = format!("debian/abi/6.1.0-{abiname}");
                g.index.remove_dir(Path::new(&old), 0).unwrap();
                abiname += 1;
            }
            let defines = format!("[abi]\nabiname: {abiname}\n");
            g.write("debian/config/defines", defines.as_bytes());
            for i in 0..flavours {
                write_flavour(&mut g, &bases, abiname, i, n as u32);
            }
            g.commit(&format!("Bump ABI to {abiname}"));
            continue;
        }
        for k in 0..CHURN {
            write_flavour(
                &mut g,
                &bases,
                abiname,
                (n * CHURN + k) % flavours,
                n as u32,
            );
        }
        g.commit("Refresh ABI reference files");
    }
}

/// Runs `abibot scan` up to `to`; returns peak RSS in KiB, wall seconds and
/// the JSON report.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its own rusage"
)]
fn measure(dir: &Path, to: Oid, budget: Option<&str>) -> (i64, f64, serde_json::Value) {
    let out_path = dir.with_extension("json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_abibot"));
    command
        .args(["scan", "--format", "json", "--repo"])
        .arg(dir)
        .args(["--branch", &to.to_string()])
        .stdout(File::create(&out_path).unwrap())
        .stderr(Stdio::inherit());
    if let Some(mib) = budget {
        command.args(["--cache-mib", mib]);
    }
    let t = Instant::now();
    let child = command.spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let report = std::fs::read_to_string(&out_path).unwrap();
    let report = serde_json::from_str(&report).unwrap_or(serde_json::Value::Null);
    (usage.ru_maxrss, wall, report)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let commits = synthetic::commits_from_env(2_000);
    let budgets = std::env::var("ABIBOT_BENCH_BUDGETS").unwrap_or_else(|_| "128,512".into());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-walk-memory-30x{commits}"));
    let repo = synthetic::generated(&dir, commits, generate);
    let mut walk = repo.revwalk().unwrap();
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .unwrap();
    walk.push_head().unwrap();
    let all: Vec<Oid> = walk.map(Result::unwrap).collect();
    let mut runs: Vec<(usize, Option<&str>)> = [100, 500, 1_000, commits]
        .into_iter()
        .filter(|&n| n <= commits)
        .map(|n| (n, None))
        .collect();
    runs.dedup();
    for mib in budgets
        .split(',')
        .filter(|b| !b.is_empty() && *b != "default")
    {
        runs.push((commits, Some(mib)));
    }
    let mut whole_scan = None;
    for (limit, budget) in runs {
        let (kib, wall, report) = measure(&dir, all[limit - 1], budget);
        let stats = &report["stats"];
        println!(
            "{limit} commits, budget {} MiB: peak RSS {} MiB, {wall:.1} s, {} findings, {} references parsed, {} cache hits",
            budget.unwrap_or("default"),
            kib / 1024,
            report["findings"].as_array().map_or(0, Vec::len),
            stats["references_parsed"],
            stats["cache_hits"]
        );
        if limit == commits && budget.is_none() {
            whole_scan = Some(wall);
        }
    }
    let work = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_abibot"));
    let (daemon, comments) = synthetic::backfill(bin, &dir, work.path());
    println!(
        "daemon --once backfill of the {commits} commits, default budget: peak RSS {} MiB, {:.1} s ({:.2}x the scan's), {comments} comments",
        daemon.peak_kib / 1024,
        daemon.wall,
        daemon.wall / whole_scan.unwrap_or(f64::NAN)
    );
}
