//! The contract of what follows a child's trail: the messages of a case,
//! and the audit entries that carry it.

use super::fixtures::*;
use crate::model::{CaseId, ENTRY_FORMAT};

/// A case lists the messages accepted in it, oldest first, and only those;
/// their audit entries carry the case.
pub async fn a_case_lists_its_messages(open: Open) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let case = CaseId::new_v7();
    let other = CaseId::new_v7();
    let mut ids = Vec::new();
    for (i, c) in [&case, &other, &case].into_iter().enumerate() {
        let mut m = message(&format!("c{i}"), statute(), i as u8);
        m.record.case_id = c.clone();
        m.record.created_at_ms = NOW + i as i64;
        ids.push(accept(store.as_ref(), m, NOW + i as i64).await);
    }
    let listed: Vec<_> = store
        .case_messages(&case)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![ids[0].clone(), ids[2].clone()]);
    assert!(
        store
            .case_messages(&CaseId::new_v7())
            .await
            .unwrap()
            .is_empty()
    );
    let entries = store.audit_entries(1, 10).await.unwrap();
    assert_eq!(entries[0].case_id.as_ref(), Some(&case));
    assert_eq!(entries[1].case_id.as_ref(), Some(&other));
    assert!(entries.iter().all(|e| e.format == ENTRY_FORMAT));
}

/// A scheduled notice is due at its moment, taken once (a second take finds
/// nothing and posts nothing), and its message waits in the inbox with no
/// receipt for anyone.
pub async fn notices_are_due_in_order_and_taken_once(open: Open) {
    use crate::model::{Action, Actor, Kind, examples};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let draft = |at: i64| scheduled(at, &format!("at {at}"));
    let audit = crate::model::Draft::new(oin(SENDER), Action::ConsentGranted);
    let consent = consent(&crate::model::ConsentId::new_v7(), NOW + 60 * MINUTE);
    store
        .grant_consent(&consent, audit, vec![draft(NOW + 2), draft(NOW + 1)], NOW)
        .await
        .unwrap();
    assert!(store.due_notices(NOW, 10).await.unwrap().is_empty());
    let due = store.due_notices(NOW + 5, 10).await.unwrap();
    let texts: Vec<_> = due.iter().map(|d| d.notice.text.as_str()).collect();
    assert_eq!(
        texts,
        [format!("at {}", NOW + 1), format!("at {}", NOW + 2)]
    );

    let mut m = message("notice", crate::model::LegalBasis::NoPersonalData, 9);
    m.record.kind = Kind::Notice;
    m.record.sender = examples::oin(0);
    let notice_id = m.record.id.clone();
    let audit = crate::model::Draft::about(Actor::Gateway, Action::NoticeSent, &m.record);
    let keys: Vec<_> = due.iter().map(|d| (d.at_ms, d.id.clone())).collect();
    assert!(
        store
            .post_notice(keys.clone(), Some((m.clone(), audit.clone())), NOW + 5)
            .await
            .unwrap()
    );
    assert!(
        !store
            .post_notice(keys, Some((m, audit)), NOW + 6)
            .await
            .unwrap()
    );
    assert!(store.due_notices(NOW + 5, 10).await.unwrap().is_empty());
    let leased = lease_ids(store.as_ref(), 10, NOW + 7, MINUTE).await;
    assert_eq!(leased, vec![notice_id.clone()]);
    assert!(store.message_receipts(&notice_id).await.unwrap().is_empty());
}

/// A child reference is erased when its retention has passed (from the
/// entry, or from a signal's lapse), the entry stays and the chain still
/// links; the erasure is itself recorded.
pub async fn child_references_are_erased_after_their_retention(open: Open) {
    use crate::model::{Action, Kind};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let dossier = message("d", statute(), 1);
    accept(store.as_ref(), dossier, NOW).await;
    let mut signal = message("s", statute(), 2);
    signal.record.kind = Kind::Signalering;
    signal.record.lapses_at_ms = Some(NOW + 100 * MINUTE);
    accept(store.as_ref(), signal, NOW).await;
    let before = store.audit_entries(1, 10).await.unwrap();
    assert!(before.iter().all(|e| e.child_ref.is_some()));

    // The dossier's retention has passed, the signal's has not begun.
    assert_eq!(
        store
            .erase_child_refs(NOW + MINUTE, 100, NOW + 200 * MINUTE)
            .await
            .unwrap(),
        1
    );
    let after = store.audit_entries(1, 10).await.unwrap();
    assert_eq!(after[0].child_ref, None);
    assert_eq!(after[0].child_salt, None);
    assert_eq!(
        after[0].hash(),
        before[0].hash(),
        "the chain does not change"
    );
    assert!(after[1].child_ref.is_some());
    assert_eq!(after[2].action, Action::ChildRefsErased);
    assert_eq!(
        after[2].time_ms,
        NOW + 200 * MINUTE,
        "made now, not at the cut-off"
    );
    assert!(
        after[2].detail.contains("from 1 entries, up to entry 1"),
        "{}",
        after[2].detail
    );
    assert_eq!(after[2].prev_hash, after[1].hash());
    assert_eq!(
        store
            .erase_child_refs(NOW + MINUTE, 100, NOW + 200 * MINUTE)
            .await
            .unwrap(),
        0
    );
    // Past the signal's lapse.
    assert_eq!(
        store
            .erase_child_refs(NOW + 101 * MINUTE, 100, NOW + 200 * MINUTE)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.audit_entries(2, 1).await.unwrap()[0].child_ref, None);
}

/// The audit entries about a child, or of an organisation, are found
/// through their indexes, after a sequence number; an erased reference
/// leaves the child's index.
pub async fn audit_entries_are_found_by_child_and_by_organisation(open: Open) {
    use crate::model::{Action, Draft, examples};
    use crate::store::AuditKey;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let m = message("m", statute(), 1);
    accept(store.as_ref(), m, NOW).await;
    store
        .append_audit(vec![Draft::new(oin(9), Action::AccessRefused)], NOW)
        .await
        .unwrap();
    let seqs = |es: Vec<crate::model::Entry>| es.into_iter().map(|e| e.seq).collect::<Vec<_>>();
    let child = AuditKey::Child(examples::CHILD);
    assert_eq!(
        seqs(store.audit_entries_about(&child, 0, 10, NOW).await.unwrap()),
        [1]
    );
    let sender = AuditKey::Org(oin(SENDER));
    let recipient = AuditKey::Org(oin(RECIPIENT));
    assert_eq!(
        seqs(
            store
                .audit_entries_about(&sender, 0, 10, NOW)
                .await
                .unwrap()
        ),
        [1]
    );
    assert_eq!(
        seqs(
            store
                .audit_entries_about(&recipient, 0, 10, NOW)
                .await
                .unwrap()
        ),
        [1]
    );
    let other = AuditKey::Org(oin(9));
    assert_eq!(
        seqs(store.audit_entries_about(&other, 0, 10, NOW).await.unwrap()),
        [2]
    );
    assert!(
        store
            .audit_entries_about(&other, 2, 10, NOW)
            .await
            .unwrap()
            .is_empty()
    );
    store.erase_child_refs(NOW + 1, 10, NOW + 2).await.unwrap();
    assert!(
        store
            .audit_entries_about(&child, 0, 10, NOW)
            .await
            .unwrap()
            .is_empty()
    );
}
