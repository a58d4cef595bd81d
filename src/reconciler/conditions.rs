//! kstatus conditions: `Ready`, `Reconciling` and `Stalled`, computed from one [`Health`].
//!
//! `lastTransitionTime` moves only when a condition's status flips, so re-computing the same
//! health yields identical conditions and the status write is skipped.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::Reason;

pub(crate) const READY: &str = "Ready";
pub(crate) const RECONCILING: &str = "Reconciling";
pub(crate) const STALLED: &str = "Stalled";

/// Where a resource stands, as kstatus says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Graph matches the spec.
    Ready,
    /// Work is under way or will be retried by itself.
    Progressing,
    /// Nothing will change until the spec, a Secret, Graph's grants or another resource change.
    Stalled,
}

/// The outcome of one round, as the user will read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) state: State,
    pub(crate) reason: Reason,
    pub(crate) message: String,
    /// Graph is working on something asynchronous: look again after this long instead of at
    /// the resync (ignored when stalled).
    pub(crate) recheck: Option<Duration>,
}

impl Health {
    pub(crate) fn ready(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(State::Ready, reason, message)
    }

    pub(crate) fn progressing(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(State::Progressing, reason, message)
    }

    pub(crate) fn stalled(reason: Reason, message: impl Into<String>) -> Self {
        Self::new(State::Stalled, reason, message)
    }

    fn new(state: State, reason: Reason, message: impl Into<String>) -> Self {
        Self {
            state,
            reason,
            message: message.into(),
            recheck: None,
        }
    }

    /// Look at Graph again after `after` (a transition under way, a time to wait for).
    pub(crate) fn recheck_after(mut self, after: Duration) -> Self {
        self.recheck = Some(after);
        self
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.state == State::Ready
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: Reason,
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
pub(crate) fn conditions_for(
    health: &Health,
    generation: Option<i64>,
    previous: &[Condition],
    now: Time,
) -> Vec<Condition> {
    let (reason, message) = (health.reason, health.message.as_str());
    let progressing = health.state == State::Progressing;
    let stalled = health.state == State::Stalled;
    vec![
        condition(
            READY,
            health.is_ready(),
            reason,
            message,
            generation,
            previous,
            &now,
        ),
        condition(
            RECONCILING,
            progressing,
            if progressing { reason } else { Reason::Idle },
            if progressing { message } else { "" },
            generation,
            previous,
            &now,
        ),
        condition(
            STALLED,
            stalled,
            if stalled { reason } else { Reason::NotStalled },
            if stalled { message } else { "" },
            generation,
            previous,
            &now,
        ),
    ]
}

pub(crate) fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub(crate) fn is_true(conditions: &[Condition], type_: &str) -> bool {
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
        let h = Health::ready(Reason::Created, "ok");
        let first = conditions_for(&h, Some(1), &[], t("2026-01-01T00:00:00Z"));
        let again = conditions_for(&h, Some(1), &first, t("2026-01-01T01:00:00Z"));
        assert_eq!(first, again);
    }

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let p = Health::progressing(Reason::Creating, "x");
        let first = conditions_for(&p, Some(1), &[], t("2026-01-01T00:00:00Z"));
        let r = Health::ready(Reason::Created, "ok");
        let second = conditions_for(&r, Some(1), &first, t("2026-01-01T00:05:00Z"));
        let ready = find(&second, READY).unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, t("2026-01-01T00:05:00Z"));
        // Stalled was False before and after: its time is kept.
        assert_eq!(
            find(&second, STALLED).unwrap().last_transition_time,
            t("2026-01-01T00:00:00Z")
        );
        assert!(is_true(&first, RECONCILING));
    }

    #[test]
    fn stalled_sets_ready_false_and_stalled_true() {
        let s = Health::stalled(Reason::MissingPermission, "needs X");
        let c = conditions_for(&s, Some(3), &[], t("2026-01-01T00:00:00Z"));
        assert!(!is_true(&c, READY) && is_true(&c, STALLED) && !is_true(&c, RECONCILING));
        assert_eq!(find(&c, READY).unwrap().reason, "MissingPermission");
        assert!(c.iter().all(|c| c.observed_generation == Some(3)));
    }
}
