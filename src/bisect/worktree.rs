//! Temporary git worktrees and the processes build mode runs.
//!
//! Worktrees are added with `git worktree add --detach`, so no branch or
//! other ref is created in the user's repository and the user's checkout and
//! index are never touched. Hooks are disabled for these git commands (a
//! user's `post-checkout` hook has no business running on a probe).
//!
//! Every child (git and the build command) runs in its own process group:
//! a Ctrl-C at the terminal then reaches abibot only, which stops the build
//! (SIGTERM to its whole group, SIGKILL after a grace period) and removes
//! its worktrees before exiting, instead of everything dying half-way.

use std::fs::File;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Variables that would point git (in abibot's commands or in the build
/// command) at the user's repository instead of the worktree.
const GIT_ENV: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
];

/// How often a running child is checked for completion or cancellation.
const POLL: Duration = Duration::from_millis(20);

/// How long a build may take to stop after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A command in its own process group, with the git variables cleared.
fn isolated(program: &str) -> Command {
    let mut command = Command::new(program);
    for var in GIT_ENV {
        command.env_remove(var);
    }
    command.stdin(Stdio::null()).process_group(0);
    command
}

/// Runs `git --git-dir <git_dir> <args>`; the error is what git printed.
fn git(git_dir: &Path, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let output = isolated("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["-c", "core.hooksPath=/dev/null"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// A worktree that is removed (and unregistered) when dropped.
pub(crate) struct Worktree {
    git_dir: PathBuf,
    path: PathBuf,
    removed: bool,
}

impl Worktree {
    /// Checks `commit` out, detached, at `path` (which must not exist).
    pub fn add(git_dir: &Path, path: &Path, commit: &str) -> Result<Worktree, String> {
        // Registered before git runs, so that even a half-made worktree is
        // cleaned up.
        let worktree = Worktree {
            git_dir: git_dir.to_owned(),
            path: path.to_owned(),
            removed: false,
        };
        git(
            git_dir,
            &[
                "worktree".as_ref(),
                "add".as_ref(),
                "--quiet".as_ref(),
                "--detach".as_ref(),
                path.as_os_str(),
                commit.as_ref(),
            ],
        )?;
        Ok(worktree)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the worktree and its registration.
    pub fn remove(mut self) -> Result<(), String> {
        self.removed = true;
        remove(&self.git_dir, &self.path)
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if !self.removed {
            // Already failing or interrupted: the first error is the one to
            // report, a cleanup error here would only hide it.
            let _ = remove(&self.git_dir, &self.path);
        }
    }
}

/// Removes a worktree through git, or by hand when git cannot (a
/// half-made worktree): its directory, then its administrative directory.
fn remove(git_dir: &Path, path: &Path) -> Result<(), String> {
    // The build may have replaced `.git` with anything: read it bounded.
    let admin = crate::input::read_text(&path.join(".git"), crate::input::LIST)
        .ok()
        .and_then(|text| {
            text.trim()
                .strip_prefix("gitdir:")
                .map(|p| PathBuf::from(p.trim()))
        });
    let by_git = git(
        git_dir,
        &[
            "worktree".as_ref(),
            "remove".as_ref(),
            "--force".as_ref(),
            "--force".as_ref(),
            path.as_os_str(),
        ],
    );
    if by_git.is_ok() {
        return Ok(());
    }
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(admin) = admin.filter(|a| a.starts_with(git_dir.join("worktrees"))) {
        if admin.exists() {
            std::fs::remove_dir_all(&admin).map_err(|e| format!("{}: {e}", admin.display()))?;
        }
        // git leaves no empty `worktrees/` behind; neither do we.
        let _ = std::fs::remove_dir(git_dir.join("worktrees"));
    }
    Ok(())
}

/// How a build command ended.
pub(crate) enum Ended {
    /// It exited (or was killed) on its own.
    Status(ExitStatus),
    /// Cancellation was requested; the command was stopped.
    Cancelled,
}

/// Runs `sh -c <script>` in `dir` with `env`, its stdout and stderr written
/// to the given files, until it ends or `cancel` is set.
pub(crate) fn run_script(
    script: &str,
    dir: &Path,
    env: &[(&str, &str)],
    stdout: File,
    stderr: File,
    cancel: &AtomicBool,
) -> std::io::Result<Ended> {
    let mut child = isolated("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Status(status));
        }
        if cancel.load(Ordering::SeqCst) {
            stop(&mut child)?;
            return Ok(Ended::Cancelled);
        }
        std::thread::sleep(POLL);
    }
}

/// Stops a child and everything it started: SIGTERM to its process group,
/// SIGKILL when it is still there after [`GRACE`].
fn stop(child: &mut Child) -> std::io::Result<()> {
    let group = -(child.id() as libc::pid_t);
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (it was spawned with process_group(0)); no memory is shared.
    unsafe { libc::kill(group, libc::SIGTERM) };
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(POLL);
    }
    // SAFETY: as above; the group may be gone already, which is harmless.
    unsafe { libc::kill(group, libc::SIGKILL) };
    child.wait()?;
    Ok(())
}

/// `exit 1`, `killed by signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended abnormally".to_owned(),
    }
}
