//! Organizations (graph-api §1): list, get, create, update, and the index that keeps lookups
//! cheap in a tenant with thousands of them.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::*;

/// The five organization properties a PATCH may set (graph-api §1.1).
pub const ORG_WRITABLE: [&str; 5] = [
    "marketingNotificationEmails",
    "privacyProfile",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "technicalNotificationMails",
];

/// The typing Graph documents for the writable organization properties (graph-api §1.1):
/// string collections, and `privacyProfile {contactEmail, statementUrl}`. A body that doesn't fit
/// is a 400, as Graph answers.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read only to check the body's shape
pub(super) struct OrganizationUpdate {
    pub(super) marketing_notification_emails: Option<Vec<String>>,
    pub(super) privacy_profile: Option<PrivacyProfileUpdate>,
    pub(super) security_compliance_notification_mails: Option<Vec<String>>,
    pub(super) security_compliance_notification_phones: Option<Vec<String>>,
    pub(super) technical_notification_mails: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read only to check the body's shape
pub(super) struct PrivacyProfileUpdate {
    pub(super) contact_email: Option<String>,
    pub(super) statement_url: Option<String>,
}

/// When an organization created at `created` shows in lists, `lag_secs` later (saturating:
/// an absurd lag hides it for good rather than showing it at once).
pub(super) fn listed_from(created: Timestamp, lag_secs: f64) -> Timestamp {
    SignedDuration::try_from_secs_f64(lag_secs.max(0.0))
        .ok()
        .and_then(|d| created.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

impl Directory {
    /// `GET /organization`, optionally `$filter=displayName eq '…'`. The filter is applied before
    /// anything is copied: a lookup among 10,000 organizations copies one, not 10,000.
    pub fn list_orgs(
        &mut self,
        c: &Caller,
        now: Timestamp,
        display_name: Option<&str>,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, ORG_READ)?;
        let orgs = &self.tenant(&c.tenant_id)?.orgs;
        let found: Vec<&Map<String, Value>> = match display_name {
            Some(n) => orgs.named(n),
            None => orgs.listed(),
        };
        Ok(found.into_iter().cloned().map(Value::Object).collect())
    }

    pub fn get_org(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, ORG_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        t.orgs
            .get(id)
            .map(|o| Value::Object(o.clone()))
            .ok_or_else(|| org_not_found(id))
    }

    /// `POST /organization`: the body bare or wrapped in `"organization"`; `@odata.*` members
    /// and server-assigned properties are ignored.
    pub fn create_org(&mut self, c: &Caller, body: Value, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, ORG_WRITE)?;
        let Value::Object(mut fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        if fields.len() == 1
            && let Some(Value::Object(inner)) = fields.get("organization")
        {
            fields = inner.clone();
        }
        let lag = self.list_lag_secs;
        let t = self.tenant_mut(&c.tenant_id)?;
        let org = build_org(t, new_id(), now, fields);
        t.orgs.push(org.clone());
        if lag > 0.0 {
            t.orgs.unlist_until(o_id(&org), listed_from(now, lag));
        }
        Ok(Value::Object(org))
    }

    /// `PATCH /organization/{id}`: only the five writable properties.
    pub fn update_org(
        &mut self,
        c: &Caller,
        id: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        require(c, ORG_WRITE)?;
        let Value::Object(fields) = body else {
            return Err(ApiError::unreadable_body());
        };
        let fields = strip_odata(fields);
        for k in fields.keys() {
            if !ORG_WRITABLE.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Property '{k}' is read-only or not supported for update on organization. Updatable properties: {}.",
                    ORG_WRITABLE.join(", ")
                )));
            }
        }
        // Same typing rules as the wire types: collections of strings, privacyProfile object.
        if serde_json::from_value::<OrganizationUpdate>(Value::Object(fields.clone())).is_err() {
            return Err(ApiError::new(
                400,
                "BadRequest",
                "Invalid value for one of the organization properties.",
            ));
        }
        let t = self.tenant_mut(&c.tenant_id)?;
        t.orgs.update(id, fields).ok_or_else(|| org_not_found(id))?;
        Ok(())
    }

    /// Test back door: change any property of an organization, as someone in the portal would.
    pub fn patch_org_directly(
        &mut self,
        tid: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> Option<Value> {
        let t = self.tenants.get_mut(&key(tid))?;
        let fields = fields.into_iter().filter(|(k, _)| k != "id").collect();
        t.orgs.update(id, fields).map(|o| Value::Object(o.clone()))
    }
}

pub(super) fn org_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(super) fn o_id(o: &Map<String, Value>) -> &str {
    o.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// A tenant's organization objects, indexed by id and displayName. A real tenant holds one; a
/// benchmark tenant holds 10,000, and scanning them on every lookup made the emulator, not the
/// operator, the bottleneck. Organizations are never deleted, so positions stay valid; a rename
/// leaves the old name's entry behind, and lookups check the name on read.
#[derive(Clone, Debug, Default)]
pub(super) struct Orgs {
    pub(super) all: Vec<Map<String, Value>>,
    /// Lower-cased id → position.
    pub(super) by_id: HashMap<String, usize>,
    /// displayName → positions (ascending; may include organizations renamed since).
    pub(super) by_name: HashMap<String, Vec<usize>>,
    /// Position → the emulated instant from which lists show it (`listLagSecs`); only for
    /// organizations not listed yet, as of the last [`Directory::settle`].
    pub(super) unlisted: HashMap<usize, Timestamp>,
}

impl Orgs {
    pub(super) fn push(&mut self, org: Map<String, Value>) {
        let at = self.all.len();
        self.by_id.insert(o_id(&org).to_ascii_lowercase(), at);
        self.all.push(org);
        self.index_name(at);
    }

    fn index_name(&mut self, at: usize) {
        if let Some(name) = self.all[at].get("displayName").and_then(Value::as_str) {
            let entries = self.by_name.entry(name.to_string()).or_default();
            if !entries.contains(&at) {
                entries.push(at);
                entries.sort_unstable();
            }
        }
    }

    fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&at| &self.all[at])
    }

    /// Those lists show and named `name` now, in creation order.
    fn named(&self, name: &str) -> Vec<&Map<String, Value>> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter(|at| !self.unlisted.contains_key(at))
            .map(|&at| &self.all[at])
            .filter(|o| o.get("displayName").and_then(Value::as_str) == Some(name))
            .collect()
    }

    /// Those lists show, in creation order.
    fn listed(&self) -> Vec<&Map<String, Value>> {
        if self.unlisted.is_empty() {
            return self.all.iter().collect();
        }
        self.all
            .iter()
            .enumerate()
            .filter(|(at, _)| !self.unlisted.contains_key(at))
            .map(|(_, o)| o)
            .collect()
    }

    /// Keep the organization `id` out of lists until `from`.
    fn unlist_until(&mut self, id: &str, from: Timestamp) {
        if let Some(&at) = self.by_id.get(&id.to_ascii_lowercase()) {
            self.unlisted.insert(at, from);
        }
    }

    /// Let lists show every organization whose lag is over at `now`.
    pub(super) fn list_due(&mut self, now: Timestamp) {
        if !self.unlisted.is_empty() {
            self.unlisted.retain(|_, from| *from > now);
        }
    }

    /// `{id: listedFrom}` of the organizations lists do not show yet.
    pub(super) fn unlisted_json(&self) -> Value {
        let m: Map<String, Value> = self
            .unlisted
            .iter()
            .map(|(&at, &from)| {
                (
                    o_id(&self.all[at]).to_string(),
                    Value::String(graph_time(from)),
                )
            })
            .collect();
        Value::Object(m)
    }

    fn update(&mut self, id: &str, fields: Map<String, Value>) -> Option<&Map<String, Value>> {
        let at = *self.by_id.get(&id.to_ascii_lowercase())?;
        let renamed = fields.contains_key("displayName");
        self.all[at].extend(fields);
        if renamed {
            self.index_name(at);
        }
        Some(&self.all[at])
    }
}

/// An organization with every v1.0 property present (collections empty, the rest null), the
/// sent fields on top, and the server-assigned ones last.
pub(super) fn build_org(
    t: &Tenant,
    id: String,
    now: Timestamp,
    fields: Map<String, Value>,
) -> Map<String, Value> {
    let mut o = Map::new();
    for k in [
        "assignedPlans",
        "businessPhones",
        "marketingNotificationEmails",
        "provisionedPlans",
    ]
    .into_iter()
    .chain([
        "securityComplianceNotificationMails",
        "securityComplianceNotificationPhones",
        "technicalNotificationMails",
    ]) {
        o.insert(k.into(), json!([]));
    }
    for k in [
        "deletedDateTime",
        "city",
        "isMultipleDataLocationsForServicesEnabled",
        "country",
        "countryLetterCode",
        "defaultUsageLocation",
        "displayName",
        "onPremisesLastSyncDateTime",
        "onPremisesSyncEnabled",
        "partnerTenantType",
        "postalCode",
        "preferredLanguage",
        "privacyProfile",
        "state",
        "street",
    ] {
        o.insert(k.into(), Value::Null);
    }
    // Microsoft's organization examples (get, list) answer a quota although the v1.0 CSDL
    // doesn't list it; 50,000 objects is Entra's default quota, and this directory holds one.
    o.insert(
        "directorySizeQuota".into(),
        json!({"used": 1, "total": 50000}),
    );
    for (k, v) in strip_odata(fields) {
        o.insert(k, v);
    }
    let initial = t
        .domains
        .iter()
        .position(|d| d.ends_with(".onmicrosoft.com"))
        .unwrap_or(0);
    let domains: Vec<Value> = t
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 0,
                   "isInitial": i == initial, "name": d, "type": "Managed"})
        })
        .collect();
    o.insert("id".into(), Value::String(id));
    o.insert("createdDateTime".into(), Value::String(graph_time(now)));
    o.insert("tenantType".into(), Value::String("AAD".into()));
    o.insert("verifiedDomains".into(), Value::Array(domains));
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_CLIENT_ID, DEFAULT_TENANT_A};

    fn caller() -> Caller {
        Caller {
            tenant_id: DEFAULT_TENANT_A.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            roles: vec![roles::ORG_READ_WRITE.into()],
        }
    }

    fn names(d: &mut Directory, now: Timestamp, filter: Option<&str>) -> Vec<String> {
        d.list_orgs(&caller(), now, filter)
            .unwrap()
            .iter()
            .map(|o| o["displayName"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn list_lag_hides_a_created_organization_from_lists_but_not_from_reads_by_id() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut d = Directory::new(&EmulatorConfig::default_local(), MtoTimings::default(), t0);
        d.list_lag_secs = 5.0;
        let org = d
            .create_org(&caller(), json!({"displayName": "Lagged"}), t0)
            .unwrap();
        let id = org["id"].as_str().unwrap();
        // Changing the fault afterwards does not move it: the lag is fixed at the create.
        d.list_lag_secs = 0.0;
        let at = |s: f64| after(t0, s);
        assert!(names(&mut d, at(4.9), Some("Lagged")).is_empty());
        assert_eq!(
            names(&mut d, at(4.9), None).len(),
            1,
            "only the tenant's own"
        );
        assert_eq!(d.get_org(&caller(), id, t0).unwrap()["id"], id);
        assert_eq!(
            d.snapshot()["tenants"][0]["unlistedUntil"][id],
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(names(&mut d, at(5.0), Some("Lagged")), ["Lagged"]);
        assert_eq!(names(&mut d, at(5.0), None).len(), 2);
        assert!(d.snapshot()["tenants"][0].get("unlistedUntil").is_none());
        // Without a lag, a create lists at once.
        d.create_org(&caller(), json!({"displayName": "Prompt"}), at(6.0))
            .unwrap();
        assert_eq!(names(&mut d, at(6.0), Some("Prompt")), ["Prompt"]);
    }

    #[test]
    fn an_absurd_lag_hides_for_good_instead_of_panicking() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(listed_from(t0, f64::MAX), Timestamp::MAX);
        assert_eq!(listed_from(t0, -3.0), t0);
    }
}
