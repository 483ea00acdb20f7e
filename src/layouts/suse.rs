//! SUSE's kernel packaging repository (kernel-source): the kABI reference
//! of each flavour is `kabi/<arch>/symvers-<flavour>` (Module.symvers
//! format), the genksyms type data it was computed from is
//! `kabi/<arch>/symtypes-<flavour>` (the consolidated symtypes form), and
//! `kabi/severities` says which changes the build tolerates.
//!
//! SUSE keeps the kABI of a service pack stable for its whole lifetime:
//! every build compares its Module.symvers with the reference
//! (`rpm/kabi.pl`, or suse-kabi-tools' `ksymvers compare` on newer
//! branches) and aborts on a changed or removed symbol that
//! `kabi/severities` does not tolerate. So the ABI name is the service
//! pack, read from `rpm/config.sh` as the shell assigns it: `SRCVERSION`
//! and `VARIANT` (`5.14`, `-rt`) joined by `@` to the build project
//! (`IBS_PROJECT`, else `OBS_PROJECT`) without its `:GA`/`:Update` stage,
//! which changes at release within the same service pack:
//! `5.14-rt@SUSE:SLE-15-SP5`. A missing or empty `SRCVERSION`, a value
//! that needs shell expansion, or a merge-conflict marker is an error at
//! that revision. Without `rpm/config.sh` the name is `kabi`, the same at
//! every revision: the promise holds for as long as the references are
//! kept. A name derived from the kabi directory's content (its tree id)
//! would change with every refresh, so a refresh would read as a new name
//! and no hidden break could ever be found.
//!
//! `kabi/severities` ([`parse_severities`]) is read with SUSE's semantics
//! into first-match rules ([`IgnoreRule::severity`]); an invalid line is an
//! error naming the file and line. `kabi/<arch>/ignore-<flavour>` (any
//! content) switches the flavour's check off: the build still compares but
//! does not abort, so every change of that flavour is tolerated.
//!
//! Each arch directory is one `<arch>_none_<flavour>` key per
//! `symvers-<flavour>`; its `symtypes-<flavour>` is carried on the
//! flavour's source ([`super::FlavourSource::symtypes`]) to explain CRC
//! changes. `symsets-<flavour>.tar.gz` (SLES 11's symbol sets, derived from
//! symvers) are not read; every other entry of an arch directory, a
//! symtypes or ignore file without its symvers, and symlinks, submodules
//! or non-UTF-8 names beside the arch directories are reported
//! ([`super::Skipped`]). Files beside the arch directories (`severities`,
//! SLES 10's `commonsyms`, `usedsyms`) configure the check.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    DirEntry, EntryKind, FlavourSource, IgnoreHint, LayoutError, LayoutSpec, Reader, Registered,
    Remedy, SkipReason, Snapshot, Storage, SymtypesSource, TreeSource, abi_name, join, read_text,
    without_conflicts,
};
use crate::ignore::{IgnoreRule, IgnoreRules, Verdict};
use crate::symbols::{AbiName, FlavourKey};

/// What the registry knows of SUSE's layout.
pub static SPEC: LayoutSpec = LayoutSpec {
    name: "suse",
    help: "kabi/<arch>/symvers-<flavour> with kabi/severities; the service pack from rpm/config.sh",
    remedy: Remedy {
        hidden_break: "SUSE keeps the kABI of a service pack stable for its whole life, and every build is compared with `kabi/<arch>/symvers-<flavour>`. Keep the old CRCs with a kABI fix-up patch under `patches.kabi/` (hide the type change from genksyms with `#ifndef __GENKSYMS__`), or revert the change; update the reference (`scripts/update-symvers` on the built packages) only when the break is accepted, with the branch maintainers' permission",
        ignore: Some(IgnoreHint {
            place: "`kabi/severities` (the first matching line decides: put it above any `FAIL` line that matches)",
            before: "",
            // A tab would be escaped in the comment; any white space works.
            after: " PASS\n",
        }),
        coverage_lost: "restore `kabi/<arch>/symvers-<flavour>`: without it the build does not check that flavour's kABI",
        unchecked: "add `kabi/<arch>/symvers-<flavour>` for the service pack in `rpm/config.sh` (`scripts/update-symvers` on the released packages) once its kABI is frozen: without it the build does not check these flavours",
    },
};

/// SUSE in the registry.
pub const REGISTERED: Registered = Registered {
    spec: &SPEC,
    at: |root| {
        Arc::new(Suse {
            root: root.to_owned(),
        })
    },
    detect: |tree, root| {
        Ok(tree.id(&join(root, SEVERITIES))?.is_some() || tree.id(&join(root, CONFIG))?.is_some())
    },
    looks_for: "kabi/severities or rpm/config.sh",
};

/// The directory of kABI references.
const KABI: &str = "kabi";
/// The severity rules.
const SEVERITIES: &str = "kabi/severities";
/// The packaging configuration naming the service pack.
const CONFIG: &str = "rpm/config.sh";
/// The name without `rpm/config.sh`.
const NO_CONFIG: &str = "kabi";

/// The SUSE layout.
#[derive(Clone, Debug)]
pub struct Suse {
    /// Directory holding `kabi/` and `rpm/`.
    pub root: String,
}

/// The value of a shell assignment's right-hand side `raw` (after `=`):
/// plain, `"double"` or `'single'` quoted, optionally followed by a
/// comment; anything needing expansion is refused, never guessed at.
fn shell_value(raw: &str) -> Result<String, String> {
    let (value, rest) = match raw.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let inner = &raw[1..];
            let end = inner
                .find(quote)
                .ok_or_else(|| format!("unterminated {quote} quote"))?;
            let value = &inner[..end];
            if quote == '"' && value.contains(['$', '`', '\\']) {
                return Err(format!("{value:?} needs shell expansion"));
            }
            (value, &inner[end + 1..])
        }
        _ => {
            let end = raw.find(char::is_whitespace).unwrap_or(raw.len());
            let value = &raw[..end];
            if value.contains(['$', '`', '\\', '"', '\'']) {
                return Err(format!("{value:?} needs shell expansion"));
            }
            (value, &raw[end..])
        }
    };
    // A comment starts at a `#` after white space; anything else is more
    // words (a command) or concatenated text.
    let trimmed = rest.trim_start();
    let comment = trimmed.starts_with('#') && trimmed.len() < rest.len();
    if !trimmed.is_empty() && !comment {
        return Err(format!("{trimmed:?} after the value"));
    }
    Ok(value.to_owned())
}

/// The variables of `rpm/config.sh` that name the service pack.
const NAMING: [&str; 4] = ["SRCVERSION", "VARIANT", "IBS_PROJECT", "OBS_PROJECT"];

/// The ABI name `rpm/config.sh` (`text`, read from `path`) gives, and the
/// line of its `SRCVERSION`: `SRCVERSION` and `VARIANT`, then `@` and the
/// build project without its `:GA` or `:Update` stage when there is one.
pub fn service_pack(text: &str, path: &str) -> Result<(String, usize), LayoutError> {
    let text = without_conflicts(text, path)?;
    let bad = |line: usize, message: String| LayoutError::Config {
        path: path.to_owned(),
        line,
        message,
    };
    // The last assignment counts, as in the shell.
    let mut values: BTreeMap<&str, (String, usize)> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some((key, raw)) = line.trim_start().split_once('=') else {
            continue;
        };
        if let Some(key) = NAMING.into_iter().find(|k| *k == key) {
            let value = shell_value(raw).map_err(|why| bad(i + 1, format!("{key}: {why}")))?;
            values.insert(key, (value, i + 1));
        }
    }
    let value = |key: &str| values.get(key).map(|(v, _)| v.as_str()).unwrap_or("");
    let Some((version, line)) = values.get("SRCVERSION") else {
        return Err(bad(0, "no SRCVERSION assignment".into()));
    };
    if version.is_empty() {
        return Err(bad(*line, "SRCVERSION is empty".into()));
    }
    let mut name = format!("{version}{}", value("VARIANT"));
    let project = [value("IBS_PROJECT"), value("OBS_PROJECT")]
        .into_iter()
        .find(|p| !p.is_empty());
    if let Some(project) = project {
        let stage = [":Update", ":GA"]
            .into_iter()
            .find_map(|s| project.strip_suffix(s));
        name = format!("{name}@{}", stage.unwrap_or(project));
    }
    Ok((name, *line))
}

/// Parses `kabi/severities` (`text`, read from `path`) as `rpm/kabi.pl`
/// and `ksymvers` do: one `<pattern> <verdict>` a line, `#` starts a
/// comment anywhere, blank lines are skipped; the verdict is `PASS` or
/// `FAIL` (any case, as kabi.pl reads it). A missing or unknown verdict,
/// a word after it or a merge-conflict marker is an error at its line.
pub fn parse_severities(text: &str, path: &str) -> Result<IgnoreRules, LayoutError> {
    let text = without_conflicts(text, path)?;
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |message: String| LayoutError::Config {
            path: path.to_owned(),
            line: i + 1,
            message,
        };
        let content = line.split('#').next().unwrap_or_default();
        let mut words = content.split_ascii_whitespace();
        let Some(pattern) = words.next() else {
            continue;
        };
        let verdict = match words.next() {
            Some(v) if v.eq_ignore_ascii_case("PASS") => Verdict::Pass,
            Some(v) if v.eq_ignore_ascii_case("FAIL") => Verdict::Fail,
            Some(v) => return Err(bad(format!("invalid verdict {v:?}: it is PASS or FAIL"))),
            None => return Err(bad(format!("{pattern:?} has no verdict (PASS or FAIL)"))),
        };
        if let Some(extra) = words.next() {
            return Err(bad(format!("{extra:?} after the verdict")));
        }
        rules.push(IgnoreRule::severity(pattern, verdict).map_err(|e| bad(e.to_string()))?);
    }
    Ok(IgnoreRules::new(rules))
}

/// What one arch directory holds, by flavour.
#[derive(Default)]
struct ArchFiles<'e> {
    symvers: BTreeMap<&'e str, &'e DirEntry>,
    symtypes: BTreeMap<&'e str, &'e DirEntry>,
    ignore: BTreeMap<&'e str, &'e DirEntry>,
}

impl Suse {
    /// `kabi/` and `rpm/config.sh` decide everything.
    pub fn inputs(&self) -> Vec<String> {
        vec![join(&self.root, KABI), join(&self.root, CONFIG)]
    }

    /// The ABI name at this revision.
    fn abi(&self, tree: &dyn TreeSource) -> Result<AbiName, LayoutError> {
        let path = join(&self.root, CONFIG);
        match read_text(tree, &path)? {
            Some(text) => {
                let (name, line) = service_pack(&text, &path)?;
                abi_name(name, &path, line)
            }
            None => abi_name(NO_CONFIG.to_owned(), &path, 0),
        }
    }

    /// Describes one revision.
    pub fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        let abi = self.abi(tree)?;
        let severities_path = join(&self.root, SEVERITIES);
        let severities = match read_text(tree, &severities_path)? {
            Some(text) => parse_severities(&text, &severities_path)?,
            None => IgnoreRules::default(),
        };
        let severities = Arc::new(severities);
        let dir = join(&self.root, KABI);
        let mut snapshot = Snapshot::default();
        for entry in tree.list(&dir)? {
            match (entry.kind, entry.name()) {
                (EntryKind::Dir, Some(arch)) => {
                    let path = join(&dir, arch);
                    let entries = tree.list(&path)?;
                    let sources = read_arch(&entries, &path, arch, &mut snapshot);
                    for (key, found) in sources {
                        let source = flavour_source(&abi, found, &severities);
                        snapshot.flavours.insert(key, source);
                    }
                }
                // Beside the arch directories: `severities`, `commonsyms`.
                (kind, Some(_)) if kind.is_file() => {}
                _ => {
                    let reason = entry.unexpected("<arch>, a directory");
                    snapshot.skipped.push(entry.skipped(&dir, reason));
                }
            }
        }
        snapshot.abi = Some(abi);
        Ok(snapshot)
    }
}

/// One flavour found in an arch directory.
struct Found {
    path: String,
    entry: DirEntry,
    symtypes: Option<SymtypesSource>,
    /// The path of its `ignore-<flavour>`, when there is one.
    ignored: Option<String>,
}

/// The source of a flavour found under `abi`, judged by `severities`
/// unless its check is switched off.
fn flavour_source(abi: &AbiName, found: Found, severities: &Arc<IgnoreRules>) -> FlavourSource {
    let ignore = match &found.ignored {
        Some(path) => Arc::new(IgnoreRules::new(vec![IgnoreRule::everything(path)])),
        None => severities.clone(),
    };
    FlavourSource {
        abi: abi.clone(),
        path: found.path,
        id: found.entry.id,
        storage: Storage::File(None),
        ignore,
        symtypes: found.symtypes,
    }
}

/// The flavours of one arch directory (`entries` of `path`); entries that
/// are not read go to `snapshot`'s skipped list.
fn read_arch(
    entries: &[DirEntry],
    path: &str,
    arch: &str,
    snapshot: &mut Snapshot,
) -> BTreeMap<FlavourKey, Found> {
    let mut files = ArchFiles::default();
    for entry in entries {
        let name = match entry.file_name() {
            Ok(name) => name,
            Err(reason) => {
                snapshot.skipped.push(entry.skipped(path, reason));
                continue;
            }
        };
        let kinds = [
            ("symvers-", &mut files.symvers),
            ("symtypes-", &mut files.symtypes),
            ("ignore-", &mut files.ignore),
        ];
        let known = kinds.into_iter().find_map(|(prefix, map)| {
            let flavour = name.strip_prefix(prefix).filter(|f| !f.is_empty())?;
            Some(map.insert(flavour, entry))
        });
        if known.is_none() && !name.starts_with("symsets-") {
            let reason = SkipReason::Name {
                expected: "symvers-<flavour>, or symtypes-/ignore-<flavour> beside it".into(),
            };
            snapshot.skipped.push(entry.skipped(path, reason));
        }
    }
    for (flavour, entry) in files.symtypes.iter().chain(&files.ignore) {
        if !files.symvers.contains_key(flavour) {
            let reason = SkipReason::Name {
                expected: format!("beside symvers-{flavour}, which is missing"),
            };
            snapshot.skipped.push(entry.skipped(path, reason));
        }
    }
    let found = files.symvers.iter().map(|(flavour, entry)| {
        let symtypes = files.symtypes.get(flavour).map(|t| SymtypesSource {
            path: join(path, &format!("symtypes-{flavour}")),
            id: t.id,
        });
        let found = Found {
            path: join(path, &format!("symvers-{flavour}")),
            entry: (*entry).clone(),
            symtypes,
            ignored: files
                .ignore
                .contains_key(flavour)
                .then(|| join(path, &format!("ignore-{flavour}"))),
        };
        (FlavourKey::new(arch, "none", flavour), found)
    });
    found.collect()
}

impl Reader for Suse {
    fn inputs(&self) -> Vec<String> {
        Suse::inputs(self)
    }

    fn read(&self, tree: &dyn TreeSource) -> Result<Snapshot, LayoutError> {
        Suse::read(self, tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_pack_from_config_sh() {
        let sp5 = "# The version\nSRCVERSION=5.14\nVARIANT=-rt\nCOMPRESS_MODULES=\"zstd\"\n\
                   OBS_PROJECT=SUSE:SLE-15-SP5:Update\nIBS_PROJECT=SUSE:SLE-15-SP5:Update\n";
        assert_eq!(
            service_pack(sp5, "c").unwrap(),
            ("5.14-rt@SUSE:SLE-15-SP5".into(), 2)
        );
        // The GA project names the same service pack.
        let ga = "SRCVERSION=6.4\nVARIANT=\nIBS_PROJECT=\"SUSE:SLE-15-SP7:GA\" # ga\n";
        assert_eq!(service_pack(ga, "c").unwrap().0, "6.4@SUSE:SLE-15-SP7");
        let factory = "SRCVERSION='6.12'\nOBS_PROJECT=openSUSE:Factory\n";
        assert_eq!(
            service_pack(factory, "c").unwrap().0,
            "6.12@openSUSE:Factory"
        );
        assert_eq!(service_pack("SRCVERSION=4.12\n", "c").unwrap().0, "4.12");
        for (text, message) in [
            ("VARIANT=-rt\n", "c:0: no SRCVERSION assignment"),
            ("SRCVERSION=\n", "c:1: SRCVERSION is empty"),
            (
                "SRCVERSION=$BASE\n",
                "c:1: SRCVERSION: \"$BASE\" needs shell expansion",
            ),
            (
                "SRCVERSION=\"5.14\n",
                "c:1: SRCVERSION: unterminated \" quote",
            ),
            (
                "SRCVERSION=5.14 extra\n",
                "c:1: SRCVERSION: \"extra\" after the value",
            ),
            (
                "<<<<<<< HEAD\nSRCVERSION=5.14\n",
                "c:1: merge-conflict marker `<<<<<<<`",
            ),
        ] {
            let error = service_pack(text, "c").unwrap_err();
            assert_eq!(error.to_string(), message, "{text:?}");
        }
    }

    #[test]
    fn severities_parse_strictly() {
        let rules = parse_severities(
            "# c\ndrivers/nvme/host/nvme-fc*\tFAIL\ndrivers/nvme/host/*  pass # x\n\nsclp PASS\n",
            "kabi/severities",
        )
        .unwrap();
        let entries: Vec<&str> = rules.rules().iter().map(|r| r.entry.as_str()).collect();
        assert_eq!(
            entries,
            [
                "drivers/nvme/host/nvme-fc* FAIL",
                "drivers/nvme/host/* PASS",
                "sclp PASS"
            ]
        );
        for (text, message) in [
            (
                "a PASS\nb MAYBE\n",
                "s:2: invalid verdict \"MAYBE\": it is PASS or FAIL",
            ),
            (
                "vmlinux\n",
                "s:1: \"vmlinux\" has no verdict (PASS or FAIL)",
            ),
            ("a PASS FAIL\n", "s:1: \"FAIL\" after the verdict"),
            ("=======\n", "s:1: merge-conflict marker `=======`"),
        ] {
            let error = parse_severities(text, "s").unwrap_err();
            assert_eq!(error.to_string(), message, "{text:?}");
        }
    }
}
