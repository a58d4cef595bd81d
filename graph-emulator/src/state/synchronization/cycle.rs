//! Cycles on the emulated clock (graph-sync §1.10, §2, §5). A started job begins a cycle at
//! once; a cycle lasts `syncCycleSecs` and applies its changes when it ends; the next begins
//! `PT40M` later. Each cycle checks the partner settings (§1.14); a failure quarantines the
//! job (`EncounteredQuarantineException`), retried at 6 h, 12 h, 24 h, then daily, and the
//! job is disabled after 28 days (`application-provisioning-quarantine-status.md`); a retry
//! that passes clears it. In scope: assigned users and the direct members of assigned
//! groups (or everyone with `SyncAll: "true"`), internal members only, that pass the scoping
//! filter; each becomes a B2B user in the target (`creationType: Invitation`,
//! `externalUserState: Accepted`, `userType` per the mapping), is updated when it changes, and
//! is soft-deleted when it leaves the scope (unless disabled first). More than 500 deletes
//! in one cycle quarantine the job `TooManyDeletes` until `restart` with `ForceDeletes`.
//! Evaluated lazily by [`Directory::settle`], so a clock jump runs every cycle due.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::super::directory::User;
use super::super::{Directory, key, new_id};
use super::{DELETE_THRESHOLD, INTERVAL_SECS, Job, Quarantine, Schedule, after_secs, schema};
use crate::clock::graph_time;

/// A change to one target user.
pub(super) struct Change {
    pub(super) action: &'static str,
    pub(super) target_id: String,
    pub(super) target_name: Value,
    pub(super) modified: Vec<Value>,
}

/// What a source user should look like in the target (attribute → value).
fn desired(src: &Map<String, Value>, target_domain: &str, user_type: &str) -> Map<String, Value> {
    let upn = src
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace('@', "_");
    let mut m = Map::new();
    for k in [
        "displayName",
        "givenName",
        "surname",
        "mail",
        "accountEnabled",
    ] {
        m.insert(k.into(), src.get(k).cloned().unwrap_or(Value::Null));
    }
    m.insert(
        "userPrincipalName".into(),
        json!(format!("{upn}#EXT#@{target_domain}")),
    );
    m.insert("showInAddressList".into(), json!(true));
    m.insert("userType".into(), json!(user_type));
    m
}

fn backoff_secs(series_count: i64) -> i64 {
    match series_count {
        ..=1 => 6 * 3600,
        2 => 12 * 3600,
        _ => 24 * 3600,
    }
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.saturating_add(SignedDuration::from_secs(secs))
        .unwrap_or(t)
}

impl Directory {
    /// Run every cycle event due by `now`, earliest first.
    pub(in crate::state) fn settle_sync(&mut self, now: Timestamp) {
        loop {
            let mut next: Option<(Timestamp, String, String, String, bool)> = None;
            for (tk, t) in &self.tenants {
                for (sk, sp) in &t.sync.sps {
                    for (jk, j) in &sp.jobs {
                        let ev = match j.running {
                            Some((_, ends)) => Some((ends, true)),
                            None if j.schedule == Schedule::Active => {
                                j.next_cycle.map(|n| (n, false))
                            }
                            None => None,
                        };
                        if let Some((at, end)) = ev
                            && at <= now
                            && next.as_ref().is_none_or(|n| at < n.0)
                        {
                            next = Some((at, tk.clone(), sk.clone(), jk.clone(), end));
                        }
                    }
                }
            }
            let Some((at, tk, sk, jk, end)) = next else {
                break;
            };
            if end {
                self.finish_cycle(&tk, &sk, &jk, at);
            } else {
                let ends = after_secs(at, self.sync_options.cycle_secs);
                if let Some(j) = self.job_at(&tk, &sk, &jk) {
                    j.running = Some((at, ends));
                    j.next_cycle = None;
                }
            }
        }
    }

    fn job_at(&mut self, tk: &str, sk: &str, jk: &str) -> Option<&mut Job> {
        self.tenants
            .get_mut(tk)?
            .sync
            .sps
            .get_mut(sk)?
            .jobs
            .get_mut(jk)
    }

    /// The source users in scope of service principal `sk`, with the job's schema (`(id,
    /// props)`, ids lower case).
    pub(super) fn scope_of(
        &self,
        tk: &str,
        sk: &str,
        schema: &Value,
    ) -> Vec<(String, Map<String, Value>)> {
        let Some(t) = self.tenants.get(tk) else {
            return vec![];
        };
        let Some(sp) = t.sync.sps.get(sk) else {
            return vec![];
        };
        let all = sp
            .secrets
            .iter()
            .any(|(k, v)| k == "SyncAll" && v.eq_ignore_ascii_case("true"));
        let mut ids: Vec<String> = vec![];
        if all {
            ids = t.people.live_users().map(|u| key(u.id())).collect();
        } else {
            for a in &sp.assignments {
                match a.principal_type {
                    "Group" => {
                        if let Some(g) = t.people.groups.get(&key(&a.principal_id)) {
                            ids.extend(g.members.iter().map(|m| key(m)));
                        }
                    }
                    _ => ids.push(key(&a.principal_id)),
                }
            }
        }
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| t.people.user(&id).map(|u| (id, u)))
            .filter(|(_, u)| u.is_internal_member())
            .filter(|(_, u)| schema::in_scope(schema, &u.props))
            .map(|(id, u)| (id, u.props.clone()))
            .collect()
    }

    /// Create or update the target's B2B user for source user `src` (None: nothing to do).
    pub(super) fn provision_one(
        &mut self,
        source_key: &str,
        target_key: &str,
        src: &Map<String, Value>,
        user_type: &(String, bool),
        at: Timestamp,
    ) -> Option<Change> {
        let sid = key(src.get("id").and_then(Value::as_str).unwrap_or_default());
        let t = self.tenants.get_mut(target_key)?;
        let domain = t
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{}.onmicrosoft.com", t.id));
        let want = desired(src, &domain, &user_type.0);
        let link = (source_key.to_string(), sid);
        let found = t
            .people
            .users
            .values_mut()
            .filter(|u| u.synced_from.as_ref() == Some(&link))
            .find(|u| u.deleted.is_none_or(|d| plus(d, 30 * 86400) > at));
        match found {
            Some(u) => {
                let restored = u.deleted.take().is_some();
                let mut modified = vec![];
                for (k, v) in want {
                    if k == "userType" && !user_type.1 && !restored {
                        continue;
                    }
                    let old = u.props.get(&k).cloned().unwrap_or(Value::Null);
                    if old != v {
                        modified.push(json!({"displayName": k, "oldValue": old.to_string(), "newValue": v.to_string()}));
                        u.props.insert(k, v);
                    }
                }
                if modified.is_empty() && !restored {
                    return None;
                }
                Some(Change {
                    action: if restored { "create" } else { "update" },
                    target_id: u.id().to_string(),
                    target_name: u.props.get("displayName").cloned().unwrap_or(Value::Null),
                    modified,
                })
            }
            None => {
                let id = new_id();
                let mut props = want;
                let modified = props
                    .iter()
                    .map(|(k, v)| json!({"displayName": k, "oldValue": null, "newValue": v.to_string()}))
                    .collect();
                props.insert("id".into(), json!(id));
                props.insert("creationType".into(), json!("Invitation"));
                props.insert("externalUserState".into(), json!("Accepted"));
                props.insert(
                    "externalUserStateChangeDateTime".into(),
                    json!(graph_time(at)),
                );
                props.insert("createdDateTime".into(), json!(graph_time(at)));
                props.insert("businessPhones".into(), json!([]));
                for p in super::super::USER_DEFAULT_PROPS {
                    props.entry(*p).or_insert(Value::Null);
                }
                let name = props.get("displayName").cloned().unwrap_or(Value::Null);
                t.people.users.insert(
                    key(&id),
                    User {
                        props,
                        synced_from: Some(link),
                        deleted: None,
                    },
                );
                Some(Change {
                    action: "create",
                    target_id: id,
                    target_name: name,
                    modified,
                })
            }
        }
    }

    /// A cycle that began at `began` ends at `at`: check, compute, apply, record.
    fn finish_cycle(&mut self, tk: &str, sk: &str, jk: &str, at: Timestamp) {
        let Some(j) = self.job_at(tk, sk, jk) else {
            return;
        };
        let began = j.running.take().map(|r| r.0).unwrap_or(at);
        let schema = j.schema.clone();
        let force = std::mem::take(&mut j.force_deletes);
        let synced = j.synced.clone();
        let Some(t) = self.tenants.get(tk) else {
            return;
        };
        let source_id = t.id.clone();
        let company = t.sync.sps.get(sk).and_then(|sp| {
            sp.secrets
                .iter()
                .find(|(k, _)| k == "CompanyId")
                .map(|(_, v)| v.clone())
        });
        let checked = match &company {
            None => Err(
                json!({"code": "CredentialsMissing", "message": "The CompanyId secret (the target tenant) is not set.", "tenantActionable": true}),
            ),
            Some(target) => self.policy_check(&source_id, target),
        };
        if let Err(error) = checked {
            self.quarantine(
                tk,
                sk,
                jk,
                began,
                at,
                "EncounteredQuarantineException",
                error,
            );
            return;
        }
        let target_key = key(company.as_deref().unwrap_or_default());
        let scope = self.scope_of(tk, sk, &schema);
        let in_scope: Vec<&String> = scope.iter().map(|(id, _)| id).collect();
        let leaving: Vec<(String, String)> = synced
            .iter()
            .filter(|(sid, _)| !in_scope.contains(sid))
            .map(|(s, t)| (s.clone(), t.clone()))
            .collect();
        if leaving.len() > DELETE_THRESHOLD && !force {
            let error = json!({"code": "TooManyDeletes", "message": format!("{} deletes exceed the accidental-deletion threshold of {DELETE_THRESHOLD}.", leaving.len()), "tenantActionable": true});
            self.quarantine(tk, sk, jk, began, at, "TooManyDeletes", error);
            return;
        }
        let user_type = schema::user_type(&schema);
        let cycle_id = new_id();
        let mut changes = vec![];
        let mut new_synced = synced.clone();
        for (sid, props) in &scope {
            let name = props.get("displayName").cloned().unwrap_or(Value::Null);
            if let Some(ch) = self.provision_one(tk, &target_key, props, &user_type, at) {
                new_synced.insert(sid.clone(), ch.target_id.clone());
                changes.push((sid.clone(), name, ch));
            }
        }
        for (sid, tid) in &leaving {
            let Some(u) = self
                .tenants
                .get_mut(&target_key)
                .and_then(|t| t.people.users.get_mut(&key(tid)))
            else {
                new_synced.remove(sid);
                continue;
            };
            new_synced.remove(sid);
            // Disabled first, then out of scope: not deleted (overview).
            if u.deleted.is_some() || u.props.get("accountEnabled") == Some(&Value::Bool(false)) {
                continue;
            }
            u.deleted = Some(at);
            let name = u.props.get("displayName").cloned().unwrap_or(Value::Null);
            changes.push((
                sid.clone(),
                name.clone(),
                super::cycle::Change {
                    action: "delete",
                    target_id: tid.clone(),
                    target_name: name,
                    modified: vec![],
                },
            ));
        }
        let exported = changes.len();
        for (sid, sname, ch) in &changes {
            self.log_change(tk, sk, jk, &cycle_id, at, sid, sname, ch);
        }
        let execution = json!({
            "activityIdentifier": cycle_id,
            "countEntitled": scope.len(), "countEntitledForProvisioning": scope.len(),
            "countEscrowed": 0, "countEscrowedRaw": 0,
            "countExported": exported, "countExports": exported,
            "countImported": scope.len(), "countImportedDeltas": scope.len(), "countImportedReferenceDeltas": 0,
            "state": "Succeeded", "timeBegan": graph_time(began), "timeEnded": graph_time(at), "error": null,
        });
        let Some(j) = self.job_at(tk, sk, jk) else {
            return;
        };
        j.synced = new_synced;
        j.last_execution = Some(execution.clone());
        j.last_success = Some(execution.clone());
        if exported > 0 {
            j.last_success_exports = Some(execution);
        }
        j.quarantine = None;
        j.successive_failures = 0;
        j.steady_first.get_or_insert(at);
        j.steady_last = Some(at);
        j.progress = vec![
            json!({"completedUnits": scope.len(), "totalUnits": scope.len(), "units": "Entries", "progressObservationDateTime": graph_time(at)}),
        ];
        j.next_cycle = Some(plus(at, INTERVAL_SECS));
    }

    #[allow(clippy::too_many_arguments)]
    fn quarantine(
        &mut self,
        tk: &str,
        sk: &str,
        jk: &str,
        began: Timestamp,
        at: Timestamp,
        reason: &'static str,
        error: Value,
    ) {
        let Some(j) = self.job_at(tk, sk, jk) else {
            return;
        };
        j.successive_failures += 1;
        j.last_execution = Some(json!({
            "activityIdentifier": new_id(),
            "countEntitled": 0, "countEntitledForProvisioning": 0, "countEscrowed": 0, "countEscrowedRaw": 0,
            "countExported": 0, "countExports": 0, "countImported": 0, "countImportedDeltas": 0,
            "countImportedReferenceDeltas": 0, "state": "Failed",
            "timeBegan": graph_time(began), "timeEnded": graph_time(at), "error": error.clone(),
        }));
        let q = match j.quarantine.take() {
            Some(mut q) => {
                q.series_count += 1;
                q.current_began = at;
                q.reason = reason;
                q.error = error;
                q
            }
            None => Quarantine {
                series_began: at,
                current_began: at,
                next_attempt: at,
                series_count: 1,
                reason,
                error,
            },
        };
        let next = plus(at, backoff_secs(q.series_count));
        // Disabled after 4 weeks in quarantine.
        if next.duration_since(q.series_began).as_secs() > 28 * 86400 {
            j.schedule = Schedule::Disabled;
            j.next_cycle = None;
        } else {
            j.next_cycle = Some(next);
        }
        j.quarantine = Some(Quarantine {
            next_attempt: next,
            ..q
        });
    }
}
