//! The synchronization schema, kept whole (a PUT replaces it), and the two things the operator
//! edits in it: the users mapping's scoping filter and its `userType` constant.
//! `synchronizationSchema`, `objectMapping`, `attributeMapping`, `filter`, `filterGroup`,
//! `filterClause` (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0/resources).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `synchronizationSchema`, whole. A PUT replaces the schema, so it is kept as Graph sent it
/// (every rule, directory and mapping, known or not) and edited only where the operator owns
/// something: the users mapping's scoping filter and its `userType` constant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SynchronizationSchema(pub Map<String, Value>);

/// The user mapping's rule name in a cross-tenant schema.
pub const USER_RULE: &str = "USER_INBOUND_USER";

impl SynchronizationSchema {
    fn rules_mut(&mut self) -> impl Iterator<Item = &mut Map<String, Value>> {
        self.0
            .get_mut("synchronizationRules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
    }

    fn rules(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.0
            .get("synchronizationRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    }

    /// The user rule's id (provisionOnDemand's `ruleId`).
    pub fn user_rule_id(&self) -> Option<&str> {
        self.rules()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(USER_RULE))
            .or_else(|| self.rules().next())
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
    }

    fn is_user_mapping(m: &Map<String, Value>) -> bool {
        m.get("sourceObjectName").and_then(Value::as_str) == Some("User")
            && m.get("targetObjectName").and_then(Value::as_str) == Some("User")
    }

    fn user_mapping(&self) -> Option<&Map<String, Value>> {
        self.rules()
            .flat_map(|r| r.get("objectMappings").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_object)
            .find(|m| Self::is_user_mapping(m))
    }

    fn user_mapping_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.rules_mut()
            .flat_map(|r| r.get_mut("objectMappings").and_then(Value::as_array_mut))
            .flatten()
            .filter_map(Value::as_object_mut)
            .find(|m| Self::is_user_mapping(m))
    }

    /// Whether the schema has the user mapping the operator edits.
    pub fn has_user_mapping(&self) -> bool {
        self.user_mapping().is_some()
    }

    /// The user mapping's scoping filter (`scope`), as Graph sent it.
    pub fn user_scope(&self) -> Option<&Value> {
        self.user_mapping()?.get("scope").filter(|s| !s.is_null())
    }

    /// The constant mapped to `userType`, if that mapping is a constant.
    pub fn user_type(&self) -> Option<&str> {
        let m = self.user_type_mapping()?;
        let source = m.get("source")?;
        (source.get("type").and_then(Value::as_str) == Some("Constant"))
            .then(|| source.get("expression").and_then(Value::as_str))
            .flatten()
            .map(|e| e.trim_matches('"'))
    }

    fn user_type_mapping(&self) -> Option<&Map<String, Value>> {
        self.user_mapping()?
            .get("attributeMappings")?
            .as_array()?
            .iter()
            .filter_map(Value::as_object)
            .find(|a| a.get("targetAttributeName").and_then(Value::as_str) == Some("userType"))
    }

    /// Replace the user mapping's scoping filter (`None`: no filter). False if the schema has
    /// no user mapping.
    pub fn set_user_scope(&mut self, scope: Option<Value>) -> bool {
        let Some(m) = self.user_mapping_mut() else {
            return false;
        };
        m.insert("scope".into(), scope.unwrap_or(Value::Null));
        true
    }

    /// Map `userType` to the constant `user_type`, applied `Always` so that a change reaches
    /// users already synced (Entra: "Apply this mapping" must be Always for that). Keeps every
    /// other member of the mapping; adds the mapping if the schema has none. False if the
    /// schema has no user mapping.
    pub fn set_user_type(&mut self, user_type: &str) -> bool {
        let Some(m) = self.user_mapping_mut() else {
            return false;
        };
        let mappings = m
            .entry("attributeMappings")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !mappings.is_array() {
            *mappings = Value::Array(Vec::new());
        }
        let Some(list) = mappings.as_array_mut() else {
            return false;
        };
        let source = serde_json::json!({
            "type": "Constant",
            "name": null,
            "expression": format!("\"{user_type}\""),
            "parameters": [],
        });
        match list
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|a| a.get("targetAttributeName").and_then(Value::as_str) == Some("userType"))
        {
            Some(a) => {
                a.insert("source".into(), source);
                a.insert("flowType".into(), Value::String("Always".into()));
            }
            None => list.push(serde_json::json!({
                "targetAttributeName": "userType",
                "source": source,
                "defaultValue": null,
                "flowBehavior": "FlowWhenChanged",
                "flowType": "Always",
                "matchingPriority": 0,
            })),
        }
        true
    }
}

/// A `filterClause` of a scoping filter: `sourceOperandName operatorName targetOperand.values`
/// (e.g. `department EQUALS Sales`). Operators come from `…/schema/filterOperators`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FilterClause {
    pub attribute: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// The name of the filter group the operator writes.
pub const OWNED_FILTER_GROUP: &str = "graphorg.io";

/// The scoping filter of one group whose clauses are AND'd (`filter`, `filterGroup`,
/// `filterClause`, `filterOperand` in the synchronization resources); `None` for no clauses.
pub fn scoping_filter(clauses: &[FilterClause]) -> Option<Value> {
    if clauses.is_empty() {
        return None;
    }
    let clauses: Vec<Value> = clauses
        .iter()
        .map(|c| {
            serde_json::json!({
                "sourceOperandName": c.attribute,
                "operatorName": c.operator,
                "targetOperand": {"values": c.values},
            })
        })
        .collect();
    Some(serde_json::json!({
        "categoryFilterGroups": [],
        "groups": [{"name": OWNED_FILTER_GROUP, "clauses": clauses}],
        "inputFilterGroups": [],
    }))
}

/// A scoping filter's groups (OR'd), each its clauses (AND'd), sorted: what the filter means,
/// whatever names and order Graph gives it back with.
pub fn filter_meaning(scope: Option<&Value>) -> Vec<Vec<FilterClause>> {
    let mut groups: Vec<Vec<FilterClause>> = scope
        .and_then(|s| s.get("groups"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let mut clauses: Vec<FilterClause> = g
                .get("clauses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| FilterClause {
                    attribute: str_at(c, "sourceOperandName"),
                    operator: str_at(c, "operatorName"),
                    values: c
                        .pointer("/targetOperand/values")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                })
                .collect();
            clauses.sort();
            clauses
        })
        .filter(|g| !g.is_empty())
        .collect();
    groups.sort();
    groups
}

fn str_at(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
