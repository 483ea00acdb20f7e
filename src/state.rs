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

use std::io::Read as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use crate::config::RepoName;
use crate::findings::FindingId;
use crate::history::CommitSha;

/// The state database failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite reported an error. Its message is part of this one and not a
    /// separate cause, so that a rendered chain says it once.
    #[error("state database {path}: {error}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        error: rusqlite::Error,
    },
    /// The database directory could not be created, or the file not read.
    #[error("state database {path}: {source}")]
    Io {
        /// The database file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file exists but is not an abibot state database.
    #[error(
        "{path} is not an abibot state database ({reason}): restore it from backup, \
         or move it away to start afresh"
    )]
    NotAbibot {
        /// The file.
        path: String,
        /// What it is instead.
        reason: String,
    },
    /// An operator command found no database to work on.
    #[error("no state database at {path}: the daemon has not run with this configuration yet")]
    Missing {
        /// Where it was looked for.
        path: String,
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
    /// A row holds a value abibot never writes (the file was edited by hand
    /// or by another program): named, never guessed at. What is wrong is
    /// part of the message, not a separate cause, so a chain says it once.
    #[error("state database {path}: {row}: {error}")]
    BadRow {
        /// The database file.
        path: String,
        /// Which row, for instance `findings row 3`.
        row: String,
        /// What is wrong with its value.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An operator named a finding the database does not hold.
    #[error("state database {path}: no finding {id}")]
    NoSuchFinding {
        /// The database file.
        path: String,
        /// The id asked for.
        id: FindingId,
    },
    /// An operator asked to retry a finding that has not failed.
    #[error("finding {id} is {status}, not failed: only failed findings can be retried")]
    NotFailed {
        /// The finding.
        id: FindingId,
        /// Its status.
        status: FindingStatus,
    },
}

/// Where a finding is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingStatus {
    /// Waiting to be posted (the outbox).
    Pending,
    /// Its comment is on the forge.
    Posted,
    /// The forge refused it (422), or it waited too many polls for the
    /// forge to know its commit; retried only when an operator says so.
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

impl std::fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// Its repository.
    pub repo: String,
    /// Its commit.
    pub commit: CommitSha,
    /// Its kind.
    pub kind: String,
    /// Its status.
    pub status: FindingStatus,
    /// The forge's last refusal: why it failed, or why it still waits.
    pub error: Option<String>,
    /// Posting attempts the forge refused so far.
    pub attempts: u32,
    /// SHA-256 of the rendered body.
    pub body_sha256: String,
    /// The comment's forge id and URL, once posted.
    pub comment: Option<(Option<String>, Option<String>)>,
}

/// Version 2 added `findings.attempts` and `application_id`.
const SCHEMA_VERSION: i64 = 2;

/// `application_id` of an abibot state database ("abib"), so that no other
/// SQLite file is ever taken for one.
const APPLICATION_ID: i32 = 0x6162_6962;

/// The first bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

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
    attempts    INTEGER NOT NULL DEFAULT 0,
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

/// Refuses what cannot be an SQLite database before SQLite sees it: SQLite
/// would take an empty file for a new database.
fn check_header(path: &Path, meta: &std::fs::Metadata) -> Result<(), StateError> {
    let refuse = |reason: String| StateError::NotAbibot {
        path: path.display().to_string(),
        reason,
    };
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(refuse("0 bytes".into()));
    }
    let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
    std::fs::File::open(path)
        .and_then(|f| f.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut head))
        .map_err(|source| StateError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if head != SQLITE_MAGIC {
        return Err(refuse(format!(
            "{} bytes, not an SQLite database",
            meta.len()
        )));
    }
    Ok(())
}

/// The state database.
pub struct State {
    conn: Mutex<Connection>,
    path: String,
}

impl State {
    /// Opens the database at `path`, creating it only where no file exists:
    /// an existing file that is not an abibot database (empty, another
    /// program's) is refused, never taken for a new database.
    pub fn open(path: &Path) -> Result<State, StateError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::create(path),
            _ => State::open_existing(path),
        }
    }

    /// Opens the database at `path`, which must exist (operator commands).
    pub fn open_existing(path: &Path) -> Result<State, StateError> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => StateError::Missing { path: name.clone() },
            _ => StateError::Io {
                path: name.clone(),
                source,
            },
        })?;
        check_header(path, &meta)?;
        let conn = Connection::open(path).map_err(|error| StateError::Sqlite {
            path: name.clone(),
            error,
        })?;
        State::init(conn, name, false)
    }

    /// Creates a database at `path`: built under a temporary name beside it,
    /// then linked into place only if `path` is still free, so a crash
    /// never leaves a half-made database where the real one belongs.
    fn create(path: &Path) -> Result<State, StateError> {
        let name = path.display().to_string();
        let io = |source| StateError::Io {
            path: name.clone(),
            source,
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let temp = tempfile::Builder::new()
            .prefix(".abibot-state-")
            .tempfile_in(dir.unwrap_or(Path::new(".")))
            .map_err(io)?;
        let conn = Connection::open(temp.path()).map_err(|error| StateError::Sqlite {
            path: temp.path().display().to_string(),
            error,
        })?;
        // Closing checkpoints the write-ahead log into the file itself.
        drop(State::init(conn, name.clone(), true)?);
        match temp.persist_noclobber(path) {
            Ok(_) => {}
            // Another process created it meanwhile: use (or refuse) theirs.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e.error)),
        }
        State::open_existing(path)
    }

    /// A database in memory (the demo; tests).
    pub fn in_memory() -> Result<State, StateError> {
        let conn = Connection::open_in_memory().map_err(|error| StateError::Sqlite {
            path: ":memory:".into(),
            error,
        })?;
        State::init(conn, ":memory:".into(), true)
    }

    /// Checks that the database is abibot's (`fresh`: or new and empty)
    /// before writing anything to it, then brings its schema up to date.
    fn init(conn: Connection, path: String, fresh: bool) -> Result<State, StateError> {
        let state = State {
            conn: Mutex::new(conn),
            path,
        };
        state.with(|c| c.busy_timeout(std::time::Duration::from_secs(10)))?;
        let version = state.schema_version(fresh)?;
        state.with(|c| {
            // WAL keeps readers (operators with sqlite3) from blocking the
            // daemon; FULL makes every commit durable before it returns.
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            let tx = c.transaction()?;
            if version == 1 {
                tx.execute_batch(
                    "ALTER TABLE findings ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
                )?;
            }
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()
        })?;
        Ok(state)
    }

    /// The schema version of an abibot database (0 for a fresh one), or
    /// why the database is not abibot's.
    fn schema_version(&self, fresh: bool) -> Result<i64, StateError> {
        let (app, version, tables) = self.with(|c| {
            let app: i32 = c.pragma_query_value(None, "application_id", |r| r.get(0))?;
            let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let tables: i64 = c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'findings'",
                [],
                |r| r.get(0),
            )?;
            Ok((app, version, tables))
        })?;
        match (app, version) {
            (APPLICATION_ID, found) if found > SCHEMA_VERSION => Err(StateError::Schema {
                path: self.path.clone(),
                found,
                known: SCHEMA_VERSION,
            }),
            (APPLICATION_ID, found) => Ok(found),
            // Written by abibot before it set `application_id`.
            (0, 1) if tables == 1 => Ok(1),
            (0, 0) if fresh => Ok(0),
            _ => Err(StateError::NotAbibot {
                path: self.path.clone(),
                reason: format!(
                    "an SQLite database with application_id {app:#x} and user_version {version}"
                ),
            }),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn.lock().expect("state lock");
        f(&mut conn).map_err(|error| self.error(error))
    }

    /// SQLite's error, or the bad row a [`column`] found, on this database.
    fn error(&self, error: rusqlite::Error) -> StateError {
        let path = self.path.clone();
        match error {
            rusqlite::Error::FromSqlConversionFailure(i, t, e) => match e.downcast::<BadRow>() {
                Ok(bad) => StateError::BadRow {
                    path,
                    row: bad.row,
                    error: bad.error,
                },
                Err(e) => StateError::Sqlite {
                    path,
                    error: rusqlite::Error::FromSqlConversionFailure(i, t, e),
                },
            },
            error => StateError::Sqlite { path, error },
        }
    }

    /// The last processed commit of a branch, `None` before its first poll.
    pub fn progress(&self, repo: &RepoName, branch: &str) -> Result<Option<CommitSha>, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT last_commit FROM progress WHERE repo = ?1 AND branch = ?2",
                params![repo.as_str(), branch],
                |r| column(r, 0, || format!("progress row of {repo} branch {branch}")),
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
                        f.id.as_str(),
                        repo.as_str(),
                        f.commit.as_str(),
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
                params![repo.as_str(), branch, head.as_str(), t],
            )?;
            tx.commit()?;
            Ok(new)
        })
    }

    /// The outbox of a repository, oldest first.
    pub fn pending(&self, repo: &RepoName) -> Result<Vec<Pending>, StateError> {
        self.with(|c| {
            let mut q = c.prepare(
                "SELECT id, commit_sha, body, seq FROM findings
                 WHERE repo = ?1 AND status = 'pending' ORDER BY seq",
            )?;
            q.query_map(params![repo.as_str()], |r| {
                let row = || findings_row(r, 3);
                Ok(Pending {
                    id: column(r, 0, row)?,
                    commit: column(r, 1, row)?,
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
                params![id.as_str(), t],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO comments (finding_id, forge_id, url, found_existing, posted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), forge_id, url, found_existing, t],
            )?;
            tx.commit()
        })
    }

    /// Takes a finding out of the outbox as refused by the forge.
    pub fn mark_failed(&self, id: &FindingId, message: &str) -> Result<(), StateError> {
        let t = now();
        self.with(|c| {
            c.execute(
                "UPDATE findings SET status = 'failed', error = ?2, attempts = attempts + 1,
                        updated_at = ?3
                 WHERE id = ?1",
                params![id.as_str(), message, t],
            )
            .map(drop)
        })
    }

    /// Records a refusal the forge may not repeat later (its copy of the
    /// repository lags behind): the finding stays in the outbox with the
    /// reason and one more attempt, until `max_attempts` are spent, when it
    /// fails. Returns its status and attempts now.
    pub fn mark_deferred(
        &self,
        id: &FindingId,
        message: &str,
        max_attempts: u32,
    ) -> Result<(FindingStatus, u32), StateError> {
        let t = now();
        self.with(|c| {
            c.query_row(
                "UPDATE findings
                 SET attempts = attempts + 1, error = ?2, updated_at = ?3,
                     status = CASE WHEN attempts + 1 >= ?4 THEN 'failed' ELSE status END
                 WHERE id = ?1 AND status = 'pending'
                 RETURNING status, attempts",
                params![id.as_str(), message, t, max_attempts],
                |r| Ok((FindingStatus::parse(&r.get::<_, String>(0)?), r.get(1)?)),
            )
        })
    }

    /// Puts a failed finding back into the outbox, its attempts reset, for
    /// the next poll to post (`abibot state retry`).
    pub fn retry(&self, id: &FindingId) -> Result<(), StateError> {
        let t = now();
        let status = self.with(|c| {
            let tx = c.transaction()?;
            let status = tx
                .query_row(
                    "SELECT status FROM findings WHERE id = ?1",
                    params![id.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()?;
            tx.execute(
                "UPDATE findings SET status = 'pending', attempts = 0, error = NULL, updated_at = ?2
                 WHERE id = ?1 AND status = 'failed' AND body IS NOT NULL",
                params![id.as_str(), t],
            )?;
            tx.commit()?;
            Ok(status.map(|s| FindingStatus::parse(&s)))
        })?;
        match status {
            None => Err(StateError::NoSuchFinding {
                path: self.path.clone(),
                id: id.clone(),
            }),
            Some(FindingStatus::Failed) => Ok(()),
            Some(status) => Err(StateError::NotFailed {
                id: id.clone(),
                status,
            }),
        }
    }

    /// Every finding of a repository, oldest first.
    pub fn findings(&self, repo: &RepoName) -> Result<Vec<StoredFinding>, StateError> {
        self.query("f.repo = ?1", repo.as_str())
    }

    /// Every finding of every repository (only those with `status`, when
    /// given), oldest first.
    pub fn list(&self, status: Option<FindingStatus>) -> Result<Vec<StoredFinding>, StateError> {
        match status {
            Some(status) => self.query("f.status = ?1", status.as_str()),
            None => self.query("?1 IS NOT NULL", ""),
        }
    }

    /// The findings matching `filter` (an SQL condition on `f` with one
    /// parameter, `value`).
    fn query(&self, filter: &str, value: &str) -> Result<Vec<StoredFinding>, StateError> {
        self.with(|c| {
            let mut q = c.prepare(&format!(
                "SELECT f.id, f.repo, f.commit_sha, f.kind, f.status, f.error, f.attempts,
                        f.body_sha256, c.finding_id IS NOT NULL, c.forge_id, c.url, f.seq
                 FROM findings f LEFT JOIN comments c ON c.finding_id = f.id
                 WHERE {filter} ORDER BY f.seq"
            ))?;
            q.query_map(params![value], |r| {
                let commented: bool = r.get(8)?;
                let row = || findings_row(r, 11);
                Ok(StoredFinding {
                    id: column(r, 0, row)?,
                    repo: r.get(1)?,
                    commit: column(r, 2, row)?,
                    kind: r.get(3)?,
                    status: FindingStatus::parse(&r.get::<_, String>(4)?),
                    error: r.get(5)?,
                    attempts: r.get(6)?,
                    body_sha256: r.get(7)?,
                    comment: commented
                        .then(|| Ok::<_, rusqlite::Error>((r.get(9)?, r.get(10)?)))
                        .transpose()?,
                })
            })?
            .collect()
        })
    }
}

/// A value read from a row that is not what abibot writes there, with the
/// row it came from; [`State`] turns it into [`StateError::BadRow`].
#[derive(Debug, thiserror::Error)]
#[error("{row}: {error}")]
struct BadRow {
    row: String,
    error: Box<dyn std::error::Error + Send + Sync>,
}

/// Column `idx` of `r` as a validated `T` (a commit or finding id): a value
/// that does not validate is an error naming the row (`row` says which),
/// not a panic and not a value passed on.
fn column<T>(r: &Row<'_>, idx: usize, row: impl FnOnce() -> String) -> rusqlite::Result<T>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let text: String = r.get(idx)?;
    T::try_from(text).map_err(|e| {
        let bad = BadRow {
            row: row(),
            error: Box::new(e),
        };
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(bad))
    })
}

/// `findings row <seq>`, the row's `seq` being column `idx` of `r`.
fn findings_row(r: &Row<'_>, idx: usize) -> String {
    match r.get::<_, i64>(idx) {
        Ok(seq) => format!("findings row {seq}"),
        Err(_) => "a findings row".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(n: u8, post: bool) -> NewFinding {
        NewFinding {
            id: format!("{n:0>24}").parse().unwrap(),
            commit: format!("{n:0>40}").parse().unwrap(),
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
        let head: CommitSha = "e".repeat(40).parse().unwrap();
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
            .record_scan(
                &repo,
                "b",
                &"e".repeat(40).parse().unwrap(),
                &[finding(3, true)],
            )
            .unwrap();
        state
            .mark_failed(&finding(3, true).id, "Validation Failed")
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
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = State::open(&path).err().unwrap();
        assert!(err.to_string().contains("schema version 99"), "{err}");
    }

    #[test]
    fn a_row_abibot_never_wrote_is_named_not_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let repo = RepoName::new("r").unwrap();
        let state = State::open(&path).unwrap();
        let head: CommitSha = "e".repeat(40).parse().unwrap();
        state
            .record_scan(&repo, "b", &head, &[finding(1, true), finding(2, true)])
            .unwrap();
        let edit = |sql: &str| state.with(|c| c.execute(sql, [])).unwrap();
        edit("UPDATE findings SET commit_sha = 'HEAD~1' WHERE seq = 2");
        let err = state.pending(&repo).unwrap_err().to_string();
        let db = path.display();
        assert_eq!(
            err,
            format!(
                "state database {db}: findings row 2: \"HEAD~1\" is not a commit id: \
                 expected 40 or 64 lowercase hex digits"
            )
        );
        edit("UPDATE findings SET id = 'x' WHERE seq = 1");
        let err = state.list(None).unwrap_err().to_string();
        assert!(
            err.contains("findings row 1: \"x\" is not a finding id"),
            "{err}"
        );
        edit("UPDATE progress SET last_commit = ''");
        let err = state.progress(&repo, "b").unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "{db}: progress row of r branch b: \"\" is not a commit id"
            )),
            "{err}"
        );
    }
}
