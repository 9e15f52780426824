//! The gateway's periodic work beside the calls it answers: the sweep
//! (leases, expiry, lapses, retention), the TLS files' reload, the refusal
//! counts, the audit log's upkeep, the health watch over the store, and the
//! metrics endpoint; each started here and stopped together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use schakel_proto::v1::admin_server::AdminServer;
use schakel_proto::v1::audit_server::AuditServer;
use schakel_proto::v1::consent_server::ConsentServer;
use schakel_proto::v1::directory_server::DirectoryServer;
use schakel_proto::v1::exchange_server::ExchangeServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::services::Services;
use crate::api;
use crate::config::Config;
use crate::exporter;
use crate::metrics::METRICS;
use crate::service::exchange::Exchange;
use crate::store;
use crate::transport::tls::Reloadable;

/// The periodic tasks, running until [`Tasks::stop`].
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// Starts every task of `config` over `services` and `store`: the TLS
    /// files of `reloadable` are watched, the health of `health` follows
    /// the store, and the metrics are served on `metrics` (if any).
    pub fn start(
        config: &Config,
        services: &Services,
        store: &Arc<dyn store::Store>,
        (reloadable, health): (&Reloadable, &tonic_health::server::HealthReporter),
        metrics: Option<TcpListener>,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let mut running = Vec::new();
        let exchange = services.exchange.clone();
        running.push(every(
            Duration::from_millis(config.exchange.sweep_interval_ms),
            stopped.clone(),
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
        ));
        let reloadable = reloadable.clone();
        running.push(every(
            Duration::from_secs(config.tls.reload_secs.max(1)),
            stopped.clone(),
            move || {
                reloadable.reload_if_changed();
                async { Ok(()) }
            },
        ));
        let refusals = services.refusals.clone();
        running.push(every(
            Duration::from_secs(config.audit.refusal_interval_secs.max(1)),
            stopped.clone(),
            move || {
                let refusals = refusals.clone();
                async move { refusals.flush().await.map_err(|e| e.to_string()) }
            },
        ));
        let audit_log = services.audit_log.clone();
        running.push(every(Duration::from_secs(1), stopped.clone(), move || {
            let audit_log = audit_log.clone();
            async move { audit_log.maintain().await.map_err(|e| e.to_string()) }
        }));
        running.push(health_watch(store.clone(), health.clone(), stopped.clone()));
        if let Some(listener) = metrics {
            let at = listener.local_addr()?;
            tracing::info!("metrics on http://{at}/metrics");
            let (store, exchange) = (store.clone(), services.exchange.clone());
            let render = move || {
                let (store, exchange) = (store.clone(), exchange.clone());
                async move { scrape(store.as_ref(), &exchange).await }
            };
            running.push(exporter::serve(listener, render, stopped));
        }
        Ok(Self { stop, running })
    }

    /// Stops every task and waits for each to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.running {
            let _ = task.await;
        }
    }
}

/// Follows the store's health: NOT_SERVING while it cannot write (with a
/// probe each round that ends the fault when it succeeds), SERVING again
/// after.
fn health_watch(
    store: Arc<dyn store::Store>,
    health: tonic_health::server::HealthReporter,
    stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let serving = Arc::new(std::sync::atomic::AtomicBool::new(true));
    every(Duration::from_secs(1), stopped, move || {
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
}

/// Sets every service's health: SERVING, or NOT_SERVING while the store
/// cannot write.
pub async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
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
fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, task: F) -> JoinHandle<()>
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
