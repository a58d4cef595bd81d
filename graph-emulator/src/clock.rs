//! Emulated time: `start + elapsed_real × scale + advanced`. Graph timestamps
//! (createdDateTime, ...), MTO transitions and the `Date` response header follow it, so a test
//! can watch a two-hour wait pass in seconds. Token lifetimes and throttling windows stay in
//! real seconds, because clients measure them with their own clocks.

use std::sync::Mutex;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

#[derive(Debug)]
pub struct Clock {
    start: Timestamp,
    start_real: Instant,
    scale: f64,
    /// Extra emulated seconds added by [`Clock::advance`].
    advanced: Mutex<f64>,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Self::starting_at(Timestamp::now(), scale)
    }

    pub fn starting_at(start: Timestamp, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            start,
            start_real: Instant::now(),
            scale,
            advanced: Mutex::new(0.0),
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The current emulated instant.
    pub fn now(&self) -> Timestamp {
        let secs =
            self.start_real.elapsed().as_secs_f64() * self.scale + *self.advanced.lock().unwrap();
        self.start
            .saturating_add(SignedDuration::from_secs_f64(secs))
            .unwrap_or(self.start)
    }

    /// Jump emulated time forward (never backward).
    pub fn advance(&self, emulated_secs: f64) {
        if emulated_secs.is_finite() && emulated_secs > 0.0 {
            *self.advanced.lock().unwrap() += emulated_secs;
        }
    }
}

/// Graph's DateTimeOffset rendering: UTC with a `Z` and no more than 7 fractional digits.
pub fn graph_time(t: Timestamp) -> String {
    let s = t.strftime("%Y-%m-%dT%H:%M:%S%.f").to_string();
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.is_empty() {
        format!("{whole}Z")
    } else {
        format!("{whole}.{}Z", &frac[..frac.len().min(7)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_faster_and_advances() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = Clock::starting_at(start, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let elapsed = c.now().duration_since(start).as_secs_f64();
        assert!(elapsed >= 20.0, "{elapsed}");
        c.advance(7200.0);
        assert!(c.now().duration_since(start).as_secs_f64() >= 7220.0);
    }

    #[test]
    fn graph_time_format() {
        let t: Timestamp = "2026-01-01T00:00:00.123456789Z".parse().unwrap();
        assert_eq!(graph_time(t), "2026-01-01T00:00:00.1234567Z");
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(graph_time(t), "2026-01-01T00:00:00Z");
    }
}
