//! The job's schema (graph-sync §1.7): `GET`, whole-schema `PUT`, `PATCH` refused as the
//! syncfabric refuses it, and what a cycle reads from it: the scoping filter of the user
//! mapping and the `userType` constant with its apply mode.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::super::{ApiError, ApiResult, Caller, Directory};
use super::{SYNC_READ, SYNC_WRITE, job_not_found};

pub(super) const RULE_NAME: &str = "USER_INBOUND_USER";
const USER_MAPPING: &str = "Provision Azure Active Directory Users";
const MATCHING_EXPRESSION: &str = "AltSecIdFromNetId([netId])";

fn attr(target: &str, source: &str) -> Value {
    json!({
        "defaultValue": null, "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
        "flowType": "Always", "matchingPriority": 0, "targetAttributeName": target,
        "source": {"expression": format!("[{source}]"), "name": source, "parameters": [], "type": "Attribute"},
    })
}

fn constant(target: &str, value: &str, flow: &str) -> Value {
    json!({
        "defaultValue": null, "exportMissingReferences": false, "flowBehavior": "FlowWhenChanged",
        "flowType": flow, "matchingPriority": 0, "targetAttributeName": target,
        "source": {"expression": format!("\"{value}\""), "name": value, "parameters": [], "type": "Constant"},
    })
}

/// The user attributes each directory declares: those the mappings read and write, with
/// their `attributeType` (`Boolean`, `String`, as `resources/synchronization-attributedefinition.md`
/// spells the members).
const SOURCE_ATTRIBUTES: &[(&str, &str)] = &[
    ("accountEnabled", "Boolean"),
    ("displayName", "String"),
    ("givenName", "String"),
    ("mail", "String"),
    ("netId", "String"),
    ("surname", "String"),
    ("userPrincipalName", "String"),
];
const TARGET_ATTRIBUTES: &[(&str, &str)] = &[
    ("accountEnabled", "Boolean"),
    ("alternativeSecurityIds", "String"),
    ("displayName", "String"),
    ("givenName", "String"),
    ("mail", "String"),
    ("showInAddressList", "Boolean"),
    ("surname", "String"),
    ("userType", "String"),
];

/// A directory's `User` object (`objectDefinition`, as the schema GET example shows one: a
/// name and its attributes), each attribute an `attributeDefinition` with every property of
/// its resource page.
fn user_object(attributes: &[(&str, &str)]) -> Value {
    let attrs: Vec<Value> = attributes
        .iter()
        .map(|(name, ty)| {
            json!({
                "anchor": false,
                "apiExpressions": [], "caseExact": false, "defaultValue": null,
                "flowNullValues": false, "metadata": [], "multivalued": *name == "alternativeSecurityIds",
                "mutability": "ReadWrite", "name": name, "referencedObjects": [],
                "required": false, "type": ty,
            })
        })
        .collect();
    json!({"name": "User", "attributes": attrs, "metadata": [], "supportedApis": []})
}

/// The schema a new job gets: one rule `USER_INBOUND_USER` whose user mapping matches on
/// `alternativeSecurityIds`, maps the profile, `accountEnabled`, `showInAddressList: True`
/// and `userType: Member` applied on create only (`ObjectAddOnly`, the unkind reading of
/// §1.7), with no scoping filter; the group mapping present and disabled.
pub(super) fn default_schema(id: &str, rule_id: &str) -> Value {
    let mut matching = attr("alternativeSecurityIds", "netId");
    matching["matchingPriority"] = json!(1);
    matching["source"] = json!({
        "expression": MATCHING_EXPRESSION, "name": "AltSecIdFromNetId", "type": "Function",
        "parameters": [{"key": "netId", "value": {"expression": "[netId]", "name": "netId", "parameters": [], "type": "Attribute"}}],
    });
    json!({
        "id": id,
        "version": "v1.2",
        "synchronizationRules": [{
            "id": rule_id,
            "name": RULE_NAME,
            "editable": true,
            "containerFilter": {"includedContainers": []},
            "groupFilter": {"includedGroups": []},
            "metadata": [],
            "priority": 1,
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Azure Active Directory (target tenant)",
            "objectMappings": [
                {
                    "name": USER_MAPPING, "enabled": true, "flowTypes": "Add, Update, Delete",
                    "sourceObjectName": "User", "targetObjectName": "User", "metadata": [], "scope": null,
                    "attributeMappings": [
                        matching,
                        attr("displayName", "displayName"),
                        attr("givenName", "givenName"),
                        attr("surname", "surname"),
                        attr("mail", "mail"),
                        attr("accountEnabled", "accountEnabled"),
                        constant("showInAddressList", "True", "Always"),
                        constant("userType", "Member", "ObjectAddOnly"),
                    ],
                },
                {
                    "name": "Provision Azure Active Directory Groups", "enabled": false,
                    "flowTypes": "Add, Update, Delete", "sourceObjectName": "Group",
                    "targetObjectName": "Group", "metadata": [], "scope": null, "attributeMappings": [],
                },
            ],
        }],
        "directories": [
            {"id": "AzureActiveDirectory", "name": "Azure Active Directory", "objects": [user_object(SOURCE_ATTRIBUTES)]},
            {"id": "AzureActiveDirectoryTarget", "name": "Azure Active Directory (target tenant)", "objects": [user_object(TARGET_ATTRIBUTES)]},
        ],
    })
}

fn rules(schema: &Value) -> &[Value] {
    schema["synchronizationRules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn user_mapping(schema: &Value) -> Option<&Value> {
    rules(schema)
        .iter()
        .find(|r| r["name"] == RULE_NAME)?
        .get("objectMappings")?
        .as_array()?
        .iter()
        .find(|m| m["sourceObjectName"] == "User" && m["targetObjectName"] == "User")
}

/// The `USER_INBOUND_USER` rule's id: provisionOnDemand's `ruleId`.
pub(super) fn rule_id(schema: &Value) -> Option<&str> {
    rules(schema).iter().find(|r| r["name"] == RULE_NAME)?["id"].as_str()
}

/// The `userType` the mapping sets and whether it applies to existing users (`Always`).
pub(super) fn user_type(schema: &Value) -> (String, bool) {
    let m = user_mapping(schema)
        .and_then(|m| m["attributeMappings"].as_array())
        .and_then(|a| a.iter().find(|x| x["targetAttributeName"] == "userType"));
    match m {
        Some(x) => {
            let v = x["source"]["name"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    x["source"]["expression"]
                        .as_str()
                        .map(|e| e.trim_matches('"').to_string())
                })
                .unwrap_or_else(|| "Member".into());
            (v, x["flowType"] == "Always")
        }
        None => ("Member".into(), false),
    }
}

/// Does `user` pass the user mapping's scoping filter? Groups are OR'd, clauses inside a
/// group AND'd (docs `resources/synchronization-filter.md`). A disabled mapping scopes no
/// one. Operators: `EQUALS`, `NOT_EQUALS`, `IS_TRUE`, `IS_FALSE`, `IS_NULL`,
/// `IS_NOT_NULL`, `REGEX_MATCH`-free: any other fails the clause (never the convenient pass).
pub(super) fn in_scope(schema: &Value, user: &serde_json::Map<String, Value>) -> bool {
    let Some(m) = user_mapping(schema) else {
        return false;
    };
    if m["enabled"] == false {
        return false;
    }
    let Some(groups) = m["scope"]["groups"].as_array().filter(|g| !g.is_empty()) else {
        return true;
    };
    groups.iter().any(|g| {
        g["clauses"]
            .as_array()
            .is_some_and(|cs| cs.iter().all(|c| clause(c, user)))
    })
}

fn clause(c: &Value, user: &serde_json::Map<String, Value>) -> bool {
    let name = c["sourceOperandName"].as_str().unwrap_or_default();
    let v = user.get(name).cloned().unwrap_or(Value::Null);
    let text = match &v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let values: Vec<&str> = c["targetOperand"]["values"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let eq = |t: &str| values.iter().any(|w| w.eq_ignore_ascii_case(t));
    match c["operatorName"].as_str().unwrap_or_default() {
        "EQUALS" => text.as_deref().is_some_and(eq),
        "NOT_EQUALS" => !text.as_deref().is_some_and(eq),
        "IS_TRUE" => v == Value::Bool(true),
        "IS_FALSE" => v == Value::Bool(false),
        "IS_NULL" => v.is_null(),
        "IS_NOT_NULL" => !v.is_null(),
        _ => false,
    }
}

/// Attributes a scoping filter may not use (known issues).
const NOT_SCOPABLE: &[&str] = &["appRoleAssignments", "userType", "manager"];

fn schema_invalid(message: &str) -> ApiError {
    ApiError::new(400, "schemaInvalid", message)
}

fn matching_of(schema: &Value) -> Option<Value> {
    user_mapping(schema)?["attributeMappings"]
        .as_array()?
        .iter()
        .find(|x| x["targetAttributeName"] == "alternativeSecurityIds")
        .map(|x| json!([x["source"]["expression"], x["matchingPriority"]]))
}

impl Directory {
    /// `GET …/jobs/{id}/schema`.
    pub fn get_schema(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        now: Timestamp,
    ) -> ApiResult<Value> {
        self.settle(now);
        let sp = self.sp_for(c, sp, SYNC_READ, now)?;
        sp.jobs
            .get(job)
            .map(|j| j.schema.clone())
            .ok_or_else(|| job_not_found(job))
    }

    /// `PUT …/jobs/{id}/schema` (204): replaces the whole schema. It must keep the
    /// `USER_INBOUND_USER` rule with its user mapping; editing the matching attribute, or
    /// scoping on an attribute known issues forbid, is 400 `schemaInvalid` (§1.7).
    pub fn put_schema(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        body: Value,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        let j = self.job_mut_for(c, sp, job, SYNC_WRITE, now)?;
        if !body["synchronizationRules"].is_array() {
            return Err(schema_invalid(
                "The schema must carry synchronizationRules.",
            ));
        }
        let Some(m) = user_mapping(&body) else {
            return Err(schema_invalid(
                "The USER_INBOUND_USER rule with its user mapping is required.",
            ));
        };
        if matching_of(&body) != matching_of(&j.schema) {
            return Err(schema_invalid(
                "The matching attribute alternativeSecurityIds (AltSecIdFromNetId([netId])) can't be changed.",
            ));
        }
        for g in m["scope"]["groups"].as_array().into_iter().flatten() {
            for cl in g["clauses"].as_array().into_iter().flatten() {
                let n = cl["sourceOperandName"].as_str().unwrap_or_default();
                if NOT_SCOPABLE.contains(&n) {
                    return Err(schema_invalid(&format!(
                        "'{n}' can't be used in a scoping filter."
                    )));
                }
            }
        }
        let mut s = body;
        s["id"] = Value::String(j.id.clone());
        j.schema = s;
        // Scoping edits force a full resync: the next cycle re-evaluates everyone.
        Ok(())
    }

    /// `PATCH …/schema`: the syncfabric has no such route (§1.7): 404 `UnknownError` whose
    /// message is a JSON string.
    pub fn patch_schema(
        &mut self,
        c: &Caller,
        sp: &str,
        job: &str,
        now: Timestamp,
    ) -> ApiResult<()> {
        self.settle(now);
        let j = self.job_mut_for(c, sp, job, SYNC_WRITE, now)?;
        let msg = json!({"Message": format!(
            "No HTTP resource was found that matches the request URI 'https://syncfabric.windowsazure.com/api/servicePrincipals/{sp}/synchronization/jobs/{}/schema?api-version=2.0'.", j.id
        )});
        Err(ApiError::new(404, "UnknownError", msg.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn scoped(groups: Value) -> Value {
        let mut s = default_schema("job", "rule");
        s["synchronizationRules"][0]["objectMappings"][0]["scope"] = json!({ "groups": groups });
        s
    }

    #[test]
    fn no_filter_scopes_everyone_and_a_disabled_mapping_no_one() {
        let mut s = default_schema("job", "rule");
        assert!(in_scope(&s, &user(json!({"department": "Ops"}))));
        s["synchronizationRules"][0]["objectMappings"][0]["enabled"] = json!(false);
        assert!(!in_scope(&s, &user(json!({"department": "Ops"}))));
    }

    #[test]
    fn groups_are_ored_and_clauses_anded() {
        let eq = |a: &str, v: &str| json!({"sourceOperandName": a, "operatorName": "EQUALS", "targetOperand": {"values": [v]}});
        let s = scoped(json!([
            {"clauses": [eq("department", "Sales"), eq("country", "NL")]},
            {"clauses": [{"sourceOperandName": "accountEnabled", "operatorName": "IS_FALSE"}]},
        ]));
        assert!(in_scope(
            &s,
            &user(json!({"department": "sales", "country": "NL"}))
        ));
        assert!(!in_scope(
            &s,
            &user(json!({"department": "Sales", "country": "DE"}))
        ));
        assert!(in_scope(&s, &user(json!({"accountEnabled": false}))));
        // An operator this emulator doesn't know fails its clause (never the convenient pass).
        let s = scoped(
            json!([{"clauses": [{"sourceOperandName": "department", "operatorName": "REGEX_MATCH", "targetOperand": {"values": [".*"]}}]}]),
        );
        assert!(!in_scope(&s, &user(json!({"department": "Sales"}))));
    }

    #[test]
    fn the_user_type_constant_and_its_apply_mode_are_read_from_the_mapping() {
        let s = default_schema("job", "rule");
        assert_eq!(user_type(&s), ("Member".to_string(), false));
        assert_eq!(rule_id(&s), Some("rule"));
    }
}
