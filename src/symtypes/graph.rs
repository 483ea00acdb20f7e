//! One file's records as a graph for fast expansion: dense local indices,
//! each record's references resolved in token order, and for every record
//! the set of records reachable from it (itself included) as a bitset.
//!
//! Reachability comes from the strongly connected components (Tarjan's
//! algorithm with its own stack, so a chain of 200,000 typedefs is fine):
//! components come out after everything they reach, so each one's set is
//! its members plus the sets of the components it refers to.

use rustc_hash::FxHashMap;

use super::{DefId, Symtypes, SymtypesFile, Token, TypeKey};

/// A reference that names no record of the file.
pub(super) const UNRESOLVED: u32 = u32::MAX;

/// A file's records, resolved (see the module docs).
pub(super) struct FileGraph {
    /// Local index -> definition.
    pub(super) defs: Vec<DefId>,
    /// Local index -> its references' local indices, in token order, in
    /// `targets[starts[i]..starts[i + 1]]` ([`UNRESOLVED`] for a missing one).
    starts: Vec<u32>,
    targets: Vec<u32>,
    /// Key -> local index.
    index: FxHashMap<TypeKey, u32>,
    /// Words of one bitset.
    pub(super) words: usize,
    /// Component of each local index, and each component's reach bitset.
    component: Vec<u32>,
    reach: Vec<u64>,
}

impl FileGraph {
    /// Resolves `file` of `st`.
    pub(super) fn new(st: &Symtypes, file: &SymtypesFile) -> FileGraph {
        let mut keys: Vec<(TypeKey, DefId)> = file.records.iter().map(|(&k, &d)| (k, d)).collect();
        keys.sort_unstable_by_key(|&(_, d)| d);
        let index: FxHashMap<TypeKey, u32> = keys
            .iter()
            .enumerate()
            .map(|(i, &(k, _))| (k, i as u32))
            .collect();
        let mut starts = Vec::with_capacity(keys.len() + 1);
        let mut targets = Vec::new();
        for &(_, def) in &keys {
            starts.push(targets.len() as u32);
            for &token in st.def(def).tokens.iter() {
                if let Token::Ref(key) = token {
                    targets.push(index.get(&key).copied().unwrap_or(UNRESOLVED));
                }
            }
        }
        starts.push(targets.len() as u32);
        let n = keys.len();
        let mut graph = FileGraph {
            defs: keys.into_iter().map(|(_, d)| d).collect(),
            starts,
            targets,
            index,
            words: n.div_ceil(64),
            component: Vec::new(),
            reach: Vec::new(),
        };
        graph.reachability();
        graph
    }

    /// The local index of `key`.
    pub(super) fn local(&self, key: TypeKey) -> Option<u32> {
        self.index.get(&key).copied()
    }

    /// The references of local `i`, resolved, in token order.
    pub(super) fn refs(&self, i: u32) -> &[u32] {
        let i = i as usize;
        &self.targets[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// The bitset of records reachable from local `i` (itself included).
    pub(super) fn reach(&self, i: u32) -> &[u64] {
        let c = self.component[i as usize] as usize;
        &self.reach[c * self.words..(c + 1) * self.words]
    }

    /// Tarjan's strongly connected components, iteratively, filling
    /// `component` and `reach`.
    fn reachability(&mut self) {
        let n = self.defs.len();
        const NONE: u32 = u32::MAX;
        let (mut order, mut low) = (vec![NONE; n], vec![0u32; n]);
        let mut on_stack = vec![false; n];
        let (mut stack, mut calls) = (Vec::new(), Vec::new());
        self.component = vec![NONE; n];
        let mut next = 0u32;
        for root in 0..n as u32 {
            if order[root as usize] != NONE {
                continue;
            }
            calls.push((root, 0usize));
            while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
                let vi = v as usize;
                if *edge == 0 && order[vi] == NONE {
                    (order[vi], low[vi]) = (next, next);
                    next += 1;
                    stack.push(v);
                    on_stack[vi] = true;
                }
                if let Some(&w) = self.refs(v).get(*edge) {
                    *edge += 1;
                    if w == UNRESOLVED {
                        continue;
                    }
                    if order[w as usize] == NONE {
                        calls.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[vi] = low[vi].min(order[w as usize]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent as usize] = low[parent as usize].min(low[vi]);
                }
                if low[vi] == order[vi] {
                    self.close_component(v, &mut stack, &mut on_stack);
                }
            }
        }
    }

    /// Pops the component rooted at `root` and computes its reach from its
    /// members and the (already finished) components they refer to.
    fn close_component(&mut self, root: u32, stack: &mut Vec<u32>, on_stack: &mut [bool]) {
        let c = (self.reach.len() / self.words.max(1)) as u32;
        let base = self.reach.len();
        self.reach.resize(base + self.words, 0);
        let mut members = Vec::new();
        while let Some(w) = stack.pop() {
            on_stack[w as usize] = false;
            self.component[w as usize] = c;
            members.push(w);
            if w == root {
                break;
            }
        }
        for &m in &members {
            self.reach[base + m as usize / 64] |= 1 << (m % 64);
            for k in 0..self.refs(m).len() {
                let t = self.refs(m)[k];
                if t == UNRESOLVED || self.component[t as usize] == c {
                    continue;
                }
                let other = self.component[t as usize] as usize * self.words;
                for word in 0..self.words {
                    self.reach[base + word] |= self.reach[other + word];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's reach bitset equals a plain search from it, on a file
    /// with cycles (self, two-type, through a typedef) and shared leaves.
    #[test]
    fn reach_equals_a_plain_search() {
        let text = "s#l struct l { s#l * n ; }\nt#t typedef s#b t\ns#a struct a { t#t x ; s#l y ; }\n\
                    s#b struct b { s#a * p ; }\ns#c struct c { s#l z ; }\nf int f ( s#a , s#c )\n";
        let st = crate::symtypes::load_bytes("g.symtypes", text.as_bytes()).unwrap();
        let g = FileGraph::new(&st, &st.files()[0]);
        let n = g.defs.len() as u32;
        for i in 0..n {
            let mut seen = vec![false; n as usize];
            let mut work = vec![i];
            seen[i as usize] = true;
            while let Some(v) = work.pop() {
                for &w in g.refs(v) {
                    if !seen[w as usize] {
                        seen[w as usize] = true;
                        work.push(w);
                    }
                }
            }
            for j in 0..n {
                let bit = g.reach(i)[j as usize / 64] & (1 << (j % 64)) != 0;
                assert_eq!(bit, seen[j as usize], "{i} reaches {j}");
            }
        }
    }
}
