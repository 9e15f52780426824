//! Refusals cost the refused, not the gateway, tried against the real
//! binary: thousands of refused calls from a suspended participant and from
//! a certificate whose OIN nobody registered, each on a 12,000-character
//! path that carries a BSN, add a handful of audit entries, a few lines of
//! log, and nothing the caller chose.

use std::time::Duration;

use schakel_client::Client;
use schakel_client::proto as pb;
use schakel_gateway::tools::pki::ClientSpec;
use schakel_tests::calls::{audit_of, files_below, raw_call};
use schakel_tests::fixtures::BSN;
use schakel_tests::{GatewayProcess, TestPki, org};

/// `calls` refused calls from `client`, 16 at a time, to `path`.
async fn flood(client: &Client, path: &str, calls: usize) -> Vec<tonic::Code> {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, path) = (client.clone(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for _ in 0..calls / 16 {
                codes.push(raw_call(&client, &path, Vec::new()).await.code());
            }
            codes
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.extend(t.await.unwrap());
    }
    codes
}

fn bytes_below(dir: &std::path::Path) -> u64 {
    files_below(dir)
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_calls_costs_a_few_entries_and_keeps_nothing_the_caller_chose() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let interval = [("SCHAKEL_AUDIT__REFUSAL_INTERVAL_SECS", "1".to_string())];
    let gw = GatewayProcess::spawn_with(&pki, &data, &interval);
    let operator = gw.client(&pki, org::OPERATOR).await;
    let jgt = gw.client(&pki, org::JGT).await;
    operator
        .suspend_participant(&pki.oin(org::JGT), "onderzoek")
        .await
        .unwrap();
    let (stranger_id, _) = pki.issue(&ClientSpec::valid_for(
        "00000099100000009999",
        "Onbekend",
        30,
    ));
    let stranger = Client::connect(&gw.url(), &stranger_id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let store_before = bytes_below(&data);
    let log_before = gw.log_text().len();
    let entries_before = audit_of(&operator, &[pb::AuditAction::AccessRefused])
        .await
        .len();

    let path = format!("/schakel.v1.Exchange/Pull{}{}", BSN[0], "A".repeat(12_000));
    let refused = flood(&jgt, &path, 5_000).await;
    let strangers = flood(&stranger, &path, 2_000).await;
    use tonic::Code::{PermissionDenied, ResourceExhausted};
    assert!(
        refused
            .iter()
            .all(|c| [PermissionDenied, ResourceExhausted].contains(c)),
        "{:?}",
        &refused[..5]
    );
    assert!(
        strangers
            .iter()
            .all(|c| [PermissionDenied, ResourceExhausted].contains(c))
    );
    assert!(
        refused.contains(&ResourceExhausted),
        "the rate limit applies before the refusal"
    );

    // Two intervals later: an entry per certificate and cause and interval.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let entries = audit_of(&operator, &[pb::AuditAction::AccessRefused]).await;
    let new = &entries[entries_before..];
    assert!(!new.is_empty() && new.len() <= 12, "{} entries", new.len());
    let counted: u64 = new
        .iter()
        .filter_map(|e| {
            e.detail
                .split(" call(s) refused")
                .next()?
                .rsplit('(')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(counted >= 2, "the entries carry counts: {new:?}");
    for e in new {
        assert!(e.detail.len() < 600, "{}", e.detail);
        assert!(!e.detail.contains(BSN[0]), "{}", e.detail);
    }
    let store_growth = bytes_below(&data).saturating_sub(store_before);
    assert!(store_growth < 8 << 20, "store grew {store_growth} bytes");
    let log = gw.log_text();
    let log_growth = log.len() - log_before;
    assert!(log_growth < 64 << 10, "log grew {log_growth} bytes");
    assert!(!log.contains(BSN[0]), "the path's BSN is in the log");
    drop((operator, jgt, stranger));
    drop(gw);
    for file in files_below(&data) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(BSN[0].len()).any(|w| w == BSN[0].as_bytes()),
            "{} holds the BSN",
            file.display()
        );
    }
}

/// A participant that keeps sending what the rules refuse, as fast as its
/// rate limit lets it, adds at most `SENDS_AUDITED_PER_INTERVAL` entries
/// of its own and one count per certificate to the log per interval
/// (`audit.refusal_interval_secs`, 1 s in the tests): 300 refused sends
/// were 300 entries of about 1 KiB before, about 1.3 MB/s at the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sends_are_summarised_per_interval() {
    use schakel_gateway::service::refusals::SENDS_AUDITED_PER_INTERVAL;
    let gw = schakel_tests::TestGateway::start().await;
    let school = gw.client(org::SCHOOL_PO).await;
    // A signal to another school: the routing rules refuse it.
    let to = gw.oin(org::SCHOOL_VO);
    let started = std::time::Instant::now();
    for i in 0..300 {
        let r = schakel_tests::fixtures::signalering(&format!("refused-{i}"), &to);
        let code = schakel_tests::code_of(school.send(r).await);
        assert_eq!(code, tonic::Code::PermissionDenied);
    }
    let intervals = started.elapsed().as_secs() + 2;
    let operator = gw.client(org::OPERATOR).await;
    let mut refused = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        refused = audit_of(&operator, &[pb::AuditAction::SendRefused]).await;
        if refused.iter().any(|e| e.detail.contains("call(s) refused")) {
            break;
        }
    }
    let per_interval = u64::from(SENDS_AUDITED_PER_INTERVAL) + 1;
    assert!(
        refused.len() as u64 <= intervals * per_interval,
        "{} entries for 300 refused sends in {intervals} intervals",
        refused.len()
    );
    let counted: u64 = refused
        .iter()
        .filter_map(|e| {
            let (n, _) = e.detail.split_once(" call(s) refused")?;
            n.rsplit(' ')
                .next()?
                .trim_start_matches('(')
                .parse::<u64>()
                .ok()
        })
        .sum();
    let one_by_one = refused
        .iter()
        .filter(|e| !e.detail.contains("call(s) refused"))
        .count() as u64;
    assert_eq!(counted + one_by_one, 300, "every refusal is accounted for");
    assert!(one_by_one >= u64::from(SENDS_AUDITED_PER_INTERVAL));
}
