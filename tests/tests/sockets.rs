//! Sockets that never start TLS, tried against the real binary under a
//! file-descriptor limit: they cannot use up the gateway's descriptors nor
//! hold its memory, and a genuine client from another address is answered
//! at once; a limit too low for the settings is refused at start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use schakel_tests::process::{GatewayProcess, limit_fds, rss_of};
use schakel_tests::{TestPki, org, workspace_root};

/// Open file descriptors of process `pid`.
fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Raises this test process's own soft file-descriptor limit to its hard
/// one: it opens over a thousand sockets.
fn raise_own_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
}

/// A WhoAmI as `org` from source address `from`, over mutual TLS and
/// HTTP/2; its grpc-status.
async fn whoami_from(
    pki: &TestPki,
    gateway: std::net::SocketAddr,
    from: &str,
    org: &str,
) -> anyhow::Result<String> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse()?)?;
    let tcp = socket.connect(gateway).await?;
    let config = pki.tls_client(org, rustls::DEFAULT_VERSIONS);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let tls = connector.connect(name, tcp).await?;
    let (send, connection) = h2::client::handshake(tls).await?;
    tokio::spawn(connection);
    let request = http::Request::post("https://localhost/schakel.v1.Directory/WhoAmI")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    let (response, mut body) = send.ready().await?.send_request(request, false)?;
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
    let mut body = response.await?.into_body();
    while body.data().await.is_some() {}
    let trailers = body.trailers().await?.unwrap_or_default();
    Ok(trailers
        .get("grpc-status")
        .map_or("none", |s| s.to_str().unwrap_or("?"))
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_cannot_use_up_the_gateways_descriptors_nor_its_memory() {
    raise_own_limit();
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let mut env = pki.env(&tmp.path().join("data"));
    // 512 + 128 + 256 reserved = 896 descriptors needed, under 1024.
    env.push(("SCHAKEL_SERVER__MAX_CONNECTIONS", "512".into()));
    env.push(("SCHAKEL_SERVER__MAX_PENDING_HANDSHAKES", "128".into()));
    let mut cmd = GatewayProcess::command(&workspace_root(), &[], &env);
    limit_fds(&mut cmd, 1024);
    let mut gw = GatewayProcess::spawn_command(cmd);
    assert_eq!(
        whoami_from(&pki, gw.addr, "127.0.0.2", org::JGT)
            .await
            .unwrap(),
        "0"
    );
    let before = rss_of(gw.pid()).unwrap().current;

    // 1,100 sockets from one address, and 400 more from twenty others:
    // each connects and says nothing.
    let mut silent = Vec::new();
    for i in 0..1500 {
        let from = if i < 1100 {
            "127.0.0.1".to_owned()
        } else {
            format!("127.0.1.{}", i % 20 + 1)
        };
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        if let Ok(tcp) = socket.connect(gw.addr).await {
            silent.push(tcp);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds = fds_of(gw.pid());
    assert!(fds < 700, "the gateway holds {fds} descriptors");
    // A genuine client from another address is answered at once.
    let started = Instant::now();
    let status = whoami_from(&pki, gw.addr, "127.0.0.2", org::JGT)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(status, "0");
    assert!(
        took < Duration::from_secs(1),
        "a genuine WhoAmI took {took:?}"
    );
    let during = rss_of(gw.pid()).unwrap().current;
    drop(silent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_of(gw.pid()).unwrap().current;
    let grew = during.max(after).saturating_sub(before);
    assert!(
        grew < 48 << 20,
        "RSS grew by {} MiB under the attack (before {} MiB, during {} MiB, after {} MiB)",
        grew >> 20,
        before >> 20,
        during >> 20,
        after >> 20
    );
    println!(
        "RSS before {} MiB, during {} MiB, after {} MiB; {fds} descriptors under attack; WhoAmI in {took:?}",
        before >> 20,
        during >> 20,
        after >> 20
    );
    let log = gw.log_text();
    gw.signal(libc::SIGTERM);
    assert!(gw.wait().success(), "{log}");
    assert!(!log.contains("accept failed"), "{log}");
}

#[test]
fn a_descriptor_limit_below_what_the_settings_need_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&tmp.path().join("pki"));
    let env = pki.env(&tmp.path().join("data"));
    let mut cmd = GatewayProcess::command(&workspace_root(), &[], &env);
    limit_fds(&mut cmd, 1024);
    let log = schakel_tests::failed(cmd.output().unwrap());
    for named in [
        "file-descriptor limit is 1024",
        "server.max_connections (1024)",
        "server.max_pending_handshakes (256)",
        "ulimit -n 1536",
    ] {
        assert!(log.contains(named), "{named} in {log}");
    }
    assert!(
        !tmp.path().join("data").exists(),
        "a refused start leaves no data folder"
    );
}
