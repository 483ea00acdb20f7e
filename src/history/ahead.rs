//! Building revisions' states ahead of the visitor: while a visitor works
//! on one commit (scan's detectors comparing references, dropping the sets
//! it no longer needs), the next commits' trees are read and their changed
//! references inflated and parsed on a second thread with a repository
//! handle of its own (a handle is not shared between threads), so that
//! both cores work. At most [`AHEAD`] built commits wait for the visitor:
//! what is built ahead counts against the loader's budget like any set.
//! That thread also looks further ahead ([`Peek`]) for references changed
//! in place and begins loading them, so that inflating a commit's one
//! changed reference does not wait for the commit before it.

use std::sync::Arc;
use std::sync::mpsc;

use git2::{Oid, Repository};

use super::cache::{Loader, PoolError};
use super::peek::Peek;
use super::{Builder, HistoryError, KeptStates, RevState, RevisionError, WalkOptions};
use crate::git_error::GitOp;

/// Built commits waiting for the visitor, at most: one is enough to keep
/// the builder busy while the visitor works, and each holds its new sets.
pub(super) const AHEAD: usize = 1;

/// One commit with its first parent's state and its own.
pub(super) struct Built {
    /// The commit.
    pub oid: Oid,
    /// Its title (first line of the message).
    pub title: String,
    /// The first parent's state (empty for a root commit).
    pub parent: Arc<RevState>,
    /// The commit's state.
    pub state: Arc<RevState>,
    /// Problems found at this commit.
    pub errors: Vec<RevisionError>,
}

/// The states of a walk's commits, in walk order, each built from its
/// parent's.
struct States<'a> {
    builder: Builder<'a>,
    commits: Vec<Oid>,
    kept: KeptStates,
}

impl<'a> States<'a> {
    fn new(builder: Builder<'a>, commits: Vec<Oid>, kept: KeptStates) -> States<'a> {
        States {
            builder,
            commits,
            kept,
        }
    }

    fn build(&mut self, oid: Oid) -> Result<Built, HistoryError> {
        let commit = self
            .builder
            .repo
            .find_commit(oid)
            .map_err(GitOp::new("commit").rev(oid).wrap())?;
        let title = commit.summary().ok().flatten().unwrap_or("").to_owned();
        let parent = match commit.parent_id(0).ok() {
            None => Arc::new(RevState::default()),
            Some(p) => match self.kept.take(p) {
                Some(state) => state,
                // Outside the walk (a range's first commit): rebuilt,
                // reusing parsed references by blob id.
                None => Arc::new(self.builder.state_at(p, None)?.0),
            },
        };
        let (state, errors) = self.builder.state_at(oid, Some(&parent))?;
        let state = Arc::new(state);
        self.kept.keep(oid, state.clone());
        Ok(Built {
            oid,
            title,
            parent,
            state,
            errors,
        })
    }

    /// Hands each built commit to `send` until it refuses one (`false`) or
    /// a commit cannot be built (that error is the last one handed); shows
    /// `after` each state built first, with its index and the walk's
    /// commits.
    fn each(
        &mut self,
        mut after: impl FnMut(usize, &RevState, &Repository, &[Oid]),
        mut send: impl FnMut(Result<Built, HistoryError>) -> bool,
    ) {
        for at in 0..self.commits.len() {
            let built = self.build(self.commits[at]);
            if let Ok(built) = &built {
                after(at, &built.state, self.builder.repo, &self.commits);
            }
            let failed = built.is_err();
            if !send(built) || failed {
                return;
            }
        }
    }
}

/// Where the walk's states are built.
pub(super) struct Plan<'a> {
    /// The walker's repository handle.
    pub repo: &'a Repository,
    /// The walk's options.
    pub options: &'a WalkOptions,
    /// The walk's loader (shared by both threads).
    pub loader: &'a Loader,
    /// The commits, in walk order.
    pub commits: Vec<Oid>,
    /// The states later commits compare with.
    pub kept: KeptStates,
}

/// What a walk's building did, beside the visitor's result.
pub(super) struct Ran {
    /// The builder's counters: snapshots read, tree lookups.
    pub counts: (usize, usize),
    /// Commits built while the visitor was still on an earlier one.
    pub built_ahead: usize,
    /// The first error, the builder's or the visitor's.
    pub result: Result<(), HistoryError>,
}

/// Hands `see` every commit of `plan` built, in order, and stops at the
/// first error (the builder's or `see`'s). The states are built on a second
/// thread when a second handle on the repository opens, else in turn on
/// this one. The second thread builds the next commit before the visitor
/// is done only while [`Loader::room_ahead`] says so.
pub(super) fn run(plan: Plan<'_>, mut see: impl FnMut(Built) -> Result<(), HistoryError>) -> Ran {
    let Ok(second) = Repository::open(plan.repo.path()) else {
        return in_turn(plan, see);
    };
    // Started here, so that threads the system refuses are said as such.
    let pool = match plan.loader.pool() {
        Ok(pool) => pool,
        Err(e) => return refused(e),
    };
    let (tx, rx) = mpsc::sync_channel(AHEAD);
    // The visitor says when it is done with a commit (and has dropped it).
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let builder = std::thread::Builder::new().name("abibot-walk-ahead".into());
        let spawned = builder.spawn_scoped(scope, move || {
            let Plan {
                options,
                loader,
                commits,
                kept,
                ..
            } = plan;
            let mut states = States::new(Builder::new(&second, options, loader), commits, kept);
            let mut ahead = 0;
            pool.in_place_scope(|scope| {
                let mut peek = Peek::default();
                let look = |at, state: &RevState, repo: &Repository, commits: &[Oid]| {
                    if loader.room_ahead() {
                        let path = second.path();
                        peek.after((at, state), (repo, commits), (loader, scope), path);
                    }
                };
                states.each(look, handing(loader, (tx, done_rx), &mut ahead));
            });
            loader.forget_early();
            (states.builder.counts(), ahead)
        });
        let ahead = match spawned {
            Ok(ahead) => ahead,
            Err(e) => {
                let message = e.to_string();
                return refused(PoolError::Spawn { jobs: 1, message });
            }
        };
        // Dropping the receiver on an error stops the builder at its next
        // commit.
        let result = rx.into_iter().try_for_each(|built| {
            see(built?)?;
            // The builder may have stopped waiting already.
            let _ = done_tx.send(());
            Ok(())
        });
        drop(done_tx);
        let (counts, built_ahead) = ahead
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ran {
            counts,
            built_ahead,
            result,
        }
    })
}

/// What the building thread does with each commit built: sends it to the
/// visitor, then waits for the visitor while there is no room to build
/// ahead; counts in `ahead` the commits built before the visitor was done
/// with the one before.
fn handing<'h>(
    loader: &'h Loader,
    (tx, done_rx): (
        mpsc::SyncSender<Result<Built, HistoryError>>,
        mpsc::Receiver<()>,
    ),
    ahead: &'h mut usize,
) -> impl FnMut(Result<Built, HistoryError>) -> bool + 'h {
    let (mut sent, mut visited) = (0, 0);
    move |built| {
        if tx.send(built).is_err() {
            return false;
        }
        sent += 1;
        visited += done_rx.try_iter().count();
        while visited < sent && !loader.room_ahead() {
            let Ok(()) = done_rx.recv() else {
                return false;
            };
            visited += 1;
        }
        *ahead += usize::from(visited < sent);
        true
    }
}

/// [`run`] with every state built on this thread, in turn.
fn in_turn(plan: Plan<'_>, mut see: impl FnMut(Built) -> Result<(), HistoryError>) -> Ran {
    let Plan {
        repo,
        options,
        loader,
        commits,
        kept,
    } = plan;
    let mut states = States::new(Builder::new(repo, options, loader), commits, kept);
    let mut result = Ok(());
    states.each(
        |_, _, _, _| {},
        |built| {
            result = built.and_then(&mut see);
            result.is_ok()
        },
    );
    Ran {
        counts: states.builder.counts(),
        built_ahead: 0,
        result,
    }
}

/// A walk whose threads could not be started.
fn refused(error: PoolError) -> Ran {
    Ran {
        counts: (0, 0),
        built_ahead: 0,
        result: Err(HistoryError::Threads(error)),
    }
}
