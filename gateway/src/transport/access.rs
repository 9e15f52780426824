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
use super::connections::Closer;
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
    closer: Arc<Closer>,
}

impl AccessWatch {
    /// A watch over the access of `caller`, with the certificate `chain`
    /// its connection sent (leaf first), decided by `resolver`; `closer`
    /// ends the connection when the certificate itself is refused.
    pub fn new(
        resolver: Arc<Resolver>,
        caller: Caller,
        chain: Vec<CertificateDer<'static>>,
        closer: Arc<Closer>,
    ) -> Self {
        Self {
            resolver,
            caller,
            chain: chain.into(),
            closer,
        }
    }

    /// Whether the caller may still receive: asked before each item a
    /// stream hands out. A refusal of the certificate itself (revoked,
    /// expired, no longer pinned) ends the connection too.
    pub async fn check(&self) -> Result<(), AccessError> {
        let decided = self.resolver.recheck(&self.caller, &self.chain).await;
        if let Err(refused) = &decided
            && refused.ends_connection()
        {
            self.closer.close(refused.clone());
        }
        decided
    }

    /// Completes with the reason when the caller's access ends.
    pub async fn ended(&self) -> AccessError {
        let refused =
            until_refused(&self.resolver, self.caller.cert_not_after, || self.check()).await;
        tracing::info!(oin = %self.caller.oin(), rpc = %self.caller.rpc, reason = %refused, "open stream ended");
        refused
    }
}

/// Decides `check` again whenever the directory changes or the revocation
/// lists are reloaded, when the certificate ends (`not_after`, Unix
/// seconds), and at least every [`RECHECK`]; completes with the first
/// refusal.
async fn until_refused<F, Fut>(resolver: &Resolver, not_after: i64, check: F) -> AccessError
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), AccessError>>,
{
    let (mut directory, mut crls) = resolver.changes();
    loop {
        if let Err(refused) = check().await {
            return refused;
        }
        let to_expiry = Duration::from_secs(u64::try_from(not_after - unix_now() + 1).unwrap_or(0));
        tokio::select! {
            () = changed(&mut directory) => {}
            () = changed(&mut crls) => {}
            () = tokio::time::sleep(to_expiry.min(RECHECK)) => {}
        }
    }
}

/// Watches one connection's certificate for as long as the connection is
/// open, and ends the connection as soon as the certificate is refused:
/// revoked by a reloaded list, expired, or no longer pinned for its OIN.
/// A connection that makes no call is ended all the same. The task ends
/// as soon as the connection is `gone`.
pub fn watch_connection(
    resolver: Arc<Resolver>,
    chain: Vec<CertificateDer<'static>>,
    closer: &Arc<Closer>,
    gone: impl Future<Output = ()> + Send + 'static,
) {
    let closer = Arc::downgrade(closer);
    let watch = async move {
        let not_after = match chain
            .first()
            .map(|leaf| super::identity::cert_identity(leaf))
        {
            Some(Ok(id)) => id.not_after,
            // Refused at its first call, which ends it.
            _ => return,
        };
        let refused = until_refused(&resolver, not_after, || async {
            resolver
                .certificate_refused(&chain)
                .await
                .map_or(Ok(()), Err)
        })
        .await;
        if let Some(closer) = closer.upgrade() {
            tracing::info!(reason = %refused, "connection ended: its certificate is refused");
            closer.close(refused);
        }
    };
    tokio::spawn(async move {
        tokio::select! {
            () = watch => {}
            () = gone => {}
        }
    });
}

/// Completes at the next change; never, once nobody can change it any more.
async fn changed(rx: &mut tokio::sync::watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}
