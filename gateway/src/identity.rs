//! Who is calling: the OIN in the client certificate, looked up in the
//! directory, as a typed [`Caller`] for every service.
//!
//! The TLS layer has already proved that the certificate chains to the
//! trusted CA, is within its validity and is not revoked. This layer adds what
//! rustls cannot know: the certificate must carry an OIN (20 digits) in its
//! Subject serialNumber, as PKIoverheid certificates do; that OIN must be an
//! active participant; and where the directory pins certificates for it, this
//! must be one of them. It runs as a tower layer in front of every service, so
//! no handler can forget it, and it reads the directory on every call, so a
//! suspension takes effect at the next call on every gateway instance.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use rustls_pki_types::CertificateDer;
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use x509_parser::prelude::*;

use crate::directory::{Directory, OrgKind, Participant, check_oin};

/// The authenticated organisation behind a call, put into the request's
/// extensions by [`IdentityLayer`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its directory entry, as read at the start of this call.
    pub participant: Participant,
    /// SHA-256 of the client certificate's DER, lowercase hex.
    pub cert_sha256: String,
    /// The certificate's notAfter, Unix seconds.
    pub cert_not_after: i64,
}

impl Caller {
    /// The caller's OIN.
    pub fn oin(&self) -> &str {
        &self.participant.oin
    }

    /// Refuses every caller that is not an operator, naming the service.
    pub fn require_operator(&self, service: &str) -> Result<(), Status> {
        if self.participant.kind == OrgKind::Operator {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "the {service} service is for operators only; {} ({}) is a {}",
                self.participant.name, self.participant.oin, self.participant.kind
            )))
        }
    }

    /// The caller of a request that passed [`IdentityLayer`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Status::internal("no caller identity on this request"))
    }

    /// The caller of a request to an operators-only service, or
    /// PERMISSION_DENIED naming the service.
    pub fn operator_of<'r, T>(
        request: &'r tonic::Request<T>,
        service: &str,
    ) -> Result<&'r Caller, Status> {
        let caller = Self::of(request)?;
        caller.require_operator(service)?;
        Ok(caller)
    }
}

/// What a client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The OIN from the Subject serialNumber.
    pub oin: String,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// Reads the OIN and fingerprint from a DER certificate. The OIN must stand in
/// the Subject's serialNumber attribute (OID 2.5.4.5), exactly once, as 20
/// digits.
pub fn cert_identity(der: &[u8]) -> Result<CertIdentity, Status> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| Status::unauthenticated("the client certificate cannot be parsed"))?;
    let mut serials = cert
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER);
    let attr = serials.next().ok_or_else(|| {
        Status::unauthenticated(
            "the client certificate has no OIN: its Subject lacks a serialNumber attribute",
        )
    })?;
    if serials.next().is_some() {
        return Err(Status::unauthenticated(
            "the client certificate's Subject has more than one serialNumber attribute",
        ));
    }
    let oin = attr.as_str().map_err(|_| {
        Status::unauthenticated("the client certificate's serialNumber is not a string")
    })?;
    check_oin("certificate subject serialNumber", oin).map_err(|e| {
        Status::unauthenticated(format!("the client certificate has no valid OIN: {e}"))
    })?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    Ok(CertIdentity {
        oin: oin.to_owned(),
        sha256: hex::encode(digest.as_ref()),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Turns a connection's peer certificates into a [`Caller`].
#[derive(Clone)]
pub struct Resolver {
    directory: Directory,
}

impl Resolver {
    /// A resolver over `directory`.
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }

    /// Resolves the leaf certificate of a verified TLS connection.
    pub async fn resolve(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
    ) -> Result<Caller, Status> {
        let leaf = peer_certs
            .and_then(|c| c.first())
            .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
        let id = cert_identity(leaf)?;
        let participant = self
            .directory
            .get(&id.oin)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "directory lookup failed");
                Status::unavailable("the directory is not available; try again")
            })?
            .ok_or_else(|| {
                Status::permission_denied(format!(
                    "OIN {} is not a participant of this gateway",
                    id.oin
                ))
            })?;
        if !participant.is_active() {
            return Err(Status::permission_denied(format!(
                "participant {} ({}) is suspended",
                participant.name, participant.oin
            )));
        }
        if !participant.pinned_cert_sha256.is_empty()
            && !participant.pinned_cert_sha256.contains(&id.sha256)
        {
            return Err(Status::permission_denied(format!(
                "this certificate (SHA-256 {}) is not one pinned for OIN {}",
                id.sha256, id.oin
            )));
        }
        Ok(Caller {
            participant,
            cert_sha256: id.sha256,
            cert_not_after: id.not_after,
        })
    }
}

/// Paths that need a verified certificate but no directory entry: health
/// checks and reflection, so that monitoring works with any trusted client
/// certificate.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// The tower layer that puts a [`Caller`] on every request, or answers with
/// the status that says why there is none.
#[derive(Clone)]
pub struct IdentityLayer {
    resolver: Arc<Resolver>,
}

impl IdentityLayer {
    /// A layer resolving callers with `resolver`.
    pub fn new(resolver: Resolver) -> Self {
        Self {
            resolver: Arc::new(resolver),
        }
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
            if is_public(req.uri().path()) {
                return inner.call(req).await;
            }
            let certs = req
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.peer_certs());
            match resolver.resolve(certs.as_deref().map(Vec::as_slice)).await {
                Ok(caller) => {
                    tracing::debug!(oin = %caller.oin(), path = req.uri().path(), "call");
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(status) => {
                    tracing::info!(path = req.uri().path(), code = ?status.code(), message = status.message(), "call refused");
                    Ok(status.into_http())
                }
            }
        })
    }
}
