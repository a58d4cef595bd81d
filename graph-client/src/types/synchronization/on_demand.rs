//! provisionOnDemand's answer, read defensively
//! ("synchronizationJob: provisionOnDemand" and Entra's cross-tenant how-to show two forms).

use serde_json::Value;

use super::KeyValue;

/// What provisionOnDemand said, read defensively: both documented forms carry their result
/// as JSON inside strings, and neither is promised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnDemandOutcome {
    /// `Success`, `Skipped`, `Failure`, … when Graph says; `None` when it can't be read.
    pub result: Option<String>,
    /// The failing step's description, or the last step's.
    pub detail: Option<String>,
}

impl KeyValue {
    /// Read a provisionOnDemand answer: the generic form's `key` is `{"result": …}`, the
    /// cross-tenant form's `value` a JSON array of steps with `status` (Entra's Graph how-to).
    pub fn on_demand_outcome(&self) -> OnDemandOutcome {
        let parse = |s: &Option<String>| -> Option<Value> {
            serde_json::from_str(s.as_deref().unwrap_or_default()).ok()
        };
        let mut out = OnDemandOutcome::default();
        if let Some(k) = parse(&self.key) {
            out.result = k.get("result").and_then(Value::as_str).map(String::from);
        }
        let steps: Vec<Value> = match parse(&self.value) {
            Some(Value::Array(items)) => items
                .iter()
                .flat_map(|i| {
                    i.get("provisioningSteps")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_else(|| vec![i.clone()])
                })
                .collect(),
            Some(Value::Object(o)) => o
                .get("provisioningSteps")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let status = |s: &Value| s.get("status").and_then(Value::as_str).map(String::from);
        let failed = steps.iter().find(|s| {
            status(s).is_some_and(|st| !matches!(st.as_str(), "Success" | "success" | "Skipped"))
        });
        let last = failed.or(steps.last());
        if out.result.is_none() {
            out.result = match failed {
                Some(f) => status(f),
                None if !steps.is_empty() => Some("Success".into()),
                None => None,
            };
        }
        out.detail = last
            .and_then(|s| s.get("description"))
            .and_then(Value::as_str)
            .map(String::from);
        out
    }
}
