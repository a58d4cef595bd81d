//! kstatus conditions: `Ready`, `Reconciling` and `Stalled`, computed from one [`Health`].
//!
//! `lastTransitionTime` moves only when a condition's status flips, so re-computing the same
//! health yields identical conditions and the status write is skipped.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Where a resource stands, as a user would say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Graph matches the spec.
    Ready {
        reason: &'static str,
        message: String,
    },
    /// Work is under way or will be retried by itself.
    Progressing {
        reason: &'static str,
        message: String,
    },
    /// Nothing will change until the spec, a Secret or Graph's grants change.
    Stalled {
        reason: &'static str,
        message: String,
    },
}

impl Health {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Ready { reason, .. }
            | Self::Progressing { reason, .. }
            | Self::Stalled { reason, .. } => reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Ready { message, .. }
            | Self::Progressing { message, .. }
            | Self::Stalled { message, .. } => message,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: &[Condition],
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        // The API server limits messages to 32768 bytes.
        message: truncate(message, 4096),
        observed_generation: generation,
        last_transition_time,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The three kstatus conditions for `health`, keeping transition times from `previous`.
pub fn conditions_for(
    health: &Health,
    generation: Option<i64>,
    previous: &[Condition],
    now: Time,
) -> Vec<Condition> {
    let (reason, message) = (health.reason(), health.message());
    let ready = health.is_ready();
    let progressing = matches!(health, Health::Progressing { .. });
    let stalled = matches!(health, Health::Stalled { .. });
    vec![
        condition(READY, ready, reason, message, generation, previous, &now),
        condition(
            RECONCILING,
            progressing,
            if progressing { reason } else { "Idle" },
            if progressing { message } else { "" },
            generation,
            previous,
            &now,
        ),
        condition(
            STALLED,
            stalled,
            if stalled { reason } else { "NotStalled" },
            if stalled { message } else { "" },
            generation,
            previous,
            &now,
        ),
    ]
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn recomputing_the_same_health_changes_nothing() {
        let h = Health::Ready {
            reason: "Created",
            message: "ok".into(),
        };
        let first = conditions_for(&h, Some(1), &[], t("2026-01-01T00:00:00Z"));
        let again = conditions_for(&h, Some(1), &first, t("2026-01-01T01:00:00Z"));
        assert_eq!(first, again);
    }

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let p = Health::Progressing {
            reason: "Creating",
            message: "x".into(),
        };
        let first = conditions_for(&p, Some(1), &[], t("2026-01-01T00:00:00Z"));
        let r = Health::Ready {
            reason: "Created",
            message: "ok".into(),
        };
        let second = conditions_for(&r, Some(1), &first, t("2026-01-01T00:05:00Z"));
        let ready = find(&second, READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, t("2026-01-01T00:05:00Z"));
        // Stalled was False before and after: its time is kept.
        assert_eq!(
            find(&second, STALLED).unwrap().last_transition_time,
            t("2026-01-01T00:00:00Z")
        );
        assert!(is_true(
            &find(&first, RECONCILING)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            RECONCILING
        ));
    }

    #[test]
    fn stalled_sets_ready_false_and_stalled_true() {
        let s = Health::Stalled {
            reason: "MissingPermission",
            message: "needs X".into(),
        };
        let c = conditions_for(&s, Some(3), &[], t("2026-01-01T00:00:00Z"));
        assert!(!is_true(&c, READY) && is_true(&c, STALLED) && !is_true(&c, RECONCILING));
        assert_eq!(find(&c, READY).unwrap().reason, "MissingPermission");
        assert!(c.iter().all(|c| c.observed_generation == Some(3)));
    }
}
