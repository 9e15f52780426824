//! Errors a person can act on: each case a newcomer met says what happened
//! and what to do, naming the address, the setting, the folder or the file,
//! and never prints a stack trace.

use std::path::Path;
use std::process::{Command, Output};

use schakel_tests::process::Cli;
use schakel_tests::{GatewayProcess, TestGateway, TestPki, org, workspace_binary};

/// What a failed command wrote to standard error; it must have failed.
fn failure(out: Output) -> String {
    assert!(!out.status.success(), "the command succeeded: {out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains("stack backtrace") && !stderr.contains("Stack backtrace"),
        "a user error printed a backtrace: {stderr}"
    );
    stderr
}

/// `schakel` as the identity in `dir`, with `RUST_BACKTRACE` set as a
/// developer's shell might have it.
async fn schakel(gateway: &str, dir: &Path, args: &[&str]) -> String {
    let cli = Cli::as_org(gateway, dir)
        .env("RUST_BACKTRACE", "1")
        .args(args);
    failure(
        tokio::task::spawn_blocking(move || cli.output())
            .await
            .unwrap(),
    )
}

/// The gateway binary in `cwd` with `env`, run to its end.
fn gateway_fails(cwd: &Path, env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(workspace_binary("schakel-gateway"));
    cmd.current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .env("SCHAKEL_METRICS__LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    failure(cmd.output().unwrap())
}

/// An identity folder with `org`'s certificate and key from `other`, and
/// the CA file from `trusted` (so that the client trusts the gateway).
fn mixed_identity(dir: &Path, other: &TestPki, trusted: &TestPki, org: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(other.dir.join(org).join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(trusted.dir.join("ca/ca.pem"), dir.join("ca.pem")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_connection_failures_say_what_to_check() {
    let gw = TestGateway::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let other = TestPki::generate(&tmp.path().join("other"));

    // A client certificate from a CA the gateway does not trust.
    let stranger = tmp.path().join("stranger");
    mixed_identity(&stranger, &other, &gw.pki, org::SCHOOL_PO);
    let e = schakel(&gw.url(), &stranger, &["whoami"]).await;
    assert!(e.contains("stranger/cert.pem"), "{e}");
    assert!(e.contains("not issued by a CA"), "{e}");

    // A ca.pem that does not vouch for the gateway's certificate.
    let e = schakel(&gw.url(), &other.dir.join(org::SCHOOL_PO), &["whoami"]).await;
    assert!(e.contains("does not vouch for"), "{e}");
    assert!(e.contains("ca.pem"), "{e}");

    // Nothing listening: the address and how to start a gateway.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", free.local_addr().unwrap());
    drop(free);
    let e = schakel(&url, &gw.pki.dir.join(org::SCHOOL_PO), &["whoami"]).await;
    assert!(e.contains(&format!("nothing answers at {url}")), "{e}");
    assert!(e.contains("is the gateway running?"), "{e}");
    assert_eq!(
        e.to_lowercase().matches("connection refused").count(),
        1,
        "{e}"
    );

    // A folder that is not an identity folder: what it must hold, the cause once.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = schakel(&gw.url(), &empty, &["whoami"]).await;
    assert!(
        e.contains("An identity folder holds cert.pem, key.pem and ca.pem"),
        "{e}"
    );
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");

    // A certificate file where the folder belongs.
    let file = gw.pki.dir.join(org::SCHOOL_PO).join("cert.pem");
    let e = schakel(&gw.url(), &file, &["whoami"]).await;
    assert!(e.contains("is a file: -i takes the identity folder"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_valid_values_and_the_next_step() {
    let gw = TestGateway::start().await;
    let school = gw.pki.dir.join(org::SCHOOL_PO);
    let tmp = tempfile::tempdir().unwrap();

    // A wrong enum value lists the valid ones.
    let dossier = tmp.path().join("dossier.json");
    std::fs::write(&dossier, r#"{"profile": ""}"#).unwrap();
    let vo = gw.oin(org::SCHOOL_VO);
    #[rustfmt::skip]
    let e = schakel(&gw.url(), &school, &[
        "send", "dossier", "--to", &vo, "--legal-basis", "overdracht_po",
        "--file", dossier.to_str().unwrap(),
    ]).await;
    assert!(
        e.contains(r#"profile: unknown value ""; use po_vo, po_po, vo_vo or swv_aanvraag"#),
        "{e}"
    );
    let signal = schakel_tests::workspace_root().join("examples/messages/signalering.json");
    #[rustfmt::skip]
    let e = schakel(&gw.url(), &school, &[
        "send", "signalering", "--to", &vo, "--legal-basis", "law",
        "--file", signal.to_str().unwrap(),
    ]).await;
    assert!(
        e.contains("use overdracht_po, verwijsindex, meldrecht_veilig_thuis, passend_onderwijs or no_personal_data"),
        "{e}"
    );

    // A file that names attachments outside its own folder.
    for outside in ["../secret.txt", "/etc/hostname"] {
        let named = tmp.path().join("named.json");
        let body = serde_json::json!({"profile": "po_vo", "attachments": [outside]});
        std::fs::write(&named, body.to_string()).unwrap();
        #[rustfmt::skip]
        let e = schakel(&gw.url(), &school, &[
            "send", "dossier", "--to", &vo, "--legal-basis", "overdracht_po",
            "--file", named.to_str().unwrap(),
        ]).await;
        assert!(
            e.contains("must be a path inside the file's own folder"),
            "{e}"
        );
    }

    // Who consents: the command line takes the gateway's words.
    #[rustfmt::skip]
    let e = schakel(&gw.url(), &school, &[
        "consent", "grant", "--child", "111222333", "--birth-date", "2016-01-01",
        "--by", "youth2", "--recipient", "jgt", "--kinds", "signalering",
        "--purpose", "x", "--purpose-code", "youth_care", "--until", "2027-01-01",
    ]).await;
    assert!(
        e.contains("use parents, parents_and_child or young_person"),
        "{e}"
    );

    // An acknowledgement before the pull: pull it first.
    let sent = gw
        .send(
            org::SCHOOL_PO,
            schakel_tests::fixtures::signalering("ack-first", &gw.oin(org::VERWIJSINDEX)),
        )
        .await;
    let index = gw.pki.dir.join(org::VERWIJSINDEX);
    let e = schakel(&gw.url(), &index, &["inbox", "ack", &sent.message_id]).await;
    assert!(e.contains("error: failed_precondition: "), "{e}");
    assert!(e.contains("pull it first"), "{e}");

    // A lookup that finds nothing says so and fails.
    let e = schakel(
        &gw.url(),
        &school,
        &["directory", "lookup", "--oin", "00000099999999999999"],
    )
    .await;
    assert!(
        e.contains("no participant with OIN 00000099999999999999"),
        "{e}"
    );

    // A 17 MB attachment: the limit, by its setting, as RESOURCE_EXHAUSTED.
    let big = tmp.path().join("scan.pdf");
    std::fs::write(&big, vec![7u8; 17_000_000]).unwrap();
    #[rustfmt::skip]
    let e = schakel(&gw.url(), &school, &[
        "send", "dossier", "--to", &vo, "--legal-basis", "overdracht_po",
        "--file", &schakel_tests::workspace_root().join("examples/messages/overdrachtsdossier.json").display().to_string(),
        "--attach", big.to_str().unwrap(),
    ]).await;
    assert!(e.contains("error: resource_exhausted: "), "{e}");
    assert!(e.contains("limits.max_message_bytes"), "{e}");
}

#[test]
fn a_gateway_names_the_setting_the_file_or_the_folder_that_stops_it() {
    schakel_tests::sled_only!(
        "a sled data folder takes one gateway; a shared database takes several"
    );
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");

    // A listen address that is not one: the variable and the setting.
    let mut env = pki.env(&data);
    env.push(("SCHAKEL_SERVER__LISTEN", "nonsense".into()));
    let e = gateway_fails(tmp.path(), &env);
    assert!(
        e.contains("environment variable SCHAKEL_SERVER__LISTEN"),
        "{e}"
    );
    assert!(e.contains("server.listen = \"nonsense\""), "{e}");

    // The development CA, whose key is not secret, off loopback.
    let mut env = pki.env(&data);
    env.push(("SCHAKEL_SERVER__LISTEN", "0.0.0.0:0".into()));
    let e = gateway_fails(tmp.path(), &env);
    assert!(
        e.contains("is a development CA, whose key is not secret"),
        "{e}"
    );
    assert!(
        e.contains("server.listen (0.0.0.0:0) is not a loopback address"),
        "{e}"
    );
    assert!(!data.exists(), "it created the data folder");

    // Started in another folder on the embedded defaults: the relative
    // path is named, and nothing is created there.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let e = gateway_fails(
        &elsewhere,
        &[("SCHAKEL_SERVER__LISTEN", "127.0.0.1:0".into())],
    );
    assert!(
        e.contains("tls.cert: cannot read certs-example/gateway/cert.pem"),
        "{e}"
    );
    assert!(
        e.contains("a relative path is taken from the folder the gateway starts in"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "it created files"
    );

    // A second gateway on the same data folder.
    let first = GatewayProcess::spawn_with(&pki, &data, &[]);
    let e = gateway_fails(tmp.path(), &pki.env(&data));
    assert!(e.contains("another gateway holds this data folder"), "{e}");
    assert!(e.contains("storage.data_dir"), "{e}");
    drop(first);
}

/// What `send` can tell without a gateway it says before connecting: a
/// command with nothing to send, or a file that is not there, is answered
/// so even when no gateway answers.
#[tokio::test]
async fn send_says_what_is_missing_before_it_connects() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&pki_dir.path().join("pki"));
    let nowhere = "https://127.0.0.1:9";
    let identity = pki.dir.join(org::SCHOOL_PO);
    let e = schakel(nowhere, &identity, &["send"]).await;
    assert!(
        e.contains("say what to send") && e.contains("--from-file"),
        "{e}"
    );
    let e = schakel(
        nowhere,
        &identity,
        &["send", "--from-file", "/no/such.jsonl"],
    )
    .await;
    assert!(
        e.contains("--from-file") && e.contains("/no/such.jsonl"),
        "{e}"
    );
    assert!(!e.contains("nothing answers"), "{e}");
}

/// A data folder whose store holds data but whose payload key is gone is
/// refused, with the file named, instead of a new key being made that
/// could not open what is stored.
#[tokio::test]
async fn a_lost_key_beside_a_store_with_data_stops_the_gateway() {
    schakel_tests::sled_only!(
        "a sled store beside its keys; over PostgreSQL the shared key check answers"
    );
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let data = tmp.path().join("data");
    let mut gw = GatewayProcess::spawn_with(&pki, &data, &[]);
    gw.signal(libc::SIGTERM);
    gw.wait();
    let key = data.join("payload-encryption.key");
    std::fs::remove_file(&key).unwrap();
    let e = gateway_fails(tmp.path(), &pki.env(&data));
    assert!(
        e.contains("payload-encryption.key is missing") && e.contains("restore the file"),
        "{e}"
    );
    assert!(!key.exists(), "a new key was made");
}

/// `demo --spawn` starts a gateway of its own: an address given beside it
/// would be ignored, so it is refused, naming both ways.
#[test]
fn demo_spawn_refuses_a_gateway_address_it_would_ignore() {
    let out = Cli::new()
        .args(["--gateway", "https://127.0.0.1:9", "demo", "--spawn"])
        .output();
    let e = failure(out);
    assert!(
        e.contains("demo --spawn starts a gateway of its own") && e.contains("drop --spawn"),
        "{e}"
    );
}
