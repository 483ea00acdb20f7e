//! Debian's layout: `debian/abi/<abiname>/<arch>_<featureset>_<flavour>`.
//!
//! The ABI name is computed the way Debian's gencontrol does: the upstream
//! part of the first `debian/changelog` version joined to `[abi] abiname`
//! from `debian/config/defines` (a per-arch `debian/config/<arch>/defines`
//! overrides it). Debian changed the join over time (`3.2.0-1`, `3.13-1`,
//! `6.1.0-50`), so both the `.0` and the plain form are accepted and the one
//! with a reference directory wins. `debian/config/defines.toml` (trixie)
//! may give `[abi] abiname` and `[[debianrelease]] abi_suffix`, in which case
//! the name is the full upstream version plus the suffix (`6.12.48+deb13`).
//! Without any abiname the whole changelog version is the name.
//!
//! Ignore rules: `ignore-changes` from every `[abi]` section that applies to
//! a flavour, as `buildcheck.py` takes them: global, featureset
//! (`featureset-<fs>/defines`), arch, arch+featureset, and the
//! `[<flavour>_abi]` sections of the arch and arch+featureset files.
//!
//! Directories of `debian/abi/` named after other ABI names are stale
//! leftovers and are not part of the reference set.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{FlavourSource, LayoutError, Snapshot, Storage, TreeSource, join, read_text};
use crate::ignore::IgnoreRules;
use crate::symbols::{AbiName, FlavourKey};

/// The Debian layout rooted at `root` (`""`, `linux`, `linux-2.6`).
#[derive(Clone, Debug)]
pub struct Debian {
    /// Directory holding `debian/`.
    pub root: String,
}

/// A parsed Debian `defines` file: section -> key -> value, where a value
/// keeps its continuation lines joined by `\n`.
#[derive(Debug, Default, Clone)]
pub struct Defines {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Defines {
    /// Parses the INI-like format: `[section]`, `key: value` (or `=`), values
    /// continued on lines starting with white space, `#` comment lines.
    pub fn parse(text: &str, path: &str) -> Result<Defines, LayoutError> {
        let mut defines = Defines::default();
        let mut section: Option<String> = None;
        let mut key: Option<String> = None;
        let bad = |line: usize, message: &str| LayoutError::Config {
            path: path.to_owned(),
            line,
            message: message.to_owned(),
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if raw.starts_with([' ', '\t']) {
                let (Some(s), Some(k)) = (&section, &key) else {
                    return Err(bad(i + 1, "continuation line without a key"));
                };
                let value = defines.sections.get_mut(s).and_then(|m| m.get_mut(k));
                let value = value.expect("key inserted before its continuation");
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| bad(i + 1, "expected a section header like [abi]"))?;
                section = Some(name.trim().to_owned());
                defines.sections.entry(name.trim().to_owned()).or_default();
                key = None;
                continue;
            }
            let Some(s) = &section else {
                return Err(bad(i + 1, "key outside of any [section]"));
            };
            let split = line
                .find([':', '='])
                .ok_or_else(|| bad(i + 1, "expected `key: value`"))?;
            let (k, v) = (line[..split].trim(), line[split + 1..].trim());
            defines
                .sections
                .get_mut(s)
                .expect("section inserted")
                .insert(k.to_owned(), v.to_owned());
            key = Some(k.to_owned());
        }
        Ok(defines)
    }

    /// The value of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }
}

/// The version in the first line of a Debian changelog
/// (`linux (6.1.176-1) bookworm-security; urgency=high`).
pub fn changelog_version(text: &str) -> Option<&str> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let open = first.find('(')?;
    let close = first[open..].find(')')? + open;
    Some(first[open + 1..close].trim()).filter(|v| !v.is_empty())
}

/// The distribution of the first changelog entry (`bookworm-security`,
/// `UNRELEASED`): what follows the version's closing parenthesis, up to `;`.
pub fn changelog_distribution(text: &str) -> Option<&str> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let after = &first[first.find(')')? + 1..];
    let dist = after.split(';').next()?.split_whitespace().next()?;
    Some(dist)
}

/// The upstream part of a Debian version: epoch and Debian revision removed,
/// anything from `~` dropped (`1:3.14~rc5-1~exp1` -> `3.14`).
pub fn upstream(version: &str) -> &str {
    let no_epoch = version.split_once(':').map_or(version, |(_, v)| v);
    let no_revision = no_epoch.rsplit_once('-').map_or(no_epoch, |(u, _)| u);
    no_revision.split('~').next().unwrap_or(no_revision)
}

/// The ABI names a directory under `debian/abi/` may carry for this
/// upstream version and abiname, in order of preference.
pub fn abi_candidates(upstream: &str, abiname: &str) -> Vec<String> {
    let mut parts = upstream.split('.');
    let major_minor = match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => upstream.to_owned(),
    };
    let mut names = vec![
        format!("{major_minor}.0-{abiname}"),
        format!("{major_minor}-{abiname}"),
    ];
    if upstream != major_minor {
        names.push(format!("{upstream}-{abiname}"));
    }
    names
}

struct Config {
    version: Option<String>,
    distribution: Option<String>,
    abiname: Option<String>,
    suffix: Option<String>,
    global: Defines,
    toml_ignore: Vec<String>,
}

impl Debian {
    fn path(&self, rel: &str) -> String {
        join(&self.root, rel)
    }

    /// `debian/abi`, `debian/config` and `debian/changelog` decide everything.
    pub fn inputs(&self) -> Vec<String> {
        ["debian/abi", "debian/config", "debian/changelog"]
            .iter()
            .map(|p| self.path(p))
            .collect()
    }

    fn defines(&self, tree: &dyn TreeSource, rel: &str) -> Result<Defines, LayoutError> {
        let path = self.path(rel);
        match read_text(tree, &path)? {
            Some(text) => Defines::parse(&text, &path),
            None => Ok(Defines::default()),
        }
    }

    fn config(&self, tree: &dyn TreeSource) -> Result<Config, LayoutError> {
        let changelog = read_text(tree, &self.path("debian/changelog"))?;
        let version = changelog
            .as_deref()
            .and_then(changelog_version)
            .map(str::to_owned);
        let distribution = changelog
            .as_deref()
            .and_then(changelog_distribution)
            .map(str::to_owned);
        let global = self.defines(tree, "debian/config/defines")?;
        let mut abiname = global.get("abi", "abiname").map(str::to_owned);
        let mut suffix = None;
        let mut toml_ignore = Vec::new();
        let toml_path = self.path("debian/config/defines.toml");
        if let Some(text) = read_text(tree, &toml_path)? {
            let doc: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| LayoutError::Config {
                        path: toml_path.clone(),
                        line: e
                            .span()
                            .map_or(0, |s| text[..s.start].lines().count().max(1)),
                        message: e.message().to_owned(),
                    })?;
            if let Some(abi) = doc.get("abi").and_then(|v| v.as_table()) {
                if let Some(name) = abi.get("abiname") {
                    abiname = Some(
                        name.as_str()
                            .map_or_else(|| name.to_string(), str::to_owned),
                    );
                }
                for key in ["ignore-changes", "ignore_changes"] {
                    let entries = abi.get(key).and_then(|v| v.as_array());
                    toml_ignore.extend(
                        entries
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_owned)),
                    );
                }
            }
            suffix = doc
                .get("debianrelease")
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
                .and_then(|r| r.get("abi_suffix"))
                .and_then(|s| s.as_str())
                .map(str::to_owned);
        }
        Ok(Config {
            version,
            distribution,
            abiname,
            suffix,
            global,
            toml_ignore,
        })
    }

    /// The ABI name candidates for an arch, honouring its abiname override.
    fn names_for(&self, config: &Config, arch_defines: &Defines) -> Vec<String> {
        let abiname = arch_defines
            .get("abi", "abiname")
            .map(str::to_owned)
            .or_else(|| config.abiname.clone());
        match (&config.version, abiname, &config.suffix) {
            // Trixie names the ABI after the full upstream version.
            (Some(version), _, Some(suffix)) => vec![format!("{}{suffix}", upstream(version))],
            (Some(version), Some(abiname), None) => abi_candidates(upstream(version), &abiname),
            (Some(version), None, None) => vec![version.clone()],
            (None, Some(abiname), _) => vec![abiname],
            (None, None, _) => Vec::new(),
        }
    }

    /// Reads `rel` into `cache` once per revision: the arch files serve both
    /// the ABI name and the ignore rules of every flavour of the arch.
    fn load_defines<'c>(
        &self,
        tree: &dyn TreeSource,
        cache: &'c mut BTreeMap<String, Defines>,
        rel: &str,
    ) -> Result<&'c Defines, LayoutError> {
        if !cache.contains_key(rel) {
            let defines = self.defines(tree, rel)?;
            cache.insert(rel.to_owned(), defines);
        }
        Ok(&cache[rel])
    }

    fn ignore_for(
        &self,
        tree: &dyn TreeSource,
        config: &Config,
        key: &FlavourKey,
        cache: &mut BTreeMap<String, Defines>,
    ) -> Result<IgnoreRules, LayoutError> {
        let files = [
            format!("debian/config/{}/defines", key.arch),
            format!("debian/config/{}/{}/defines", key.arch, key.featureset),
            format!("debian/config/featureset-{}/defines", key.featureset),
        ];
        for file in &files {
            self.load_defines(tree, cache, file)?;
        }
        let flavour_section = format!("{}_abi", key.flavour);
        let sections: [(&Defines, &str, String); 6] = [
            (&config.global, "abi", "debian/config/defines".to_owned()),
            (&cache[&files[2]], "abi", files[2].clone()),
            (&cache[&files[0]], "abi", files[0].clone()),
            (&cache[&files[1]], "abi", files[1].clone()),
            (&cache[&files[0]], &flavour_section, files[0].clone()),
            (&cache[&files[1]], &flavour_section, files[1].clone()),
        ];
        let mut rules = IgnoreRules::parse(config.toml_ignore.iter().map(String::as_str)).map_err(
            |source| LayoutError::Ignore {
                path: self.path("debian/config/defines.toml"),
                source,
            },
        )?;
        for (defines, section, file) in sections {
            if let Some(value) = defines.get(section, "ignore-changes") {
                let more = IgnoreRules::parse(value.split_whitespace()).map_err(|source| {
                    LayoutError::Ignore {
                        path: self.path(&file),
                        source,
                    }
                })?;
                rules.extend(more);
            }
        }
        Ok(rules)
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let config = self.config(tree)?;
        let global_names = self.names_for(&config, &Defines::default());
        let abi_dir = self.path("debian/abi");
        let dirs: BTreeMap<String, git2::Oid> = tree
            .list(&abi_dir)?
            .into_iter()
            .filter(|e| e.is_dir)
            .map(|e| (e.name, e.id))
            .collect();
        let mut arch_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut defines_cache = BTreeMap::new();
        let mut snapshot = Snapshot {
            abi: pick(&global_names, &dirs).map(AbiName),
            flavours: BTreeMap::new(),
            distribution: config.distribution.clone(),
        };
        for dir in dirs.keys() {
            let dir_path = join(&abi_dir, dir);
            for entry in tree.list(&dir_path)? {
                let Some(key) = FlavourKey::from_debian_name(&entry.name) else {
                    continue;
                };
                if entry.is_dir {
                    continue;
                }
                if !arch_names.contains_key(&key.arch) {
                    let rel = format!("debian/config/{}/defines", key.arch);
                    let arch_defines = self.load_defines(tree, &mut defines_cache, &rel)?;
                    arch_names.insert(key.arch.clone(), self.names_for(&config, arch_defines));
                }
                let Some(name) = pick(&arch_names[&key.arch], &dirs) else {
                    continue;
                };
                if &name != dir {
                    continue;
                }
                let ignore = self.ignore_for(tree, &config, &key, &mut defines_cache)?;
                snapshot.flavours.insert(
                    key,
                    FlavourSource {
                        abi: AbiName(name),
                        path: join(&dir_path, &entry.name),
                        id: entry.id,
                        storage: Storage::File(None),
                        ignore: Arc::new(ignore),
                    },
                );
            }
        }
        if snapshot.abi.is_none() {
            snapshot.abi = global_names.first().cloned().map(AbiName);
        }
        Ok(snapshot)
    }
}

/// The first candidate with a reference directory, else the first candidate
/// (the name in force even when its reference is missing).
fn pick(candidates: &[String], dirs: &BTreeMap<String, git2::Oid>) -> Option<String> {
    candidates
        .iter()
        .find(|c| dirs.contains_key(*c))
        .or_else(|| candidates.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_with_continuations_and_comments() {
        let d = Defines::parse(
            "# top\n[abi]\nabiname: 5\nignore-changes:\n module:arch/x86/kvm/*\n fixed_phy_add\n\n[base]\narches = amd64 i386\n",
            "defines",
        )
        .unwrap();
        assert_eq!(d.get("abi", "abiname"), Some("5"));
        assert_eq!(
            d.get("abi", "ignore-changes"),
            Some("\nmodule:arch/x86/kvm/*\nfixed_phy_add")
        );
        assert_eq!(d.get("base", "arches"), Some("amd64 i386"));
        let err = Defines::parse("[abi]\nabiname 5\n", "d").unwrap_err();
        assert_eq!(err.to_string(), "d:2: expected `key: value`");
        let err = Defines::parse(" orphan\n", "d").unwrap_err();
        assert!(err.to_string().starts_with("d:1: continuation"));
    }

    #[test]
    fn abi_names_across_eras() {
        assert_eq!(
            changelog_version("linux (6.1.176-1) bookworm-security; urgency=high\n"),
            Some("6.1.176-1")
        );
        assert_eq!(
            changelog_distribution("linux (6.1.176-1) bookworm-security; urgency=high\n"),
            Some("bookworm-security")
        );
        assert_eq!(
            changelog_distribution("linux (6.1.177-1) UNRELEASED; urgency=medium\n"),
            Some("UNRELEASED")
        );
        assert_eq!(upstream("6.1.176-1"), "6.1.176");
        assert_eq!(upstream("3.14~rc5-1~exp1"), "3.14");
        assert_eq!(upstream("1:3.2.41-2"), "3.2.41");
        assert_eq!(abi_candidates("6.1.176", "50")[0], "6.1.0-50");
        assert_eq!(abi_candidates("3.13", "1"), ["3.13.0-1", "3.13-1"]);
        assert_eq!(
            abi_candidates("3.2.41", "4"),
            ["3.2.0-4", "3.2-4", "3.2.41-4"]
        );
    }
}
