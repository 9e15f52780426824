//! The transport: mutual TLS (the server configuration and the accept
//! loop), who a connection's certificate says the caller is, and the limits
//! per caller. It knows rustls, not tonic: the API layer turns its answers
//! into gRPC statuses.

pub mod access;
pub mod connections;
pub mod fd_limit;
pub mod handshakes;
pub mod identity;
pub mod in_flight;
pub mod pem;
pub mod rate_limit;
pub mod revocation;
pub mod server_cert;
pub mod tls;
pub mod watched;

/// Why a call is refused before it reaches a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No usable identity: no certificate, or no valid OIN in it.
    #[error("{0}")]
    Unauthenticated(String),
    /// A known or unknown OIN that may not call now.
    #[error("{0}")]
    PermissionDenied(String),
    /// A certificate that is not one pinned for its OIN: PERMISSION_DENIED,
    /// and its connection is ended.
    #[error("{0}")]
    NotPinned(String),
    /// Over the rate limit.
    #[error("{0}")]
    Exhausted(String),
    /// The directory could not be read.
    #[error("{0}")]
    Unavailable(String),
}

impl AccessError {
    /// Whether the refusal is about the connection's certificate itself
    /// (none, no OIN, expired, revoked, not pinned): every further call on
    /// the connection would be refused the same way, so the connection is
    /// ended rather than answered call after call.
    pub fn ends_connection(&self) -> bool {
        matches!(
            self,
            AccessError::Unauthenticated(_) | AccessError::NotPinned(_)
        )
    }
}
