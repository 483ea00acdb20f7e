//! A changed definition as member-level changes, computed on tokens: a
//! struct or union body is split at `;` at depth 0 into members, an enum
//! body at `,` into constants, a function declaration into its return type
//! and arguments; members are matched by a longest common subsequence, and
//! a member removed and added under the same name is one that changed (an
//! anonymous struct or union that changed is diffed member by member).
//! Types are spelled as C spells them (`s#list_head` -> `struct list_head`,
//! `t#u8` -> `u8`).

use serde::Serialize;

use crate::symtypes::{DefId, Kind, Symtypes, Token};

/// The most cells of the longest-common-subsequence table one member list
/// may take (members of the largest real struct: a few hundred, so 10^5
/// cells); past it the changed range is shown as all removed and added,
/// matched by name only.
pub const MAX_LCS_CELLS: usize = 1 << 22;

/// The deepest anonymous struct/union nesting diffed member by member
/// (deeper ones are shown as changed whole).
const MAX_NESTING: usize = 8;

/// One member-level change of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A member, enum constant or argument that is new.
    Added {
        /// Its name (`a.b` inside an anonymous struct; `argument 2`).
        member: String,
        /// Its declaration.
        text: String,
        /// The member before it in the new definition.
        after: Option<String>,
    },
    /// A member that is gone.
    Removed {
        /// Its name.
        member: String,
        /// Its old declaration.
        text: String,
    },
    /// A member whose declaration changed (type, value, width).
    Changed {
        /// Its name (`return type` for a function's).
        member: String,
        /// The old declaration.
        old: String,
        /// The new one.
        new: String,
    },
    /// A definition with no members changed as a whole: a typedef's
    /// target, an enum constant's value, a variable's type.
    Replaced {
        /// What it is (`typedef`, `value`, `type`, `definition`).
        what: String,
        /// The old text.
        old: String,
        /// The new text.
        new: String,
    },
}

impl Change {
    /// One plain-text line (strings as the input had them: escape to show).
    pub fn line(&self) -> String {
        match self {
            Change::Added {
                member,
                text,
                after: Some(after),
            } => format!("+ {member}: {text}   (after {after})"),
            Change::Added { member, text, .. } => format!("+ {member}: {text}   (at the start)"),
            Change::Removed { member, text } => format!("- {member}: {text}"),
            Change::Changed { member, old, new } => format!("~ {member}: {old} -> {new}"),
            Change::Replaced { what, old, new } => format!("~ {what}: {old} -> {new}"),
        }
    }
}

/// The member-level changes from `od` of `old` to `nd` of `new` (the same
/// record's old and new definitions).
pub fn changes(old: &Symtypes, od: DefId, new: &Symtypes, nd: DefId) -> Vec<Change> {
    let (a, b) = (spell(old, od), spell(new, nd));
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.iter().map(String::as_str).collect(),
        b.iter().map(String::as_str).collect(),
    );
    let kind = old.def(od).key.kind;
    match kind {
        Kind::Struct | Kind::Union | Kind::Enum => {
            let sep = if kind == Kind::Enum { "," } else { ";" };
            match (body(&a), body(&b)) {
                (Some(x), Some(y)) => members(&x, &y, sep, "", 0),
                _ => vec![replaced("definition", &a, &b)],
            }
        }
        Kind::Typedef => vec![replaced("typedef", &a, &b)],
        Kind::EnumConst => vec![replaced("value", &a, &b)],
        Kind::Export => declaration(&a, &b),
    }
}

/// A definition's tokens as C spells them.
fn spell(st: &Symtypes, id: DefId) -> Vec<String> {
    st.def(id)
        .tokens
        .iter()
        .map(|&t| match t {
            Token::Atom(n) => st.names.text(n).to_owned(),
            Token::Ref(key) => match key.kind.keyword() {
                Some(kw) => format!("{kw} {}", st.names.text(key.name)),
                None => st.names.text(key.name).to_owned(),
            },
        })
        .collect()
}

fn replaced(what: &str, a: &[&str], b: &[&str]) -> Change {
    Change::Replaced {
        what: what.to_owned(),
        old: a.join(" "),
        new: b.join(" "),
    }
}

fn opens(t: &str) -> bool {
    matches!(t, "{" | "(" | "[")
}

fn closes(t: &str) -> bool {
    matches!(t, "}" | ")" | "]")
}

/// The tokens between the first `{` and the last token when it is `}`.
fn body<'a>(tokens: &[&'a str]) -> Option<Vec<&'a str>> {
    let open = tokens.iter().position(|&t| t == "{")?;
    (tokens.last() == Some(&"}") && open + 1 < tokens.len())
        .then(|| tokens[open + 1..tokens.len() - 1].to_vec())
}

/// `tokens` split at `sep` at depth 0 (empty pieces dropped).
fn split<'a>(tokens: &[&'a str], sep: &str) -> Vec<Vec<&'a str>> {
    let (mut out, mut cur, mut depth) = (Vec::new(), Vec::new(), 0usize);
    for &t in tokens {
        if t == sep && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if opens(t) {
            depth += 1;
        } else if closes(t) {
            depth = depth.saturating_sub(1);
        }
        cur.push(t);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const KEYWORDS: &[&str] = &[
    "struct",
    "union",
    "enum",
    "const",
    "volatile",
    "unsigned",
    "signed",
    "int",
    "char",
    "long",
    "short",
    "void",
    "float",
    "double",
    "_Bool",
    "bool",
    "typeof",
    "__attribute__",
    "sizeof",
];

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&t)
}

/// A struct member's name: the declarator of a function pointer
/// (`void ( * fn ) ( int )`), else the last identifier at depth 0 before a
/// bit-field width; an anonymous struct or union is `<anonymous union>`.
fn member_name(tokens: &[&str]) -> String {
    let mut depth = 0usize;
    let mut last = None;
    for (i, &t) in tokens.iter().enumerate() {
        if t == "("
            && depth == 0
            && tokens.get(i + 1) == Some(&"*")
            && let Some(&name) = tokens[i + 1..].iter().find(|t| is_ident(t))
        {
            return name.to_owned();
        }
        if t == ":" && depth == 0 {
            break;
        }
        if opens(t) {
            depth += 1;
        } else if closes(t) {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && is_ident(t) {
            last = Some(t);
        }
    }
    match last {
        Some(name) => name.to_owned(),
        None => format!(
            "<anonymous {}>",
            tokens.first().copied().unwrap_or("member")
        ),
    }
}

/// One member: its name and its declaration's tokens.
struct Member<'a> {
    name: String,
    tokens: Vec<&'a str>,
    text: String,
}

fn parse_members<'a>(tokens: &[&'a str], sep: &str) -> Vec<Member<'a>> {
    split(tokens, sep)
        .into_iter()
        .map(|m| Member {
            name: if sep == "," {
                m[0].to_owned()
            } else {
                member_name(&m)
            },
            text: m.join(" "),
            tokens: m,
        })
        .collect()
}

/// The changes between two member lists (`prefix` names the anonymous
/// aggregate they are inside).
fn members(a: &[&str], b: &[&str], sep: &str, prefix: &str, nesting: usize) -> Vec<Change> {
    let (x, y) = (parse_members(a, sep), parse_members(b, sep));
    let ops = lcs(&x, &y);
    let mut out = Vec::new();
    let (mut removed, mut added): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for op in ops.into_iter().chain([Op::Keep(x.len(), y.len())]) {
        match op {
            Op::Remove(i) => removed.push(i),
            Op::Add(j) => added.push(j),
            Op::Keep(..) => {
                let run = Run {
                    x: &x,
                    y: &y,
                    sep,
                    prefix,
                    nesting,
                };
                run.pair(&removed, &added, &mut out);
                removed.clear();
                added.clear();
            }
        }
    }
    out
}

/// A run of removed and added members between two kept ones.
struct Run<'r, 'a> {
    x: &'r [Member<'a>],
    y: &'r [Member<'a>],
    sep: &'r str,
    prefix: &'r str,
    nesting: usize,
}

impl Run<'_, '_> {
    /// Pairs removed and added members of the same name into changes.
    fn pair(&self, removed: &[usize], added: &[usize], out: &mut Vec<Change>) {
        let mut taken = vec![false; added.len()];
        for &i in removed {
            let old = &self.x[i];
            let found = added
                .iter()
                .enumerate()
                .find(|&(k, &j)| !taken[k] && self.y[j].name == old.name);
            let name = format!("{}{}", self.prefix, old.name);
            match found {
                Some((k, &j)) => {
                    taken[k] = true;
                    out.extend(self.changed(&name, old, &self.y[j]));
                }
                None => out.push(Change::Removed {
                    member: name,
                    text: old.text.clone(),
                }),
            }
        }
        for (k, &j) in added.iter().enumerate() {
            if !taken[k] {
                out.push(Change::Added {
                    member: format!("{}{}", self.prefix, self.y[j].name),
                    text: self.y[j].text.clone(),
                    after: j
                        .checked_sub(1)
                        .map(|p| format!("{}{}", self.prefix, self.y[p].name)),
                });
            }
        }
    }

    /// A member present on both sides with different declarations: an
    /// anonymous aggregate is diffed inside.
    fn changed(&self, name: &str, old: &Member, new: &Member) -> Vec<Change> {
        let anonymous = old.name.starts_with("<anonymous");
        if let (true, true, Some(a), Some(b)) = (
            anonymous,
            self.nesting < MAX_NESTING,
            aggregate_body(&old.tokens),
            aggregate_body(&new.tokens),
        ) {
            return members(&a, &b, self.sep, &format!("{name}."), self.nesting + 1);
        }
        vec![Change::Changed {
            member: name.to_owned(),
            old: old.text.clone(),
            new: new.text.clone(),
        }]
    }
}

/// The body of `struct { ... }` / `union { ... }`.
fn aggregate_body<'a>(tokens: &[&'a str]) -> Option<Vec<&'a str>> {
    (tokens.len() >= 3 && matches!(tokens[0], "struct" | "union") && tokens[1] == "{")
        .then(|| body(tokens))
        .flatten()
}

/// One step of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep(usize, usize),
    Remove(usize),
    Add(usize),
}

/// An edit script from `x` to `y` by longest common subsequence of the
/// members' texts, after trimming the common prefix and suffix.
fn lcs(x: &[Member], y: &[Member]) -> Vec<Op> {
    let pre = x
        .iter()
        .zip(y)
        .take_while(|(a, b)| a.text == b.text)
        .count();
    let suf = x[pre..]
        .iter()
        .rev()
        .zip(y[pre..].iter().rev())
        .take_while(|(a, b)| a.text == b.text)
        .count();
    let (n, m) = (x.len() - pre - suf, y.len() - pre - suf);
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Keep(i, i)).collect();
    if n.saturating_mul(m) > MAX_LCS_CELLS {
        ops.extend((pre..pre + n).map(Op::Remove));
        ops.extend((pre..pre + m).map(Op::Add));
    } else {
        ops.extend(middle(&x[pre..pre + n], &y[pre..pre + m], pre));
    }
    ops.extend((0..suf).map(|k| Op::Keep(pre + n + k, pre + m + k)));
    ops
}

/// The classic table walk for the changed middle (indices offset by `at`).
fn middle(x: &[Member], y: &[Member], at: usize) -> Vec<Op> {
    let (n, m) = (x.len(), y.len());
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[idx(i, j)] = if x[i].text == y[j].text {
                table[idx(i + 1, j + 1)] + 1
            } else {
                table[idx(i + 1, j)].max(table[idx(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && x[i].text == y[j].text {
            ops.push(Op::Keep(at + i, at + j));
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || table[idx(i, j + 1)] >= table[idx(i + 1, j)]) {
            ops.push(Op::Add(at + j));
            j += 1;
        } else {
            ops.push(Op::Remove(at + i));
            i += 1;
        }
    }
    ops
}

/// A function's return type and arguments, or a variable's type.
fn declaration(a: &[&str], b: &[&str]) -> Vec<Change> {
    let (Some((ra, pa)), Some((rb, pb))) = (signature(a), signature(b)) else {
        return vec![replaced("type", a, b)];
    };
    let mut out = Vec::new();
    if ra != rb {
        out.push(Change::Changed {
            member: "return type".to_owned(),
            old: ra.join(" "),
            new: rb.join(" "),
        });
    }
    for k in 0..pa.len().max(pb.len()) {
        let member = format!("argument {}", k + 1);
        match (pa.get(k), pb.get(k)) {
            (Some(x), Some(y)) if x != y => out.push(Change::Changed {
                member,
                old: x.join(" "),
                new: y.join(" "),
            }),
            (Some(x), None) => out.push(Change::Removed {
                member,
                text: x.join(" "),
            }),
            (None, Some(y)) => out.push(Change::Added {
                member,
                text: y.join(" "),
                after: k.checked_sub(1).map(|p| format!("argument {}", p + 1)),
            }),
            _ => {}
        }
    }
    out
}

/// Splits `ret name ( args )` at the parenthesis matching the last `)`.
type Signature<'a> = (Vec<&'a str>, Vec<Vec<&'a str>>);

fn signature<'a>(tokens: &[&'a str]) -> Option<Signature<'a>> {
    if tokens.last() != Some(&")") {
        return None;
    }
    let mut depth = 0usize;
    for i in (0..tokens.len()).rev() {
        if closes(tokens[i]) {
            depth += 1;
        } else if opens(tokens[i]) {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                let args = split(&tokens[i + 1..tokens.len() - 1], ",");
                return Some((tokens[..i].to_vec(), args));
            }
        }
    }
    None
}
