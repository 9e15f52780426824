//! The upgrade to the audit log as a Merkle tree: a data folder written by
//! the release before it (store format 5, `tests/fixtures/README.md`)
//! opens, its log is made a tree over the entries it holds, its receipts
//! still verify by their signatures, and every receipt from then on is
//! proved in the tree under a signed head; over sled, and over PostgreSQL
//! after its store was copied there.

use std::path::PathBuf;

use schakel_client::proto as pb;
use schakel_tests::calls::log_intact;
use schakel_tests::upgrades::open_fixture;
use schakel_tests::{org, postgres_database, pull_until};

/// The signal the folder holds waiting (`fx5-ready`, school-po to the
/// Verwijsindex), sent after `schakel demo` left 56 entries in the log.
const READY: &str = "01a250e9-1bfd-74a5-a5e1-8d0df412e2b9";
/// Entries in the folder's log.
const ENTRIES: u64 = 57;

#[tokio::test]
async fn a_data_folder_of_store_format_5_becomes_a_tree_with_everything_in_it() {
    format_5_becomes_a_tree(None).await;
}

#[tokio::test]
async fn a_store_of_format_5_copied_into_postgresql_becomes_a_tree() {
    let Some(db) = postgres_database("copy_format_5") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    format_5_becomes_a_tree(Some(db)).await;
}

async fn format_5_becomes_a_tree(into: Option<(String, PathBuf)>) {
    let (_old, gw) = open_fixture("store-format-5.tar.gz", into).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let operator = gw.client(org::OPERATOR).await;
    let verdict = log_intact(&operator).await;
    assert!(verdict.entries_checked >= ENTRIES, "{verdict:?}");

    // The receipt stored before the tree verifies by its signature (the
    // client checks every receipt it is given); it has no proof.
    let before = school.status(READY).await.unwrap();
    let accepted = &before.receipts[0];
    assert!(accepted.tree_head.is_none(), "{accepted:?}");
    assert!(!accepted.signature.is_empty());

    // Delivered now: the receipt is proved under a head whose tree holds
    // every entry of the old log as a leaf.
    let got = pull_until(&index, 1).await;
    assert_eq!(got[0].envelope.as_ref().unwrap().message_id, READY);
    index.ack(READY).await.unwrap();
    let after = school.status(READY).await.unwrap();
    let delivered = after.receipts.last().unwrap();
    assert_eq!(delivered.status, pb::ReceiptStatus::Delivered as i32);
    let head = delivered.tree_head.as_ref().expect("a proved receipt");
    assert!(head.size > ENTRIES, "{head:?}");
    assert_eq!(head.first_sequence, 1);
    assert_eq!(delivered.leaf_index, delivered.audit_sequence - 1);
    let keys = schakel_client::KeyRing::from_response(&school.gateway_key().await.unwrap());
    assert_eq!(
        schakel_proto::tree_head::check_receipt(&keys, delivered),
        Ok(())
    );
    log_intact(&operator).await;
}
