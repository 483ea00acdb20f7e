//! Reference mode: bisects the packaging repository's own ABI references,
//! read from the git object database at the probed revisions only.
//!
//! Each probe rebuilds one revision's reference set from scratch through
//! [`crate::history::Walker::state_at`] (no walk through the commits in between), so the
//! reference is read `2 + ceil(log2(n))` times at most when nothing is
//! skipped: the good end, the bad end, and the halvings. Parsed references
//! are shared through the walker's object-id cache, so a reference file that
//! is the same blob at two probes is parsed once.
//!
//! A chosen flavour that has no reference at a probed revision, or whose
//! reference does not parse there, makes that revision a skip unless another
//! chosen flavour already shows a matching change (then it is bad).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use git2::Repository;

use super::search::bisect;
use super::{
    BisectError, BisectReport, FlavourMatch, Header, Mode, Predicate, ProbeDetail, Range, Verdict,
    Work, assemble, probe_line,
};
use crate::history::{CommitSha, RevState, RevisionError};
use crate::pipeline::RepoSpec;
use crate::symbols::{FlavourKey, SymbolSet};

/// What to bisect in reference mode.
#[derive(Clone, Debug, Default)]
pub struct ReferenceOptions {
    /// The good end (a revision expression).
    pub good: String,
    /// The bad end.
    pub bad: String,
    /// Flavours to judge (`amd64_none_amd64`); empty: every flavour at the good end.
    pub flavours: Vec<FlavourKey>,
    /// What makes a revision bad.
    pub predicate: Predicate,
    /// The repository's description, built as for every command; its
    /// layout and root apply (bisect always follows first parents, and its
    /// predicate compares with no ignore rules).
    pub spec: RepoSpec,
}

/// The baseline: the chosen flavours' sets at the good end.
type Baseline = Vec<(FlavourKey, Arc<SymbolSet>)>;

/// Bisects `repo`'s references. `log` receives one line per step.
pub fn bisect_references(
    repo: &Repository,
    options: &ReferenceOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BisectReport, BisectError> {
    let spec = RepoSpec::at(
        options.spec.walk.root.clone(),
        options.spec.walk.layout.clone(),
    );
    let mut walker = spec.open(repo).walker;
    let range = Range::resolve(&walker, repo, &options.good, &options.bad)?;
    let good_sha = CommitSha::of(range.good);
    log(&format!(
        "{} first-parent commits after {} up to {}",
        range.commits.len(),
        good_sha.short(),
        CommitSha::of(range.bad()).short()
    ));
    let (state, errors) = walker.state_at(range.good, None)?;
    let baseline = baseline(&state, &errors, &good_sha, options)?;
    log(&format!(
        "good end {}: {} flavour(s) read",
        good_sha.short(),
        baseline.len()
    ));
    let mut count = 0;
    let search = bisect(range.commits.len(), |index| {
        let commit = range.commits[index];
        let (state, errors) = walker.state_at(commit, None)?;
        let (verdict, detail) = judge(&baseline, &state, &errors, &options.predicate);
        count += 1;
        log(&probe_line(count, commit, verdict, &detail));
        Ok::<_, BisectError>((verdict, detail))
    })?;
    let work = Work {
        reference_reads: walker.snapshots_read,
        references_parsed: walker.loader.stats.parsed.load(Ordering::Relaxed),
        builds: 0,
    };
    assemble(
        repo,
        &range,
        search,
        Header {
            mode: Mode::Reference,
            predicate: options.predicate.clone(),
            flavours: baseline.iter().map(|(k, _)| k.to_string()).collect(),
            baseline: ProbeDetail {
                reason: Some("the good end: every probe is compared with it".into()),
                ..ProbeDetail::default()
            },
            work,
            keep_dir: None,
        },
    )
}

/// Picks the chosen flavours at the good end and checks they can serve as
/// a baseline.
fn baseline(
    state: &RevState,
    errors: &[RevisionError],
    rev: &CommitSha,
    options: &ReferenceOptions,
) -> Result<Baseline, BisectError> {
    let flavours = &state.sources;
    if flavours.is_empty() {
        let mut reason = "no ABI reference found".to_owned();
        for e in errors {
            reason.push_str(&format!("; {}: {}", e.path, e.message));
        }
        return Err(BisectError::GoodUnreadable {
            rev: rev.to_string(),
            reason,
        });
    }
    let keys: Vec<&FlavourKey> = if options.flavours.is_empty() {
        flavours.keys().collect()
    } else {
        options
            .flavours
            .iter()
            .map(|name| {
                flavours.get_key_value(name).map(|(k, _)| k).ok_or_else(|| {
                    BisectError::UnknownFlavour {
                        flavour: name.to_string(),
                        rev: rev.to_string(),
                        available: flavours
                            .keys()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut baseline: Baseline = Vec::new();
    for key in keys {
        if baseline.iter().any(|(k, _)| k == key) {
            continue;
        }
        match state
            .reference
            .flavours
            .get(key)
            .filter(|_| !state.broken.contains_key(key))
        {
            Some(set) => baseline.push((key.clone(), set.clone())),
            None => {
                return Err(BisectError::GoodUnreadable {
                    rev: rev.to_string(),
                    reason: unreadable(state, errors, key),
                });
            }
        }
    }
    let missing = options
        .predicate
        .missing_from(baseline.iter().map(|(_, s)| s.as_ref()));
    if !missing.is_empty() {
        let names: Vec<String> = baseline.iter().map(|(k, _)| k.to_string()).collect();
        return Err(BisectError::GoodIsBad {
            rev: rev.to_string(),
            reason: format!(
                "symbol(s) {} not exported by {}",
                missing.join(", "),
                names.join(", ")
            ),
        });
    }
    Ok(baseline)
}

/// Why `key` cannot be read at a revision: its parse error, or its absence.
fn unreadable(state: &RevState, errors: &[RevisionError], key: &FlavourKey) -> String {
    let path = state.sources.get(key).map(|s| s.path.as_str());
    if let Some(e) = errors.iter().find(|e| Some(e.path.as_str()) == path) {
        return format!("{}: {}", e.path, e.message);
    }
    let mut reason = match &state.reference.abi {
        Some(abi) => format!("{key}: no reference under ABI name {abi}"),
        None => format!("{key}: no reference"),
    };
    // A layout-level problem (malformed defines) explains the absence.
    for e in errors {
        reason.push_str(&format!("; {}: {}", e.path, e.message));
    }
    reason
}

/// Judges one revision's state against the baseline.
fn judge(
    baseline: &Baseline,
    state: &RevState,
    errors: &[RevisionError],
    predicate: &Predicate,
) -> (Verdict, ProbeDetail) {
    let mut matches = Vec::new();
    let mut unread = Vec::new();
    for (key, good) in baseline {
        match state
            .reference
            .flavours
            .get(key)
            .filter(|_| !state.broken.contains_key(key))
        {
            Some(set) => {
                let changes = predicate.matching(good, set);
                if !changes.is_empty() {
                    matches.push(FlavourMatch {
                        flavour: key.to_string(),
                        changes,
                    });
                }
            }
            None => unread.push(unreadable(state, errors, key)),
        }
    }
    if !matches.is_empty() {
        let detail = ProbeDetail {
            matches,
            ..ProbeDetail::default()
        };
        return (Verdict::Bad, detail);
    }
    if !unread.is_empty() {
        let detail = ProbeDetail {
            reason: Some(unread.join("; ")),
            ..ProbeDetail::default()
        };
        return (Verdict::Skip, detail);
    }
    (Verdict::Good, ProbeDetail::default())
}
