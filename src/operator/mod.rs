//! `graph-org-operator run`: the controllers, the HTTP endpoints, and their wiring.

mod context;
pub mod finalizer;
pub mod metrics;
pub mod reconcile_outcome;
mod run;

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
    time::Duration,
};

pub use context::{Context, Settings};
pub use run::{RunArgs, run};

use crate::resources::annotations;

/// Crash tests widen the window between a Graph create and its status write by naming a delay
/// in this environment variable; unset (always, in production) it costs nothing.
pub async fn test_hook_pause(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        tracing::warn!(var, ms, "test hook: pausing");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The pause annotation is set to "true".
pub fn is_paused(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(annotations::PAUSED)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The per-resource resync interval (`graphorg.io/resync-interval: 10m`), if valid.
pub fn resync_override(annotations: &BTreeMap<String, String>) -> Option<Duration> {
    let v = annotations.get(annotations::RESYNC_INTERVAL)?;
    parse_duration(v).filter(|d| *d >= Duration::from_secs(10))
}

/// `90s`, `10m`, `2h`, or plain seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Changes when an annotation that asks for action changes (reconcile-now, resync, pause).
pub fn annotation_fingerprint(annotations: &BTreeMap<String, String>) -> i64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for k in [
        annotations::RECONCILE_REQUESTED_AT,
        annotations::RESYNC_INTERVAL,
        annotations::PAUSED,
    ] {
        annotations.get(k).hash(&mut h);
    }
    (h.finish() >> 1) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5d"), None);
        let mut a = BTreeMap::new();
        a.insert(annotations::RESYNC_INTERVAL.to_string(), "1s".to_string());
        assert_eq!(resync_override(&a), None, "too short to honour");
        a.insert(annotations::PAUSED.to_string(), "True".to_string());
        assert!(is_paused(&a));
    }
}
