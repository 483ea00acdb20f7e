//! One error for every failed git operation: git's own error is kept as the
//! source ([`GitCause`]: its code and class, for callers that decide on
//! them), with what was being done, the revision and the path as context
//! ([`GitOp`]). `history`, `bisect` and the daemon build theirs here.
//!
//! The message reads `<operation> <revision> <path>: <git's message>`.
//! The source's own text is only git's code and class, so a rendered chain
//! (`abibot: error: {:#}`) does not say git's message twice, and does not
//! undo the redaction of an operation on a remote ([`GitOp::remote`]).

use git2::{ErrorClass, ErrorCode};

use crate::secrets::redact;

/// What was being done when git failed: an operation (`revision`,
/// `fetch https://...`), and the revision and path it concerned.
#[derive(Debug, Clone)]
pub struct GitOp {
    operation: String,
    rev: Option<String>,
    path: Option<String>,
    remote: bool,
}

/// What [`GitOp::remote`] adds to a timeout: which settings bound the wait,
/// so the operator can tell a dead remote from a timeout set too short.
const TIMEOUT_HINT: &str = " (bounded by fetch_connect_timeout and fetch_idle_timeout)";

impl GitOp {
    /// An operation, named as the message should start (`revision`, `commit`,
    /// `tree of`, `open /srv/linux.git`).
    pub fn new(operation: impl Into<String>) -> GitOp {
        GitOp {
            operation: operation.into(),
            rev: None,
            path: None,
            remote: false,
        }
    }

    /// The revision concerned, as it should be shown (a commit id, or a
    /// name the user gave, quoted).
    pub fn rev(mut self, rev: impl ToString) -> GitOp {
        self.rev = Some(rev.to_string());
        self
    }

    /// The path concerned (in the tree, or of a repository on disk).
    pub fn path(mut self, path: impl Into<String>) -> GitOp {
        self.path = Some(path.into());
        self
    }

    /// The operation may involve a remote (everything the daemon does with a
    /// watched repository): git's messages echo its URL, so the context,
    /// the message and the kept error are redacted
    /// ([`crate::secrets::redact`]), and a timeout names the settings that
    /// bound it.
    pub fn remote(mut self) -> GitOp {
        self.remote = true;
        self
    }

    /// git's error `e`, in this context.
    pub fn error(self, e: git2::Error) -> GitError {
        if !self.remote {
            return GitError(Box::new(Failure {
                message: e.message().to_owned(),
                op: self,
                source: GitCause(e),
            }));
        }
        // Even the error kept as the source is redacted: a `{:?}` must not
        // show what the message hides.
        let e = git2::Error::new(e.code(), e.class(), redact(e.message()));
        let mut message = e.message().to_owned();
        if e.code() == ErrorCode::Timeout {
            message.push_str(TIMEOUT_HINT);
        }
        GitError(Box::new(Failure {
            message,
            op: self.redacted(),
            source: GitCause(e),
        }))
    }

    /// For `map_err`: the same as [`GitOp::error`].
    pub fn wrap(self) -> impl FnOnce(git2::Error) -> GitError {
        move |e| self.error(e)
    }

    fn redacted(self) -> GitOp {
        let clean = |s: String| redact(&s).into_owned();
        GitOp {
            operation: clean(self.operation),
            rev: self.rev.map(clean),
            path: self.path.map(clean),
            remote: true,
        }
    }
}

impl std::fmt::Display for GitOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.operation)?;
        for part in [&self.rev, &self.path].into_iter().flatten() {
            write!(f, " {part}")?;
        }
        Ok(())
    }
}

/// A git operation failed. Boxed: it travels inside most of abibot's
/// errors, which stay one pointer wide for it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct GitError(Box<Failure>);

#[derive(Debug, thiserror::Error)]
#[error("{op}: {message}")]
struct Failure {
    op: GitOp,
    message: String,
    #[source]
    source: GitCause,
}

impl GitError {
    /// What was being done.
    pub fn op(&self) -> &GitOp {
        &self.0.op
    }

    /// git's message as shown (redacted, for an operation on a remote).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// git's error code (`NotFound`, `Timeout`, ...).
    pub fn code(&self) -> ErrorCode {
        self.0.source.code()
    }

    /// The part of git that failed (`Reference`, `Net`, ...).
    pub fn class(&self) -> ErrorClass {
        self.0.source.class()
    }
}

/// git's own error, kept whole; shown as its code and class only (its
/// message is already part of the [`GitError`] that holds it).
#[derive(Debug, thiserror::Error)]
#[error("libgit2 class {:?}, code {:?}", .0.class(), .0.code())]
pub struct GitCause(git2::Error);

/// For errors that carry their own context (a tree read names its path).
impl From<git2::Error> for GitCause {
    fn from(e: git2::Error) -> GitCause {
        GitCause(e)
    }
}

impl GitCause {
    /// git's error code.
    pub fn code(&self) -> ErrorCode {
        self.0.code()
    }

    /// The part of git that failed.
    pub fn class(&self) -> ErrorClass {
        self.0.class()
    }

    /// The error as git gave it (its message redacted, for an operation
    /// on a remote).
    pub fn git2(&self) -> &git2::Error {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(repo: &git2::Repository) -> git2::Error {
        repo.revparse_single("nope").map(drop).unwrap_err()
    }

    #[test]
    fn keeps_code_and_class_and_says_the_message_once() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let err = GitOp::new("revision")
            .rev(format!("{:?}", "nope"))
            .error(not_found(&repo));
        assert_eq!(
            err.to_string(),
            "revision \"nope\": revspec 'nope' not found"
        );
        assert_eq!(
            (err.code(), err.class()),
            (ErrorCode::NotFound, ErrorClass::Reference)
        );
        let cause = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<GitCause>())
            .expect("git's error is the source");
        assert_eq!(cause.git2().message(), "revspec 'nope' not found");
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(
            chain,
            "revision \"nope\": revspec 'nope' not found: libgit2 class Reference, code NotFound"
        );
    }

    #[test]
    fn revision_and_path_are_context() {
        let e = git2::Error::new(ErrorCode::GenericError, ErrorClass::Odb, "object not found");
        let err = GitOp::new("read")
            .rev("0123abcd")
            .path("debian/abi/x")
            .error(e);
        assert_eq!(
            err.to_string(),
            "read 0123abcd debian/abi/x: object not found"
        );
        assert_eq!(err.op().to_string(), "read 0123abcd debian/abi/x");
    }

    #[test]
    fn a_remote_operation_is_redacted_and_its_timeout_hinted() {
        let url = "https://bot:ghp_0123456789abcdefghij@example.org/linux.git";
        let e = git2::Error::new(
            ErrorCode::Timeout,
            ErrorClass::Net,
            format!("timed out talking to {url}"),
        );
        let err = GitOp::new(format!("fetch {url}")).remote().error(e);
        let debug = format!("{err:?}");
        assert!(!debug.contains("ghp_0123456789abcdefghij"), "{debug}");
        let shown = format!("{:#}", anyhow::Error::new(err));
        assert!(!shown.contains("ghp_0123456789abcdefghij"), "{shown}");
        assert_eq!(
            shown,
            "fetch https://<redacted>@example.org/linux.git: timed out talking to \
             https://<redacted>@example.org/linux.git (bounded by fetch_connect_timeout \
             and fetch_idle_timeout): libgit2 class Net, code Timeout"
        );
        // Only a timeout gets the hint, and only on a remote.
        let refused = git2::Error::new(ErrorCode::GenericError, ErrorClass::Net, "refused");
        let err = GitOp::new("fetch x").remote().error(refused);
        assert_eq!(err.to_string(), "fetch x: refused");
        let local = git2::Error::new(ErrorCode::Timeout, ErrorClass::Os, "slow disk");
        assert_eq!(GitOp::new("open").error(local).message(), "slow disk");
    }
}
