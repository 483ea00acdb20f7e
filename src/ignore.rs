//! Rules that mark expected ABI changes as ignored, with the semantics of
//! Debian's `[abi] ignore-changes`:
//!
//! - an entry is `name:<glob>` (the default when there is no prefix) or
//!   `module:<glob>`; any other prefix is an error;
//! - in a glob `**` matches anything, `*` anything but `/` (so it stays within
//!   one path component of a module path), every other character is literal;
//! - the glob must match the whole name or module path.
//!
//! Ubuntu's `abi.ignore` lists plain symbol names; they become `name:` rules.
//!
//! SUSE's `kabi/severities` rules ([`IgnoreRule::severity`]) differ: each
//! says `PASS` (tolerate) or `FAIL`, the first rule that matches decides,
//! `*` and `?` are shell wildcards that also match `/`, a pattern is
//! matched against the module (with a `/`, or `vmlinux`), the namespace
//! (all capitals) or the symbol name, and only the reference's (old) side
//! of a change is consulted (the new side for an added symbol), as
//! `rpm/kabi.pl` and suse-kabi-tools' `ksymvers` do. Every rule of the
//! other forms says `PASS`, so first-match order decides nothing for them.

use regex::{Regex, RegexSet};
use serde::Serialize;

use crate::symbols::Symbol;

/// What an ignore rule is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The symbol name.
    Name,
    /// The module path (`vmlinux`, `arch/x86/kvm/kvm`).
    Module,
    /// The symbol namespace (SUSE severities only); a symbol without one
    /// never matches.
    Namespace,
}

/// What a matching rule says of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The change is tolerated (ignored).
    Pass,
    /// The change breaks the promise, whatever later rules say.
    Fail,
}

/// One `ignore-changes` entry.
#[derive(Clone, Debug)]
pub struct IgnoreRule {
    /// The entry as written (`module:arch/x86/kvm/*`).
    pub entry: String,
    /// What it matches.
    pub target: Target,
    /// What it says when it matches (`Pass` but in SUSE severities).
    pub verdict: Verdict,
    /// Whether only the reference's (old) side of a change is looked at
    /// (SUSE); otherwise either side matching is enough (Debian).
    reference_only: bool,
    regex: Regex,
}

/// An ignore entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A prefix other than `name:` or `module:`.
    #[error("ignore entry {entry:?}: unknown prefix {prefix:?} (expected name: or module:)")]
    UnknownPrefix {
        /// The entry.
        entry: String,
        /// Its prefix.
        prefix: String,
    },
    /// An entry whose glob is empty.
    #[error("ignore entry {entry:?} has an empty pattern")]
    Empty {
        /// The entry.
        entry: String,
    },
    /// An entry whose regex exceeds the regex crate's compiled size limit
    /// (thousands of `*`): only its start is quoted, it may be huge.
    #[error("ignore entry {start:?}... ({length} bytes) is too complex: {reason}")]
    TooComplex {
        /// The first characters of the entry.
        start: String,
        /// Its length in bytes.
        length: usize,
        /// The regex crate's reason.
        reason: String,
    },
    /// A line of an ignore file was refused.
    #[error("{file}:{line}: {source}")]
    InFile {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// Why.
        source: Box<IgnoreError>,
    },
}

/// How many characters of a refused entry an error quotes.
const QUOTED_START: usize = 40;

/// The rules of one target, by index: a `RegexSet` when it fits the regex
/// crate's size limit, else `None` and each rule's own regex is tried in
/// turn (the same answers, slower) so that many large globs are no error.
type TargetSet = Option<(Option<RegexSet>, Vec<usize>)>;

/// Translates a SUSE severities pattern to an anchored regex: `*` matches
/// anything (`/` too), `?` one character, everything else is literal.
fn wildcard_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push('^');
    let mut literal = [0u8; 4];
    for c in pattern.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut literal))),
        }
    }
    out.push('$');
    out
}

/// Compiles an escaped regex for `entry`: only its size can fail.
fn compile(regex: &str, entry: &str) -> Result<Regex, IgnoreError> {
    Regex::new(regex).map_err(|e| IgnoreError::TooComplex {
        start: entry.chars().take(QUOTED_START).collect(),
        length: entry.len(),
        reason: e.to_string(),
    })
}

/// Translates a Debian glob to an anchored regex.
fn glob_regex(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 8);
    out.push('^');
    let mut rest = glob;
    while let Some(star) = rest.find('*') {
        out.push_str(&regex::escape(&rest[..star]));
        if rest[star..].starts_with("**") {
            out.push_str(".*");
            rest = &rest[star + 2..];
        } else {
            out.push_str("[^/]*");
            rest = &rest[star + 1..];
        }
    }
    out.push_str(&regex::escape(rest));
    out.push('$');
    out
}

impl IgnoreRule {
    /// Parses one entry.
    pub fn parse(entry: &str) -> Result<IgnoreRule, IgnoreError> {
        let entry = entry.trim();
        let (target, glob) = match entry.split_once(':') {
            Some(("name", glob)) => (Target::Name, glob),
            Some(("module", glob)) => (Target::Module, glob),
            Some((prefix, _)) => {
                return Err(IgnoreError::UnknownPrefix {
                    entry: entry.to_owned(),
                    prefix: prefix.to_owned(),
                });
            }
            None => (Target::Name, entry),
        };
        if glob.is_empty() {
            return Err(IgnoreError::Empty {
                entry: entry.to_owned(),
            });
        }
        let regex = compile(&glob_regex(glob), entry)?;
        Ok(IgnoreRule {
            entry: entry.to_owned(),
            target,
            verdict: Verdict::Pass,
            reference_only: false,
            regex,
        })
    }

    /// A rule of SUSE's `kabi/severities`: `pattern` (non-empty, without
    /// white space) is a module path when it has a `/` or is `vmlinux`, a
    /// namespace when it has no lower-case letter, else a symbol name, as
    /// suse-kabi-tools reads it. Its entry is `<pattern> <PASS|FAIL>`.
    pub fn severity(pattern: &str, verdict: Verdict) -> Result<IgnoreRule, IgnoreError> {
        let target = if pattern.contains('/') || pattern == "vmlinux" {
            Target::Module
        } else if pattern == pattern.to_uppercase() {
            Target::Namespace
        } else {
            Target::Name
        };
        let word = match verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        };
        let entry = format!("{pattern} {word}");
        Ok(IgnoreRule {
            regex: compile(&wildcard_regex(pattern), &entry)?,
            entry,
            target,
            verdict,
            reference_only: true,
        })
    }

    /// A rule tolerating every change, written `entry` (SUSE's
    /// `kabi/<arch>/ignore-<flavour>`, which switches a flavour's check off).
    pub fn everything(entry: &str) -> IgnoreRule {
        IgnoreRule {
            entry: entry.to_owned(),
            target: Target::Name,
            verdict: Verdict::Pass,
            reference_only: false,
            regex: Regex::new("").expect("empty regex"),
        }
    }

    /// Whether a change this rule decides is tolerated.
    pub fn tolerates(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// A rule that matches exactly one symbol name (Ubuntu's `abi.ignore`).
    pub fn exact_name(name: &str) -> IgnoreRule {
        IgnoreRule {
            entry: format!("name:{name}"),
            target: Target::Name,
            verdict: Verdict::Pass,
            reference_only: false,
            regex: Regex::new(&format!("^{}$", regex::escape(name))).expect("escaped"),
        }
    }

    /// Whether the rule matches `text` as a whole.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

/// A list of rules, matched together.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<IgnoreRule>,
    names: TargetSet,
    modules: TargetSet,
    namespaces: TargetSet,
}

impl IgnoreRules {
    /// Builds a matcher from rules.
    pub fn new(rules: Vec<IgnoreRule>) -> IgnoreRules {
        let build = |target| {
            let picked: Vec<usize> = (0..rules.len())
                .filter(|&i| rules[i].target == target)
                .collect();
            if picked.is_empty() {
                return None;
            }
            let set = RegexSet::new(picked.iter().map(|&i| rules[i].regex.as_str())).ok();
            Some((set, picked))
        };
        let names = build(Target::Name);
        let modules = build(Target::Module);
        let namespaces = build(Target::Namespace);
        IgnoreRules {
            rules,
            names,
            modules,
            namespaces,
        }
    }

    /// Parses entries (`defines` values, `--ignore` flags).
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<IgnoreRules, IgnoreError> {
        let rules = entries
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .map(IgnoreRule::parse)
            .collect::<Result<_, _>>()?;
        Ok(IgnoreRules::new(rules))
    }

    /// Parses an ignore file: one entry per line, `#` starts a comment line,
    /// blank lines are skipped. Errors name the file and line.
    pub fn parse_file(text: &str, file: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            rules.push(IgnoreRule::parse(line).map_err(|e| IgnoreError::InFile {
                file: file.to_owned(),
                line: i + 1,
                source: Box::new(e),
            })?);
        }
        Ok(IgnoreRules::new(rules))
    }

    /// Adds the rules of `other` (Debian takes the union over all sections
    /// that apply to a flavour).
    pub fn extend(&mut self, other: IgnoreRules) {
        let mut rules = std::mem::take(&mut self.rules);
        rules.extend(other.rules);
        *self = IgnoreRules::new(rules);
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[IgnoreRule] {
        &self.rules
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching a symbol with this name in this module.
    pub fn matching(&self, name: &str, module: &str) -> Option<&IgnoreRule> {
        self.first(name, module, None, |_| true)
            .map(|i| &self.rules[i])
    }

    /// The rule that decides a change from `old` to `new` (either absent
    /// for an addition or a removal): the first in order that matches,
    /// looking at the reference side (`old`, else `new`) for every rule
    /// and at the new side for rules that accept either side. The change is
    /// tolerated when that rule [`tolerates`](IgnoreRule::tolerates) it.
    pub fn deciding(&self, old: Option<&Symbol>, new: Option<&Symbol>) -> Option<&IgnoreRule> {
        let reference = old.or(new)?;
        let on_reference = self.first_of(reference, |_| true);
        let on_new = match (old, new) {
            (Some(_), Some(new)) => self.first_of(new, |r| !r.reference_only),
            _ => None,
        };
        on_reference
            .into_iter()
            .chain(on_new)
            .min()
            .map(|i| &self.rules[i])
    }

    /// The index of the first rule `allowed` that matches `symbol`.
    fn first_of(&self, symbol: &Symbol, allowed: impl Fn(&IgnoreRule) -> bool) -> Option<usize> {
        let namespace = symbol.namespace.as_deref();
        self.first(&symbol.name, &symbol.module, namespace, allowed)
    }

    /// The index of the first rule `allowed` that matches the name, the
    /// module or the namespace.
    fn first(
        &self,
        name: &str,
        module: &str,
        namespace: Option<&str>,
        allowed: impl Fn(&IgnoreRule) -> bool,
    ) -> Option<usize> {
        let first = |set: &TargetSet, text: &str| {
            let (set, index) = set.as_ref()?;
            match set {
                Some(set) => set
                    .matches(text)
                    .iter()
                    .map(|i| index[i])
                    .find(|&i| allowed(&self.rules[i])),
                None => index
                    .iter()
                    .copied()
                    .find(|&i| allowed(&self.rules[i]) && self.rules[i].is_match(text)),
            }
        };
        let namespaced = namespace.and_then(|ns| first(&self.namespaces, ns));
        [
            first(&self.names, name),
            first(&self.modules, module),
            namespaced,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_glob_semantics() {
        let rules =
            IgnoreRules::parse(["module:arch/x86/kvm/*", "fixed_phy_add", "name:__x86_*"]).unwrap();
        assert_eq!(
            rules.matching("kvm_foo", "arch/x86/kvm/kvm").unwrap().entry,
            "module:arch/x86/kvm/*"
        );
        // `*` stays within one path component.
        assert!(rules.matching("kvm_foo", "arch/x86/kvm/sub/kvm").is_none());
        assert!(rules.matching("fixed_phy_add", "vmlinux").is_some());
        // Anchored: a longer name does not match a plain entry.
        assert!(rules.matching("fixed_phy_add2", "vmlinux").is_none());
        assert!(rules.matching("__x86_return_thunk", "vmlinux").is_some());
        let deep = IgnoreRules::parse(["module:drivers/**"]).unwrap();
        assert!(deep.matching("a", "drivers/net/wireless/x").is_some());
        assert!(deep.matching("a", "fs/drivers/x").is_none());
        // Regex metacharacters are literal.
        let dot = IgnoreRules::parse(["a.b"]).unwrap();
        assert!(dot.matching("axb", "vmlinux").is_none());
        assert!(dot.matching("a.b", "vmlinux").is_some());
    }

    #[test]
    fn a_glob_too_large_for_regex_is_an_error_quoting_only_its_start() {
        // Found while fuzzing the Debian layout: 50,000 `*` in an
        // `ignore-changes` entry exceeded regex's size limit and panicked.
        let entry = format!("name:{}", "*".repeat(50_000));
        let error = IgnoreRule::parse(&entry).unwrap_err();
        let IgnoreError::TooComplex { start, length, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!((start.len(), *length), (QUOTED_START, 50_005));
        assert!(error.to_string().len() < 300, "{error}");
    }

    #[test]
    fn many_large_globs_match_even_when_their_set_exceeds_regex_limits() {
        // Each glob compiles alone, but 60 of them together exceed the
        // RegexSet size limit (this panicked): rules are then tried one by one.
        let entries: Vec<String> = (0..60)
            .map(|i| format!("name:{}sym{i}", "*".repeat(1000)))
            .collect();
        let rules = IgnoreRules::parse(entries.iter().map(String::as_str)).unwrap();
        assert_eq!(
            rules.matching("foo_sym7", "vmlinux").unwrap().entry,
            entries[7]
        );
        assert_eq!(
            rules.matching("sym59", "vmlinux").unwrap().entry,
            entries[59]
        );
        assert!(rules.matching("sym7x", "vmlinux").is_none());
        assert!(rules.matching("sym60", "vmlinux").is_none());
    }

    fn symbol(name: &str, module: &str, namespace: Option<&str>) -> Symbol {
        Symbol {
            name: name.into(),
            crc: crate::symbols::Crc(1),
            module: module.into(),
            export: None,
            namespace: namespace.map(Into::into),
        }
    }

    #[test]
    fn severities_wildcards_and_targets_are_suse_s() {
        let rule = |p: &str| IgnoreRule::severity(p, Verdict::Pass).unwrap();
        // `*` crosses `/`, `?` is one character, `.` is literal.
        assert!(rule("drivers/*").is_match("drivers/net/wireless/x"));
        assert!(rule("fs/ext?").is_match("fs/ext4"));
        assert!(!rule("fs/ext?").is_match("fs/ext44"));
        assert!(!rule("a.b").is_match("axb"));
        assert_eq!(rule("vmlinux").target, Target::Module);
        assert_eq!(rule("*/kvm").target, Target::Module);
        assert_eq!(rule("CXL").target, Target::Namespace);
        assert_eq!(rule("zpci_*").target, Target::Name);
        let rules = IgnoreRules::new(vec![rule("CXL")]);
        let named = symbol("cxl_probe", "drivers/cxl/core", Some("CXL"));
        assert!(rules.deciding(Some(&named), Some(&named)).is_some());
        // A symbol without a namespace never matches a namespace rule.
        let plain = symbol("CXL", "vmlinux", None);
        assert!(rules.deciding(Some(&plain), Some(&plain)).is_none());
    }

    #[test]
    fn the_first_matching_severity_decides_on_the_reference_side() {
        let rules = IgnoreRules::new(vec![
            IgnoreRule::severity("drivers/nvme/host/nvme-fc*", Verdict::Fail).unwrap(),
            IgnoreRule::severity("drivers/nvme/host/*", Verdict::Pass).unwrap(),
        ]);
        let fc = symbol("nvme_fc_x", "drivers/nvme/host/nvme-fc", None);
        let decided = rules.deciding(Some(&fc), Some(&fc)).unwrap();
        assert!(!decided.tolerates(), "{}", decided.entry);
        let core = symbol("nvme_x", "drivers/nvme/host/nvme-core", None);
        assert!(
            rules
                .deciding(Some(&core), Some(&core))
                .unwrap()
                .tolerates()
        );
        // Moved into a tolerated module: the reference's module decides.
        let moved = symbol("nvme_fc_x", "drivers/nvme/host/nvme-core", None);
        assert!(!rules.deciding(Some(&fc), Some(&moved)).unwrap().tolerates());
        // Added: the new side is the only one.
        assert!(rules.deciding(None, Some(&core)).unwrap().tolerates());
    }

    #[test]
    fn debian_rules_still_match_either_side() {
        let rules = IgnoreRules::parse(["module:arch/x86/kvm/*"]).unwrap();
        let old = symbol("kvm_x", "vmlinux", None);
        let new = symbol("kvm_x", "arch/x86/kvm/kvm", None);
        assert!(rules.deciding(Some(&old), Some(&new)).is_some());
        assert!(rules.deciding(Some(&new), Some(&old)).is_some());
        assert!(rules.deciding(Some(&old), Some(&old)).is_none());
    }

    #[test]
    fn bad_entries_are_refused_with_their_line() {
        assert!(matches!(
            IgnoreRule::parse("symbol:foo"),
            Err(IgnoreError::UnknownPrefix { .. })
        ));
        let err = IgnoreRules::parse_file("# c\nfoo\n\nmodule:\n", "ign").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ign:4: ignore entry \"module:\" has an empty pattern"
        );
    }
}
