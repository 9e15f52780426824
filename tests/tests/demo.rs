//! `schakel demo` plays its case end to end: against a gateway it starts
//! itself (as the README tells a newcomer), and against a running one.

use schakel_tests::process::Cli;
use schakel_tests::{TestGateway, succeeded};

fn assert_whole_case(out: &str) {
    for step in 1..=14 {
        assert!(
            out.contains(&format!("\n{step}. ")),
            "step {step} missing: {out}"
        );
    }
    let receipt = |status: &str| {
        out.lines()
            .any(|l| l.trim_start().starts_with("receipt ") && l.contains(status))
    };
    // Each receipt says how it was verified: by its proof in the log.
    assert!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("receipt "))
            .all(|l| l.contains("receipt proved in the audit log's tree of")),
        "{out}"
    );
    assert!(receipt(" delivered "), "{out}");
    assert!(out.contains("the queued signal is now withdrawn"), "{out}");
    assert!(receipt(" withdrawn "), "{out}");
    assert!(out.contains("audit log intact"), "{out}");
    assert!(out.contains("plan version 1, delivered"), "{out}");
    assert!(out.contains("sent besluit (granted)"), "{out}");
    assert!(out.ends_with("about the child.\n"), "{out}");
}

#[test]
fn the_demo_spawns_a_gateway_and_plays_the_whole_case() {
    let out = succeeded(Cli::new().args(["demo", "--spawn"]).output());
    assert_whole_case(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_against_a_running_gateway_twice() {
    let gw = TestGateway::start().await;
    for _ in 0..2 {
        let cli = Cli::new()
            .args(["demo", "--gateway", &gw.url(), "--pki"])
            .args([&gw.pki.dir]);
        let out = tokio::task::spawn_blocking(move || succeeded(cli.output()))
            .await
            .unwrap();
        assert_whole_case(&out);
    }
}
