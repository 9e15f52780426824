//! Assembles the gateway from its concerns and serves it.
//!
//! [`run`] takes a bound listener and a shutdown future from its caller, in the
//! manner of mini-redis: tests bind 127.0.0.1:0 themselves, know the port
//! before the gateway starts, and never sleep to wait for it.

mod calls;
mod open;
mod services;
mod tasks;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::identity_layer::ConnectionInfo;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Signer;
use crate::service::directory::read_seed_file;
use crate::transport::connections::Guarded;
use crate::transport::tls;
use services::Services;
use tasks::Tasks;

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
/// themselves. Its parts, in order: open the data folder ([`open`]),
/// assemble the use cases ([`services`]), start the periodic work
/// ([`tasks`]), serve the calls ([`calls`]); then stop the work and leave
/// the log signed to its head and the store flushed.
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
    let opened = open::open(&config, &clock).await?;
    let services = Services::assemble(&config, &clock, &opened, seed).await?;
    let (tls_config, reloadable) = tls::server_config(&config.tls)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    tasks::set_health(&health, true).await;
    let tasks = Tasks::start(
        &config,
        &services,
        &opened.store,
        (&reloadable, &health),
        metrics,
    )?;

    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        client_ca = %config.tls.client_ca.display(),
        data_dir = %config.storage.data_dir.display(),
        directory = %config.directory.file.display(),
        participants_in_file = services.seeded.0,
        participants_added = services.seeded.1,
        gateway_key = %opened.signing_key.key_id(),
        retired_gateway_keys = opened.signing_key.retired().len(),
        fd_limit,
        "schakel gateway serving gRPC with mutual TLS on https://{addr}"
    );
    let serving = calls::Serving {
        tls: (tls_config, reloadable),
        signing_key: opened.signing_key.clone(),
        health: health_service,
    };
    calls::serve(&config, &services, serving, listener, shutdown).await?;

    tasks.stop().await;
    // The last interval's refusals, before the last checkpoint covers them.
    services
        .refusals
        .flush()
        .await
        .context("final write of refusal counts")?;
    // A last checkpoint, so that a stopped gateway's log is signed to its head.
    services
        .audit_log
        .checkpoint_now()
        .await
        .context("final audit checkpoint")?;
    drop(services);
    opened
        .store
        .flush()
        .await
        .context("final flush of the store")?;
    tracing::info!("store flushed; gateway stopped");
    Ok(())
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
