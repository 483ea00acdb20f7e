//! The state database on disk: what it refuses to open (files that are not
//! abibot's), where it creates a new one (only where no file exists), how it
//! upgrades a database written by an older abibot, and how its errors read.

use std::path::Path;

use abibot::config::RepoName;
use abibot::findings::FindingId;
use abibot::history::CommitSha;
use abibot::state::{FindingStatus, NewFinding, State};

fn finding(n: u8) -> NewFinding {
    NewFinding {
        id: format!("{n:0>24}").parse().unwrap(),
        commit: format!("{n:0>40}").parse().unwrap(),
        kind: "hidden-break",
        body: format!("body {n}"),
        post: true,
    }
}

fn head() -> CommitSha {
    "e".repeat(40).parse().unwrap()
}

fn record(state: &State, n: u8) {
    let repo = RepoName::new("linux").unwrap();
    state
        .record_scan(&repo, "master", &head(), &[finding(n)])
        .unwrap();
}

/// `abibot: error: {:#}` as `main` prints it.
fn rendered(e: abibot::state::StateError) -> String {
    format!("{:#}", anyhow::Error::new(e))
}

fn refused(path: &Path) -> String {
    match State::open(path) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e) => rendered(e),
    }
}

#[test]
fn a_zero_byte_state_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    std::fs::write(&path, b"").unwrap();
    let message = refused(&path);
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("0 bytes"), "{message}");
    assert!(message.contains("restore it from backup"), "{message}");
    assert!(message.contains("move it away"), "{message}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no side files: {names:?}");
}

#[test]
fn files_of_other_programs_are_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "pending findings: 3\n").unwrap();
    assert!(refused(&text).contains("not an abibot state database"));
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "pending findings: 3\n"
    );

    // A valid SQLite database of another program.
    let other = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE t (x); PRAGMA application_id = 1234;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    let message = refused(&other);
    assert!(
        message.contains("not an abibot state database"),
        "{message}"
    );
    assert!(message.contains("move it away"), "{message}");
    assert_eq!(std::fs::read(&other).unwrap(), before);

    let a_dir = dir.path().join("a-directory");
    std::fs::create_dir(&a_dir).unwrap();
    assert!(refused(&a_dir).contains("not a regular file"));
}

#[test]
fn a_new_database_is_created_where_no_file_exists_and_marked_as_abibot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/state.sqlite");
    record(&State::open(&path).unwrap(), 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_ne!(app, 0, "application_id marks the file as abibot's");
    drop(conn);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    assert_eq!(names, ["state.sqlite"]);
    let reopened = State::open(&path).unwrap();
    assert_eq!(
        reopened
            .pending(&RepoName::new("linux").unwrap())
            .unwrap()
            .len(),
        1
    );
}

/// The schema abibot 0.1 wrote (`user_version` 1, no `application_id`).
const SCHEMA_V1: &str = "
CREATE TABLE progress (repo TEXT NOT NULL, branch TEXT NOT NULL, last_commit TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (repo, branch));
CREATE TABLE findings (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    repo TEXT NOT NULL, commit_sha TEXT NOT NULL, kind TEXT NOT NULL, body_sha256 TEXT NOT NULL,
    body TEXT, status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'failed', 'info')),
    error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX findings_by_status ON findings (repo, status, seq);
CREATE TABLE comments (finding_id TEXT PRIMARY KEY REFERENCES findings (id), forge_id TEXT,
    url TEXT, found_existing INTEGER NOT NULL, posted_at INTEGER NOT NULL);
INSERT INTO findings (id, repo, commit_sha, kind, body_sha256, body, status, created_at, updated_at)
    VALUES ('0000000000000000000000aa', 'linux', 'abcdef0123456789abcdef0123456789abcdef01', 'hidden-break', 'x', 'old body', 'pending', 1, 1);
PRAGMA user_version = 1;
";

#[test]
fn a_database_of_the_previous_schema_is_upgraded_with_its_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SCHEMA_V1)
        .unwrap();
    let state = State::open(&path).unwrap();
    let pending = state.pending(&RepoName::new("linux").unwrap()).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].body, "old body");
    let listed = state.list(Some(FindingStatus::Pending)).unwrap();
    assert_eq!(listed[0].attempts, 0);
}

#[test]
fn sqlite_errors_say_each_thing_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    // SQLite's magic followed by a damaged header: SQLite itself refuses it.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xffu8, 4096));
    std::fs::write(&path, bytes).unwrap();
    let message = refused(&path);
    assert_eq!(
        message.matches("not a database").count(),
        1,
        "said more than once: {message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn deferred_findings_keep_their_reason_and_fail_at_the_bound() {
    let state = State::in_memory().unwrap();
    record(&state, 5);
    let id = finding(5).id;
    let why = "github o/r: HTTP 422: No commit found for SHA: 05";
    assert_eq!(
        state.mark_deferred(&id, why, 3).unwrap(),
        (FindingStatus::Pending, 1)
    );
    assert_eq!(
        state.mark_deferred(&id, why, 3).unwrap(),
        (FindingStatus::Pending, 2)
    );
    assert_eq!(state.list(Some(FindingStatus::Pending)).unwrap().len(), 1);
    assert_eq!(
        state.mark_deferred(&id, why, 3).unwrap(),
        (FindingStatus::Failed, 3)
    );
    let failed = state.list(Some(FindingStatus::Failed)).unwrap();
    assert_eq!(failed[0].error.as_deref(), Some(why));
    assert_eq!((failed[0].repo.as_str(), failed[0].attempts), ("linux", 3));

    state.retry(&id).unwrap();
    let pending = state.pending(&RepoName::new("linux").unwrap()).unwrap();
    assert_eq!(pending[0].body, "body 5", "the body survives failure");
    let listed = state.list(Some(FindingStatus::Pending)).unwrap();
    assert_eq!((listed[0].attempts, listed[0].error.as_deref()), (0, None));
    // Only failed findings go back; unknown ids are named.
    let err = state.retry(&id).unwrap_err().to_string();
    assert!(err.contains("is pending, not failed"), "{err}");
    let unknown: FindingId = "abcdef0123456789abcdef01".parse().unwrap();
    let err = state.retry(&unknown).unwrap_err().to_string();
    assert!(err.contains("no finding abcdef0123456789abcdef01"), "{err}");
}

#[test]
fn finding_ids_parse_only_in_their_own_shape() {
    let id: FindingId = " ABCDEF0123456789abcdef01 ".parse().unwrap();
    assert_eq!(id.as_str(), "abcdef0123456789abcdef01");
    for bad in ["", "abc", "g".repeat(24).as_str(), "0".repeat(25).as_str()] {
        let err = bad.parse::<FindingId>().unwrap_err().to_string();
        assert!(err.contains("is not a finding id"), "{err}");
    }
}
