//! A short smoke of every benchmark scenario, so that the benchmark keeps
//! working. Figures are printed, never asserted: speed is measured by
//! `schakel-bench` on a quiet machine (docs/PERFORMANCE.md), not by tests.

use schakel_tests::{succeeded, workspace_binary};
use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = std::process::Command::new(workspace_binary("schakel-bench"))
        .arg("--json")
        .args(args)
        .args(["--spawn"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&succeeded(out)).unwrap();
    println!("{report}");
    report
}

#[test]
fn send_smoke() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    let r = bench(&[
        "send",
        "--count",
        "40",
        "--concurrency",
        "8",
        "--ids-out",
        ids.to_str().unwrap(),
    ]);
    assert_eq!(r["messages"], 40);
    // Every receipt is checked, after the clock stops.
    assert_eq!(r["receipts_verified"], 40);
    assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["echo"]["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["storage"]["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["ratio_to_echo"].as_f64().is_some());
    assert!(r["gateway_peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(r["store_bytes_on_disk"].as_u64().unwrap() > 0);
    // Every accepted message id was written as it was answered.
    assert_eq!(std::fs::read_to_string(&ids).unwrap().lines().count(), 40);
}

/// The batch scenario, with the NATS JetStream peer beside it when
/// nats-server is installed (`.ci/run` installs it and sets
/// SCHAKEL_REQUIRE_NATS, so that CI never skips it).
#[test]
fn batch_smoke_with_the_nats_peer() {
    let r = bench(&[
        "batch",
        "--count",
        "100",
        "--batch",
        "16",
        "--concurrency",
        "2",
    ]);
    assert_eq!(r["batch"], 16);
    assert_eq!(r["receipts_verified"], 100);
    assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["storage"]["msgs_per_s"].as_f64().unwrap() > 0.0);
    if std::env::var_os("SCHAKEL_REQUIRE_NATS").is_some() || !r["nats"].is_null() {
        assert!(r["nats"]["msgs_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["nats"]["in_flight"], 32);
        assert!(r["ratio_to_nats"].as_f64().is_some());
    } else {
        println!("nats-server is not installed here: the peer was not measured");
    }
}

#[test]
fn roundtrip_smoke() {
    let base = [
        "roundtrip",
        "--count",
        "40",
        "--concurrency",
        "4",
        "--receivers",
        "2",
    ];
    // Receivers that pull and Ack, that Ack in batches, and that take their
    // messages from Subscribe streams.
    for extra in [
        &[][..],
        &["--batch", "8", "--no-ceilings"],
        &["--subscribe", "--no-ceilings"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let r = bench(&args);
        assert!(r["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{extra:?}");
        assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0, "{extra:?}");
        assert_eq!(r["subscribe"], extra.contains(&"--subscribe"));
        assert_eq!(r["batch"].as_u64(), extra.contains(&"--batch").then_some(8));
        // The send receipts and the ack receipts.
        assert_eq!(r["receipts_verified"], 80, "{extra:?}");
    }
}

/// Two gateway instances over one PostgreSQL database that the benchmark
/// starts (fsync on), senders and receivers spread over both (that a
/// message crosses from one instance to a receiver on the other is shown
/// by `tests/instances.rs`), beside the PostgreSQL store alone.
#[test]
fn roundtrip_smoke_over_two_instances_on_postgresql() {
    let out = std::process::Command::new(workspace_binary("schakel-bench"))
        .args(["roundtrip", "--json", "--spawn", "--store", "postgres"])
        .args(["--instances", "2", "--count", "40", "--concurrency", "4"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("PostgreSQL is not installed")
        && std::env::var_os("SCHAKEL_REQUIRE_POSTGRES").is_none()
    {
        println!("skipped: PostgreSQL is not installed");
        return;
    }
    let r: Value = serde_json::from_str(&succeeded(out)).unwrap();
    println!("{r}");
    assert_eq!(
        (r["store"].as_str(), r["instances"].as_u64()),
        (Some("postgres"), Some(2))
    );
    assert_eq!(r["receipts_verified"], 80);
    assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["storage"]["msgs_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["store_bytes_on_disk"].as_u64().unwrap() > 0);
}

#[test]
fn dossier_smoke() {
    let r = bench(&[
        "dossier",
        "--count",
        "4",
        "--concurrency",
        "2",
        "--size",
        "1048576",
    ]);
    assert!(r["mb_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(r["receipts_verified"], 4);
    assert!(r["rss_growth_per_in_flight_byte"].as_f64().is_some());
}

#[test]
fn backlog_smoke() {
    let r = bench(&["backlog", "--count", "50", "--concurrency", "8"]);
    assert!(r["startup_secs"].as_f64().unwrap() > 0.0);
    assert!(r["drain_msgs_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(r["receipts_verified"], 50);
    assert_eq!(r["drain_receipts_verified"], 50);
}

#[test]
fn soak_smoke() {
    let r = bench(&["soak", "--seconds", "12", "--sample-every", "4"]);
    assert_eq!(r["held"], true, "{r}");
    assert!(r["samples"].as_array().unwrap().len() >= 3);
    assert!(r["bounds"]["progress"]["delivered"].as_u64().unwrap() > 0);
}

#[test]
fn a_gateway_it_did_not_start_is_loaded_only_when_said_on_purpose() {
    let out = std::process::Command::new(workspace_binary("schakel-bench"))
        .args(["send", "--count", "10", "--gateway", "https://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("https://127.0.0.1:9"), "{e}");
    assert!(e.contains("--spawn"), "{e}");
    assert!(e.contains("--yes-real-gateway"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_yes_real_gateway_it_measures_a_running_gateway() {
    let gw = schakel_tests::TestGateway::start().await;
    let (url, pki) = (gw.url(), gw.pki.dir.display().to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(workspace_binary("schakel-bench"))
            .args(["--json", "send", "--count", "20", "--concurrency", "2"])
            .args(["--yes-real-gateway", "--gateway", &url, "--pki", &pki])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&succeeded(out)).unwrap();
    assert_eq!(report["messages"], 20);
}
