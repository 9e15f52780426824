//! The peer broker: a NATS JetStream server, the one a user would otherwise
//! pick, measured in the same run with the same message size, the same
//! number of messages in flight and the same certificates (TLS with client
//! certificates): publish to a file-backed stream and wait for its
//! acknowledgement. The server is `nats-server` from the system's packages,
//! started here in a temporary folder and stopped after.
//!
//! JetStream as packaged acknowledges a publish once the message is in its
//! stream's file, without an fsync per message (it syncs every two minutes
//! by default); the gateway answers ACCEPTED only after an fsync. The
//! comparison is against that default, and docs/PERFORMANCE.md says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;

use super::load::{Samples, drive};

/// The server's binary, where the system's package puts it.
fn binary() -> Option<PathBuf> {
    [
        "nats-server",
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether a NATS server can be started here.
pub fn available() -> bool {
    binary().is_some()
}

/// A running server; stopped when dropped.
struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server with JetStream (file store) and mutual TLS on `pki`'s
/// gateway certificate and CA.
fn start(pki: &Path) -> anyhow::Result<Server> {
    let binary = binary().ok_or_else(|| {
        anyhow::anyhow!("nats-server is not installed (Debian: apt-get install nats-server)")
    })?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let path = |p: &str| pki.join(p).display().to_string();
    let config = format!(
        "listen: \"127.0.0.1:{port}\"\n\
         max_payload: 8MB\n\
         jetstream {{ store_dir: \"{store}\", max_file_store: 64GB, max_memory_store: 256MB }}\n\
         tls {{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{ca}\", verify: true, timeout: 5 }}\n",
        store = dir.path().join("store").display(),
        cert = path("gateway/cert.pem"),
        key = path("gateway/key.pem"),
        ca = path("ca/ca.pem"),
    );
    let file = dir.path().join("nats.conf");
    std::fs::write(&file, config)?;
    let child = Command::new(binary)
        .arg("-c")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Server {
        child,
        url: format!("tls://127.0.0.1:{port}"),
        _dir: dir,
    })
}

/// A client of `server` as the organisation `org` of `pki`, once the
/// server answers (it takes a moment to start).
async fn connect(server: &Server, pki: &Path, org: &str) -> anyhow::Result<async_nats::Client> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async_nats::ConnectOptions::new()
            .add_root_certificates(pki.join("ca/ca.pem"))
            .add_client_certificate(
                pki.join(org).join("cert.pem"),
                pki.join(org).join("key.pem"),
            )
            .require_tls(true)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(&server.url);
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) if Instant::now() > deadline => {
                anyhow::bail!("cannot connect to nats-server at {}: {e}", server.url)
            }
            Err(_) if Instant::now() > deadline => {
                anyhow::bail!("nats-server at {} did not answer", server.url)
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Publishes `n` messages of `size` bytes, `in_flight` at a time over
/// `connections` connections, each waited for until JetStream acknowledges
/// it.
pub async fn measure(
    pki: &Path,
    n: u64,
    in_flight: usize,
    connections: usize,
    size: usize,
) -> anyhow::Result<Samples> {
    let server = start(pki)?;
    let mut streams = Vec::new();
    for _ in 0..connections.max(1) {
        streams.push(jetstream::new(connect(&server, pki, "school-po").await?));
    }
    streams[0]
        .get_or_create_stream(jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the stream: {e}"))?;
    let payload = bytes::Bytes::from(vec![7u8; size]);
    let samples = drive("nats", n, in_flight, None, move |i| {
        let js = streams[i as usize % streams.len()].clone();
        let payload = payload.clone();
        async move {
            let ack = js
                .publish("bench.messages", payload)
                .await
                .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
            ack.await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            Ok(size as u64)
        }
    })
    .await?;
    drop(server);
    Ok(samples)
}
