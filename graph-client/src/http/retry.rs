//! How hard one call tries: the retry policy's backoffs, and which requests may be sent again.

use std::time::Duration;

use rand::Rng;

use crate::error::GraphError;

/// How hard one call tries before giving the error back to the reconciler (which then requeues
/// with its own backoff).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// The first backoff after a failure that is not throttling (a 500, a broken connection),
    /// doubled per attempt up to `cap`, with full jitter.
    pub base: Duration,
    pub cap: Duration,
    /// The deadline of one Graph request, and of one token request with everyone waiting for it.
    pub timeout: Duration,
    /// The first backoff after a 429, 503 or 504 that says no `Retry-After` (graph-api §3:
    /// back off exponentially), doubled per attempt up to `throttled_cap`; never less than this.
    pub throttled_base: Duration,
    pub throttled_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
            timeout: Duration::from_secs(30),
            throttled_base: Duration::from_secs(1),
            throttled_cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before sending again after `err`: the server's `Retry-After` if it gave
    /// one (never less), the throttled backoff for a 429/503/504 without one, the ordinary
    /// backoff otherwise.
    pub fn delay_for(&self, attempt: u32, err: &GraphError) -> Duration {
        match err.retry_after() {
            Some(ra) => self.delay(attempt, Some(ra)),
            None if err.is_throttled_or_unavailable() => self.throttled_delay(attempt),
            None => self.delay(attempt, None),
        }
    }

    /// Backoff after a 429/503/504 without `Retry-After`: `throttled_base` doubled per attempt,
    /// up to `throttled_cap`, plus up to a quarter of jitter (at the cap, up to a fifth less
    /// instead). Never below `throttled_base`.
    pub fn throttled_delay(&self, attempt: u32) -> Duration {
        let floor = self.throttled_base;
        let cap = self.throttled_cap.max(floor);
        let exp = floor.saturating_mul(1u32 << attempt.min(16)).min(cap);
        let mut rng = rand::thread_rng();
        let jittered = exp.saturating_add(exp.mul_f64(rng.gen_range(0.0..0.25)));
        if jittered <= cap {
            jittered
        } else {
            cap.saturating_sub(cap.mul_f64(rng.gen_range(0.0..0.2)))
                .max(floor)
        }
    }

    /// Exponential backoff with full jitter; a server's `Retry-After` is a floor, never cut.
    /// For an error, prefer [`RetryPolicy::delay_for`], which knows throttling from failure.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(0.0..=1.0));
        match retry_after {
            // A little jitter on top so that many waiters don't all return at the same instant.
            Some(ra) => {
                ra + ra.mul_f64(rand::thread_rng().gen_range(0.0..0.1)) + Duration::from_millis(5)
            }
            None => jittered.max(Duration::from_millis(50)),
        }
    }
}

/// Whether a failed attempt may be sent again. A create that may have reached the server is
/// not resent here: the reconciler recovers it by adoption instead of risking a duplicate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    Safe,
    OnlyIfThrottled,
}
