//! What abibot reports about a commit: [`Finding`]s, plain data with a
//! stable id, rendered elsewhere (`report`) and posted elsewhere (`forge`).

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compare::{Comparison, Summary};
use crate::history::CommitSha;
use crate::layouts::LayoutKind;
use crate::symbols::{AbiName, FlavourKey};

/// The kinds of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The ABI name stayed, a reference changed incompatibly.
    HiddenBreak,
    /// The ABI name stayed, a flavour's reference disappeared.
    CoverageLost,
    /// A reference gained symbols with CRC `0x00000000`.
    Unversioned,
    /// The ABI name changed (informational).
    Bump,
}

impl FindingKind {
    /// The name used in JSON and comment markers.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::HiddenBreak => "hidden-break",
            FindingKind::CoverageLost => "coverage-lost",
            FindingKind::Unversioned => "unversioned",
            FindingKind::Bump => "bump",
        }
    }

    /// Whether this kind means the promise was broken (exit 1, a comment).
    pub fn is_problem(self) -> bool {
        matches!(self, FindingKind::HiddenBreak | FindingKind::CoverageLost)
    }
}

/// One flavour's part in a finding.
#[derive(Clone, Debug, Serialize)]
pub struct FlavourChange {
    /// `amd64_none_amd64`.
    pub flavour: String,
    /// `none`, `rt`, ...
    pub featureset: String,
    /// `amd64`, ...
    pub arch: String,
    /// Counts as `abibot diff` gives them (all zero for a lost reference).
    pub summary: Summary,
    /// The reference file.
    pub path: String,
    /// The full comparison, for rendering; not part of the JSON.
    #[serde(skip)]
    pub comparison: Option<Arc<Comparison>>,
}

impl FlavourChange {
    /// A flavour's entry.
    pub fn new(key: &FlavourKey, path: &str, comparison: Option<Arc<Comparison>>) -> FlavourChange {
        FlavourChange {
            flavour: key.to_string(),
            featureset: key.featureset.clone(),
            arch: key.arch.clone(),
            summary: comparison.as_ref().map(|c| c.summary).unwrap_or_default(),
            path: path.to_owned(),
            comparison,
        }
    }
}

/// A watched prebuilt module (`scan --module`) whose imports a finding breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleImpact {
    /// The module's file name (`nvidia.ko`).
    pub module: String,
    /// How many of its imported symbols changed incompatibly, in any flavour.
    pub changed_imports: usize,
    /// The first few of them, by name.
    pub symbols: Vec<String>,
}

/// Something worth telling the maintainers about one commit.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable id: a hash of repository, commit, kind and flavours.
    pub id: String,
    /// What happened.
    pub kind: FindingKind,
    /// The layout it was found in: what can be done about it depends on it.
    pub layout: LayoutKind,
    /// The commit that did it.
    pub commit: CommitSha,
    /// Its title.
    pub title: String,
    /// The ABI name in force before the commit.
    pub abi: AbiName,
    /// The new ABI name (bumps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_abi: Option<AbiName>,
    /// For a bump: whether the new reference is incompatible with what the
    /// old ABI name first promised (so a bump was really needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bump_needed: Option<bool>,
    /// The flavours concerned.
    pub flavours: Vec<FlavourChange>,
    /// Flavours under the same ABI name that did not change (hidden breaks
    /// and lost coverage: one ABI name covers them all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchanged_flavours: Vec<String>,
    /// Featuresets whose every flavour lost its reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_featuresets: Vec<String>,
    /// Watched modules this finding would stop from loading.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaks_modules: Vec<ModuleImpact>,
}

impl Finding {
    /// Incompatible changes to `vmlinux` symbols, over all flavours.
    pub fn vmlinux_breaks(&self) -> usize {
        self.flavours
            .iter()
            .map(|f| f.summary.incompatible_in_vmlinux)
            .sum()
    }
}

/// The stable id of a finding.
pub fn finding_id(
    repo: &str,
    commit: &CommitSha,
    kind: FindingKind,
    flavours: &[FlavourChange],
) -> String {
    let mut hash = Sha256::new();
    for part in [repo, &commit.0, kind.name()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    for f in flavours {
        hash.update(f.flavour.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinguish_inputs() {
        let sha = CommitSha("a".repeat(40));
        let f = vec![FlavourChange::new(
            &FlavourKey::new("amd64", "none", "amd64"),
            "p",
            None,
        )];
        let id = finding_id("linux", &sha, FindingKind::HiddenBreak, &f);
        assert_eq!(id.len(), 24);
        assert_eq!(id, finding_id("linux", &sha, FindingKind::HiddenBreak, &f));
        assert_ne!(id, finding_id("linux", &sha, FindingKind::Bump, &f));
        assert_ne!(id, finding_id("other", &sha, FindingKind::HiddenBreak, &f));
        assert_ne!(id, finding_id("linux", &sha, FindingKind::HiddenBreak, &[]));
    }
}
