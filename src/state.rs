//! The daemon's memory, in an embedded SQLite database: per repository and
//! branch the last processed commit; every finding (id, commit, kind, hash
//! of the rendered body) and, while it waits to be posted, its body (the
//! outbox); every comment posted (forge id, URL).
//!
//! Crash safety rests on two writes: findings enter the outbox in the same
//! transaction that advances a branch's progress, so a scan is never lost
//! nor half-recorded; a finding leaves the outbox only once its comment is
//! known to be on the forge. Between the two, the marker in the comment
//! lets a restarted daemon find a comment it posted but did not record.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::config::RepoName;
use crate::findings::Finding;
use crate::history::CommitSha;

/// A finding's stable id (see [`crate::findings::finding_id`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FindingId(pub String);

impl FindingId {
    /// The id of a finding.
    pub fn of(finding: &Finding) -> FindingId {
        FindingId(finding.id.clone())
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state database failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite reported an error.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database directory could not be created.
    #[error("cannot create the directory of {path}: {source}")]
    Dir {
        /// The database file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database was written by a newer abibot.
    #[error("state database {path} has schema version {found}, newer than this abibot ({known})")]
    Schema {
        /// The database file.
        path: String,
        /// Its version.
        found: i64,
        /// The version this build knows.
        known: i64,
    },
}

/// Where a finding is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingStatus {
    /// Waiting to be posted (the outbox).
    Pending,
    /// Its comment is on the forge.
    Posted,
    /// The forge refused it (422); not retried.
    Failed,
    /// Recorded but not commented on (bumps, unversioned symbols).
    Info,
}

impl FindingStatus {
    fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Pending => "pending",
            FindingStatus::Posted => "posted",
            FindingStatus::Failed => "failed",
            FindingStatus::Info => "info",
        }
    }

    fn parse(s: &str) -> FindingStatus {
        match s {
            "pending" => FindingStatus::Pending,
            "posted" => FindingStatus::Posted,
            "failed" => FindingStatus::Failed,
            _ => FindingStatus::Info,
        }
    }
}

/// A finding to record.
#[derive(Clone, Debug)]
pub struct NewFinding {
    /// Its id.
    pub id: FindingId,
    /// The commit it concerns.
    pub commit: CommitSha,
    /// Its kind (`hidden-break`).
    pub kind: &'static str,
    /// The comment body.
    pub body: String,
    /// Whether it is to be posted (else recorded as information).
    pub post: bool,
}

/// A finding in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Its id.
    pub id: FindingId,
    /// The commit to comment on.
    pub commit: CommitSha,
    /// The comment body.
    pub body: String,
}

/// A recorded finding, for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFinding {
    /// Its id.
    pub id: FindingId,
    /// Its commit.
    pub commit: CommitSha,
    /// Its kind.
    pub kind: String,
    /// Its status.
    pub status: FindingStatus,
    /// The forge's message, for a failed one.
    pub error: Option<String>,
    /// SHA-256 of the rendered body.
    pub body_sha256: String,
    /// The comment's forge id and URL, once posted.
    pub comment: Option<(Option<String>, Option<String>)>,
}

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS progress (
    repo        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    last_commit TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (repo, branch)
);
CREATE TABLE IF NOT EXISTS findings (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    repo        TEXT NOT NULL,
    commit_sha  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'failed', 'info')),
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_status ON findings (repo, status, seq);
CREATE TABLE IF NOT EXISTS comments (
    finding_id     TEXT PRIMARY KEY REFERENCES findings (id),
    forge_id       TEXT,
    url            TEXT,
    found_existing INTEGER NOT NULL,
    posted_at      INTEGER NOT NULL
);
";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The hex SHA-256 of a comment body.
pub fn body_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// The state database.
pub struct State {
    conn: Mutex<Connection>,
    path: String,
}

impl State {
    /// Opens (creating when needed) the database at `path`.
    pub fn open(path: &Path) -> Result<State, StateError> {
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Dir {
                path: name.clone(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite {
            path: name.clone(),
            source,
        })?;
        State::init(conn, name)
    }

    /// A database in memory (the demo; tests).
    pub fn in_memory() -> Result<State, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        State::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<State, StateError> {
        let state = State {
            conn: Mutex::new(conn),
            path,
        };
        state.with(|c| {
            // WAL keeps readers (operators with sqlite3) from blocking the
            // daemon; FULL makes every commit durable before it returns.
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            Ok(())
        })?;
        let version: i64 =
            state.with(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::Schema {
                path: state.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        state.with(|c| {
            c.execute_batch(SCHEMA)?;
            c.pragma_update(None, "user_version", SCHEMA_VERSION)
        })?;
        Ok(state)
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn.lock().expect("state lock");
        f(&mut conn).map_err(|source| StateError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    /// The last processed commit of a branch, `None` before its first poll.
    pub fn progress(&self, repo: &RepoName, branch: &str) -> Result<Option<CommitSha>, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT last_commit FROM progress WHERE repo = ?1 AND branch = ?2",
                params![repo.as_str(), branch],
                |r| r.get::<_, String>(0).map(CommitSha),
            )
            .optional()
        })
    }

    /// Records a branch's scan in one transaction: its findings enter the
    /// outbox (or the record, for those not posted) and its progress moves
    /// to `head`. A finding already known keeps its state. Returns the ids
    /// of the findings that were new.
    pub fn record_scan(
        &self,
        repo: &RepoName,
        branch: &str,
        head: &CommitSha,
        findings: &[NewFinding],
    ) -> Result<Vec<FindingId>, StateError> {
        let t = now();
        self.with(|c| {
            let tx = c.transaction()?;
            let mut new = Vec::new();
            {
                let mut insert = tx.prepare(
                    "INSERT OR IGNORE INTO findings
                       (id, repo, commit_sha, kind, body_sha256, body, status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                )?;
                for f in findings {
                    let status = if f.post {
                        FindingStatus::Pending
                    } else {
                        FindingStatus::Info
                    };
                    let inserted = insert.execute(params![
                        f.id.0,
                        repo.as_str(),
                        f.commit.0,
                        f.kind,
                        body_hash(&f.body),
                        f.post.then_some(f.body.as_str()),
                        status.as_str(),
                        t,
                    ])?;
                    if inserted > 0 {
                        new.push(f.id.clone());
                    }
                }
            }
            tx.execute(
                "INSERT INTO progress (repo, branch, last_commit, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (repo, branch) DO UPDATE
                   SET last_commit = excluded.last_commit, updated_at = excluded.updated_at",
                params![repo.as_str(), branch, head.0, t],
            )?;
            tx.commit()?;
            Ok(new)
        })
    }

    /// The outbox of a repository, oldest first.
    pub fn pending(&self, repo: &RepoName) -> Result<Vec<Pending>, StateError> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT id, commit_sha, body FROM findings
                 WHERE repo = ?1 AND status = 'pending' ORDER BY seq",
            )?;
            q.query_map(params![repo.as_str()], |r| {
                Ok(Pending {
                    id: FindingId(r.get(0)?),
                    commit: CommitSha(r.get(1)?),
                    body: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    /// Takes a finding out of the outbox: its comment is on the forge
    /// (`found_existing`: it was found there rather than posted now).
    pub fn mark_posted(
        &self,
        id: &FindingId,
        forge_id: Option<&str>,
        url: Option<&str>,
        found_existing: bool,
    ) -> Result<(), StateError> {
        let t = now();
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE findings SET status = 'posted', body = NULL, error = NULL, updated_at = ?2
                 WHERE id = ?1",
                params![id.0, t],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO comments (finding_id, forge_id, url, found_existing, posted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.0, forge_id, url, found_existing, t],
            )?;
            tx.commit()
        })
    }

    /// Takes a finding out of the outbox as refused by the forge.
    pub fn mark_failed(&self, id: &FindingId, message: &str) -> Result<(), StateError> {
        let t = now();
        self.with(|c| {
            c.execute(
                "UPDATE findings SET status = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                params![id.0, message, t],
            )
            .map(drop)
        })
    }

    /// Every finding of a repository, oldest first.
    pub fn findings(&self, repo: &RepoName) -> Result<Vec<StoredFinding>, StateError> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT f.id, f.commit_sha, f.kind, f.status, f.error, f.body_sha256,
                        c.finding_id IS NOT NULL, c.forge_id, c.url
                 FROM findings f LEFT JOIN comments c ON c.finding_id = f.id
                 WHERE f.repo = ?1 ORDER BY f.seq",
            )?;
            q.query_map(params![repo.as_str()], |r| {
                let commented: bool = r.get(6)?;
                Ok(StoredFinding {
                    id: FindingId(r.get(0)?),
                    commit: CommitSha(r.get(1)?),
                    kind: r.get(2)?,
                    status: FindingStatus::parse(&r.get::<_, String>(3)?),
                    error: r.get(4)?,
                    body_sha256: r.get(5)?,
                    comment: commented
                        .then(|| Ok::<_, rusqlite::Error>((r.get(7)?, r.get(8)?)))
                        .transpose()?,
                })
            })?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(n: u8, post: bool) -> NewFinding {
        NewFinding {
            id: FindingId(format!("id{n}")),
            commit: CommitSha(format!("{n:0>40}")),
            kind: "hidden-break",
            body: format!("body {n}"),
            post,
        }
    }

    #[test]
    fn outbox_progress_and_posting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.sqlite");
        let repo = RepoName::new("linux").unwrap();
        let head = CommitSha("h".repeat(40));
        {
            let state = State::open(&path).unwrap();
            assert_eq!(state.progress(&repo, "master").unwrap(), None);
            let new = state
                .record_scan(
                    &repo,
                    "master",
                    &head,
                    &[finding(1, true), finding(2, false)],
                )
                .unwrap();
            assert_eq!(new.len(), 2);
        }
        // Reopened: everything was durable.
        let state = State::open(&path).unwrap();
        assert_eq!(state.progress(&repo, "master").unwrap(), Some(head.clone()));
        let pending = state.pending(&repo).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].body, "body 1");
        // Recording the same finding again (another branch) keeps its state.
        state
            .mark_posted(&pending[0].id, Some("7"), Some("https://x/7"), false)
            .unwrap();
        let new = state
            .record_scan(&repo, "other", &head, &[finding(1, true)])
            .unwrap();
        assert!(new.is_empty());
        assert!(state.pending(&repo).unwrap().is_empty());
        let stored = state.findings(&repo).unwrap();
        assert_eq!(stored[0].status, FindingStatus::Posted);
        assert_eq!(
            stored[0].comment,
            Some((Some("7".into()), Some("https://x/7".into())))
        );
        assert_eq!(stored[0].body_sha256, body_hash("body 1"));
        assert_eq!(stored[1].status, FindingStatus::Info);
        assert_eq!(stored[1].comment, None);
    }

    #[test]
    fn failed_findings_leave_the_outbox_with_their_message() {
        let state = State::in_memory().unwrap();
        let repo = RepoName::new("r").unwrap();
        state
            .record_scan(&repo, "b", &CommitSha("h".repeat(40)), &[finding(3, true)])
            .unwrap();
        state
            .mark_failed(&FindingId("id3".into()), "Validation Failed")
            .unwrap();
        assert!(state.pending(&repo).unwrap().is_empty());
        let stored = state.findings(&repo).unwrap();
        assert_eq!(stored[0].status, FindingStatus::Failed);
        assert_eq!(stored[0].error.as_deref(), Some("Validation Failed"));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = State::open(&path).err().unwrap();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }
}
