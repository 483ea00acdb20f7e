//! `abibot daemon`, `abibot config check`, `abibot demo`, and the posting
//! half of `abibot scan --post`: the commands that run the forge side.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use super::{Outcome, print};
use crate::config::{Config, LogFormat, RepoConfig};
use crate::daemon::{Daemon, config_summary, hint};
use crate::findings::FindingId;
use crate::forge::{self, Cancel, Pacer, Published, Publisher, Retrier, RetryPolicy};
use crate::history::scan::ScanReport;
use crate::report::scan::finding_markdown;
use crate::state::{FindingStatus, State, StoredFinding};

/// Arguments of `abibot daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE", default_value = "config/abibot.toml")]
    pub config: PathBuf,
    /// Poll every repository once, then exit (for cron or systemd timers);
    /// exit 2 when a repository failed.
    #[arg(long)]
    pub once: bool,
}

/// Arguments of `abibot config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `abibot config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; unresolvable secrets and paths are warned about.
    Check {
        /// The configuration file.
        #[arg(value_name = "FILE", default_value = "config/abibot.toml")]
        file: PathBuf,
    },
}

/// Arguments of `abibot state`: the daemon's record, for operators.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The configuration file naming the state database.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "config/abibot.toml",
        global = true
    )]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// `abibot state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List recorded findings, oldest first: id, repository, commit, kind,
    /// status, refused attempts and the forge's last refusal.
    List {
        /// Only failed findings (those `abibot state retry` can put back).
        #[arg(long)]
        failed: bool,
        /// Only findings waiting to be posted.
        #[arg(long, conflicts_with = "failed")]
        pending: bool,
    },
    /// Put failed findings back into the outbox, their attempts reset: the
    /// daemon posts them at its next poll.
    Retry {
        /// Finding ids, as `abibot state list` shows them.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<FindingId>,
    },
}

/// Arguments of `abibot demo` (none: nothing to configure).
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second initialisation (tests calling `run` twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

pub(super) fn daemon(args: DaemonArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(&args.config)?;
    init_logging(config.log_format);
    runtime()?.block_on(async {
        let daemon = Arc::new(Daemon::new(config)?);
        if args.once {
            let failed: Vec<String> = daemon
                .poll_once()
                .await
                .into_iter()
                .filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}")))
                .collect();
            if !failed.is_empty() {
                bail!(
                    "{} repositories failed:\n  {}",
                    failed.len(),
                    failed.join("\n  ")
                );
            }
            return Ok(Outcome::Clean);
        }
        let stopper = daemon.clone();
        tokio::spawn(async move {
            match stop_signal().await {
                Ok(()) => {
                    tracing::info!("signal received: finishing the current write, then stopping")
                }
                Err(e) => tracing::error!(error = %e, "cannot listen for signals; stopping"),
            }
            stopper.shutdown();
        });
        daemon.run().await?;
        Ok(Outcome::Clean)
    })
}

pub(super) fn config(args: ConfigArgs) -> anyhow::Result<Outcome> {
    match args.command {
        ConfigCommand::Check { file } => {
            let config = Config::load(&file)?;
            config.check_state()?;
            let mut out = format!("{}: valid; {}", file.display(), config_summary(&config));
            for warning in config.warnings() {
                out.push_str(&format!("warning: {warning}\n"));
            }
            print(&out)?;
            Ok(Outcome::Clean)
        }
    }
}

pub(super) fn state(args: StateArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(&args.config)?;
    let state = State::open_existing(&config.state)?;
    match args.command {
        StateCommand::List { failed, pending } => {
            let status = match (failed, pending) {
                (true, _) => Some(FindingStatus::Failed),
                (_, true) => Some(FindingStatus::Pending),
                _ => None,
            };
            print(&finding_table(&state.list(status)?))?;
        }
        StateCommand::Retry { ids } => {
            for id in &ids {
                state.retry(id)?;
                print(&format!(
                    "{id}: back in the outbox; the daemon posts it at its next poll\n"
                ))?;
            }
        }
    }
    Ok(Outcome::Clean)
}

/// One line per finding, under a header.
fn finding_table(findings: &[StoredFinding]) -> String {
    if findings.is_empty() {
        return "no findings\n".into();
    }
    let mut out = format!(
        "{:<24}  {:<16}  {:<12}  {:<16}  {:<7}  {:>8}  LAST REFUSAL\n",
        "ID", "REPOSITORY", "COMMIT", "KIND", "STATUS", "ATTEMPTS"
    );
    for f in findings {
        out.push_str(&format!(
            "{:<24}  {:<16}  {:<12}  {:<16}  {:<7}  {:>8}  {}\n",
            f.id,
            f.repo,
            f.commit.short(),
            f.kind,
            f.status,
            f.attempts,
            f.error.as_deref().unwrap_or("-").replace('\n', " ")
        ));
    }
    out
}

pub(super) fn demo(_args: DemoArgs) -> anyhow::Result<Outcome> {
    runtime()?.block_on(crate::demo::run(Box::new(std::io::stdout())))?;
    Ok(Outcome::Clean)
}

/// Where `abibot scan --post` posts: a repository of a configuration file.
pub struct PostTarget {
    repo: RepoConfig,
}

impl PostTarget {
    /// The repository named `name` in `config` (or its only one).
    pub fn load(config: &Path, name: Option<&str>) -> anyhow::Result<PostTarget> {
        let config = Config::load(config)?;
        let repo = match name {
            Some(name) => config
                .repos
                .iter()
                .find(|r| r.name.as_str() == name)
                .with_context(|| format!("no [[repo]] named {name:?} in the configuration"))?,
            None if config.repos.len() == 1 => &config.repos[0],
            None => {
                bail!("the configuration has several repositories: choose one with --repo-name")
            }
        };
        Ok(PostTarget { repo: repo.clone() })
    }

    /// The configuration's `[[repo]]`: what `scan --post` walks.
    pub fn repo(&self) -> &RepoConfig {
        &self.repo
    }

    /// Posts a comment per problem finding, each at most once (the marker
    /// is searched for first), through the daemon's forge code.
    pub fn post(&self, report: &ScanReport) -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        rt.block_on(async {
            let policy = RetryPolicy::default();
            let forge = forge::connect(&self.repo.forge, policy.request_timeout)?;
            let pacer = Arc::new(Pacer::new(forge.limits()));
            let max_body = forge.max_body_chars();
            let publisher = Publisher::new(forge, Retrier::new(policy, Cancel::never()), pacer);
            let (mut posted, mut found, mut failed) = (0, 0, 0);
            for f in report.findings.iter().filter(|f| f.kind.is_problem()) {
                match publisher
                    .publish(&f.commit, &f.id, &finding_markdown(f, max_body))
                    .await
                {
                    Ok(Published::Posted(_)) => posted += 1,
                    Ok(Published::Found(_)) => found += 1,
                    Err(e) if e.class(std::time::SystemTime::now()).concerns_one_comment() => {
                        eprintln!(
                            "abibot: {} {}: refused: {e}{}",
                            f.commit.short(),
                            f.kind.name(),
                            hint(&e)
                        );
                        failed += 1;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("posting on {}", publisher.target())));
                    }
                }
            }
            eprintln!(
                "abibot: {}: {posted} comments posted, {found} already there, {failed} refused",
                publisher.target()
            );
            Ok(())
        })
    }
}
