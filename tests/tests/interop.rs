//! Other stacks: the Python example in examples/python, with modules that
//! grpcio-tools generates from proto/, talks to a real gateway over mutual
//! TLS, sends, pulls, acks and verifies every receipt.
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

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_sends_pulls_acks_and_verifies_receipts() {
    let Some(python) = python() else { return };
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
            .env("PYTHON", &python)
            .output()
            .unwrap(),
    );

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
        printed.contains("receipt accepted: signature by key"),
        "{printed}"
    );
    assert!(
        printed.contains("receipt delivered: signature by key"),
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
