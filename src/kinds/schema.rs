//! Schema fragments shared by the CRDs: patterns and CEL rules whose messages name the field.

/// A tenant or object id.
pub(crate) const GUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A tenant id: a GUID or a verified domain name.
pub(crate) const TENANT_PATTERN: &str = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z]{2,63})$";
/// ISO 3166-1 alpha-2.
pub(crate) const COUNTRY_LETTER_CODE_PATTERN: &str = "^[A-Z]{2}$";
/// An e-mail address (the API server's `email` format is stricter than needed here and its
/// message doesn't name the rule; a pattern reads better in errors).
pub(crate) const EMAIL_PATTERN: &str = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$";
/// A phone number as Graph stores it: digits, spaces and + - ( ) . only.
pub(crate) const PHONE_PATTERN: &str = "^\\+?[0-9 ()\\-.]{3,32}$";
/// `https://…`, or plain `http://` to a loopback address only.
pub(crate) const ENDPOINT_PATTERN: &str = "^(https://[^\\s/]+(/.*)?|http://(127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|localhost|\\[::1\\])(:[0-9]{1,5})?(/.*)?)$";
/// A Kubernetes object name (DNS subdomain).
pub(crate) const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

/// Why most immutable fields are.
pub(crate) const GRAPH_DOES_NOT_UPDATE_IT: &str = "Graph does not update it";

/// CEL rule: an optional field keeps its value once set (or stays unset).
pub(crate) fn immutable_optional(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"),
        "message": format!("{field} cannot be changed after creation: {GRAPH_DOES_NOT_UPDATE_IT}"),
        "fieldPath": format!(".{field}"),
        "reason": "FieldValueForbidden",
    })
}

/// CEL rule: a required field keeps its value.
pub(crate) fn immutable(field: &str, why: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("self.{field} == oldSelf.{field}"),
        "message": format!("{field} cannot be changed after creation: {why}"),
        "fieldPath": format!(".{field}"),
        "reason": "FieldValueForbidden",
    })
}

/// Append CEL rules to a schema's `x-kubernetes-validations` (for `#[schemars(transform)]`).
pub(crate) fn add_validations(schema: &mut schemars::Schema, rules: Vec<serde_json::Value>) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let list = object
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let serde_json::Value::Array(existing) = list {
        existing.extend(rules);
    }
}
