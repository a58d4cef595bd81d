//! Users and groups of each tenant: `GET /users`, `/users/{id}`, `/groups`, `/groups/{id}`,
//! `/groups/{id}/members` (docs: `api-reference/v1.0/api/user-list.md`, `user-get.md`,
//! `group-list.md`, `group-get.md`, `group-list-members.md`). They are seeded through the
//! control API (`/_emulator/tenants/{tid}/users`, `…/groups`); cross-tenant synchronization
//! reads the source tenant's and writes B2B users into the target's (`synchronization`).
//!
//! - A user read without `$select` shows only Graph's default set (`user-list.md`: "only a
//!   limited set of properties are returned by default"); `userType`, `accountEnabled`,
//!   `creationType`, `externalUserState`… only when `$select`ed.
//! - An unknown id is 404 `Request_ResourceNotFound` "Resource '…' does not exist or one of
//!   its queried reference-property objects are not present." (Graph's directory answer).
//! - A deleted user goes to the tenant's deleted items (soft delete, restorable for 30 days:
//!   `docs:api-reference/v1.0/api/directory-deleteditems-restore.md`); it is not listed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Caller, Directory, key, new_id, require};
use crate::clock::graph_time;
use crate::config::roles;

const USER_READ: &[&str] = &[
    roles::USER_READ,
    roles::USER_READ_WRITE,
    roles::DIRECTORY_READ,
    roles::DIRECTORY_READ_WRITE,
];
const GROUP_READ: &[&str] = &[
    roles::GROUP_READ,
    roles::GROUP_READ_WRITE,
    roles::GROUP_MEMBER_READ,
    roles::DIRECTORY_READ,
    roles::DIRECTORY_READ_WRITE,
];

/// The properties `GET /users` returns without `$select` (user-list.md).
pub const USER_DEFAULT_PROPS: &[&str] = &[
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// What a seeded user may carry (a subset of `microsoft.graph.user`).
const USER_PROPS: &[&str] = &[
    "id",
    "displayName",
    "userPrincipalName",
    "mail",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "companyName",
    "country",
    "city",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "preferredLanguage",
    "userType",
    "accountEnabled",
    "creationType",
    "externalUserState",
    "showInAddressList",
    "employeeId",
];

/// A user and, for a B2B user made by synchronization, the source it came from.
#[derive(Clone, Debug)]
pub(super) struct User {
    pub(super) props: Map<String, Value>,
    /// `(source tenant key, source user id)`: what `alternativeSecurityIds` records in Graph.
    pub(super) synced_from: Option<(String, String)>,
    pub(super) deleted: Option<Timestamp>,
}

impl User {
    pub(super) fn id(&self) -> &str {
        self.props.get("id").and_then(Value::as_str).unwrap_or("")
    }
    pub(super) fn str(&self, k: &str) -> Option<&str> {
        self.props.get(k).and_then(Value::as_str)
    }
    /// `userType` Member, not invited from elsewhere: an internal member (graph-sync §1.6).
    pub(super) fn is_internal_member(&self) -> bool {
        self.str("userType").unwrap_or("Member") == "Member"
            && self.str("creationType") != Some("Invitation")
            && self.synced_from.is_none()
    }
}

#[derive(Clone, Debug)]
pub(super) struct Group {
    pub(super) props: Map<String, Value>,
    /// Direct members: user (or group) ids.
    pub(super) members: Vec<String>,
}

/// A tenant's users and groups, keyed by lower-case id.
#[derive(Clone, Debug, Default)]
pub(super) struct People {
    pub(super) users: BTreeMap<String, User>,
    pub(super) groups: BTreeMap<String, Group>,
}

pub(super) fn resource_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

impl People {
    /// A live user by id or userPrincipalName (user-get.md: `/users/{id | userPrincipalName}`).
    pub(super) fn user(&self, id_or_upn: &str) -> Option<&User> {
        if let Some(u) = self.users.get(&key(id_or_upn)) {
            return (u.deleted.is_none()).then_some(u);
        }
        self.users.values().find(|u| {
            u.deleted.is_none()
                && u.str("userPrincipalName")
                    .is_some_and(|p| p.eq_ignore_ascii_case(id_or_upn))
        })
    }

    pub(super) fn live_users(&self) -> impl Iterator<Item = &User> {
        self.users.values().filter(|u| u.deleted.is_none())
    }
}

fn user_json(u: &User) -> Value {
    let mut o = u.props.clone();
    o.insert(
        "@odata.type".into(),
        Value::String("#microsoft.graph.user".into()),
    );
    Value::Object(o)
}

/// Only Graph's default user properties (what a read without `$select` shows).
pub fn default_user_view(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|k, _| USER_DEFAULT_PROPS.contains(&k.as_str()) || k.starts_with('@'));
    }
}

/// `<property> eq '<value>'` against a JSON object (exact, case-insensitive for strings as
/// Graph's directory compares them; booleans by their text).
pub(super) fn matches_eq(o: &Map<String, Value>, filter: Option<&(String, String)>) -> bool {
    let Some((p, want)) = filter else {
        return true;
    };
    match o.get(p) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(want),
        Some(Value::Bool(b)) => b.to_string() == *want,
        _ => false,
    }
}

impl Directory {
    /// `GET /users` (user-list.md), with an optional `prop eq 'value'` filter.
    pub fn list_users(
        &mut self,
        c: &Caller,
        filter: Option<(String, String)>,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, USER_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        Ok(t.people
            .live_users()
            .filter(|u| matches_eq(&u.props, filter.as_ref()))
            .map(user_json)
            .collect())
    }

    /// `GET /users/{id | userPrincipalName}` (user-get.md).
    pub fn get_user(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, USER_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        t.people
            .user(id)
            .map(user_json)
            .ok_or_else(|| resource_not_found(id))
    }

    /// `GET /groups` (group-list.md).
    pub fn list_groups(
        &mut self,
        c: &Caller,
        filter: Option<(String, String)>,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, GROUP_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        Ok(t.people
            .groups
            .values()
            .filter(|g| matches_eq(&g.props, filter.as_ref()))
            .map(|g| Value::Object(g.props.clone()))
            .collect())
    }

    /// `GET /groups/{id}` (group-get.md).
    pub fn get_group(&mut self, c: &Caller, id: &str, now: Timestamp) -> ApiResult<Value> {
        self.settle(now);
        require(c, GROUP_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        t.people
            .groups
            .get(&key(id))
            .map(|g| Value::Object(g.props.clone()))
            .ok_or_else(|| resource_not_found(id))
    }

    /// `GET /groups/{id}/members`: direct members only, each with its `@odata.type`
    /// (group-list-members.md).
    pub fn list_group_members(
        &mut self,
        c: &Caller,
        id: &str,
        now: Timestamp,
    ) -> ApiResult<Vec<Value>> {
        self.settle(now);
        require(c, GROUP_READ)?;
        let t = self.tenant(&c.tenant_id)?;
        let g = t
            .people
            .groups
            .get(&key(id))
            .ok_or_else(|| resource_not_found(id))?;
        Ok(g.members
            .iter()
            .filter_map(|m| {
                if let Some(u) = t.people.user(m) {
                    return Some(user_json(u));
                }
                t.people.groups.get(&key(m)).map(|g| {
                    let mut o = g.props.clone();
                    o.insert("@odata.type".into(), json!("#microsoft.graph.group"));
                    Value::Object(o)
                })
            })
            .collect())
    }

    // -------------------------------------------------------------- control API (seeding)

    /// `POST /_emulator/tenants/{tid}/users`: a user with `displayName` (required) and any of
    /// [`USER_PROPS`]; `id`, `userPrincipalName` (`<mailNickname or name>@<first domain>`),
    /// `userType: Member`, `accountEnabled: true` filled in when absent.
    pub fn seed_user(&mut self, tid: &str, body: Value, now: Timestamp) -> Result<Value, String> {
        self.settle(now);
        let Value::Object(mut m) = body else {
            return Err("body must be a JSON object".into());
        };
        if let Some(k) = m.keys().find(|k| !USER_PROPS.contains(&k.as_str())) {
            return Err(format!("unknown user property '{k}'"));
        }
        let name = m
            .get("displayName")
            .and_then(Value::as_str)
            .ok_or("displayName (a string) is required")?
            .to_string();
        let t = self.tenants.get_mut(&key(tid)).ok_or("no such tenant")?;
        let id = match m.get("id").and_then(Value::as_str) {
            Some(i) if uuid::Uuid::parse_str(i).is_ok() => i.to_string(),
            Some(_) => return Err("id must be a GUID".into()),
            None => new_id(),
        };
        if t.people.users.contains_key(&key(&id)) {
            return Err(format!("user {id} exists"));
        }
        let domain = t
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{tid}.onmicrosoft.com"));
        let nick: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        m.insert("id".into(), Value::String(id.clone()));
        m.entry("userPrincipalName")
            .or_insert_with(|| Value::String(format!("{}@{domain}", nick.to_lowercase())));
        m.entry("userType").or_insert(json!("Member"));
        m.entry("accountEnabled").or_insert(json!(true));
        m.entry("creationType").or_insert(Value::Null);
        m.entry("externalUserState").or_insert(Value::Null);
        m.entry("businessPhones").or_insert(json!([]));
        m.entry("createdDateTime")
            .or_insert(Value::String(graph_time(now)));
        for p in USER_DEFAULT_PROPS {
            m.entry(*p).or_insert(Value::Null);
        }
        let u = User {
            props: m,
            synced_from: None,
            deleted: None,
        };
        let out = user_json(&u);
        t.people.users.insert(key(&id), u);
        Ok(out)
    }

    /// `PATCH /_emulator/tenants/{tid}/users/{id}`: change any of [`USER_PROPS`] but `id`.
    pub fn patch_user_directly(
        &mut self,
        tid: &str,
        id: &str,
        body: Value,
        now: Timestamp,
    ) -> Result<Value, String> {
        self.settle(now);
        let Value::Object(m) = body else {
            return Err("body must be a JSON object".into());
        };
        if let Some(k) = m
            .keys()
            .find(|k| !USER_PROPS.contains(&k.as_str()) || *k == "id")
        {
            return Err(format!("property '{k}' can't be changed"));
        }
        let t = self.tenants.get_mut(&key(tid)).ok_or("no such tenant")?;
        let u = t
            .people
            .users
            .get_mut(&key(id))
            .filter(|u| u.deleted.is_none())
            .ok_or_else(|| format!("no user {id}"))?;
        u.props.extend(m);
        Ok(user_json(u))
    }

    /// `DELETE /_emulator/tenants/{tid}/users/{id}`: a soft delete, as in the portal.
    pub fn delete_user_directly(
        &mut self,
        tid: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<(), String> {
        self.settle(now);
        let t = self.tenants.get_mut(&key(tid)).ok_or("no such tenant")?;
        let u = t
            .people
            .users
            .get_mut(&key(id))
            .filter(|u| u.deleted.is_none())
            .ok_or_else(|| format!("no user {id}"))?;
        u.deleted = Some(now);
        Ok(())
    }

    /// `POST /_emulator/tenants/{tid}/groups`: `{displayName, description?, id?, members?: [ids]}`.
    pub fn seed_group(&mut self, tid: &str, body: Value, now: Timestamp) -> Result<Value, String> {
        self.settle(now);
        let Value::Object(mut m) = body else {
            return Err("body must be a JSON object".into());
        };
        let members: Vec<String> = match m.remove("members") {
            None => vec![],
            Some(v) => serde_json::from_value(v).map_err(|_| "members must be a list of ids")?,
        };
        if let Some(k) = m
            .keys()
            .find(|k| !["id", "displayName", "description"].contains(&k.as_str()))
        {
            return Err(format!("unknown group property '{k}'"));
        }
        if !m.get("displayName").is_some_and(Value::is_string) {
            return Err("displayName (a string) is required".into());
        }
        let t = self.tenants.get_mut(&key(tid)).ok_or("no such tenant")?;
        let id = match m.get("id").and_then(Value::as_str) {
            Some(i) if uuid::Uuid::parse_str(i).is_ok() => i.to_string(),
            Some(_) => return Err("id must be a GUID".into()),
            None => new_id(),
        };
        for mem in &members {
            if t.people.user(mem).is_none() && !t.people.groups.contains_key(&key(mem)) {
                return Err(format!(
                    "member {mem} is neither a user nor a group of {tid}"
                ));
            }
        }
        m.insert("id".into(), Value::String(id.clone()));
        m.entry("description").or_insert(Value::Null);
        m.insert("groupTypes".into(), json!([]));
        m.insert("mailEnabled".into(), json!(false));
        m.insert("securityEnabled".into(), json!(true));
        m.insert("createdDateTime".into(), Value::String(graph_time(now)));
        let g = Group { props: m, members };
        let out = Value::Object(g.props.clone());
        t.people.groups.insert(key(&id), g);
        Ok(out)
    }

    /// `POST /_emulator/tenants/{tid}/groups/{gid}/members {"id"}` (add) or
    /// `DELETE …/members/{id}` (remove, `add == false`).
    pub fn group_member_directly(
        &mut self,
        tid: &str,
        gid: &str,
        member: &str,
        add: bool,
        now: Timestamp,
    ) -> Result<(), String> {
        self.settle(now);
        let t = self.tenants.get_mut(&key(tid)).ok_or("no such tenant")?;
        let known = t.people.user(member).is_some() || t.people.groups.contains_key(&key(member));
        let g = t
            .people
            .groups
            .get_mut(&key(gid))
            .ok_or_else(|| format!("no group {gid}"))?;
        let at = g
            .members
            .iter()
            .position(|m| m.eq_ignore_ascii_case(member));
        match (add, at) {
            (true, Some(_)) => Err(format!("{member} is already a member")),
            (true, None) if !known => Err(format!("no user or group {member}")),
            (true, None) => {
                g.members.push(member.to_string());
                Ok(())
            }
            (false, Some(i)) => {
                g.members.remove(i);
                Ok(())
            }
            (false, None) => Err(format!("{member} is not a member")),
        }
    }

    pub(super) fn people_snapshot(&self, tid: &str) -> Value {
        let Some(t) = self.tenants.get(&key(tid)) else {
            return Value::Null;
        };
        json!({
            "users": t.people.users.values().map(|u| {
                let mut v = user_json(u);
                if let Some(d) = u.deleted { v["deletedDateTime"] = json!(graph_time(d)); }
                v
            }).collect::<Vec<_>>(),
            "groups": t.people.groups.values().map(|g| {
                let mut v = Value::Object(g.props.clone());
                v["members"] = json!(g.members);
                v
            }).collect::<Vec<_>>(),
        })
    }
}
