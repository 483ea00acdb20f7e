//! Fitting a Markdown body into a size limit (a forge's comment limit).
//!
//! A body is built as a tree of [`Part`]s, each with a rank: 0 is always
//! kept, a higher rank is cut first. Parts are admitted by rank, then in
//! document order, while they fit, a part only with its parent; the first
//! part of a rank that does not fit closes that rank and every later one, so
//! what stays is always the most important prefix. A list whose every item
//! was cut is dropped whole. The cut parts are counted by what they are
//! ([`Part::what`]) for a notice in the body ([`Part::notice`]), whose worst
//! case is reserved before anything else is admitted.
//!
//! Sizes are counted in bytes of UTF-8: never fewer than the characters a
//! forge counts, so a body within `budget` bytes is within `budget`
//! characters.

use std::collections::BTreeMap;

/// What was cut, by [`Part::what`] label, in label order.
pub type Cuts = BTreeMap<&'static str, usize>;

/// Says how many items of a list are not shown (`- ... and 12 more`).
pub type Note = Box<dyn Fn(usize) -> String>;

/// One piece of a body: text before and after its children.
pub struct Part {
    head: String,
    tail: String,
    rank: u8,
    what: Option<&'static str>,
    /// Says how many of the items this part stands for are not shown.
    more: Option<Note>,
    /// How many items the children stand for (the rest were never listed).
    total: usize,
    notice: bool,
    children: Vec<Part>,
}

impl Part {
    /// A part of `rank` starting with `head`.
    pub fn new(rank: u8, head: impl Into<String>) -> Part {
        Part {
            head: head.into(),
            tail: String::new(),
            rank,
            what: None,
            more: None,
            total: 0,
            notice: false,
            children: Vec::new(),
        }
    }

    /// Where the notice of what was cut goes (always kept, its worst case
    /// reserved).
    pub fn notice() -> Part {
        Part {
            notice: true,
            ..Part::new(0, "")
        }
    }

    /// Text after the children.
    pub fn tail(mut self, tail: impl Into<String>) -> Part {
        self.tail = tail.into();
        self
    }

    /// The plural the notice counts this part under when it is cut.
    pub fn what(mut self, what: &'static str) -> Part {
        self.what = Some(what);
        self
    }

    /// Makes this part a list standing for `total` items: when fewer are
    /// shown, `note(missing)` follows the tail. A list left with no item is
    /// dropped.
    pub fn list(mut self, total: usize, note: impl Fn(usize) -> String + 'static) -> Part {
        self.total = total;
        self.more = Some(Box::new(note));
        self
    }

    /// Adds a child; it ranks no higher than its parent.
    pub fn push(&mut self, mut child: Part) {
        child.rank = child.rank.max(self.rank);
        self.children.push(child);
    }

    /// Bytes this part adds, children apart, at most.
    fn cost(&self, notice: usize) -> usize {
        let more = self.more.as_ref().map_or(0, |note| note(self.total).len());
        self.head.len() + self.tail.len() + more + if self.notice { notice } else { 0 }
    }
}

/// A part's place in the tree.
struct Node<'a> {
    part: &'a Part,
    parent: Option<usize>,
    /// One past the last node of its subtree.
    end: usize,
}

fn flatten<'a>(part: &'a Part, parent: Option<usize>, out: &mut Vec<Node<'a>>) {
    let index = out.len();
    out.push(Node {
        part,
        parent,
        end: 0,
    });
    for child in &part.children {
        flatten(child, Some(index), out);
    }
    out[index].end = out.len();
}

/// Which parts fit in `budget` bytes, `notice` bytes reserved.
fn select(nodes: &[Node<'_>], budget: usize, notice: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| (nodes[i].part.rank, i));
    let mut kept = vec![false; nodes.len()];
    let mut used = 0usize;
    let mut closed = u8::MAX;
    for i in order {
        let node = &nodes[i];
        let rank = node.part.rank;
        if node.parent.is_some_and(|p| !kept[p]) || rank >= closed {
            continue;
        }
        let cost = node.part.cost(notice);
        if rank == 0 || used.saturating_add(cost) <= budget {
            kept[i] = true;
            used = used.saturating_add(cost);
        } else {
            closed = rank;
        }
    }
    // Children come after their parent: going backwards sees every child
    // before its parent, so a list is dropped once its items are known.
    let mut shown = vec![0usize; nodes.len()];
    for i in (0..nodes.len()).rev() {
        let node = &nodes[i];
        if kept[i] && node.part.total > 0 && shown[i] == 0 {
            kept[i] = false;
        }
        if let (true, Some(p)) = (kept[i], node.parent) {
            shown[p] += 1;
        }
    }
    kept
}

/// How the notice counts kept lists that lost some of their items.
pub const CUT_SHORT: &str = "lists cut short";

/// The parts cut where their parent was kept, by label, and the kept lists
/// that lost items ([`CUT_SHORT`]).
fn cuts(nodes: &[Node<'_>], kept: &[bool]) -> Cuts {
    let mut cuts = Cuts::new();
    let mut short = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let Some(p) = node.parent else { continue };
        if kept[i] || !kept[p] {
            continue;
        }
        if let Some(what) = node.part.what {
            *cuts.entry(what).or_default() += 1;
            continue;
        }
        // An unlabelled part cut: its parent list lost an item, or, under a
        // part that is no list, it is itself a list that lost them all.
        let list = [p, i].into_iter().find(|&l| nodes[l].part.more.is_some());
        if let Some(l) = list.filter(|&l| !short[l]) {
            short[l] = true;
            *cuts.entry(CUT_SHORT).or_default() += 1;
        }
    }
    cuts
}

/// Writes the kept parts under `nodes[*index]`, in document order.
fn render(nodes: &[Node<'_>], kept: &[bool], index: &mut usize, notice: &str, out: &mut String) {
    let i = *index;
    let part = nodes[i].part;
    if !kept[i] {
        *index = nodes[i].end;
        return;
    }
    *index += 1;
    out.push_str(&part.head);
    if part.notice {
        out.push_str(notice);
    }
    let mut shown = 0;
    for _ in &part.children {
        shown += usize::from(kept[*index]);
        render(nodes, kept, index, notice, out);
    }
    out.push_str(&part.tail);
    if let Some(note) = part.more.as_ref().filter(|_| part.total > shown) {
        out.push_str(&note(part.total - shown));
    }
}

/// The body of `root` within `budget` bytes (when its rank-0 parts fit),
/// cutting the least important parts first; `notice` says what was cut,
/// and is called with every labelled part counted for its worst case.
pub fn fit(root: &Part, budget: usize, notice: &dyn Fn(&Cuts) -> String) -> String {
    let mut nodes = Vec::new();
    flatten(root, None, &mut nodes);
    let mut worst = Cuts::new();
    for node in &nodes {
        if let Some(what) = node.part.what {
            *worst.entry(what).or_default() += 1;
        }
        if node.part.more.is_some() {
            *worst.entry(CUT_SHORT).or_default() += 1;
        }
    }
    let reserve = if worst.is_empty() {
        0
    } else {
        notice(&worst).len()
    };
    let kept = select(&nodes, budget, reserve);
    let cut = cuts(&nodes, &kept);
    let text = if cut.is_empty() {
        String::new()
    } else {
        notice(&cut)
    };
    let mut out = String::new();
    render(&nodes, &kept, &mut 0, &text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(n: usize) -> String {
        format!("({n} more)\n")
    }

    fn says(cuts: &Cuts) -> String {
        let parts: Vec<String> = cuts.iter().map(|(w, n)| format!("{n} {w}")).collect();
        format!("[cut: {}]\n", parts.join(", "))
    }

    /// A title, a notice, then two lists of ten 10-byte items.
    fn doc() -> Part {
        let mut root = Part::new(0, "title\n");
        root.push(Part::notice());
        for (rank, name) in [(1u8, "a"), (2, "b")] {
            let mut list = Part::new(rank, format!("{name}:\n"))
                .what("lists")
                .list(10, note);
            for i in 0..10 {
                list.push(Part::new(rank, format!("{name}-item-{i}\n")));
            }
            root.push(list);
        }
        root
    }

    #[test]
    fn everything_fits_in_a_large_budget() {
        let out = fit(&doc(), usize::MAX, &says);
        assert!(!out.contains("cut"), "{out}");
        assert!(out.contains("a-item-9\n") && out.contains("b-item-9\n"));
    }

    #[test]
    fn later_ranks_go_first_and_the_cut_is_said() {
        let full = fit(&doc(), usize::MAX, &says).len();
        for budget in (30..full).step_by(7) {
            let out = fit(&doc(), budget, &says);
            assert!(out.len() <= budget, "{budget}: {}\n{out}", out.len());
            assert!(out.starts_with("title\n"));
            // b's items only ever after all of a's.
            if out.contains("b-item-0") {
                assert!(out.contains("a-item-9"), "{out}");
            }
            let cut = usize::from(!out.contains("a:")) + usize::from(!out.contains("b:"));
            if cut > 0 {
                assert!(out.contains(&format!("[cut: {cut} lists")), "{out}");
            }
            let shown = out.matches("a-item").count();
            if shown < 10 && shown > 0 {
                assert!(out.contains(&format!("({} more)", 10 - shown)), "{out}");
                assert!(out.contains("1 lists cut short]"), "{out}");
            }
        }
    }

    #[test]
    fn an_unlabelled_list_cut_whole_is_counted() {
        // An unlabelled list straight under the (non-list) root.
        let mut root = Part::new(0, "title\n");
        root.push(Part::notice());
        let mut list = Part::new(1, "x:\n").list(3, note);
        for i in 0..3 {
            list.push(Part::new(1, format!("x-item-{i}\n")));
        }
        root.push(list);
        let notice = "[cut: 1 lists cut short]\n";
        let bare = "title\n".len() + notice.len();
        // Nothing of the list fits; then its head fits but no item (emptied).
        let head = "x:\n".len() + note(3).len();
        for budget in [bare, bare + head + 4] {
            assert_eq!(fit(&root, budget, &says), format!("title\n{notice}"));
        }
    }

    #[test]
    fn rank_zero_is_kept_even_over_budget() {
        let out = fit(&doc(), 3, &says);
        assert_eq!(out, "title\n[cut: 2 lists]\n");
    }
}
