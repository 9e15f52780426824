//! A signal's change is made in the step that accepts the message carrying
//! it, or not at all; a postponed informing schedules its notice in the
//! signal's own accept.

use super::fixtures::*;
use crate::model::{
    Kind, LegalBasis, MessageId, NoticeType, SignalChange, SignalFacts, SignalRef, State, Statute,
};
use crate::store::{AcceptOutcome, NewMessage, Store};

const DAY: i64 = 86_400_000;

/// A signal to the recipient (the index), lapsing in 100 days, with an
/// informing to be done by `inform_by`.
fn signal(reference: &str, inform_by: Option<i64>) -> NewMessage {
    let mut m = message(reference, LegalBasis::Statute(Statute::Verwijsindex), 7);
    m.record.kind = Kind::Signalering;
    m.record.lapses_at_ms = Some(NOW + 100 * DAY);
    m.record.signal = Some(SignalFacts {
        lapse_limit_ms: Some(NOW + 1000 * DAY),
        inform_by_ms: inform_by,
        ..SignalFacts::default()
    });
    m
}

/// The sender's change of `signal`, carried by a message of its own.
fn change(reference: &str, signal: &MessageId, change: SignalChange) -> NewMessage {
    NewMessage {
        about: Some(SignalRef::Change {
            signal: signal.clone(),
            change,
        }),
        ..message(reference, LegalBasis::Statute(Statute::Verwijsindex), 8)
    }
}

async fn accepting(store: &dyn Store, m: NewMessage, now: i64) -> AcceptOutcome {
    let d = draft(&m);
    store.accept(m, d, MAX, now).await.unwrap()
}

/// A withdrawal before delivery withdraws the signal in the accept's step;
/// a change the signal no longer takes stores nothing.
pub async fn a_signal_change_is_made_with_its_message_or_not_at_all(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let s = accept(store.as_ref(), signal("s", None), NOW).await;
    // Withdrawn before delivery: the signal leaves the inbox, its content
    // destroyed, and the sender has its WITHDRAWN receipt.
    accept(
        store.as_ref(),
        change("w", &s, SignalChange::Withdraw),
        NOW + 1,
    )
    .await;
    let r = store.message(&s).await.unwrap().unwrap();
    assert_eq!(r.state, State::Withdrawn);
    assert!(r.payload_purged);
    assert_eq!(r.lapses_at_ms, Some(NOW + 1));
    assert_eq!(r.signal.unwrap().withdrawn_at_ms, Some(NOW + 1));
    let receipts = store.message_receipts(&s).await.unwrap();
    assert_eq!(
        statuses(&receipts),
        [
            schakel_proto::v1::ReceiptStatus::Accepted,
            schakel_proto::v1::ReceiptStatus::Withdrawn
        ]
    );
    // Only the change is in the index's inbox.
    let leased = lease_ids(store.as_ref(), 10, NOW + 2, MINUTE).await;
    assert_eq!(leased.len(), 1);
    // A second change is refused in the step, and nothing of it is kept.
    let again = change("x", &s, SignalChange::Withdraw);
    let id = again.record.id.clone();
    let outcome = accepting(store.as_ref(), again, NOW + 3).await;
    assert!(
        matches!(outcome, AcceptOutcome::SignalRefused(_)),
        "{outcome:?}"
    );
    assert!(store.message(&id).await.unwrap().is_none());
    // Everything survives a reopen.
    drop(store);
    let store = open(tmp.path()).await;
    let r = store.message(&s).await.unwrap().unwrap();
    assert_eq!(r.signal.unwrap().withdrawn_at_ms, Some(NOW + 1));
}

/// A signal with a postponed informing schedules its notice when it is
/// accepted; an extension and an informing are kept on its record.
pub async fn a_postponed_informing_is_noticed_unless_the_family_was_informed(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let by = NOW + 10 * DAY;
    let s = accept(store.as_ref(), signal("s", Some(by)), NOW).await;
    let due = store.due_notices(by, 100).await.unwrap();
    let informing: Vec<_> = due
        .iter()
        .filter(|d| d.notice.notice_type == NoticeType::InformingDue)
        .collect();
    assert_eq!(informing.len(), 1, "{due:?}");
    assert_eq!(informing[0].at_ms, by);
    assert_eq!(informing[0].notice.message_ids, std::slice::from_ref(&s));
    // Extended and informed, the record says so.
    let later = NOW + 200 * DAY;
    let extend = SignalChange::Extend {
        lapses_at_ms: later,
    };
    accept(store.as_ref(), change("e", &s, extend), NOW + 1).await;
    let informed = SignalChange::Informed {
        parents: true,
        youth: true,
    };
    accept(store.as_ref(), change("i", &s, informed), NOW + 2).await;
    let r = store.message(&s).await.unwrap().unwrap();
    assert_eq!(r.lapses_at_ms, Some(later));
    assert_eq!(r.signal.unwrap().informed_at_ms, Some(NOW + 2));
}

/// An extended signal keeps its content past its first lapse, and loses it
/// at its new one; a withdrawn one loses it at once.
pub async fn an_extended_signal_keeps_its_content_until_its_new_lapse(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let year = 365 * DAY;
    let s = accept(store.as_ref(), signal("s", None), NOW).await;
    let w = accept(store.as_ref(), signal("w", None), NOW).await;
    lease_ids(store.as_ref(), 10, NOW, MINUTE).await;
    let me = oin(RECIPIENT);
    for id in [&s, &w] {
        store
            .finish(&me, id, crate::model::Outcome::Delivered, NOW, year)
            .await
            .unwrap();
    }
    let later = NOW + 200 * DAY;
    let extend = SignalChange::Extend {
        lapses_at_ms: later,
    };
    accept(store.as_ref(), change("e", &s, extend), NOW + 1).await;
    accept(
        store.as_ref(),
        change("x", &w, SignalChange::Withdraw),
        NOW + 1,
    )
    .await;
    assert!(store.message(&w).await.unwrap().unwrap().payload_purged);
    store.sweep(NOW + 100 * DAY + 1, year).await.unwrap();
    assert!(!store.message(&s).await.unwrap().unwrap().payload_purged);
    store.sweep(later + 1, year).await.unwrap();
    assert!(store.message(&s).await.unwrap().unwrap().payload_purged);
}
