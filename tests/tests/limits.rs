//! Bounded resources, tried from the attacker's side: what one caller can
//! make the gateway hold or answer is bounded, and a limit is answered with
//! a status that names it, changing nothing.

use std::time::Duration;

use schakel_client::proto as pb;
use schakel_tests::{TestGateway, fixtures, org};

/// Two large, legal dossiers in one inbox do not poison a Pull: the answer
/// stays within the frame limit, holds the first, leases only what it
/// answers, and the next Pull gets the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_answers_what_fits_and_leases_only_that() {
    let gw = TestGateway::start().await;
    let po = gw.client(org::SCHOOL_PO).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    let to = gw.oin(org::SCHOOL_VO);
    let mut sent = Vec::new();
    for (i, byte) in [(1, b'a'), (2, b'b')] {
        // 10 MiB each: one fits the 16 MiB limit, two do not.
        let r = fixtures::dossier_with(&to, &format!("big-{i}"), vec![byte; 10 << 20]);
        sent.push(po.send(r).await.unwrap().message_id);
    }
    let first = vo
        .pull(10, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "one dossier fits an answer");
    assert_eq!(first[0].envelope.as_ref().unwrap().message_id, sent[0]);
    let waiting = po.status(&sent[1]).await.unwrap();
    assert_eq!(waiting.attempts, 0, "the second was not leased");
    assert_eq!(waiting.status, pb::ReceiptStatus::Accepted as i32);
    let second = vo
        .pull(10, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].envelope.as_ref().unwrap().message_id, sent[1]);
}
