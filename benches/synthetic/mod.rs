//! The synthetic Debian-scale packaging histories the benchmarks generate:
//! 30 flavours derived from Debian's real references, committed straight
//! from an index (no work tree), one minute apart; and the baselines they
//! are timed beside. Each bench uses part of it.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use git2::{Repository, Signature};

/// The history's length: `ABIBOT_BENCH_COMMITS`, else `default`.
pub fn commits_from_env(default: usize) -> usize {
    count_from_env("ABIBOT_BENCH_COMMITS", default)
}

/// A count from environment variable `var`, else `default`.
pub fn count_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
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

/// Blob ids under `debian/abi` that the commits up to HEAD introduce, each
/// once (what any tool must at least read).
pub fn changed_blobs(repo: &Repository) -> Vec<git2::Oid> {
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for oid in walk {
        let commit = repo.find_commit(oid.unwrap()).unwrap();
        let tree = commit.tree().unwrap();
        let parent = commit.parent(0).ok().map(|p| p.tree().unwrap());
        let mut opts = git2::DiffOptions::new();
        opts.pathspec("debian/abi");
        let diff = repo
            .diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut opts))
            .unwrap();
        for delta in diff.deltas() {
            let id = delta.new_file().id();
            if !id.is_zero() && seen.insert(id) {
                out.push(id);
            }
        }
    }
    out
}

/// The naive baseline at one commit: reads and parses every reference under
/// `debian/abi`; returns the symbols parsed.
pub fn naive_commit(repo: &Repository, oid: git2::Oid) -> usize {
    let tree = repo.find_commit(oid).unwrap().tree().unwrap();
    let abi = repo
        .find_tree(tree.get_path(Path::new("debian/abi")).unwrap().id())
        .unwrap();
    let mut symbols = 0;
    for dir in abi.iter() {
        let dir = repo.find_tree(dir.id()).unwrap();
        for file in dir
            .iter()
            .filter(|e| e.kind() == Some(git2::ObjectType::Blob))
        {
            let blob = repo.find_blob(file.id()).unwrap();
            symbols += abibot::formats::parse(blob.content(), None, "naive")
                .unwrap()
                .len();
        }
    }
    symbols
}

/// Wall and CPU (user + system) seconds of a child process, and the bytes
/// it printed.
pub struct Timed {
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User plus system CPU seconds of the child (all its threads).
    pub cpu: f64,
    /// Bytes written to its standard output.
    pub out_bytes: usize,
    /// Its peak resident set, in KiB (`ru_maxrss`).
    pub peak_kib: i64,
}

/// Runs `command` with `input` on its standard input and times it through
/// `wait4` (which gives the child's own CPU time), reading its standard
/// output through a pipe and dropping it; panics if it fails.
pub fn timed(command: &mut std::process::Command, input: Vec<u8>) -> Timed {
    run_timed(command, input, true)
}

/// Like [`timed`], with the standard output going to `/dev/null`: a
/// floor without the cost of a pipe (`git cat-file --batch > /dev/null`).
pub fn timed_to_null(command: &mut std::process::Command, input: Vec<u8>) -> Timed {
    run_timed(command, input, false)
}

#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also gives its own rusage"
)]
fn run_timed(command: &mut std::process::Command, input: Vec<u8>, piped: bool) -> Timed {
    use std::io::Read as _;
    use std::process::Stdio;
    let t = Instant::now();
    let stdout = if piped { Stdio::piped() } else { Stdio::null() };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let mut out_bytes = 0;
    if let Some(mut stdout) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match stdout.read(&mut buf).unwrap() {
                0 => break,
                n => out_bytes += n,
            }
        }
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert_eq!(status, 0, "{command:?} failed");
    feeder.join().unwrap().unwrap();
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Timed {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        out_bytes,
        peak_kib: usage.ru_maxrss,
    }
}

/// The floor of reading `blobs` (one id a line) from the repository at
/// `dir`: `git cat-file --batch` with its output to `/dev/null`, then
/// read through a pipe and dropped (collecting it would time the
/// collecting).
pub fn cat_file(dir: &Path, blobs: &[u8]) -> (Timed, Timed) {
    let cat = || {
        let mut command = std::process::Command::new("git");
        command.args(["cat-file", "--batch"]).current_dir(dir);
        command
    };
    let null = timed_to_null(&mut cat(), blobs.to_vec());
    let piped = timed(&mut cat(), blobs.to_vec());
    (null, piped)
}

/// The daemon's first start on `repo`: `abibot daemon --once` backfilling
/// its checked-out branch into a file sink, with a state database created
/// in the fresh directory `work`. Returns the run and the comments posted.
pub fn backfill(bin: &Path, repo: &Path, work: &Path) -> (Timed, usize) {
    let branch = Repository::open(repo).unwrap();
    let branch = branch.head().unwrap();
    let config = work.join("abibot.toml");
    let toml = format!(
        "state = \"state.db\"\n\
         [[repo]]\nname = \"bench\"\npath = \"{}\"\nbranches = [\"{}\"]\nbackfill = true\n\
         [repo.file]\npath = \"comments.jsonl\"\n",
        repo.display(),
        branch.shorthand().unwrap()
    );
    std::fs::write(&config, toml).unwrap();
    let run = timed(
        std::process::Command::new(bin)
            .args(["daemon", "--once", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn"),
        Vec::new(),
    );
    let comments = std::fs::read_to_string(work.join("comments.jsonl")).unwrap_or_default();
    (run, comments.lines().count())
}

/// CPU seconds (user + system) this process has used so far.
pub fn own_cpu() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The machine's 1-minute load average, as `/proc/loadavg` gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
