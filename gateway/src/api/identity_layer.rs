//! The tower layer in front of every service: it resolves the caller from
//! the connection's client certificate ([`Resolver`]) and puts it on the
//! request, or answers with the status that says why there is none. No
//! handler can forget it.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::status;
use crate::transport::access::AccessWatch;
use crate::transport::connections::Closer;
use crate::transport::identity::Resolver;

/// What the server records about a connection, for every request on it:
/// its TLS details, and the connection limit it is over, if it is.
#[derive(Clone)]
pub struct ConnectionInfo {
    /// The addresses and the peer's certificates.
    pub tls: TlsConnectInfo<TcpConnectInfo>,
    /// The limit the connection is over: every call on it is answered
    /// RESOURCE_EXHAUSTED with it.
    pub over_limit: Option<String>,
    /// Ends the connection once its certificate is refused.
    pub closer: Arc<Closer>,
}

/// Paths that need a verified certificate but no directory entry: health
/// checks and reflection, so that monitoring works with any trusted client
/// certificate.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// The layer.
#[derive(Clone)]
pub struct IdentityLayer {
    resolver: Arc<Resolver>,
}

impl IdentityLayer {
    /// A layer resolving callers with `resolver`.
    pub fn new(resolver: Arc<Resolver>) -> Self {
        Self { resolver }
    }
}

impl<S> tower::Layer<S> for IdentityLayer {
    type Service = IdentityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdentityService {
            inner,
            resolver: self.resolver.clone(),
        }
    }
}

/// The service [`IdentityLayer`] wraps around the routes.
#[derive(Clone)]
pub struct IdentityService<S> {
    inner: S,
    resolver: Arc<Resolver>,
}

impl<S, B> tower::Service<http::Request<B>> for IdentityService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone is not ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let info = req.extensions().get::<ConnectionInfo>();
            if let Some(limit) = info.and_then(|i| i.over_limit.clone()) {
                return Ok(tonic::Status::resource_exhausted(format!(
                    "connection refused: {limit}"
                ))
                .into_http());
            }
            let closer = info.map(|i| i.closer.clone());
            if let Some(reason) = closer.as_ref().and_then(|c| c.reason()) {
                // Decided already: nothing more is read or counted for it.
                return Ok(status::access(reason).into_http());
            }
            let certs = info.and_then(|info| info.tls.peer_certs());
            if is_public(&path) {
                if let Err(refused) = resolver.admit_public(certs.as_deref().map(Vec::as_slice)) {
                    return Ok(status::access(refused).into_http());
                }
                return inner.call(req).await;
            }
            match resolver
                .resolve(certs.as_deref().map(Vec::as_slice), &path)
                .await
            {
                Ok(caller) => {
                    tracing::debug!(oin = %caller.oin(), %path, "call");
                    if let Some(chain) = certs.filter(|c| !c.is_empty()) {
                        let watch = AccessWatch::new(
                            resolver.clone(),
                            caller.clone(),
                            chain.to_vec(),
                            closer.unwrap_or_default(),
                        );
                        req.extensions_mut().insert(watch);
                    }
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(refused) => {
                    if refused.ends_connection()
                        && let Some(closer) = &closer
                    {
                        closer.close(refused.clone());
                    }
                    let status = status::access(refused);
                    // Counted and logged per interval by the refusals; the
                    // path is the caller's and is not logged here.
                    tracing::debug!(code = ?status.code(), message = status.message(), "call refused");
                    Ok(status.into_http())
                }
            }
        })
    }
}
