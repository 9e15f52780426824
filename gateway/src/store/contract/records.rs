//! The contract of what the queue rests on: consents and their withdrawals,
//! participants, the audit chain, receipts, and durability across a reopen.

use schakel_proto::v1 as pb;

use super::fixtures::*;
use crate::model::{Action, ConsentId, Draft, LegalBasis, OrgKind, Outcome, Participant, State};
use crate::store::{Finished, Revoked};

/// Revoking a consent withdraws every undelivered message under it in the same step.
pub async fn revoking_a_consent_withdraws_what_is_undelivered(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
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
            w.receipt.detail.ends_with(" revoked") && !w.receipt.detail.contains("ingetrokken"),
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
    let store = open(tmp.path()).await;
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
    let store = open(tmp.path()).await;
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
    let store = open(tmp.path()).await;
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
    // never the newest entry; and it stops at the first entry of a format
    // it is not to remove.
    assert_eq!(store.prune_audit(NOW + 5, 1, 100).await.unwrap(), 0);
    assert_eq!(store.prune_audit(NOW + 5, u32::MAX, 100).await.unwrap(), 5);
    assert_eq!(store.audit_start().await.unwrap(), 6);
    assert_eq!(
        store.prune_audit(NOW + 1000, u32::MAX, 100).await.unwrap(),
        0
    );
    let kept = store.audit_entries(1, 100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6]);
    assert_eq!(store.audit_checkpoints(1, 6).await.unwrap(), vec![c]);
}

/// A sender's receipts are read after a cursor, which is the audit entry of each event.
pub async fn receipts_are_paged_by_cursor(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
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
        let store = open(tmp.path()).await;
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
    let store = open(tmp.path()).await;
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
