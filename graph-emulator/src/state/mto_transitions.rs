//! Time: the asynchronous MTO steps, applied lazily when an operation looks at the directory.

use jiff::Timestamp;

use super::mto::active;
use super::*;

impl Directory {
    /// Apply every transition due at or before `now`, oldest first.
    pub fn settle(&mut self, now: Timestamp) {
        enum Event {
            Activate(String),
            Remove(String, String),
            Join(String),
        }
        self.now = self.now.max(now);
        loop {
            let mut next: Option<(Timestamp, Event)> = None;
            for (k, mto) in &self.mtos {
                if !mto.activated
                    && mto.active_from <= now
                    && next.as_ref().is_none_or(|(t, _)| mto.active_from < *t)
                {
                    next = Some((mto.active_from, Event::Activate(k.clone())));
                }
                for (tk, m) in &mto.members {
                    if let Some(d) = m.removal_due
                        && d <= now
                        && next.as_ref().is_none_or(|(t, _)| d < *t)
                    {
                        next = Some((d, Event::Remove(k.clone(), tk.clone())));
                    }
                }
            }
            for (tk, t) in &self.tenants {
                if t.join.status == Some(ProcessingStatus::Running)
                    && let Some(d) = t.join.due
                    && d <= now
                    && next.as_ref().is_none_or(|(t, _)| d < *t)
                {
                    next = Some((d, Event::Join(tk.clone())));
                }
            }
            match next {
                None => break,
                Some((_, Event::Activate(k))) => self.complete_creation(&k),
                Some((_, Event::Remove(k, tk))) => self.complete_removal(&k, &tk),
                Some((at, Event::Join(tk))) => self.complete_join(&tk, at),
            }
        }
        for t in self.tenants.values_mut() {
            t.orgs.list_due(now);
        }
        self.settle_sync(now);
    }

    /// Creation finished: the organization shows, with its creator an active owner.
    fn complete_creation(&mut self, k: &str) {
        let Some(mto) = self.mtos.get_mut(k) else {
            return;
        };
        mto.activated = true;
        for t in self.tenants.values_mut() {
            if t.membership.as_ref().is_some_and(|m| m.mto == k) {
                t.join = JoinRecord {
                    id: t.join.id.clone(),
                    added_by: Some(t.id.clone()),
                    member_state: Some(MemberState::Active),
                    role: Some(MemberRole::Owner),
                    ..Default::default()
                };
            }
        }
    }

    fn complete_removal(&mut self, k: &str, tk: &str) {
        let Some(mto) = self.mtos.get_mut(k) else {
            return;
        };
        let Some(m) = mto.members.remove(tk) else {
            return;
        };
        let gone: Vec<String> = if m.dissolves {
            let rest: Vec<String> = mto.members.keys().cloned().collect();
            self.mtos.remove(k);
            rest.into_iter().chain([tk.to_string()]).collect()
        } else {
            vec![tk.to_string()]
        };
        for g in gone {
            if let Some(t) = self.tenants.get_mut(&g)
                && t.membership.as_ref().is_some_and(|ms| ms.mto == k)
            {
                t.membership = None;
                t.join = JoinRecord {
                    id: t.join.id.clone(),
                    ..Default::default()
                };
            }
        }
    }

    fn complete_join(&mut self, tk: &str, at: Timestamp) {
        let Some(t) = self.tenants.get(tk) else {
            return;
        };
        let added_by = t.join.added_by.clone().unwrap_or_default();
        let already_member = t.membership.is_some();
        let max = self
            .max_active_tenants
            .unwrap_or(self.timings.max_active_tenants);
        let found = self.mtos.iter().find_map(|(k, mto)| {
            let m = mto.members.get(tk)?;
            let owner_active = mto
                .members
                .get(&key(&added_by))
                .is_some_and(|o| o.state == MemberState::Active);
            (mto.activated
                && m.state == MemberState::Pending
                && m.removal_due.is_none()
                && owner_active)
                .then(|| k.clone())
        });
        let over_limit = |tid: &str| {
            self.over_user_limit
                .iter()
                .any(|o| o.eq_ignore_ascii_case(tid))
        };
        // The four failure reasons the join page lists (graph-api §10), and Graph's unexplained
        // one from the how-to's example (the failJoins fault).
        let failure = match &found {
            _ if already_member => {
                Some("The tenant is already part of a multi-tenant organization.".to_string())
            }
            None => Some(format!(
                "The tenant was not added to a multi-tenant organization by tenant {added_by}."
            )),
            Some(k) if active(&self.mtos[k]).count() >= max => Some(format!(
                "The multi-tenant organization has reached its limit of {max} active tenants."
            )),
            Some(_) if over_limit(tk) => Some(format!(
                "Tenant {tk} has exceeded its limit of internal users for a multi-tenant organization."
            )),
            Some(_) if over_limit(&added_by) => Some(format!(
                "Tenant {added_by} has exceeded its limit of internal users for a multi-tenant organization."
            )),
            Some(_) if self.fail_joins => Some("DirectoryService Exception".to_string()),
            Some(_) => None,
        };
        let t = self.tenants.get_mut(tk).expect("looked up above");
        if let Some(details) = failure {
            t.join.status = Some(ProcessingStatus::Failed);
            t.join.details = Some(details.clone());
            t.join.due = None;
            if let Some(k) = found
                && let Some(m) = self
                    .mtos
                    .get_mut(&k)
                    .and_then(|mto| mto.members.get_mut(tk))
            {
                m.failed = Some(details);
            }
            return;
        }
        let k = found.expect("no failure means an MTO was found");
        let mto = self.mtos.get_mut(&k).expect("found above");
        let m = mto.members.get_mut(tk).expect("found above");
        m.state = MemberState::Active;
        m.joined = Some(at);
        m.failed = None;
        // A role changed while pending takes effect now.
        if let Some(role) = m.desired_role.take() {
            m.role = role;
        }
        t.membership = Some(Membership {
            mto: k.clone(),
            local_id: new_id(),
            created: at,
        });
        t.join.member_state = Some(MemberState::Active);
        t.join.role = Some(m.role);
        t.join.desired = None;
        t.join.status = Some(ProcessingStatus::Succeeded);
        t.join.details = None;
        t.join.due = None;
        self.generate_mto_settings(&k, tk);
    }
}
