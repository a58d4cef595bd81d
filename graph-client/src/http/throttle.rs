//! Graph's throttling, per app and tenant: the gate a `Retry-After` closes, the pacer that
//! spaces requests after a 429, and how long a request waits in line for either.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::HttpGraph;
use crate::{GraphResult, error::GraphError};

/// The longest a request waits for a throttle gate to open. A longer `Retry-After` is handed
/// back to the caller ([`GraphError::Held`]): a reconcile waiting inside a request holds one of
/// its controller's few slots, and one tenant's throttling must not hold the slots every other
/// namespace needs. Graph's usual `Retry-After` (a few seconds at most) is waited out in line.
pub const LONGEST_WAIT_IN_LINE: Duration = Duration::from_secs(2);

/// Wait until `until`, or, if that is more than [`LONGEST_WAIT_IN_LINE`] away, give the wait
/// back as [`GraphError::Held`].
pub(super) async fn wait_in_line(operation: &'static str, until: Instant) -> GraphResult<()> {
    let left = until.saturating_duration_since(Instant::now());
    if left > LONGEST_WAIT_IN_LINE {
        return Err(GraphError::Held { operation, left });
    }
    tokio::time::sleep_until(until.into()).await;
    Ok(())
}

/// Spaces requests once Graph has throttled this app+tenant.
///
/// Graph's bucket refills continuously; a 429's `Retry-After` says how long until the next
/// token, so the longest one seen estimates the refill interval. Requests are then spaced by that
/// interval, which uses the whole budget without running into the empty bucket again. Once
/// demand has stayed below that pace for a minute (no request had to wait for its slot, no 429)
/// the pacing is dropped, in case the limit was raised. Forgetting after a minute without 429s
/// instead would drop it in the middle of a long burst, precisely because pacing works, and
/// buy a fresh round of 429s (the bench saw one per minute).
#[derive(Debug, Default)]
pub(super) struct Pacer {
    interval: Option<Duration>,
    next_slot: Option<Instant>,
    /// The last time the pace was the limit: a 429, or a request that waited for its slot.
    last_at_limit: Option<Instant>,
}

impl Pacer {
    pub(super) const FORGET_AFTER: Duration = Duration::from_secs(60);
    /// A longer Retry-After is a pause, not a refill rate: the gate honours the pause, and pacing
    /// slower than this afterwards would only starve the reconcilers.
    pub(super) const MAX_INTERVAL: Duration = Duration::from_millis(100);

    /// When the next request may leave.
    pub(super) fn take_slot(&mut self, now: Instant) -> Instant {
        if self
            .last_at_limit
            .is_some_and(|t| now.saturating_duration_since(t) > Self::FORGET_AFTER)
        {
            *self = Self::default();
        }
        let Some(interval) = self.interval else {
            return now;
        };
        let slot = self.next_slot.map_or(now, |n| n.max(now));
        if slot > now {
            self.last_at_limit = Some(now);
        }
        self.next_slot = Some(slot + interval);
        slot
    }

    pub(super) fn throttled(&mut self, retry_after: Duration, now: Instant) {
        // A little slack over the refill interval keeps us just behind the bucket.
        // A 429 while already pacing means the interval is still too short: Retry-After only says
        // how long until the *next* token, which can be less than a full refill interval.
        // Capped as a whole, not just the estimate: 429s that come at random (a struggling
        // service, not an empty bucket) would otherwise compound ×1.05 each, and the soak saw
        // the pace reach seconds per request after a hundred of them.
        let estimate = retry_after.mul_f64(1.02).min(Self::MAX_INTERVAL);
        self.interval = Some(
            self.interval
                .map_or(estimate, |i| i.mul_f64(1.05).max(estimate))
                .min(Self::MAX_INTERVAL),
        );
        self.last_at_limit = Some(now);
    }
}

/// Graph throttles per app and tenant: every client for the same app in the same tenant shares
/// one gate (no request before a `Retry-After` elapses) and one pacer.
#[derive(Debug, Default)]
pub struct ThrottleGate {
    pub(super) until: Mutex<Option<Instant>>,
    pub(super) pacer: Mutex<Pacer>,
}

impl HttpGraph {
    /// Wait for the throttle gate, then for this request's pacing slot. The slot is taken only
    /// once the gate is open, so requests held by a `Retry-After` leave one by one, not together.
    /// A gate closed for longer than [`LONGEST_WAIT_IN_LINE`] is not waited for: the caller gets
    /// [`GraphError::Held`] with the time left.
    pub(super) async fn wait_for_gate(&self, operation: &'static str) -> GraphResult<()> {
        let started = Instant::now();
        let result = self.wait_for_gate_inner(operation).await;
        let waited = started.elapsed();
        if waited >= Duration::from_millis(1) {
            self.observer.throttle_waited(waited);
        }
        result
    }

    async fn wait_for_gate_inner(&self, operation: &'static str) -> GraphResult<()> {
        loop {
            let until = *self.throttle.until.lock().unwrap();
            if let Some(t) = until.filter(|t| *t > Instant::now()) {
                wait_in_line(operation, t).await?;
                continue;
            }
            let slot = self
                .throttle
                .pacer
                .lock()
                .unwrap()
                .take_slot(Instant::now());
            if slot > Instant::now() {
                tokio::time::sleep_until(slot.into()).await;
            }
            // A 429 seen while this request waited for its slot closes the gate again.
            let reopened = self
                .throttle
                .until
                .lock()
                .unwrap()
                .is_none_or(|t| t <= Instant::now());
            if reopened {
                return Ok(());
            }
        }
    }

    pub(super) fn close_gate_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut g = self.throttle.until.lock().unwrap();
        if g.is_none_or(|t| t < until) {
            *g = Some(until);
        }
    }
}
