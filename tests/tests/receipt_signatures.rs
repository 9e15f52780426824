//! The per-receipt signature of earlier releases, for the clients that
//! still need it: asked for with a header on the call, or made for every
//! receipt by a gateway set to `exchange.receipt_signatures = "always"`.

use schakel_client::proto as pb;
use schakel_client::{ClientError, verify_receipt};
use schakel_tests::calls::{deliver, gateway_keys};
use schakel_tests::{TestGateway, fixtures, org};
use tonic::Code;

use pb::ReceiptStatus as R;

/// `message` as a client written before receipts carried proofs sends it:
/// with the header that asks for signed receipts, of `value`.
fn asking<T>(message: T, value: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("schakel-receipt-signature", value.parse().unwrap());
    request
}

/// The status of `message_id`, asked for with the header of `value`.
async fn status_asking_for_signatures(
    client: &schakel_client::Client,
    message_id: &str,
    value: &str,
) -> Result<pb::MessageStatus, tonic::Status> {
    let request = asking(
        pb::GetStatusRequest {
            message_id: message_id.into(),
        },
        value,
    );
    client
        .exchange()
        .get_status(request)
        .await
        .map(|r| r.into_inner())
}

/// What a client written before receipts carried proofs sees of `r`: the
/// fields it knows.
fn as_an_old_client_sees_it(r: &pb::Receipt) -> pb::Receipt {
    pb::Receipt {
        leaf_index: 0,
        audit_entry_hash: Vec::new(),
        inclusion_proof: Vec::new(),
        tree_head: None,
        ..r.clone()
    }
}

#[tokio::test]
async fn a_caller_who_asks_gets_each_receipt_signed_as_before() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let sent = deliver(
        &school,
        &index,
        fixtures::signalering("old", &gw.oin(org::VERWIJSINDEX)),
    )
    .await
    .sent;
    let key = gateway_keys(&school).await;
    let status = status_asking_for_signatures(&school, &sent.message_id, "ed25519")
        .await
        .unwrap();
    assert_eq!(status.receipts.len(), 2, "accepted and delivered");
    for receipt in &status.receipts {
        assert_eq!(receipt.key_id, key.ids().next().unwrap(), "names its key");
        assert!(receipt.tree_head.is_some(), "and keeps its proof");
        verify_receipt(&key, receipt).unwrap();
        // A receipt that carries both is checked on both: a bad signature
        // beside a good proof is refused.
        let mut forged = receipt.clone();
        forged.signature[10] ^= 1;
        assert!(matches!(
            verify_receipt(&key, &forged),
            Err(ClientError::BadReceipt { .. })
        ));
        let old = as_an_old_client_sees_it(receipt);
        verify_receipt(&key, &old).unwrap();
        for tamper in [
            |r: &mut pb::Receipt| r.status = R::Rejected as i32,
            |r: &mut pb::Receipt| r.signature[10] ^= 1,
            |r: &mut pb::Receipt| r.key_id.clear(),
            |r: &mut pb::Receipt| r.key_id = "0011223344556677".into(),
        ] {
            let mut bad = old.clone();
            tamper(&mut bad);
            assert!(matches!(
                verify_receipt(&key, &bad),
                Err(ClientError::BadReceipt { .. })
            ));
        }
    }
    // The same receipts asked for without the header: the same, unsigned.
    let plain = school.status(&sent.message_id).await.unwrap();
    for (signed, proved) in status.receipts.iter().zip(&plain.receipts) {
        assert!(proved.signature.is_empty());
        assert_eq!(
            pb::Receipt {
                signature: Vec::new(),
                key_id: String::new(),
                ..signed.clone()
            },
            *proved
        );
    }
    // The receipt stream signs when asked, too.
    let request = asking(
        pb::ReceiptsRequest {
            after_cursor: 0,
            follow: false,
        },
        "ed25519",
    );
    let mut stream = school
        .exchange()
        .receipts(request)
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    while let Some(event) = stream.message().await.unwrap() {
        let receipt = event.receipt.unwrap();
        verify_receipt(&key, &as_an_old_client_sees_it(&receipt)).unwrap();
        seen += 1;
    }
    assert_eq!(seen, 2);
    // A value the gateway does not know is refused, naming the header.
    let e = status_asking_for_signatures(&school, &sent.message_id, "yes")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("schakel-receipt-signature"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn a_gateway_set_to_always_signs_every_receipt() {
    let gw = TestGateway::start_with(|_, c| {
        c.exchange.receipt_signatures = schakel_gateway::config::ReceiptSignatures::Always
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let sent = gw
        .send(
            org::SCHOOL_PO,
            fixtures::signalering("always", &gw.oin(org::VERWIJSINDEX)),
        )
        .await;
    let key = gateway_keys(&school).await;
    let receipt = sent.receipt.unwrap();
    verify_receipt(&key, &as_an_old_client_sees_it(&receipt)).unwrap();
}
