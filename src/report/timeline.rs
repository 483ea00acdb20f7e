//! Rendering of `timeline` results: every ABI name with the reference
//! states it went through, numbered per flavour; a revert to an earlier
//! state is shown as a return to it, not as another state.

use std::fmt::Write as _;

use super::untrusted::{self, cell, code, plain};
use crate::history::RevisionError;
use crate::history::timeline::{AbiHistory, State, distinct};

/// `ABI 6.1.0-53 named 3 different ABIs (amd64_none_amd64: 3 states, ...)`,
/// names shown by `show`; returns are counted apart (`2 states, 1 return`).
pub fn verdict(abi: &AbiHistory, show: &dyn Fn(&str) -> String) -> String {
    let n = abi.distinct();
    let name = show(abi.abi.as_str());
    if n <= 1 {
        return format!("ABI {name} named one ABI");
    }
    let detail: Vec<String> = abi
        .flavours
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(f, s)| {
            let returns = s.len() - distinct(s);
            let plural = if returns == 1 { "" } else { "s" };
            let returns = match returns {
                0 => String::new(),
                r => format!(", {r} return{plural}"),
            };
            format!("{}: {} states{returns}", show(f), distinct(s))
        })
        .collect();
    format!(
        "ABI {name} named {n} different ABIs ({})",
        detail.join(", ")
    )
}

/// Each state with its label: its number among the flavour's distinct
/// states, or `returns to N` for a return to state N.
fn numbered(states: &[State]) -> impl Iterator<Item = (String, &State)> {
    let mut n = 0;
    states.iter().map(move |s| match s.returns_to {
        Some(to) => (format!("returns to {to}"), s),
        None => {
            n += 1;
            (n.to_string(), s)
        }
    })
}

/// What else is known of a state: that it broke the name, that the name
/// came back from another.
fn notes(s: &State) -> Vec<String> {
    let mut notes = Vec::new();
    if s.incompatible {
        notes.push("incompatible".to_owned());
    }
    if let Some(from) = &s.came_back_from {
        notes.push(format!("came back from {from}"));
    }
    notes
}

/// Human text: a verdict per name, then the states of flavours that had several.
pub fn text(abis: &[AbiHistory]) -> String {
    let mut out = String::new();
    for abi in abis {
        let _ = writeln!(out, "{}", verdict(abi, &plain));
        for (flavour, states) in abi.flavours.iter().filter(|(_, s)| s.len() > 1) {
            for (label, s) in numbered(states) {
                let tags: String = notes(s)
                    .iter()
                    .map(|n| format!(" [{}]", untrusted::text(n)))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {:<28} {label:>12} {} {}{tags}",
                    untrusted::text(flavour),
                    s.commit.short(),
                    untrusted::text(&s.title)
                );
            }
        }
    }
    out
}

/// Markdown: a verdict per name and a table of states.
pub fn markdown(abis: &[AbiHistory]) -> String {
    let mut out = String::from("## abibot timeline\n");
    for abi in abis {
        let _ = writeln!(out, "\n**{}**\n", verdict(abi, &code));
        out.push_str(
            "| flavour | state | commit | title | incompatible | came back from |\n\
             |---|---|---|---|---|---|\n",
        );
        for (flavour, states) in &abi.flavours {
            for (label, s) in numbered(states) {
                let from = s
                    .came_back_from
                    .as_ref()
                    .map_or(String::new(), |f| cell(f.as_str()));
                let _ = writeln!(
                    out,
                    "| {} | {label} | {} | {} | {} | {from} |",
                    cell(flavour),
                    cell(s.commit.short()),
                    cell(&s.title),
                    if s.incompatible { "yes" } else { "" }
                );
            }
        }
    }
    out
}

/// JSON: `abis`, the list of names with their states per flavour (a return
/// carries `returns_to`, a name that came back `came_back_from`), and
/// `errors`, the problems at single revisions (commit, path, message).
pub fn json(abis: &[AbiHistory], errors: &[RevisionError]) -> String {
    let doc = serde_json::json!({ "abis": abis, "errors": errors });
    serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::CommitSha;
    use crate::symbols::AbiName;

    fn state(n: u8, returns_to: Option<usize>, from: Option<&str>) -> State {
        State {
            content: format!("{n:02x}").repeat(20),
            commit: format!("{n:02x}").repeat(20).parse::<CommitSha>().unwrap(),
            title: format!("commit {n}"),
            incompatible: n == 2,
            returns_to,
            came_back_from: from.map(|f| AbiName::new(f).unwrap()),
            symbols: 100,
            changes: None,
        }
    }

    /// A release, a break, a revert to the release, and the name coming
    /// back from another with a state it had.
    fn history() -> Vec<AbiHistory> {
        let states = vec![
            state(1, None, None),
            state(2, None, None),
            state(3, Some(1), None),
            state(4, Some(2), Some("6.1.0-50")),
        ];
        vec![AbiHistory {
            abi: AbiName::new("6.1.0-47").unwrap(),
            flavours: [("amd64_none_amd64".to_owned(), states)].into(),
        }]
    }

    #[test]
    fn returns_are_numbered_apart_and_not_counted_as_abis() {
        let abis = history();
        assert_eq!(abis[0].distinct(), 2);
        assert_eq!(
            verdict(&abis[0], &plain),
            "ABI 6.1.0-47 named 2 different ABIs (amd64_none_amd64: 2 states, 2 returns)"
        );
        let text = text(&abis);
        let labels: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(labels, ["1", "2", "returns", "returns"], "{text}");
        assert!(
            text.contains("returns to 1 030303030303 commit 3\n"),
            "{text}"
        );
        assert!(
            text.contains("commit 4 [came back from 6.1.0-50]"),
            "{text}"
        );
        let md = markdown(&abis);
        assert!(
            md.contains("| returns to 2 | `040404040404` | `commit 4` |  | `6.1.0-50` |"),
            "{md}"
        );
        let doc: serde_json::Value = serde_json::from_str(&json(&abis, &[])).unwrap();
        let states = &doc["abis"][0]["flavours"]["amd64_none_amd64"];
        assert_eq!(states[2]["returns_to"], 1);
        assert!(states[0].get("returns_to").is_none());
        assert_eq!(states[3]["came_back_from"], "6.1.0-50");
    }
}
