//! The contract of the audit log as a Merkle tree: a signed head for each
//! group of writes, every receipt proved under the first head over it, the
//! same proof each time it is handed out, and any two heads consistent.

use std::sync::Arc;

use schakel_proto::merkle;
use schakel_proto::v1 as pb;

use super::fixtures::*;
use crate::store::{AcceptOutcome, Store, tree_proofs};

/// Every receipt carries its proof under a signed head; the heads are
/// the roots of the entries' leaves; any two heads are consistent, before
/// and after a reopen.
pub async fn the_audit_log_is_a_tree_that_proves_every_receipt(open: Open) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await;
    let key = crate::crypto::SigningKey::load_or_create(tmp.path()).unwrap();
    let keys = schakel_proto::keys::KeyRing::single(key.public_key());
    // One step alone, then eight at once (groups of any size).
    let first = accept_receipt(store.as_ref(), "tree-0").await;
    let together = futures::future::join_all((1..=8).map(|i| {
        let store = Arc::clone(&store);
        async move { accept_receipt(store.as_ref(), &format!("tree-{i}")).await }
    }))
    .await;
    for r in std::iter::once(&first).chain(&together) {
        assert!(r.tree_head.is_some(), "no proof: {r:?}");
        assert_eq!(
            schakel_proto::tree_head::check_receipt(&keys, r),
            Ok(()),
            "{r:?}"
        );
        assert_eq!(r.leaf_index, r.audit_sequence - 1);
    }
    let newest = store.tree_head(None).await.unwrap().expect("a head");
    let (head_seq, _) = store.audit_head().await.unwrap();
    assert_eq!(newest.size, head_seq, "every entry is a leaf");
    let entries = store.audit_entries(1, 100).await.unwrap();
    let leaves: Vec<merkle::Hash> = entries.iter().map(|e| e.leaf(&e.hash())).collect();
    assert_eq!(merkle::root(&leaves[..], newest.size), Some(newest.root.0));
    let older = first.tree_head.clone().unwrap();
    assert_eq!(
        store
            .tree_head(Some(older.size))
            .await
            .unwrap()
            .map(|h| h.to_wire()),
        Some(older.clone())
    );
    let proof = tree_proofs::consistency(store.as_ref(), older.size, newest.size)
        .await
        .unwrap();
    let older_root: merkle::Hash = older.root_hash.clone().try_into().unwrap();
    assert_eq!(
        merkle::verify_consistency(
            (older.size, &older_root),
            (newest.size, &newest.root.0),
            &proof
        ),
        Ok(())
    );

    // Handed out again, after a reopen, a receipt is the same bytes: its
    // head is still the first over it, though newer heads were signed.
    let id = first.message_id.parse().unwrap();
    drop(store);
    let store = open(tmp.path()).await;
    accept_receipt(store.as_ref(), "tree-after").await;
    let again = store.message_receipts(&id).await.unwrap();
    assert_eq!(again, vec![first]);
    let later = store.tree_head(None).await.unwrap().unwrap();
    assert!(later.size > newest.size);
}

async fn accept_receipt(store: &dyn Store, reference: &str) -> pb::Receipt {
    let m = message(reference, statute(), 3);
    let d = draft(&m);
    match store.accept(m, d, MAX, NOW).await.unwrap() {
        AcceptOutcome::Accepted(r) => r,
        other => panic!("accepted, got {other:?}"),
    }
}
