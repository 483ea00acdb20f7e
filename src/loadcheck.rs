//! The module loader's rules: would the kernel whose exports are a given
//! [`SymbolSet`] load this module? Each rule mirrors one in
//! `kernel/module/` (6.x), named where it is applied.
//!
//! For every symbol the module leaves undefined (`simplify_symbols`), plus
//! `module_layout` when the module versions it (`check_modstruct_layout`):
//! 1. it must be exported, and visible to the module: GPL-only exports are
//!    invisible to modules whose license is not GPL-compatible
//!    (`find_symbol`, `license_is_gpl_compatible`); a weak reference may stay
//!    unresolved;
//! 2. its CRC must equal the module's (`check_version`): a module without any
//!    version table is refused (no forced loads), a symbol missing from the
//!    table only draws a warning, and an unversioned export (CRC
//!    `0x00000000`) is not checked;
//! 3. a namespaced export needs the module's `import_ns`
//!    (`verify_namespace_is_imported`).
//!
//! The loader stops at the first failing symbol; this check reports every
//! one (a missing or invisible symbol ends its own checks, as there is no
//! export to compare with).
//!
//! Module-wide: `vermagic` must be present; with an expected vermagic, the
//! loader (`same_magic`) ignores the release part when the module has CRCs,
//! so a release-only difference is a warning and any other an error. A
//! module exporting a symbol some other module or vmlinux already exports is
//! refused (`verify_exported_symbols`).
//!
//! The check is independent of where the [`SymbolSet`] comes from (a file,
//! git history, a built tree). Findings are plain data; `report::loadcheck` shows them.

use std::collections::{HashMap, HashSet};

use serde::{Serialize, Serializer};

use crate::elf::{ModuleInfo, VersionsSource};
use crate::symbols::{Crc, Symbol, SymbolSet};

/// Licenses the kernel treats as GPL-compatible (`license_is_gpl_compatible`).
pub const GPL_COMPATIBLE: [&str; 6] = [
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
];

/// Whether the kernel lets a module with this license use GPL-only exports.
/// A module without a license counts as proprietary, as in the kernel.
pub fn license_is_gpl_compatible(license: Option<&str>) -> bool {
    license.is_some_and(|l| GPL_COMPATIBLE.contains(&l))
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The kernel would refuse the module.
    Error,
    /// The kernel would load it, but says something (or abibot cannot tell).
    Warning,
}

fn hex32<S: Serializer>(crc: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("0x{crc:08x}"))
}

/// One problem the loader would see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// No export of that name ("Unknown symbol").
    MissingSymbol {
        /// The symbol.
        symbol: String,
    },
    /// The export is GPL-only and the module's license is not GPL-compatible.
    GplOnly {
        /// The symbol.
        symbol: String,
        /// Where the kernel exports it.
        exporter: String,
        /// The module's license (`None`: no `MODULE_LICENSE`).
        license: Option<String>,
    },
    /// "disagrees about version of symbol".
    CrcMismatch {
        /// The symbol.
        symbol: String,
        /// Where the kernel exports it.
        exporter: String,
        /// The CRC the module was built against.
        #[serde(serialize_with = "hex32")]
        module_crc: u64,
        /// The CRC the kernel exports.
        kernel_crc: Crc,
    },
    /// The module has no CRC for a symbol (the loader warns, then loads).
    NoSymbolVersion {
        /// The symbol.
        symbol: String,
    },
    /// The module has no version table at all ("no symbol version for").
    NoVersions,
    /// The export's namespace is not among the module's `import_ns`.
    NamespaceNotImported {
        /// The symbol.
        symbol: String,
        /// Its namespace.
        namespace: String,
        /// Where the kernel exports it.
        exporter: String,
    },
    /// The export kind is unknown to abibot, so the GPL rule was not applied.
    UnknownExportKind {
        /// The symbol.
        symbol: String,
        /// The kind as written.
        export: String,
    },
    /// The module has no `vermagic` in `.modinfo`.
    MissingVermagic,
    /// The module's vermagic differs from the expected one.
    VermagicMismatch {
        /// The module's.
        module: String,
        /// The expected one.
        expected: String,
        /// Whether the loader accepts the difference (release part only,
        /// with CRCs present).
        accepted: bool,
    },
    /// The module exports a symbol that is already exported elsewhere.
    DuplicateExport {
        /// The symbol.
        symbol: String,
        /// The other exporter.
        exporter: String,
    },
}

/// A problem with its severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error (refused) or warning.
    pub severity: Severity,
    /// What is wrong.
    #[serde(flatten)]
    pub problem: Problem,
}

/// The verdict on one module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// The module file, as named.
    pub path: String,
    /// The module's name (`.modinfo` `name=`).
    pub name: String,
    /// Whether the kernel would load it (no error finding).
    pub loads: bool,
    /// How many symbols were resolved against the exports.
    pub imports_checked: usize,
    /// Everything found, in symbol-table order, module-wide findings first.
    pub findings: Vec<Finding>,
}

/// The loader's `same_magic`: with CRCs, the release (up to the first space)
/// is not compared.
pub fn same_magic(module: &str, kernel: &str, has_crcs: bool) -> bool {
    if has_crcs {
        let tail = |s: &str| s.find(' ').map_or("", |i| &s[i..]).to_owned();
        tail(module) == tail(kernel)
    } else {
        module == kernel
    }
}

/// Undefined names the loader ignores on some architectures
/// (`ignore_undef_symbol`).
fn ignored_undefined(machine: u16, name: &str) -> bool {
    const EM_386: u16 = 3;
    const EM_X86_64: u16 = 62;
    const EM_PPC64: u16 = 21;
    match machine {
        EM_386 | EM_X86_64 => name == "_GLOBAL_OFFSET_TABLE_",
        EM_PPC64 => name == ".TOC." || name == "TOC.",
        _ => false,
    }
}

/// `-` and `_` are the same in module names.
fn same_module_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
}

/// Decides whether `module` would load on a kernel exporting `against`.
/// `expected_vermagic` is the kernel's vermagic, when known.
pub fn check(
    module: &ModuleInfo,
    against: &SymbolSet,
    expected_vermagic: Option<&str>,
) -> LoadReport {
    let name = module.name();
    let mut checker = Checker::new(module, against);
    checker.vermagic(expected_vermagic);
    let imports = imports(module, &checker.versions, against);
    for &(symbol, weak) in &imports {
        checker.import(symbol, weak);
    }
    checker.exports(&name);
    let mut findings = checker.findings;
    // Module-wide findings first, then per symbol in table order: stable.
    findings.sort_by_key(|f| {
        !matches!(
            f.problem,
            Problem::MissingVermagic | Problem::VermagicMismatch { .. } | Problem::NoVersions
        )
    });
    LoadReport {
        path: module.path.clone(),
        loads: !findings.iter().any(|f| f.severity == Severity::Error),
        name,
        imports_checked: imports.len(),
        findings,
    }
}

/// The symbols the loader resolves, in its order, each once, with whether
/// the reference is weak: the module's undefined symbols, after
/// `module_layout` when `check_modstruct_layout` applies (versioned, never
/// undefined, and only checked if the kernel has it).
fn imports<'m>(
    module: &'m ModuleInfo,
    versions: &HashMap<&str, u64>,
    against: &SymbolSet,
) -> Vec<(&'m str, bool)> {
    let mut seen = HashSet::new();
    let mut imports: Vec<(&str, bool)> = module
        .undefined
        .iter()
        .filter(|u| !ignored_undefined(module.class.machine, &u.name))
        .filter(|u| seen.insert(u.name.as_str()))
        .map(|u| (u.name.as_str(), u.weak))
        .collect();
    if versions.contains_key("module_layout")
        && !seen.contains("module_layout")
        && against.get("module_layout").is_some()
    {
        imports.insert(0, ("module_layout", false));
    }
    imports
}

/// What the rules need to know about one module, and the findings so far.
struct Checker<'m> {
    module: &'m ModuleInfo,
    against: &'m SymbolSet,
    /// Whether the module has a version table at all.
    has_crcs: bool,
    /// Whether GPL-only exports are visible to it.
    gpl_ok: bool,
    /// The module's CRC of each symbol it versions.
    versions: HashMap<&'m str, u64>,
    /// A module without a version table is one finding, not one per symbol.
    reported_no_versions: bool,
    findings: Vec<Finding>,
}

impl<'m> Checker<'m> {
    fn new(module: &'m ModuleInfo, against: &'m SymbolSet) -> Checker<'m> {
        Checker {
            module,
            against,
            has_crcs: module.versions_source != VersionsSource::None,
            gpl_ok: license_is_gpl_compatible(module.modinfo.license.as_deref()),
            versions: module
                .versions
                .iter()
                .rev() // the loader takes the first entry of a name
                .map(|v| (v.name.as_str(), v.crc))
                .collect(),
            reported_no_versions: false,
            findings: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, problem: Problem) {
        self.findings.push(Finding { severity, problem });
    }

    /// `vermagic` is present and, when the kernel's is known, matches it
    /// the way `same_magic` compares.
    fn vermagic(&mut self, expected: Option<&str>) {
        match (&self.module.modinfo.vermagic, expected) {
            (None, _) => self.push(Severity::Error, Problem::MissingVermagic),
            (Some(m), Some(e)) if m != e => {
                let accepted = same_magic(m, e, self.has_crcs);
                let severity = if accepted {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                let problem = Problem::VermagicMismatch {
                    module: m.clone(),
                    expected: e.to_owned(),
                    accepted,
                };
                self.push(severity, problem);
            }
            _ => {}
        }
    }

    /// The three rules for one imported symbol; a missing or invisible
    /// export ends its checks, as there is nothing to compare with.
    fn import(&mut self, symbol: &str, weak: bool) {
        let Some(export) = self.against.get(symbol) else {
            if !weak {
                let symbol = symbol.into();
                self.push(Severity::Error, Problem::MissingSymbol { symbol });
            }
            return;
        };
        if self.visible(symbol, weak, export) {
            self.version(symbol, export);
            self.namespace(symbol, export);
        }
    }

    /// `find_symbol`: a GPL-only export is invisible to a module whose
    /// license is not GPL-compatible. An export of a kind abibot does not
    /// know is visible, with a warning.
    fn visible(&mut self, symbol: &str, weak: bool, export: &Symbol) -> bool {
        match export.export.as_ref().map(|e| (e, e.gpl_only())) {
            Some((_, Some(true))) if !self.gpl_ok => {
                if !weak {
                    let problem = Problem::GplOnly {
                        symbol: symbol.into(),
                        exporter: export.module.to_string(),
                        license: self.module.modinfo.license.clone(),
                    };
                    self.push(Severity::Error, problem);
                }
                return false;
            }
            Some((kind, None)) => self.push(
                Severity::Warning,
                Problem::UnknownExportKind {
                    symbol: symbol.into(),
                    export: kind.as_str().to_owned(),
                },
            ),
            _ => {}
        }
        true
    }

    /// `check_version`: the module's CRC of the symbol equals the kernel's.
    fn version(&mut self, symbol: &str, export: &Symbol) {
        match self.versions.get(symbol) {
            // An unversioned export (CRC 0, or a kernel without
            // CONFIG_MODVERSIONS) has no kcrctab entry: never checked.
            _ if export.crc.is_unversioned() => {}
            Some(&crc) if crc != u64::from(export.crc.0) => self.push(
                Severity::Error,
                Problem::CrcMismatch {
                    symbol: symbol.into(),
                    exporter: export.module.to_string(),
                    module_crc: crc,
                    kernel_crc: export.crc,
                },
            ),
            Some(_) => {}
            None if !self.has_crcs => {
                if !self.reported_no_versions {
                    self.reported_no_versions = true;
                    self.push(Severity::Error, Problem::NoVersions);
                }
            }
            None => self.push(
                Severity::Warning,
                Problem::NoSymbolVersion {
                    symbol: symbol.into(),
                },
            ),
        }
    }

    /// `verify_namespace_is_imported`: a namespaced export needs the
    /// module's `import_ns`.
    fn namespace(&mut self, symbol: &str, export: &Symbol) {
        if let Some(ns) = export.namespace.as_deref().filter(|ns| !ns.is_empty())
            && !self.module.modinfo.import_ns.iter().any(|i| i == ns)
        {
            self.push(
                Severity::Error,
                Problem::NamespaceNotImported {
                    symbol: symbol.into(),
                    namespace: ns.to_owned(),
                    exporter: export.module.to_string(),
                },
            );
        }
    }

    /// `verify_exported_symbols`: no export of the module may already be
    /// exported by another module or vmlinux.
    fn exports(&mut self, name: &str) {
        for export in &self.module.exports {
            if let Some(other) = self.against.get(&export.name) {
                let other_name = other.module.rsplit('/').next().unwrap_or(&other.module);
                if !same_module_name(other_name, name) {
                    let problem = Problem::DuplicateExport {
                        symbol: export.name.to_string(),
                        exporter: other.module.to_string(),
                    };
                    self.push(Severity::Error, problem);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_magic_ignores_release_only_with_crcs() {
        let a = "6.1.0-50-amd64 SMP preempt mod_unload modversions ";
        let b = "6.1.0-47-amd64 SMP preempt mod_unload modversions ";
        assert!(same_magic(a, b, true));
        assert!(!same_magic(a, b, false));
        assert!(!same_magic(
            a,
            "6.1.0-50-amd64 SMP mod_unload modversions ",
            true
        ));
    }

    #[test]
    fn gpl_compatibility_follows_the_kernel_list() {
        assert!(license_is_gpl_compatible(Some("Dual MIT/GPL")));
        assert!(!license_is_gpl_compatible(Some("GPL v3")));
        assert!(!license_is_gpl_compatible(Some("Proprietary")));
        assert!(!license_is_gpl_compatible(None));
    }

    #[test]
    fn module_names_compare_dash_and_underscore_alike() {
        assert!(same_module_name("usb-storage", "usb_storage"));
        assert!(!same_module_name("usb-storage", "usb_storagex"));
        assert!(!same_module_name("fat", "vfat"));
    }
}
