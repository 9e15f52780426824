//! The key that signs receipts, checkpoints, export ranges and access
//! reports rotates: what it signs names it, the new key signs from the next
//! start, and everything the old key signed still verifies, online and
//! offline.

use std::path::Path;
use std::process::Command;

use schakel_client::proto as pb;
use schakel_client::{ClientError, KeyRing, SignatureProblem, verify_receipt};
use schakel_tests::calls::{export_lines, gateway_keys, verify_lines};
use schakel_tests::fixtures::{self, BSN};
use schakel_tests::process::{succeeded, workspace_binary};
use schakel_tests::{TestGateway, org};

fn gateway_tool(args: &[&str], data: &Path) -> String {
    succeeded(
        Command::new(workspace_binary("schakel-gateway"))
            .args(args)
            .arg("--data")
            .arg(data)
            .output()
            .expect("schakel-gateway runs"),
    )
}

async fn signalering(gw: &TestGateway, reference: &str) -> pb::SendResponse {
    gw.send(
        org::SCHOOL_PO,
        fixtures::signalering(reference, &gw.oin(org::VERWIJSINDEX)),
    )
    .await
}

/// The key that signed the tree head a receipt is proved under.
fn head_key(receipt: &pb::Receipt) -> &str {
    &receipt.tree_head.as_ref().expect("proved").key_id
}

#[tokio::test]
async fn a_rotated_key_signs_from_the_next_start_and_what_the_old_one_signed_still_verifies() {
    let mut gw = TestGateway::start().await;
    let data = gw.config.storage.data_dir.clone();
    let operator = gw.client(org::OPERATOR).await;
    let old_keys = gateway_keys(&operator).await;
    let old_id = old_keys.ids().next().unwrap().to_owned();
    let before = signalering(&gw, "voor").await;
    let old_receipt = before.receipt.clone().unwrap();
    assert_eq!(head_key(&old_receipt), old_id);
    assert!(
        operator.audit_verify(0, 0).await.unwrap().ok,
        "a checkpoint by the old key"
    );
    let old_report = operator.audit_report(BSN[0], "inzage voor").await.unwrap();
    assert_eq!(old_report.key_id, old_id);
    // A client that stays connected through the rotation, having fetched
    // the old keys.
    let kept = gw.client(org::SCHOOL_PO).await;
    kept.status(&before.message_id).await.unwrap();

    gw.stop().await;
    let said = gateway_tool(&["keys", "rotate"], &data);
    assert!(said.contains(&format!("retired key {old_id}")), "{said}");
    let listed = gateway_tool(&["keys", "list"], &data);
    assert!(listed.contains(&format!("{old_id}  retired")), "{listed}");

    let gw = gw.restart().await;
    let operator = gw.client(org::OPERATOR).await;
    let answer = operator.gateway_key().await.unwrap();
    assert_eq!(answer.keys.len(), 2, "the signing key and the retired one");
    let new_id = answer.key_id.clone();
    assert_ne!(new_id, old_id);
    assert_eq!(
        answer
            .keys
            .iter()
            .map(|k| (k.key_id.as_str(), k.active))
            .collect::<Vec<_>>(),
        [(new_id.as_str(), true), (old_id.as_str(), false)]
    );
    assert_eq!(answer.keys[0].ed25519_public_key, answer.ed25519_public_key);
    let keys = KeyRing::from_response(&answer);

    // Receipts: the new ones name the new key; the old one still verifies,
    // through the keys the gateway lists, and through the client's status.
    let after = signalering(&gw, "na").await;
    let new_receipt = after.receipt.clone().unwrap();
    assert_eq!(head_key(&new_receipt), new_id);
    verify_receipt(&keys, &old_receipt).unwrap();
    verify_receipt(&keys, &new_receipt).unwrap();
    let school = gw.client(org::SCHOOL_PO).await;
    school.status(&before.message_id).await.unwrap();
    school.status(&after.message_id).await.unwrap();
    // The kept client meets a receipt by a key it does not know, fetches
    // the keys again, and verifies it.
    kept.status(&after.message_id).await.unwrap();
    // A verifier that knows only the old key cannot take the new receipt.
    match verify_receipt(&old_keys, &new_receipt) {
        Err(ClientError::BadReceipt { problem, .. }) => {
            assert_eq!(problem, SignatureProblem::UnknownKey(new_id.clone()))
        }
        other => panic!("{other:?}"),
    }

    // The chain: checkpoints by both keys verify online and offline.
    let online = operator.audit_verify(0, 0).await.unwrap();
    assert!(online.ok, "{}", online.problem);
    let lines = export_lines(&operator).await;
    for id in [&old_id, &new_id] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"checkpoint\"") && l.contains(id.as_str())),
            "a checkpoint by {id}"
        );
    }
    let verdict = verify_lines(&lines, &keys);
    assert!(verdict.ok(), "{}", verdict.problem);
    assert!(verdict.checkpoints_checked >= 2);
    let verdict = verify_lines(&lines, &old_keys);
    assert!(
        verdict
            .problem
            .contains(&format!("key {new_id}, which is not among")),
        "{}",
        verdict.problem
    );

    // The access report made before the rotation still verifies.
    schakel_client::access_report::verify(&old_report, &keys).unwrap();
    let new_report = operator.audit_report(BSN[0], "inzage na").await.unwrap();
    assert_eq!(new_report.key_id, new_id);

    // The offline check of a stopped gateway's folder takes both keys.
    let mut gw = gw;
    gw.stop().await;
    let said = gateway_tool(&["audit", "verify"], &data);
    assert!(said.contains("audit log intact"), "{said}");
}

#[test]
fn rotating_a_folder_without_a_key_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_binary("schakel-gateway"))
        .args(["keys", "rotate", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot rotate the signing key"), "{err}");
    assert!(err.contains("gateway-signing.key"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A replaced, cut-off or emptied `child-reference.key` is refused at start,
/// naming the file and saying to restore it: under another secret every
/// consent would refuse its own messages as "for another child", and an
/// access report would silently miss the trail. The original file starts
/// the gateway again, and the consent covers its messages as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_or_damaged_child_key_is_refused_at_start() {
    use schakel_tests::{GatewayProcess, TestPki, failed, workspace_root};
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let consent = fixtures::granted(&gw.client(&pki, org::SWV).await).await;
    drop(gw);
    let key = data.join("child-reference.key");
    let original = std::fs::read(&key).unwrap();
    for (what, bytes, said) in [
        ("replaced", vec![42u8; 32], "restore the key files"),
        ("cut off", original[..16].to_vec(), "does not hold a valid"),
        ("emptied", Vec::new(), "does not hold a valid"),
    ] {
        std::fs::write(&key, &bytes).unwrap();
        let log = failed(
            GatewayProcess::command(&workspace_root(), &[], &pki.env(&data))
                .output()
                .unwrap(),
        );
        assert!(log.contains("child-reference.key"), "{what}: {log}");
        assert!(log.contains(said), "{what}: {log}");
    }
    std::fs::write(&key, &original).unwrap();
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let jgt = pki.oin(org::JGT);
    gw.client(&pki, org::SWV)
        .await
        .send(fixtures::consult("after", &jgt, &consent))
        .await
        .expect("the consent covers its child as before");
}
