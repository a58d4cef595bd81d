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
/// `"true"` on a resource being deleted: finish the deletion without the cleanup its
/// deletionPolicy asks for (the way out when the tenant can no longer be reached).
pub(crate) const SKIP_CLEANUP: &str = "graphorg.io/skip-cleanup";

/// The skip-cleanup annotation is set to "true".
pub(crate) fn skips_cleanup(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(SKIP_CLEANUP)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

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
    /// Annotations whose value was ignored, and why; the resource is reconciled with the default.
    pub(crate) problems: Vec<String>,
}

pub(crate) fn read(annotations: &BTreeMap<String, String>) -> Asked {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for k in [RECONCILE_REQUESTED_AT, RESYNC_INTERVAL, PAUSED] {
        annotations.get(k).hash(&mut h);
    }
    let mut problems = vec![];
    let paused = match annotations
        .get(PAUSED)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" || v.is_empty() => false,
        Some(_) => {
            problems.push(ignored(PAUSED, annotations, "use \"true\" or \"false\""));
            false
        }
    };
    let resync = annotations.get(RESYNC_INTERVAL).and_then(|v| {
        let d = parse_duration(v).filter(|d| (MIN_RESYNC..=MAX_RESYNC).contains(d));
        if d.is_none() {
            problems.push(ignored(
                RESYNC_INTERVAL,
                annotations,
                "not a duration like 90s, 10m, 2h or 1d between 10s and 7d; the default applies",
            ));
        }
        d
    });
    Asked {
        paused,
        resync,
        fingerprint: (h.finish() >> 1) as i64,
        problems,
    }
}

/// "annotation K "V" ignored: why", the value cut short and quoted so that any text is safe.
fn ignored(key: &str, annotations: &BTreeMap<String, String>, why: &str) -> String {
    let value: String = annotations
        .get(key)
        .map(|v| v.chars().take(64).collect())
        .unwrap_or_default();
    format!("annotation {key} {value:?} ignored: {why}")
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
        assert!(asked(PAUSED, "false").problems.is_empty());
        assert_ne!(
            asked(RECONCILE_REQUESTED_AT, "a").fingerprint,
            asked(RECONCILE_REQUESTED_AT, "b").fingerprint
        );
    }
}

#[cfg(test)]
mod problems {
    use super::*;

    #[test]
    fn absurd_values_are_named_and_ignored() {
        for value in [
            "18446744073709551615",
            "-1s",
            "1s",
            "ten minutes",
            "１０m",
            "⚠️",
        ] {
            let a = read(&BTreeMap::from([(
                RESYNC_INTERVAL.to_string(),
                value.to_string(),
            )]));
            assert_eq!(a.resync, None, "{value}");
            assert_eq!(a.problems.len(), 1, "{value}");
            assert!(a.problems[0].contains(RESYNC_INTERVAL), "{}", a.problems[0]);
        }
        let a = read(&BTreeMap::from([(PAUSED.to_string(), "yes".to_string())]));
        assert!(!a.paused && a.problems[0].contains(PAUSED));
        let long = "x".repeat(10_000);
        let a = read(&BTreeMap::from([(RESYNC_INTERVAL.to_string(), long)]));
        assert!(a.problems[0].len() < 300, "the value is cut short");
    }
}
