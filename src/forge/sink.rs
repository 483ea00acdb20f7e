//! Dry-run forges: comment bodies written to standard output (or any
//! writer), or appended to a JSON Lines file. The file sink can list what it
//! wrote, so the at-most-once guarantee holds for it as for a real forge.

use std::io::Write;
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

/// The most a `[repo.file]` sink file may hold: it is read whole to list
/// what was posted. 4,000 comments of the largest body; rotate it beyond.
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

/// Appends `{"commit", "body"}` lines to a file (`jq -r .body` shows them).
/// Each record is one complete line written at once; a torn line left by a
/// crash is cut off before the next record, so every line is valid JSON.
pub struct FileSink {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSink {
    /// A sink appending to `path` (created when first written).
    pub fn new(path: &Path) -> FileSink {
        FileSink {
            path: path.to_owned(),
            lock: Mutex::new(()),
        }
    }

    /// A crash mid-write leaves a torn last line. A torn record is never
    /// listed, so its finding is still pending and is posted again: the
    /// torn line is cut off rather than kept as an invalid line.
    fn drop_torn_line(&self, file: &std::fs::File) -> Result<(), ForgeError> {
        let meta = file.metadata().map_err(|e| self.io(e))?;
        if !meta.is_file() {
            let what = std::io::Error::other("not a regular file");
            return Err(self.io(what));
        }
        let complete = complete_length(file).map_err(|e| self.io(e))?;
        if complete < meta.len() {
            file.set_len(complete).map_err(|e| self.io(e))?;
        }
        Ok(())
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
            let _guard = self.lock.lock().expect("sink lock");
            let text = match crate::input::read_text(&self.path, MAX_FILE) {
                Ok(text) => text,
                Err(crate::input::InputError {
                    kind: crate::input::InputErrorKind::Io(e),
                    ..
                }) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(self.io(std::io::Error::other(e))),
            };
            // A torn last line (a crash while appending) is not a comment.
            Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str::<Line>(l).ok())
                .filter(|l| &l.commit == sha)
                .map(|l| Comment::body_only(&l.body))
                .collect())
        })
    }

    fn post_comment<'a>(&'a self, sha: &'a CommitSha, body: &'a str) -> ForgeFuture<'a, Comment> {
        Box::pin(async move {
            let _guard = self.lock.lock().expect("sink lock");
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
            self.drop_torn_line(&file)?;
            // One write of a whole line, appended (O_APPEND) as a unit.
            let line = format!("{record}\n");
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| self.io(e))?;
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
