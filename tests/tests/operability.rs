//! Operability: health checks, reflection, the contract's not-yet-implemented
//! calls, the real binary on its embedded defaults, JSON logs, graceful
//! shutdown on SIGTERM, and the `schakel` command line.

use schakel_tests::process::Cli;
use schakel_tests::{GatewayProcess, TestGateway, org, workspace_root};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_reports_every_service_serving() {
    let gw = TestGateway::start().await;
    let client = gw.client(org::JGT).await;
    let mut health = HealthClient::new(client.channel());
    for service in [
        "",
        "schakel.v1.Exchange",
        "schakel.v1.Directory",
        "schakel.v1.Admin",
        "schakel.v1.Audit",
        "schakel.v1.Consent",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

#[tokio::test]
async fn reflection_lists_the_schakel_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let gw = TestGateway::start().await;
    let client = gw.client(org::OPERATOR).await;
    let mut reflection = ServerReflectionClient::new(client.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "schakel.v1.Exchange",
        "schakel.v1.Consent",
        "schakel.v1.Directory",
        "schakel.v1.Audit",
        "schakel.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn the_gateway_key_is_stable_across_restarts() {
    let gw = TestGateway::start().await;
    let key = gw.client(org::JGT).await.gateway_key().await.unwrap();
    assert_eq!(key.ed25519_public_key.len(), 32);
    assert_eq!(key.key_id.len(), 16);
    let gw = gw.restart().await;
    let again = gw.client(org::JGT).await.gateway_key().await.unwrap();
    assert_eq!(key, again);
}

/// The real binary with no configuration file, run from the workspace root:
/// it must find the example PKI and directory on its embedded defaults. Only
/// the port and the data folder are overridden, through the environment.
fn spawn_on_defaults(data: &std::path::Path, args: &[&str]) -> GatewayProcess {
    GatewayProcess::spawn(
        &workspace_root(),
        args,
        &[
            ("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0".into()),
            // A folder the gateway makes (0700) inside the test's own.
            (
                "SCHAKEL_STORAGE__DATA_DIR",
                data.join("data").display().to_string(),
            ),
        ],
    )
}

#[test]
fn the_binary_serves_on_its_embedded_defaults_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut gw = spawn_on_defaults(data.path(), &[]);
    let log = gw.log_text();
    assert!(log.contains("embedded defaults"), "{log}");
    assert!(log.contains("certs-example/ca/ca.pem"), "{log}");

    // The schakel CLI answers whoami for the example school.
    let identity = std::path::Path::new("certs-example/school-po");
    let me = Cli::as_org(&gw.url(), identity).args(["whoami"]).json();
    let me = &me[0];
    assert_eq!(me["oin"], "00000099100000000001");
    assert_eq!(me["kind"], "school");
    assert_eq!(me["name"], "Basisschool De Regenboog (voorbeeld)");

    gw.signal(libc::SIGTERM);
    let status = gw.wait();
    assert!(status.success(), "exit status {status:?}");
    let log = gw.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("store flushed"), "{log}");
    // The signing key was created with mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("data/gateway-signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn log_json_writes_one_json_object_per_line() {
    let data = tempfile::tempdir().unwrap();
    let mut gw = spawn_on_defaults(data.path(), &["--log-json"]);
    gw.signal(libc::SIGINT);
    assert!(gw.wait().success());
    let log = gw.log_text();
    let lines: Vec<_> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{log}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{line}"
        );
    }
}

#[test]
fn the_cli_explains_errors_in_words_and_json() {
    let data = tempfile::tempdir().unwrap();
    let gw = spawn_on_defaults(data.path(), &[]);
    let run = |args: &[&str]| {
        Cli::new()
            .args(["--gateway", &gw.url()])
            .args(args)
            .output()
    };
    let out = run(&["--identity", "certs-example/school-po", "admin", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("permission_denied") && err.contains("operators only"),
        "{err}"
    );

    let out = run(&[
        "--identity",
        "certs-example/school-po",
        "--json",
        "admin",
        "list",
    ]);
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "permission_denied");
    assert_eq!(err["type"], "error");

    let out = run(&["whoami"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));

    let out = run(&[
        "--identity",
        "certs-example/operator",
        "--json",
        "admin",
        "list",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        schakel_gateway::tools::pki::example_orgs().len()
    );
}
