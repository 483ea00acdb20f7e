//! `abibot bisect --run`: real (tiny, deterministic) builds in temporary
//! worktrees of git2-built repositories, run through the binary so that
//! exit codes, temporary directories and signals are the real ones.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::TestRepo;
use git2::Oid;
use serde_json::Value;

/// The "build": turns the tracked `abi.txt` into a Module.symvers. Marker
/// files make a revision unbuildable (`SKIP`, exit 125), broken (`FAIL`),
/// or slow (`SLOW`, holding the file to write the sleeper's pid to).
const BUILD_SH: &str = r#"set -e
echo "building $ABIBOT_REV in $(pwd)"
if [ -e SKIP ]; then echo "this revision cannot be built" >&2; exit 125; fi
if [ -e FAIL ]; then echo "compiler error" >&2; exit 3; fi
if [ -e SLOW ]; then sleep 30 & echo $! > "$(cat SLOW)"; wait; fi
while read -r name crc; do
  printf '%s\t%s\tvmlinux\tEXPORT_SYMBOL\t\n' "$crc" "$name"
done < abi.txt > Module.symvers
"#;

fn abi_txt(crc_x: u32, fillers: usize) -> String {
    let mut out = String::from("stable_a 0x00000001\nstable_b 0x00000002\n");
    out.push_str(&format!("symbol_x 0x{crc_x:08x}\n"));
    for j in 0..fillers {
        out.push_str(&format!("filler_{j:03} 0x00000007\n"));
    }
    out
}

/// A repository whose commit `i` gets the files `files(i)` (path, content;
/// `None` removes), with a populated, dirty work tree and a staged change,
/// as a user's checkout would be.
fn repo(
    count: usize,
    files: impl Fn(usize) -> Vec<(&'static str, Option<String>)>,
) -> (TestRepo, Vec<Oid>) {
    let r = TestRepo::new();
    r.write("build.sh", BUILD_SH);
    let mut commits = Vec::new();
    for i in 0..count {
        for (path, content) in files(i) {
            match content {
                Some(text) => {
                    r.write(path, text);
                }
                None => {
                    let index = r.repo.index().unwrap();
                    if index.get_path(Path::new(path), 0).is_some() {
                        r.remove(path);
                    }
                }
            }
        }
        commits.push(r.commit(&format!("Commit {i}")));
    }
    r.repo
        .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    std::fs::write(r.path().join("abi.txt"), "user's uncommitted edit\n").unwrap();
    std::fs::write(r.path().join("untracked.txt"), "scratch notes\n").unwrap();
    r.write("staged.txt", "staged, not committed");
    (r, commits)
}

/// The user's side of the repository: every work tree file, the index,
/// HEAD, config and refs, byte for byte.
fn user_state(r: &TestRepo) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path == root.join(".git") {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(r.path(), r.path(), &mut out);
    for file in [".git/index", ".git/HEAD", ".git/config"] {
        let path = r.path().join(file);
        out.insert(path.clone(), std::fs::read(&path).unwrap());
    }
    let refs = git(r.path(), &["for-each-ref"]);
    out.insert(PathBuf::from("<refs>"), refs.into_bytes());
    out
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// No worktree but the user's is registered, and git's bookkeeping of
/// worktrees is gone.
fn assert_no_worktree_left(r: &TestRepo) {
    let list = git(r.path(), &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    assert!(!r.path().join(".git/worktrees").exists());
}

/// Nothing of a run is left but its keep dir: the user's side is as it
/// was, no worktree is registered, and the temporary directory is empty.
fn assert_left_clean(r: &TestRepo, before: &BTreeMap<PathBuf, Vec<u8>>, run: &Run) {
    assert_eq!(
        &user_state(r),
        before,
        "the user's checkout, index or refs changed"
    );
    assert_no_worktree_left(r);
    let left = entries(&run.tmpdir());
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A bisection run: its own TMPDIR (to see what it leaves there) and keep dir.
struct Run {
    tmp: tempfile::TempDir,
    keep: PathBuf,
    script: &'static str,
}

impl Run {
    fn new() -> Run {
        Run::with_script("sh build.sh")
    }

    fn with_script(script: &'static str) -> Run {
        let tmp = tempfile::tempdir().unwrap();
        let keep = tmp.path().join("keep");
        std::fs::create_dir(tmp.path().join("tmp")).unwrap();
        Run { tmp, keep, script }
    }

    fn tmpdir(&self) -> PathBuf {
        self.tmp.path().join("tmp")
    }

    fn command(&self, r: &TestRepo, good: Oid, bad: Oid, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_abibot"));
        c.env("TMPDIR", self.tmpdir())
            .arg("bisect")
            .arg("--repo")
            .arg(r.path())
            .args(["--good", &good.to_string(), "--bad", &bad.to_string()])
            .args(["--run", self.script, "--symvers", "Module.symvers"])
            .arg("--keep-dir")
            .arg(&self.keep)
            .args(extra);
        c
    }

    fn run(&self, r: &TestRepo, good: Oid, bad: Oid, extra: &[&str]) -> Output {
        self.command(r, good, bad, extra).output().unwrap()
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// 40 commits; `symbol_x` changes CRC at commit 27; commits 18 to 20
/// cannot be built. The range after commit 0 is indices 0..=38, and the
/// first middle probed, (-1 + 38) / 2 = 18, is commit 19: a skip.
fn skip_story() -> (TestRepo, Vec<Oid>) {
    repo(40, |i| {
        let crc = if i >= 27 { 0xbad } else { 0x600d };
        let skip = (18..=20).contains(&i).then(|| "no toolchain\n".to_owned());
        vec![("abi.txt", Some(abi_txt(crc, i))), ("SKIP", skip)]
    })
}

#[test]
fn builds_find_the_crc_change_skip_exit_125_and_leave_the_user_checkout_alone() {
    let (r, commits) = skip_story();
    let before = user_state(&r);
    let run = Run::new();
    let out = run.run(
        &r,
        commits[0],
        commits[39],
        &["--symbol", "symbol_x", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);

    let first = &doc["first_bad"];
    assert_eq!(first["commit"], commits[27].to_string());
    assert_eq!(first["title"], "Commit 27");
    let change = &first["changes"][0];
    assert_eq!(change["flavour"], "build");
    assert_eq!(change["changes"].as_array().unwrap().len(), 1);
    assert_eq!(change["changes"][0]["symbol"], "symbol_x");
    assert_eq!(change["changes"][0]["old"]["crc"], "0x0000600d");
    assert_eq!(change["changes"][0]["new"]["crc"], "0x00000bad");
    assert_eq!(first["maybe_earlier"], Value::Array(vec![]));

    let skipped = doc["skipped"].as_array().unwrap();
    assert!(!skipped.is_empty());
    for s in skipped {
        let i = commits
            .iter()
            .position(|c| s["commit"] == c.to_string())
            .unwrap();
        assert!((18..=20).contains(&i), "commit {i} skipped");
        assert!(s["reason"].as_str().unwrap().contains("125"), "{s}");
    }
    assert_eq!(skipped[0]["commit"], commits[19].to_string());

    let probes = doc["probes"].as_array().unwrap();
    assert_eq!(
        doc["work"]["builds"].as_u64().unwrap() as usize,
        probes.len()
    );
    assert_eq!(probes[0]["commit"], commits[0].to_string());
    assert_eq!(probes[1]["commit"], commits[39].to_string());
    for (n, probe) in probes.iter().enumerate() {
        let sha = probe["commit"].as_str().unwrap();
        let i = commits.iter().position(|c| c.to_string() == sha).unwrap();
        let expected = match i {
            18..=20 => "skip",
            _ if i >= 27 => "bad",
            _ => "good",
        };
        assert_eq!(probe["verdict"], expected, "commit {i}");
        // Every probe's output is kept where the report says, under the
        // documented name, and the build saw its own revision.
        let dir = PathBuf::from(probe["output"].as_str().unwrap());
        assert_eq!(
            dir,
            run.keep.join(format!("probe-{:02}-{}", n + 1, &sha[..12]))
        );
        let stdout = std::fs::read_to_string(dir.join("stdout")).unwrap();
        assert!(
            stdout.starts_with(&format!("building {sha} in ")),
            "{stdout}"
        );
        assert!(
            !stdout.contains(&r.path().display().to_string()),
            "built in the user's checkout"
        );
        let symvers = dir.join("Module.symvers");
        if expected == "skip" {
            assert!(!symvers.exists());
            let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
            assert!(err.contains("cannot be built"), "{err}");
        } else {
            let text = std::fs::read_to_string(symvers).unwrap();
            assert!(text.contains("\tsymbol_x\t"), "{text}");
        }
    }
    assert_eq!(doc["keep_dir"], run.keep.display().to_string());
    let log = std::fs::read_to_string(run.keep.join("bisect.log")).unwrap();
    assert!(
        log.contains(&format!("{} skip", &commits[19].to_string()[..12])),
        "{log}"
    );

    assert_left_clean(&r, &before, &run);
}

/// 30 commits; the build breaks (exit 3) from commit 23 on.
fn failing_story() -> (TestRepo, Vec<Oid>) {
    repo(30, |i| {
        let fail = (i >= 23).then(|| "broken\n".to_owned());
        vec![("abi.txt", Some(abi_txt(0x600d, i))), ("FAIL", fail)]
    })
}

#[test]
fn a_failing_build_is_an_error_naming_the_revision_and_cleans_up() {
    let (r, commits) = failing_story();
    let before = user_state(&r);
    let run = Run::new();
    let out = run.run(&r, commits[0], commits[29], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the command failed at {} (exit 3)", commits[29])),
        "{err}"
    );
    assert!(err.contains("--fail-is-bad"), "{err}");
    let probe_dir = run
        .keep
        .join(format!("probe-02-{}", &commits[29].to_string()[..12]));
    assert!(err.contains(&probe_dir.display().to_string()), "{err}");
    let build_err = std::fs::read_to_string(probe_dir.join("stderr")).unwrap();
    assert!(build_err.contains("compiler error"), "{build_err}");
    assert_left_clean(&r, &before, &run);
}

#[test]
fn with_fail_is_bad_the_first_broken_build_is_the_answer() {
    let (r, commits) = failing_story();
    let run = Run::new();
    let out = run.run(
        &r,
        commits[0],
        commits[29],
        &["--fail-is-bad", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["first_bad"]["commit"], commits[23].to_string());
    // Failing is the change; there is no ABI difference to show.
    assert_eq!(doc["first_bad"]["changes"], Value::Array(vec![]));
    let bad = doc["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["commit"] == commits[23].to_string())
        .unwrap();
    assert_eq!(bad["verdict"], "bad");
    assert!(bad["reason"].as_str().unwrap().contains("exit 3"), "{bad}");
    assert_no_worktree_left(&r);
}

#[test]
fn nothing_changed_exits_1_and_text_says_so() {
    let (r, commits) = failing_story();
    let run = Run::new();
    // Up to commit 22 everything builds and symbol_x never changes.
    let out = run.run(&r, commits[0], commits[22], &["--symbol", "symbol_x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("No change in range"), "{text}");
    assert!(
        text.contains(&format!("Build output kept in {}", run.keep.display())),
        "{text}"
    );
}

#[test]
fn wrong_ends_in_build_mode_exit_2_with_a_clear_message() {
    let (r, commits) = skip_story();
    let before = user_state(&r);
    let run = Run::new();
    let out = run.run(&r, commits[0], commits[39], &["--symbol", "not_exported"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the good end {} is already bad", commits[0])),
        "{err}"
    );
    assert!(err.contains("not_exported"), "{err}");

    let run = Run::new();
    let out = run.run(&r, commits[39], commits[0], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("swapped"), "{}", stderr(&out));

    // A good end that cannot be built gives no baseline.
    let run = Run::new();
    let out = run.run(&r, commits[19], commits[39], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("good end {}", commits[19])) && err.contains("125"),
        "{err}"
    );

    assert_eq!(user_state(&r), before);
    assert_no_worktree_left(&r);
}

#[test]
fn a_build_that_succeeds_without_its_abi_is_an_error_naming_revision_and_file() {
    let (r, commits) = failing_story();
    let before = user_state(&r);
    let run = Run::with_script("echo pretending to build");
    let out = run.run(&r, commits[0], commits[5], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the build at {} produced no readable ABI: Module.symvers:",
            commits[0]
        )),
        "{err}"
    );
    assert_left_clean(&r, &before, &run);
}

/// Waits for `child` at most `limit`, killing it if it is still running: a
/// read that blocks forever must fail the test, not hang it.
fn output_within(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}: blocked on its input");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_module_symvers_linked_to_dev_zero_or_a_fifo_is_refused_not_read_forever() {
    let (r, commits) = failing_story();
    let before = user_state(&r);
    for (script, what) in [
        ("ln -s /dev/zero Module.symvers", "is a character device"),
        ("mkfifo Module.symvers", "is a FIFO"),
    ] {
        let run = Run::with_script(script);
        let child = run
            .command(&r, commits[0], commits[5], &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_within(child, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "the build at {} produced no readable ABI: Module.symvers: {what}",
                commits[0]
            )) && err.contains("not a regular file"),
            "{err}"
        );
        assert_left_clean(&r, &before, &run);
    }
}

/// A "kernel build" producing ELF: gcc links a vmlinux-like image exporting
/// `symbol_x` with a tracked CRC; a real Debian `fat.ko` lands in the
/// modules tree.
const ELF_BUILD_SH: &str = r#"set -e
gcc -nostdlib -static -no-pie -Wl,--build-id=none -o vmlinux vmlinux.s
mkdir -p out/kernel/fs/fat
cp fat.ko out/kernel/fs/fat/fat.ko
"#;

fn vmlinux_s(crc: u32) -> String {
    format!(
        r#"
    .text
    .globl _start, symbol_x
_start: ret
symbol_x: ret
    .section __ksymtab_strings,"a"
__kstrtab_symbol_x: .asciz "symbol_x"
__kstrtabns_symbol_x: .asciz ""
    .section __ksymtab,"a"
    .balign 4
__ksymtab_symbol_x: .long symbol_x - ., __kstrtab_symbol_x - ., __kstrtabns_symbol_x - .
    .section __kcrctab,"a"
    .balign 4
.Lcrc_symbol_x: .long 0x{crc:08x}
    .set __crc_symbol_x, .Lcrc_symbol_x
"#
    )
}

#[test]
fn elf_build_mode_reads_vmlinux_and_modules_through_extract() {
    let fat = std::fs::read(common::FAT_KO).unwrap();
    let r = TestRepo::new();
    r.write("build.sh", ELF_BUILD_SH);
    r.write("fat.ko", &fat);
    let mut commits = Vec::new();
    for i in 0..12 {
        r.write("vmlinux.s", vmlinux_s(if i < 7 { 0x1111 } else { 0x2222 }));
        commits.push(r.commit(&format!("Commit {i}")));
    }
    let tmp = tempfile::tempdir().unwrap();
    let bisect = |symbol: &str| {
        Command::new(env!("CARGO_BIN_EXE_abibot"))
            .env("TMPDIR", tmp.path())
            .arg("bisect")
            .arg("--repo")
            .arg(r.path())
            .args([
                "--good",
                &commits[0].to_string(),
                "--bad",
                &commits[11].to_string(),
            ])
            .args([
                "--run",
                "sh build.sh",
                "--vmlinux",
                "vmlinux",
                "--modules",
                "out",
            ])
            .args(["--symbol", symbol, "--format", "json"])
            .output()
            .unwrap()
    };
    let out = bisect("symbol_x");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["first_bad"]["commit"], commits[7].to_string());
    // fat.ko's exports are read too: one of them, unchanged, is never bad.
    let out = bisect("fat_dir_empty");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(json(&out)["first_bad"].is_null());
    assert_no_worktree_left(&r);
}

#[test]
fn ctrl_c_stops_the_build_and_removes_the_worktree() {
    let run = Run::new();
    let pid_file = run.tmp.path().join("sleeper.pid");
    let (r, commits) = repo(3, |_| {
        vec![
            ("abi.txt", Some(abi_txt(1, 0))),
            ("SLOW", Some(pid_file.display().to_string())),
        ]
    });
    let before = user_state(&r);
    let mut child = run
        .command(&r, commits[0], commits[2], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sleeper = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The worktree exists while the build runs.
    let list = git(r.path(), &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 2, "{list}");

    // SAFETY: signals the child process this test spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "abibot did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));

    assert_left_clean(&r, &before, &run);
    // The build's own children were stopped too, not left running.
    let gone = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{sleeper}")).exists()
        && !std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
            .is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            Instant::now() < gone,
            "the build's sleep {sleeper} is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What the interrupted probe printed is kept.
    let probe = run
        .keep
        .join(format!("probe-01-{}", &commits[0].to_string()[..12]));
    let stdout = std::fs::read_to_string(probe.join("stdout")).unwrap();
    assert!(stdout.contains(&commits[0].to_string()), "{stdout}");
}
