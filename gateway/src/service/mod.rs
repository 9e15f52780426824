//! The use cases: what a caller can ask of the gateway, over the store and
//! the rules. No tonic type appears here: every answer is a record, an
//! outcome type or a [`ServiceError`], which the API layer turns into a gRPC
//! status in one place.
//!
//! | file | use case |
//! | --- | --- |
//! | [`exchange`] | send, pull, subscribe, ack, reject, status, receipts, the sweeper |
//! | [`consents`] | grant, revoke, list |
//! | [`directory`] | who takes part; the seed file; Admin's changes |
//! | [`audit_log`] | query, verify, export; checkpoints and retention |
//! | [`access_report`] | everything known about one child, signed (AVG art. 15) |
//! | [`case_standing`] | who stands in a case now: shared by the exchange and the consent registry |
//! | [`refusals`] | every refusal of a known caller, audited where it is decided |
//! | [`notify`] | wake-ups for waiting calls, withdrawal notices |
//! | [`shared_keys`] | gateways sharing a store hold the same keys |

pub mod access_report;
pub mod audit_chain;
pub mod audit_log;
pub mod case_standing;
pub mod consents;
pub mod directory;
pub mod exchange;
pub mod notify;
pub mod refusals;
pub mod shared_keys;
pub mod tree_heads;

use crate::crypto::{DecryptError, Digest, SealError};
use crate::model::{Oin, Participant};
use crate::policy::Violation;
use crate::policy::routing::RouteRefused;
use crate::store::StoreError;

/// Who is calling, as the transport proved it: the directory entry behind
/// the client certificate, and the call it makes.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its directory entry, as read at the start of this call.
    pub participant: Participant,
    /// SHA-256 of the client certificate's DER.
    pub cert_sha256: Digest,
    /// The certificate's notAfter, Unix seconds.
    pub cert_not_after: i64,
    /// The call's path, e.g. `/schakel.v1.Admin/ListParticipants`, as
    /// refusals record it.
    pub rpc: String,
}

impl Caller {
    /// The caller's OIN.
    pub fn oin(&self) -> &Oin {
        &self.participant.oin
    }
}

/// Why a use case refused or failed. Each variant is one gRPC code; the text
/// says what is wrong and, where the caller can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field breaks a rule (INVALID_ARGUMENT), or a size limit is exceeded
    /// (RESOURCE_EXHAUSTED).
    #[error(transparent)]
    Invalid(#[from] Violation),
    /// The routing policy refused (PERMISSION_DENIED).
    #[error(transparent)]
    Route(#[from] RouteRefused),
    /// The caller may not do this (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// Nothing by that id that the caller may see (NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (ALREADY_EXISTS).
    #[error("{0}")]
    AlreadyExists(String),
    /// A limit is reached (RESOURCE_EXHAUSTED).
    #[error("{0}")]
    Exhausted(String),
    /// The state does not allow it, e.g. a consent that does not cover the
    /// message (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The gateway failed (INTERNAL; the details go to the log only).
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A failure inside the gateway, not the caller's doing.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A payload did not decrypt.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// A payload could not be encrypted.
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl From<DecryptError> for ServiceError {
    fn from(e: DecryptError) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl From<SealError> for ServiceError {
    fn from(e: SealError) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl ServiceError {
    /// Whether this is a refusal of the request (the caller's doing), as
    /// opposed to a failure of the gateway.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, ServiceError::Internal(_))
    }

    /// The refusal as the audit chain keeps it: its kind and the field or
    /// rule it names, never text the caller chose (a message may quote the
    /// value it refuses; the chain cannot be erased). The answers of the
    /// routing policy and of the checks of a legal basis are the gateway's
    /// own words, about ids it has checked, and are kept whole.
    pub fn audit_code(&self) -> String {
        let named = |kind: &str, m: &str| match m.split_once(':') {
            Some((what, _))
                if !what.is_empty()
                    && what.len() <= 64
                    && what
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._[]".contains(c)) =>
            {
                format!("{kind}: {what}")
            }
            _ => kind.to_owned(),
        };
        match self {
            // A field's path is the gateway's own.
            ServiceError::Invalid(Violation::Field { field, .. }) => {
                format!("invalid_argument: {field}")
            }
            ServiceError::Invalid(Violation::Limit(_)) => "resource_exhausted: a size limit".into(),
            ServiceError::Route(r) => r.to_string(),
            ServiceError::PermissionDenied(m) => named("permission_denied", m),
            ServiceError::NotFound(m) => named("not_found", m),
            ServiceError::AlreadyExists(m) => named("already_exists", m),
            ServiceError::Exhausted(m) => named("resource_exhausted", m),
            ServiceError::FailedPrecondition(m) => m.clone(),
            ServiceError::Internal(_) => "internal".into(),
        }
    }
}
