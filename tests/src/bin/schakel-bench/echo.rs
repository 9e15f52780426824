//! The transport ceiling: a bare tonic unary echo over the same mutual TLS
//! (same rustls configuration, same certificates, same HTTP/2 stack) as the
//! gateway, with requests as large as the gateway's and answers as small as a
//! receipt. Nothing the gateway does can be faster than this.

use std::path::Path;
use std::time::Duration;

use schakel_gateway::transport::connections::{Admission, Limits};
use schakel_gateway::transport::handshakes::{HandshakeLimits, Handshakes};
use schakel_gateway::transport::tls::Accepting;

use schakel_client::proto::echo_client::EchoClient;
use schakel_client::proto::echo_server::{Echo, EchoServer};
use schakel_client::proto::{EchoRequest, EchoResponse};
use schakel_gateway::config::TlsConfig;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Response, Status};

use super::load::{Samples, drive};

const MAX: usize = 64 * 1024 * 1024;

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            received: request.into_inner().payload.len() as u64,
            padding: vec![0; 160],
        }))
    }
}

/// An echo server on 127.0.0.1:0 with the gateway's TLS settings; answers its URL.
async fn serve(pki: &Path) -> anyhow::Result<String> {
    let tls = TlsConfig {
        cert: pki.join("gateway/cert.pem"),
        key: pki.join("gateway/key.pem"),
        client_ca: pki.join("ca/ca.pem"),
        crls: vec![],
        reload_secs: 60,
    };
    let (config, _) = schakel_gateway::transport::tls::server_config(&tls)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://{}", listener.local_addr()?);
    // The same accept loop and connection guard as the gateway's.
    let admission = Admission::new(Limits {
        per_certificate: 1024,
        total: 4096,
        idle: Duration::from_secs(60),
    });
    let incoming = schakel_gateway::transport::tls::incoming(
        listener,
        Accepting {
            config,
            handshake_timeout: Duration::from_secs(10),
            handshakes: Handshakes::new(HandshakeLimits {
                total: 4096,
                per_address: 4096,
            }),
            admission,
            resolver: None,
        },
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                EchoServer::new(EchoService)
                    .max_decoding_message_size(MAX)
                    .max_encoding_message_size(MAX),
            )
            .serve_with_incoming(incoming),
    );
    Ok(url)
}

/// Channels to the echo server as the organisation in `identity_dir`.
async fn channels(
    url: &str,
    identity_dir: &Path,
    connections: usize,
) -> anyhow::Result<Vec<Channel>> {
    let id = schakel_client::Identity::from_dir(identity_dir)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&id.ca_pem))
        .identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
    let mut out = Vec::new();
    for _ in 0..connections.max(1) {
        out.push(
            Endpoint::from_shared(url.to_owned())?
                .tls_config(tls.clone())?
                .connect()
                .await?,
        );
    }
    Ok(out)
}

/// Measures `n` echoes of `size` bytes, `concurrency` at a time.
pub async fn measure(
    pki: &Path,
    n: u64,
    concurrency: usize,
    connections: usize,
    size: usize,
) -> anyhow::Result<Samples> {
    let url = serve(pki).await?;
    let channels = channels(&url, &pki.join("school-po"), connections).await?;
    let payload = vec![7u8; size];
    drive("echo", n, concurrency, None, move |i| {
        let channel = channels[i as usize % channels.len()].clone();
        let payload = payload.clone();
        async move {
            let mut client = EchoClient::new(channel)
                .max_decoding_message_size(MAX)
                .max_encoding_message_size(MAX);
            let r = client.echo(EchoRequest { payload }).await?.into_inner();
            Ok(r.received)
        }
    })
    .await
}
