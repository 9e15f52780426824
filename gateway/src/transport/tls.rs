//! Mutual TLS: the rustls server configuration and the accept loop.
//!
//! We build the rustls `ServerConfig` ourselves instead of using tonic's
//! `ServerTlsConfig`, so that we control the crypto provider (ring only), the
//! protocol versions (TLS 1.3 and 1.2), the cipher suites (AEAD only) and the
//! revocation lists. Connections are then served with
//! `serve_with_incoming_shutdown`; tonic still exposes the peer certificates
//! to the services.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::crypto::{CryptoProvider, ring};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::access::watch_connection;
use super::connections::{Admission, Guarded};
use super::handshakes::Handshakes;
use super::identity::{Resolver, cert_identity, unix_now};
use super::pem::TlsError;
pub use super::pem::read_certs;
use super::revocation::Revocation;
use super::server_cert::ServerCert;
use crate::config::TlsConfig;
use crate::metrics::METRICS;

/// The crypto provider: ring, with only AEAD cipher suites with forward
/// secrecy (the NCSC "good" list for TLS 1.2, and all of TLS 1.3's).
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as cs;
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..ring::default_provider()
    })
}

/// Installs the ring provider as the process default. Any rustls user that
/// does not pass a provider explicitly (tonic's client, for one) then uses
/// ring; call it first thing in `main`. Calling it twice is harmless.
pub fn install_default_provider() {
    let _ = ring::default_provider().install_default();
}

/// What can be reloaded while the gateway runs: the revocation lists and
/// the gateway's own certificate.
#[derive(Debug, Clone)]
pub struct Reloadable {
    /// The client certificate verifier and its CRLs.
    pub revocation: Arc<Revocation>,
    /// The gateway's certificate and key.
    pub server_cert: Arc<ServerCert>,
}

impl Reloadable {
    /// Reads whatever changed on disk again.
    pub fn reload_if_changed(&self) {
        self.revocation.reload_if_changed();
        self.server_cert.reload_if_changed();
    }
}

/// Builds the server configuration: the gateway's certificate, a client
/// certificate required and verified against the CA bundle and CRLs, TLS 1.3
/// and 1.2 only, HTTP/2 by ALPN; the certificate and the CRLs are reloaded
/// through the [`Reloadable`] returned beside it.
pub fn server_config(cfg: &TlsConfig) -> Result<(Arc<rustls::ServerConfig>, Reloadable), TlsError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for ca in read_certs("client CA bundle", &cfg.client_ca)? {
        roots.add(ca).map_err(|e| TlsError::Invalid {
            what: "client CA bundle",
            path: cfg.client_ca.clone(),
            message: e.to_string(),
        })?;
    }
    let revocation = Arc::new(Revocation::new(roots, cfg.crls.clone(), provider.clone())?);
    let server_cert = Arc::new(ServerCert::new(
        cfg.cert.clone(),
        cfg.key.clone(),
        provider.clone(),
    )?);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(revocation.clone())
        .with_cert_resolver(server_cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((
        Arc::new(config),
        Reloadable {
            revocation,
            server_cert,
        },
    ))
}

/// How connections are taken in: the TLS configuration, and the bounds
/// and watch they meet.
pub struct Accepting {
    /// The server configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    /// The bounds on pending handshakes.
    pub handshakes: Arc<Handshakes>,
    /// The bounds on open connections.
    pub admission: Arc<Admission>,
    /// Watches every admitted connection's certificate for as long as the
    /// connection is open and ends the connection once it is refused
    /// ([`watch_connection`]); the benchmark's echo server has none.
    pub resolver: Option<Arc<Resolver>>,
}

/// Accepts TCP connections on `listener` and completes TLS handshakes, each in
/// its own task so that a slow peer never blocks the others. A connection
/// waits for its handshake only while the pending handshakes are within
/// their bounds, and is closed at once otherwise. Yields the connections
/// that finished their handshake within the timeout and with their place
/// from the admission (admitted, or over a limit to be answered with it);
/// failed handshakes, and connections over a limit when there is no room to
/// answer them, are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    accepting: Accepting,
) -> ReceiverStream<Result<Guarded<TlsStream<TcpStream>>, std::io::Error>> {
    let Accepting {
        config,
        handshake_timeout,
        handshakes,
        admission,
        resolver,
    } = accepting;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = tx.closed() => break,
            };
            let pending = match handshakes.begin(peer.ip()) {
                Ok(pending) => pending,
                Err(bound) => {
                    tracing::debug!(%peer, bound, "connection closed before its handshake: too many pending");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            let admission = admission.clone();
            let resolver = resolver.clone();
            tokio::spawn(async move {
                let handshake = tokio::select! {
                    done = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => done,
                    () = pending.evicted() => {
                        tracing::debug!(%peer, "handshake ended to make room: server.max_pending_handshakes");
                        return;
                    }
                };
                drop(pending);
                match handshake {
                    Ok(Ok(tls)) => {
                        let Some(leaf) =
                            tls.get_ref().1.peer_certificates().and_then(|c| c.first())
                        else {
                            return;
                        };
                        let cert = crate::crypto::sha256(leaf);
                        // Once per connection, not per call: how long its
                        // holder's certificate has, for the operators.
                        if let Ok(id) = cert_identity(leaf) {
                            METRICS.certificate(id.oin.as_str(), id.not_after, unix_now());
                        }
                        match admission.admit(cert) {
                            Ok(ticket) => {
                                if let Some(limit) = ticket.over_limit() {
                                    tracing::warn!(%peer, certificate = %cert, %limit, "connection over a limit: its calls are answered with the limit, then it is closed");
                                }
                                let idle = admission.limits().idle;
                                let chain = tls.get_ref().1.peer_certificates().map(<[_]>::to_vec);
                                let guarded = Guarded::new(tls, ticket, idle);
                                if guarded.over_limit().is_none()
                                    && let Some(chain) = chain
                                    && let Some(resolver) = resolver
                                {
                                    watch_connection(
                                        resolver,
                                        chain,
                                        &guarded.closer(),
                                        guarded.gone(),
                                    );
                                }
                                let _ = tx.send(Ok(guarded)).await;
                            }
                            Err(limit) => {
                                tracing::warn!(%peer, certificate = %cert, %limit, "connection closed: over a limit");
                            }
                        }
                    }
                    Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
