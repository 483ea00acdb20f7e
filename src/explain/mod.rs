//! Explaining CRC changes: which type definitions changed between two
//! genksyms symtypes sets, and which exports each change reaches.
//!
//! An export's CRC covers its declaration with every type it reaches
//! expanded once ([`crate::symtypes::crc`]). So its expanded type differs
//! exactly when some definition it reaches differs: a changed definition is
//! a *root cause* when its own text changed, not only something it refers
//! to. No export is expanded here: for each pair of files (the old and new
//! file defining an export, usually the same path) the definitions of every
//! type are compared (memoised per pair of [`DefId`]s: a definition shared
//! by hundreds of files is compared once), and from each definition that
//! changed, the reference graph is walked backwards to the exports that
//! reach it, with their distance (deepest cause first). Files are shared
//! out over rayon's threads.
//!
//! [`explain`] returns plain data ([`Explanation`]); [`diff`] turns a changed
//! definition into member-level changes; rendering is in
//! [`crate::report::explain`].

pub mod diff;

use std::collections::BTreeMap;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::symtypes::{DefId, FileId, Kind, Name, Symtypes, SymtypesFile, Token, TypeKey};
pub use diff::Change;

/// Everything that changed between two symtypes sets, as data.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// Every export present in both whose expanded type differs, sorted by
    /// symbol, each listed once.
    pub exports: Vec<ExportChange>,
    /// Every root cause, deepest first (then by exports reached, then name).
    pub causes: Vec<Cause>,
    /// Exports present in both whose expanded type is equal (counted only).
    pub unchanged: usize,
    /// Exports only the old set has.
    pub removed: Vec<String>,
    /// Exports only the new set has.
    pub added: Vec<String>,
}

/// One export whose expanded type differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportChange {
    /// The export.
    pub symbol: String,
    /// The file defining it in the new set.
    pub file: String,
    /// Its root causes (`s#sk_buff`, or the symbol itself when its own
    /// declaration changed), deepest first.
    pub causes: Vec<String>,
}

/// One type (or export declaration) whose own definition changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cause {
    /// The record as symtypes spells it: `s#sk_buff`, `E#MAX`, `t#u8`, or
    /// an export's bare name.
    #[serde(rename = "type")]
    pub key: String,
    /// How many exports it reaches.
    pub exports: usize,
    /// The longest reference path from a reached export to it (0: an
    /// export's own declaration).
    pub depth: usize,
    /// Each distinct change of its definition (several when files held
    /// different variants), most exports first.
    pub variants: Vec<Variant>,
}

/// One distinct (old definition, new definition) pair of a [`Cause`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Variant {
    /// The old definition, as its record spells it.
    pub old: String,
    /// The new definition.
    pub new: String,
    /// Member-level changes from old to new.
    pub changes: Vec<Change>,
    /// Exports it reaches.
    pub exports: usize,
    /// File pairs holding it.
    pub files: usize,
}

/// A changed definition reached by an export: (key in the old set, old
/// definition, new definition) and the distance to it.
type Reached = (TypeKey, DefId, DefId, u32);

/// Compares `old` with `new`: see the module docs.
pub fn explain(old: &Symtypes, new: &Symtypes) -> Explanation {
    explain_only(old, new, &|_| true)
}

/// [`explain`] for the exports `keep` accepts (by name; `abibot explain
/// --symvers` keeps those whose CRC changed): the others are neither
/// listed, counted nor reached (nor named as added or removed).
pub fn explain_only(
    old: &Symtypes,
    new: &Symtypes,
    keep: &(dyn Fn(&str) -> bool + Sync),
) -> Explanation {
    let (mut groups, mut removed, mut added) = pair_exports(old, new);
    removed.retain(|s| keep(s));
    added.retain(|s| keep(s));
    for names in groups.values_mut() {
        names.retain(|&n| keep(old.names.text(n)));
    }
    groups.retain(|_, names| !names.is_empty());
    // One chunk per thread, each with its own memo: rayon's map_init may
    // start a fresh state for every split, losing the memo.
    let list: Vec<(&(FileId, FileId), &Vec<Name>)> = groups.iter().collect();
    let chunk = list.len().div_ceil(rayon::current_num_threads()).max(1);
    let per_group: Vec<Vec<(Name, FileId, Vec<Reached>)>> = list
        .par_chunks(chunk)
        .flat_map_iter(|part| {
            let mut same = Same::new(old, new);
            part.iter()
                .map(|&(&(fo, fnew), exports)| {
                    let pair = FilePair {
                        old,
                        new,
                        fo: old.file(fo),
                        fnew: new.file(fnew),
                    };
                    pair.reached(&mut same, exports)
                        .into_iter()
                        .map(|(name, reached)| (name, fnew, reached))
                        .collect()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let both: usize = groups.values().map(Vec::len).sum();
    let mut out = assemble(old, new, per_group);
    out.unchanged = both - out.exports.len();
    out.removed = removed;
    out.added = added;
    out
}

/// Exports in both sets grouped by (old file, new file), and the names of
/// those only in one.
type Paired = (
    BTreeMap<(FileId, FileId), Vec<Name>>,
    Vec<String>,
    Vec<String>,
);

fn pair_exports(old: &Symtypes, new: &Symtypes) -> Paired {
    let mut groups: BTreeMap<(FileId, FileId), Vec<Name>> = BTreeMap::new();
    let mut removed = Vec::new();
    for (name, fo) in old.exports() {
        let text = old.names.text(name);
        match new.export_file(text) {
            Some(fnew) => groups.entry((fo, fnew)).or_default().push(name),
            None => removed.push(text.to_owned()),
        }
    }
    let added = new
        .exports()
        .into_iter()
        .map(|(name, _)| new.names.text(name))
        .filter(|text| old.export_file(text).is_none())
        .map(str::to_owned)
        .collect();
    (groups, removed, added)
}

/// Whether an old and a new definition are the same text, memoised per
/// pair; one per thread.
struct Same<'a> {
    old: &'a Symtypes,
    new: &'a Symtypes,
    memo: FxHashMap<(DefId, DefId), bool>,
    names: NameMap<'a>,
}

/// A name of one set as a name of the other (by text), memoised: the same
/// names are looked up in every file.
struct NameMap<'a> {
    old: &'a Symtypes,
    new: &'a Symtypes,
    to_new: FxHashMap<Name, Option<Name>>,
    to_old: FxHashMap<Name, Option<Name>>,
}

impl NameMap<'_> {
    /// `key` of the old set as a key of the new set.
    fn new_key(&mut self, key: TypeKey) -> Option<TypeKey> {
        let (old, new) = (self.old, self.new);
        let name = (*self
            .to_new
            .entry(key.name)
            .or_insert_with(|| new.names.get(old.names.text(key.name))))?;
        Some(TypeKey {
            kind: key.kind,
            name,
        })
    }

    /// `key` of the new set as a key of the old set.
    fn old_key(&mut self, key: TypeKey) -> Option<TypeKey> {
        let (old, new) = (self.old, self.new);
        let name = (*self
            .to_old
            .entry(key.name)
            .or_insert_with(|| old.names.get(new.names.text(key.name))))?;
        Some(TypeKey {
            kind: key.kind,
            name,
        })
    }
}

impl<'a> Same<'a> {
    fn new(old: &'a Symtypes, new: &'a Symtypes) -> Same<'a> {
        Same {
            old,
            new,
            memo: FxHashMap::default(),
            names: NameMap {
                old,
                new,
                to_new: FxHashMap::default(),
                to_old: FxHashMap::default(),
            },
        }
    }

    /// The two definitions have equal tokens (`extern`/`override` markers
    /// are not part of the CRC, so not compared).
    fn same(&mut self, a: DefId, b: DefId) -> bool {
        let (old, new) = (self.old, self.new);
        *self.memo.entry((a, b)).or_insert_with(|| {
            let (x, y) = (&old.def(a).tokens, &new.def(b).tokens);
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(&s, &t)| match (s, t) {
                    (Token::Atom(m), Token::Atom(n)) => old.names.text(m) == new.names.text(n),
                    (Token::Ref(k), Token::Ref(l)) => {
                        k.kind == l.kind && old.names.text(k.name) == new.names.text(l.name)
                    }
                    _ => false,
                })
        })
    }
}

/// The old and new file an export group is defined in.
struct FilePair<'a> {
    old: &'a Symtypes,
    new: &'a Symtypes,
    fo: &'a SymtypesFile,
    fnew: &'a SymtypesFile,
}

impl FilePair<'_> {
    /// The records whose definition differs: (old key, old def, new def).
    fn changed(&self, same: &mut Same) -> Vec<(TypeKey, DefId, DefId)> {
        let mut out: Vec<(TypeKey, DefId, DefId)> = self
            .fo
            .records
            .iter()
            .filter_map(|(&key, &od)| {
                let nd = self.fnew.get(same.names.new_key(key)?)?;
                (!same.same(od, nd)).then_some((key, od, nd))
            })
            .collect();
        out.sort_unstable_by_key(|&(_, od, _)| od);
        out
    }

    /// For each export of `exports` whose expanded type differs, the
    /// changed definitions it reaches.
    fn reached(&self, same: &mut Same, exports: &[Name]) -> Vec<(Name, Vec<Reached>)> {
        let changed = self.changed(same);
        if changed.is_empty() {
            return Vec::new();
        }
        let graph = Reverse::new(self, &mut same.names, &changed);
        let mut per_export: FxHashMap<u32, Vec<Reached>> = FxHashMap::default();
        let wanted: FxHashSet<u32> = exports
            .iter()
            .filter_map(|&name| {
                graph.local(TypeKey {
                    kind: Kind::Export,
                    name,
                })
            })
            .collect();
        let mut dist = vec![u32::MAX; graph.keys.len()];
        for &(key, od, nd) in &changed {
            let Some(start) = graph.local(key) else {
                continue;
            };
            graph.distances(start, &mut dist);
            for &e in &wanted {
                if dist[e as usize] != u32::MAX {
                    per_export
                        .entry(e)
                        .or_default()
                        .push((key, od, nd, dist[e as usize]));
                }
            }
        }
        let mut out: Vec<(Name, Vec<Reached>)> = per_export
            .into_iter()
            .map(|(e, mut reached)| {
                reached.sort_by_key(|r| std::cmp::Reverse(r.3));
                (graph.keys[e as usize].name, reached)
            })
            .collect();
        out.sort_unstable_by_key(|(name, _)| *name);
        out
    }
}

/// An old file's records with their references reversed (who refers to
/// whom), plus the new references of changed definitions.
struct Reverse {
    keys: Vec<TypeKey>,
    index: FxHashMap<TypeKey, u32>,
    starts: Vec<u32>,
    referrers: Vec<u32>,
}

impl Reverse {
    fn new(pair: &FilePair, names: &mut NameMap, changed: &[(TypeKey, DefId, DefId)]) -> Reverse {
        let n = pair.fo.records.len();
        let mut keys = Vec::with_capacity(n);
        let mut index = FxHashMap::with_capacity_and_hasher(n, Default::default());
        for (i, &key) in pair.fo.records.keys().enumerate() {
            keys.push(key);
            index.insert(key, i as u32);
        }
        // (referred, referrer) pairs: the old references of every record,
        // and a changed definition's new ones too (the new expansion
        // reaches through them).
        let mut edges: Vec<(u32, u32)> = Vec::new();
        for (i, def) in pair.fo.records.values().enumerate() {
            for t in pair.old.def(*def).tokens.iter() {
                if let Token::Ref(k) = *t {
                    edges.push((index[&k], i as u32));
                }
            }
        }
        for &(key, _, nd) in changed {
            for t in pair.new.def(nd).tokens.iter() {
                if let Token::Ref(k) = *t
                    && let Some(&target) = names.old_key(k).and_then(|k| index.get(&k))
                {
                    edges.push((target, index[&key]));
                }
            }
        }
        // Counting sort by referred record: starts then referrers.
        let mut starts = vec![0u32; n + 1];
        for &(to, _) in &edges {
            starts[to as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut referrers = vec![0u32; edges.len()];
        for (to, from) in edges {
            referrers[fill[to as usize] as usize] = from;
            fill[to as usize] += 1;
        }
        Reverse {
            keys,
            index,
            starts,
            referrers,
        }
    }

    fn local(&self, key: TypeKey) -> Option<u32> {
        self.index.get(&key).copied()
    }

    /// Breadth-first from `start` over referrers: `dist[i]` is the length
    /// of the shortest reference path from `i` to `start`.
    fn distances(&self, start: u32, dist: &mut [u32]) {
        dist.fill(u32::MAX);
        dist[start as usize] = 0;
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            let (a, b) = (self.starts[v as usize], self.starts[v as usize + 1]);
            for &r in &self.referrers[a as usize..b as usize] {
                if dist[r as usize] == u32::MAX {
                    dist[r as usize] = dist[v as usize] + 1;
                    queue.push_back(r);
                }
            }
        }
    }
}

/// One cause variant being counted.
#[derive(Default)]
struct Tally {
    exports: usize,
    files: FxHashSet<FileId>,
    depth: u32,
}

/// Gathers the per-file results into exports and causes.
fn assemble(
    old: &Symtypes,
    new: &Symtypes,
    per_group: Vec<Vec<(Name, FileId, Vec<Reached>)>>,
) -> Explanation {
    let mut tallies: FxHashMap<(TypeKey, DefId, DefId), Tally> = FxHashMap::default();
    let mut exports = Vec::new();
    for (name, file, reached) in per_group.into_iter().flatten() {
        let mut causes = Vec::with_capacity(reached.len());
        for (key, od, nd, dist) in reached {
            let tally = tallies.entry((key, od, nd)).or_default();
            tally.exports += 1;
            tally.files.insert(file);
            tally.depth = tally.depth.max(dist);
            causes.push(old.key_text(key));
        }
        exports.push(ExportChange {
            symbol: old.names.text(name).to_owned(),
            file: new.file(file).path.clone(),
            causes,
        });
    }
    exports.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let mut causes = causes(old, new, tallies);
    causes.sort_by(|a, b| (b.depth, b.exports, &a.key).cmp(&(a.depth, a.exports, &b.key)));
    Explanation {
        exports,
        causes,
        ..Explanation::default()
    }
}

/// Tallies grouped by type key into [`Cause`]s with their diffs.
fn causes(
    old: &Symtypes,
    new: &Symtypes,
    tallies: FxHashMap<(TypeKey, DefId, DefId), Tally>,
) -> Vec<Cause> {
    let mut by_key: FxHashMap<TypeKey, Cause> = FxHashMap::default();
    for ((key, od, nd), tally) in tallies {
        let cause = by_key.entry(key).or_insert_with(|| Cause {
            key: old.key_text(key),
            exports: 0,
            depth: 0,
            variants: Vec::new(),
        });
        cause.exports += tally.exports;
        cause.depth = cause.depth.max(tally.depth as usize);
        cause.variants.push(Variant {
            old: old.def_text(od),
            new: new.def_text(nd),
            changes: diff::changes(old, od, new, nd),
            exports: tally.exports,
            files: tally.files.len(),
        });
    }
    by_key
        .into_values()
        .map(|mut c| {
            c.variants
                .sort_by(|a, b| (b.exports, &a.old).cmp(&(a.exports, &b.old)));
            c
        })
        .collect()
}
