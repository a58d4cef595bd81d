//! The create journal on its own: group commit, entries dropped once resolved, and entries
//! another writer added kept across a conflict.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::json;

use super::{ApiServer, CLAIMS_NS, JOURNAL_LEASE};
use crate::reconciler::{JournalLease, create_journal::CreateJournal};

fn journal(api: &ApiServer) -> CreateJournal {
    CreateJournal::new(
        api.client(),
        &JournalLease {
            namespace: CLAIMS_NS.into(),
            name: JOURNAL_LEASE.into(),
        },
        "test",
        Default::default(),
    )
}

fn stored_uids(api: &ApiServer) -> Vec<String> {
    let lease: Lease = api.get(CLAIMS_NS, JOURNAL_LEASE).expect("the Lease");
    lease
        .metadata
        .annotations
        .unwrap_or_default()
        .keys()
        .filter_map(|k| k.strip_prefix("pending-create.graphorg.io/"))
        .map(str::to_string)
        .collect()
}

/// The stored entry of `uid`, as JSON.
fn stored_entry(api: &ApiServer, uid: &str) -> Option<serde_json::Value> {
    let lease: Lease = api.get(CLAIMS_NS, JOURNAL_LEASE).expect("the Lease");
    let value = lease
        .metadata
        .annotations?
        .remove(&format!("pending-create.graphorg.io/{uid}"))?;
    serde_json::from_str(&value).ok()
}

/// The record was refused: another replica's create of the resource may be in flight.
fn assert_recorded_elsewhere(result: &crate::error::Result<()>) {
    assert!(
        matches!(
            result,
            Err(crate::error::Error::CreateRecordedElsewhere { .. })
        ),
        "{result:?}"
    );
}

fn lease_writes(api: &ApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.is_write() && r.path.contains("/leases"))
        .count()
}

fn entry() -> serde_json::Value {
    json!({"startedAt": jiff::Timestamp::now().to_string()})
}

#[tokio::test]
async fn creates_waiting_together_share_one_write_and_resolved_ones_go_with_the_next() {
    let api = ApiServer::default();
    let j = Arc::new(journal(&api));
    let uids: Vec<String> = (0..8).map(|i| format!("uid-{i}")).collect();
    let tasks: Vec<_> = uids
        .iter()
        .cloned()
        .map(|uid| {
            let j = j.clone();
            tokio::spawn(async move { j.record(&uid, &entry(), None).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("the task").expect("recorded");
    }

    let writes = lease_writes(&api);
    assert!(
        writes < uids.len(),
        "{writes} writes for {} intents",
        uids.len()
    );
    let mut stored = stored_uids(&api);
    stored.sort();
    assert_eq!(stored, uids, "every intent is durable once record returns");

    for uid in &uids[..7] {
        j.forget(uid);
    }
    assert_eq!(
        lease_writes(&api),
        writes,
        "forgetting writes nothing by itself"
    );
    j.record("uid-8", &entry(), None).await.expect("recorded");
    assert_eq!(stored_uids(&api), ["uid-7", "uid-8"]);
    assert!(j.pending("uid-7").await.expect("read").is_some());
    assert!(j.pending("uid-0").await.expect("read").is_none());
}

#[tokio::test]
async fn a_new_process_reads_the_entries_and_keeps_what_another_writer_added() {
    let api = ApiServer::default();
    let first = journal(&api);
    first
        .record("crashed", &entry(), None)
        .await
        .expect("recorded");

    // A new leader reads the journal the crashed one left.
    let second = journal(&api);
    assert!(second.pending("crashed").await.expect("read").is_some());
    // The old one, not yet stopped, writes one more after the new one read.
    first
        .record("late", &entry(), None)
        .await
        .expect("recorded");
    // The new leader's write conflicts, reads again, and keeps both.
    second
        .record("mine", &entry(), None)
        .await
        .expect("recorded");
    let mut stored = stored_uids(&api);
    stored.sort();
    assert_eq!(stored, ["crashed", "late", "mine"]);
}

#[tokio::test]
async fn a_write_waits_for_a_round_about_to_record_its_intent() {
    let api = ApiServer::default();
    let j = Arc::new(journal(&api));
    // A round looking its resource up in Graph, which may create it.
    let coming = j.approach();
    let first = {
        let j = j.clone();
        tokio::spawn(async move { j.record("first", &entry(), None).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(lease_writes(&api), 0, "the first write waits for the round");

    j.record("second", &entry(), Some(coming))
        .await
        .expect("recorded");
    first.await.expect("the task").expect("recorded");
    assert_eq!(lease_writes(&api), 1, "one write for both");
    let mut stored = stored_uids(&api);
    stored.sort();
    assert_eq!(stored, ["first", "second"]);
}

/// Two replicas that both lead for a moment and both decide to create one resource: the
/// journal's Lease orders their writes, the second sees the first's entry and sends nothing,
/// and from then on waits for that create like any other in flight.
#[tokio::test]
async fn of_two_replicas_recording_one_create_only_the_first_may_send_it() {
    let api = ApiServer::default();
    let (first, second) = (journal(&api), journal(&api));
    // Both have read the journal (empty) before either records.
    assert!(first.pending("uid-1").await.expect("read").is_none());
    assert!(second.pending("uid-1").await.expect("read").is_none());

    first
        .record("uid-1", &entry(), None)
        .await
        .expect("the first records");
    let refused = second.record("uid-1", &entry(), None).await;
    assert_recorded_elsewhere(&refused);
    let theirs = second
        .pending("uid-1")
        .await
        .expect("read")
        .expect("the first's entry, now waited for");
    let first_entry = first.pending("uid-1").await.expect("read");
    assert_eq!(Some(theirs), first_entry);
    // Other resources are unaffected.
    second
        .record("uid-2", &entry(), None)
        .await
        .expect("another resource");
    let mut stored = stored_uids(&api);
    stored.sort();
    assert_eq!(stored, ["uid-1", "uid-2"]);
}

/// The same race when the second replica's entry went in with another round's write (group
/// commit): that write met the first replica's entry for the resource and kept it, so the round
/// whose entry it carried must not send its create either. (It did: it saw its ticket written
/// and went on; a rollout's burst of creates sent several twice that way.)
#[tokio::test]
async fn a_create_carried_by_another_rounds_write_is_refused_when_another_replica_was_first() {
    let api = ApiServer::default();
    let (first, second) = (journal(&api), journal(&api));
    assert!(second.pending("uid-2").await.expect("read").is_none());
    first
        .record("uid-2", &entry(), None)
        .await
        .expect("the first records uid-2");

    // uid-1's write waits for uid-2's round (approaching), so one write carries both.
    let approach = second.approach();
    let (entry_1, entry_2) = (entry(), entry());
    let (one, two) = tokio::join!(
        second.record("uid-1", &entry_1, None),
        second.record("uid-2", &entry_2, Some(approach)),
    );
    one.expect("uid-1 is the second replica's own");
    assert_recorded_elsewhere(&two);
    assert_eq!(
        second.pending("uid-2").await.expect("read"),
        first.pending("uid-2").await.expect("read"),
        "the first replica's entry is the one waited for"
    );
}

/// Another replica's entry can also reach this process with a write for some other resource,
/// after the round for its resource looked at the journal and before it records: that round is
/// refused too (it would have overwritten the entry and created again). Once a round has looked
/// and waited, it may record (nothing is wedged).
#[tokio::test]
async fn an_entry_of_another_replica_that_arrives_after_the_look_refuses_the_record() {
    let api = ApiServer::default();
    let (first, second) = (journal(&api), journal(&api));
    assert!(
        second.pending("uid-1").await.expect("read").is_none(),
        "the round's look: nothing in flight"
    );
    first
        .record("uid-1", &entry(), None)
        .await
        .expect("the first records uid-1");
    // The second's write for another resource meets the first's entry and keeps it.
    second
        .record("uid-2", &entry(), None)
        .await
        .expect("another resource");

    let refused = second.record("uid-1", &entry(), None).await;
    assert_recorded_elsewhere(&refused);
    assert_eq!(
        stored_entry(&api, "uid-1"),
        first.pending("uid-1").await.expect("read"),
        "the first replica's entry is still the stored one"
    );
    // The next round sees it (and waits for it); after that it may record.
    assert!(second.pending("uid-1").await.expect("read").is_some());
    second
        .record("uid-1", &entry(), None)
        .await
        .expect("recorded after looking");
}
