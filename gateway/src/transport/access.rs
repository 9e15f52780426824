//! Access for as long as it is used. A unary call is decided once, when it
//! arrives; a stream (an inbox, a receipt feed) lives on, so it carries an
//! [`AccessWatch`] that decides again whenever the directory changes or the
//! revocation lists are reloaded, when the certificate expires, and at least
//! every [`RECHECK`]: a suspension, a removed pin, a revoked or an expired
//! certificate ends the stream at once, and its holder gets nothing more.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::AccessError;
use super::identity::{Resolver, unix_now};
use crate::service::Caller;

/// The longest a stream goes without its access decided again, whatever
/// happens: it bounds what a change the directory does not announce (a
/// reloaded revocation list, another instance's change) can let through.
pub const RECHECK: Duration = Duration::from_secs(5);

/// The access of one caller's open stream.
#[derive(Clone)]
pub struct AccessWatch {
    resolver: Arc<Resolver>,
    caller: Caller,
    chain: Arc<[CertificateDer<'static>]>,
}

impl AccessWatch {
    /// A watch over the access of `caller`, with the certificate `chain`
    /// its connection sent (leaf first), decided by `resolver`.
    pub fn new(
        resolver: Arc<Resolver>,
        caller: Caller,
        chain: Vec<CertificateDer<'static>>,
    ) -> Self {
        Self {
            resolver,
            caller,
            chain: chain.into(),
        }
    }

    /// Whether the caller may still receive: asked before each item a
    /// stream hands out.
    pub async fn check(&self) -> Result<(), AccessError> {
        self.resolver.recheck(&self.caller, &self.chain).await
    }

    /// Completes with the reason when the caller's access ends.
    pub async fn ended(&self) -> AccessError {
        let (mut directory, mut crls) = self.resolver.changes();
        loop {
            if let Err(refused) = self.check().await {
                tracing::info!(oin = %self.caller.oin(), rpc = %self.caller.rpc, reason = %refused, "open stream ended");
                return refused;
            }
            let to_expiry = Duration::from_secs(
                u64::try_from(self.caller.cert_not_after - unix_now() + 1).unwrap_or(0),
            );
            tokio::select! {
                () = changed(&mut directory) => {}
                () = changed(&mut crls) => {}
                () = tokio::time::sleep(to_expiry.min(RECHECK)) => {}
            }
        }
    }
}

/// Completes at the next change; never, once nobody can change it any more.
async fn changed(rx: &mut tokio::sync::watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
