//! Assembles the gateway from its concerns and serves it.
//!
//! [`run`] takes a bound listener and a shutdown future from its caller, in the
//! manner of mini-redis: tests bind 127.0.0.1:0 themselves, know the port
//! before the gateway starts, and never sleep to wait for it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use schakel_proto::v1::admin_server::AdminServer;
use schakel_proto::v1::audit_server::AuditServer;
use schakel_proto::v1::consent_server::ConsentServer;
use schakel_proto::v1::directory_server::DirectoryServer;
use schakel_proto::v1::exchange_server::ExchangeServer;
use tokio::net::TcpListener;

use crate::api;
use crate::api::batch_bound::BatchBound;
use crate::api::checked_body::CheckedBodyLayer;
use crate::api::decode_errors;
use crate::api::identity_layer::{ConnectionInfo, IdentityLayer};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{
    CHILD_KEY_FILE, ChildKey, GatewayKeys, PAYLOAD_KEY_FILE, PayloadKey, SIGNING_KEY_FILE, Signer,
};
use crate::exporter;
use crate::metrics::METRICS;
use crate::service::audit_log::AuditLog;
use crate::service::consents::Consents;
use crate::service::directory::{Directory, read_seed_file};
use crate::service::exchange::{Exchange, Keys};
use crate::service::notify::Notifier;
use crate::service::refusals::Refusals;
use crate::store;
use crate::transport::connections::{Admission, Guarded, Limits};
use crate::transport::handshakes::{HandshakeLimits, Handshakes};
use crate::transport::identity::Resolver;
use crate::transport::in_flight::BodyBudget;
use crate::transport::rate_limit::{Rate, RateLimiter};
use crate::transport::tls;

/// The largest request the health and reflection services read: theirs are
/// small, and any trusted certificate may call them.
const PUBLIC_MESSAGE_BYTES: usize = 16 * 1024;

/// Runs the gateway on `listener` until `shutdown` completes, then lets open
/// calls finish (up to the configured grace period) and flushes the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_with_clock(config, Clock::system(), listener, shutdown).await
}

/// [`run`] on `clock`: tests that need days to pass give a clock they move.
/// The metrics endpoint listens where `[metrics] listen` says.
pub async fn run_with_clock(
    config: Config,
    clock: Clock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let metrics = match config.metrics.listen.trim() {
        "" => None,
        addr => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("metrics.listen: cannot listen on {addr}; give a free address, or \"\" to turn the endpoint off")
        })?),
    };
    serve(config, clock, listener, metrics, shutdown).await
}

/// Serves the gateway on `listener` and its metrics on `metrics` (if any),
/// on `clock`, until `shutdown` completes: tests bind both listeners
/// themselves.
pub async fn serve(
    config: Config,
    clock: Clock,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    config.check_files()?;
    let fd_limit =
        crate::transport::fd_limit::ensure(&config.server).map_err(anyhow::Error::msg)?;
    // Read before the data folder and keys are made, so that a bad file
    // leaves nothing behind.
    let seed = read_seed_file(&config.directory.file)?;
    let data_dir = &config.storage.data_dir;
    store::data_folder::secure(data_dir, config.storage.allow_shared_data_folder)
        .map_err(anyhow::Error::msg)?;
    refuse_lost_keys(data_dir)?;
    // Every key before the store: a first start cut off half-way leaves
    // keys without a store, never a store without its keys.
    let signing_key = Arc::new(GatewayKeys::load_or_create(data_dir)?);
    let child_key = Arc::new(ChildKey::load_or_create(data_dir).map_err(|e| match e {
        crate::crypto::KeyError::Invalid { .. } => anyhow::anyhow!(
            "{e}: restore it from your backup of the data folder (under a new secret every child reference stored before would point nowhere); to start afresh instead, move the whole data folder aside"
        ),
        other => other.into(),
    })?);
    let keys = Keys {
        payload: Arc::new(PayloadKey::load_or_create(data_dir)?),
        child: child_key.clone(),
    };
    let sealing =
        store::sealing::Sealing::open(data_dir, config.audit.retention_days, clock.now_ms())?;
    let store = store::engine::open(&config.storage, signing_key.clone(), sealing)
        .await
        .with_context(|| {
            format!(
                "cannot open the store {}",
                store::engine::describe(&config.storage)
            )
        })?;
    // The keys must be those the store's data was made with.
    crate::service::shared_keys::ensure_same_keys(
        store.as_ref(),
        &signing_key,
        &child_key,
        &keys.payload,
        config.storage.engine == crate::config::StorageEngine::Postgres,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let directory = Directory::new(store.clone(), clock.clone());
    let seeded = seed.len();
    let added = directory.seed(seed).await?;
    let (tls_config, reloadable) = tls::server_config(&config.tls)?;
    let notifier = Arc::new(Notifier::default());
    let refusals = Refusals::new(store.clone(), clock.clone());
    let exchange = Arc::new(Exchange::new(
        store.clone(),
        directory.clone(),
        keys,
        &config,
        notifier.clone(),
        refusals.clone(),
        clock.clone(),
    ));
    let consents = Arc::new(Consents::new(
        store.clone(),
        child_key.clone(),
        notifier,
        refusals.clone(),
        clock.clone(),
        config.consent.clone(),
    ));
    let audit_log = Arc::new(AuditLog::new(
        store.clone(),
        signing_key.clone(),
        child_key,
        config.audit.clone(),
        clock,
    ));
    audit_log
        .forget_terms(store.upkeep_turn().await?)
        .await
        .context("cannot forget the term keys of the days that are over")?;
    let (stop_tasks, tasks_stopped) = tokio::sync::watch::channel(false);
    let sweeper = {
        let exchange = exchange.clone();
        every(
            Duration::from_millis(config.exchange.sweep_interval_ms),
            tasks_stopped.clone(),
            move || {
                let exchange = exchange.clone();
                async move {
                    exchange
                        .sweep()
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            },
        )
    };
    let reload = {
        let reloadable = reloadable.clone();
        every(
            Duration::from_secs(config.tls.reload_secs.max(1)),
            tasks_stopped.clone(),
            move || {
                reloadable.reload_if_changed();
                async { Ok(()) }
            },
        )
    };
    let refusal_counts = {
        let refusals = refusals.clone();
        every(
            Duration::from_secs(config.audit.refusal_interval_secs.max(1)),
            tasks_stopped.clone(),
            move || {
                let refusals = refusals.clone();
                async move { refusals.flush().await.map_err(|e| e.to_string()) }
            },
        )
    };
    let upkeep = {
        let audit_log = audit_log.clone();
        every(Duration::from_secs(1), tasks_stopped.clone(), move || {
            let audit_log = audit_log.clone();
            async move { audit_log.maintain().await.map_err(|e| e.to_string()) }
        })
    };
    let max_frame = config.limits.frame_limit_bytes() as usize;

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, true).await;
    let health_watch = {
        let (store, health) = (store.clone(), health.clone());
        let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
        every(Duration::from_secs(1), tasks_stopped.clone(), move || {
            let (store, health, serving) = (store.clone(), health.clone(), serving.clone());
            async move {
                if store.fault().is_some() {
                    // Another try: a probe that succeeds ends the fault. A
                    // disk that hangs must not hang the health service.
                    let _ = tokio::time::timeout(Duration::from_millis(500), store.flush()).await;
                }
                let fault = store.fault();
                let ok = fault.is_none();
                if serving.swap(ok, std::sync::atomic::Ordering::SeqCst) != ok {
                    set_health(&health, ok).await;
                    match fault {
                        Some(f) if !ok => tracing::error!("health: NOT_SERVING: {f}"),
                        _ => tracing::warn!("health: SERVING again; the store writes"),
                    }
                }
                Ok(())
            }
        })
    };
    let exporter = match metrics {
        Some(listener) => {
            let at = listener.local_addr()?;
            tracing::info!("metrics on http://{at}/metrics");
            let (store, exchange) = (store.clone(), exchange.clone());
            let render = move || {
                let (store, exchange) = (store.clone(), exchange.clone());
                async move { scrape(store.as_ref(), &exchange).await }
            };
            Some(exporter::serve(listener, render, tasks_stopped.clone()))
        }
        None => None,
    };
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(schakel_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        client_ca = %config.tls.client_ca.display(),
        data_dir = %data_dir.display(),
        directory = %config.directory.file.display(),
        participants_in_file = seeded,
        participants_added = added,
        gateway_key = %signing_key.key_id(),
        retired_gateway_keys = signing_key.retired().len(),
        fd_limit,
        "schakel gateway serving gRPC with mutual TLS on https://{addr}"
    );

    // One limiter for the identity layer (a call each) and the batch calls
    // (an item each beyond the call).
    let limits = &config.limits;
    let limiter = Arc::new(RateLimiter::new(
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
    ));
    let resolver = Arc::new(Resolver::new(
        directory.clone(),
        refusals.clone(),
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
        .add_service(health_service.max_decoding_message_size(PUBLIC_MESSAGE_BYTES))
        .add_service(reflection.max_decoding_message_size(PUBLIC_MESSAGE_BYTES))
        .add_service(
            ExchangeServer::new(api::exchange::ExchangeService::new(
                exchange.clone(),
                limiter,
                config.limits.max_batch_messages,
            ))
            .max_decoding_message_size(max_frame)
            .max_encoding_message_size(max_frame),
        )
        .add_service(ConsentServer::new(api::consent::ConsentService::new(
            consents,
        )))
        .add_service(DirectoryServer::new(api::directory::DirectoryService::new(
            directory.clone(),
            signing_key.clone(),
        )))
        .add_service(AuditServer::new(api::audit::AuditService::new(
            audit_log.clone(),
            refusals.clone(),
        )))
        .add_service(AdminServer::new(api::admin::AdminService::new(
            directory,
            exchange.clone(),
            refusals.clone(),
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
    let _ = stop_tasks.send(true);
    let _ = sweeper.await;
    let _ = upkeep.await;
    let _ = reload.await;
    let _ = health_watch.await;
    if let Some(exporter) = exporter {
        let _ = exporter.await;
    }
    let _ = refusal_counts.await;
    // The last interval's refusals, before the last checkpoint covers them.
    refusals
        .flush()
        .await
        .context("final write of refusal counts")?;
    // A last checkpoint, so that a stopped gateway's log is signed to its head.
    audit_log
        .checkpoint_now()
        .await
        .context("final audit checkpoint")?;
    drop(exchange);
    store.flush().await.context("final flush of the store")?;
    tracing::info!("store flushed; gateway stopped");
    Ok(())
}

/// The figures read at scrape time, set, and the metrics text.
async fn scrape(store: &dyn store::Store, exchange: &Exchange) -> String {
    METRICS.store_fault.set(i64::from(store.fault().is_some()));
    if let Ok(figures) = exchange.queue_figures().await {
        METRICS
            .store_bytes
            .set(i64::try_from(figures.store_bytes).unwrap_or(i64::MAX));
        // A database without a bound has all the room a gauge can say.
        METRICS
            .store_headroom_bytes
            .set(figures.headroom_bytes.unwrap_or(i64::MAX));
        METRICS.inbox_ready.clear();
        METRICS.inbox_leased.clear();
        METRICS.inbox_oldest_age_seconds.clear();
        METRICS.inbox_held_bytes.clear();
        METRICS.sender_held_bytes.clear();
        let now = exchange.clock().now_ms();
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for f in figures.inboxes {
            let label = vec![("recipient", f.recipient.to_string())];
            METRICS
                .inbox_ready
                .get_or_create(&label)
                .set(gauge(f.ready));
            METRICS
                .inbox_leased
                .get_or_create(&label)
                .set(gauge(f.leased));
            METRICS
                .inbox_held_bytes
                .get_or_create(&label)
                .set(gauge(f.held_bytes));
            let age = f.oldest_ready_ms.map_or(0, |t| (now - t).max(0) / 1000);
            METRICS
                .inbox_oldest_age_seconds
                .get_or_create(&label)
                .set(age);
        }
        for (sender, bytes) in figures.senders {
            METRICS
                .sender_held_bytes
                .get_or_create(&vec![("sender", sender.to_string())])
                .set(gauge(bytes));
        }
    }
    METRICS.render()
}

/// Sets every service's health: SERVING, or NOT_SERVING while the store
/// cannot write.
async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let status = if serving { Serving } else { NotServing };
    for service in [
        "",
        <ExchangeServer<api::exchange::ExchangeService> as tonic::server::NamedService>::NAME,
        <ConsentServer<api::consent::ConsentService> as tonic::server::NamedService>::NAME,
        <DirectoryServer<api::directory::DirectoryService> as tonic::server::NamedService>::NAME,
        <AuditServer<api::audit::AuditService> as tonic::server::NamedService>::NAME,
        <AdminServer<api::admin::AdminService> as tonic::server::NamedService>::NAME,
    ] {
        health.set_service_status(service, status).await;
    }
}

/// Runs `task` every `interval` until `stop` changes; failures are logged and
/// the next round tries again.
fn every<F, Fut>(
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    task: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = task().await {
                        tracing::error!(error = %e, "periodic task failed");
                    }
                }
                _ = stop.changed() => break,
            }
        }
    })
}

/// tonic reads a connection's certificates, and the limit it is over,
/// through this.
impl<S> tonic::transport::server::Connected for Guarded<S>
where
    S: tonic::transport::server::Connected<
            ConnectInfo = tonic::transport::server::TlsConnectInfo<
                tonic::transport::server::TcpConnectInfo,
            >,
        >,
{
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            tls: self.get_ref().connect_info(),
            over_limit: self.over_limit().map(str::to_owned),
            closer: self.closer(),
        }
    }
}

/// Refuses to start on a data folder whose store holds data while one of
/// its keys is gone: a key made anew would leave the stored payloads
/// unreadable, the child references unmatched and the receipts without a
/// key that verifies them. Only a new data folder gets new keys.
fn refuse_lost_keys(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let store = data_dir.join(store::engine::STORE_DIR);
    let holds_data = std::fs::read_dir(&store).is_ok_and(|mut d| d.next().is_some());
    if !holds_data {
        return Ok(());
    }
    for file in [SIGNING_KEY_FILE, CHILD_KEY_FILE, PAYLOAD_KEY_FILE] {
        let path = data_dir.join(file);
        if !path.exists() {
            anyhow::bail!(
                "{} is missing, but the store in {} holds data made with it: restore the file from your backup of the data folder (a new key would leave the stored payloads unreadable and the receipts unverifiable); to start afresh instead, move the whole data folder aside",
                path.display(),
                store.display()
            );
        }
    }
    Ok(())
}
