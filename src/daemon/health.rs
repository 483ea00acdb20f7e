//! What operators watch: per-repository status (for `/healthz`) and
//! counters (for `/metrics`, in the Prometheus text format).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::RepoName;

/// A repository's state as the daemon last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoStatus {
    /// Not polled yet.
    Starting,
    /// The last poll succeeded.
    Ok,
    /// The last poll failed; it is retried at the next one.
    Failing,
}

/// One repository's health.
#[derive(Clone, Debug, Serialize)]
pub struct RepoHealth {
    /// Its status.
    pub status: RepoStatus,
    /// When a poll last succeeded (RFC 3339).
    #[serde(serialize_with = "rfc3339")]
    pub last_success: Option<SystemTime>,
    /// The last poll's error, while failing (redacted).
    pub last_error: Option<String>,
    /// How long the last poll took, in seconds.
    pub last_poll_seconds: Option<f64>,
}

fn rfc3339<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&humantime::format_rfc3339_seconds(*t).to_string()),
        None => s.serialize_none(),
    }
}

#[derive(Default)]
struct Counters {
    commits_scanned: BTreeMap<String, u64>,
    findings: BTreeMap<(String, String), u64>,
    comments_posted: BTreeMap<String, u64>,
    forge_errors: BTreeMap<(String, String), u64>,
    /// Sum of seconds and count of polls.
    polls: BTreeMap<String, (f64, u64)>,
}

/// Shared between the repository loops and the HTTP server.
#[derive(Default)]
pub struct Health {
    repos: Mutex<BTreeMap<RepoName, RepoHealth>>,
    counters: Mutex<Counters>,
}

impl Health {
    /// Lists a repository as starting.
    pub fn register(&self, repo: &RepoName) {
        self.repos.lock().expect("health lock").insert(
            repo.clone(),
            RepoHealth {
                status: RepoStatus::Starting,
                last_success: None,
                last_error: None,
                last_poll_seconds: None,
            },
        );
    }

    /// Records the end of a poll: `error` is `None` when it succeeded.
    pub fn polled(&self, repo: &RepoName, took: Duration, error: Option<String>) {
        let mut repos = self.repos.lock().expect("health lock");
        let entry = repos.entry(repo.clone()).or_insert(RepoHealth {
            status: RepoStatus::Starting,
            last_success: None,
            last_error: None,
            last_poll_seconds: None,
        });
        entry.last_poll_seconds = Some(took.as_secs_f64());
        match error {
            None => {
                entry.status = RepoStatus::Ok;
                entry.last_success = Some(SystemTime::now());
                entry.last_error = None;
            }
            Some(e) => {
                entry.status = RepoStatus::Failing;
                // `/healthz` is unauthenticated: whatever the error quotes,
                // a URL's credentials or a token never reach it.
                entry.last_error = Some(crate::secrets::redact(&e).into_owned());
            }
        }
        drop(repos);
        let mut c = self.counters.lock().expect("metrics lock");
        let poll = c.polls.entry(repo.to_string()).or_default();
        poll.0 += took.as_secs_f64();
        poll.1 += 1;
    }

    /// A repository's health.
    pub fn repo(&self, repo: &RepoName) -> Option<RepoHealth> {
        self.repos.lock().expect("health lock").get(repo).cloned()
    }

    /// Counts commits scanned.
    pub fn commits_scanned(&self, repo: &RepoName, n: usize) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .commits_scanned
            .entry(repo.to_string())
            .or_default() += n as u64;
    }

    /// Counts a new finding.
    pub fn finding(&self, repo: &RepoName, kind: &str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .findings
            .entry((repo.to_string(), kind.to_owned()))
            .or_default() += 1;
    }

    /// Counts a comment posted.
    pub fn comment_posted(&self, repo: &RepoName) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .comments_posted
            .entry(repo.to_string())
            .or_default() += 1;
    }

    /// Counts a failed forge call by status (or `timeout`, `connection`).
    pub fn forge_error(&self, repo: &RepoName, label: &str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .forge_errors
            .entry((repo.to_string(), label.to_owned()))
            .or_default() += 1;
    }

    /// The `/healthz` document and whether every repository is healthy.
    pub fn healthz(&self) -> (bool, String) {
        let repos = self.repos.lock().expect("health lock");
        let healthy = repos.values().all(|r| r.status != RepoStatus::Failing);
        let doc = serde_json::json!({
            "status": if healthy { "ok" } else { "failing" },
            "repos": repos.iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        });
        (
            healthy,
            serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n",
        )
    }

    /// The `/metrics` document.
    pub fn prometheus(&self) -> String {
        let c = self.counters.lock().expect("metrics lock");
        let repos = self.repos.lock().expect("health lock");
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
        let repo_label = |r: &str| format!("repo=\"{}\"", escape(r));
        family(
            "abibot_commits_scanned_total",
            "counter",
            "Commits scanned.",
            c.commits_scanned
                .iter()
                .map(|(r, n)| (repo_label(r), n.to_string()))
                .collect(),
        );
        family(
            "abibot_findings_total",
            "counter",
            "New findings, by kind.",
            c.findings
                .iter()
                .map(|((r, k), n)| {
                    (
                        format!("{},kind=\"{}\"", repo_label(r), escape(k)),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "abibot_comments_posted_total",
            "counter",
            "Comments posted.",
            c.comments_posted
                .iter()
                .map(|(r, n)| (repo_label(r), n.to_string()))
                .collect(),
        );
        family(
            "abibot_forge_errors_total",
            "counter",
            "Failed forge calls, by HTTP status or failure kind.",
            c.forge_errors
                .iter()
                .map(|((r, s), n)| {
                    (
                        format!("{},status=\"{}\"", repo_label(r), escape(s)),
                        n.to_string(),
                    )
                })
                .collect(),
        );
        let _ = writeln!(
            out,
            "# HELP abibot_poll_duration_seconds Time taken by polls.\n# TYPE abibot_poll_duration_seconds summary"
        );
        for (r, (sum, count)) in &c.polls {
            let _ = writeln!(
                out,
                "abibot_poll_duration_seconds_sum{{{}}} {sum}",
                repo_label(r)
            );
            let _ = writeln!(
                out,
                "abibot_poll_duration_seconds_count{{{}}} {count}",
                repo_label(r)
            );
        }
        let _ = writeln!(
            out,
            "# HELP abibot_repo_up Whether the repository's last poll succeeded.\n# TYPE abibot_repo_up gauge"
        );
        for (r, h) in repos.iter() {
            let up = u8::from(h.status == RepoStatus::Ok);
            let _ = writeln!(out, "abibot_repo_up{{{}}} {up}", repo_label(r.as_str()));
        }
        let _ = writeln!(
            out,
            "# HELP abibot_last_success_timestamp_seconds When the repository was last polled successfully.\n# TYPE abibot_last_success_timestamp_seconds gauge"
        );
        for (r, h) in repos.iter() {
            if let Some(t) = h.last_success {
                let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                let _ = writeln!(
                    out,
                    "abibot_last_success_timestamp_seconds{{{}}} {secs}",
                    repo_label(r.as_str())
                );
            }
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_never_shows_url_credentials() {
        let health = Health::default();
        let repo = RepoName::new("linux").unwrap();
        health.register(&repo);
        health.polled(
            &repo,
            Duration::from_secs(1),
            Some(
                "fetch https://bot:S3cretT0ken@host/x.git: could not read from socket: timed out"
                    .into(),
            ),
        );
        let (healthy, doc) = health.healthz();
        assert!(!healthy);
        assert!(!doc.contains("S3cretT0ken"), "{doc}");
        assert!(doc.contains("https://<redacted>@host/x.git"), "{doc}");
        assert!(doc.contains("\"failing\""), "{doc}");
    }
}
