//! Dry-run forges: comment bodies written to standard output (or any
//! writer), or appended to a JSON Lines file. The file sink can list what it
//! wrote, so the at-most-once guarantee holds for it as for a real forge.

use std::collections::HashMap;
use std::io::{BufRead as _, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::pace::PaceLimits;
use super::{Comment, Forge, ForgeError, ForgeFuture};
use crate::history::CommitSha;

/// The body limit of a dry run: the smallest of the real forges'
/// (GitHub's), so what a sink shows is what any forge would accept.
pub const MAX_BODY_CHARS: usize = super::github::MAX_BODY_CHARS;

/// The most a `[repo.file]` sink file may hold: it is read through once to
/// index what was posted. 4,000 comments of the largest body; rotate it
/// beyond.
pub const MAX_FILE: crate::input::Limit = crate::input::Limit::new("comment sink file", 256 << 20);

/// Writes each comment, with a header naming its commit, to a writer.
pub struct WriterSink {
    out: Mutex<Box<dyn Write + Send>>,
    target: String,
}

impl WriterSink {
    /// A sink writing to standard output.
    pub fn stdout() -> WriterSink {
        WriterSink::new(Box::new(std::io::stdout()), "stdout")
    }

    /// A sink writing to `out`.
    pub fn new(out: Box<dyn Write + Send>, target: &str) -> WriterSink {
        WriterSink {
            out: Mutex::new(out),
            target: target.to_owned(),
        }
    }

    /// Writes text that is not a comment (the demo's summary) in order with the comments.
    pub fn write_text(&self, text: &str) -> std::io::Result<()> {
        let mut out = self.out.lock().expect("sink lock");
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

impl Forge for WriterSink {
    fn target(&self) -> String {
        self.target.clone()
    }

    /// A writer cannot be read back: nothing is known to be there.
    fn list_comments<'a>(&'a self, _sha: &'a CommitSha) -> ForgeFuture<'a, Vec<Comment>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment> {
        Box::pin(async move {
            let mut out = self.out.lock().expect("sink lock");
            write!(
                out,
                "──── comment on commit {} ────\n\n{body}\n",
                sha.short()
            )
            .and_then(|()| out.flush())
            .map_err(|source| ForgeError::Io {
                target: self.target.clone(),
                source,
            })?;
            Ok(Comment::body_only(body))
        })
    }

    fn limits(&self) -> PaceLimits {
        PaceLimits::none()
    }

    fn max_body_chars(&self) -> usize {
        MAX_BODY_CHARS
    }
}

/// The length of `file` up to and including its last `'\n'` (0 if none):
/// what is left after it is a torn record. Read backwards in blocks.
fn complete_length(file: &std::fs::File) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 << 10;
    let mut end = file.metadata()?.len();
    let mut block = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut block[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// One line of the file sink.
#[derive(Serialize, Deserialize)]
struct Line {
    commit: CommitSha,
    body: String,
}

/// Just the commit of a line (its body is skipped when indexing).
#[derive(Deserialize)]
struct LineCommit {
    commit: CommitSha,
}

/// Where each commit's records are in the sink file: read through once,
/// then kept up to date by the sink's own appends, so that listing one
/// commit's comments reads its records only (a backfill posting thousands
/// of comments would otherwise read the whole file for each).
struct Index {
    /// The file as last read or written here: any other file, length or
    /// time of change means something else changed it, and it is read again.
    seen: Seen,
    /// Offset and length of each complete record, by commit.
    records: HashMap<CommitSha, Vec<(u64, usize)>>,
}

/// What tells one state of the sink file from another.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl Seen {
    fn of(meta: &std::fs::Metadata) -> Seen {
        use std::os::unix::fs::MetadataExt as _;
        Seen {
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

impl Index {
    /// Indexes `file` as `seen`, a line at a time. A torn last line (a
    /// crash while appending) or a line that is not a record is not a
    /// comment.
    fn read(file: &std::fs::File, seen: Seen) -> std::io::Result<Index> {
        use std::io::Read as _;
        let mut index = Index {
            seen,
            records: HashMap::new(),
        };
        let mut lines = std::io::BufReader::new(file.take(seen.len));
        let (mut offset, mut line) = (0u64, Vec::new());
        loop {
            line.clear();
            let n = lines.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(index);
            }
            if let Ok(record) = serde_json::from_slice::<LineCommit>(&line) {
                let at = index.records.entry(record.commit).or_default();
                at.push((offset, n));
            }
            offset += n as u64;
        }
    }

    /// Records a line of `n` bytes for `commit` appended at `offset` to
    /// the file, which was as `before` (then cut to `offset`, dropping a
    /// torn line) and is now as `after`; forgets everything when the file
    /// was not as last seen.
    fn appended(
        index: &mut Option<Index>,
        (before, after): (Seen, Seen),
        commit: &CommitSha,
        (offset, n): (u64, usize),
    ) {
        match index {
            Some(i) if i.seen == before => {
                i.seen = after;
                i.records
                    .entry(commit.clone())
                    .or_default()
                    .push((offset, n));
            }
            _ => *index = None,
        }
    }
}

/// Appends `{"commit", "body"}` lines to a file (`jq -r .body` shows them).
/// Each record is one complete line written at once; a torn line left by a
/// crash is cut off before the next record, so every line is valid JSON.
pub struct FileSink {
    path: PathBuf,
    /// Also serializes listing and posting.
    index: Mutex<Option<Index>>,
}

impl FileSink {
    /// A sink appending to `path` (created when first written).
    pub fn new(path: &Path) -> FileSink {
        FileSink {
            path: path.to_owned(),
            index: Mutex::new(None),
        }
    }

    /// The bodies of the records of `sha`, through the index (read again
    /// when the file is not as this sink last saw it).
    fn bodies(
        &self,
        index: &mut Option<Index>,
        sha: &CommitSha,
    ) -> Result<Vec<String>, ForgeError> {
        let (file, _) = match crate::input::open(&self.path, MAX_FILE) {
            Ok(opened) => opened,
            Err(crate::input::InputError {
                kind: crate::input::InputErrorKind::Io(e),
                ..
            }) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(std::io::Error::other(e))),
        };
        let seen = Seen::of(&file.metadata().map_err(|e| self.io(e))?);
        if index.as_ref().is_none_or(|i| i.seen != seen) {
            *index = Some(Index::read(&file, seen).map_err(|e| self.io(e))?);
        }
        let records = index.as_ref().and_then(|i| i.records.get(sha));
        let mut bodies = Vec::new();
        for &(offset, n) in records.into_iter().flatten() {
            let mut line = vec![0; n];
            file.read_exact_at(&mut line, offset)
                .map_err(|e| self.io(e))?;
            if let Ok(record) = serde_json::from_slice::<Line>(&line) {
                bodies.push(record.body);
            }
        }
        Ok(bodies)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Option<Index>> {
        // Every update is one assignment: a poisoned lock is usable.
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A crash mid-write leaves a torn last line. A torn record is never
    /// listed, so its finding is still pending and is posted again: the
    /// torn line is cut off rather than kept as an invalid line.
    /// Returns the file's length after.
    fn drop_torn_line(&self, file: &std::fs::File) -> Result<u64, ForgeError> {
        let meta = file.metadata().map_err(|e| self.io(e))?;
        if !meta.is_file() {
            let what = std::io::Error::other("not a regular file");
            return Err(self.io(what));
        }
        let complete = complete_length(file).map_err(|e| self.io(e))?;
        if complete < meta.len() {
            file.set_len(complete).map_err(|e| self.io(e))?;
        }
        Ok(complete)
    }

    fn io(&self, source: std::io::Error) -> ForgeError {
        ForgeError::Io {
            target: self.target(),
            source,
        }
    }
}

impl Forge for FileSink {
    fn target(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn list_comments<'a>(&'a self, sha: &'a CommitSha) -> ForgeFuture<'a, Vec<Comment>> {
        Box::pin(async move {
            let bodies = self.bodies(&mut self.index(), sha)?;
            Ok(bodies.iter().map(|b| Comment::body_only(b)).collect())
        })
    }

    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment> {
        Box::pin(async move {
            let mut index = self.index();
            let record = serde_json::to_string(&Line {
                commit: sha.clone(),
                body: body.to_owned(),
            })
            .expect("plain data serializes");
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.io(e))?;
            let before = Seen::of(&file.metadata().map_err(|e| self.io(e))?);
            let offset = self.drop_torn_line(&file)?;
            // One write of a whole line, appended (O_APPEND) as a unit.
            let line = format!("{record}\n");
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| self.io(e))?;
            let after = Seen::of(&file.metadata().map_err(|e| self.io(e))?);
            Index::appended(&mut index, (before, after), sha, (offset, line.len()));
            Ok(Comment::body_only(body))
        })
    }

    fn limits(&self) -> PaceLimits {
        PaceLimits::none()
    }

    fn max_body_chars(&self) -> usize {
        MAX_BODY_CHARS
    }
}
