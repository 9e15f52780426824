//! The contract of the message queue: accept, lease, finish, expiry,
//! retention, payloads, and steps that run together.

use schakel_proto::v1 as pb;

use super::fixtures::*;
use crate::model::{Action, MessageId, Outcome, RejectReason, State};
use crate::store::{AcceptOutcome, Finished, Take};

/// A sender's client reference stores one message: a retry is a duplicate with the same receipt, other content a conflict.
pub async fn accepts_once_per_reference(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let first = message("ref-1", statute(), 1);
    let id = first.record.id.clone();
    let d = draft(&first);
    let AcceptOutcome::Accepted(receipt) = store.accept(first, d, MAX, NOW).await.unwrap() else {
        panic!("accepted");
    };
    assert_eq!(receipt.status, pb::ReceiptStatus::Accepted as i32);
    assert_eq!(receipt.message_id, id.to_string());
    let entries = store.audit_entries(1, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(receipt.audit_sequence, entries[0].seq);
    assert_eq!(entries[0].action, Action::SendAccepted);

    let retry = message("ref-1", statute(), 1);
    let d = draft(&retry);
    match store.accept(retry, d, MAX, NOW).await.unwrap() {
        AcceptOutcome::Duplicate {
            record,
            receipt: again,
        } => {
            assert_eq!(record.id, id);
            assert_eq!(again, receipt);
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let other = message("ref-1", statute(), 2);
    let d = draft(&other);
    match store.accept(other, d, MAX, NOW).await.unwrap() {
        AcceptOutcome::Conflict { message_id } => assert_eq!(message_id, id),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Neither the retry nor the conflict stored or recorded anything.
    assert_eq!(store.audit_entries(1, usize::MAX).await.unwrap().len(), 1);
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (1, 0));
    // Another sender may use the same reference.
    let mut theirs = message("ref-1", statute(), 3);
    theirs.record.sender = oin(3);
    accept(store.as_ref(), theirs, NOW).await;
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (2, 0));
}

/// An inbox is leased first in, first out, each message to one lease at a time.
pub async fn leases_in_order_and_each_message_once(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(accept(store.as_ref(), message(&format!("m{i}"), statute(), i), NOW).await);
    }
    assert_eq!(lease_ids(store.as_ref(), 2, NOW, MINUTE).await, ids[..2]);
    assert_eq!(lease_ids(store.as_ref(), 10, NOW, MINUTE).await, ids[2..]);
    assert!(lease_ids(store.as_ref(), 10, NOW, MINUTE).await.is_empty());
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (0, 3));
    let r = store.message(&ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.attempts, r.lease_until_ms),
        (State::Leased, 1, Some(NOW + MINUTE))
    );
    // Another recipient's inbox is its own.
    assert!(
        store
            .lease(&oin(7), Take::messages(10), NOW, MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    let actions: Vec<_> = store
        .audit_entries(1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.iter().filter(|a| **a == Action::Leased).count(), 3);
}

/// A lease that runs out returns the message to its place, for another attempt.
pub async fn a_lease_that_runs_out_comes_back_in_its_place(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let a = accept(store.as_ref(), message("a", statute(), 1), NOW).await;
    let b = accept(store.as_ref(), message("b", statute(), 2), NOW).await;
    assert_eq!(lease_ids(store.as_ref(), 1, NOW, 10).await, vec![a.clone()]);
    // Not yet.
    let report = store.sweep(NOW + 9, MINUTE).await.unwrap();
    assert_eq!(report.requeued, 0);
    let report = store.sweep(NOW + 10, MINUTE).await.unwrap();
    assert_eq!(report.requeued, 1);
    assert_eq!(report.woken_recipients, vec![oin(RECIPIENT)]);
    assert_eq!(state_of(store.as_ref(), &a).await, State::Ready);
    // It keeps its place before the later message, on its second attempt.
    let leased = store
        .lease(&oin(RECIPIENT), Take::messages(10), NOW + 20, MINUTE)
        .await
        .unwrap();
    let got: Vec<_> = leased
        .iter()
        .map(|l| (l.record.id.clone(), l.record.attempts))
        .collect();
    assert_eq!(got, vec![(a, 2), (b, 1)]);
}

/// Only the recipient that leased a message ends it; a repeat answers the same receipt, another final state is refused.
pub async fn finish_delivers_rejects_and_answers_repeats(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let a = accept(store.as_ref(), message("a", statute(), 1), NOW).await;
    let b = accept(store.as_ref(), message("b", statute(), 2), NOW).await;
    let me = oin(RECIPIENT);
    // Never leased: pull it first.
    assert!(matches!(
        store
            .finish(&me, &a, Outcome::Delivered, NOW, MINUTE)
            .await
            .unwrap(),
        Finished::NotLeased
    ));
    lease_ids(store.as_ref(), 2, NOW, MINUTE).await;
    // Not the recipient's: not found either.
    assert!(matches!(
        store
            .finish(&oin(SENDER), &a, Outcome::Delivered, NOW, MINUTE)
            .await
            .unwrap(),
        Finished::NotFound
    ));
    assert!(matches!(
        store
            .finish(&me, &MessageId::new_v7(), Outcome::Delivered, NOW, MINUTE)
            .await
            .unwrap(),
        Finished::NotFound
    ));
    let Finished::Done { record, receipt } = store
        .finish(&me, &a, Outcome::Delivered, NOW + 1, MINUTE)
        .await
        .unwrap()
    else {
        panic!("delivered");
    };
    assert_eq!(record.state, State::Delivered);
    let receipt = receipt.expect("a message an organisation sent has receipts");
    assert_eq!(receipt.status, pb::ReceiptStatus::Delivered as i32);
    // Repeated: the same receipt.
    let Finished::Done { receipt: again, .. } = store
        .finish(&me, &a, Outcome::Delivered, NOW + 2, MINUTE)
        .await
        .unwrap()
    else {
        panic!("repeated");
    };
    assert_eq!(again, Some(receipt));
    // Another final state cannot follow.
    let reject = Outcome::Rejected {
        reason: RejectReason::Duplicate,
        detail: String::new(),
    };
    assert!(matches!(
        store
            .finish(&me, &a, reject.clone(), NOW + 3, MINUTE)
            .await
            .unwrap(),
        Finished::AlreadyFinal { .. }
    ));
    let Finished::Done { receipt, .. } = store
        .finish(&me, &b, reject, NOW + 4, MINUTE)
        .await
        .unwrap()
    else {
        panic!("rejected");
    };
    assert_eq!(receipt.unwrap().detail, "DUPLICATE");
    assert_eq!(
        statuses(&store.message_receipts(&a).await.unwrap()),
        vec![pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Delivered]
    );
    assert_eq!(
        statuses(&store.message_receipts(&b).await.unwrap()),
        vec![pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Rejected]
    );
    assert_eq!(store.inbox_counts(&me).await.unwrap(), (0, 0));
}

/// An undelivered message past its expiry expires, found at lease or by the sweeper.
pub async fn messages_expire_at_lease_and_by_sweep(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let mut soon = message("soon", statute(), 1);
    soon.record.expires_at_ms = NOW + 5;
    let soon = accept(store.as_ref(), soon, NOW).await;
    let mut later = message("later", statute(), 2);
    later.record.expires_at_ms = NOW + 50;
    let later = accept(store.as_ref(), later, NOW).await;
    // Found expired when leasing: expired instead; the other is leased.
    assert_eq!(
        lease_ids(store.as_ref(), 10, NOW + 5, MINUTE).await,
        vec![later.clone()]
    );
    assert_eq!(state_of(store.as_ref(), &soon).await, State::Expired);
    // A leased message that is not finished expires too.
    let report = store.sweep(NOW + 50, MINUTE).await.unwrap();
    assert_eq!(report.expired, 1);
    assert_eq!(state_of(store.as_ref(), &later).await, State::Expired);
    for id in [&soon, &later] {
        let receipts = store.message_receipts(id).await.unwrap();
        assert_eq!(
            statuses(&receipts),
            vec![pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Expired]
        );
        assert_eq!(receipts[1].detail, "not delivered before its expiry");
    }
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (0, 0));
}

/// A finished message's payload is destroyed when its retention has passed (at once with retention 0); its metadata stays.
pub async fn payloads_are_destroyed_after_retention(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let me = oin(RECIPIENT);
    let kept = accept(store.as_ref(), message("kept", statute(), 1), NOW).await;
    let gone = accept(store.as_ref(), message("gone", statute(), 2), NOW).await;
    lease_ids(store.as_ref(), 2, NOW, MINUTE).await;
    store
        .finish(&me, &kept, Outcome::Delivered, NOW, 1000)
        .await
        .unwrap();
    store
        .finish(&me, &gone, Outcome::Delivered, NOW, 0)
        .await
        .unwrap();
    let purged = |id: &MessageId| {
        let store = store.clone();
        let id = id.clone();
        async move { store.message(&id).await.unwrap().unwrap().payload_purged }
    };
    assert!(purged(&gone).await, "retention 0: destroyed at delivery");
    assert!(!purged(&kept).await);
    assert_eq!(store.sweep(NOW + 999, 1000).await.unwrap().purged, 0);
    assert_eq!(store.sweep(NOW + 1000, 1000).await.unwrap().purged, 1);
    assert!(purged(&kept).await);
    let purges = store
        .audit_entries(1, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::Purged)
        .count();
    assert_eq!(purges, 2);
    // The metadata stays.
    assert_eq!(state_of(store.as_ref(), &kept).await, State::Delivered);
}

/// Payloads of every size come back as they were stored.
pub async fn a_large_payload_round_trips(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    for (reference, size) in [("small", 1000), ("large", 600 * 1024)] {
        let m = message_of(reference, statute(), 1, size);
        let expected = m.sealed_payload.clone();
        accept(store.as_ref(), m, NOW).await;
        let leased = store
            .lease(&oin(RECIPIENT), Take::messages(1), NOW, MINUTE)
            .await
            .unwrap();
        assert_eq!(leased[0].sealed_payload, expected, "{reference}");
    }
}

/// Steps that run together see each other's writes: one message for concurrent retries, one lease per message for concurrent pulls.
pub async fn concurrent_steps_see_each_other(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let retries = (0..16).map(|_| {
        let m = message("same", statute(), 1);
        let d = draft(&m);
        store.accept(m, d, MAX, NOW)
    });
    let outcomes = futures::future::join_all(retries).await;
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(AcceptOutcome::Accepted(_))))
        .count();
    assert_eq!(accepted, 1, "one message stored for 16 concurrent retries");
    let more = (0..15).map(|i| {
        let m = message(&format!("m{i}"), statute(), i);
        let d = draft(&m);
        store.accept(m, d, MAX, NOW)
    });
    for o in futures::future::join_all(more).await {
        assert!(matches!(o, Ok(AcceptOutcome::Accepted(_))));
    }
    let me = oin(RECIPIENT);
    let pulls = (0..16).map(|_| store.lease(&me, Take::messages(2), NOW, MINUTE));
    let mut ids: Vec<_> = futures::future::join_all(pulls)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .map(|l| l.record.id)
        .collect();
    let leased = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), leased, "no message was leased twice");
    assert_eq!(leased, 16);
}

/// A lease with a byte budget takes what fits, and always the first message
/// however large; what it does not take stays ready in its place.
pub async fn a_lease_takes_only_what_fits_its_bytes(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let big = 100_000;
    let ids = [
        accept(store.as_ref(), message_of("a", statute(), 1, big), NOW).await,
        accept(store.as_ref(), message_of("b", statute(), 2, big), NOW).await,
        accept(store.as_ref(), message_of("c", statute(), 3, 64), NOW).await,
    ];
    // Room for one large one and a bit: only the first.
    let take = Take {
        messages: 10,
        bytes: big as u64 + 50_000,
    };
    let got = store
        .lease(&oin(RECIPIENT), take, NOW, MINUTE)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, ids[0]);
    assert_eq!(state_of(store.as_ref(), &ids[1]).await, State::Ready);
    // A budget smaller than the next message still takes that one.
    let tiny = Take {
        messages: 10,
        bytes: 1,
    };
    let got = store
        .lease(&oin(RECIPIENT), tiny, NOW, MINUTE)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.id, ids[1]);
    let rest = lease_ids(store.as_ref(), 10, NOW, MINUTE).await;
    assert_eq!(rest, vec![ids[2].clone()]);
}

/// Every receipt the store hands out is proved in the audit log's tree
/// under a head signed by the gateway's key in the data folder, and carries
/// no signature of its own (that is the API's, for callers who ask),
/// whatever path it leaves by: an accept, its retry, a finish and its
/// repeat, a message's receipts and a sender's receipt stream. The same
/// receipt handed out twice is the same bytes.
pub async fn every_receipt_handed_out_is_proved_and_verifies(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let key = crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap();
    let keys = schakel_proto::keys::KeyRing::single(key.public_key());
    let verifies = |r: &pb::Receipt| {
        assert!(r.signature.is_empty(), "signed on its own: {r:?}");
        assert!(r.tree_head.is_some(), "not proved: {r:?}");
        schakel_proto::receipt::check(&keys, r).unwrap_or_else(|e| panic!("{e:?}: {r:?}"));
    };
    let m = message("signed", statute(), 1);
    let id = m.record.id.clone();
    let d = draft(&m);
    let AcceptOutcome::Accepted(accepted) = store.accept(m, d, MAX, NOW).await.unwrap() else {
        panic!("accepted");
    };
    verifies(&accepted);
    let retry = message("signed", statute(), 1);
    let d = draft(&retry);
    let AcceptOutcome::Duplicate { receipt, .. } = store.accept(retry, d, MAX, NOW).await.unwrap()
    else {
        panic!("a duplicate");
    };
    assert_eq!(receipt, accepted);
    lease_ids(store.as_ref(), 1, NOW, MINUTE).await;
    let me = oin(RECIPIENT);
    let delivered = match store
        .finish(&me, &id, Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap()
    {
        Finished::Done { receipt, .. } => receipt.expect("a sender's receipt"),
        other => panic!("delivered, got {other:?}"),
    };
    verifies(&delivered);
    match store
        .finish(&me, &id, Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap()
    {
        Finished::Done { receipt, .. } => assert_eq!(receipt.as_ref(), Some(&delivered)),
        other => panic!("the same answer, got {other:?}"),
    }
    let all = store.message_receipts(&id).await.unwrap();
    assert_eq!(all, vec![accepted.clone(), delivered.clone()]);
    let stream = store.receipts_after(&oin(SENDER), 0, 10).await.unwrap();
    let streamed: Vec<_> = stream.into_iter().map(|(_, r)| r).collect();
    assert_eq!(streamed, vec![accepted, delivered]);
}
