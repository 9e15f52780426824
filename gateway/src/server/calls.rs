//! Serving the calls: the TLS acceptor with its handshake and connection
//! limits, the layers every call passes (identity and rate, bodies in
//! flight, batch bounds), the services, and the graceful end: no new calls,
//! open ones get the configured grace.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schakel_proto::v1::admin_server::AdminServer;
use schakel_proto::v1::audit_server::AuditServer;
use schakel_proto::v1::consent_server::ConsentServer;
use schakel_proto::v1::directory_server::DirectoryServer;
use schakel_proto::v1::exchange_server::ExchangeServer;
use tokio::net::TcpListener;
use tonic_health::pb::health_server::{Health, HealthServer};

use super::services::Services;
use crate::api;
use crate::api::batch_bound::BatchBound;
use crate::api::checked_body::CheckedBodyLayer;
use crate::api::decode_errors;
use crate::api::identity_layer::IdentityLayer;
use crate::api::receipt_signatures::Signatures;
use crate::config::Config;
use crate::crypto::GatewayKeys;
use crate::transport::connections::{Admission, Limits};
use crate::transport::handshakes::{HandshakeLimits, Handshakes};
use crate::transport::identity::Resolver;
use crate::transport::in_flight::BodyBudget;
use crate::transport::rate_limit::{Rate, RateLimiter};
use crate::transport::tls::{self, Reloadable};

/// The largest request the health and reflection services read: theirs are
/// small, and any trusted certificate may call them.
const PUBLIC_MESSAGE_BYTES: usize = 16 * 1024;

/// What the calls are served with besides the use cases.
pub struct Serving<H> {
    /// The TLS configuration, and the files it reloads (with the CRLs).
    pub tls: (Arc<rustls::ServerConfig>, Reloadable),
    /// The gateway's keys, which the directory publishes.
    pub signing_key: Arc<GatewayKeys>,
    /// The health service, whose reporter the health watch holds.
    pub health: HealthServer<H>,
}

/// One limiter for the identity layer (a call each) and the batch calls (an
/// item each beyond the call).
fn limiter(config: &Config) -> Arc<RateLimiter> {
    let limits = &config.limits;
    Arc::new(RateLimiter::new(
        Rate::new(
            limits.requests_per_second,
            limits.request_burst,
            "limits.requests_per_second and request_burst",
        ),
        Rate::new(
            limits
                .requests_per_second_per_certificate
                .min(limits.requests_per_second),
            limits
                .request_burst_per_certificate
                .min(limits.request_burst),
            "limits.requests_per_second_per_certificate and request_burst_per_certificate",
        ),
    ))
}

/// Serves `services` on `listener` until `shutdown` completes, then lets
/// open calls finish for `server.shutdown_grace_secs`.
pub async fn serve<H: Health>(
    config: &Config,
    services: &Services,
    serving: Serving<H>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let Serving {
        tls: (tls_config, reloadable),
        signing_key,
        health,
    } = serving;
    let limiter = limiter(config);
    let resolver = Arc::new(Resolver::new(
        services.directory.clone(),
        services.refusals.clone(),
        limiter.clone(),
        reloadable.revocation.clone(),
    ));
    let server = &config.server;
    let incoming = tls::incoming(
        listener,
        tls::Accepting {
            config: tls_config,
            handshake_timeout: Duration::from_secs(server.handshake_timeout_secs),
            handshakes: Handshakes::new(HandshakeLimits {
                total: server.max_pending_handshakes,
                per_address: server.max_pending_handshakes_per_address,
            }),
            admission: Admission::new(Limits {
                per_certificate: server.max_connections_per_certificate,
                total: server.max_connections,
                idle: Duration::from_secs(server.idle_timeout_secs),
            }),
            resolver: Some(resolver.clone()),
        },
    );
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(schakel_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let max_frame = config.limits.frame_limit_bytes() as usize;
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(server.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_secs(server.keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(server.keepalive_timeout_secs)))
        .timeout(Duration::from_secs(server.request_timeout_secs))
        .layer(tower::util::MapResponseLayer::new(
            decode_errors::restate::<tonic::body::Body>,
        ))
        .layer(IdentityLayer::new(resolver))
        .layer(CheckedBodyLayer::new(BodyBudget::new(
            config.limits.max_body_bytes_in_flight_per_participant,
            config.limits.max_body_bytes_in_flight,
        )))
        .layer(CheckedBodyLayer::new(BatchBound::new(
            config.limits.max_batch_messages,
        )))
        .add_service(health.max_decoding_message_size(PUBLIC_MESSAGE_BYTES))
        .add_service(reflection.max_decoding_message_size(PUBLIC_MESSAGE_BYTES))
        .add_service(
            ExchangeServer::new(api::exchange::ExchangeService::new(
                services.exchange.clone(),
                limiter,
                config.limits.max_batch_messages,
                Signatures::new(signing_key.clone(), config.exchange.receipt_signatures),
            ))
            .max_decoding_message_size(max_frame)
            .max_encoding_message_size(max_frame),
        )
        .add_service(ConsentServer::new(api::consent::ConsentService::new(
            services.consents.clone(),
        )))
        .add_service(DirectoryServer::new(api::directory::DirectoryService::new(
            services.directory.clone(),
            services.tree_heads.clone(),
            signing_key,
        )))
        .add_service(AuditServer::new(api::audit::AuditService::new(
            services.audit_log.clone(),
            services.refusals.clone(),
        )))
        .add_service(AdminServer::new(api::admin::AdminService::new(
            services.directory.clone(),
            services.exchange.clone(),
            services.refusals.clone(),
        )));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = router.serve_with_incoming_shutdown(incoming, async {
        let _ = stop_rx.await;
    });
    tokio::pin!(serve);
    tokio::select! {
        result = &mut serve => result?,
        () = shutdown => {
            tracing::info!("shutting down: no new calls; letting open calls finish");
            let _ = stop_tx.send(());
            let grace = Duration::from_secs(config.server.shutdown_grace_secs);
            match tokio::time::timeout(grace, &mut serve).await {
                Ok(result) => result?,
                Err(_) => tracing::warn!(?grace, "open calls did not finish in time; closing them"),
            }
        }
    }
    Ok(())
}
