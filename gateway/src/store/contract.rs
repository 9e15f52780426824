//! The contract every storage engine keeps: one body of tests, generic over
//! the engine. An engine's tests call [`store_contract!`] with a function
//! that opens its store in a folder (and opens it again on the same folder
//! after it was dropped), and every test below runs against it.

use std::path::Path;
use std::sync::Arc;

use schakel_proto::v1 as pb;

use super::{AcceptOutcome, Finished, NewMessage, Revoked, Store};
use crate::crypto::{ChildRef, Digest};
use crate::model::{
    Action, ConsentId, ConsentRecord, Draft, Giver, Kind, LegalBasis, MessageHead, MessageId,
    MessageRecord, Oin, OrgKind, Outcome, Participant, RejectReason, State, Statute,
};

/// How a contract test opens the engine under test in a folder.
pub type Open = fn(&Path) -> Arc<dyn Store>;

/// Generates one `#[tokio::test]` per contract test for the engine that
/// `$open` opens.
macro_rules! store_contract {
    ($open:path) => {
        store_contract!(@tests $open;
            accepts_once_per_reference,
            a_full_inbox_refuses_more,
            leases_in_order_and_each_message_once,
            a_lease_that_runs_out_comes_back_in_its_place,
            finish_delivers_rejects_and_answers_repeats,
            messages_expire_at_lease_and_by_sweep,
            payloads_are_destroyed_after_retention,
            revoking_a_consent_withdraws_what_is_undelivered,
            a_lapsed_consent_is_noticed_at_lease_and_by_sweep,
            participants_are_added_once_and_edited_one_after_another,
            the_audit_chain_links_is_checkpointed_and_pruned,
            receipts_are_paged_by_cursor,
            everything_survives_a_reopen,
            a_large_payload_round_trips,
            concurrent_steps_see_each_other
        );
    };
    (@tests $open:path; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::store::contract::$name($open).await
            }
        )*
    };
}

const NOW: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const MAX: u64 = 1_000_000;

fn oin(n: u8) -> Oin {
    Oin::parse(&format!("{n:020}")).unwrap()
}

const SENDER: u8 = 1;
const RECIPIENT: u8 = 2;

fn message(reference: &str, basis: LegalBasis, digest: u8) -> NewMessage {
    message_of(reference, basis, digest, 64)
}

fn message_of(reference: &str, basis: LegalBasis, digest: u8, size: usize) -> NewMessage {
    NewMessage {
        record: MessageRecord::new(MessageHead {
            id: MessageId::new_v7(),
            sender: oin(SENDER),
            recipient: oin(RECIPIENT),
            client_reference: reference.into(),
            kind: Kind::Consultatieverzoek,
            case_id: String::new(),
            in_reply_to: None,
            legal_basis: basis,
            child_ref: Some(ChildRef([9; 32])),
            created_at_ms: NOW,
            expires_at_ms: NOW + 60 * MINUTE,
            payload_digest: Digest([digest; 32]),
            request_digest: Digest([digest; 32]),
            payload_bytes: size as u64,
        }),
        sealed_payload: (0..size).map(|i| (i % 251) as u8).collect(),
    }
}

fn statute() -> LegalBasis {
    LegalBasis::Statute(Statute::MeldrechtVeiligThuis)
}

fn draft(m: &NewMessage) -> Draft {
    Draft::about(m.record.sender.clone(), Action::SendAccepted, &m.record)
}

/// Accepts `m`; its id.
async fn accept(store: &dyn Store, m: NewMessage, now: i64) -> MessageId {
    let id = m.record.id.clone();
    let d = draft(&m);
    match store.accept(m, d, MAX, now).await.unwrap() {
        AcceptOutcome::Accepted(_) => id,
        other => panic!("expected an accept, got {other:?}"),
    }
}

async fn lease_ids(store: &dyn Store, max: usize, now: i64, lease_ms: i64) -> Vec<MessageId> {
    store
        .lease(&oin(RECIPIENT), max, now, lease_ms)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.record.id)
        .collect()
}

async fn state_of(store: &dyn Store, id: &MessageId) -> State {
    store.message(id).await.unwrap().unwrap().state
}

fn statuses(receipts: &[pb::Receipt]) -> Vec<pb::ReceiptStatus> {
    receipts
        .iter()
        .map(|r| pb::ReceiptStatus::try_from(r.status).unwrap())
        .collect()
}

fn consent(id: &ConsentId, until: i64) -> ConsentRecord {
    ConsentRecord {
        id: id.clone(),
        registered_by: oin(SENDER),
        child_ref: ChildRef([9; 32]),
        given_by: Giver::Parents,
        given_on: time::macros::date!(2026 - 01 - 01),
        recipient_oins: vec![],
        recipient_kinds: vec![OrgKind::Jgt],
        message_kinds: vec![Kind::Consultatieverzoek],
        purpose: "p".into(),
        valid_from_ms: 0,
        valid_until_ms: until,
        created_at_ms: NOW,
        revoked_at_ms: None,
        revoke_reason: String::new(),
    }
}

async fn grant(store: &dyn Store, until: i64) -> ConsentId {
    let id = ConsentId::new_v7();
    let audit = Draft::new(oin(SENDER), Action::ConsentGranted);
    store
        .grant_consent(&consent(&id, until), audit, NOW)
        .await
        .unwrap();
    id
}

/// A sender's client reference stores one message: a retry is a duplicate with the same receipt, other content a conflict.
pub async fn accepts_once_per_reference(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
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
    assert_eq!(store.audit_entries(1, 10).await.unwrap().len(), 1);
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (1, 0));
    // Another sender may use the same reference.
    let mut theirs = message("ref-1", statute(), 3);
    theirs.record.sender = oin(3);
    accept(store.as_ref(), theirs, NOW).await;
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (2, 0));
}

/// An inbox holds at most the limit of undelivered messages.
pub async fn a_full_inbox_refuses_more(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    for i in 0..2 {
        let m = message(&format!("m{i}"), statute(), i);
        let d = draft(&m);
        assert!(matches!(
            store.accept(m, d, 2, NOW).await.unwrap(),
            AcceptOutcome::Accepted(_)
        ));
    }
    let m = message("m2", statute(), 2);
    let d = draft(&m);
    assert!(matches!(
        store.accept(m, d, 2, NOW).await.unwrap(),
        AcceptOutcome::InboxFull { limit: 2 }
    ));
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (2, 0));
    let figures = store.inbox_figures().await.unwrap();
    assert_eq!(figures.len(), 1);
    assert_eq!((figures[0].ready, figures[0].leased), (2, 0));
    assert_eq!(figures[0].oldest_ready_ms, Some(NOW));
}

/// An inbox is leased first in, first out, each message to one lease at a time.
pub async fn leases_in_order_and_each_message_once(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
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
            .lease(&oin(7), 10, NOW, MINUTE)
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
    let store = open(tmp.path());
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
        .lease(&oin(RECIPIENT), 10, NOW + 20, MINUTE)
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
    let store = open(tmp.path());
    let a = accept(store.as_ref(), message("a", statute(), 1), NOW).await;
    let b = accept(store.as_ref(), message("b", statute(), 2), NOW).await;
    let me = oin(RECIPIENT);
    // Never leased: as if there were none.
    assert!(matches!(
        store
            .finish(&me, &a, Outcome::Delivered, NOW, MINUTE)
            .await
            .unwrap(),
        Finished::NotFound
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
    assert_eq!(receipt.status, pb::ReceiptStatus::Delivered as i32);
    // Repeated: the same receipt.
    let Finished::Done { receipt: again, .. } = store
        .finish(&me, &a, Outcome::Delivered, NOW + 2, MINUTE)
        .await
        .unwrap()
    else {
        panic!("repeated");
    };
    assert_eq!(again, receipt);
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
    assert_eq!(receipt.detail, "DUPLICATE");
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
    let store = open(tmp.path());
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
    let store = open(tmp.path());
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

/// Revoking a consent withdraws every undelivered message under it in the same step.
pub async fn revoking_a_consent_withdraws_what_is_undelivered(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let consent = grant(store.as_ref(), NOW + 60 * MINUTE).await;
    let basis = LegalBasis::Consent(consent.clone());
    let leased = accept(store.as_ref(), message("leased", basis.clone(), 1), NOW).await;
    lease_ids(store.as_ref(), 1, NOW, MINUTE).await;
    let waiting = accept(store.as_ref(), message("waiting", basis.clone(), 2), NOW).await;
    let delivered = accept(store.as_ref(), message("delivered", basis, 3), NOW).await;
    lease_ids(store.as_ref(), 10, NOW, MINUTE).await;
    let me = oin(RECIPIENT);
    store
        .finish(&me, &delivered, Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap();
    assert!(matches!(
        store
            .revoke_consent(&consent, &oin(7), "x", NOW)
            .await
            .unwrap(),
        Revoked::NotYours
    ));
    assert!(matches!(
        store
            .revoke_consent(&ConsentId::new_v7(), &oin(SENDER), "x", NOW)
            .await
            .unwrap(),
        Revoked::NotFound
    ));
    let Revoked::Done {
        consent: c,
        withdrawn,
    } = store
        .revoke_consent(&consent, &oin(SENDER), "ingetrokken", NOW + 1)
        .await
        .unwrap()
    else {
        panic!("revoked");
    };
    assert_eq!(c.revoked_at_ms, Some(NOW + 1));
    let mut got: Vec<_> = withdrawn
        .iter()
        .map(|w| (w.record.id.clone(), w.was_leased))
        .collect();
    got.sort();
    let mut expected = vec![(leased.clone(), true), (waiting.clone(), true)];
    expected.sort();
    assert_eq!(got, expected, "both were leased in this test");
    for w in &withdrawn {
        assert_eq!(w.receipt.status, pb::ReceiptStatus::Withdrawn as i32);
        assert!(w.record.payload_purged);
        assert!(
            w.receipt.detail.contains("revoked: ingetrokken"),
            "{}",
            w.receipt.detail
        );
    }
    assert_eq!(state_of(store.as_ref(), &delivered).await, State::Delivered);
    assert!(matches!(
        store
            .revoke_consent(&consent, &oin(SENDER), "again", NOW + 2)
            .await
            .unwrap(),
        Revoked::Already(_)
    ));
    // An ack of a withdrawn message answers its withdrawal and is recorded.
    let Finished::AlreadyFinal { record, receipt } = store
        .finish(&me, &leased, Outcome::Delivered, NOW + 3, MINUTE)
        .await
        .unwrap()
    else {
        panic!("already final");
    };
    assert_eq!(record.state, State::Withdrawn);
    assert_eq!(receipt.unwrap().status, pb::ReceiptStatus::Withdrawn as i32);
    let notices = store
        .audit_entries(1, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::Withdrawn && e.actor.oin() == Some(&me))
        .count();
    assert_eq!(notices, 1);
    let second = grant(store.as_ref(), NOW + 60 * MINUTE).await;
    let mine: Vec<_> = store
        .consents_of(&oin(SENDER))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(mine, vec![second, consent], "newest first");
    assert!(store.consents_of(&oin(7)).await.unwrap().is_empty());
}

/// A consent that lapsed, or is unknown, withdraws its messages at delivery and by the sweeper.
pub async fn a_lapsed_consent_is_noticed_at_lease_and_by_sweep(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let brief = grant(store.as_ref(), NOW + 10).await;
    let m = accept(
        store.as_ref(),
        message("m", LegalBasis::Consent(brief), 1),
        NOW,
    )
    .await;
    assert!(
        lease_ids(store.as_ref(), 10, NOW + 10, MINUTE)
            .await
            .is_empty()
    );
    let receipts = store.message_receipts(&m).await.unwrap();
    assert_eq!(
        statuses(&receipts),
        vec![pb::ReceiptStatus::Accepted, pb::ReceiptStatus::Withdrawn]
    );
    assert!(
        receipts[1].detail.contains("checked at delivery"),
        "{}",
        receipts[1].detail
    );
    // Unknown consent: withdrawn at delivery too.
    let unknown = LegalBasis::Consent(ConsentId::new_v7());
    let n = accept(store.as_ref(), message("n", unknown, 2), NOW).await;
    assert!(lease_ids(store.as_ref(), 10, NOW, MINUTE).await.is_empty());
    assert_eq!(state_of(store.as_ref(), &n).await, State::Withdrawn);
    // The sweeper withdraws without anyone pulling.
    let other = grant(store.as_ref(), NOW + 20).await;
    let o = accept(
        store.as_ref(),
        message("o", LegalBasis::Consent(other), 3),
        NOW,
    )
    .await;
    let report = store.sweep(NOW + 20, MINUTE).await.unwrap();
    assert_eq!(report.withdrawn.len(), 1);
    assert_eq!(report.withdrawn[0].record.id, o);
    assert!(!report.withdrawn[0].was_leased);
    assert!(report.withdrawn[0].receipt.detail.contains("lapsed"));
}

/// A participant is added once; concurrent edits of it are applied one after the other, none lost.
pub async fn participants_are_added_once_and_edited_one_after_another(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let p = Participant::new(oin(4), "Wijkteam", OrgKind::Jgt);
    let audit = || Draft::new(oin(9), Action::DirectoryChanged);
    assert!(store.insert_participant(&p, audit(), NOW).await.unwrap());
    let mut twin = p.clone();
    twin.name = "Ander".into();
    assert!(!store.insert_participant(&twin, audit(), NOW).await.unwrap());
    assert_eq!(
        store.participant(&oin(4)).await.unwrap().unwrap().name,
        "Wijkteam"
    );
    // Two edits at once, of different fields: neither is lost.
    let target = oin(4);
    let rename = store.update_participant(
        &target,
        Box::new(|p: &mut Participant| {
            p.name = "Wijkteam Noord".into();
            Draft::new(oin(9), Action::DirectoryChanged).detail("renamed")
        }),
        NOW,
    );
    let suspend = store.update_participant(
        &target,
        Box::new(|p: &mut Participant| {
            p.status = crate::model::Status::Suspended;
            Draft::new(oin(9), Action::DirectoryChanged).detail("suspended")
        }),
        NOW,
    );
    let (a, b) = futures::join!(rename, suspend);
    assert!(a.unwrap().is_some() && b.unwrap().is_some());
    let now = store.participant(&oin(4)).await.unwrap().unwrap();
    assert_eq!(now.name, "Wijkteam Noord");
    assert!(!now.is_active());
    assert!(
        store
            .update_participant(
                &oin(5),
                Box::new(|_| Draft::new(oin(9), Action::DirectoryChanged)),
                NOW
            )
            .await
            .unwrap()
            .is_none()
    );
    let q = Participant::new(oin(3), "School", OrgKind::School);
    store.insert_participant(&q, audit(), NOW).await.unwrap();
    let all: Vec<_> = store
        .participants()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.oin)
        .collect();
    assert_eq!(all, vec![oin(3), oin(4)], "ordered by OIN");
    let details: Vec<_> = store
        .audit_entries(1, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details.len(), 4, "one entry per change: {details:?}");
}

/// Audit entries chain by hash, checkpoints sign the head, pruning keeps the newest entry.
pub async fn the_audit_chain_links_is_checkpointed_and_pruned(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let refused = |i: u64| Draft::new(oin(1), Action::AccessRefused).detail(format!("{i}"));
    store
        .append_audit((1..=3).map(refused).collect(), NOW)
        .await
        .unwrap();
    let early = store.checkpoint(NOW).await.unwrap().unwrap();
    assert_eq!(early.seq, 3);
    store
        .append_audit((4..=5).map(refused).collect(), NOW)
        .await
        .unwrap();
    store
        .append_audit(vec![Draft::new(oin(1), Action::SendRefused)], NOW + 10)
        .await
        .unwrap();
    let entries = store.audit_entries(1, 100).await.unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[0].prev_hash, crate::model::GENESIS_HASH);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash());
    }
    assert_eq!(store.audit_head().await.unwrap(), (6, 3));
    let c = store.checkpoint(NOW + 20).await.unwrap().unwrap();
    assert_eq!((c.seq, c.head_hash), (6, entries[5].hash()));
    assert!(
        store.checkpoint(NOW + 21).await.unwrap().is_none(),
        "nothing new"
    );
    assert_eq!(store.audit_head().await.unwrap(), (6, 6));
    assert_eq!(
        store.audit_checkpoints(1, 6).await.unwrap(),
        vec![early, c.clone()]
    );
    // Pruning removes entries before the moment, and their checkpoints,
    // never the newest entry.
    assert_eq!(store.prune_audit(NOW + 5, 100).await.unwrap(), 5);
    assert_eq!(store.audit_start().await.unwrap(), 6);
    assert_eq!(store.prune_audit(NOW + 1000, 100).await.unwrap(), 0);
    let kept = store.audit_entries(1, 100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6]);
    assert_eq!(store.audit_checkpoints(1, 6).await.unwrap(), vec![c]);
}

/// A sender's receipts are read after a cursor, which is the audit entry of each event.
pub async fn receipts_are_paged_by_cursor(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let me = oin(RECIPIENT);
    let a = accept(store.as_ref(), message("a", statute(), 1), NOW).await;
    accept(store.as_ref(), message("b", statute(), 2), NOW).await;
    lease_ids(store.as_ref(), 1, NOW, MINUTE).await;
    store
        .finish(&me, &a, Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap();
    let all = store.receipts_after(&oin(SENDER), 0, 100).await.unwrap();
    let seen: Vec<_> = all.iter().map(|(_, r)| r.status).collect();
    use pb::ReceiptStatus as R;
    assert_eq!(
        seen,
        vec![R::Accepted as i32, R::Accepted as i32, R::Delivered as i32]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "cursors ascend");
    let after = store
        .receipts_after(&oin(SENDER), all[0].0, 1)
        .await
        .unwrap();
    assert_eq!(after, all[1..2].to_vec());
    assert!(
        store
            .receipts_after(&oin(SENDER), all[2].0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.receipts_after(&me, 0, 100).await.unwrap().is_empty());
    // The cursor of a receipt is the audit entry of its event.
    assert_eq!(all[2].0, all[2].1.audit_sequence);
}

/// Everything a step wrote is there after the store is closed and opened again.
pub async fn everything_survives_a_reopen(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let (waiting, leased, consent, head) = {
        let store = open(tmp.path());
        let leased = accept(store.as_ref(), message("l", statute(), 1), NOW).await;
        lease_ids(store.as_ref(), 1, NOW, MINUTE).await;
        let waiting = accept(store.as_ref(), message("w", statute(), 2), NOW).await;
        let consent = grant(store.as_ref(), NOW + MINUTE).await;
        store.checkpoint(NOW).await.unwrap();
        let p = Participant::new(oin(4), "Wijkteam", OrgKind::Jgt);
        store
            .insert_participant(&p, Draft::new(oin(9), Action::DirectoryChanged), NOW)
            .await
            .unwrap();
        let head = store.audit_head().await.unwrap();
        store.flush().await.unwrap();
        (waiting, leased, consent, head)
    };
    let store = open(tmp.path());
    assert_eq!(store.audit_head().await.unwrap(), head);
    assert_eq!(state_of(store.as_ref(), &leased).await, State::Leased);
    assert_eq!(state_of(store.as_ref(), &waiting).await, State::Ready);
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (1, 1));
    assert!(store.consent(&consent).await.unwrap().is_some());
    assert!(store.participant(&oin(4)).await.unwrap().is_some());
    // The chain goes on from where it was.
    store
        .append_audit(vec![Draft::new(oin(1), Action::AccessRefused)], NOW)
        .await
        .unwrap();
    let entries = store.audit_entries(1, 100).await.unwrap();
    let n = entries.len();
    assert_eq!(entries[n - 1].prev_hash, entries[n - 2].hash());
    assert_eq!(
        lease_ids(store.as_ref(), 10, NOW, MINUTE).await,
        vec![waiting]
    );
}

/// Payloads of every size come back as they were stored.
pub async fn a_large_payload_round_trips(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    for (reference, size) in [("small", 1000), ("large", 600 * 1024)] {
        let m = message_of(reference, statute(), 1, size);
        let expected = m.sealed_payload.clone();
        accept(store.as_ref(), m, NOW).await;
        let leased = store.lease(&oin(RECIPIENT), 1, NOW, MINUTE).await.unwrap();
        assert_eq!(leased[0].sealed_payload, expected, "{reference}");
    }
}

/// Steps that run together see each other's writes: one message for concurrent retries, one lease per message for concurrent pulls.
pub async fn concurrent_steps_see_each_other(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
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
    let pulls = (0..16).map(|_| store.lease(&me, 2, NOW, MINUTE));
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
