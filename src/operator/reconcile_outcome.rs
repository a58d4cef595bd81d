//! From a reconcile's result to a condition and a requeue: one policy for every kind.

use std::time::Duration;

use kube::{ResourceExt, runtime::controller::Action};

use super::Context;
use crate::{error::Error, resources::conditions::Health};

/// The condition an error leaves the resource in.
pub fn health_of(e: &Error) -> Health {
    let message = e.to_string();
    if e.is_terminal() {
        Health::Stalled {
            reason: e.reason(),
            message,
        }
    } else {
        Health::Progressing {
            reason: e.reason(),
            message: format!("{message}; retrying"),
        }
    }
}

/// When to look again: after the resync when Ready, with backoff (honouring Retry-After) when
/// progressing, and not until something changes when stalled.
pub fn action_for(
    ctx: &Context,
    key: &str,
    health: &Health,
    retry_after: Option<Duration>,
    resync: Option<Duration>,
) -> Action {
    match health {
        Health::Ready { .. } => {
            ctx.succeeded(key);
            Action::requeue(ctx.resync_after(resync))
        }
        Health::Progressing { .. } => Action::requeue(ctx.backoff(key, retry_after)),
        Health::Stalled { .. } => {
            ctx.succeeded(key);
            Action::await_change()
        }
    }
}

/// Errors that escaped a reconcile (the status write itself failed): log, count, back off.
pub fn error_policy<K: ResourceExt>(
    kind: &'static str,
    obj: &K,
    err: &Error,
    ctx: &Context,
) -> Action {
    let key = format!(
        "{kind}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    );
    tracing::warn!(kind, name = %obj.name_any(), namespace = ?obj.namespace(), error = %err, "reconcile failed");
    ctx.metrics.reconciled(kind, err.reason(), Duration::ZERO);
    Action::requeue(ctx.backoff(&key, err.retry_after()))
}

/// A status that carries kstatus conditions.
pub trait HasConditions {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];
}

/// Write `desired` (skipped if unchanged) and, when the Ready reason changes, record an Event
/// saying why. Returns whether the status was written.
pub async fn publish<K, S>(
    ctx: &Context,
    kind: &'static str,
    obj: &K,
    desired: &S,
    health: &Health,
    action: &str,
) -> Result<bool, Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + HasStatus<S>,
    S: serde::Serialize + PartialEq + HasConditions,
{
    let api: kube::Api<K> =
        kube::Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let current = obj.current_status();
    let wrote = crate::resources::status::apply(&api, obj, current, desired).await?;
    if wrote {
        ctx.metrics
            .status_writes
            .get_or_create(&super::metrics::KindLabels { kind })
            .inc();
        let before = current
            .and_then(|s| crate::resources::conditions::find(s.conditions(), "Ready"))
            .map(|c| c.reason.clone());
        if before.as_deref() != Some(health.reason()) && !matches!(health, Health::Ready { .. }) {
            let type_ = if matches!(health, Health::Stalled { .. }) {
                kube::runtime::events::EventType::Warning
            } else {
                kube::runtime::events::EventType::Normal
            };
            ctx.event(
                &obj.object_ref(&()),
                type_,
                health.reason(),
                action,
                health.message().to_string(),
            )
            .await;
        }
    }
    Ok(wrote)
}

/// Access to a custom resource's status.
pub trait HasStatus<S> {
    fn current_status(&self) -> Option<&S>;
}
