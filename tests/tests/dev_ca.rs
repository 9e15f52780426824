//! `admin add` leads to a working identity: the development CA of an
//! example PKI issues the new organisation's identity folder, and refuses
//! when the gateway trusts another CA.

use std::path::Path;
use std::process::{Command, Output};

use schakel_gateway::tools::pki::{Ca, write_file};
use schakel_tests::process::Cli;
use schakel_tests::{GatewayProcess, TestPki, org, succeeded, workspace_binary};

fn pki_issue(env: &[(&'static str, String)], out: &Path) -> Output {
    Command::new(workspace_binary("schakel-gateway"))
        .args(["pki", "issue", "--oin", "00000099300000000042"])
        .args([
            "--name",
            "Wijkteam Noord (voorbeeld)",
            "--kind",
            "jgt",
            "--out",
        ])
        .arg(out)
        .envs(env.iter().cloned())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_organisation_gets_a_working_identity_from_the_development_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    let env = pki.env(&data);

    #[rustfmt::skip]
    let add = Cli::as_org(&gw.url(), &pki.dir.join(org::OPERATOR)).args([
        "admin", "add", "--oin", "00000099300000000042",
        "--name", "Wijkteam Noord (voorbeeld)", "--kind", "jgt",
    ]);
    tokio::task::spawn_blocking(move || succeeded(add.output()))
        .await
        .unwrap();

    let folder = tmp.path().join("wijkteam-noord");
    let printed = succeeded(pki_issue(&env, &folder));
    assert!(printed.contains("from the development CA"), "{printed}");
    assert!(
        printed.contains("admin add --oin 00000099300000000042"),
        "{printed}"
    );
    let whoami = Cli::as_org(&gw.url(), &folder).args(["whoami"]);
    let me = tokio::task::spawn_blocking(move || whoami.json())
        .await
        .unwrap();
    assert_eq!(me[0]["type"], "identity");
    assert_eq!(me[0]["oin"], "00000099300000000042");
    assert_eq!(me[0]["kind"], "jgt");

    // A folder that exists is never overwritten.
    let again = pki_issue(&env, &folder);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // A gateway that trusts another CA: refused, whatever key lies beside it.
    let other = Ca::generate("Staat der Nederlanden Private Services CA - G1").unwrap();
    let other_dir = tmp.path().join("production-ca");
    write_file(&other_dir.join("ca.pem"), &other.cert_pem(), false).unwrap();
    write_file(&other_dir.join("ca-key.pem"), &other.key_pem(), true).unwrap();
    let mut production = env.clone();
    production.push((
        "SCHAKEL_TLS__CLIENT_CA",
        other_dir.join("ca.pem").display().to_string(),
    ));
    let refused = pki_issue(&production, &tmp.path().join("never"));
    assert!(!refused.status.success());
    let e = String::from_utf8_lossy(&refused.stderr);
    assert!(e.contains("is not a development CA"), "{e}");
    assert!(e.contains("PKIoverheid"), "{e}");
    assert!(!tmp.path().join("never").exists());
}
