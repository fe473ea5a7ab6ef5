//! The outbound queue's per-recipient states (format 7): attempts recorded
//! before and after, final states counted once, administration (retry now,
//! delete), counters, durability across a restart, and the upgrade of
//! format-6 records.

mod common;

use axigen_core::queue::{Attempt, OutboundMessage, QueueId, QueueStore, RecipientState};
use bytes::Bytes;
use common::*;

fn message(to: &[&str]) -> OutboundMessage {
    OutboundMessage {
        message_id: String::new(),
        from: "ann@example.com".into(),
        recipients: to.iter().map(|s| s.to_string()).collect(),
        content: Bytes::from_static(b"Subject: out\r\n\r\nbody\r\n"),
    }
}

fn attempt(outcomes: &[(&str, RecipientState)], next: u64, counts: bool) -> Attempt {
    Attempt {
        outcomes: outcomes.iter().map(|(a, s)| (a.to_string(), s.clone())).collect(),
        next_attempt: next,
        counts,
        delay_notified: false,
    }
}

#[tokio::test]
async fn recipients_move_through_their_states_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(dir.path());
        let id = store.enqueue(message(&["a@x.test", "b@x.test", "c@y.test"])).await.unwrap();
        let e = store.queued_entry(id).await.unwrap().unwrap();
        assert!(e.recipients.iter().all(|r| r.state == RecipientState::Pending));
        // Before the final dot: in flight (not an attempt yet).
        let in_flight = RecipientState::InFlight { since: 10 };
        let e = store
            .record_attempt(id, attempt(&[("a@x.test", in_flight.clone()), ("b@x.test", in_flight)], 0, false))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(e.attempts, 0);
        id
    };
    // A crash here: the restarted store still knows both were in flight.
    let store = open(dir.path());
    let e = store.queued_entry(id).await.unwrap().unwrap();
    let states: Vec<&RecipientState> = e.recipients.iter().map(|r| &r.state).collect();
    assert!(matches!(
        states[..],
        [RecipientState::InFlight { .. }, RecipientState::InFlight { .. }, RecipientState::Pending]
    ));
    assert_eq!(e.open_recipients().count(), 3, "in flight counts as open: it is tried again");

    let delivered = RecipientState::Delivered { at: 20, reply: "250 2.0.0 queued as X".into() };
    let deferred = RecipientState::Deferred { last_error: "451 4.3.0 try later".into() };
    let e = store
        .record_attempt(id, attempt(&[("a@x.test", delivered.clone()), ("b@x.test", deferred.clone())], 500, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.attempts, e.next_attempt), (1, 500));
    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.queued, stats.deferred, stats.delivered, stats.failed), (1, 1, 1, 0));

    // A final state is never changed or counted again.
    let failed = RecipientState::Failed { at: 30, reply: "550 5.1.1 no such user".into() };
    store.record_attempt(id, attempt(&[("a@x.test", failed.clone())], 600, true)).await.unwrap();
    assert_eq!(store.queued_entry(id).await.unwrap().unwrap().recipients[0].state, delivered);
    assert_eq!(store.queue_stats().await.unwrap().delivered, 1);
    // Unknown recipients are refused.
    assert!(store.record_attempt(id, attempt(&[("z@x.test", failed.clone())], 0, true)).await.is_err());

    // Retry now makes it due.
    store.retry_now(id).await.unwrap();
    let due = store.queued_entry(id).await.unwrap().unwrap().next_attempt;
    assert!(due <= axigen_core::unix_now() && due > 600, "{due}");

    // All final: the message leaves the queue and its blob goes.
    let left =
        store.record_attempt(id, attempt(&[("b@x.test", delivered), ("c@y.test", failed)], 0, true)).await.unwrap();
    assert!(left.is_none());
    assert!(store.queued_entry(id).await.unwrap().is_none());
    let stats = store.queue_stats().await.unwrap();
    assert_eq!((stats.queued, stats.deferred, stats.delivered, stats.failed), (0, 0, 2, 1));
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.blobs, 0);

    // Delete: the administrator drops a message.
    let other = store.enqueue(message(&["d@x.test"])).await.unwrap();
    store.delete_queued(other).await.unwrap();
    assert!(store.queued().await.unwrap().is_empty());
    assert!(store.delete_queued(other).await.is_err());
    assert!(store.retry_now(QueueId(999)).await.is_err());
    assert_eq!(store.check(true).unwrap().blobs, 0);
}

#[tokio::test]
async fn format_6_queue_records_are_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.enqueue(message(&["a@x.test"])).await.unwrap();
    }
    {
        // Rewrite the record as format 6 kept it: bare addresses, tried twice.
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let queue = db.cf_handle("queue").unwrap();
        let (key, value) = db.iterator_cf(queue, rocksdb::IteratorMode::Start).next().unwrap().unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&value).unwrap();
        v["entry"]["recipients"] = serde_json::json!(["a@x.test", "b@x.test"]);
        v["entry"]["attempts"] = serde_json::json!(2);
        v["entry"].as_object_mut().unwrap().remove("delay_notified");
        db.put_cf(queue, &key, serde_json::to_vec(&v).unwrap()).unwrap();
        db.put_cf(db.cf_handle("meta").unwrap(), b"format", 6u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path());
    let e = &store.queued().await.unwrap()[0];
    assert_eq!(e.recipients.len(), 2);
    assert!(e.recipients.iter().all(|r| matches!(r.state, RecipientState::Deferred { .. })), "{e:?}");
    assert_eq!(e.attempts, 2);
    assert!(store.check(true).unwrap().is_clean());
    drop(store);
    assert_eq!(layout(dir.path()).1, axigen_store::FORMAT_VERSION.to_be_bytes());
}
