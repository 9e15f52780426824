//! What one party can make the gateway store, tried from the attacker's
//! side: a school that sends large dossiers it needs no consent for
//! (`overdracht_po`) is stopped by its byte quota and by the store's
//! free-space reserve, each named in RESOURCE_EXHAUSTED, while the small
//! messages of others, pulls and acknowledgements go on and the store stays
//! writable.

use std::time::Duration;

use schakel_tests::calls::refusal;
use schakel_tests::tmpfs::Tmpfs;
use schakel_tests::{TestGateway, fixtures, org};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// A dossier of `bytes` from the primary to the secondary school.
fn dossier(gw: &TestGateway, reference: &str, bytes: usize) -> schakel_client::proto::SendRequest {
    let content = (0..bytes).map(|i| (i % 251) as u8).collect();
    fixtures::dossier_with(&gw.oin(org::SCHOOL_VO), reference, content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_its_byte_quota_is_refused_until_its_recipient_pulls() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.max_message_bytes = MIB as u64;
        c.limits.max_undelivered_bytes_per_sender = (MIB + MIB / 4) as u64;
        c.limits.max_undelivered_bytes_per_inbox = 4 * MIB as u64;
    })
    .await;
    let po = gw.client(org::SCHOOL_PO).await;
    for i in 0..3 {
        po.send(dossier(&gw, &format!("d{i}"), 400 * KIB))
            .await
            .unwrap();
    }
    let refused = refusal(
        po.send(dossier(&gw, "d3", 400 * KIB)).await,
        tonic::Code::ResourceExhausted,
    );
    assert!(
        refused.contains("limits.max_undelivered_bytes_per_sender"),
        "{refused}"
    );
    // Another party's small message goes on.
    gw.send(
        org::SWV,
        fixtures::signalering("swv-signal", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    // The operator sees what is held, per inbox and per sender.
    let stats = gw.client(org::OPERATOR).await.queue_stats().await.unwrap();
    let vo = stats
        .inboxes
        .iter()
        .find(|i| i.recipient_oin == gw.oin(org::SCHOOL_VO))
        .unwrap();
    assert!(vo.held_bytes >= 3 * 400 * KIB as u64, "{stats:?}");
    let sender = stats
        .senders
        .iter()
        .find(|s| s.sender_oin == gw.oin(org::SCHOOL_PO))
        .unwrap();
    assert_eq!(sender.held_bytes, vo.held_bytes);
    // Once the recipient has pulled and acknowledged, the sender may send
    // again: the refused request changed nothing, its reference is free.
    let vo = gw.client(org::SCHOOL_VO).await;
    for d in vo.pull(10, Duration::ZERO, Duration::ZERO).await.unwrap() {
        vo.ack(&d.envelope.unwrap().message_id).await.unwrap();
    }
    po.send(dossier(&gw, "d3", 400 * KIB)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_reserve_large_payloads_wait_and_the_rest_goes_on() {
    schakel_tests::sled_only!("the reserve over PostgreSQL is storage.postgres_max_bytes");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("small-disk");
    let Some(disk) = Tmpfs::mount_or_skip(&data, 96, "the free-space reserve's test") else {
        return;
    };
    let gw = TestGateway::start_with(|_, c| {
        c.storage.data_dir = data.clone();
        c.storage.min_free_bytes = 40 * MIB as u64;
        c.limits.max_undelivered_bytes_per_sender = 1 << 30;
        c.limits.max_undelivered_bytes_per_inbox = 1 << 30;
    })
    .await;
    let po = gw.client(org::SCHOOL_PO).await;
    // 4 MiB at a time until the reserve: without it, the disk fills and
    // every write of every party fails.
    let mut accepted = 0;
    let refused = loop {
        assert!(
            accepted < 24,
            "96 MiB cannot hold {accepted} dossiers of 4 MiB"
        );
        match po
            .send(dossier(&gw, &format!("big-{accepted}"), 4 * MIB))
            .await
        {
            Ok(_) => accepted += 1,
            Err(e) => break refusal::<()>(Err(e), tonic::Code::ResourceExhausted),
        }
    };
    assert!(refused.contains("storage.min_free_bytes"), "{refused}");
    assert!(accepted >= 5, "only {accepted} dossiers before the reserve");
    // Small messages of others and of the sender itself still go in.
    gw.send(
        org::SWV,
        fixtures::signalering("after-the-reserve", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    gw.send(
        org::SCHOOL_PO,
        fixtures::signalering("small-one", &gw.oin(org::VERWIJSINDEX)),
    )
    .await;
    // Pulls and acknowledgements go on.
    let vo = gw.client(org::SCHOOL_VO).await;
    let pulled = vo.pull(2, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert!(!pulled.is_empty());
    for d in pulled {
        vo.ack(&d.envelope.unwrap().message_id).await.unwrap();
    }
    assert_eq!(gw.inbox(org::VERWIJSINDEX).await.len(), 2);
    let stats = gw.client(org::OPERATOR).await.queue_stats().await.unwrap();
    let headroom = stats.headroom_bytes.expect("a disk has a headroom");
    assert!(headroom < 4 * MIB as i64, "headroom {headroom}");
    drop(gw);
    drop(disk);
}
