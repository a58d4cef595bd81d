//! Graph's per app+tenant token bucket (graph-api §3), in real time: a full bucket holds
//! `budget` requests and refills at `budget / window`. Over budget, the answer is 429 with a
//! fractional `Retry-After` (the time until one request is available again). A refused
//! request takes nothing from the bucket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, String), Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// Take one request from the (app, tenant) bucket, or say how long to wait.
    pub fn take(
        &mut self,
        app: &str,
        tenant: &str,
        budget: u32,
        window: Duration,
    ) -> Result<(), f64> {
        let budget = f64::from(budget.max(1));
        let rate = budget / window.as_secs_f64().max(0.001);
        let now = Instant::now();
        let b = self
            .buckets
            .entry((app.to_ascii_lowercase(), tenant.to_ascii_lowercase()))
            .or_insert(Bucket {
                tokens: budget,
                last: now,
            });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(budget);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            // Round up to the millisecond so a client that waits exactly this long gets through.
            Err((((1.0 - b.tokens) / rate) * 1000.0).ceil() / 1000.0)
        }
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refuses_without_consuming() {
        let mut t = Throttle::default();
        let w = Duration::from_secs(10);
        assert!(t.take("a", "t", 2, w).is_ok());
        assert!(t.take("a", "t", 2, w).is_ok());
        let r1 = t.take("a", "t", 2, w).unwrap_err();
        let r2 = t.take("a", "t", 2, w).unwrap_err();
        assert!(r1 > 4.0 && r1 <= 5.0, "{r1}");
        assert!(r2 <= r1, "a refused request must not deepen the debt");
        assert!(
            t.take("a", "other", 2, w).is_ok(),
            "buckets are per app+tenant"
        );
    }
}
