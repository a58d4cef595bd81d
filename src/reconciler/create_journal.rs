//! The durable record of creates in flight: before a create call goes to Graph, its intent is
//! written here, so that after a crash the next leader knows the call may have landed (and
//! waits for Graph's lists to show it) instead of creating a second object.
//!
//! Why not in each resource's status: a status write of a custom resource costs the API server
//! about three times an Event or a Lease write (bench/api_costs.py), and it was half of the API server's work
//! in a burst of creates. Here one write carries the intents of every create waiting at that
//! moment (group commit: the first waiter writes, the others find theirs already written), so a
//! burst of N creates costs about N / 2 writes (scripts/bench). The record of one create lives
//! only until the resource's own status holds the outcome (the id, or a pending record when the
//! answer was lost); the entry then goes with the next write.
//!
//! Where: annotations of one Lease per operator deployment and watched scope
//! (`<leader-election-lease>-creates-<hash>` in the leader election namespace), which the
//! operator may already write; one annotation per
//! resource uid, its value a small JSON object (when, and what the kind needs to recover).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use tokio::sync::{Mutex as AsyncMutex, Notify};

use crate::error::{Error, Result};

/// The annotation prefix of one entry; the name part is the resource's uid.
const PREFIX: &str = "pending-create.graphorg.io/";

/// An entry older than this belongs to a resource deleted before its create was resolved
/// (nothing reconciles it any more): dropped at the next write.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The largest entry the journal takes. The Lease is shared by every namespace, so one
/// resource's intent (its list of namesakes in Graph, say) must not be able to fill it; a larger
/// intent is recorded in the resource's own status instead.
pub(crate) const ENTRY_MAX_BYTES: usize = 1024;

/// How long a write waits at most for the rounds about to record an intent. Bounded, so rounds
/// held up by a slow Graph endpoint cost another namespace's creates at most this much.
const GATHER_AT_MOST: std::time::Duration = std::time::Duration::from_millis(30);

#[derive(Default)]
struct Approaching {
    count: AtomicUsize,
    arrived: Notify,
}

/// A round on its way to perhaps recording an intent; dropping it says it arrived or turned off.
pub(crate) struct Approach(Arc<Approaching>);

impl Drop for Approach {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.arrived.notify_waiters();
    }
}

/// Where the journal lives.
#[derive(Clone, Debug)]
pub struct JournalLease {
    pub namespace: String,
    pub name: String,
}

/// What this process knows of the journal.
#[derive(Default)]
struct Entries {
    /// uid → entry (JSON), as it should be on the server.
    wanted: BTreeMap<String, String>,
    /// Bumped by every change to `wanted`; `durable` is the value last written.
    version: u64,
    durable: u64,
    /// When this process first read the journal: an entry on the server that we don't hold and
    /// that started later was written by someone else (a previous leader still finishing).
    loaded_at: Option<jiff::Timestamp>,
    /// Resources whose entry another process wrote while this one ran (kept by a re-read), that
    /// no round of this process has looked at yet: a round about to record one is refused.
    unseen_foreign: std::collections::BTreeSet<String>,
}

pub(crate) struct CreateJournal {
    api: Api<Lease>,
    /// Written into each entry (`by`): which process recorded it, so that an entry for the
    /// same resource from another replica (two leaders for a moment) is recognised as theirs.
    process: String,
    name: String,
    /// `namespace/name`, for errors.
    lease: String,
    identity: String,
    /// Counts the writes (`graphorg_create_journal_writes_total`).
    writes: prometheus_client::metrics::counter::Counter,
    entries: Mutex<Entries>,
    /// Rounds that may record an intent soon.
    approaching: Arc<Approaching>,
    /// Held while reading or writing the Lease; the copy last read or written (for its
    /// resourceVersion), `None` before the first read or when there is no Lease yet.
    writer: AsyncMutex<Option<Lease>>,
}

fn locked(m: &Mutex<Entries>) -> MutexGuard<'_, Entries> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// When an entry's create started (`startedAt`), if it says.
fn started_at(entry: &str) -> Option<jiff::Timestamp> {
    let v: serde_json::Value = serde_json::from_str(entry).ok()?;
    v.get("startedAt")?.as_str()?.parse().ok()
}

/// Which process wrote an entry (`by`), if it says.
fn written_by(entry: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(entry).ok()?;
    Some(v.get("by")?.as_str()?.to_string())
}

fn entries_of(lease: &Lease) -> BTreeMap<String, String> {
    lease
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v.clone())))
        .collect()
}

impl CreateJournal {
    pub(crate) fn new(
        client: kube::Client,
        lease: &JournalLease,
        identity: &str,
        writes: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        Self {
            writes,
            process: format!("{identity}/{}", uuid::Uuid::new_v4().simple()),
            api: Api::namespaced(client, &lease.namespace),
            name: lease.name.clone(),
            lease: format!("{}/{}", lease.namespace, lease.name),
            identity: identity.to_string(),
            entries: Mutex::default(),
            writer: AsyncMutex::new(None),
            approaching: Arc::default(),
        }
    }

    /// The entry of `uid`, if a create of it may be in flight (read from the server the first
    /// time this process asks).
    pub(crate) async fn pending(&self, uid: &str) -> Result<Option<serde_json::Value>> {
        self.load().await?;
        let mut e = locked(&self.entries);
        e.unseen_foreign.remove(uid);
        Ok(e.wanted.get(uid).and_then(|e| serde_json::from_str(e).ok()))
    }

    /// Make `entry` durable for `uid` before its create call. Returns once a write that
    /// includes it succeeded; on failure the entry is withdrawn (no call may follow).
    /// `approach`, the caller's own [`CreateJournal::approach`], is given back once the entry
    /// is in, so that a write waits for it only until then.
    pub(crate) async fn record(
        &self,
        uid: &str,
        entry: &serde_json::Value,
        approach: Option<Approach>,
    ) -> Result<()> {
        self.load().await?;
        let mut entry = entry.clone();
        if let Some(fields) = entry.as_object_mut() {
            fields.insert("by".into(), self.process.clone().into());
        }
        let entry = entry.to_string();
        let ticket = {
            let mut e = locked(&self.entries);
            if e.unseen_foreign.remove(uid) {
                // Another replica's entry for this resource arrived after this round looked
                // (`pending`): its create may be in flight. The next round sees it and waits.
                return Err(Error::CreateRecordedElsewhere {
                    lease: self.lease.clone(),
                });
            }
            e.wanted.insert(uid.to_string(), entry.clone());
            e.version += 1;
            e.version
        };
        drop(approach);
        let mut lease = self.writer.lock().await;
        // Another waiter's write may have carried ours (`durable`); either way, that write may
        // have met another replica's entry for this resource and kept it instead (checked below).
        if locked(&self.entries).durable < ticket {
            self.gather().await;
            let written = self.write(&mut lease).await;
            if written.is_err() {
                let mut e = locked(&self.entries);
                if e.wanted.get(uid) == Some(&entry) {
                    e.wanted.remove(uid);
                    e.version += 1;
                }
                return written;
            }
        }
        let mut e = locked(&self.entries);
        if e.wanted.get(uid) != Some(&entry) {
            e.unseen_foreign.remove(uid);
            // Another replica recorded a create of this resource first (see `keep_foreign`):
            // its create may be in flight, so this one must not be sent.
            return Err(Error::CreateRecordedElsewhere {
                lease: self.lease.clone(),
            });
        }
        Ok(())
    }

    /// The resource's own status now holds the outcome: the entry is no longer needed (it goes
    /// with the next write; until then it is harmless, the status being newer).
    pub(crate) fn forget(&self, uid: &str) {
        let mut e = locked(&self.entries);
        e.unseen_foreign.remove(uid);
        if e.wanted.remove(uid).is_some() {
            e.version += 1;
        }
    }

    /// A round that may record an intent soon (a resource without an id, being looked up):
    /// until the returned guard is dropped, a write waits a little for its entry.
    pub(crate) fn approach(&self) -> Approach {
        self.approaching.count.fetch_add(1, Ordering::SeqCst);
        Approach(self.approaching.clone())
    }

    /// Before a write: let the rounds about to record an intent join it (up to [`GATHER_AT_MOST`]),
    /// so that a burst of creates costs a few writes, not one each.
    async fn gather(&self) {
        let deadline = tokio::time::Instant::now() + GATHER_AT_MOST;
        loop {
            let arrived = self.approaching.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.approaching.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return;
            }
        }
    }

    fn failed(&self, source: kube::Error) -> Error {
        Error::CreateJournal {
            lease: self.lease.clone(),
            source,
        }
    }

    /// Read the Lease once.
    async fn load(&self) -> Result<()> {
        if locked(&self.entries).loaded_at.is_some() {
            return Ok(());
        }
        let mut lease = self.writer.lock().await;
        if locked(&self.entries).loaded_at.is_some() {
            return Ok(());
        }
        let found = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failed(e))?;
        let mut e = locked(&self.entries);
        if let Some(l) = &found {
            e.wanted.extend(entries_of(l));
        }
        e.loaded_at = Some(jiff::Timestamp::now());
        *lease = found;
        Ok(())
    }

    /// Write every wanted entry, with the resourceVersion of the copy last seen; on a conflict,
    /// read again, keep what someone else added since we loaded, and retry (three tries).
    async fn write(&self, lease: &mut Option<Lease>) -> Result<()> {
        let mut tries = 0;
        loop {
            tries += 1;
            let (entries, version) = self.current_entries();
            let next = self.with_entries(
                lease.clone().unwrap_or_else(|| Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
                &entries,
            );
            let result = match lease {
                Some(_) => {
                    self.api
                        .replace(&self.name, &PostParams::default(), &next)
                        .await
                }
                None => self.api.create(&PostParams::default(), &next).await,
            };
            match result {
                Ok(written) => {
                    self.writes.inc();
                    *lease = Some(written);
                    let mut e = locked(&self.entries);
                    e.durable = e.durable.max(version);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 && tries < 3 => {
                    let fresh = self
                        .api
                        .get_opt(&self.name)
                        .await
                        .map_err(|e| self.failed(e))?;
                    if let Some(l) = &fresh {
                        self.keep_foreign(l);
                    }
                    *lease = fresh;
                }
                Err(e) => return Err(self.failed(e)),
            }
        }
    }

    /// The entries to write (abandoned ones dropped) and the version they are.
    fn current_entries(&self) -> (BTreeMap<String, String>, u64) {
        let mut e = locked(&self.entries);
        let now = jiff::Timestamp::now();
        e.wanted.retain(|_, v| {
            started_at(v).is_none_or(|t| {
                std::time::Duration::try_from(now.duration_since(t))
                    .map_or(true, |age| age < ABANDONED_AFTER)
            })
        });
        (e.wanted.clone(), e.version)
    }

    /// Entries on the server that we don't hold and that started after we read the journal
    /// were written by someone else (a previous leader still finishing): keep them. An entry
    /// another process wrote for a resource we are about to record wins: it got there first
    /// (the Lease's resourceVersion orders the two writes), so ours is replaced and its create
    /// is not sent ([`CreateJournal::record`] says so).
    fn keep_foreign(&self, lease: &Lease) {
        let mut e = locked(&self.entries);
        let Some(since) = e.loaded_at else { return };
        for (uid, entry) in entries_of(lease) {
            let theirs = written_by(&entry).is_some_and(|by| by != self.process);
            let arrived = match e.wanted.get(&uid) {
                None => started_at(&entry).is_some_and(|t| t > since),
                Some(ours) => theirs && *ours != entry,
            };
            if arrived {
                if theirs {
                    e.unseen_foreign.insert(uid.clone());
                }
                e.wanted.insert(uid, entry);
                e.version += 1;
            }
        }
    }

    /// `lease` with exactly `entries` as its journal annotations, stamped by this writer.
    fn with_entries(&self, mut lease: Lease, entries: &BTreeMap<String, String>) -> Lease {
        let annotations = lease.metadata.annotations.get_or_insert_with(BTreeMap::new);
        annotations.retain(|k, _| !k.starts_with(PREFIX));
        for (uid, entry) in entries {
            annotations.insert(format!("{PREFIX}{uid}"), entry.clone());
        }
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.identity.clone());
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        lease
    }
}
