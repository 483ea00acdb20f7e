//! Git repositories built in temporary directories for tests, with blobs
//! staged straight into the index (no work tree files needed).
#![allow(dead_code)]

pub mod gcc;
pub mod markdown;

use std::path::{Path, PathBuf};

use abibot::history::scan::{ScanReport, Scanner};
use abibot::history::{WalkOptions, Walker};
use git2::{IndexEntry, Oid, Repository, Signature};

/// Real Debian reference files shipped in tests/data.
pub fn abi_file(abi: &str, flavour: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/debian-bookworm/abi")
        .join(abi)
        .join(flavour);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The three bookworm amd64 flavours in tests/data.
pub const FLAVOURS: [&str; 3] = [
    "amd64_none_amd64",
    "amd64_none_cloud-amd64",
    "amd64_rt_amd64",
];

/// Stages the three real bookworm amd64 references with the content of ABI
/// `content` under `debian/abi/<name>/` (`content` != `name` rewrites a
/// name's references with another ABI's CRCs).
pub fn write_real_references(r: &TestRepo, name: &str, content: &str) {
    for f in FLAVOURS {
        r.write(&format!("debian/abi/{name}/{f}"), abi_file(content, f));
    }
}

/// A Debian repository whose first commit ("Release 6.1.170-3") is ABI
/// 6.1.0-47 with its three real amd64 references; returns that commit too.
pub fn real_debian_repo() -> (TestRepo, Oid) {
    let r = debian_repo();
    write_real_references(&r, "6.1.0-47", "6.1.0-47");
    let release = r.commit("Release 6.1.170-3");
    (r, release)
}

/// A daemon configuration (polling every second) watching `r`'s current
/// branch as repository `linux`, posting to the GitHub API at `api_url`
/// for `forge_repo` with `token`, written to a file in `dir`, which also
/// holds the state. `repo_keys` are more lines of the `[[repo]]` table.
pub fn github_daemon_config(
    dir: &Path,
    r: &TestRepo,
    api_url: &str,
    forge_repo: &str,
    token: &str,
    repo_keys: &str,
) -> abibot::config::Config {
    let token_file = dir.join("token");
    std::fs::write(&token_file, token).unwrap();
    let branch = r.repo.head().unwrap().shorthand().unwrap().to_owned();
    let text = format!(
        "state = \"{state}\"\npoll_interval = \"1s\"\n[[repo]]\nname = \"linux\"\npath = \"{path}\"\nbranches = [\"{branch}\"]\n{repo_keys}[repo.github]\nrepo = \"{forge_repo}\"\napi_url = \"{api_url}\"\ntoken_file = \"{token}\"\n",
        state = dir.join("state.sqlite").display(),
        path = r.path().display(),
        token = token_file.display(),
    );
    abibot::config::Config::parse(&text, "abibot.toml").unwrap()
}

/// A daemon configuration file in `dir` watching `r`'s current branch from
/// its root (`backfill = true`) as repository `linux`, with its state in
/// `dir` and comments written to a file sink: (configuration, sink).
pub fn file_sink_daemon_config(dir: &Path, r: &TestRepo) -> (PathBuf, PathBuf) {
    let sink = dir.join("comments.jsonl");
    let branch = r.repo.head().unwrap().shorthand().unwrap().to_owned();
    let config = dir.join("abibot.toml");
    let text = format!(
        "state = \"{state}\"\n[[repo]]\nname = \"linux\"\npath = \"{repo}\"\n\
         branches = [\"{branch}\"]\nbackfill = true\n[repo.file]\npath = \"{sink}\"\n",
        state = dir.join("state.sqlite").display(),
        repo = r.path().display(),
        sink = sink.display(),
    );
    std::fs::write(&config, text).unwrap();
    (config, sink)
}

/// An index entry for a regular file at `path`, for `Index::add_frombuffer`.
pub fn blob_entry(path: &str) -> IndexEntry {
    abibot::history::file_entry(path, Oid::ZERO_SHA1)
}

/// A Debian packaging repository for ABI `6.1.0-47` (changelog and defines
/// staged, nothing committed yet).
pub fn debian_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write("debian/changelog", changelog("6.1.170-3", "a"));
    r.write("debian/config/defines", defines("47", &[]));
    r
}

/// An Ubuntu packaging repository on the branch `debian.master` at ABI
/// version `5.15.0-91.101` (`debian/debian.env` and `abi/version` staged,
/// no reference, nothing committed yet).
pub fn ubuntu_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write("debian/debian.env", "DEBIAN=debian.master\n");
    r.write("debian.master/abi/version", "5.15.0-91.101\n");
    r
}

/// A Debian repository whose history is a release and then a hidden break
/// (`kmalloc`'s CRC changes under the same ABI name); returns the break.
pub fn hidden_break_repo() -> (TestRepo, Oid) {
    let repo = debian_repo();
    repo.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kmalloc", 1), ("kfree", 2)]),
    );
    repo.commit("Release 6.1.170-3");
    repo.write(
        "debian/abi/6.1.0-47/amd64_none_amd64",
        symvers(&[("kmalloc", 9), ("kfree", 2)]),
    );
    let broken = repo.commit("Refresh ABI reference files");
    (repo, broken)
}

/// A loopback port nothing listens on (bound, then released), for a health
/// endpoint or a remote that refuses connections.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM to a child process (the daemon's graceful stop).
pub fn sigterm(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// What a walk of a whole history found and what it cost.
pub struct Scanned {
    pub report: ScanReport,
    /// References parsed.
    pub parsed: usize,
    /// Layout reads.
    pub snapshots: usize,
    /// Tree lookups.
    pub lookups: usize,
}

/// Scans the whole history of `repo` and keeps the walker's counters.
pub fn scan_counted(repo: &TestRepo, options: WalkOptions) -> Scanned {
    let mut walker = Walker::new(&repo.repo, options);
    let head = walker.resolve("HEAD").unwrap();
    let mut scanner = Scanner::new("test");
    walker
        .walk(None, head, |_, _| {}, |s| scanner.visit(s))
        .unwrap();
    let parsed = walker
        .loader
        .stats
        .parsed
        .load(std::sync::atomic::Ordering::Relaxed);
    Scanned {
        report: scanner.finish(),
        parsed,
        snapshots: walker.snapshots_read,
        lookups: walker.tree_lookups,
    }
}

/// Scans the whole history of `repo`; returns the report, the number of
/// references parsed and of layout reads.
pub fn scan_with(repo: &TestRepo, options: WalkOptions) -> (ScanReport, usize, usize) {
    let s = scan_counted(repo, options);
    (s.report, s.parsed, s.snapshots)
}

/// Walk options for a generic layout: `abi/{arch}/{flavour}.symvers`
/// references, the ABI name from `ABI_NAME = ...` in `VERSION`.
pub fn generic_options() -> WalkOptions {
    let config: abibot::layouts::generic::GenericConfig = toml::from_str(
        r#"
        references = "abi/{arch}/{flavour}.symvers"
        format = "symvers"
        abi_file = "VERSION"
        abi_regex = '^ABI_NAME\s*=\s*(\S+)'
        "#,
    )
    .unwrap();
    let generic = abibot::layouts::generic::Generic::new(config).unwrap();
    WalkOptions {
        layout: Some(abibot::layouts::Layout::generic(generic)),
        ..WalkOptions::default()
    }
}

/// Runs the built `abibot` binary: exit code, stdout, stderr. `RUST_LOG` is
/// not passed on, so a developer's setting cannot change what tests read.
pub fn abibot(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_abibot"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `abibot COMMAND --repo <repo> EXTRA...`.
pub fn abibot_on(command: &str, repo: &TestRepo, extra: &[&str]) -> (i32, String, String) {
    let path = repo.path().to_str().unwrap();
    abibot(&[&[command, "--repo", path], extra].concat())
}

/// A daemon configuration watching `repo`'s `branches` (backfill) as
/// repository `linux`, with `extra` lines in its `[[repo]]`, posting to a
/// file sink: the configuration's path and the sink's, both named `tag`.
pub fn file_sink_config(
    dir: &Path,
    tag: &str,
    repo: &Path,
    branches: &[&str],
    extra: &str,
) -> (PathBuf, PathBuf) {
    let sink = dir.join(format!("{tag}.jsonl"));
    let text = format!(
        "state = \"{state}\"\n[[repo]]\nname = \"linux\"\npath = \"{repo}\"\n\
         branches = {branches:?}\nbackfill = true\n{extra}\n[repo.file]\npath = \"{sink}\"\n",
        state = dir.join(format!("{tag}.sqlite")).display(),
        repo = repo.display(),
        sink = sink.display(),
    );
    let path = dir.join(format!("{tag}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, sink)
}

/// `scan --post --config <config> --format json`, as arguments.
pub fn post_args(config: &Path) -> Vec<String> {
    let config = config.to_str().unwrap();
    ["scan", "--post", "--config", config, "--format", "json"]
        .map(String::from)
        .to_vec()
}

/// `daemon --once` on one configuration (exit 0), then `scan --post` on
/// another describing the same repository (exit 1: it has findings);
/// `scan --post`'s JSON.
pub fn daemon_once_then_post(daemon: &Path, post: &Path) -> String {
    let (code, _, err) = abibot(&["daemon", "--once", "--config", daemon.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let args = post_args(post);
    let (code, json, err) = abibot(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1, "{err}");
    json
}

/// A real bookworm module (6.1.0-50's `fat.ko`) in tests/data.
pub const FAT_KO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/debian-bookworm/modules/6.1.0-50/fat.ko"
);

/// `abibot check-module MODULE --against FILE --format json`, with
/// `reference` written to a temporary FILE: the loader's own verdict.
pub fn check_module_against(module: &str, reference: &[u8]) -> (i32, String, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), reference).unwrap();
    let against = file.path().to_str().unwrap();
    abibot(&[
        "check-module",
        module,
        "--against",
        against,
        "--format",
        "json",
    ])
}

/// A repository under construction.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        TestRepo { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Stages `bytes` at `path`.
    pub fn write(&self, path: &str, bytes: impl AsRef<[u8]>) -> &Self {
        let mut index = self.repo.index().unwrap();
        index
            .add_frombuffer(&blob_entry(path), bytes.as_ref())
            .unwrap();
        index.write().unwrap();
        self
    }

    /// Stages an entry that `write` cannot: a raw (possibly non-UTF-8)
    /// path, any git file mode (0o120000 symlink, 0o160000 submodule,
    /// 0o100755 executable) and `bytes` as its blob, or with a submodule
    /// mode, `gitlink` as the commit it points to.
    pub fn write_raw(&self, path: &[u8], mode: u32, bytes: &[u8], gitlink: Option<Oid>) -> &Self {
        let mut entry = blob_entry("");
        entry.path = path.to_vec();
        entry.mode = mode;
        let mut index = self.repo.index().unwrap();
        match gitlink {
            Some(id) => {
                entry.id = id;
                index.add(&entry).unwrap();
            }
            None => index.add_frombuffer(&entry, bytes).unwrap(),
        }
        index.write().unwrap();
        self
    }

    /// Stages the removal of a file or a whole directory.
    pub fn remove(&self, path: &str) -> &Self {
        let mut index = self.repo.index().unwrap();
        if index.get_path(Path::new(path), 0).is_some() {
            index.remove_path(Path::new(path)).unwrap();
        } else {
            index.remove_dir(Path::new(path), 0).unwrap();
        }
        index.write().unwrap();
        self
    }

    /// Moves every file under `from/` to `to/`.
    pub fn rename_dir(&self, from: &str, to: &str) -> &Self {
        let index = self.repo.index().unwrap();
        let moves: Vec<(String, Oid)> = index
            .iter()
            .filter_map(|e| {
                let p = String::from_utf8(e.path.clone()).unwrap();
                p.strip_prefix(&format!("{from}/"))
                    .map(|rest| (format!("{to}/{rest}"), e.id))
            })
            .collect();
        for (path, id) in moves {
            let blob = self.repo.find_blob(id).unwrap();
            self.write(&path, blob.content());
        }
        self.remove(from)
    }

    /// Commits the index on HEAD (with extra parents for a merge).
    pub fn commit_with_parents(&self, message: &str, extra: &[Oid]) -> Oid {
        let mut index = self.repo.index().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = Signature::new(
            "Test",
            "test@example.org",
            &git2::Time::new(1_700_000_000, 0),
        )
        .unwrap();
        let mut parents: Vec<git2::Commit<'_>> = match self.repo.head() {
            Ok(head) => vec![head.peel_to_commit().unwrap()],
            Err(_) => vec![],
        };
        parents.extend(extra.iter().map(|id| self.repo.find_commit(*id).unwrap()));
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &refs)
            .unwrap()
    }

    pub fn commit(&self, message: &str) -> Oid {
        self.commit_with_parents(message, &[])
    }
}

/// `debian/changelog` whose first line carries `version`, released to
/// bookworm-security.
pub fn changelog(version: &str, body: &str) -> String {
    changelog_to(version, "bookworm-security", body)
}

/// `debian/changelog` whose first entry is `version` for `distribution`
/// (`UNRELEASED` while being prepared).
pub fn changelog_to(version: &str, distribution: &str, body: &str) -> String {
    format!(
        "linux ({version}) {distribution}; urgency=high\n\n  * {body}\n\n -- Test <test@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
    )
}

/// `debian/config/defines` with `abiname` and optional ignore entries.
pub fn defines(abiname: &str, ignore: &[&str]) -> String {
    let mut text = format!("[abi]\nabiname: {abiname}\n");
    if !ignore.is_empty() {
        text.push_str("ignore-changes:\n");
        for entry in ignore {
            text.push_str(&format!(" {entry}\n"));
        }
    }
    text.push_str("\n[base]\narches:\n amd64\n");
    text
}

/// A kABI stablelist entry (`redhat/kabi/kabi-module/kabi_<arch>/<name>`).
pub fn kabi_entry(crc: u32, name: &str) -> String {
    format!("#2-\n0x{crc:08x}\t{name}\tvmlinux\tEXPORT_SYMBOL\t\n")
}

/// Each finding of `report` as (kind, commit title, ABI name).
pub fn findings_of(report: &ScanReport) -> Vec<(abibot::findings::FindingKind, String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.kind, f.title.clone(), f.abi.to_string()))
        .collect()
}

/// A small Module.symvers body: `name crc` pairs in vmlinux.
pub fn symvers(symbols: &[(&str, u32)]) -> String {
    symbols
        .iter()
        .map(|(name, crc)| format!("0x{crc:08x}\t{name}\tvmlinux\tEXPORT_SYMBOL\t\n"))
        .collect()
}
