//! Schema fragments shared by the CRDs: patterns and CEL rules whose messages name the field.

/// A tenant or object id.
pub const GUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A tenant id: a GUID or a verified domain name.
pub const TENANT_PATTERN: &str = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z]{2,63})$";
/// ISO 3166-1 alpha-2.
pub const COUNTRY_LETTER_CODE_PATTERN: &str = "^[A-Z]{2}$";
/// An e-mail address (the API server's `email` format is stricter than needed here and its
/// message doesn't name the rule; a pattern reads better in errors).
pub const EMAIL_PATTERN: &str = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$";
/// A phone number as Graph stores it: digits, spaces and + - ( ) . only.
pub const PHONE_PATTERN: &str = "^\\+?[0-9 ()\\-.]{3,32}$";
/// `https://…`, or plain `http://` to a loopback address only.
pub const ENDPOINT_PATTERN: &str = "^(https://[^\\s/]+(/.*)?|http://(127\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|localhost|\\[::1\\])(:[0-9]{1,5})?(/.*)?)$";
/// A Kubernetes object name (DNS subdomain).
pub const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

/// CEL rule: an optional field keeps its value once set (or stays unset).
pub fn immutable_optional(field: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"),
        "message": format!("{field} cannot be changed after creation: Graph does not update it"),
        "fieldPath": format!(".{field}"),
        "reason": "FieldValueForbidden",
    })
}

/// CEL rule: a required field keeps its value.
pub fn immutable(field: &str, why: &str) -> serde_json::Value {
    serde_json::json!({
        "rule": format!("self.{field} == oldSelf.{field}"),
        "message": format!("{field} cannot be changed after creation: {why}"),
        "fieldPath": format!(".{field}"),
        "reason": "FieldValueForbidden",
    })
}
