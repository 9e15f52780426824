//! Every RPC against every kind of caller that must not get through, as a
//! table: the status each must get. Calls carry an empty request (a valid
//! message of every call), sent as raw bytes over real mutual TLS, so that
//! the table covers every path whatever its request type.
//!
//! Refusals at the handshake (no certificate, another CA, an expired or a
//! revoked certificate) come before any RPC and are in
//! `tests/tests/identity.rs`; this table is what a certificate the CA
//! issued can and cannot reach.

use schakel_gateway::tools::pki::ClientSpec;
use schakel_tests::calls::raw_result;
use schakel_tests::{TestGateway, code_of, fixtures, org};
use tonic::Code;

/// Every RPC of the five services, and whether it is a server stream.
const RPCS: &[(&str, bool)] = &[
    ("/schakel.v1.Exchange/Send", false),
    ("/schakel.v1.Exchange/Pull", false),
    ("/schakel.v1.Exchange/Subscribe", true),
    ("/schakel.v1.Exchange/Ack", false),
    ("/schakel.v1.Exchange/Reject", false),
    ("/schakel.v1.Exchange/GetStatus", false),
    ("/schakel.v1.Exchange/Receipts", true),
    ("/schakel.v1.Exchange/ListCase", false),
    ("/schakel.v1.Exchange/AddCaseParty", false),
    ("/schakel.v1.Exchange/RemoveCaseParty", false),
    ("/schakel.v1.Exchange/SetCaseCoordinator", false),
    ("/schakel.v1.Exchange/SendToMany", false),
    ("/schakel.v1.Exchange/SendBatch", false),
    ("/schakel.v1.Exchange/AckBatch", false),
    ("/schakel.v1.Consent/Grant", false),
    ("/schakel.v1.Consent/Revoke", false),
    ("/schakel.v1.Consent/List", false),
    ("/schakel.v1.Directory/WhoAmI", false),
    ("/schakel.v1.Directory/Lookup", false),
    ("/schakel.v1.Directory/GatewayKey", false),
    ("/schakel.v1.Directory/TreeHead", false),
    ("/schakel.v1.Audit/Query", true),
    ("/schakel.v1.Audit/Verify", false),
    ("/schakel.v1.Audit/Export", true),
    ("/schakel.v1.Audit/Report", false),
    ("/schakel.v1.Admin/AddParticipant", false),
    ("/schakel.v1.Admin/UpdateParticipant", false),
    ("/schakel.v1.Admin/SuspendParticipant", false),
    ("/schakel.v1.Admin/ReinstateParticipant", false),
    ("/schakel.v1.Admin/ListParticipants", false),
    ("/schakel.v1.Admin/QueueStats", false),
];

#[test]
fn the_table_lists_every_rpc_of_the_contract() {
    use prost::Message as _;
    let set =
        prost_types::FileDescriptorSet::decode(schakel_client::proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut contract: Vec<String> = set
        .file
        .iter()
        .flat_map(|f| {
            let package = f.package().to_owned();
            f.service.iter().flat_map(move |s| {
                let service = format!("{package}.{}", s.name());
                s.method
                    .iter()
                    .map(move |m| format!("/{service}/{}", m.name()))
            })
        })
        .filter(|path| !path.starts_with("/schakel.v1.Echo/"))
        .collect();
    contract.sort();
    let mut table: Vec<String> = RPCS.iter().map(|(p, _)| p.to_string()).collect();
    table.sort();
    assert_eq!(table, contract);
}

/// The code `client` gets for every RPC, each with its path.
async fn codes(client: &schakel_client::Client) -> Vec<(&'static str, Option<Code>)> {
    let mut out = Vec::new();
    for (path, stream) in RPCS {
        let code = raw_result(client, path, Vec::new(), *stream)
            .await
            .err()
            .map(|s| s.code());
        out.push((*path, code));
    }
    out
}

fn all_refused(got: &[(&str, Option<Code>)], code: Code, who: &str) {
    for (path, c) in got {
        assert_eq!(*c, Some(code), "{who} on {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_every_caller_that_must_not_get_through() {
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;

    // A certificate of the CA without an OIN.
    let no_oin = ClientSpec {
        oin: None,
        ..ClientSpec::valid_for("00000099100000000001", "Zonder OIN", 30)
    };
    let client = gw.connect(&gw.pki.issue(&no_oin).0).await.unwrap();
    all_refused(&codes(&client).await, Code::Unauthenticated, "no OIN");

    // An OIN nobody registered.
    let unknown = ClientSpec::valid_for("00000099100000009998", "Onbekend", 30);
    let client = gw.connect(&gw.pki.issue(&unknown).0).await.unwrap();
    all_refused(&codes(&client).await, Code::PermissionDenied, "unknown OIN");

    // A suspended participant.
    let gemeente = gw.client(org::GEMEENTE).await;
    operator
        .suspend_participant(&gw.oin(org::GEMEENTE), "test")
        .await
        .unwrap();
    all_refused(&codes(&gemeente).await, Code::PermissionDenied, "suspended");

    // A certificate that is not the pinned one.
    let jgt = gw.client(org::JGT).await;
    let pin = jgt.whoami().await.unwrap().certificate_sha256;
    schakel_tests::calls::pin(&operator, &gw.oin(org::JGT), vec![pin]).await;
    let other = ClientSpec::valid_for(&gw.oin(org::JGT), "JGT", 30);
    let client = gw.connect(&gw.pki.issue(&other).0).await.unwrap();
    all_refused(&codes(&client).await, Code::PermissionDenied, "not pinned");

    // An ordinary participant reaches its own services, not the operators'
    // (the access report of its own part is its own).
    let school = gw.client(org::SCHOOL_PO).await;
    for (path, code) in codes(&school).await {
        let operators_only = (path.starts_with("/schakel.v1.Audit/")
            && path != "/schakel.v1.Audit/Report")
            || path.starts_with("/schakel.v1.Admin/");
        if operators_only {
            assert_eq!(code, Some(Code::PermissionDenied), "school on {path}");
        } else {
            assert!(
                !matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated)),
                "school on {path}: {code:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_another_organisations_message_consent_or_case() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let index = gw.client(org::VERWIJSINDEX).await;
    let swv = gw.client(org::SWV).await;
    let sent = school
        .send(fixtures::signalering("mine", &gw.oin(org::VERWIJSINDEX)))
        .await
        .unwrap();
    schakel_tests::pull_until(&index, 1).await;
    let consent = fixtures::granted(&swv).await;
    let stranger = gw.client(org::GEMEENTE).await;
    assert_eq!(
        code_of(stranger.ack(&sent.message_id).await),
        Code::NotFound
    );
    assert_eq!(
        code_of(
            stranger
                .reject(
                    &sent.message_id,
                    schakel_client::proto::RejectReason::Technical,
                    "x"
                )
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code_of(stranger.status(&sent.message_id).await),
        Code::NotFound
    );
    assert_eq!(
        code_of(stranger.list_case(&sent.case_id).await),
        Code::NotFound
    );
    assert_eq!(
        code_of(stranger.revoke_consent(&consent, "niet van ons").await),
        Code::PermissionDenied
    );
    // A sender cannot acknowledge its own message for the recipient.
    assert_eq!(code_of(school.ack(&sent.message_id).await), Code::NotFound);
}

/// Arbitrary bytes to every RPC, from an operator (who passes every
/// permission check, so the bytes reach every handler) and from a school:
/// no panic, no internal error, a clear status, and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bytes_to_every_rpc_get_a_clear_status_and_store_nothing() {
    use futures::StreamExt as _;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree as _;
    let gw = TestGateway::start().await;
    let operator = gw.client(org::OPERATOR).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let bytes = prop::collection::vec(any::<u8>(), 0..256);
    for (path, stream) in RPCS {
        for client in [&operator, &school] {
            for _ in 0..24 {
                let body = bytes.new_tree(&mut runner).unwrap().current();
                if let Err(status) = raw_result(client, path, body.clone(), *stream).await {
                    assert!(
                        !matches!(
                            status.code(),
                            Code::Internal | Code::Unknown | Code::Unavailable
                        ),
                        "{path} with {body:?}: {status:?}"
                    );
                    assert!(!status.message().is_empty(), "{path}: {status:?}");
                }
            }
        }
    }
    // Still serving, nothing accepted, the chain intact.
    school.whoami().await.unwrap();
    let receipts: Vec<_> = school.receipts(0, false).await.unwrap().collect().await;
    assert!(receipts.is_empty(), "{receipts:?}");
    assert!(operator.audit_verify(0, 0).await.unwrap().ok);
}
