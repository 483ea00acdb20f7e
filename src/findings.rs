//! What abibot reports about a commit: [`Finding`]s, plain data with a
//! stable id, rendered elsewhere (`report`) and posted elsewhere (`forge`).

use std::sync::Arc;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compare::{Comparison, Summary};
use crate::explain::Explanation;
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
    /// The ABI name changed to one with no references for flavours that had
    /// them under the previous name: their build check is off
    /// (informational while the release is being prepared).
    Unchecked,
    /// A release (the changelog's distribution set from `UNRELEASED` to a
    /// suite) made while flavours are still unchecked.
    UncheckedRelease,
    /// A reference identical to one its ABI name already had (a revert):
    /// the name keeps a promise it made before (informational).
    Restoration,
}

impl FindingKind {
    /// The name used in JSON and comment markers.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::HiddenBreak => "hidden-break",
            FindingKind::CoverageLost => "coverage-lost",
            FindingKind::Unversioned => "unversioned",
            FindingKind::Bump => "bump",
            FindingKind::Unchecked => "unchecked",
            FindingKind::UncheckedRelease => "unchecked-release",
            FindingKind::Restoration => "restoration",
        }
    }

    /// Whether this kind means the promise was broken (exit 1, a comment).
    pub fn is_problem(self) -> bool {
        matches!(
            self,
            FindingKind::HiddenBreak | FindingKind::CoverageLost | FindingKind::UncheckedRelease
        )
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
    /// The commit that published the reference this one was judged against
    /// instead of the parent's: for a restoration, the state restored; for
    /// an ABI name that came back, its first publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<CommitSha>,
    /// The ABI name the flavour had just before, when its name came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub came_back_from: Option<AbiName>,
    /// The full comparison, for rendering; not part of the JSON.
    #[serde(skip)]
    pub comparison: Option<Arc<Comparison>>,
    /// The type changes behind its CRC changes, when the layout keeps
    /// symtypes for both sides (SUSE's `kabi/<arch>/symtypes-<flavour>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Box<Explanation>>,
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
            published: None,
            came_back_from: None,
            comparison,
            explanation: None,
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
    pub id: FindingId,
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
    /// For an unchecked release: the commit that changed the ABI name to
    /// one without references (the check has been off since).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked_since: Option<CommitSha>,
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

/// The length of a finding id in hex digits: the first 12 bytes of a
/// SHA-256, enough that two findings of one forge never share an id.
pub const FINDING_ID_LEN: usize = 24;

/// A finding's stable id ([`finding_id`]): [`FINDING_ID_LEN`] lowercase hex
/// digits. The same type names a finding in the library, in the state store
/// and in a comment's marker ([`FindingId::marker`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FindingId(String);

/// Text that is not a finding id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a finding id ({FINDING_ID_LEN} hexadecimal digits, as `abibot state list` shows)"
)]
pub struct BadFindingId(String);

/// What opens and closes the hidden marker that ties a posted comment to
/// its finding, so that a restarted daemon finds the comment it posted.
const MARKER_OPEN: &str = "<!-- abibot:finding=";
const MARKER_CLOSE: &str = " -->";

impl FindingId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hidden marker a comment for this finding carries (an HTML
    /// comment, invisible on GitHub and GitLab).
    pub fn marker(&self) -> String {
        format!("{MARKER_OPEN}{}{MARKER_CLOSE}", self.0)
    }

    /// The ids of every well-formed marker in a comment body, in order;
    /// anything else that looks like one is not ours and is skipped.
    pub fn in_comment(body: &str) -> impl Iterator<Item = FindingId> + '_ {
        body.split(MARKER_OPEN).skip(1).filter_map(|rest| {
            let (id, _) = rest.split_once(MARKER_CLOSE)?;
            FindingId::try_from(id.to_owned()).ok()
        })
    }
}

impl TryFrom<String> for FindingId {
    type Error = BadFindingId;

    /// Exactly [`FINDING_ID_LEN`] lowercase hex digits (JSON, the state
    /// store, markers: what abibot itself wrote).
    fn try_from(text: String) -> Result<FindingId, BadFindingId> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if text.len() == FINDING_ID_LEN && text.bytes().all(hex) {
            Ok(FindingId(text))
        } else {
            Err(BadFindingId(text.chars().take(64).collect()))
        }
    }
}

impl FromStr for FindingId {
    type Err = BadFindingId;

    /// An id an operator typed: white space around it and upper case are
    /// forgiven.
    fn from_str(text: &str) -> Result<FindingId, BadFindingId> {
        FindingId::try_from(text.trim().to_ascii_lowercase())
    }
}

impl From<FindingId> for String {
    fn from(id: FindingId) -> String {
        id.0
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The stable id of a finding.
pub fn finding_id(
    repo: &str,
    commit: &CommitSha,
    kind: FindingKind,
    flavours: &[FlavourChange],
) -> FindingId {
    let mut hash = Sha256::new();
    for part in [repo, commit.as_str(), kind.name()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    for f in flavours {
        hash.update(f.flavour.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    FindingId(hex::encode(&digest[..FINDING_ID_LEN / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinguish_inputs() {
        let sha: CommitSha = "a".repeat(40).parse().unwrap();
        let f = vec![FlavourChange::new(
            &FlavourKey::new("amd64", "none", "amd64"),
            "p",
            None,
        )];
        let id = finding_id("linux", &sha, FindingKind::HiddenBreak, &f);
        assert_eq!(id.as_str().len(), FINDING_ID_LEN);
        assert_eq!(id.as_str().parse::<FindingId>(), Ok(id.clone()));
        assert_eq!(id, finding_id("linux", &sha, FindingKind::HiddenBreak, &f));
        assert_ne!(id, finding_id("linux", &sha, FindingKind::Bump, &f));
        assert_ne!(id, finding_id("other", &sha, FindingKind::HiddenBreak, &f));
        assert_ne!(id, finding_id("linux", &sha, FindingKind::HiddenBreak, &[]));
    }

    #[test]
    fn finding_ids_are_lowercase_hex_of_their_length() {
        let id: FindingId = " ABCDEF0123456789abcdef01 ".parse().unwrap();
        assert_eq!(id.as_str(), "abcdef0123456789abcdef01");
        for bad in ["", "abc", &"g".repeat(24), &"0".repeat(25)] {
            let err = bad.parse::<FindingId>().unwrap_err();
            assert!(err.to_string().contains("is not a finding id"), "{err}");
        }
        let upper = serde_json::from_str::<FindingId>("\"ABCDEF0123456789ABCDEF01\"");
        assert!(upper.is_err(), "what abibot wrote is lowercase");
    }

    #[test]
    fn markers_are_written_and_read_in_one_place() {
        let a: FindingId = "0123456789abcdef01234567".parse().unwrap();
        let b: FindingId = "fedcba9876543210fedcba98".parse().unwrap();
        assert_eq!(
            a.marker(),
            "<!-- abibot:finding=0123456789abcdef01234567 -->"
        );
        let body = format!(
            "quoted <!-- abibot:finding=nope -->\n{}\ntext\n{}\n<!-- abibot:finding=",
            a.marker(),
            b.marker()
        );
        assert_eq!(FindingId::in_comment(&body).collect::<Vec<_>>(), [a, b]);
        assert_eq!(FindingId::in_comment("no marker").count(), 0);
    }
}
