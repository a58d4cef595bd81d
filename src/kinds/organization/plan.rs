//! The pure step between observing Graph and acting: what to do with an Organization.

use graph_client::types::{Organization, OrganizationPatch};

use super::{CreationMode, OrganizationSpec};
use crate::{
    kinds::ManagementPolicy,
    reconciler::{Reason, create_record::Recorded},
};

/// What the operator saw in Graph.
// One per round, moved straight into the plan: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Observed {
    /// The id is recorded on the resource: Graph's copy of it (`None` if Graph no longer has it).
    Known(Option<Organization>),
    /// No id yet: every organization the tenant lists.
    Candidates(Vec<Organization>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// Take over an existing organization (`recovered`: the one an interrupted create made),
    /// then bring its writable fields in line (or, observe-only, report how they differ).
    Adopt {
        org: Organization,
        recovered: bool,
        then: AfterAdopt,
    },
    /// Create one. `preexisting_ids` goes into the create's intent, on the resource, first.
    Create {
        preexisting_ids: Vec<String>,
    },
    /// PATCH only the writable fields that differ.
    Update {
        org: Organization,
        patch: OrganizationPatch,
    },
    InSync {
        org: Organization,
    },
    /// managementPolicy Observe: Graph differs from the spec in `fields`; report, don't write.
    Drifted {
        org: Organization,
        fields: Vec<String>,
    },
    /// Nothing can be done without a person: ambiguous matches, nothing to adopt, gone.
    Stall {
        reason: Reason,
        message: String,
    },
    /// An interrupted create may have landed without showing in Graph's lists yet: not created
    /// again for `left`, that is until `until`.
    AwaitConsistency {
        left: std::time::Duration,
        until: jiff::Timestamp,
    },
}

/// The wait for a create that started at `started_at`, while the consistency window lasts;
/// `None` once it has passed (or if the record's time can't be read, which can't be waited out
/// either).
fn await_consistency(started_at: &str, clock: CreateClock) -> Option<Plan> {
    let started: jiff::Timestamp = started_at.parse().ok()?;
    let elapsed = std::time::Duration::try_from(clock.now.duration_since(started)).ok()?;
    let left = clock
        .consistency_window
        .checked_sub(elapsed)
        .filter(|d| !d.is_zero())?;
    let until = started.checked_add(clock.consistency_window).ok()?;
    Some(Plan::AwaitConsistency { left, until })
}

/// What follows an adoption.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AfterAdopt {
    Nothing,
    /// PATCH the writable fields that differ.
    Update(OrganizationPatch),
    /// managementPolicy Observe: these fields differ; report, don't write.
    Report(Vec<String>),
}

/// When the plan is made, and how long Graph's directory may take to show a create in lists.
/// Both ends of the window are Graph's time (the `Date` of its answers), never an operator's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CreateClock {
    /// Graph's time of the list the plan is made from.
    pub(crate) now: jiff::Timestamp,
    pub(crate) consistency_window: std::time::Duration,
}

pub(crate) fn plan(
    spec: &OrganizationSpec,
    recorded: &Recorded,
    observed: Observed,
    clock: CreateClock,
) -> Plan {
    let plan = manage(spec, recorded, observed, clock);
    if spec.management_policy != ManagementPolicy::Observe {
        return plan;
    }
    // Observe-only: whatever would write to Graph becomes a report.
    match plan {
        Plan::Adopt {
            org,
            recovered,
            then: AfterAdopt::Update(patch),
        } => Plan::Adopt {
            org,
            recovered,
            then: AfterAdopt::Report(patch.field_names()),
        },
        Plan::Update { org, patch } => Plan::Drifted {
            org,
            fields: patch.field_names(),
        },
        Plan::Create { .. } => Plan::Stall {
            reason: Reason::NotFoundInGraph,
            message: format!(
                "managementPolicy Observe: no organization named {:?} in the tenant, and observe-only never creates one",
                spec.display_name
            ),
        },
        other => other,
    }
}

fn manage(
    spec: &OrganizationSpec,
    recorded: &Recorded,
    observed: Observed,
    clock: CreateClock,
) -> Plan {
    match observed {
        Observed::Known(Some(org)) => {
            let patch = drift(&spec.writable(), &org.fields.writable);
            if patch.is_empty() {
                Plan::InSync { org }
            } else {
                Plan::Update { org, patch }
            }
        }
        Observed::Known(None) => Plan::Stall {
            reason: Reason::NotFoundInGraph,
            message: format!(
                "organization {} is no longer in Graph; it was not re-created, to avoid a duplicate",
                recorded.id.as_deref().unwrap_or_default()
            ),
        },
        Observed::Candidates(all) => {
            let matches: Vec<Organization> = all
                .into_iter()
                .filter(|o| o.fields.display_name.as_deref() == Some(spec.display_name.as_str()))
                .collect();
            let ids = |v: &[Organization]| v.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
            if let Some(pending) = &recorded.intent {
                let fresh: Vec<Organization> = matches
                    .iter()
                    .filter(|o| !pending.preexisting_ids.contains(&o.id))
                    .cloned()
                    .collect();
                return match fresh.len() {
                    1 => adopt(spec, fresh, true),
                    // Graph's lists lag its writes: an interrupted create that did land may not
                    // show yet. Create again only once the window has passed with nothing new.
                    0 => await_consistency(&pending.started_at, clock).unwrap_or_else(|| {
                        Plan::Create {
                            preexisting_ids: ids(&matches),
                        }
                    }),
                    n => Plan::Stall {
                        reason: Reason::Ambiguous,
                        message: format!(
                            "{n} organizations named {:?} appeared after the interrupted create of {} ({}); \
                             keep one with creationMode AdoptOnly after removing the others",
                            spec.display_name,
                            pending.started_at,
                            ids(&fresh).join(", ")
                        ),
                    },
                };
            }
            match (spec.creation_mode, matches.len()) {
                (CreationMode::Create, _) => Plan::Create {
                    preexisting_ids: ids(&matches),
                },
                (_, 1) => adopt(spec, matches, false),
                (CreationMode::AdoptOrCreate, 0) => Plan::Create {
                    preexisting_ids: vec![],
                },
                (CreationMode::AdoptOnly, 0) => Plan::Stall {
                    reason: Reason::NotFoundInGraph,
                    message: format!(
                        "creationMode AdoptOnly: no organization named {:?} in the tenant",
                        spec.display_name
                    ),
                },
                (_, n) => Plan::Stall {
                    reason: Reason::Ambiguous,
                    message: format!(
                        "{n} organizations are named {:?} ({}); refusing to guess which to adopt",
                        spec.display_name,
                        ids(&matches).join(", ")
                    ),
                },
            }
        }
    }
}

/// Adopt the one organization in `found` and patch what differs from the spec.
fn adopt(spec: &OrganizationSpec, found: Vec<Organization>, recovered: bool) -> Plan {
    let Some(org) = found.into_iter().next() else {
        return Plan::Create {
            preexisting_ids: vec![],
        };
    };
    let patch = drift(&spec.writable(), &org.fields.writable);
    Plan::Adopt {
        org,
        recovered,
        then: if patch.is_empty() {
            AfterAdopt::Nothing
        } else {
            AfterAdopt::Update(patch)
        },
    }
}

/// The declared writable fields that differ from Graph's; unset fields are not managed.
fn drift(desired: &OrganizationPatch, actual: &OrganizationPatch) -> OrganizationPatch {
    fn pick<T: PartialEq + Clone>(want: &Option<T>, have: &Option<T>) -> Option<T> {
        want.as_ref().filter(|w| have.as_ref() != Some(*w)).cloned()
    }
    OrganizationPatch {
        marketing_notification_emails: pick(
            &desired.marketing_notification_emails,
            &actual.marketing_notification_emails,
        ),
        privacy_profile: pick(&desired.privacy_profile, &actual.privacy_profile),
        security_compliance_notification_mails: pick(
            &desired.security_compliance_notification_mails,
            &actual.security_compliance_notification_mails,
        ),
        security_compliance_notification_phones: pick(
            &desired.security_compliance_notification_phones,
            &actual.security_compliance_notification_phones,
        ),
        technical_notification_mails: pick(
            &desired.technical_notification_mails,
            &actual.technical_notification_mails,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconciler::create_record::CreateIntent;

    fn clock() -> CreateClock {
        CreateClock {
            now: "2026-01-01T00:10:00Z".parse().unwrap(),
            consistency_window: std::time::Duration::from_secs(60),
        }
    }

    fn spec(mode: CreationMode) -> OrganizationSpec {
        serde_json::from_value(serde_json::json!({
            "connectionRef": {"name": "c"}, "displayName": "Contoso", "creationMode": format!("{mode:?}"),
            "technicalNotificationMails": ["ops@contoso.com"]
        }))
        .unwrap()
    }

    fn org(id: &str, name: &str) -> Organization {
        let mut o = Organization {
            id: id.into(),
            ..Default::default()
        };
        o.fields.display_name = Some(name.into());
        o
    }

    #[test]
    fn adopt_or_create_adopts_the_single_match_and_creates_when_none() {
        let s = spec(CreationMode::AdoptOrCreate);
        let st = Recorded::default();
        assert!(matches!(
            plan(&s, &st, Observed::Candidates(vec![org("1", "Contoso"), org("2", "Fabrikam")]), clock()),
            Plan::Adopt { ref org, recovered: false, .. } if org.id == "1"
        ));
        assert_eq!(
            plan(
                &s,
                &st,
                Observed::Candidates(vec![org("2", "Fabrikam")]),
                clock()
            ),
            Plan::Create {
                preexisting_ids: vec![]
            }
        );
        assert!(matches!(
            plan(
                &s,
                &st,
                Observed::Candidates(vec![org("1", "Contoso"), org("3", "Contoso")]),
                clock()
            ),
            Plan::Stall {
                reason: Reason::Ambiguous,
                ..
            }
        ));
    }

    #[test]
    fn create_mode_records_existing_namesakes_and_adopt_only_never_creates() {
        let st = Recorded::default();
        assert_eq!(
            plan(
                &spec(CreationMode::Create),
                &st,
                Observed::Candidates(vec![org("1", "Contoso")]),
                clock()
            ),
            Plan::Create {
                preexisting_ids: vec!["1".into()]
            }
        );
        assert!(matches!(
            plan(
                &spec(CreationMode::AdoptOnly),
                &st,
                Observed::Candidates(vec![]),
                clock()
            ),
            Plan::Stall {
                reason: Reason::NotFoundInGraph,
                ..
            }
        ));
    }

    #[test]
    fn an_interrupted_create_is_recovered_by_adoption_never_by_a_second_create() {
        let st = Recorded {
            intent: Some(CreateIntent {
                started_at: "2026-01-01T00:00:00Z".into(),
                preexisting_ids: vec!["1".into()],
            }),
            ..Default::default()
        };
        let s = spec(CreationMode::Create);
        // The call landed: exactly one new namesake.
        assert!(matches!(
            plan(&s, &st, Observed::Candidates(vec![org("1", "Contoso"), org("9", "Contoso")]), clock()),
            Plan::Adopt { ref org, recovered: true, .. } if org.id == "9"
        ));
        // The call never landed: create again, once Graph's lists had time to show it.
        assert!(matches!(
            plan(
                &s,
                &st,
                Observed::Candidates(vec![org("1", "Contoso")]),
                clock()
            ),
            Plan::Create { .. }
        ));
        let soon = CreateClock {
            now: "2026-01-01T00:00:20Z".parse().unwrap(),
            ..clock()
        };
        assert_eq!(
            plan(
                &s,
                &st,
                Observed::Candidates(vec![org("1", "Contoso")]),
                soon
            ),
            Plan::AwaitConsistency {
                left: std::time::Duration::from_secs(40),
                until: "2026-01-01T00:01:00Z".parse().unwrap(),
            },
            "inside the window, a missing namesake may only be lagging"
        );
        // Two new namesakes: can't tell which is ours.
        assert!(matches!(
            plan(
                &s,
                &st,
                Observed::Candidates(vec![org("8", "Contoso"), org("9", "Contoso")]),
                clock()
            ),
            Plan::Stall {
                reason: Reason::Ambiguous,
                ..
            }
        ));
    }

    #[test]
    fn observe_only_reports_drift_and_never_creates() {
        let mut s = spec(CreationMode::AdoptOrCreate);
        s.management_policy = ManagementPolicy::Observe;
        let st = Recorded::default();
        assert!(matches!(
            plan(&s, &st, Observed::Candidates(vec![]), clock()),
            Plan::Stall {
                reason: Reason::NotFoundInGraph,
                ..
            }
        ));
        let o = org("1", "Contoso");
        assert_eq!(
            plan(&s, &st, Observed::Known(Some(o.clone())), clock()),
            Plan::Drifted {
                org: o,
                fields: vec!["technicalNotificationMails".into()]
            }
        );
    }

    #[test]
    fn only_declared_writable_fields_that_differ_are_patched() {
        let s = spec(CreationMode::AdoptOrCreate);
        let mut o = org("1", "Contoso");
        o.fields.writable.marketing_notification_emails = Some(vec!["x@y.z".into()]);
        let Plan::Update { patch, .. } = plan(
            &s,
            &Recorded::default(),
            Observed::Known(Some(o.clone())),
            clock(),
        ) else {
            panic!("expected an update")
        };
        assert_eq!(
            patch.technical_notification_mails,
            Some(vec!["ops@contoso.com".to_string()])
        );
        assert_eq!(
            patch.marketing_notification_emails, None,
            "unmanaged fields are left alone"
        );
        o.fields.writable.technical_notification_mails = Some(vec!["ops@contoso.com".into()]);
        assert!(matches!(
            plan(&s, &Recorded::default(), Observed::Known(Some(o)), clock()),
            Plan::InSync { .. }
        ));
    }
}
