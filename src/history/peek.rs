//! Looking ahead of the states being built for references that later
//! commits change in place (a refresh of one flavour under the same path,
//! the commonest change in a packaging branch), so that their loads begin
//! early ([`Loader::begin`]) and inflating them overlaps the work on the
//! commits before, instead of stalling the walk at each one.
//!
//! Only a guess: references are found by path as the last state built has
//! them; what the layout really reads at that commit is loaded as usual,
//! and a load begun for nothing is dropped.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Repository};

use super::cache::{Loader, MAX_EARLY};
use super::{CommitSha, RevState};
use crate::layouts::FlavourSource;

/// Commits looked at ahead of the one being built, at most.
pub(super) const REACH: usize = 64;

/// The references of one directory, as last looked at.
struct Dir {
    /// The directory's tree id.
    id: Option<Oid>,
    /// Its references, by entry name.
    sources: BTreeMap<String, FlavourSource>,
}

/// Where the walk has looked ahead, and what it found there.
#[derive(Default)]
pub(super) struct Peek {
    /// The next commit to look at (index in the walk).
    next: usize,
    /// Reference directories by path, as of commit `next - 1`.
    dirs: BTreeMap<String, Dir>,
}

impl Peek {
    /// After the commit at `at` was built with `state`: starts again from
    /// it when its references are not where the look ahead had them, then
    /// looks at the commits after it, beginning the loads of references
    /// changed in place while fewer than [`MAX_EARLY`] wait.
    pub fn after<'s>(
        &mut self,
        (at, state): (usize, &RevState),
        (repo, commits): (&Repository, &[Oid]),
        (loader, scope): (&'s Loader, &rayon::Scope<'s>),
        path: &'s Path,
    ) {
        if self.next <= at || !self.agrees(state) {
            self.restart(at, state);
        }
        while self.next < commits.len().min(at + 1 + REACH) && loader.early_waiting() < MAX_EARLY {
            let commit = commits[self.next];
            let Ok(tree) = repo.find_commit(commit).and_then(|c| c.tree()) else {
                return;
            };
            let label = CommitSha::of(commit).short().to_owned();
            for (dir_path, dir) in &mut self.dirs {
                let id = tree.get_path(Path::new(dir_path)).ok().map(|e| e.id());
                if id == dir.id {
                    continue;
                }
                dir.id = id;
                let Some(dir_tree) = id.and_then(|id| repo.find_tree(id).ok()) else {
                    continue;
                };
                for (name, source) in &mut dir.sources {
                    let Some(entry) = dir_tree.get_name(name) else {
                        continue;
                    };
                    if entry.id() != source.id {
                        source.id = entry.id();
                        loader.begin(scope, path, source.clone(), label.clone());
                    }
                }
            }
            self.next += 1;
        }
    }

    /// Whether the look ahead had the references of `state` where it has
    /// them (same paths; ids are checked as the walk goes).
    fn agrees(&self, state: &RevState) -> bool {
        let known = self.dirs.values().map(|d| d.sources.len()).sum::<usize>();
        known == state.sources.len()
            && state.sources.values().all(|s| {
                let (dir, name) = split(&s.path);
                self.dirs
                    .get(dir)
                    .is_some_and(|d| d.sources.contains_key(name))
            })
    }

    /// Looks ahead from the commit at `at`, whose references are `state`'s.
    fn restart(&mut self, at: usize, state: &RevState) {
        self.next = at + 1;
        self.dirs.clear();
        for source in state.sources.values() {
            let (dir, name) = split(&source.path);
            let entry = self.dirs.entry(dir.to_owned()).or_insert_with(|| Dir {
                id: None,
                sources: BTreeMap::new(),
            });
            entry.sources.insert(name.to_owned(), source.clone());
        }
    }
}

/// A path's directory and file name.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::history::file_entry;
    use crate::symbols::FlavourKey;

    const PATH: &str = "debian/abi/6.1.0-47/amd64_none_amd64";

    /// A commit of `files` (path, content) after `parent`.
    fn commit(repo: &Repository, files: &[(&str, &str)], parent: Option<Oid>) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, text) in files {
            let id = repo.blob(text.as_bytes()).unwrap();
            index.add(&file_entry(path, id)).unwrap();
        }
        let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.org").unwrap();
        let parent = parent.map(|p| repo.find_commit(p).unwrap());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(None, &sig, &sig, "m", &tree, &parents).unwrap()
    }

    fn source(id: Oid) -> FlavourSource {
        FlavourSource::file("6.1.0-47", PATH, id)
    }

    #[test]
    fn a_reference_changed_in_place_later_is_loaded_ahead_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let (one, two) = (
            "0x1\tf\tvmlinux\tEXPORT_SYMBOL\t\n",
            "0x2\tf\tvmlinux\tEXPORT_SYMBOL\t\n",
        );
        let a = commit(&repo, &[(PATH, one), ("debian/changelog", "a")], None);
        let b = commit(&repo, &[(PATH, one), ("debian/changelog", "b")], Some(a));
        let c = commit(&repo, &[(PATH, two), ("debian/changelog", "b")], Some(b));
        let commits = [a, b, c];
        let key = FlavourKey::new("amd64", "none", "amd64");
        let first = source(repo.blob(one.as_bytes()).unwrap());
        let state = RevState {
            sources: [(key, first)].into(),
            ..RevState::default()
        };
        let loader = Loader::new(64 << 20, 2);
        let mut peek = Peek::default();
        loader.pool().unwrap().in_place_scope(|scope| {
            let at = (0, &state);
            peek.after(at, (&repo, &commits), (&loader, scope), repo.path());
        });
        // Only the reference changed at c was begun (b changed nothing).
        assert_eq!(loader.early_waiting(), 1);
        let changed = source(repo.blob(two.as_bytes()).unwrap());
        let label = CommitSha::of(c).short().to_owned();
        let loaded = loader.load_all(&repo, &[&changed], &label).unwrap();
        let set = loaded[0].as_ref().unwrap();
        assert_eq!(set.get("f").unwrap().crc.0, 2);
        let stats = &loader.stats;
        assert_eq!(stats.early_taken.load(Ordering::Relaxed), 1);
        assert_eq!(stats.parsed.load(Ordering::Relaxed), 1);
        assert_eq!(loader.early_waiting(), 0);
    }

    #[test]
    fn loads_begun_for_nothing_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let a = commit(&repo, &[(PATH, "0x1\tf\tvmlinux\n")], None);
        let b = commit(&repo, &[(PATH, "0x2\tf\tvmlinux\n")], Some(a));
        let first = source(repo.blob(b"0x1\tf\tvmlinux\n").unwrap());
        let state = RevState {
            sources: [(FlavourKey::new("amd64", "none", "amd64"), first)].into(),
            ..RevState::default()
        };
        let loader = Loader::new(64 << 20, 1);
        loader.pool().unwrap().in_place_scope(|scope| {
            let mut peek = Peek::default();
            peek.after((0, &state), (&repo, &[a, b]), (&loader, scope), repo.path());
        });
        assert_eq!(loader.early_waiting(), 1);
        loader.forget_early();
        assert_eq!(loader.early_waiting(), 0);
    }
}
