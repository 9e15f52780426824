//! Upgrades: a data folder written by an earlier release opens, and every
//! message, receipt, consent, directory change and audit entry in it is still
//! there and still verifies; the same holds after its store is copied into
//! PostgreSQL with `schakel-gateway migrate`. The folders are in
//! `tests/fixtures/` (see the README there for how each was made and what
//! it holds).

use std::path::PathBuf;
use std::process::Command;

use schakel_client::proto as pb;
use schakel_gateway::config::StorageEngine;
use schakel_tests::calls::{audit_of, log_intact};
use schakel_tests::upgrades::{migrate, open_fixture, open_fixture_with};
use schakel_tests::{
    TestGateway, code_of, failed, org, postgres_database, pull_until, status_of, succeeded,
    workspace_binary,
};
use tonic::Code;

/// The messages in the 0.1.0 folder, by client reference.
mod v0_1_0 {
    pub const DELIVERED: &str = "01a20d4f-fe2c-7315-a5c9-3b1bbd251e3f";
    pub const REJECTED: &str = "01a20d4f-fe2f-7155-b804-4a4e2130dd9d";
    pub const REQUEST: &str = "01a20d4f-fe32-7342-b98c-80bd8315c768";
    pub const REPLY: &str = "01a20d4f-fe34-7431-a2d8-ab9560fb72b0";
    pub const WITHDRAWN: &str = "01a20d4f-fe36-74ed-8009-590a156484fa";
    pub const LEASED: &str = "01a20d4f-fe37-7670-9131-15e3677c7a12";
    pub const READY: &str = "01a20d4f-fe39-7608-a5d0-568bcc8cd967";
    pub const DOSSIER: &str = "01a20d4f-fe3c-75d9-a3d0-8982134843a8";
    pub const CONSENT_A: &str = "01a20d4f-fe31-742e-bb7d-64104e85fbcc";
    pub const CONSENT_B: &str = "01a20d4f-fe35-7620-ae81-35b8acaf0300";
}

/// The messages in the folder of store format 3.
mod format_3 {
    pub const DOSSIER: &str = "01a24d80-8058-70df-b349-72f98ca74357";
    pub const DELIVERED: &str = "01a24d80-8062-77a3-bf7f-2b18b9693974";
    pub const LEASED: &str = "01a24d80-8065-778e-bb4e-a9d36683a2f9";
    pub const READY: &str = "01a24d80-8069-733c-b4b8-17f462a6c99d";
}

fn receipt_statuses(s: &pb::MessageStatus) -> Vec<i32> {
    s.receipts.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn a_data_folder_of_release_0_1_0_opens_with_everything_in_it() {
    let (_old, gw) = open_fixture("store-0.1.0.tar.gz", None).await;
    release_0_1_0_holds_everything(&gw).await;
}

#[tokio::test]
async fn a_store_of_release_0_1_0_copied_into_postgresql_holds_everything() {
    let Some(db) = postgres_database("copy_0_1_0") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let (_old, gw) = open_fixture("store-0.1.0.tar.gz", Some(db)).await;
    release_0_1_0_holds_everything(&gw).await;
}

/// Everything the folder of release 0.1.0 held is there, and still
/// verifies.
async fn release_0_1_0_holds_everything(gw: &TestGateway) {
    use v0_1_0::*;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let swv = gw.client(org::SWV).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    let operator = gw.client(org::OPERATOR).await;

    // The old log verifies under the old key, before anything new is added,
    // and reads back whole: also the refusal of a recipient that was no OIN.
    let verdict = log_intact(&operator).await;
    assert!(verdict.entries_checked >= 25, "{verdict:?}");
    let refused = audit_of(&operator, &[pb::AuditAction::SendRefused]).await;
    let counterparts: Vec<_> = refused.iter().map(|e| e.counterpart_oin.as_str()).collect();
    assert_eq!(counterparts, ["123", gw.oin(org::SCHOOL_VO).as_str()]);
    // The old entries were indexed: a query by organisation finds them.
    let of_vo = schakel_tests::calls::audit_query(
        &operator,
        pb::AuditQueryRequest {
            org_oin: gw.oin(org::SCHOOL_VO),
            actions: vec![pb::AuditAction::SendRefused as i32],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(of_vo.len(), 1);
    assert_eq!(
        of_vo[0].format, 1,
        "an entry of release 0.1.0 keeps its format"
    );

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
    // Its bytes are delivered as stored, under the digest it was accepted
    // with (the first version's, which proto/CHANGELOG.md describes).
    let payload = schakel_proto::payload::decode(&envelope.payload).unwrap();
    let content = &payload.attachments[0].content;
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

    // Every message was given a case of the gateway's: the reply shares its
    // request's, as does the SWV's later request under the same case text
    // of release 0.1.0; both parties see that case whole.
    let request_case = swv.status(REQUEST).await.unwrap().case_id;
    assert_eq!(request_case.len(), 36, "{request_case}");
    for who in [&swv, &jgt] {
        let case = who.list_case(&request_case).await.unwrap();
        let ids: Vec<_> = case
            .messages
            .iter()
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(ids, [REQUEST, REPLY, WITHDRAWN]);
    }
    assert_ne!(
        school.status(DELIVERED).await.unwrap().case_id,
        request_case
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
    // The schools, stored without a sector, took theirs from the directory
    // file, and the new kinds of participant were added from it.
    let listed = operator.list_participants().await.unwrap();
    let sector = |o: &str| listed.iter().find(|p| p.oin == gw.oin(o)).map(|p| p.sector);
    assert_eq!(sector(org::SCHOOL_PO), Some(pb::SchoolSector::Po as i32));
    assert_eq!(sector(org::SCHOOL_VO), Some(pb::SchoolSector::Vo as i32));
    assert!(sector(org::VERWIJSINDEX).is_some() && sector(org::VEILIG_THUIS).is_some());

    // New work chains on to the old log.
    school
        .send(schakel_tests::fixtures::signalering(
            "after-upgrade",
            &gw.oin(org::VERWIJSINDEX),
        ))
        .await
        .unwrap();
    log_intact(&operator).await;
}

/// The messages and consents in the format 2 folder (see the fixtures'
/// README): the demo's case, then four signals to the Verwijsindex.
mod format_2 {
    pub const SIGNAL: &str = "01a20eb1-ebf8-7267-a517-7bfe2ec0a53c";
    pub const REQUEST: &str = "01a20eb1-ebfb-726f-8c46-c9b4b893c81b";
    pub const ANSWER: &str = "01a20eb1-ebfe-777f-9743-97970c3c3dd7";
    pub const DOSSIER: &str = "01a20eb1-ec00-77ca-9876-07a1a33953d6";
    pub const WITHDRAWN: &str = "01a20eb1-ec02-724c-963b-b6a204a4101a";
    pub const FX_READY: &str = "01a20eb1-ec0c-7659-9442-975aa7d9422d";
    pub const FX_LEASED: &str = "01a20eb1-ec10-740d-bb41-d077bdb65dd6";
    pub const FX_DELIVERED: &str = "01a20eb1-ec14-769e-a737-a90d38bfd71f";
    pub const UNPULLED: &str = "01a20eb3-0705-7655-b1e9-d7c7f1b77eae";
    pub const CONSENT_SIGNAL: &str = "01a20eb1-ebf7-76af-8bdb-c92117702be5";
    pub const CONSENT_REQUEST: &str = "01a20eb1-ebfb-726f-8c46-c9b2c4d2dba6";
}

#[tokio::test]
async fn a_data_folder_of_store_format_2_opens_with_everything_in_it() {
    let (_old, gw) = open_fixture("store-format-2.tar.gz", None).await;
    format_2_holds_everything(&gw).await;
}

#[tokio::test]
async fn a_store_of_format_2_copied_into_postgresql_holds_everything() {
    let Some(db) = postgres_database("copy_format_2") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let (_old, gw) = open_fixture("store-format-2.tar.gz", Some(db)).await;
    format_2_holds_everything(&gw).await;
}

/// Everything the folder of store format 2 held is there, and still
/// verifies.
async fn format_2_holds_everything(gw: &TestGateway) {
    use format_2::*;
    use pb::ReceiptStatus as R;
    let school = gw.client(org::SCHOOL_PO).await;
    let jgt = gw.client(org::JGT).await;
    let verwijsindex = gw.client(org::VERWIJSINDEX).await;
    let operator = gw.client(org::OPERATOR).await;

    // The old log verifies before anything new is added.
    let verdict = log_intact(&operator).await;
    assert!(verdict.entries_checked >= 43, "{verdict:?}");

    // Every receipt stored by format 2 still verifies (the client checks
    // each one) and says what it said.
    let accepted_delivered = vec![R::Accepted as i32, R::Delivered as i32];
    for (who, id) in [
        (&school, SIGNAL),
        (&jgt, REQUEST),
        (&school, DOSSIER),
        (&school, FX_DELIVERED),
    ] {
        let status = who.status(id).await.unwrap();
        assert_eq!(receipt_statuses(&status), accepted_delivered, "{id}");
    }
    let swv = gw.client(org::SWV).await;
    let answer = swv.status(ANSWER).await.unwrap();
    assert_eq!(answer.case_id, jgt.status(REQUEST).await.unwrap().case_id);
    assert_eq!(receipt_statuses(&answer), accepted_delivered);
    let withdrawn = school.status(WITHDRAWN).await.unwrap();
    assert_eq!(
        receipt_statuses(&withdrawn),
        vec![R::Accepted as i32, R::Withdrawn as i32]
    );

    // The two signals whose leases ran out come back before the one never
    // pulled, in the order they were sent, and are delivered.
    let got = pull_until(&verwijsindex, 3).await;
    let seen: Vec<_> = got
        .iter()
        .map(|d| (d.envelope.as_ref().unwrap().message_id.as_str(), d.attempt))
        .collect();
    assert_eq!(
        seen,
        vec![(FX_READY, 3), (FX_LEASED, 3), (UNPULLED, 1)],
        "{seen:?}"
    );
    for id in [FX_READY, FX_LEASED, UNPULLED] {
        verwijsindex.ack(id).await.unwrap();
        let status = school.status(id).await.unwrap();
        assert_eq!(receipt_statuses(&status), accepted_delivered, "{id}");
    }

    // The consents kept their states.
    let consents = school
        .list_consents("", pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let signal_consent = consents.iter().find(|c| c.consent_id == CONSENT_SIGNAL);
    assert_eq!(
        signal_consent.map(|c| c.status),
        Some(pb::ConsentStatus::Revoked as i32)
    );
    let jgt_consents = jgt
        .list_consents("", pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    let request_consent = jgt_consents
        .iter()
        .find(|c| c.consent_id == CONSENT_REQUEST);
    assert_eq!(
        request_consent.map(|c| c.status),
        Some(pb::ConsentStatus::Active as i32)
    );

    // New work chains on to the old log, and the sender's whole receipt
    // stream, old receipts and new, verifies.
    school
        .send(schakel_tests::fixtures::signalering(
            "after-upgrade",
            &gw.oin(org::VERWIJSINDEX),
        ))
        .await
        .unwrap();
    let mut stream = school.receipts(0, false).await.unwrap();
    let mut statuses = Vec::new();
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        statuses.push(event.unwrap().receipt.unwrap().status);
    }
    assert_eq!(statuses.len(), 15, "{statuses:?}");
    log_intact(&operator).await;
}

#[tokio::test]
async fn a_copy_is_refused_from_a_running_gateway_and_into_a_database_that_holds_data() {
    let Some(db) = postgres_database("copy_refused") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let mut gw = TestGateway::start_with(|_, c| c.storage.engine = StorageEngine::Sled).await;
    let data = gw.config.storage.data_dir.clone();
    let to = gw.oin(org::VERWIJSINDEX);
    gw.send(
        org::SCHOOL_PO,
        schakel_tests::fixtures::signalering("to-copy", &to),
    )
    .await;

    // The gateway holds its store: stop it first.
    let e = failed(migrate(&data, &db));
    assert!(e.contains("another gateway holds this data folder"), "{e}");
    gw.stop().await;
    let out = succeeded(migrate(&data, &db));
    assert!(out.contains("1 messages"), "{out}");

    // A second copy into the same database would mix two stores: refused,
    // naming what the database holds, and leaving it as it was.
    let e = failed(migrate(&data, &db));
    assert!(
        e.contains("is not empty: it holds") && e.contains("1 messages"),
        "{e}"
    );

    // Without a database to copy into, or the other way round: refused,
    // saying what to do.
    let e = failed(
        Command::new(workspace_binary("schakel-gateway"))
            .args(["migrate", "--from", "sled", "--to", "postgres"])
            .env("SCHAKEL_STORAGE__DATA_DIR", &data)
            .output()
            .unwrap(),
    );
    assert!(e.contains("storage.postgres_url is not set"), "{e}");
    let e = failed(
        Command::new(workspace_binary("schakel-gateway"))
            .args(["migrate", "--from", "postgres", "--to", "sled"])
            .output()
            .unwrap(),
    );
    assert!(e.contains("only --from sled --to postgres"), "{e}");
}

#[tokio::test]
async fn a_data_folder_of_store_format_3_counts_what_it_holds_toward_the_quotas() {
    format_3_counts_toward_the_quotas(None).await;
}

#[tokio::test]
async fn a_store_of_format_3_copied_into_postgresql_counts_what_it_holds() {
    let Some(db) = postgres_database("copy_format_3") else {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    format_3_counts_toward_the_quotas(Some(db)).await;
}

/// The folder of format 3 opens with its three undelivered messages held:
/// their bytes count toward the quotas of their inboxes and their sender,
/// so a sender's quota of 512 KiB has no room for another 300 KiB.
async fn format_3_counts_toward_the_quotas(into: Option<(String, PathBuf)>) {
    let (_old, gw) = open_fixture_with("store-format-3.tar.gz", into, |c| {
        c.limits.max_message_bytes = 512 << 10;
        c.limits.max_undelivered_bytes_per_sender = 512 << 10;
    })
    .await;
    let stats = gw.client(org::OPERATOR).await.queue_stats().await.unwrap();
    let held = |oin: String| {
        stats
            .inboxes
            .iter()
            .find(|i| i.recipient_oin == oin)
            .map_or(0, |i| i.held_bytes)
    };
    let (vo, index) = (
        held(gw.oin(org::SCHOOL_VO)),
        held(gw.oin(org::VERWIJSINDEX)),
    );
    assert!(vo > 300 << 10, "{stats:?}");
    assert!(index > 0, "the leased and the waiting signal: {stats:?}");
    assert_eq!(
        stats.senders,
        [pb::SenderStats {
            sender_oin: gw.oin(org::SCHOOL_PO),
            held_bytes: vo + index,
        }]
    );
    let content = vec![7; 300 << 10];
    let to = gw.oin(org::SCHOOL_VO);
    let refused = status_of(
        gw.client(org::SCHOOL_PO)
            .await
            .send(schakel_tests::fixtures::dossier_with(&to, "after", content))
            .await,
    );
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("limits.max_undelivered_bytes_per_sender"),
        "{refused:?}"
    );
    // And what it holds is still there.
    let school = gw.client(org::SCHOOL_PO).await;
    for (id, status) in [
        (format_3::DOSSIER, pb::ReceiptStatus::Accepted),
        (format_3::DELIVERED, pb::ReceiptStatus::Delivered),
        (format_3::LEASED, pb::ReceiptStatus::Accepted),
        (format_3::READY, pb::ReceiptStatus::Accepted),
    ] {
        let s = school.status(id).await.unwrap();
        assert_eq!(
            s.receipts.last().map(|r| r.status),
            Some(status as i32),
            "{id}"
        );
    }
    let dossiers = gw.inbox(org::SCHOOL_VO).await;
    assert_eq!(
        dossiers[0].envelope.as_ref().unwrap().message_id,
        format_3::DOSSIER
    );
    log_intact(&gw.client(org::OPERATOR).await).await;
}
