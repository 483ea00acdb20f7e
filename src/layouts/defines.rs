//! Debian's `defines` files (`debian/config/defines`, the per-arch and
//! featureset ones), read as Debian's own reader reads them:
//! `debian_linux.config` hands them to Python's `RawConfigParser` with its
//! defaults, so
//! - `[section]` headers; `key: value` or `key = value`, split at the first
//!   `:` or `=`; keys are lower-cased;
//! - a line indented deeper than its key's line continues the value;
//! - whole lines starting with `#` or `;` are comments, and there are no
//!   inline comments: `abiname: 47 # c` has the value `47 # c`;
//! - a section or a key given twice in one file is an error (the parser is
//!   strict), and so is a key outside any section or a line without `:` or
//!   `=`.
//!
//! A merge-conflict marker is an error naming its line, whatever the
//! Python parser would have made of it.

use std::collections::BTreeMap;

use super::{LayoutError, conflict_marker};

/// One value and the line its key is on.
#[derive(Debug, Clone)]
struct Value {
    text: String,
    line: usize,
}

/// A parsed `defines` file: section -> key -> value, where a value keeps
/// its continuation lines joined by `\n`.
#[derive(Debug, Default, Clone)]
pub struct Defines {
    sections: BTreeMap<String, BTreeMap<String, Value>>,
}

/// The section being read, and its last key with how deep the key's line
/// is indented: a deeper line continues the key's value.
struct Current {
    section: String,
    key: Option<(String, usize)>,
}

impl Defines {
    /// Parses `text`, read from `path` (which errors name with the line).
    pub fn parse(text: &str, path: &str) -> Result<Defines, LayoutError> {
        let mut defines = Defines::default();
        let mut current: Option<Current> = None;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let bad = |message: String| LayoutError::config(path, n, message);
            if let Some(marker) = conflict_marker(raw) {
                return Err(bad(format!("merge-conflict marker `{marker}`")));
            }
            let line = raw.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let Some(Current {
                section,
                key: Some((key, depth)),
            }) = &current
                && indent > *depth
            {
                let value = defines.value_mut(section, key);
                value.text.push('\n');
                value.text.push_str(line);
                continue;
            }
            if line.starts_with('[') {
                let section = defines.section(line).map_err(bad)?;
                current = Some(Current { section, key: None });
                continue;
            }
            let Some(cur) = current.as_mut() else {
                return Err(bad("key outside of any [section]".into()));
            };
            let key = defines.option(&cur.section, line, n).map_err(bad)?;
            cur.key = Some((key, indent));
        }
        Ok(defines)
    }

    /// Opens the section headed by `line` (`[abi]`); a section given twice
    /// in one file is refused, as Debian's strict parser does.
    fn section(&mut self, line: &str) -> Result<String, String> {
        let name = line[1..]
            .rfind(']')
            .map(|end| line[1..1 + end].to_owned())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| "expected a section header like [abi]".to_owned())?;
        if self.sections.contains_key(&name) {
            return Err(format!("section [{name}] given twice"));
        }
        self.sections.insert(name.clone(), BTreeMap::new());
        Ok(name)
    }

    /// Records the `key: value` on `line` (number `n`) in `section`.
    fn option(&mut self, section: &str, line: &str, n: usize) -> Result<String, String> {
        let split = line
            .find([':', '='])
            .ok_or_else(|| "expected `key: value`".to_owned())?;
        let key = line[..split].trim().to_lowercase();
        if key.is_empty() {
            return Err("a value without a key".into());
        }
        let values = self.sections.get_mut(section).expect("section opened");
        if values.contains_key(&key) {
            return Err(format!("key `{key}` given twice in [{section}]"));
        }
        let text = line[split + 1..].trim().to_owned();
        values.insert(key.clone(), Value { text, line: n });
        Ok(key)
    }

    fn value_mut(&mut self, section: &str, key: &str) -> &mut Value {
        let values = self.sections.get_mut(section).expect("section opened");
        values
            .get_mut(key)
            .expect("key recorded before its continuation")
    }

    /// The value of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.get_at(section, key).map(|(v, _)| v)
    }

    /// The value of `key` in `section` and the line of its key.
    pub fn get_at(&self, section: &str, key: &str) -> Option<(&str, usize)> {
        let value = self.sections.get(section)?.get(key)?;
        Some((value.text.as_str(), value.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Defines::parse(text, "d").unwrap_err().to_string()
    }

    #[test]
    fn continuations_comments_and_case() {
        let d = Defines::parse(
            "# top\n[abi]\nAbiname: 5\nignore-changes:\n module:arch/x86/kvm/*\n ; a comment\n fixed_phy_add\n\n[base]\narches = amd64 i386\n",
            "defines",
        )
        .unwrap();
        assert_eq!(d.get_at("abi", "abiname"), Some(("5", 3)));
        assert_eq!(
            d.get("abi", "ignore-changes"),
            Some("\nmodule:arch/x86/kvm/*\nfixed_phy_add")
        );
        assert_eq!(d.get("base", "arches"), Some("amd64 i386"));
        // No inline comments: the text after `#` stays in the value.
        let d = Defines::parse("[abi]\nabiname: 47 # c\n", "d").unwrap();
        assert_eq!(d.get("abi", "abiname"), Some("47 # c"));
        assert_eq!(
            Defines::parse("[abi]\nabiname:\n", "d")
                .unwrap()
                .get("abi", "abiname"),
            Some("")
        );
        // A key's own indentation is not a continuation: only a line
        // deeper than its key's continues it.
        let d = Defines::parse("[abi]\n  abiname: 5\n    six\n  other: 7\n", "d").unwrap();
        assert_eq!(d.get("abi", "abiname"), Some("5\nsix"));
        assert_eq!(d.get_at("abi", "other"), Some(("7", 4)));
    }

    #[test]
    fn what_the_strict_parser_refuses() {
        for (text, message) in [
            ("[abi]\nabiname 5\n", "d:2: expected `key: value`"),
            (" orphan\n", "d:1: key outside of any [section]"),
            ("[abi]\n x\n", "d:2: expected `key: value`"),
            ("abiname: 5\n", "d:1: key outside of any [section]"),
            (
                "[abi]\nabiname: 5\nabiname: 6\n",
                "d:3: key `abiname` given twice in [abi]",
            ),
            ("[abi]\n[abi]\n", "d:2: section [abi] given twice"),
            ("[]\n", "d:1: expected a section header like [abi]"),
            ("[abi]\n: 5\n", "d:2: a value without a key"),
            (
                "[abi]\n<<<<<<< HEAD\nabiname: 5\n=======\nabiname: 6\n>>>>>>> b\n",
                "d:2: merge-conflict marker `<<<<<<<`",
            ),
        ] {
            assert_eq!(error(text), message, "{text:?}");
        }
    }
}
