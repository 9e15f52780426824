//! Refusals of known callers, decided and audited in one place.
//!
//! Every use case that refuses a participant for a reason other than bad
//! input (a rule of Send, a permission) records it here, at the point where
//! it decides, and gets back the error to answer. The transport does the
//! same for the refusals it decides (a suspended participant, a certificate
//! that is not pinned). Nothing re-reads statuses afterwards.
//!
//! Each refusal carries a [`Cause`]: the key under which refusals of one
//! caller can be counted together. Today each refusal is one audit entry;
//! counting a caller's refusals per cause and writing one entry per interval
//! changes this file only.

use std::sync::Arc;

use super::{Caller, ServiceError};
use crate::clock::Clock;
use crate::model::{Action, Draft, Oin};
use crate::store::Store;

/// Why a known caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A Send broke a rule: content, routing, legal basis, a limit.
    SendRule,
    /// An operators-only service was called by someone else.
    NotOperator,
    /// The operator tried to register a consent.
    OperatorConsent,
    /// A consent was revoked by an organisation other than its registrant.
    NotRegistrant,
    /// The participant is suspended.
    Suspended,
    /// The certificate is not one pinned for the OIN.
    NotPinned,
}

impl Cause {
    /// What the audit entry records the refusal as.
    fn action(self) -> Action {
        match self {
            Cause::SendRule => Action::SendRefused,
            _ => Action::AccessRefused,
        }
    }
}

/// The refusal recorder.
#[derive(Clone)]
pub struct Refusals {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl Refusals {
    /// A recorder writing into `store`'s audit log, at `clock`'s time.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Records that `actor` was refused for `cause`, with `detail` (for an
    /// access refusal: the call's path and the message), about `counterpart`
    /// if the refusal concerns another organisation. A failure to record is
    /// returned: a refusal that cannot be audited is a failure of the gateway.
    pub async fn record(
        &self,
        actor: &Oin,
        cause: Cause,
        counterpart: Option<Oin>,
        detail: String,
    ) -> Result<(), ServiceError> {
        tracing::info!(oin = %actor, ?cause, %detail, "refused");
        let mut draft = Draft::new(actor.clone(), cause.action()).detail(detail);
        draft.counterpart = counterpart;
        self.store
            .append_audit(vec![draft], self.clock.now_ms())
            .await?;
        Ok(())
    }

    /// Refuses `caller`'s call for `cause` with PERMISSION_DENIED and
    /// `message`, and records it with the call's path.
    pub async fn deny(&self, caller: &Caller, cause: Cause, message: String) -> ServiceError {
        self.record_denial(caller.oin(), cause, &caller.rpc, &message)
            .await;
        ServiceError::PermissionDenied(message)
    }

    /// Records that the call `rpc` of `actor` is refused for `cause` with
    /// `message`. A failure to record is logged, not returned: the refusal
    /// is answered all the same, because a caller who may not do something
    /// must not get in because the log is unavailable. (The transport calls
    /// this for the refusals it decides, before a service runs.)
    pub async fn record_denial(&self, actor: &Oin, cause: Cause, rpc: &str, message: &str) {
        let detail = format!("{rpc}: {message}");
        if let Err(e) = self.record(actor, cause, None, detail).await {
            tracing::error!(error = %e, "could not record a refused call in the audit log");
        }
    }

    /// Refuses every caller that is not an operator, naming the service.
    pub async fn require_operator(
        &self,
        caller: &Caller,
        service: &str,
    ) -> Result<(), ServiceError> {
        let p = &caller.participant;
        if p.is_operator() {
            return Ok(());
        }
        let message = format!(
            "the {service} service is for operators only; {} ({}) is a {}",
            p.name, p.oin, p.kind
        );
        Err(self.deny(caller, Cause::NotOperator, message).await)
    }
}
