//! The contract of the quotas on what is held undelivered: every engine
//! counts the payload bytes of waiting and leased messages per inbox and
//! per sender, in the same step that moves them, and refuses an accept that
//! would pass a quota.

use super::fixtures::*;
use crate::model::Outcome;
use crate::policy::quota::{Exceeded, Quotas};
use crate::store::{AcceptOutcome, Store};

/// The bytes held in the recipient's inbox and by the sender, as the
/// figures report them.
async fn held(store: &dyn Store) -> (u64, u64) {
    let inbox = store
        .inbox_figures()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.recipient == oin(RECIPIENT))
        .map_or(0, |f| f.held_bytes);
    let sender = store
        .sender_figures()
        .await
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == oin(SENDER))
        .map_or(0, |(_, b)| b);
    (inbox, sender)
}

/// An inbox holds at most the limit of undelivered messages.
pub async fn a_full_inbox_refuses_more(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let two = Quotas {
        inbox_messages: 2,
        ..MAX
    };
    for i in 0..2 {
        let m = message(&format!("m{i}"), statute(), i);
        let d = draft(&m);
        assert!(matches!(
            store.accept(m, d, two, NOW).await.unwrap(),
            AcceptOutcome::Accepted(_)
        ));
    }
    let m = message("m2", statute(), 2);
    let d = draft(&m);
    assert_eq!(
        store.accept(m, d, two, NOW).await.unwrap().over_quota(),
        Some(Exceeded::InboxMessages { limit: 2 })
    );
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (2, 0));
    let figures = store.inbox_figures().await.unwrap();
    assert_eq!(figures.len(), 1);
    assert_eq!((figures[0].ready, figures[0].leased), (2, 0));
    assert_eq!(figures[0].oldest_ready_ms, Some(NOW));
    assert_eq!(figures[0].held_bytes, 128);
}

/// The bytes of waiting and leased messages are held per inbox and per
/// sender, from accept until delivery, rejection or expiry; a message that
/// would pass a byte quota is refused and changes nothing; one sender's
/// quota does not stop another's.
pub async fn bytes_held_are_counted_and_bounded(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let quotas = Quotas {
        inbox_messages: 100,
        inbox_bytes: 1_000,
        sender_bytes: 600,
    };
    let try_accept = |reference: &str, size: usize, sender: u8| {
        let mut m = message_of(reference, statute(), size as u8, size);
        m.record.sender = oin(sender);
        let d = draft(&m);
        let store = store.clone();
        async move { store.accept(m, d, quotas, NOW).await.unwrap() }
    };
    let AcceptOutcome::Accepted(_) = try_accept("a", 300, SENDER).await else {
        panic!("a within the quotas");
    };
    let AcceptOutcome::Accepted(_) = try_accept("b", 200, SENDER).await else {
        panic!("b within the quotas");
    };
    assert_eq!(held(store.as_ref()).await, (500, 500));
    // The sender's 500 and 101 more pass its 600.
    assert_eq!(
        try_accept("c", 101, SENDER).await.over_quota(),
        Some(Exceeded::SenderBytes {
            limit: 600,
            held: 500
        })
    );
    // Another sender fills the inbox to its 1,000 bytes, and no further.
    let AcceptOutcome::Accepted(_) = try_accept("d", 500, 3).await else {
        panic!("another sender's");
    };
    assert_eq!(
        try_accept("e", 1, 3).await.over_quota(),
        Some(Exceeded::InboxBytes {
            limit: 1_000,
            held: 1_000
        })
    );
    assert_eq!(held(store.as_ref()).await, (1_000, 500));
    assert_eq!(store.inbox_counts(&oin(RECIPIENT)).await.unwrap(), (3, 0));

    // Leased, the bytes stay held; delivered, they are freed.
    let leased = lease_ids(store.as_ref(), 1, NOW, MINUTE).await;
    assert_eq!(held(store.as_ref()).await, (1_000, 500));
    store
        .finish(&oin(RECIPIENT), &leased[0], Outcome::Delivered, NOW, MINUTE)
        .await
        .unwrap();
    assert_eq!(held(store.as_ref()).await, (700, 200));
    let AcceptOutcome::Accepted(_) = try_accept("c", 101, SENDER).await else {
        panic!("c once a was delivered");
    };
    // Expired, they are freed too; reopened, the counts are as they were.
    store.sweep(NOW + 61 * MINUTE, MINUTE).await.unwrap();
    assert_eq!(held(store.as_ref()).await, (0, 0));
    drop(store);
    let store = open(tmp.path()).await;
    assert_eq!(held(store.as_ref()).await, (0, 0));
    assert!(store.sender_figures().await.unwrap().is_empty());
}
