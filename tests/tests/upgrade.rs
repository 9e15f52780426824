//! Upgrades: a data folder written by an earlier release opens, and every
//! message, receipt, consent, directory change and audit entry in it is still
//! there and still verifies. The folders are in `tests/fixtures/` (see the
//! README there for how each was made and what it holds).

use std::path::Path;

use schakel_client::proto as pb;
use schakel_tests::{TestGateway, code_of, org, pull_until, status_of};
use tonic::Code;

/// The messages in the 0.1.0 folder, by client reference.
mod v0_1_0 {
    pub const DELIVERED: &str = "01a20d0d-eae9-753d-bad9-17d91b3cb82e";
    pub const REJECTED: &str = "01a20d0d-eaec-70ec-8cc2-bc057f126cc1";
    pub const REQUEST: &str = "01a20d0d-eaef-71d8-b2a0-3611111f399f";
    pub const REPLY: &str = "01a20d0d-eaf2-758b-9b46-ffc6b176a147";
    pub const WITHDRAWN: &str = "01a20d0d-eaf4-77d3-83f5-07853a188207";
    pub const LEASED: &str = "01a20d0d-eaf5-757b-a11e-fa8935063b1c";
    pub const READY: &str = "01a20d0d-eaf7-742e-ab93-c95db7aba6d5";
    pub const DOSSIER: &str = "01a20d0d-eafb-7391-9fbe-fde084e1827e";
    pub const CONSENT_A: &str = "01a20d0d-eaef-71d8-b2a0-36101493dc5c";
    pub const CONSENT_B: &str = "01a20d0d-eaf3-7214-80b3-91f1f3e7adbb";
}

/// Unpacks a fixture's `data/` folder into `into`.
fn unpack(fixture: &str, into: &Path) {
    let archive = schakel_tests::workspace_root()
        .join("tests/fixtures")
        .join(fixture);
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", archive.display());
}

fn receipt_statuses(s: &pb::MessageStatus) -> Vec<i32> {
    s.receipts.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn a_data_folder_of_release_0_1_0_opens_with_everything_in_it() {
    use v0_1_0::*;
    let old = tempfile::tempdir().unwrap();
    unpack("store-0.1.0.tar.gz", old.path());
    let data = old.path().join("data");
    let gw = TestGateway::start_with(|_, c| {
        c.storage.data_dir = data.clone();
        c.exchange.sweep_interval_ms = 50;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let swv = gw.client(org::SWV).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    let operator = gw.client(org::OPERATOR).await;

    // The old log verifies under the old key, before anything new is added.
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    assert!(verdict.entries_checked >= 25, "{verdict:?}");

    // The waiting message and the one whose lease ran out are delivered, in
    // their order; the latter on its second attempt.
    let got = pull_until(&jgt, 2).await;
    let seen: Vec<_> = got
        .iter()
        .map(|d| {
            let e = d.envelope.as_ref().unwrap();
            (
                e.message_id.as_str(),
                e.client_reference.as_str(),
                d.attempt,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![(LEASED, "fx-leased", 2), (READY, "fx-ready", 1)],
        "{seen:?}"
    );
    // The reply waits for the SWV, linked to its request.
    let got = pull_until(&swv, 1).await;
    let reply = got[0].envelope.as_ref().unwrap();
    assert_eq!(
        (reply.message_id.as_str(), reply.in_reply_to.as_str()),
        (REPLY, REQUEST)
    );
    // The large dossier's payload is read from its file and decrypts.
    let got = pull_until(&vo, 1).await;
    let envelope = got[0].envelope.as_ref().unwrap();
    assert_eq!(envelope.message_id, DOSSIER);
    let content = &envelope.payload.as_ref().unwrap().attachments[0].content;
    let expected: Vec<u8> = (0..260 * 1024).map(|i| (i % 251) as u8).collect();
    assert!(*content == expected, "the dossier's attachment is intact");
    for (client, id) in [(&jgt, LEASED), (&jgt, READY), (&swv, REPLY), (&vo, DOSSIER)] {
        client.ack(id).await.unwrap();
    }

    // Receipts signed by the old key still verify (the client checks every
    // one), and each message kept its final state.
    use pb::ReceiptStatus as R;
    let accepted_delivered = vec![R::Accepted as i32, R::Delivered as i32];
    for id in [DELIVERED, LEASED, READY, DOSSIER] {
        let status = school.status(id).await.unwrap();
        assert_eq!(receipt_statuses(&status), accepted_delivered, "{id}");
    }
    let rejected = school.status(REJECTED).await.unwrap();
    assert_eq!(rejected.receipts[1].detail, "NOT_ASSESSED: geen capaciteit");
    let withdrawn = swv.status(WITHDRAWN).await.unwrap();
    assert_eq!(
        receipt_statuses(&withdrawn),
        vec![R::Accepted as i32, R::Withdrawn as i32]
    );
    assert_eq!(
        status_of(jgt.ack(WITHDRAWN).await).code(),
        Code::NotFound,
        "a withdrawn message was never delivered"
    );

    // Consents: one in force, one revoked.
    let consents = swv
        .list_consents("", pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let state = |id: &str| {
        consents
            .iter()
            .find(|c| c.consent_id == id)
            .map(|c| c.status)
    };
    assert_eq!(state(CONSENT_A), Some(pb::ConsentStatus::Active as i32));
    assert_eq!(state(CONSENT_B), Some(pb::ConsentStatus::Revoked as i32));

    // The suspension made through Admin survives.
    let gemeente = gw.client(org::GEMEENTE).await;
    assert_eq!(code_of(gemeente.whoami().await), Code::PermissionDenied);

    // New work chains on to the old log.
    school
        .send(schakel_tests::fixtures::signalering(
            "after-upgrade",
            &gw.oin(org::JGT),
        ))
        .await
        .unwrap();
    let verdict = operator.audit_verify(0, 0).await.unwrap();
    assert!(verdict.ok, "{}", verdict.problem);
    assert_eq!(verdict.first_broken_sequence, 0);
}
