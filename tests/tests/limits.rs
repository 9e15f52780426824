//! Bounded resources, tried from the attacker's side: what one caller can
//! make the gateway hold or answer is bounded, and a limit is answered with
//! a status that names it, changing nothing.

use std::time::Duration;

use schakel_client::proto as pb;
use schakel_tests::calls::{raw_call, slow_send};
use schakel_tests::process::{get, rss_of, value};
use schakel_tests::{GatewayProcess, TestGateway, TestPki, fixtures, org};

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

/// Bytes that are not a protobuf message are INVALID_ARGUMENT on every
/// service, and a request over the size limit is RESOURCE_EXHAUSTED naming
/// the limit, on the Exchange as on the other services; neither changes
/// anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_oversized_requests_get_the_statuses_that_say_so() {
    let gw = TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    let operator = gw.client(org::OPERATOR).await;
    // Field 1 with wire type 7, which does not exist.
    let garbage = vec![0x0f, 0xff, 0xff];
    for (client, path) in [
        (&school, "/schakel.v1.Exchange/Send"),
        (&school, "/schakel.v1.Exchange/Ack"),
        (&school, "/schakel.v1.Consent/Grant"),
        (&school, "/schakel.v1.Directory/Lookup"),
        (&operator, "/schakel.v1.Admin/AddParticipant"),
        (&operator, "/schakel.v1.Audit/Verify"),
    ] {
        let s = raw_call(client, path, garbage.clone()).await;
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{path}: {s:?}");
        assert!(s.message().contains("not a valid message"), "{path}: {s:?}");
    }
    for path in ["/schakel.v1.Exchange/Send", "/schakel.v1.Consent/Grant"] {
        let s = raw_call(&school, path, vec![0; 17 << 20]).await;
        assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{path}: {s:?}");
        assert!(
            s.message().contains("limits.max_message_bytes"),
            "{path}: {s:?}"
        );
    }
    // Nothing was accepted.
    use futures::StreamExt as _;
    let receipts: Vec<_> = school.receipts(0, false).await.unwrap().collect().await;
    assert!(receipts.is_empty(), "{receipts:?}");
}

/// Reads `tls` until the gateway closes it; answers whether it did within
/// `within`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(tls: &mut S, within: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Silent connections (handshake done, then nothing) are closed after the
/// idle timeout, so they cannot hold file descriptors for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_after_the_idle_timeout() {
    let gw = TestGateway::start_with(|_, c| {
        c.server.idle_timeout_secs = 2;
        c.server.keepalive_interval_secs = 1;
        c.server.keepalive_timeout_secs = 1;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(gw.raw_tls(org::SWV).await.unwrap());
    }
    // Still open a moment later ...
    assert!(!closed_within(&mut silent[0], Duration::from_millis(500)).await);
    // ... and all closed by the gateway soon after the timeout.
    for tls in &mut silent {
        assert!(closed_within(tls, Duration::from_secs(5)).await, "closed");
    }
    // A client that talks is served as before.
    gw.client(org::SWV).await.whoami().await.unwrap();
}

/// One certificate cannot take every connection: beyond its limit a new
/// connection's calls are answered RESOURCE_EXHAUSTED naming the limit, it
/// is closed shortly after whatever it does, and others are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_certificate_are_bounded() {
    let gw = TestGateway::start_with(|_, c| c.server.max_connections_per_certificate = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(gw.raw_tls(org::SWV).await.unwrap());
    }
    let over_client = gw.client(org::SWV).await;
    let status = over_client.whoami().await.unwrap_err();
    let message = status.to_string();
    assert!(
        message.contains("resource_exhausted")
            && message.contains("[server] max_connections_per_certificate"),
        "{message}"
    );
    let mut over = gw.raw_tls(org::SWV).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_secs(4)).await,
        "closed soon"
    );
    assert!(
        !closed_within(&mut held[0], Duration::from_millis(300)).await,
        "the others stay"
    );
    // Another organisation still gets in.
    gw.client(org::JGT).await.whoami().await.unwrap();
    // Once one is given back, the certificate may connect again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.client(org::SWV).await.whoami().await.unwrap();
}

/// A subscriber that stops reading holds a couple of messages, not its
/// inbox: the stream leases a round only once the round before was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_inbox_stream_holds_a_few_messages_not_the_inbox() {
    let gw = TestGateway::start().await;
    let po = gw.client(org::SCHOOL_PO).await;
    let vo = gw.client(org::SCHOOL_VO).await;
    let to = gw.oin(org::SCHOOL_VO);
    let mut sent = Vec::new();
    for i in 0..12u8 {
        let r = fixtures::dossier_with(&to, &format!("stall-{i}"), vec![i; 4 << 20]);
        sent.push(po.send(r).await.unwrap().message_id);
    }
    // Opened, and never read.
    let _stalled = vo.subscribe(16, Duration::from_secs(60)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut leased = 0;
    for id in &sent {
        leased += usize::from(po.status(id).await.unwrap().attempts > 0);
    }
    assert!(
        (1..=3).contains(&leased),
        "{leased} of 12 leased to a stalled stream"
    );
}

/// What the gateway answers on its metrics endpoint for `name`.
async fn metric(gw: &GatewayProcess, name: &str) -> f64 {
    value(&get(gw.metrics_addr(), "/metrics").await, name)
}

/// Slow request bodies cost the sender its own budget, not the gateway's
/// memory: of 64 calls that announce 4 MiB and send 3.5 MiB of it, two are
/// held (8 MiB for one participant) and the rest are ended with
/// RESOURCE_EXHAUSTED naming the limit, while another participant's calls go
/// through; the gateway's RSS grows by a fraction of what was sent, and the
/// budget is given back when the calls go away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_the_senders_budget_not_the_gateways_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let gw = GatewayProcess::spawn_with(
        &pki,
        &tmp.path().join("data"),
        &[
            ("SCHAKEL_LIMITS__MAX_MESSAGE_BYTES", (4 << 20).to_string()),
            (
                "SCHAKEL_LIMITS__MAX_BODY_BYTES_IN_FLIGHT_PER_PARTICIPANT",
                (8 << 20).to_string(),
            ),
            (
                "SCHAKEL_LIMITS__MAX_BODY_BYTES_IN_FLIGHT",
                (64 << 20).to_string(),
            ),
        ],
    );
    let jgt = gw.client(&pki, org::JGT).await;
    jgt.whoami().await.unwrap();
    let baseline = rss_of(gw.pid()).unwrap().current;

    let mut attackers = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..4 {
        let swv = gw.client(&pki, org::SWV).await;
        for _ in 0..16 {
            calls.push(slow_send(&swv, 4 << 20, 3584 << 10));
        }
        attackers.push(swv);
    }
    // Every call is either ended with the limit or left waiting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut refused = 0;
    for call in &mut calls {
        if call.is_finished() {
            let status = call.await.unwrap();
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            assert!(
                status
                    .message()
                    .contains("max_body_bytes_in_flight_per_participant"),
                "{}",
                status.message()
            );
            refused += 1;
        }
    }
    assert!(refused >= 60, "{refused} of 64 refused");
    let held = metric(&gw, "schakel_request_bytes_in_flight").await;
    assert!(held > 0.0 && held <= (8 << 20) as f64, "{held} bytes held");
    // Another participant is not affected.
    jgt.whoami().await.unwrap();
    let grown = rss_of(gw.pid()).unwrap().current.saturating_sub(baseline);
    let attempted = 64 * (3584u64 << 10);
    assert!(
        grown < 96 << 20,
        "RSS grew {} MiB for {} MiB of slow bodies",
        grown >> 20,
        attempted >> 20
    );

    // Gone calls give their bytes back.
    for call in calls {
        call.abort();
    }
    drop(attackers);
    let mut left = held;
    for _ in 0..100 {
        left = metric(&gw, "schakel_request_bytes_in_flight").await;
        if left == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0.0, "the budget is given back");
}

/// The total bound holds over participants: when every participant's
/// bodies together would pass it, the next is ended with the limit's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_flight_are_bounded_in_total() {
    let gw = TestGateway::start_with(|_, c| {
        c.limits.max_message_bytes = 1 << 20;
        c.limits.max_body_bytes_in_flight_per_participant = 2 << 20;
        c.limits.max_body_bytes_in_flight = 3 << 20;
    })
    .await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let mut held = vec![
        slow_send(&swv, 1 << 20, 900 << 10),
        slow_send(&swv, 1 << 20, 900 << 10),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    held.push(slow_send(&jgt, 1 << 20, 900 << 10));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        held.iter().all(|c| !c.is_finished()),
        "2.6 MiB fit in 3 MiB"
    );
    let status = slow_send(&jgt, 1 << 20, 900 << 10).await.unwrap();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("([limits] max_body_bytes_in_flight)"),
        "{}",
        status.message()
    );
    for call in held {
        call.abort();
    }
}
