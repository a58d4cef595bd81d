//! The annotations users may set on any resource, parsed with bounds: no value, however odd,
//! can make a round panic or wait for an absurd time.

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
    time::Duration,
};

/// Any new value asks for a reconcile now (e.g. a timestamp).
pub(crate) const RECONCILE_REQUESTED_AT: &str = "graphorg.io/reconcile-requested-at";
/// `"true"`: no Graph calls (and no status writes) while set.
pub(crate) const PAUSED: &str = "graphorg.io/paused";
/// This resource's periodic comparison with Graph (e.g. `10m`, `2h`).
pub(crate) const RESYNC_INTERVAL: &str = "graphorg.io/resync-interval";

/// The shortest and longest resync a resource may ask for.
pub(crate) const MIN_RESYNC: Duration = Duration::from_secs(10);
pub(crate) const MAX_RESYNC: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a resource's annotations ask of the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    pub(crate) paused: bool,
    /// The resync interval, if the annotation holds a valid one.
    pub(crate) resync: Option<Duration>,
    /// Changes when an annotation that asks for action changes (reconcile-now, resync, pause).
    pub(crate) fingerprint: i64,
}

pub(crate) fn read(annotations: &BTreeMap<String, String>) -> Asked {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for k in [RECONCILE_REQUESTED_AT, RESYNC_INTERVAL, PAUSED] {
        annotations.get(k).hash(&mut h);
    }
    Asked {
        paused: annotations
            .get(PAUSED)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        resync: annotations
            .get(RESYNC_INTERVAL)
            .and_then(|v| parse_duration(v))
            .filter(|d| (MIN_RESYNC..=MAX_RESYNC).contains(d)),
        fingerprint: (h.finish() >> 1) as i64,
    }
}

/// `90s`, `10m`, `2h`, `1d`, or plain seconds. `None` for anything else, including values too
/// large to represent.
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let per_unit: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(per_unit).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(key: &str, value: &str) -> Asked {
        read(&BTreeMap::from([(key.to_string(), value.to_string())]))
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5w"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
        assert_eq!(parse_duration("18446744073709551615h"), None, "overflow");
    }

    #[test]
    fn resync_outside_its_bounds_is_ignored() {
        assert_eq!(asked(RESYNC_INTERVAL, "1s").resync, None, "too short");
        assert_eq!(asked(RESYNC_INTERVAL, "18446744073709551615").resync, None);
        assert_eq!(asked(RESYNC_INTERVAL, "-5m").resync, None);
        assert_eq!(
            asked(RESYNC_INTERVAL, "１０m").resync,
            None,
            "unicode digits"
        );
        assert_eq!(
            asked(RESYNC_INTERVAL, "10m").resync,
            Some(Duration::from_secs(600))
        );
        assert!(asked(PAUSED, "True").paused);
        assert!(!asked(PAUSED, "yes").paused);
        assert_ne!(
            asked(RECONCILE_REQUESTED_AT, "a").fingerprint,
            asked(RECONCILE_REQUESTED_AT, "b").fingerprint
        );
    }
}
