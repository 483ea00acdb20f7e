//! Build mode, like `git bisect run`: each probed revision is checked out
//! into its own temporary git worktree (never the user's checkout), the
//! user's command is run there through `sh -c` with `ABIBOT_REV` set to the
//! full commit id, and the ABI the build produced is read through an
//! [`AbiReader`] and compared with what the good end's build produced.
//!
//! The command's exit status decides first: 0 means built (the ABI is then
//! read; a build that says it succeeded but left no readable ABI is an
//! error), 125 means skip, anything else is an error unless `fail_is_bad`
//! counts it as bad. Each probe starts from a clean checkout, so no build
//! output leaks from one probe into the next.
//!
//! Everything a probe produced stays in the keep directory:
//! `probe-NN-<sha12>/{stdout,stderr,status}` and the files the reader names
//! (`Module.symvers`), with the whole log in `bisect.log`. Worktrees live in
//! a temporary directory and are removed after each probe, on errors (by
//! their guards) and when [`BuildOptions::cancel`] is set: the command line
//! sets it on Ctrl-C, the running build is stopped, its worktree removed,
//! and [`BisectError::Interrupted`] returned.

use std::fs::File;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use git2::{Oid, Repository};

use super::search::bisect;
use super::worktree::{Ended, Worktree, describe, run_script};
use super::{
    BisectError, BisectReport, CommitInfo, FlavourMatch, Header, Mode, Predicate, ProbeDetail,
    Range, Verdict, Work, assemble, probe_dir_name, probe_line,
};
use crate::formats::{self, Format};
use crate::git_error::GitOp;
use crate::history::{CommitSha, WalkOptions, Walker};
use crate::symbols::SymbolSet;

/// A build's ABI could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {message}")]
pub struct AbiReadError {
    /// The file (relative to the worktree) that could not be read.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

/// Reads the ABI a finished build left in a worktree. [`SymversReader`]
/// reads a `Module.symvers`; an ELF extractor (vmlinux + modules) plugs in
/// here by implementing this trait.
pub trait AbiReader {
    /// What is read, for logs (`Module.symvers at build/Module.symvers`).
    fn describe(&self) -> String;
    /// Reads the ABI from the build in `worktree`.
    fn read(&self, worktree: &Path) -> Result<SymbolSet, AbiReadError>;
    /// Files (relative to the worktree) to keep with each probe's output.
    fn outputs(&self) -> Vec<PathBuf>;
}

/// Reads a `Module.symvers` at a path inside the worktree.
#[derive(Clone, Debug)]
pub struct SymversReader {
    path: PathBuf,
}

/// Checks that a build output path is relative and stays inside the
/// worktree: a build's output outside it would outlive the probe and could be
/// mistaken for the next probe's.
fn inside_worktree(flag: &str, path: PathBuf) -> Result<PathBuf, BisectError> {
    let inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if path.as_os_str().is_empty() || !inside {
        return Err(BisectError::Usage(format!(
            "{flag} {}: give a path relative to the worktree root, without `..` (like Module.symvers or build/Module.symvers)",
            path.display()
        )));
    }
    Ok(path)
}

impl SymversReader {
    /// A reader of `path` (relative, inside the worktree).
    pub fn new(path: impl Into<PathBuf>) -> Result<SymversReader, BisectError> {
        Ok(SymversReader {
            path: inside_worktree("--symvers", path.into())?,
        })
    }
}

impl AbiReader for SymversReader {
    fn describe(&self) -> String {
        format!("Module.symvers at {}", self.path.display())
    }

    fn read(&self, worktree: &Path) -> Result<SymbolSet, AbiReadError> {
        let shown = self.path.display().to_string();
        // The build may leave a FIFO, a device or a link to one here.
        let bytes = crate::input::read(&worktree.join(&self.path), crate::input::REFERENCE)
            .map_err(|e| AbiReadError {
                path: shown.clone(),
                message: e.kind.to_string(),
            })?;
        formats::parse(&bytes, Some(Format::Symvers), &shown).map_err(|e| AbiReadError {
            path: shown,
            message: e.to_string(),
        })
    }

    fn outputs(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

/// Reads the exports of the `vmlinux` and the modules a build left, through
/// the ELF extractor (what `abibot extract` prints).
#[derive(Clone, Debug)]
pub struct ElfReader {
    vmlinux: PathBuf,
    modules: PathBuf,
}

impl ElfReader {
    /// A reader of `vmlinux` and the modules under `modules` (both relative,
    /// inside the worktree).
    pub fn new(
        vmlinux: impl Into<PathBuf>,
        modules: impl Into<PathBuf>,
    ) -> Result<ElfReader, BisectError> {
        Ok(ElfReader {
            vmlinux: inside_worktree("--vmlinux", vmlinux.into())?,
            modules: inside_worktree("--modules", modules.into())?,
        })
    }
}

impl AbiReader for ElfReader {
    fn describe(&self) -> String {
        format!(
            "exports of {} and the modules under {}",
            self.vmlinux.display(),
            self.modules.display()
        )
    }

    fn read(&self, worktree: &Path) -> Result<SymbolSet, AbiReadError> {
        let paths = [worktree.join(&self.vmlinux), worktree.join(&self.modules)];
        let shown = self.vmlinux.display().to_string();
        let infos =
            crate::elf::read_paths(&paths, &crate::elf::ReadOptions::default()).map_err(|e| {
                AbiReadError {
                    path: e.0[0].file.clone(),
                    message: e.to_string(),
                }
            })?;
        let exports = infos.into_iter().flat_map(|i| i.exports).collect();
        SymbolSet::from_symbols(exports).map_err(|dup| AbiReadError {
            path: shown,
            message: format!("{} is exported twice, differently", dup.name),
        })
    }

    fn outputs(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// What to bisect in build mode.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The repository (its checkout and index are never touched).
    pub repo: PathBuf,
    /// The good end (a revision expression).
    pub good: String,
    /// The bad end.
    pub bad: String,
    /// The build command, run through `sh -c` in each worktree.
    pub command: String,
    /// What makes a revision bad.
    pub predicate: Predicate,
    /// What the built ABI is called in the report.
    pub flavour_name: String,
    /// Count a failing command (other than exit 125) as bad, not as an error.
    pub fail_is_bad: bool,
    /// Where to keep each probe's output; a new temporary directory when
    /// `None`. Must be empty or absent.
    pub keep_dir: Option<PathBuf>,
    /// Set to stop: the running build is stopped and worktrees removed.
    pub cancel: Arc<AtomicBool>,
}

/// Bisects by building. `log` receives one line per step (also written to
/// `bisect.log` in the keep directory).
pub fn bisect_builds(
    options: &BuildOptions,
    reader: &dyn AbiReader,
    log: &mut dyn FnMut(&str),
) -> Result<BisectReport, BisectError> {
    let repo = Repository::open(&options.repo).map_err(
        GitOp::new("open")
            .path(options.repo.display().to_string())
            .wrap(),
    )?;
    let walker = Walker::new(
        &repo,
        WalkOptions {
            jobs: 1,
            ..WalkOptions::default()
        },
    );
    let range = Range::resolve(&walker, &repo, &options.good, &options.bad)?;
    let keep = keep_dir(options.keep_dir.as_deref())?;
    let scratch = tempfile::Builder::new()
        .prefix("abibot-bisect-worktrees-")
        .tempdir()
        .map_err(|e| io_err(&std::env::temp_dir(), &e))?;
    let log_path = keep.join("bisect.log");
    let mut builder = Builder {
        git_dir: repo.path().to_owned(),
        repo: &repo,
        scratch: scratch.path().to_owned(),
        keep: keep.clone(),
        options,
        reader,
        builds: 0,
        log: Log {
            sink: log,
            file: File::create(&log_path).map_err(|e| io_err(&log_path, &e))?,
        },
    };
    builder.log.line(&format!(
        "{} first-parent commits after {} up to {}; reading {}; output kept in {}",
        range.commits.len(),
        CommitSha::of(range.good).short(),
        CommitSha::of(range.bad()).short(),
        reader.describe(),
        keep.display()
    ));
    let baseline = builder.baseline(range.good)?;
    let search = bisect(range.commits.len(), |index| {
        let commit = range.commits[index];
        let (verdict, detail) = builder.probe(commit, &baseline)?;
        let line = probe_line(builder.builds, commit, verdict, &detail);
        builder.log.line(&line);
        Ok::<_, BisectError>((verdict, detail))
    })?;
    let work = Work {
        builds: builder.builds,
        ..Work::default()
    };
    let report = assemble(
        &repo,
        &range,
        search,
        Header {
            mode: Mode::Build,
            predicate: options.predicate.clone(),
            flavours: vec![options.flavour_name.clone()],
            baseline: ProbeDetail {
                reason: Some("the good end: every build is compared with its build".into()),
                output: Some(baseline.1),
                ..ProbeDetail::default()
            },
            work,
            keep_dir: Some(keep.display().to_string()),
        },
    )?;
    scratch.close().map_err(|e| io_err(&builder.scratch, &e))?;
    Ok(report)
}

fn io_err(path: &Path, e: &std::io::Error) -> BisectError {
    BisectError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Creates (or checks) the keep directory.
fn keep_dir(asked: Option<&Path>) -> Result<PathBuf, BisectError> {
    let Some(dir) = asked else {
        return Ok(tempfile::Builder::new()
            .prefix("abibot-bisect-")
            .tempdir()
            .map_err(|e| io_err(&std::env::temp_dir(), &e))?
            .keep());
    };
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, &e))?;
    let mut entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, &e))?;
    if entries.next().is_some() {
        return Err(BisectError::Usage(format!(
            "--keep-dir {}: not empty; give a new or empty directory so earlier probes cannot be mistaken for this run's",
            dir.display()
        )));
    }
    Ok(dir.to_owned())
}

/// Log lines go to the caller and to `bisect.log`.
struct Log<'l> {
    sink: &'l mut dyn FnMut(&str),
    file: File,
}

impl Log<'_> {
    fn line(&mut self, text: &str) {
        (self.sink)(text);
        // The log file is a convenience copy of what the caller was given.
        let _ = writeln!(self.file, "{text}");
    }
}

/// What one build produced.
enum Outcome {
    /// The command succeeded; the ABI it produced.
    Produced(SymbolSet),
    /// The command exited 125.
    Skipped,
    /// The command failed otherwise.
    Failed(ExitStatus),
}

struct Builder<'a> {
    git_dir: PathBuf,
    repo: &'a Repository,
    scratch: PathBuf,
    keep: PathBuf,
    options: &'a BuildOptions,
    reader: &'a dyn AbiReader,
    builds: usize,
    log: Log<'a>,
}

impl Builder<'_> {
    /// Builds the good end; its ABI and where its output is kept.
    fn baseline(&mut self, good: Oid) -> Result<(SymbolSet, String), BisectError> {
        let rev = good.to_string();
        let (outcome, output) = self.build(good)?;
        let set = match outcome {
            Outcome::Produced(set) => set,
            Outcome::Skipped => {
                return Err(BisectError::GoodUnreadable {
                    rev,
                    reason: format!("the command exited 125 (skip); output in {output}"),
                });
            }
            Outcome::Failed(status) if self.options.fail_is_bad => {
                return Err(BisectError::GoodIsBad {
                    rev,
                    reason: format!(
                        "the command failed ({}) and --fail-is-bad counts that as bad; output in {output}",
                        describe(status)
                    ),
                });
            }
            Outcome::Failed(status) => {
                return Err(BisectError::CommandFailed {
                    rev,
                    status: describe(status),
                    output,
                });
            }
        };
        let missing = self.options.predicate.missing_from(std::iter::once(&set));
        if !missing.is_empty() {
            return Err(BisectError::GoodIsBad {
                rev,
                reason: format!(
                    "symbol(s) {} not exported by its build ({})",
                    missing.join(", "),
                    self.reader.describe()
                ),
            });
        }
        self.log.line(&format!(
            "good end {}: {} symbols built",
            CommitSha::of(good).short(),
            set.len()
        ));
        Ok((set, output))
    }

    /// Builds and judges one probed revision.
    fn probe(
        &mut self,
        commit: Oid,
        baseline: &(SymbolSet, String),
    ) -> Result<(Verdict, ProbeDetail), BisectError> {
        let (outcome, output) = self.build(commit)?;
        let mut detail = ProbeDetail {
            output: Some(output.clone()),
            ..ProbeDetail::default()
        };
        let verdict = match outcome {
            Outcome::Produced(set) => {
                let changes = self.options.predicate.matching(&baseline.0, &set);
                if changes.is_empty() {
                    Verdict::Good
                } else {
                    detail.matches.push(FlavourMatch {
                        flavour: self.options.flavour_name.clone(),
                        changes,
                    });
                    Verdict::Bad
                }
            }
            Outcome::Skipped => {
                detail.reason = Some("the command exited 125".into());
                Verdict::Skip
            }
            Outcome::Failed(status) if self.options.fail_is_bad => {
                detail.reason = Some(format!(
                    "the command failed ({}), counted as bad",
                    describe(status)
                ));
                Verdict::Bad
            }
            Outcome::Failed(status) => {
                return Err(BisectError::CommandFailed {
                    rev: commit.to_string(),
                    status: describe(status),
                    output,
                });
            }
        };
        Ok((verdict, detail))
    }

    /// Checks `commit` out, runs the command, reads the ABI when it
    /// succeeded, and removes the worktree; also returns the output dir.
    fn build(&mut self, commit: Oid) -> Result<(Outcome, String), BisectError> {
        let rev = commit.to_string();
        let interrupted = |keep: &Path| BisectError::Interrupted {
            rev: rev.clone(),
            output: keep.display().to_string(),
        };
        if self.options.cancel.load(Ordering::SeqCst) {
            return Err(interrupted(&self.keep));
        }
        self.builds += 1;
        let name = probe_dir_name(self.builds, commit);
        let output = self.keep.join(&name);
        std::fs::create_dir(&output).map_err(|e| io_err(&output, &e))?;
        let shown = output.display().to_string();
        let title = CommitInfo::of(self.repo, commit)?.title;
        let path = self.scratch.join(&name);
        let worktree_err = |message: String| BisectError::Worktree {
            rev: rev.clone(),
            path: path.display().to_string(),
            message,
        };
        let worktree = Worktree::add(&self.git_dir, &path, &rev).map_err(worktree_err)?;
        self.log.line(&format!(
            "build {}: {} {title:?} in {}",
            self.builds,
            CommitSha::of(commit).short(),
            worktree.path().display()
        ));
        let file = |n: &str| {
            let p = output.join(n);
            File::create(&p).map_err(|e| io_err(&p, &e))
        };
        let ended = run_script(
            &self.options.command,
            worktree.path(),
            &[("ABIBOT_REV", &rev)],
            file("stdout")?,
            file("stderr")?,
            &self.options.cancel,
        )
        .map_err(|e| io_err(Path::new("sh"), &e))?;
        let status = match ended {
            Ended::Status(status) => status,
            Ended::Cancelled => {
                worktree.remove().map_err(worktree_err)?;
                return Err(interrupted(&self.keep));
            }
        };
        std::fs::write(output.join("status"), describe(status) + "\n")
            .map_err(|e| io_err(&output, &e))?;
        let outcome = match status.code() {
            Some(0) => {
                let set = self
                    .reader
                    .read(worktree.path())
                    .map_err(|e| BisectError::Abi {
                        rev: rev.clone(),
                        path: e.path,
                        message: e.message,
                    })?;
                for file in self.reader.outputs() {
                    let from = worktree.path().join(&file);
                    let to = output.join(file.file_name().unwrap_or(file.as_os_str()));
                    std::fs::copy(&from, &to).map_err(|e| io_err(&from, &e))?;
                }
                Outcome::Produced(set)
            }
            Some(125) => Outcome::Skipped,
            _ => Outcome::Failed(status),
        };
        worktree.remove().map_err(worktree_err)?;
        Ok((outcome, shown))
    }
}
