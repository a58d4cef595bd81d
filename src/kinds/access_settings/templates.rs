//! The templates step: before a tenant creates or joins a multi-tenant organization, its two
//! template singletons are brought to the spec (Microsoft's order: templates first, since a
//! join applies them to the partner settings it generates). Declared templates get minimal
//! PATCHes; a template this resource managed and the spec no longer declares is reset to
//! Graph's defaults; a template never declared is never touched.

use graph_client::{
    ApiVersion, GraphApi,
    types::{IdentitySyncTemplate, PartnerConfigurationTemplate, PatchBody, TemplateKind},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    TemplatesSpec,
    diff::{Nulls, minimal_patch},
};
use crate::{
    error::Result,
    kinds::{Context, TenantConnection, tenant_connection::require_granted},
    reconciler::{Kind, Round},
};

/// What writing the templates needs in the tenant.
pub(crate) const TEMPLATES_ROLE: &str = "Policy.ReadWrite.CrossTenantAccess";

/// A template this resource has set, recorded in status so that removing it from the spec
/// resets it (and a template the resource never declared is left alone).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ManagedTemplate {
    IdentitySynchronization,
    PartnerConfiguration,
}

impl ManagedTemplate {
    const ALL: [Self; 2] = [Self::IdentitySynchronization, Self::PartnerConfiguration];

    fn graph(self) -> TemplateKind {
        match self {
            Self::IdentitySynchronization => TemplateKind::IdentitySynchronization,
            Self::PartnerConfiguration => TemplateKind::PartnerConfiguration,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::IdentitySynchronization => "identitySynchronization",
            Self::PartnerConfiguration => "partnerConfiguration",
        }
    }

    /// The declared template, as Graph's JSON (only the declared properties).
    fn declared(self, spec: Option<&TemplatesSpec>) -> Option<Value> {
        let spec = spec?;
        match self {
            Self::IdentitySynchronization => spec
                .identity_synchronization
                .as_ref()
                .map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
            Self::PartnerConfiguration => spec
                .partner_configuration
                .as_ref()
                .map(|t| serde_json::to_value(t).unwrap_or(Value::Null)),
        }
    }
}

/// What Graph holds, for the declared templates (the others are not read).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ObservedTemplates {
    pub(crate) identity_synchronization: Option<IdentitySyncTemplate>,
    pub(crate) partner_configuration: Option<PartnerConfigurationTemplate>,
}

impl ObservedTemplates {
    fn json(&self, t: ManagedTemplate) -> Value {
        let v = match t {
            ManagedTemplate::IdentitySynchronization => {
                serde_json::to_value(&self.identity_synchronization)
            }
            ManagedTemplate::PartnerConfiguration => {
                serde_json::to_value(&self.partner_configuration)
            }
        };
        v.unwrap_or(Value::Null)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TemplateAction {
    Patch(ManagedTemplate, PatchBody),
    Reset(ManagedTemplate),
}

/// The pure plan: PATCH what is declared and differs, reset what was managed and is no longer
/// declared. Also returns the templates managed once the actions are done.
pub(crate) fn templates_plan(
    spec: Option<&TemplatesSpec>,
    managed: &[ManagedTemplate],
    observed: &ObservedTemplates,
) -> (Vec<TemplateAction>, Vec<ManagedTemplate>) {
    let mut actions = Vec::new();
    let mut now_managed = Vec::new();
    for t in ManagedTemplate::ALL {
        match t.declared(spec) {
            Some(want) => {
                let patch = minimal_patch(&want, &observed.json(t), Nulls::LeaveAlone);
                if !patch.is_empty() {
                    actions.push(TemplateAction::Patch(t, patch));
                }
                now_managed.push(t);
            }
            None if managed.contains(&t) => actions.push(TemplateAction::Reset(t)),
            None => {}
        }
    }
    (actions, now_managed)
}

/// Observe, plan and apply the templates of the connection's tenant. Returns the templates now
/// managed (for status) and a line per change made (for an Event); nothing is read or written
/// when the spec declares no template and none was managed.
pub(crate) async fn converge<K: Kind>(
    round: &mut Round<K>,
    ctx: &Context,
    conn: &TenantConnection,
    graph: &dyn GraphApi,
    v: ApiVersion,
    spec: Option<&TemplatesSpec>,
    managed: &[ManagedTemplate],
) -> Result<(Vec<ManagedTemplate>, Vec<String>)> {
    let declared = spec
        .is_some_and(|s| s.identity_synchronization.is_some() || s.partner_configuration.is_some());
    if !declared && managed.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Checked once per spec change and resync, not at every poll of a running join.
    if !round.part_due(PART) {
        return Ok((managed.to_vec(), Vec::new()));
    }
    require_granted(ctx, conn, TEMPLATES_ROLE).await?;
    let mut observed = ObservedTemplates::default();
    if let Some(s) = spec {
        if s.identity_synchronization.is_some() {
            observed.identity_synchronization = Some(graph.get_identity_sync_template(v).await?);
        }
        if s.partner_configuration.is_some() {
            observed.partner_configuration = Some(graph.get_partner_template(v).await?);
        }
    }
    let (actions, now_managed) = templates_plan(spec, managed, &observed);
    let mut changes = Vec::new();
    for action in actions {
        round.may_write()?;
        match action {
            TemplateAction::Patch(t, patch) => {
                graph.update_template(v, t.graph(), &patch).await?;
                let fields: Vec<&str> = patch.keys().map(String::as_str).collect();
                changes.push(format!("template {} set ({})", t.name(), fields.join(", ")));
            }
            TemplateAction::Reset(t) => {
                graph.reset_template(v, t.graph()).await?;
                changes.push(format!("template {} reset to defaults", t.name()));
            }
        }
    }
    round.part_done(PART);
    Ok((now_managed, changes))
}

/// The name under which the round remembers when the templates were last checked.
const PART: &str = "templates";

#[cfg(test)]
mod tests {
    use super::*;
    use graph_client::types::UserSyncInbound;

    fn spec(json: serde_json::Value) -> TemplatesSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn declared_templates_are_patched_only_where_they_differ() {
        let s = spec(serde_json::json!({
            "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}},
            "partnerConfiguration": {"automaticUserConsentSettings": {"inboundAllowed": true},
                                     "templateApplicationLevel": "newPartners"},
        }));
        let observed = ObservedTemplates {
            identity_synchronization: Some(IdentitySyncTemplate {
                id: Some("x".into()),
                template_application_level: Some("newPartners,existingPartners".into()),
                user_sync_inbound: Some(UserSyncInbound {
                    is_sync_allowed: Some(true),
                }),
            }),
            partner_configuration: Some(PartnerConfigurationTemplate::default()),
        };
        let (actions, managed) = templates_plan(Some(&s), &[], &observed);
        assert_eq!(managed, ManagedTemplate::ALL.to_vec());
        assert_eq!(actions.len(), 1, "{actions:?}");
        let TemplateAction::Patch(ManagedTemplate::PartnerConfiguration, patch) = &actions[0]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(
            serde_json::Value::Object(patch.clone()),
            serde_json::json!({
                "automaticUserConsentSettings": {"inboundAllowed": true},
                "templateApplicationLevel": "newPartners"
            })
        );
    }

    #[test]
    fn a_template_removed_from_the_spec_is_reset_and_one_never_declared_is_left_alone() {
        let s = spec(serde_json::json!({
            "identitySynchronization": {"userSyncInbound": {"isSyncAllowed": true}},
        }));
        let observed = ObservedTemplates {
            identity_synchronization: Some(IdentitySyncTemplate {
                user_sync_inbound: Some(UserSyncInbound {
                    is_sync_allowed: Some(true),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (actions, managed) = templates_plan(Some(&s), &[], &observed);
        assert!(actions.is_empty(), "{actions:?}");
        assert_eq!(managed, vec![ManagedTemplate::IdentitySynchronization]);

        let (actions, managed) = templates_plan(None, &ManagedTemplate::ALL, &observed);
        assert_eq!(
            actions,
            vec![
                TemplateAction::Reset(ManagedTemplate::IdentitySynchronization),
                TemplateAction::Reset(ManagedTemplate::PartnerConfiguration)
            ]
        );
        assert!(managed.is_empty());
    }
}
