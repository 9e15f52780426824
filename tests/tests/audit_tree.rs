//! The audit log as a Merkle tree, verified: the gateway's Verify, the
//! export verified offline and the stopped store verified by the gateway's
//! binary all make the root of the newest signed tree head again from the
//! entries' leaves. What the hash chain does not cover (the digest of the
//! receipt an entry's event gave) the tree does: altering it is found.

use schakel_tests::calls::{export_lines, gateway_keys, send_signals, verify_lines};
use schakel_tests::{TestGateway, org};

/// `lines` with the first entry that has a receipt digest given another.
fn receipt_digest_altered(lines: &[String]) -> (Vec<String>, u64) {
    let mut out = lines.to_vec();
    for line in &mut out {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "entry" && v["receipt_digest"].as_str().is_some_and(|d| !d.is_empty()) {
            v["receipt_digest"] = "00".repeat(32).into();
            *line = v.to_string();
            return (out, v["sequence"].as_u64().unwrap());
        }
    }
    panic!("no entry gave a receipt");
}

#[tokio::test]
async fn verify_makes_the_signed_root_again_and_finds_an_altered_receipt_digest() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &gw.oin(org::VERWIJSINDEX), "tree", 5).await;
    let operator = gw.client(org::OPERATOR).await;

    // Online: the chain and the newest head's root.
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    assert!(verdict.tree_size_checked >= 5, "{verdict:?}");

    // Offline, from the export: the head is in it, after its last entry.
    let keys = gateway_keys(&operator).await;
    let lines = export_lines(&operator).await;
    assert!(lines.iter().any(|l| l.contains("\"type\":\"tree_head\"")));
    let verdict = verify_lines(&lines, &keys);
    assert!(verdict.ok(), "{}", verdict.problem);
    assert!(verdict.tree_size_checked >= 5);

    // The receipt digest is not in the entry's hash: the chain and the
    // checkpoints still hold, the tree does not.
    let (altered, _) = receipt_digest_altered(&lines);
    let verdict = verify_lines(&altered, &keys);
    assert!(!verdict.ok());
    assert!(
        verdict
            .problem
            .contains("do not make the root of the signed tree head"),
        "{}",
        verdict.problem
    );
}

#[tokio::test]
async fn an_altered_receipt_digest_in_the_stopped_store_is_found() {
    schakel_tests::sled_only!("the sled tree is altered directly");
    let mut gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    send_signals(&school, &gw.oin(org::VERWIJSINDEX), "t", 3).await;
    drop(school);
    gw.stop().await;
    let verify = || schakel_tests::process::verify_data_folder(&gw.config.storage.data_dir);
    let intact = verify();
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );

    // An intruder with disk access changes what an entry says its sender
    // was told: the entry's hash does not cover it, the tree does.
    {
        let db = sled::open(gw.store_dir()).unwrap();
        let tree = db.open_tree("schakel").unwrap();
        let (key, mut entry) = tree
            .scan_prefix([b'a'])
            .map(|kv| kv.unwrap())
            .map(|(k, v)| (k, serde_json::from_slice::<serde_json::Value>(&v).unwrap()))
            .find(|(_, e)| e.get("receipt_digest").is_some())
            .expect("an entry that gave a receipt");
        entry["receipt_digest"] = "11".repeat(32).into();
        tree.insert(key, serde_json::to_vec(&entry).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let out = verify();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("do not make the root"), "{stdout}");
}
