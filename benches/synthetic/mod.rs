//! The synthetic Debian-scale packaging histories the benchmarks generate:
//! 30 flavours derived from Debian's real references, committed straight
//! from an index (no work tree), one minute apart.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use git2::{Repository, Signature};

/// The history's length: `ABIBOT_BENCH_COMMITS`, else `default`.
pub fn commits_from_env(default: usize) -> usize {
    std::env::var("ABIBOT_BENCH_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Opens the repository at `dir`, generating it first with `generate` unless
/// an earlier run left it there: generation takes minutes at full size.
pub fn generated(dir: &Path, commits: usize, generate: impl FnOnce(&Path, usize)) -> Repository {
    if !dir.join(".git/HEAD").exists() {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let t = Instant::now();
        generate(dir, commits);
        eprintln!("generated {commits} commits in {:.1?}", t.elapsed());
    }
    Repository::open(dir).unwrap()
}

/// The featuresets of the synthetic flavours, each derived from one real
/// reference (in [`BASE_FILES`] order).
pub const FEATURESETS: [&str; 3] = ["none", "rt", "cloud"];
/// Flavours per featureset: 30 in all, as in a large real ABI directory.
pub const FLAVOURS_PER_FEATURESET: usize = 10;
/// The real bookworm amd64 references the featuresets derive from.
const BASE_FILES: [&str; 3] = [
    "amd64_none_amd64",
    "amd64_rt_amd64",
    "amd64_none_cloud-amd64",
];

/// The real references of ABI `abi` (`6.1.0-47`), one per featureset.
pub fn bases(abi: &str) -> [Vec<u8>; 3] {
    BASE_FILES.map(|file| crate::common::abi_file(abi, file))
}

/// The name of flavour `index`: `amd64_<featureset>_f<n>`.
pub fn flavour_name(index: usize) -> String {
    format!(
        "amd64_{}_f{}",
        FEATURESETS[index / FLAVOURS_PER_FEATURESET],
        index % FLAVOURS_PER_FEATURESET
    )
}

/// Xor-ed into every CRC of flavour `index` (with the caller's own salt), so
/// that no two flavours share a blob.
pub fn flavour_salt(index: usize) -> u32 {
    (index as u32 + 1).wrapping_mul(0x9e37_79b9)
}

/// A flavour derived from a real file: every CRC xor-ed with `salt`,
/// optionally with `extra` added symbols.
pub fn derive(base: &[u8], salt: u32, extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + extra * 64);
    for line in base.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let text = std::str::from_utf8(line).unwrap();
        let (crc, rest) = text.split_once('\t').unwrap();
        let crc = u32::from_str_radix(&crc[2..], 16).unwrap() ^ salt;
        writeln!(out, "0x{crc:08x}\t{rest}").unwrap();
    }
    for i in 0..extra {
        writeln!(
            out,
            "0x{:08x}\tbench_added_{i}\tvmlinux\tEXPORT_SYMBOL\t",
            0x1000 + i
        )
        .unwrap();
    }
    out
}

/// Writes commits into a repository through its index.
pub struct Gen<'r> {
    /// The repository being generated.
    pub repo: &'r Repository,
    /// What the next commit's tree holds.
    pub index: git2::Index,
    /// The last commit's time: each commit comes a minute later, so the
    /// history has a stable order.
    time: i64,
}

impl Gen<'_> {
    /// Starts writing into `repo` with its current index.
    pub fn new(repo: &Repository) -> Gen<'_> {
        Gen {
            repo,
            index: repo.index().unwrap(),
            time: 1_600_000_000,
        }
    }

    /// Stages `bytes` at `path` for the next commit.
    pub fn write(&mut self, path: &str, bytes: &[u8]) {
        self.index
            .add_frombuffer(&crate::common::blob_entry(path), bytes)
            .unwrap();
    }

    /// Commits what is staged on top of HEAD.
    pub fn commit(&mut self, message: &str) {
        self.time += 60;
        let tree = self
            .repo
            .find_tree(self.index.write_tree().unwrap())
            .unwrap();
        let sig =
            Signature::new("Bench", "bench@example.org", &git2::Time::new(self.time, 0)).unwrap();
        let parent = self.repo.head().ok().map(|h| h.peel_to_commit().unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap();
    }
}
