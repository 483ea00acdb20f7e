//! `--jobs` is refused above its maximum, and parsing threads the system
//! will not give are an error, never a panic.

mod common;

use abibot::history::cache::{MAX_JOBS, PoolError};
use abibot::history::{HistoryError, WalkOptions, Walker};
use common::{TestRepo, real_debian_repo};

/// A repository with references to parse (so a walk starts its threads).
fn repo_with_references() -> TestRepo {
    real_debian_repo().0
}

#[test]
fn jobs_above_the_maximum_are_refused_at_the_command_line() {
    let r = repo_with_references();
    let repo = r.path().to_str().unwrap();
    for command in ["scan", "timeline"] {
        let (code, stdout, stderr) = common::abibot(&[command, "--repo", repo, "--jobs", "100000"]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("--jobs") && stderr.contains(&format!("0..={MAX_JOBS}")),
            "{stderr}"
        );
    }
    let (code, _, stderr) = common::abibot(&["scan", "--repo", repo, "--jobs", "2"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_library_walk_asking_too_many_threads_is_a_typed_error() {
    let r = repo_with_references();
    let options = WalkOptions {
        jobs: MAX_JOBS + 1,
        ..WalkOptions::default()
    };
    let mut walker = Walker::new(&r.repo, options);
    let head = walker.resolve("HEAD").unwrap();
    let err = walker.walk(None, head, |_, _| {}, |_| {}).unwrap_err();
    assert!(
        matches!(err, HistoryError::Threads(PoolError::TooMany { jobs }) if jobs == MAX_JOBS + 1),
        "{err}"
    );
}

/// Threads whose stacks do not fit the address-space limit: the system
/// refuses them, and `scan` says so and exits 2 instead of panicking.
#[test]
fn threads_the_system_refuses_are_reported_not_a_panic() {
    let r = repo_with_references();
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_abibot"))
        .args(["scan", "--jobs", "16", "--repo"])
        .arg(r.path())
        // 16 stacks of 256 MiB cannot fit in 1 GiB of address space.
        .env("RUST_MIN_STACK", (256u64 << 20).to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("cannot start 16 parsing threads"),
        "{stderr}"
    );
}
