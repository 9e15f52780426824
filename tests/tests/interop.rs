//! Other stacks: the Python examples in examples/python, with modules that
//! grpcio-tools generates from proto/, talk to a real gateway over mutual
//! TLS: one sends, pulls, acks and verifies every receipt; the other plays
//! a case with several parties, its plan and a TLV.
//!
//! It needs a Python with the example's requirements, named by
//! `SCHAKEL_PYTHON` (`.ci/run` makes a virtual environment and sets it).
//! Without it the test says so and passes, unless `SCHAKEL_REQUIRE_PYTHON`
//! is set, as `.ci/run` does, so that CI never skips it silently.

use std::path::PathBuf;
use std::process::Command;

use schakel_client::proto::AuditAction;
use schakel_tests::calls::audit_of;
use schakel_tests::{TestGateway, succeeded, workspace_root};

/// The Python to run the example with, if this machine has one set up.
fn python() -> Option<PathBuf> {
    match std::env::var_os("SCHAKEL_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("SCHAKEL_REQUIRE_PYTHON").is_some() => {
            panic!("SCHAKEL_REQUIRE_PYTHON is set but SCHAKEL_PYTHON names no Python")
        }
        None => {
            eprintln!(
                "skipped: set SCHAKEL_PYTHON to a Python with examples/python/requirements.txt installed"
            );
            None
        }
    }
}

/// The examples' folder, and the modules `generate.sh` made from proto/
/// with `python`'s grpcio-tools (in a folder of their own).
fn generated(python: &std::path::Path) -> (PathBuf, tempfile::TempDir) {
    let example = workspace_root().join("examples/python");
    let generated = tempfile::tempdir().unwrap();
    let venv_bin = python.parent().expect("the Python's folder").to_owned();
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    succeeded(
        Command::new("sh")
            .arg(example.join("generate.sh"))
            .arg(generated.path())
            .env("PATH", &path)
            .env("PYTHON", python)
            .output()
            .unwrap(),
    );
    (example, generated)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_sends_pulls_acks_and_verifies_receipts() {
    let Some(python) = python() else { return };
    let (example, generated) = generated(&python);

    let gw = TestGateway::start().await;
    let dir = gw.pki.dir.clone();
    let addr = gw.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(example.join("schakel_example.py"))
            .args(["--gateway", &addr])
            .arg("--school")
            .arg(dir.join("school-po"))
            .arg("--jgt")
            .arg(dir.join("jgt"))
            .env("SCHAKEL_PY_GENERATED", generated.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = succeeded(out);
    println!("{printed}");
    assert!(
        printed.starts_with("receipt encoding checked against"),
        "{printed}"
    );
    assert!(
        printed.contains("receipt proofs checked against proto/testdata/tree-vector.txt"),
        "{printed}"
    );
    // The receipts of the send and the ack verify by their proofs alone;
    // those of the status, asked for signed, by their signatures too.
    for status in ["accepted", "delivered"] {
        assert!(
            printed.contains(&format!(
                "receipt {status}: proved in the audit log's tree of"
            )),
            "{printed}"
        );
        assert!(
            printed.contains(&format!("receipt {status}: signature by key")),
            "{printed}"
        );
    }
    assert!(
        printed.contains("verified, proved in the audit log's tree of"),
        "{printed}"
    );
    assert!(
        printed.ends_with("delivered, and every receipt verified\n"),
        "{printed}"
    );

    // What Python reported is what the gateway holds: one message from the
    // school to the JGT, delivered.
    let operator = gw.client("operator").await;
    let delivered = audit_of(&operator, &[AuditAction::Delivered]).await;
    assert_eq!(delivered.len(), 1);
    let mut parties = [
        delivered[0].actor_oin.clone(),
        delivered[0].counterpart_oin.clone(),
    ];
    parties.sort();
    assert_eq!(parties, [gw.oin("school-po"), gw.oin("jgt")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_case_example_shares_a_plan_with_every_party_and_gets_a_tlv_decided() {
    let Some(python) = python() else { return };
    let (example, generated) = generated(&python);
    let gw = TestGateway::start().await;
    let dir = gw.pki.dir.clone();
    let addr = gw.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&python);
        cmd.arg(example.join("schakel_case.py"))
            .args(["--gateway", &addr])
            .env("SCHAKEL_PY_GENERATED", generated.path())
            .current_dir(&example);
        for (flag, who) in [
            ("--school", "school-po"),
            ("--jgt", "jgt"),
            ("--swv", "swv"),
        ] {
            cmd.arg(flag).arg(dir.join(who));
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    let printed = succeeded(out);
    println!("{printed}");
    assert!(
        printed.contains("plan version 1 shared with 2 parties"),
        "{printed}"
    );
    assert!(printed.contains("DECISION_OUTCOME_GRANTED"), "{printed}");
    assert!(
        printed.ends_with("the case's story is done, and every receipt verified\n"),
        "{printed}"
    );
    // What Python reported is what the gateway holds: both copies of the
    // plan in the case, delivered, and the decision.
    let jgt = gw.client("jgt").await;
    let case = printed
        .lines()
        .find_map(|l| {
            l.strip_prefix("case ")
                .and_then(|r| r.split_whitespace().next())
        })
        .expect("the case id");
    let view = jgt.list_case(case).await.unwrap();
    let plans = view
        .messages
        .iter()
        .filter(|m| m.kind == schakel_client::proto::MessageKind::Plan as i32)
        .count();
    assert_eq!(plans, 2);
    assert_eq!(view.plans.len(), 1);
}
