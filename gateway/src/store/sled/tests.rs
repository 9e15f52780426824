//! The sled engine's own tests, beside the contract suite: what only
//! sled has (its files, its folder lock, its failed batches).

use super::*;

fn open(dir: &Path) -> futures::future::BoxFuture<'static, Arc<dyn Store>> {
    let key = crate::crypto::SigningKey::load_or_create(dir).unwrap();
    let store = SledStore::open(
        &dir.join("store"),
        1 << 20,
        Arc::new(key),
        crate::store::sealing::Sealing::for_tests(dir),
    )
    .unwrap();
    Box::pin(async move { Arc::new(store) as Arc<dyn Store> })
}

store_contract!(open);

#[test]
fn an_open_waits_for_a_holder_that_lets_go_and_names_one_that_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Arc::new(crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap());
    let dir = tmp.path().join("store");
    let first = SledStore::open(
        &dir,
        1 << 20,
        key.clone(),
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .unwrap();
    // Held for the whole wait: the folder is named as taken.
    let started = std::time::Instant::now();
    let Err(e) = SledStore::open(
        &dir,
        1 << 20,
        key.clone(),
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    ) else {
        panic!("a held folder opened twice")
    };
    assert!(matches!(e, StoreError::Locked(_)), "{e}");
    assert!(started.elapsed() >= LOCK_WAIT);
    // Let go during the wait (as a gateway stopping in this process
    // does): the second open succeeds.
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
    });
    SledStore::open(
        &dir,
        1 << 20,
        key,
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .unwrap();
    holder.join().unwrap();
}

#[tokio::test]
async fn a_damaged_index_key_is_dropped_and_the_sweep_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Arc::new(crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap());
    let dir = tmp.path().join("store");
    {
        let db = ::sled::open(&dir).unwrap();
        let tree = db.open_tree(TREE).unwrap();
        tree.insert([keys::LEASE, 0, 0], vec![]).unwrap();
        let mut expiry = vec![keys::EXPIRY];
        expiry.extend_from_slice(&keys::be(1));
        expiry.extend_from_slice(b"not-an-id");
        tree.insert(expiry.clone(), vec![]).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(
        &dir,
        1 << 20,
        key,
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .unwrap();
    let report = store.sweep(i64::MAX / 2, 0).await.unwrap();
    assert_eq!((report.requeued, report.expired), (0, 0));
    assert!(store.tree().scan_prefix([keys::LEASE]).next().is_none());
    assert!(store.tree().scan_prefix([keys::EXPIRY]).next().is_none());
}

#[test]
fn a_store_of_a_newer_format_is_refused_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Arc::new(crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap());
    let dir = tmp.path().join("store");
    drop(
        SledStore::open(
            &dir,
            1 << 20,
            key.clone(),
            crate::store::sealing::Sealing::for_tests(tmp.path()),
        )
        .unwrap(),
    );
    {
        let db = ::sled::open(&dir).unwrap();
        let tree = db.open_tree(TREE).unwrap();
        tree.insert(b"Vformat", keys::be(recovery::CURRENT_FORMAT + 1).to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let e = SledStore::open(
        &dir,
        1 << 20,
        key,
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .err()
    .expect("refused");
    assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
}

#[tokio::test]
async fn a_group_whose_batch_fails_leaves_every_payload_as_its_record_says() {
    use crate::model::examples::{head, oin};
    use crate::model::{Action, Draft, LegalBasis, MessageHead, MessageRecord, Statute};
    use std::sync::atomic::Ordering;
    let tmp = tempfile::tempdir().unwrap();
    let key = Arc::new(crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap());
    let dir = tmp.path().join("store");
    let store = SledStore::open(
        &dir,
        1 << 20,
        key,
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .unwrap();
    let now = 1_800_000_000_000;
    let large = |reference: &str| {
        let record = MessageRecord::new(MessageHead {
            client_reference: reference.into(),
            created_at_ms: now,
            expires_at_ms: now + 3_600_000,
            payload_bytes: 600 << 10,
            ..head(
                oin(1),
                oin(2),
                LegalBasis::Statute(Statute::MeldrechtVeiligThuis),
            )
        });
        let draft = Draft::about(oin(1), Action::SendAccepted, &record);
        (NewMessage::new(record, vec![7; 600 << 10]), draft)
    };
    let files = || std::fs::read_dir(dir.join(PAYLOADS)).unwrap().count();
    let (m, d) = large("kept");
    let id = m.record.id.clone();
    store
        .accept(m, d, crate::store::contract::fixtures::MAX, now)
        .await
        .unwrap();
    store
        .lease(&oin(2), Take::messages(1), now, 60_000)
        .await
        .unwrap();
    assert_eq!(files(), 1);

    // The batch that would deliver it, and destroy its payload, fails:
    // the payload stays, as its record (still leased) says.
    store.inner.fail_next_batch.store(true, Ordering::SeqCst);
    let failed = store.finish(&oin(2), &id, Outcome::Delivered, now, 0).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert!(store.fault().is_some());
    store.flush().await.unwrap();
    assert!(store.fault().is_none(), "the probe ended the fault");
    assert_eq!(
        store.message(&id).await.unwrap().unwrap().state,
        crate::model::State::Leased
    );
    assert!(store.inner.payloads.locate(&id).unwrap().is_some());
    assert_eq!(files(), 1);

    // The batch that would accept another fails: its file goes too.
    store.inner.fail_next_batch.store(true, Ordering::SeqCst);
    let (m, d) = large("lost");
    let lost = m.record.id.clone();
    assert!(
        store
            .accept(m, d, crate::store::contract::fixtures::MAX, now)
            .await
            .is_err()
    );
    store.flush().await.unwrap();
    assert!(store.message(&lost).await.unwrap().is_none());
    assert!(store.inner.payloads.locate(&lost).unwrap().is_none());
    assert_eq!(files(), 1);

    // Delivered for real: the payload is destroyed, file and all.
    store
        .finish(&oin(2), &id, Outcome::Delivered, now, 0)
        .await
        .unwrap();
    assert!(store.inner.payloads.locate(&id).unwrap().is_none());
    assert_eq!(files(), 0);
}

/// A head is handed out only once it is on disk: a group whose batch was
/// applied but whose sync failed leaves its head unseen, so that a crash
/// then cannot make the gateway sign another root of the same size over a
/// head someone already holds.
#[tokio::test]
async fn a_tree_head_is_handed_out_only_once_it_is_on_disk() {
    use crate::store::TreeReads as _;
    use crate::store::contract::fixtures::*;
    use std::sync::atomic::Ordering;
    let tmp = tempfile::tempdir().unwrap();
    let store = SledStore::open(
        &tmp.path().join("store"),
        1 << 20,
        Arc::new(crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap()),
        crate::store::sealing::Sealing::for_tests(tmp.path()),
    )
    .unwrap();
    accept(&store, message("on-disk", statute(), 1), NOW).await;
    let durable = store.tree_head(None).await.unwrap().expect("a head");

    store.inner.fail_next_sync.store(true, Ordering::SeqCst);
    let m = message("not-yet", statute(), 2);
    let d = draft(&m);
    assert!(store.accept(m, d, MAX, NOW).await.is_err());
    // Its batch is in sled's tree, its head among the keys: not handed out.
    assert!(store.tree().scan_prefix([keys::TREE_HEAD]).count() > 1);
    assert_eq!(store.tree_head(None).await.unwrap(), Some(durable.clone()));
    assert_eq!(store.tree_head(Some(durable.size + 1)).await.unwrap(), None);

    // Once the store writes again, the head is on disk and is handed out.
    store.flush().await.unwrap();
    let now = store.tree_head(None).await.unwrap().unwrap();
    assert!(now.size > durable.size, "{now:?}");
}
