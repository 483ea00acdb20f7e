//! The explanation of a finding in its Markdown comment: for each distinct
//! explanation among its flavours ([`crate::history::explain`]), a summary
//! line, each root cause's headline and its member-level diff, as budget
//! [`Part`]s, so the body budget cuts diffs before headlines and the last
//! causes before the first. Every type name and member comes from the
//! repository's symtypes: it stays in code ([`super::untrusted`]).

use super::budget::Part;
use super::explain::{diff_text, headline};
use super::thousands;
use super::untrusted::{clip, code, code_block};
use crate::explain::Explanation;
use crate::findings::FlavourChange;

/// How many root causes of one explanation a comment names (all of them
/// are in `scan --format json`): the deepest causes come first, and past a
/// few dozen a comment no longer helps.
pub const COMMENT_CAUSES: usize = 20;

/// Flavours sharing one explanation, in the finding's order.
fn grouped(flavours: &[FlavourChange]) -> Vec<(Vec<&str>, &Explanation)> {
    let mut groups: Vec<(Vec<&str>, &Explanation)> = Vec::new();
    for fl in flavours {
        let Some(ex) = fl.explanation.as_deref() else {
            continue;
        };
        match groups.iter_mut().find(|(_, e)| *e == ex) {
            Some((names, _)) => names.push(&fl.flavour),
            None => groups.push((vec![&fl.flavour], ex)),
        }
    }
    groups
}

/// `... and 3 more root causes`, after a cut list of causes.
fn more_causes(n: usize) -> String {
    format!(
        "\n... and {} more root cause(s) (all of them in `abibot scan --format json`)\n",
        thousands(n)
    )
}

/// The parts explaining `flavours`' CRC changes: headlines at
/// `headline_rank`, diffs at `diff_rank` (cut first when higher).
pub fn explanation_parts(
    flavours: &[FlavourChange],
    headline_rank: u8,
    diff_rank: u8,
) -> Vec<Part> {
    let q = |s: &str| code(&clip(s));
    grouped(flavours)
        .into_iter()
        .filter(|(_, ex)| !ex.causes.is_empty())
        .map(|(names, ex)| {
            let names: Vec<String> = names.iter().map(|n| q(n)).collect();
            let mut section = Part::new(
                headline_rank,
                format!(
                    "\n**Type changes behind the CRC changes** ({}): {} export(s) changed, {} root cause(s).\n",
                    names.join(", "),
                    thousands(ex.exports.len()),
                    thousands(ex.causes.len())
                ),
            )
            .what("explanations")
            .list(ex.causes.len(), more_causes);
            for cause in ex.causes.iter().take(COMMENT_CAUSES) {
                let mut line = Part::new(headline_rank, format!("\n{}.\n", headline(cause, &q)))
                    .what("root causes");
                let diff = format!("\n{}", code_block(&diff_text(cause)));
                line.push(Part::new(diff_rank, diff).what("type diffs"));
                section.push(line);
            }
            section
        })
        .collect()
}
