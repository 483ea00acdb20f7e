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
    /// Webhook events by forge and outcome.
    webhooks: BTreeMap<(&'static str, &'static str), u64>,
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

    /// Counts a webhook event by forge (`github`, `gitlab`) and outcome.
    pub fn webhook(&self, forge: &'static str, outcome: &'static str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .webhooks
            .entry((forge, outcome))
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
        // Both locks are held together so the document is one snapshot.
        let counters = self.counters.lock().expect("metrics lock");
        let repos = self.repos.lock().expect("health lock");
        let mut out = Exposition(String::new());
        counters.write_to(&mut out);
        write_repo_gauges(&mut out, &repos);
        out.0
    }
}

impl Counters {
    /// The counter families and the poll duration summary.
    fn write_to(&self, out: &mut Exposition) {
        out.counter(
            "abibot_commits_scanned_total",
            "Commits scanned.",
            self.commits_scanned
                .iter()
                .map(|(r, n)| (repo_label(r), *n)),
        );
        out.counter(
            "abibot_findings_total",
            "New findings, by kind.",
            self.findings
                .iter()
                .map(|((r, k), n)| (format!("{},kind=\"{}\"", repo_label(r), escape(k)), *n)),
        );
        out.counter(
            "abibot_comments_posted_total",
            "Comments posted.",
            self.comments_posted
                .iter()
                .map(|(r, n)| (repo_label(r), *n)),
        );
        out.counter(
            "abibot_forge_errors_total",
            "Failed forge calls, by HTTP status or failure kind.",
            self.forge_errors
                .iter()
                .map(|((r, s), n)| (format!("{},status=\"{}\"", repo_label(r), escape(s)), *n)),
        );
        out.counter(
            "abibot_webhook_events_total",
            "Webhook events, by forge and outcome.",
            self.webhooks
                .iter()
                .map(|((f, o), n)| (format!("forge=\"{f}\",outcome=\"{o}\""), *n)),
        );
        out.family(
            "abibot_poll_duration_seconds",
            "summary",
            "Time taken by polls.",
        );
        for (r, (sum, count)) in &self.polls {
            out.sample("abibot_poll_duration_seconds_sum", &repo_label(r), sum);
            out.sample("abibot_poll_duration_seconds_count", &repo_label(r), count);
        }
    }
}

/// The gauges read from each repository's health: up, last success.
fn write_repo_gauges(out: &mut Exposition, repos: &BTreeMap<RepoName, RepoHealth>) {
    out.family(
        "abibot_repo_up",
        "gauge",
        "Whether the repository's last poll succeeded.",
    );
    for (r, h) in repos {
        let up = u8::from(h.status == RepoStatus::Ok);
        out.sample("abibot_repo_up", &repo_label(r.as_str()), up);
    }
    out.family(
        "abibot_last_success_timestamp_seconds",
        "gauge",
        "When the repository was last polled successfully.",
    );
    for (r, h) in repos {
        if let Some(t) = h.last_success {
            let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let name = "abibot_last_success_timestamp_seconds";
            out.sample(name, &repo_label(r.as_str()), secs);
        }
    }
}

/// A document in Prometheus' text exposition format being written.
struct Exposition(String);

impl Exposition {
    /// A family's `# HELP` and `# TYPE` lines, before its samples.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A counter family: its header, then one sample per `(labels, count)`.
    fn counter(&mut self, name: &str, help: &str, rows: impl Iterator<Item = (String, u64)>) {
        self.family(name, "counter", help);
        for (labels, count) in rows {
            self.sample(name, &labels, count);
        }
    }

    /// One sample: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
    }
}

/// The `repo="…"` label every sample carries.
fn repo_label(repo: &str) -> String {
    format!("repo=\"{}\"", escape(repo))
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

    #[test]
    fn metrics_list_every_family_once_in_a_fixed_order() {
        let health = Health::default();
        let linux = RepoName::new("linux").unwrap();
        let rt = RepoName::new("rt").unwrap();
        health.register(&linux);
        health.register(&rt);
        health.polled(&linux, Duration::from_millis(1500), None);
        health.polled(&rt, Duration::from_secs(2), Some("fetch failed".into()));
        health.commits_scanned(&linux, 3);
        health.finding(&linux, "hidden-break");
        health.comment_posted(&linux);
        health.forge_error(&rt, "x\"y");
        health.webhook("github", "scheduled");
        // The time of the last success is now: only its presence is fixed.
        let doc: Vec<String> = health
            .prometheus()
            .lines()
            .map(|l| match l.rsplit_once(' ') {
                Some((sample, t))
                    if sample.starts_with("abibot_last_success_timestamp_seconds{") =>
                {
                    assert!(t.parse::<u64>().unwrap() > 1_700_000_000, "{l}");
                    format!("{sample} T")
                }
                _ => l.to_owned(),
            })
            .collect();
        let expected = r#"# HELP abibot_commits_scanned_total Commits scanned.
# TYPE abibot_commits_scanned_total counter
abibot_commits_scanned_total{repo="linux"} 3
# HELP abibot_findings_total New findings, by kind.
# TYPE abibot_findings_total counter
abibot_findings_total{repo="linux",kind="hidden-break"} 1
# HELP abibot_comments_posted_total Comments posted.
# TYPE abibot_comments_posted_total counter
abibot_comments_posted_total{repo="linux"} 1
# HELP abibot_forge_errors_total Failed forge calls, by HTTP status or failure kind.
# TYPE abibot_forge_errors_total counter
abibot_forge_errors_total{repo="rt",status="x\"y"} 1
# HELP abibot_webhook_events_total Webhook events, by forge and outcome.
# TYPE abibot_webhook_events_total counter
abibot_webhook_events_total{forge="github",outcome="scheduled"} 1
# HELP abibot_poll_duration_seconds Time taken by polls.
# TYPE abibot_poll_duration_seconds summary
abibot_poll_duration_seconds_sum{repo="linux"} 1.5
abibot_poll_duration_seconds_count{repo="linux"} 1
abibot_poll_duration_seconds_sum{repo="rt"} 2
abibot_poll_duration_seconds_count{repo="rt"} 1
# HELP abibot_repo_up Whether the repository's last poll succeeded.
# TYPE abibot_repo_up gauge
abibot_repo_up{repo="linux"} 1
abibot_repo_up{repo="rt"} 0
# HELP abibot_last_success_timestamp_seconds When the repository was last polled successfully.
# TYPE abibot_last_success_timestamp_seconds gauge
abibot_last_success_timestamp_seconds{repo="linux"} T"#;
        assert_eq!(doc.join("\n"), expected);
    }
}
