//! Pacing of content-creating calls: GitHub's secondary limits allow about
//! 80 content-creating requests a minute and 500 an hour; a backfill over a
//! long history must stay under them instead of bouncing off 403s.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ForgeError;
use super::retry::Cancel;

/// At most `count` posts in any window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Posts allowed in the window.
    pub count: usize,
    /// The window's length.
    pub per: Duration,
}

/// The windows a forge imposes (none for dry-run sinks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaceLimits(pub Vec<Window>);

impl PaceLimits {
    /// GitHub's documented secondary limits for content creation.
    pub fn github() -> PaceLimits {
        PaceLimits(vec![
            Window {
                count: 80,
                per: Duration::from_secs(60),
            },
            Window {
                count: 500,
                per: Duration::from_secs(3600),
            },
        ])
    }

    /// GitLab.com limits note creation per user to 300 a minute; stay well below.
    pub fn gitlab() -> PaceLimits {
        PaceLimits(vec![Window {
            count: 60,
            per: Duration::from_secs(60),
        }])
    }

    /// No limit.
    pub fn none() -> PaceLimits {
        PaceLimits(Vec::new())
    }
}

/// Remembers recent posts and says how long the next one must wait.
#[derive(Debug)]
pub struct Pacer {
    limits: PaceLimits,
    sent: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    /// A pacer for `limits`.
    pub fn new(limits: PaceLimits) -> Pacer {
        Pacer {
            limits,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// How long a post at `now` must wait, given the posts recorded so far.
    pub fn delay(&self, now: Instant) -> Duration {
        let sent = self.sent.lock().expect("pacer lock");
        self.limits
            .0
            .iter()
            .filter_map(|w| {
                // The post `count` places back must have left the window.
                let index = sent.len().checked_sub(w.count)?;
                let oldest = sent[index];
                (oldest + w.per).checked_duration_since(now)
            })
            .max()
            .unwrap_or_default()
    }

    /// Records a post at `now`, forgetting what no window can see any more.
    pub fn record(&self, now: Instant) {
        let mut sent = self.sent.lock().expect("pacer lock");
        sent.push_back(now);
        let keep = self.limits.0.iter().map(|w| w.count).max().unwrap_or(0);
        while sent.len() > keep {
            sent.pop_front();
        }
    }

    /// Waits until a post is allowed and records it.
    pub async fn wait(&self, cancel: &Cancel) -> Result<(), ForgeError> {
        loop {
            let delay = self.delay(Instant::now());
            if delay.is_zero() {
                self.record(Instant::now());
                return Ok(());
            }
            tracing::info!(
                wait = %humantime::format_duration(Duration::from_secs(delay.as_secs() + 1)),
                "pacing comment creation within the forge's limits"
            );
            cancel.sleep(delay).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_are_spread_to_fit_every_window() {
        let pacer = Pacer::new(PaceLimits(vec![
            Window {
                count: 2,
                per: Duration::from_secs(60),
            },
            Window {
                count: 3,
                per: Duration::from_secs(3600),
            },
        ]));
        let t0 = Instant::now();
        assert_eq!(pacer.delay(t0), Duration::ZERO);
        pacer.record(t0);
        pacer.record(t0 + Duration::from_secs(1));
        // Third post: the minute window is full until t0+60.
        assert_eq!(
            pacer.delay(t0 + Duration::from_secs(10)),
            Duration::from_secs(50)
        );
        pacer.record(t0 + Duration::from_secs(60));
        // Fourth: the hour window (3) is full until t0+3600.
        assert_eq!(
            pacer.delay(t0 + Duration::from_secs(120)),
            Duration::from_secs(3480)
        );
        assert_eq!(pacer.delay(t0 + Duration::from_secs(3600)), Duration::ZERO);
    }

    #[test]
    fn github_limits_allow_80_a_minute() {
        let pacer = Pacer::new(PaceLimits::github());
        let t0 = Instant::now();
        for i in 0..80 {
            assert_eq!(pacer.delay(t0), Duration::ZERO, "post {i}");
            pacer.record(t0);
        }
        assert_eq!(pacer.delay(t0), Duration::from_secs(60));
        assert_eq!(Pacer::new(PaceLimits::none()).delay(t0), Duration::ZERO);
    }
}
