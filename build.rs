//! Build script: records the git commit the binary is built from, for
//! `abibot --version` (the `ABIBOT_COMMIT` environment variable of the
//! crate's compilation).
//!
//! The commit comes from, in order: `ABIBOT_COMMIT` set at build time (a
//! distribution building from a release tarball that knows its commit),
//! `git rev-parse HEAD` when the crate's directory is the top of a git
//! checkout, else `unknown`. A crate unpacked inside some other repository
//! (a tarball extracted in a home directory kept in git) is not a checkout
//! of abibot: its enclosing repository's commit would be a lie.
//!
//! Outside a checkout no git file is watched (naming a missing one would
//! rerun this script, and so rebuild the crate, at every build of a
//! tarball): a directory that becomes a checkout after a build needs
//! `cargo clean -p abibot` before `--version` names its commit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ABIBOT_COMMIT");
    let commit = match std::env::var("ABIBOT_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_owned(),
        _ => {
            let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            checkout_commit(&dir).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=ABIBOT_COMMIT={commit}");
}

/// The commit checked out at `dir` when `dir` is the top of a git work tree,
/// registering the files whose change means another commit.
fn checkout_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !same(Path::new(&top), dir) {
        return None;
    }
    watch_head(dir);
    let commit = git(dir, &["rev-parse", "HEAD"])?;
    let is_sha = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    is_sha.then_some(commit)
}

/// Reruns the build script when HEAD moves: a checkout changes `HEAD`, a
/// commit changes the branch's ref file, `git pack-refs` moves it into
/// `packed-refs`. Only existing files are named: cargo takes a missing one
/// as changed at every build.
fn watch_head(dir: &Path) {
    let Some(git_dir) = git(dir, &["rev-parse", "--absolute-git-dir"]) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    // Branch refs live in the common directory, shared by linked worktrees.
    let common = git(dir, &["rev-parse", "--git-common-dir"])
        .map(|c| dir.join(c))
        .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// One git command's trimmed standard output; `None` when git is missing
/// or fails (not a checkout, no commit yet).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_owned())
}
