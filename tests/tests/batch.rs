//! SendBatch and AckBatch against a real gateway: each item is checked,
//! consent-checked, answered and recorded on its own, exactly as its single
//! call would be; a batch over a limit is refused whole and changes nothing.

use schakel_client::proto as pb;
use schakel_tests::calls::{audit_of, log_intact, pull_until, raw_result};
use schakel_tests::fixtures::{self, BSN, UNKNOWN_CONSENT_ID, consent_grant};
use schakel_tests::{TestGateway, code_of, org, status_of};
use tonic::Code;

fn refused(answer: &Result<pb::SendResponse, tonic::Status>) -> (Code, String) {
    match answer {
        Ok(sent) => panic!("expected a refusal, got {sent:?}"),
        Err(s) => (s.code(), s.message().to_owned()),
    }
}

fn sent(answer: &Result<pb::SendResponse, tonic::Status>) -> &pb::SendResponse {
    answer.as_ref().expect("accepted")
}

#[tokio::test]
async fn each_item_is_answered_on_its_own_in_order_and_a_retry_changes_nothing() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt_oin = gw.oin(org::JGT);
    let consent = swv.grant_consent(consent_grant(BSN[2])).await.unwrap();

    let mut bad_bsn = fixtures::consult("b-bad-bsn", &jgt_oin, &consent.consent_id);
    fixtures::request_body(&mut bad_bsn, |b| b.bsn = "123".into());
    let mut forged = fixtures::consult("b-forged", &jgt_oin, &consent.consent_id);
    forged.sender_oin = gw.oin(org::SCHOOL_PO);
    let batch = vec![
        fixtures::consult("b-0", &jgt_oin, &consent.consent_id),
        bad_bsn,
        fixtures::consult("b-no-consent", &jgt_oin, UNKNOWN_CONSENT_ID),
        forged,
        fixtures::consult("b-4", &jgt_oin, &consent.consent_id),
        // The same reference twice in one batch is one message.
        fixtures::consult("b-4", &jgt_oin, &consent.consent_id),
    ];
    let answers = swv.send_batch(batch.clone()).await.unwrap();
    assert_eq!(answers.len(), 6);
    // Accepted items carry verified receipts (the client checks them).
    let first = sent(&answers[0]);
    assert_eq!(
        first.receipt.as_ref().unwrap().status,
        pb::ReceiptStatus::Accepted as i32
    );
    let (code, message) = refused(&answers[1]);
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        message.starts_with("messages[1]: ") && message.contains("bsn"),
        "{message}"
    );
    let (code, message) = refused(&answers[2]);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("no consent"), "{message}");
    let (code, message) = refused(&answers[3]);
    assert_eq!(code, Code::PermissionDenied, "{message}");
    assert!(message.contains("sender_oin"), "{message}");
    let (fourth, fifth) = (sent(&answers[4]), sent(&answers[5]));
    assert_eq!(fourth.message_id, fifth.message_id);
    assert_ne!(
        fourth.duplicate, fifth.duplicate,
        "one of the two is the retry"
    );

    // Each refusal is in the audit log on its own.
    let operator = gw.client(org::OPERATOR).await;
    let refusals = audit_of(&operator, &[pb::AuditAction::SendRefused]).await;
    assert_eq!(refusals.len(), 3, "{refusals:?}");

    // The recipient gets the two accepted messages, and nothing refused.
    let jgt = gw.client(org::JGT).await;
    let got = pull_until(&jgt, 2).await;
    let mut ids: Vec<_> = got
        .iter()
        .map(|d| d.envelope.as_ref().unwrap().message_id.clone())
        .collect();
    ids.sort();
    let mut expected = vec![first.message_id.clone(), fourth.message_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        jgt.pull(16, std::time::Duration::ZERO, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // The whole batch again: the same ids, every accepted item a retry,
    // every refused item refused alike, and nothing new to deliver.
    let again = swv.send_batch(batch).await.unwrap();
    for i in [0, 4, 5] {
        let retry = sent(&again[i]);
        assert_eq!(retry.message_id, sent(&answers[i]).message_id);
        assert!(retry.duplicate, "item {i}");
    }
    for i in [1, 2, 3] {
        assert_eq!(refused(&again[i]).0, refused(&answers[i]).0);
    }
    let statuses = swv.status(&first.message_id).await.unwrap();
    assert_eq!(statuses.receipts.len(), 1);
    log_intact(&operator).await;
}

#[tokio::test]
async fn a_batch_over_a_limit_is_refused_whole_naming_the_limit() {
    let gw = TestGateway::start_with(|_, c| c.limits.max_batch_messages = 4).await;
    let school = gw.client(org::SCHOOL_PO).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let batch = |n: usize| -> Vec<pb::SendRequest> {
        (0..n)
            .map(|i| fixtures::signalering(&format!("over-{i}"), &to))
            .collect()
    };
    let over = status_of(school.send_batch(batch(5)).await);
    assert_eq!(over.code(), Code::InvalidArgument);
    assert!(
        over.message().contains("limits.max_batch_messages"),
        "{over:?}"
    );
    let empty = status_of(school.send_batch(vec![]).await);
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().contains("messages"), "{empty:?}");
    let ids = status_of(school.ack_batch(&vec![String::new(); 5]).await);
    assert_eq!(ids.code(), Code::InvalidArgument);
    assert!(ids.message().contains("message_ids"), "{ids:?}");

    // Two bytes on the wire make an item: a million empty ids are refused
    // as they arrive, before they are decoded into a million strings.
    let flood = pb::AckBatchRequest {
        message_ids: vec![String::new(); 1_000_000],
    };
    let refused = raw_result(
        &school,
        "/schakel.v1.Exchange/AckBatch",
        prost::Message::encode_to_vec(&flood),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    // "more than": counted as the body arrived, not after decoding it
    // (which would have said how many it held).
    assert!(
        refused
            .message()
            .contains("message_ids: holds more than 4 items")
            && refused.message().contains("limits.max_batch_messages"),
        "{refused:?}"
    );
    let index = gw.client(org::VERWIJSINDEX).await;
    let nothing = index
        .pull(16, std::time::Duration::ZERO, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(nothing.is_empty(), "a refused batch sent nothing");
}

#[tokio::test]
async fn a_batch_takes_a_call_of_the_rate_limit_per_item() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.max_batch_messages = 4;
        c.limits.requests_per_second = 1;
        c.limits.request_burst = 6;
    })
    .await;
    let school = gw.client(org::SCHOOL_PO).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let batch = |prefix: &str, n: usize| -> Vec<pb::SendRequest> {
        (0..n)
            .map(|i| fixtures::signalering(&format!("{prefix}-{i}"), &to))
            .collect()
    };
    // Batches of four until the bucket is empty: a second or more of
    // calls would refill it faster than one a second, never in time.
    let mut accepted = 0;
    let mut round = 0;
    let limited = loop {
        match school.send_batch(batch(&format!("rated-{round}"), 4)).await {
            Ok(answers) => {
                assert!(answers.iter().all(Result::is_ok), "{answers:?}");
                accepted += answers.len();
            }
            Err(e) => break status_of::<()>(Err(e)),
        }
        round += 1;
        assert!(round < 10, "the rate limit never refused a batch");
    };
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert!(
        limited.message().contains("each item of a batch"),
        "{limited:?}"
    );
    // The refused batch stored nothing.
    let index = gw.client(org::VERWIJSINDEX).await;
    let got = pull_until(&index, accepted).await;
    assert_eq!(got.len(), accepted);
    let more = index
        .pull(
            16,
            std::time::Duration::from_millis(200),
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(more.is_empty());
}

#[tokio::test]
async fn ack_batch_answers_each_id_and_a_repeat_gives_the_same_receipts() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let to = gw.oin(org::VERWIJSINDEX);
    let mut ids = Vec::new();
    for i in 0..4 {
        let sent = school
            .send(fixtures::signalering(&format!("a-{i}"), &to))
            .await
            .unwrap();
        ids.push(sent.message_id);
    }
    let index = gw.client(org::VERWIJSINDEX).await;
    let got = index
        .pull(3, std::time::Duration::ZERO, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.len(), 3);
    // Three pulled, one never pulled, one id that is no id, one unknown.
    let unknown = "01a20eb1-ffff-7000-8000-000000000000".to_owned();
    let asked = vec![
        ids[0].clone(),
        ids[1].clone(),
        ids[3].clone(),
        "not-an-id".to_owned(),
        ids[2].clone(),
        unknown.clone(),
    ];
    let answers = index.ack_batch(&asked).await.unwrap();
    assert_eq!(answers.len(), 6);
    let code = |i: usize| {
        answers[i]
            .as_ref()
            .map(|_| Code::Ok)
            .unwrap_or_else(|s| s.code())
    };
    assert_eq!(code(0), Code::Ok);
    assert_eq!(code(1), Code::Ok);
    assert_eq!(code(2), Code::FailedPrecondition, "never pulled");
    assert_eq!(code(3), Code::InvalidArgument);
    assert!(
        answers[3]
            .as_ref()
            .unwrap_err()
            .message()
            .starts_with("message_ids[3]: "),
        "{:?}",
        answers[3]
    );
    assert_eq!(code(4), Code::Ok);
    assert_eq!(code(5), Code::NotFound);
    for i in [0, 1, 4] {
        let acked = answers[i].as_ref().unwrap();
        assert_eq!(acked.outcome, pb::AckOutcome::Delivered as i32);
    }
    // The senders hold DELIVERED receipts; the one never pulled waits.
    for id in [&ids[0], &ids[1], &ids[2]] {
        let status = school.status(id).await.unwrap();
        assert_eq!(status.status, pb::ReceiptStatus::Delivered as i32);
    }
    assert_eq!(
        school.status(&ids[3]).await.unwrap().status,
        pb::ReceiptStatus::Accepted as i32
    );
    // Acknowledging again answers the same receipts and changes nothing.
    let again = index.ack_batch(&asked[..2]).await.unwrap();
    for (first, repeat) in answers.iter().zip(&again) {
        assert_eq!(
            first.as_ref().unwrap().receipt,
            repeat.as_ref().unwrap().receipt
        );
    }
    // Another organisation cannot acknowledge what is not in its inbox.
    let jgt = gw.client(org::JGT).await;
    let theirs = jgt.ack_batch(&[ids[3].clone()]).await.unwrap();
    assert_eq!(theirs[0].as_ref().unwrap_err().code(), Code::NotFound);
    assert_eq!(code_of(school.ack(&ids[3]).await), Code::NotFound);
}
