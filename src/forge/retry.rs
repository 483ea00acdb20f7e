//! The one retry helper for every remote call: exponential backoff with
//! jitter on transient errors (5xx, timeouts, connection errors), waits as
//! long as rate-limit headers say (`retry-after`, `x-ratelimit-reset`, or a
//! minute for a secondary limit that names no time), and gives up at once
//! on permanent errors (401, 403 that is not a rate limit, 404, 422) and on
//! a commit the forge does not know yet (left for a later poll). Every wait
//! can be cut short by shutdown.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::ForgeError;

/// What to do about a failed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying soon (5xx, timeouts, connection errors, 429 without headers).
    Transient,
    /// Refused for rate; retry after this long.
    RateLimited(Duration),
    /// The credentials or the target are wrong (401, 403 that is not a rate
    /// limit, 404): stop this repository until the next poll.
    Unauthorized,
    /// The forge refused this one comment (422): record it as failed.
    Rejected,
    /// The forge does not know the commit yet (GitHub's `422 No commit
    /// found for SHA`, GitLab's `404 Commit Not Found`): its copy of the
    /// repository lags behind the watched clone. Not worth retrying now,
    /// but at a later poll.
    CommitUnknown,
    /// Anything else: no point retrying now.
    Permanent,
}

impl ErrorClass {
    /// The forge refused this one comment ([`Rejected`](Self::Rejected) or
    /// [`CommitUnknown`](Self::CommitUnknown)): the other findings can still
    /// be posted. Every other class stops the repository (daemon) or the run
    /// (`scan --post`).
    pub fn concerns_one_comment(&self) -> bool {
        matches!(self, ErrorClass::Rejected | ErrorClass::CommitUnknown)
    }
}

impl ForgeError {
    /// How the retry helper and the daemon treat this error.
    pub fn class(&self, now: SystemTime) -> ErrorClass {
        match self {
            ForgeError::Status {
                status,
                message,
                rate_limit,
                ..
            } => match (*status, rate_limit.wait(now)) {
                (403 | 429, Some(wait)) => ErrorClass::RateLimited(wait),
                (403 | 429, None)
                    if rate_limit.remaining == Some(0) || is_secondary_limit(message) =>
                {
                    ErrorClass::RateLimited(SECONDARY_LIMIT_WAIT)
                }
                (429, None) => ErrorClass::Transient,
                (422, _) if message.starts_with("No commit found for SHA") => {
                    ErrorClass::CommitUnknown
                }
                (404, _) if message.contains("Commit Not Found") => ErrorClass::CommitUnknown,
                (401 | 403 | 404, _) => ErrorClass::Unauthorized,
                (422, _) => ErrorClass::Rejected,
                (408, _) => ErrorClass::Transient,
                (s, _) if s >= 500 => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            },
            ForgeError::Timeout { .. } | ForgeError::Connection { .. } => ErrorClass::Transient,
            ForgeError::Decode { .. }
            | ForgeError::Setup { .. }
            | ForgeError::Io { .. }
            | ForgeError::Interrupted => ErrorClass::Permanent,
        }
    }
}

/// How long to wait after a secondary rate limit that names no time:
/// GitHub documents "at least one minute" when `retry-after` is absent.
pub const SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// GitHub's secondary (abuse) limits answer 403 or 429 with this message,
/// sometimes without any rate-limit header.
fn is_secondary_limit(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("secondary rate limit")
}

/// Retry timing. Defaults suit production; tests shorten them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub base_delay: Duration,
    /// Backoff never exceeds this.
    pub max_delay: Duration,
    /// A rate-limit wait longer than this is not waited for here: the call
    /// fails and the repository is tried again at its next poll.
    pub max_rate_limit_wait: Duration,
    /// Time allowed for one HTTP exchange.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff after `failures` failed attempts (1-based), with "equal
    /// jitter": half fixed, half random, so retries of many clients spread
    /// out yet never come back immediately.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        let spread = half.as_nanos() as u64;
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// A random number without a dependency: std seeds every `RandomState`
/// with fresh random keys.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

/// Lets waits end early when shutdown is requested.
#[derive(Clone, Debug)]
pub struct Cancel(Option<watch::Receiver<bool>>);

impl Cancel {
    /// Follows a shutdown channel (`true` means stop).
    pub fn new(rx: watch::Receiver<bool>) -> Cancel {
        Cancel(Some(rx))
    }

    /// Never fires (one-shot commands).
    pub fn never() -> Cancel {
        Cancel(None)
    }

    /// Whether shutdown was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves when shutdown is requested (never, for [`Cancel::never`]).
    pub async fn cancelled(&self) {
        match &self.0 {
            None => std::future::pending().await,
            Some(rx) => {
                let mut rx = rx.clone();
                // A dropped sender means the owner is gone: stop as well.
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    }

    /// Sleeps for `d`, or fails with [`ForgeError::Interrupted`] at shutdown.
    pub async fn sleep(&self, d: Duration) -> Result<(), ForgeError> {
        if self.is_cancelled() {
            return Err(ForgeError::Interrupted);
        }
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.cancelled() => Err(ForgeError::Interrupted),
        }
    }
}

/// Told of every failed attempt (metrics count them by status).
pub type ErrorObserver = Arc<dyn Fn(&ForgeError) + Send + Sync>;

/// Runs remote calls under a [`RetryPolicy`].
#[derive(Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    cancel: Cancel,
    observer: Option<ErrorObserver>,
}

impl Retrier {
    /// A retrier following `policy`, stopping its waits on `cancel`.
    pub fn new(policy: RetryPolicy, cancel: Cancel) -> Retrier {
        Retrier {
            policy,
            cancel,
            observer: None,
        }
    }

    /// Reports every failed attempt to `observer`.
    pub fn observe(mut self, observer: ErrorObserver) -> Retrier {
        self.observer = Some(observer);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The shutdown handle.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Runs `op` until it succeeds, fails permanently, or the attempts run
    /// out; `what` names the call in logs.
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, ForgeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ForgeError>>,
    {
        let mut failures = 0;
        loop {
            if self.cancel.is_cancelled() {
                return Err(ForgeError::Interrupted);
            }
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(ForgeError::Interrupted) => return Err(ForgeError::Interrupted),
                Err(e) => e,
            };
            failures += 1;
            if let Some(observer) = &self.observer {
                observer(&err);
            }
            let wait = match err.class(SystemTime::now()) {
                _ if failures >= self.policy.max_attempts => None,
                ErrorClass::Transient => Some(self.policy.backoff(failures)),
                // The reset time is whole seconds: wait into the next one.
                ErrorClass::RateLimited(wait) if wait <= self.policy.max_rate_limit_wait => {
                    Some(wait + Duration::from_millis(250))
                }
                ErrorClass::RateLimited(_)
                | ErrorClass::Unauthorized
                | ErrorClass::Rejected
                | ErrorClass::CommitUnknown
                | ErrorClass::Permanent => None,
            };
            let Some(wait) = wait else {
                return Err(err);
            };
            tracing::warn!(
                call = what,
                attempt = failures,
                wait = %humantime::format_duration(round_ms(wait)),
                error = %err,
                "forge call failed, retrying"
            );
            self.cancel.sleep(wait).await?;
        }
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::RateLimit;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_rate_limit_wait: Duration::from_secs(5),
            request_timeout: Duration::from_secs(1),
        }
    }

    fn status(status: u16, rate_limit: RateLimit) -> ForgeError {
        ForgeError::Status {
            target: "t".into(),
            status,
            message: "m".into(),
            rate_limit,
        }
    }

    async fn attempts_until_done(errors: Vec<ForgeError>) -> (u32, Result<(), ForgeError>) {
        let calls = AtomicU32::new(0);
        let errors = std::sync::Mutex::new(errors.into_iter());
        let retrier = Retrier::new(fast(), Cancel::never());
        let result = retrier
            .run("test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                let next = errors.lock().unwrap().next();
                async move { next.map_or(Ok(()), Err) }
            })
            .await;
        (calls.load(Ordering::SeqCst), result)
    }

    #[tokio::test]
    async fn transient_errors_are_retried_permanent_ones_are_not() {
        let (calls, result) = attempts_until_done(vec![
            status(500, RateLimit::default()),
            status(502, RateLimit::default()),
        ])
        .await;
        assert_eq!(calls, 3);
        assert!(result.is_ok());
        for permanent in [401, 404, 422, 400] {
            let (calls, result) =
                attempts_until_done(vec![status(permanent, RateLimit::default())]).await;
            assert_eq!(calls, 1, "{permanent}");
            assert!(result.is_err());
        }
        // A bare 403 is an authorization failure, not a rate limit.
        let (calls, _) = attempts_until_done(vec![status(403, RateLimit::default())]).await;
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let errors = (0..10).map(|_| status(503, RateLimit::default())).collect();
        let (calls, result) = attempts_until_done(errors).await;
        assert_eq!(calls, 4);
        assert!(matches!(
            result,
            Err(ForgeError::Status { status: 503, .. })
        ));
    }

    #[tokio::test]
    async fn rate_limits_beyond_the_cap_are_left_for_the_next_poll() {
        let long = RateLimit {
            retry_after: Some(Duration::from_secs(3600)),
            ..RateLimit::default()
        };
        let (calls, result) = attempts_until_done(vec![status(429, long)]).await;
        assert_eq!(calls, 1);
        assert!(result.is_err());
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for failures in 1..8 {
            let cap = (100u64 << (failures - 1)).min(1000);
            let d = p.backoff(failures).as_millis() as u64;
            assert!(
                d >= cap / 2 && d <= cap,
                "{failures}: {d} not in [{}, {cap}]",
                cap / 2
            );
        }
        let samples: std::collections::BTreeSet<Duration> = (0..20).map(|_| p.backoff(5)).collect();
        assert!(samples.len() > 1, "no jitter");
    }

    #[test]
    fn rate_limit_waits_come_from_headers() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let reset = RateLimit {
            retry_after: None,
            remaining: Some(0),
            reset: Some(1003),
        };
        assert_eq!(reset.wait(now), Some(Duration::from_secs(3)));
        let quota_left = RateLimit {
            remaining: Some(10),
            ..reset.clone()
        };
        assert_eq!(quota_left.wait(now), None);
        assert_eq!(
            status(403, reset).class(now),
            ErrorClass::RateLimited(Duration::from_secs(3))
        );
        assert_eq!(status(403, quota_left).class(now), ErrorClass::Unauthorized);
    }

    #[tokio::test]
    async fn shutdown_cuts_waits_short() {
        let (tx, rx) = watch::channel(false);
        let cancel = Cancel::new(rx);
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(60),
            ..fast()
        };
        let retrier = Retrier::new(policy, cancel);
        let started = std::time::Instant::now();
        let run = retrier.run("test", || async {
            Err::<(), _>(status(500, RateLimit::default()))
        });
        let stop = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(true).unwrap();
        };
        let (result, ()) = tokio::join!(run, stop);
        assert!(matches!(result, Err(ForgeError::Interrupted)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn only_a_refused_or_unknown_commit_spares_the_other_findings() {
        for class in [ErrorClass::Rejected, ErrorClass::CommitUnknown] {
            assert!(class.concerns_one_comment(), "{class:?}");
        }
        for class in [
            ErrorClass::Transient,
            ErrorClass::RateLimited(Duration::from_secs(1)),
            ErrorClass::Unauthorized,
            ErrorClass::Permanent,
        ] {
            assert!(!class.concerns_one_comment(), "{class:?}");
        }
    }
}
