//! `compat`: where prebuilt modules load along a packaging history — the
//! question NVIDIA's packagers ask: "my module was built for 6.1.0-47; on
//! which of the kernels that call themselves 6.1.0-47 does it still load?".
//!
//! It owns three things. Which flavours a module is checked against
//! ([`Choice`]): the `--flavour`s given, else the flavours its `vermagic`
//! names (a Debian or Ubuntu kernel release is `<ABI name>-<flavour>`, or
//! `<ABI name>-<featureset>-<flavour>` for a featureset other than `none`),
//! on the module's architecture. The verdicts: for every ABI name and every
//! distinct reference state a chosen flavour went through — exactly the
//! states `timeline` reports, from the same walk of the one pipeline — the
//! loader's verdict ([`crate::loadcheck::check`], as `check-module --repo`
//! gives it: no expected vermagic), computed once per module and distinct
//! reference blob, never per commit ([`Stats::checks`]). And the end: the
//! verdict at the range's last commit, which decides the exit code.

use std::collections::{BTreeMap, HashMap};

use git2::Oid;
use serde::Serialize;

use crate::elf::ModuleInfo;
use crate::history::timeline::{State, Timeline};
use crate::history::{CommitSha, HistoryError, RevisionError, Step};
use crate::loadcheck::{Finding, LoadReport, Severity};
use crate::pipeline::Pipeline;
use crate::symbols::{AbiName, FlavourKey};

/// Which flavours the modules are checked against.
#[derive(Clone, Debug)]
pub enum Choice {
    /// Every module against exactly these (`--flavour`, repeatable).
    Given(Vec<FlavourKey>),
    /// Each module against the flavours its vermagic release names, on its
    /// architecture ([`names_flavour`]).
    Vermagic,
}

/// How a module's flavour was chosen, as reports say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenBy {
    /// `--flavour`.
    Flavour,
    /// The module's vermagic.
    Vermagic,
}

impl Choice {
    fn chosen_by(&self) -> ChosenBy {
        match self {
            Choice::Given(_) => ChosenBy::Flavour,
            Choice::Vermagic => ChosenBy::Vermagic,
        }
    }

    /// Whether `module` is checked against `key`.
    fn selects(&self, module: &ModuleInfo, key: &FlavourKey) -> bool {
        match self {
            Choice::Given(keys) => keys.contains(key),
            Choice::Vermagic => module
                .modinfo
                .vermagic
                .as_deref()
                .is_some_and(|v| names_flavour(v, module.class.machine, key)),
        }
    }
}

/// The ELF machines (`e_machine`) of a Debian, Ubuntu or Red Hat
/// architecture name; `None` for a name abibot does not know (then the
/// architecture does not narrow the choice).
pub fn arch_machines(arch: &str) -> Option<&'static [u16]> {
    Some(match arch {
        "amd64" | "x32" | "x86_64" => &[62],
        "i386" | "i686" => &[3],
        "arm64" | "aarch64" => &[183],
        "armel" | "armhf" | "arm" => &[40],
        "ppc64el" | "ppc64le" | "ppc64" => &[21],
        "powerpc" => &[20],
        "s390x" => &[22],
        "riscv64" => &[243],
        "mips" | "mipsel" | "mips64" | "mips64el" | "mips64r6el" => &[8],
        "loong64" => &[258],
        "hppa" => &[15],
        "m68k" => &[4],
        "sparc64" => &[43],
        "sh4" => &[42],
        "alpha" => &[0x9026],
        "ia64" => &[50],
        _ => return None,
    })
}

/// Whether a module of ELF machine `machine` with `vermagic` was built for
/// flavour `key`: the release (vermagic's first word) is `<ABI>-<suffix>`
/// with the key's suffix (`amd64`, `rt-amd64`: the featureset joins it
/// unless `none`) and an ABI part ending in a number (`6.1.0-50`,
/// `6.12.117+deb12`; so `6.1.0-50-cloud-amd64` is not flavour `amd64`), and
/// the architecture matches where it is known.
pub fn names_flavour(vermagic: &str, machine: u16, key: &FlavourKey) -> bool {
    let release = vermagic.split(' ').next().unwrap_or("");
    let suffix = match key.featureset.as_str() {
        "none" => key.flavour.clone(),
        set => format!("{set}-{}", key.flavour),
    };
    let abi_part = release
        .strip_suffix(suffix.as_str())
        .and_then(|rest| rest.strip_suffix('-'));
    let numbered = abi_part.is_some_and(|abi| {
        let last = abi.rsplit('-').next().unwrap_or(abi);
        last.starts_with(|c: char| c.is_ascii_digit())
    });
    numbered && arch_machines(&key.arch).is_none_or(|m| m.contains(&machine))
}

/// Why `compat` has no answer.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// The walk failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A `--flavour` has no reference anywhere in the range.
    #[error("flavour {flavour} has no reference in the range (flavours there: {seen})")]
    UnknownFlavour {
        /// The flavour given.
        flavour: FlavourKey,
        /// The flavours the range has.
        seen: String,
    },
    /// A module's vermagic names no flavour of the range.
    #[error(
        "{module}: its vermagic {vermagic:?} names no flavour of the range on its architecture \
         (flavours there: {seen}); choose with --flavour"
    )]
    NoFlavour {
        /// The module file.
        module: String,
        /// Its vermagic (empty when it has none).
        vermagic: String,
        /// The flavours the range has.
        seen: String,
    },
}

/// Counters: how much work the answer took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Commits walked.
    pub commits: usize,
    /// States reported, over all modules and flavours.
    pub states: usize,
    /// Loader checks run: one per module and distinct reference blob.
    pub checks: usize,
}

/// The verdict on one module at one state of a flavour.
#[derive(Clone, Debug, Serialize)]
pub struct StateVerdict {
    /// The ABI name.
    pub abi: AbiName,
    /// The first commit of the state.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// The reference's git object id.
    pub content: String,
    /// The commit where the flavour's reference next changed (under any
    /// name, or removed); `None` while it still holds at the range's end.
    pub until: Option<CommitSha>,
    /// Whether the module would load there.
    pub loads: bool,
    /// Errors: why the loader would refuse it.
    pub problems: usize,
    /// Warnings: what the loader would say and still load.
    pub warnings: usize,
    /// For a return to a state the name already had: that state's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns_to: Option<usize>,
    /// Whether `timeline` calls this state incompatible with the name's
    /// previous one (a hidden break).
    pub incompatible: bool,
    /// What the loader would say, as `check-module` lists it.
    pub findings: Vec<Finding>,
}

/// The reference a flavour has at the range's last commit, and the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct EndVerdict {
    /// The ABI name in force.
    pub abi: AbiName,
    /// The reference's git object id.
    pub content: String,
    /// Whether the module would load there.
    pub loads: bool,
    /// Errors there.
    pub problems: usize,
}

/// One module against one flavour, along the history.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleCompat {
    /// The module file, as named.
    pub module: String,
    /// Its name (`.modinfo` `name=`).
    pub name: String,
    /// Its vermagic.
    pub vermagic: Option<String>,
    /// The flavour, written `amd64_none_amd64`.
    #[serde(serialize_with = "as_text")]
    pub flavour: FlavourKey,
    /// How the flavour was chosen.
    pub chosen_by: ChosenBy,
    /// Every state in the order the history reached it.
    pub states: Vec<StateVerdict>,
    /// At the range's last commit (`None`: the flavour has no reference there).
    pub end: Option<EndVerdict>,
    /// Whether it loads at the range's last commit.
    pub loads_at_end: bool,
}

/// A value in its text form (a flavour key as Debian names its file).
fn as_text<S: serde::Serializer>(value: &impl std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// `compat`'s whole answer.
#[derive(Clone, Debug, Serialize)]
pub struct CompatReport {
    /// One entry per module and chosen flavour, in the order the modules were given.
    pub modules: Vec<ModuleCompat>,
    /// Problems at single revisions (the walk went on).
    pub errors: Vec<RevisionError>,
    /// Work counters.
    pub stats: Stats,
}

impl CompatReport {
    /// Whether every module loads on every chosen flavour at the range's end.
    pub fn all_load_at_end(&self) -> bool {
        self.modules.iter().all(|m| m.loads_at_end)
    }
}

/// A flavour's reference at one revision: its ABI name and blob.
type Held = (AbiName, Oid);

/// A chosen flavour's reference changed: walk position, commit, what it holds.
type Change = (usize, CommitSha, Option<Held>);

/// What the walk collects besides the timeline.
struct Collector<'m> {
    modules: &'m [ModuleInfo],
    choice: &'m Choice,
    /// Verdicts by module index and reference blob.
    verdicts: HashMap<(usize, Oid), LoadReport>,
    checks: usize,
    /// Commits walked so far.
    commits: usize,
    /// The walk's position of each commit that changed something, to order
    /// states across names.
    order: HashMap<CommitSha, usize>,
    /// Each chosen flavour's changes of reference, in walk order.
    changes: BTreeMap<FlavourKey, Vec<Change>>,
    /// Every flavour at the range's last commit (`None`: unreadable).
    end: BTreeMap<FlavourKey, Option<Held>>,
    head: CommitSha,
}

impl Collector<'_> {
    /// Checks every chosen flavour's reference of a step that changed
    /// something, and of the last commit (its state may predate the range).
    fn see(&mut self, step: &Step<'_>) {
        let position = self.commits;
        self.commits += 1;
        let at_end = step.commit == self.head;
        if !step.touched && !at_end {
            return;
        }
        // States begin only here: unrelated commits are not remembered.
        self.order.insert(step.commit.clone(), position);
        let state = step.state;
        // A flavour checked before and gone now is a change too.
        let mut keys: Vec<FlavourKey> = state.sources.keys().cloned().collect();
        keys.extend(
            self.changes
                .keys()
                .filter(|k| !state.sources.contains_key(*k))
                .cloned(),
        );
        for key in &keys {
            let source = state.sources.get(key);
            let readable = source.filter(|_| !state.broken.contains_key(key));
            let set = readable.and_then(|_| state.reference.flavours.get(key));
            let held = readable.map(|s| (s.abi.clone(), s.id));
            if at_end {
                self.end.insert(key.clone(), held.clone());
            }
            let broken = source.is_some() && held.is_none();
            if broken || !self.modules.iter().any(|m| self.choice.selects(m, key)) {
                continue;
            }
            let changes = self.changes.entry(key.clone()).or_default();
            if changes.last().map(|(_, _, h)| h) != Some(&held) {
                changes.push((position, step.commit.clone(), held.clone()));
            }
            if let (Some((_, id)), Some(set)) = (held, set) {
                self.check_all(key, id, set);
            }
        }
    }

    /// Each chosen module's verdict on the reference `id`, once per blob.
    fn check_all(&mut self, key: &FlavourKey, id: Oid, set: &crate::symbols::SymbolSet) {
        for (i, module) in self.modules.iter().enumerate() {
            if self.choice.selects(module, key) && !self.verdicts.contains_key(&(i, id)) {
                self.checks += 1;
                let report = crate::loadcheck::check(module, set, None);
                self.verdicts.insert((i, id), report);
            }
        }
    }
}

/// Every module's verdicts along the range of `pipeline` after `from` up to
/// `to`, with the errors of `to` (the commands refuse an answer about a
/// state nobody can read).
pub fn compat(
    pipeline: &mut Pipeline<'_>,
    from: Option<Oid>,
    to: Oid,
    modules: &[ModuleInfo],
    choice: &Choice,
    progress: impl FnMut(usize, usize),
) -> Result<(CompatReport, Vec<RevisionError>), CompatError> {
    // As `timeline`: what each name promised before `from`, so a return to
    // an earlier state is one.
    let mut timeline = Timeline::knowing(pipeline.walker.promises_until(from)?);
    let mut collector = Collector {
        modules,
        choice,
        verdicts: HashMap::new(),
        checks: 0,
        commits: 0,
        order: HashMap::new(),
        changes: BTreeMap::new(),
        end: BTreeMap::new(),
        head: CommitSha::of(to),
    };
    let current = pipeline.walk(from, to, progress, |step| {
        collector.see(&step);
        timeline.visit(step);
    })?;
    let report = assemble(&collector, timeline)?;
    Ok((report, current))
}

/// The flavours the range had, for messages.
fn seen(collector: &Collector<'_>, timeline: &Timeline) -> Vec<FlavourKey> {
    let mut keys: Vec<FlavourKey> = timeline
        .abis
        .iter()
        .flat_map(|a| a.flavours.keys())
        .filter_map(|k| k.parse().ok())
        .chain(collector.end.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The answer from what the walk collected; refuses a flavour or module
/// nothing in the range matched.
fn assemble(collector: &Collector<'_>, timeline: Timeline) -> Result<CompatReport, CompatError> {
    let seen = seen(collector, &timeline);
    let listed = || {
        let names: Vec<String> = seen.iter().map(ToString::to_string).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    if let Choice::Given(keys) = collector.choice
        && let Some(missing) = keys.iter().find(|k| !seen.contains(k))
    {
        return Err(CompatError::UnknownFlavour {
            flavour: missing.clone(),
            seen: listed(),
        });
    }
    let mut modules = Vec::new();
    for (i, module) in collector.modules.iter().enumerate() {
        let keys: Vec<&FlavourKey> = seen
            .iter()
            .filter(|k| collector.choice.selects(module, k))
            .collect();
        if keys.is_empty() {
            return Err(CompatError::NoFlavour {
                module: module.path.clone(),
                vermagic: module.modinfo.vermagic.clone().unwrap_or_default(),
                seen: listed(),
            });
        }
        for key in keys {
            modules.push(module_compat(collector, &timeline, i, key));
        }
    }
    let stats = Stats {
        commits: collector.commits,
        states: modules.iter().map(|m| m.states.len()).sum(),
        checks: collector.checks,
    };
    Ok(CompatReport {
        modules,
        errors: timeline.errors,
        stats,
    })
}

/// Module `i` against flavour `key`: its verdict at every timeline state,
/// in walk order, and at the end.
fn module_compat(
    collector: &Collector<'_>,
    timeline: &Timeline,
    i: usize,
    key: &FlavourKey,
) -> ModuleCompat {
    let module = &collector.modules[i];
    let name = key.to_string();
    let mut states: Vec<(usize, StateVerdict)> = timeline
        .abis
        .iter()
        .filter_map(|a| a.flavours.get(&name).map(|s| (&a.abi, s)))
        .flat_map(|(abi, states)| states.iter().map(move |s| (abi, s)))
        .filter_map(|(abi, s)| state_verdict(collector, i, key, abi, s))
        .collect();
    states.sort_by_key(|(position, _)| *position);
    let end = collector
        .end
        .get(key)
        .and_then(Option::as_ref)
        .and_then(|(abi, id)| {
            let report = collector.verdicts.get(&(i, *id))?;
            Some(EndVerdict {
                abi: abi.clone(),
                content: id.to_string(),
                loads: report.loads,
                problems: errors(&report.findings),
            })
        });
    ModuleCompat {
        module: module.path.clone(),
        name: module.name(),
        vermagic: module.modinfo.vermagic.clone(),
        flavour: key.clone(),
        chosen_by: collector.choice.chosen_by(),
        states: states.into_iter().map(|(_, s)| s).collect(),
        loads_at_end: end.as_ref().is_some_and(|e| e.loads),
        end,
    }
}

/// How many findings are errors.
fn errors(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count()
}

/// One timeline state's verdict with its walk position; `None` when the
/// walk checked no reference there (it checks every readable reference of
/// every step that changed one, which is where timeline states begin).
fn state_verdict(
    collector: &Collector<'_>,
    i: usize,
    key: &FlavourKey,
    abi: &AbiName,
    state: &State,
) -> Option<(usize, StateVerdict)> {
    let id = Oid::from_str(&state.content).ok()?;
    let report = collector.verdicts.get(&(i, id))?;
    let position = *collector.order.get(&state.commit)?;
    let until = collector.changes.get(key).and_then(|changes| {
        let (_, next, _) = changes.iter().find(|(p, _, _)| *p > position)?;
        Some(next.clone())
    });
    let problems = errors(&report.findings);
    Some((
        position,
        StateVerdict {
            abi: abi.clone(),
            commit: state.commit.clone(),
            title: state.title.clone(),
            content: state.content.clone(),
            until,
            loads: report.loads,
            problems,
            warnings: report.findings.len() - problems,
            returns_to: state.returns_to,
            incompatible: state.incompatible,
            findings: report.findings.clone(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> FlavourKey {
        text.parse().unwrap()
    }

    const AMD64: &str = "6.1.0-50-amd64 SMP preempt mod_unload modversions ";

    #[test]
    fn the_vermagic_release_names_one_flavour() {
        assert!(names_flavour(AMD64, 62, &key("amd64_none_amd64")));
        assert!(!names_flavour(AMD64, 62, &key("amd64_none_cloud-amd64")));
        assert!(!names_flavour(AMD64, 62, &key("amd64_rt_amd64")));
        let cloud = "6.1.0-50-cloud-amd64 SMP mod_unload modversions ";
        assert!(names_flavour(cloud, 62, &key("amd64_none_cloud-amd64")));
        assert!(!names_flavour(cloud, 62, &key("amd64_none_amd64")));
        let rt = "6.1.0-50-rt-amd64 SMP PREEMPT_RT mod_unload modversions ";
        assert!(names_flavour(rt, 62, &key("amd64_rt_amd64")));
        assert!(!names_flavour(rt, 62, &key("amd64_none_amd64")));
        let trixie = "6.12.117+deb12-amd64 SMP preempt mod_unload modversions ";
        assert!(names_flavour(trixie, 62, &key("amd64_none_amd64")));
        let malta = "6.1.0-50-4kc-malta mod_unload MIPS32_R2 32BIT ";
        assert!(names_flavour(malta, 8, &key("mipsel_none_4kc-malta")));
    }

    #[test]
    fn the_architecture_must_match_where_it_is_known() {
        assert!(!names_flavour(AMD64, 183, &key("amd64_none_amd64")));
        let arm = "6.1.0-50-arm64 SMP preempt mod_unload modversions aarch64";
        assert!(names_flavour(arm, 183, &key("arm64_none_arm64")));
        assert!(!names_flavour(arm, 62, &key("arm64_none_arm64")));
        // Unknown to abibot: the release alone decides.
        assert!(names_flavour("5.0-1-foo x", 9999, &key("weird_none_foo")));
        assert!(!names_flavour("", 62, &key("amd64_none_amd64")));
    }
}
