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
//! The changelog is read as dpkg reads it ([`super::changelog`]) and the
//! defines as Debian's own reader does ([`super::defines`]); either failing
//! to parse is an error at that revision. `abiname` ends up in package
//! names (`linux-image-6.1.0-47-amd64`), so an empty one, or one with a
//! character a package name cannot have (`47 # c`: the reader has no
//! inline comments), is an error too.
//!
//! Ignore rules: `ignore-changes` from every `[abi]` section that applies to
//! a flavour, as `buildcheck.py` takes them: global, featureset
//! (`featureset-<fs>/defines`), arch, arch+featureset, and the
//! `[<flavour>_abi]` sections of the arch and arch+featureset files.
//!
//! Directories of `debian/abi/` named after other ABI names are stale
//! leftovers and are not part of the reference set; so is a file of an
//! arch whose own ABI name is another. In a directory in force, every
//! other entry is reported ([`super::Skipped`]): a name that is not
//! `<arch>_<featureset>_<flavour>`, a symlink, a submodule, a directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::defines::Defines;
use super::{
    FlavourSource, IgnoreHint, LayoutError, LayoutSpec, Reader, Registered, Remedy, SkipReason,
    Skipped, Snapshot, Storage, TreeError, TreeSource, abi_name, changelog, join, read_text,
};
use crate::ignore::IgnoreRules;
use crate::symbols::{AbiName, FlavourKey};

/// What the registry knows of Debian's layout.
pub static SPEC: LayoutSpec = LayoutSpec {
    name: "debian",
    help: "debian/abi/<ABI name>/<arch>_<featureset>_<flavour>; the ABI name from debian/changelog and debian/config/defines",
    remedy: Remedy {
        hidden_break: "bump the ABI name (`abiname` in the `[abi]` section of `debian/config/defines`; on trixie and later, `debian/config/defines.toml`), and refresh the references only together with a new ABI name",
        ignore: Some(IgnoreHint {
            place: "the `[abi]` section of `debian/config/defines`",
            before: "[abi]\nignore-changes:\n name:",
            after: "\n",
        }),
        // Debian's build check passes unchecked without a reference.
        coverage_lost: "restore the reference files under `debian/abi/<ABI name>/` (without them Debian's build check does not run), or bump the ABI name (`abiname` in `debian/config/defines`) if the flavour is gone for good",
        // buildcheck prints "Can't read ABI reference. ABI not checked!" and passes.
        unchecked: "if the ABI did not really change, go back to the previous ABI name (`abiname` in `debian/config/defines`) so the build check compares against `debian/abi/<previous name>/`; if it did, this release is an ABI bump: add the references of the new name under `debian/abi/<new name>/` (`debian/bin/abiupdate.py` fetches them from the built packages) and make sure out-of-tree modules are rebuilt for it",
    },
};

/// Debian in the registry.
pub const REGISTERED: Registered = Registered {
    spec: &SPEC,
    at: |root| {
        Arc::new(Debian {
            root: root.to_owned(),
        })
    },
    detect: Debian::detect,
    looks_for: "debian/abi or debian/config/defines[.toml]",
};

/// The form of a reference file's name.
const REFERENCE_NAME: &str = "<arch>_<featureset>_<flavour>";

/// The Debian layout rooted at `root` (`""`, `linux`, `linux-2.6`).
#[derive(Clone, Debug)]
pub struct Debian {
    /// Directory holding `debian/`.
    pub root: String,
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

/// `abiname`'s value at `path:line`, refused when it cannot be part of
/// the package names gencontrol builds from it (Debian policy: lower-case
/// letters, digits, `+`, `-`, `.`).
pub fn check_abiname(value: &str, path: &str, line: usize) -> Result<String, LayoutError> {
    let bad = |message: String| LayoutError::config(path, line, message);
    if value.is_empty() {
        return Err(bad("empty `abiname`: the ABI name would end in `-`".into()));
    }
    if value.contains('#') {
        return Err(bad(format!(
            "`abiname: {value}`: Debian's defines reader has no inline comments, so the comment would be part of the ABI name"
        )));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c);
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(bad(format!(
            "`abiname: {value}`: {c:?} cannot be part of a package name (lower-case letters, digits, `+`, `-`, `.`)"
        ))),
        None => Ok(value.to_owned()),
    }
}

/// What the changelog and the global configuration say.
struct Config {
    version: Option<String>,
    distribution: Option<String>,
    abiname: Option<String>,
    suffix: Option<String>,
    global: Defines,
    toml_ignore: Vec<String>,
}

/// What `defines.toml` says.
#[derive(Default)]
struct Toml {
    abiname: Option<String>,
    suffix: Option<String>,
    ignore: Vec<String>,
}

impl Debian {
    fn path(&self, rel: &str) -> String {
        join(&self.root, rel)
    }

    /// Whether `tree` has Debian's packaging at `root`.
    pub fn detect(tree: &dyn TreeSource, root: &str) -> Result<bool, TreeError> {
        for marker in [
            "debian/abi",
            "debian/config/defines",
            "debian/config/defines.toml",
        ] {
            if tree.id(&join(root, marker))?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
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

    /// The checked `abiname` of `defines`, read from `rel`, if it has one.
    fn abiname(&self, defines: &Defines, rel: &str) -> Result<Option<String>, LayoutError> {
        defines
            .get_at("abi", "abiname")
            .map(|(value, line)| check_abiname(value, &self.path(rel), line))
            .transpose()
    }

    fn config(&self, tree: &dyn TreeSource) -> Result<Config, LayoutError> {
        let changelog_path = self.path("debian/changelog");
        let heading = match read_text(tree, &changelog_path)? {
            Some(text) => Some(changelog::first_entry(&text, &changelog_path)?),
            None => None,
        };
        let global = self.defines(tree, "debian/config/defines")?;
        let toml = self.toml(tree)?;
        Ok(Config {
            distribution: heading.as_ref().map(|h| h.distribution().to_owned()),
            version: heading.map(|h| h.version),
            abiname: toml
                .abiname
                .or(self.abiname(&global, "debian/config/defines")?),
            suffix: toml.suffix,
            global,
            toml_ignore: toml.ignore,
        })
    }

    /// `debian/config/defines.toml`: `[abi] abiname` and `ignore-changes`,
    /// `[[debianrelease]] abi_suffix`.
    fn toml(&self, tree: &dyn TreeSource) -> Result<Toml, LayoutError> {
        let path = self.path("debian/config/defines.toml");
        let Some(text) = read_text(tree, &path)? else {
            return Ok(Toml::default());
        };
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| LayoutError::Config {
                path: path.clone(),
                line: e
                    .span()
                    .map_or(0, |s| text[..s.start].lines().count().max(1)),
                message: e.message().to_owned(),
            })?;
        let mut out = Toml::default();
        if let Some(abi) = doc.get("abi").and_then(|v| v.as_table()) {
            if let Some(name) = abi.get("abiname") {
                let value = name
                    .as_str()
                    .map_or_else(|| name.to_string(), str::to_owned);
                out.abiname = Some(check_abiname(&value, &path, 0)?);
            }
            for key in ["ignore-changes", "ignore_changes"] {
                let entries = abi.get(key).and_then(|v| v.as_array());
                out.ignore.extend(
                    entries
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned)),
                );
            }
        }
        out.suffix = doc
            .get("debianrelease")
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(|r| r.get("abi_suffix"))
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        Ok(out)
    }

    /// The ABI name candidates under `abiname` (an arch's override, else
    /// the global one).
    fn names_for(config: &Config, abiname: Option<String>) -> Vec<String> {
        let abiname = abiname.or_else(|| config.abiname.clone());
        match (&config.version, abiname, &config.suffix) {
            // Trixie names the ABI after the full upstream version.
            (Some(version), _, Some(suffix)) => vec![format!("{}{suffix}", upstream(version))],
            (Some(version), Some(abiname), None) => abi_candidates(upstream(version), &abiname),
            (Some(version), None, None) => vec![version.clone()],
            (None, Some(abiname), _) => vec![abiname],
            (None, None, _) => Vec::new(),
        }
    }

    fn ignore_for(
        &self,
        config: &Config,
        key: &FlavourKey,
        cache: &mut DefinesCache<'_>,
    ) -> Result<IgnoreRules, LayoutError> {
        let files = [
            format!("debian/config/{}/defines", key.arch),
            format!("debian/config/{}/{}/defines", key.arch, key.featureset),
            format!("debian/config/featureset-{}/defines", key.featureset),
        ];
        for file in &files {
            cache.load(file)?;
        }
        let flavour_section = format!("{}_abi", key.flavour);
        let sections: [(&Defines, &str, &str); 6] = [
            (&config.global, "abi", "debian/config/defines"),
            (&cache.files[&files[2]], "abi", &files[2]),
            (&cache.files[&files[0]], "abi", &files[0]),
            (&cache.files[&files[1]], "abi", &files[1]),
            (&cache.files[&files[0]], &flavour_section, &files[0]),
            (&cache.files[&files[1]], &flavour_section, &files[1]),
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
                        path: self.path(file),
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
        let global_names = Self::names_for(&config, None);
        let abi_dir = self.path("debian/abi");
        let mut skipped = Vec::new();
        let mut dirs = BTreeMap::new();
        for entry in tree.list(&abi_dir)? {
            match entry.dir_name() {
                Some(name) => {
                    dirs.insert(name.to_owned(), entry.id);
                }
                None => {
                    let reason = entry.unexpected("a directory named after an ABI name");
                    skipped.push(entry.skipped(&abi_dir, reason));
                }
            }
        }
        let global = pick(&global_names, &dirs);
        let mut pass = Pass {
            config: &config,
            dirs: &dirs,
            arch_names: BTreeMap::new(),
            cache: DefinesCache {
                layout: self,
                tree,
                files: BTreeMap::new(),
            },
            snapshot: Snapshot {
                distribution: config.distribution.clone(),
                version: config.version.clone(),
                skipped,
                ..Snapshot::default()
            },
        };
        for dir in dirs.keys() {
            pass.read_dir(dir, global.as_deref() == Some(dir))?;
        }
        let mut snapshot = pass.snapshot;
        snapshot.abi = global
            .map(|name| self.abi_name(name, &config))
            .transpose()?;
        Ok(snapshot)
    }

    /// `name` as the revision's ABI name, an error naming the file the
    /// name comes from when it cannot be one.
    fn abi_name(&self, name: String, config: &Config) -> Result<AbiName, LayoutError> {
        let from = match config.abiname {
            Some(_) => "debian/config/defines",
            None => "debian/changelog",
        };
        abi_name(name, &self.path(from), 0)
    }
}

impl Reader for Debian {
    fn inputs(&self) -> Vec<String> {
        Debian::inputs(self)
    }

    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        Debian::read(self, tree)
    }
}

/// The `defines` files read in one revision, each once: the arch files
/// serve both the ABI name and the ignore rules of every flavour of the
/// arch.
struct DefinesCache<'a> {
    layout: &'a Debian,
    tree: &'a dyn TreeSource,
    files: BTreeMap<String, Defines>,
}

impl DefinesCache<'_> {
    fn load(&mut self, rel: &str) -> Result<&Defines, LayoutError> {
        if !self.files.contains_key(rel) {
            let defines = self.layout.defines(self.tree, rel)?;
            self.files.insert(rel.to_owned(), defines);
        }
        Ok(&self.files[rel])
    }
}

/// One revision's reading of `debian/abi/`.
struct Pass<'a> {
    config: &'a Config,
    dirs: &'a BTreeMap<String, git2::Oid>,
    /// The ABI name in force for each arch seen (`None`: it has none).
    arch_names: BTreeMap<String, Option<String>>,
    cache: DefinesCache<'a>,
    snapshot: Snapshot,
}

impl Pass<'_> {
    /// The directory holding `arch`'s references: its ABI name, with its
    /// own `abiname` when its defines override the global one.
    fn arch_name(&mut self, arch: &str) -> Result<Option<&str>, LayoutError> {
        if !self.arch_names.contains_key(arch) {
            let rel = format!("debian/config/{arch}/defines");
            let layout = self.cache.layout;
            let own = layout.abiname(self.cache.load(&rel)?, &rel)?;
            let names = Debian::names_for(self.config, own);
            self.arch_names
                .insert(arch.to_owned(), pick(&names, self.dirs));
        }
        Ok(self.arch_names[arch].as_deref())
    }

    /// Reads directory `debian/abi/<dir>`: the references in force in it,
    /// and, when it is in force (`global`: it carries the revision's ABI
    /// name), every other entry as skipped.
    fn read_dir(&mut self, dir: &str, global: bool) -> Result<(), LayoutError> {
        let dir_path = join(&self.cache.layout.path("debian/abi"), dir);
        let mut in_force = global;
        let mut unread: Vec<Skipped> = Vec::new();
        for entry in self.cache.tree.list(&dir_path)? {
            let Some(key) = entry.name().and_then(FlavourKey::from_debian_name) else {
                let reason = entry.file_name().err().unwrap_or(SkipReason::Name {
                    expected: REFERENCE_NAME.to_owned(),
                });
                unread.push(entry.skipped(&dir_path, reason));
                continue;
            };
            if self.arch_name(&key.arch)? != Some(dir) {
                continue;
            }
            in_force = true;
            let name = match entry.file_name() {
                Ok(name) => name,
                Err(reason) => {
                    unread.push(entry.skipped(&dir_path, reason));
                    continue;
                }
            };
            let path = join(&dir_path, name);
            let layout = self.cache.layout;
            let ignore = layout.ignore_for(self.config, &key, &mut self.cache)?;
            let source = FlavourSource {
                abi: abi_name(dir.to_owned(), &dir_path, 0)?,
                path,
                id: entry.id,
                storage: Storage::File(None),
                ignore: Arc::new(ignore),
                symtypes: None,
            };
            self.snapshot.flavours.insert(key, source);
        }
        if in_force {
            self.snapshot.skipped.extend(unread);
        }
        Ok(())
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
    fn abi_names_across_eras() {
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

    #[test]
    fn abiname_must_fit_a_package_name() {
        assert_eq!(check_abiname("47", "d", 2).unwrap(), "47");
        assert_eq!(check_abiname("trunk", "d", 2).unwrap(), "trunk");
        for (value, message) in [
            ("", "d:2: empty `abiname`: the ABI name would end in `-`"),
            (
                "47 # c",
                "d:2: `abiname: 47 # c`: Debian's defines reader has no inline comments, so the comment would be part of the ABI name",
            ),
            (
                "47 48",
                "d:2: `abiname: 47 48`: ' ' cannot be part of a package name (lower-case letters, digits, `+`, `-`, `.`)",
            ),
        ] {
            assert_eq!(
                check_abiname(value, "d", 2).unwrap_err().to_string(),
                message
            );
        }
    }
}
