//! The pacer on its own: the pace a 429 sets, its cap, and when it is forgotten.

use std::time::{Duration, Instant};

use crate::http::throttle::Pacer;

#[test]
fn the_pacer_spaces_requests_by_the_longest_retry_after_and_forgets_later() {
    let t0 = Instant::now();
    let mut p = Pacer::default();
    assert_eq!(p.take_slot(t0), t0, "no pacing before a 429");
    p.throttled(Duration::from_millis(50), t0);
    p.throttled(Duration::from_millis(40), t0);
    let a = p.take_slot(t0);
    let b = p.take_slot(t0);
    assert_eq!(
        b - a,
        Duration::from_micros(53_550),
        "the longest Retry-After + 2%, +5% for the second 429"
    );
    let mut long = Pacer::default();
    long.throttled(Duration::from_secs(2), t0);
    let (a, b) = (long.take_slot(t0), long.take_slot(t0));
    assert_eq!(
        b - a,
        Pacer::MAX_INTERVAL,
        "a long Retry-After pauses (the gate) but doesn't set the pace"
    );
    let later = t0 + Pacer::FORGET_AFTER + Duration::from_secs(1);
    assert_eq!(
        p.take_slot(later),
        later,
        "pacing is dropped after a quiet minute"
    );

    let mut random = Pacer::default();
    for _ in 0..200 {
        random.throttled(Duration::from_millis(80), t0);
    }
    let (a, b) = (random.take_slot(t0), random.take_slot(t0));
    assert_eq!(
        b - a,
        Pacer::MAX_INTERVAL,
        "200 random 429s slow the pace to the cap, no further"
    );
}

#[test]
fn the_pacer_keeps_its_pace_while_demand_stays_above_it() {
    let t0 = Instant::now();
    let mut p = Pacer::default();
    p.throttled(Duration::from_millis(50), t0);
    // Eight callers asking every 40 ms (faster than the 51 ms pace) for three minutes, with
    // no 429 after the first: every request still gets a slot 51 ms after the previous one.
    let mut last = p.take_slot(t0);
    let mut now = t0;
    while now < t0 + Duration::from_secs(180) {
        now += Duration::from_millis(40);
        let slot = p.take_slot(now);
        assert_eq!(slot - last, Duration::from_millis(51), "at {:?}", now - t0);
        last = slot;
    }
}
