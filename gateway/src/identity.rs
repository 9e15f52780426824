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
use crate::store::Store;

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
    store: Arc<dyn Store>,
    limiter: Arc<crate::rate_limit::RateLimiter>,
}

/// Why a call was refused, and by whom, when the caller is a known
/// participant (so that the refusal belongs in the audit log).
pub struct Refused {
    /// The status to answer.
    pub status: Status,
    /// The participant's OIN, if the certificate named a known one.
    pub known_oin: Option<String>,
}

impl From<Status> for Refused {
    fn from(status: Status) -> Self {
        Self {
            status,
            known_oin: None,
        }
    }
}

impl Resolver {
    /// A resolver over `directory`, recording refusals of known
    /// participants in `store`'s audit log.
    pub fn new(
        directory: Directory,
        store: Arc<dyn Store>,
        limiter: crate::rate_limit::RateLimiter,
    ) -> Self {
        Self {
            directory,
            store,
            limiter: Arc::new(limiter),
        }
    }

    /// Records that a known participant's call to `path` was refused.
    pub async fn record_refusal(&self, oin: &str, path: &str, message: &str) {
        let draft = crate::audit::Draft {
            actor: oin.to_owned(),
            action: Some(crate::audit::Action::AccessRefused),
            detail: format!("{path}: {message}"),
            ..crate::audit::Draft::default()
        };
        if let Err(e) = self
            .store
            .append_audit(vec![draft], crate::exchange::now_ms())
            .await
        {
            tracing::error!(error = %e, "could not record a refused call in the audit log");
        }
    }

    /// Resolves the leaf certificate of a verified TLS connection.
    pub async fn resolve(
        &self,
        peer_certs: Option<&[CertificateDer<'static>]>,
    ) -> Result<Caller, Refused> {
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
        let known = |status: Status| Refused {
            status,
            known_oin: Some(participant.oin.clone()),
        };
        if !participant.is_active() {
            return Err(known(Status::permission_denied(format!(
                "participant {} ({}) is suspended",
                participant.name, participant.oin
            ))));
        }
        if !participant.pinned_cert_sha256.is_empty()
            && !participant.pinned_cert_sha256.contains(&id.sha256)
        {
            return Err(known(Status::permission_denied(format!(
                "this certificate (SHA-256 {}) is not one pinned for OIN {}",
                id.sha256, id.oin
            ))));
        }
        self.limiter.check(&participant.oin)?;
        Ok(Caller {
            participant,
            cert_sha256: id.sha256,
            cert_not_after: id.not_after,
        })
    }
}

/// The path of Exchange.Send, whose refusals the exchange audits itself.
const SEND_PATH: &str = "/schakel.v1.Exchange/Send";

/// The message of a PERMISSION_DENIED answer, if the response is one.
fn permission_denied<B>(response: &http::Response<B>) -> Option<String> {
    let code = response.headers().get("grpc-status")?;
    if code.as_bytes() != b"7" {
        return None;
    }
    let message = response
        .headers()
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some(message)
}

/// Decodes the percent-encoding gRPC uses for `grpc-message`.
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
            let path = req.uri().path().to_owned();
            match resolver.resolve(certs.as_deref().map(Vec::as_slice)).await {
                Ok(caller) => {
                    tracing::debug!(oin = %caller.oin(), %path, "call");
                    let oin = caller.oin().to_owned();
                    req.extensions_mut().insert(caller);
                    let response = inner.call(req).await?;
                    // A refused Send is audited by the exchange with its rule.
                    if let Some(message) = permission_denied(&response)
                        && path != SEND_PATH
                    {
                        resolver.record_refusal(&oin, &path, &message).await;
                    }
                    Ok(response)
                }
                Err(refused) => {
                    let status = refused.status;
                    tracing::info!(%path, code = ?status.code(), message = status.message(), "call refused");
                    if let Some(oin) = refused.known_oin {
                        resolver.record_refusal(&oin, &path, status.message()).await;
                    }
                    Ok(status.into_http())
                }
            }
        })
    }
}
