//! README.md's usage blocks and the command line agree: every subcommand
//! has a usage line, every long flag and positional argument of a command
//! is shown on it, and every `--flag` shown there exists. The flags are read
//! from clap's own description of [`abibot::cli::Cli`], so a flag added to the
//! code without a README line fails here.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

/// README.md as shipped.
fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The usage entries of README.md: a line inside a fenced code block that
/// starts with `abibot `, joined with the indented lines that continue it,
/// shell comments (` # ...`) cut off.
fn usage_entries(readme: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    let mut in_block = false;
    let mut continuing = false;
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continuing = false;
            continue;
        }
        let code = line.split(" #").next().unwrap_or_default();
        if in_block && code.starts_with("abibot ") {
            entries.push(code.to_owned());
            continuing = true;
        } else if in_block && continuing && code.starts_with(char::is_whitespace) {
            if let Some(last) = entries.last_mut() {
                last.push(' ');
                last.push_str(code.trim());
            }
        } else {
            continuing = false;
        }
    }
    entries
}

/// The entries for the command `path` (`["state", "list"]`): those whose
/// words after `abibot` start with it.
fn entries_for<'a>(entries: &'a [String], path: &[&str]) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|e| {
            let words: Vec<&str> = e.split_whitespace().skip(1).collect();
            words.starts_with(path)
        })
        .map(String::as_str)
        .collect()
}

/// The `--flag` words of a text.
fn long_flags(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter_map(|w| w.strip_prefix("--"))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The value lists the README gives after a flag (`--format text|json`),
/// in the order they stand.
fn shown_values(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || "[]()".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter_map(|pair| Some((pair[0].strip_prefix("--")?, pair[1])))
        .filter(|(_, values)| values.contains('|'))
        .map(|(flag, values)| {
            (
                flag.to_owned(),
                values.split('|').map(str::to_owned).collect(),
            )
        })
        .collect()
}

/// What a command accepts: its long flags (with the global ones of its
/// parents), the values of those that take one of a list, and the value
/// names of its positional arguments that have no default, as `--help`
/// shows them.
struct Accepted {
    flags: BTreeSet<String>,
    values: BTreeMap<String, BTreeSet<String>>,
    positionals: Vec<String>,
}

fn accepted(command: &clap::Command, inherited: &BTreeSet<String>) -> Accepted {
    let mut flags = inherited.clone();
    let mut values = BTreeMap::new();
    let mut positionals = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            flags.insert(long.to_owned());
            // A visible alias is shown by `--help`: the README may use it.
            let aliases = arg.get_visible_aliases().unwrap_or_default();
            flags.extend(aliases.into_iter().map(str::to_owned));
            let possible: BTreeSet<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_owned())
                .collect();
            if arg.get_action().takes_values() && !possible.is_empty() {
                values.insert(long.to_owned(), possible);
            }
        } else if arg.is_positional() && arg.get_default_values().is_empty() {
            // One with a default (`config check [FILE]`) may be shown by an
            // example value instead of its name.
            match arg.get_value_names() {
                Some(names) => positionals.extend(names.iter().map(|n| n.to_string())),
                None => positionals.push(arg.get_id().as_str().to_uppercase()),
            }
        }
    }
    // clap's own: every command has them, no README needs to list them.
    flags.remove("help");
    flags.remove("version");
    Accepted {
        flags,
        values,
        positionals,
    }
}

/// Every leaf command (one that runs something) with its path and parents'
/// global flags.
fn leaves(
    command: &clap::Command,
    path: Vec<String>,
    inherited: BTreeSet<String>,
    out: &mut Vec<(Vec<String>, Accepted)>,
) {
    let mut globals = inherited.clone();
    for arg in command.get_arguments().filter(|a| a.is_global_set()) {
        globals.extend(arg.get_long().map(str::to_owned));
    }
    let subcommands: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    if subcommands.is_empty() {
        out.push((path, accepted(command, &inherited)));
        return;
    }
    for sub in subcommands {
        let mut path = path.clone();
        path.push(sub.get_name().to_owned());
        leaves(sub, path, globals.clone(), out);
    }
}

/// What is wrong with README.md's usage of one command, if anything.
fn problems(readme_entries: &[String], path: &[String], accepted: &Accepted) -> Vec<String> {
    let words: Vec<&str> = path.iter().map(String::as_str).collect();
    let name = format!("abibot {}", words.join(" "));
    let entries = entries_for(readme_entries, &words);
    if entries.is_empty() {
        return vec![format!("{name}: no usage line in a README code block")];
    }
    let shown: BTreeSet<String> = entries.iter().flat_map(|e| long_flags(e)).collect();
    let text = entries.join("\n");
    let mut problems = Vec::new();
    for flag in accepted.flags.difference(&shown) {
        problems.push(format!("{name}: --{flag} is not in its README usage"));
    }
    for flag in shown.difference(&accepted.flags) {
        problems.push(format!(
            "{name}: the README shows --{flag}, which it does not have"
        ));
    }
    let lists = shown_values(&text);
    for (flag, values) in &accepted.values {
        let wanted = join(values);
        let shown: Vec<String> = lists
            .iter()
            .filter(|(f, _)| f == flag)
            .map(|(_, v)| join(v))
            .collect();
        if shown.is_empty() || shown.iter().any(|v| *v != wanted) {
            problems.push(format!(
                "{name}: --{flag} takes {wanted}, its README usage shows {shown:?}"
            ));
        }
    }
    for value in &accepted.positionals {
        if !text.contains(value.as_str()) {
            problems.push(format!(
                "{name}: argument {value} is not in its README usage"
            ));
        }
    }
    problems
}

fn join(values: &BTreeSet<String>) -> String {
    values
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("|")
}

#[test]
fn every_command_and_flag_is_in_the_readme_usage_and_nothing_else_is() {
    let mut commands = Vec::new();
    leaves(
        &abibot::cli::Cli::command(),
        Vec::new(),
        BTreeSet::new(),
        &mut commands,
    );
    // The walk itself: all top-level commands, and flags found on them.
    let names: BTreeSet<&str> = commands.iter().map(|(p, _)| p[0].as_str()).collect();
    assert!(names.is_superset(&BTreeSet::from([
        "diff", "scan", "timeline", "daemon", "state"
    ])));
    let scan = commands.iter().find(|(p, _)| p == &["scan"]).unwrap();
    assert!(scan.1.flags.contains("repo"), "{:?}", scan.1.flags);
    let entries = usage_entries(&readme());
    let problems: Vec<String> = commands
        .iter()
        .flat_map(|(path, accepted)| problems(&entries, path, accepted))
        .collect();
    assert!(
        problems.is_empty(),
        "README.md usage blocks:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_missing_and_unknown_flags() {
    // A command with --b and FILE, documented as having --a and --b: --a
    // is unknown, and once --c is added to the command it is missing.
    let entries = usage_entries("text\n```\nabibot x FILE [--a]\n         [--b] # not --d\n```\n");
    assert_eq!(entries, ["abibot x FILE [--a] [--b]"]);
    let command = clap::Command::new("x")
        .arg(clap::Arg::new("file").value_name("FILE"))
        .arg(clap::Arg::new("b").long("b"))
        .arg(clap::Arg::new("c").long("c"));
    let path = vec!["x".to_owned()];
    let found = problems(&entries, &path, &accepted(&command, &BTreeSet::new()));
    assert_eq!(
        found,
        [
            "abibot x: --c is not in its README usage",
            "abibot x: the README shows --a, which it does not have",
        ]
    );
    let found = problems(
        &entries,
        &["y".to_owned()],
        &accepted(&command, &BTreeSet::new()),
    );
    assert_eq!(found, ["abibot y: no usage line in a README code block"]);
    // A value added to a flag's list (a new layout) and not to the README.
    let entries = usage_entries("```\nabibot x FILE [--b p|q]\n```\n");
    let command = command.mut_arg("b", |b| b.value_parser(["p", "q", "r"]));
    let command = command.mut_arg("c", |c| c.hide(true));
    let found = problems(&entries, &path, &accepted(&command, &BTreeSet::new()));
    assert_eq!(
        found,
        ["abibot x: --b takes p|q|r, its README usage shows [\"p|q\"]"]
    );
}
