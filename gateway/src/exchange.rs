//! The exchange: send, pull, acknowledge, reject, and the sender's view of
//! its messages and receipts.
//!
//! This is where the concerns meet: validation (content rules), the
//! directory, routing (who may send what to whom), the crypto (child
//! reference, payload encryption, receipt signatures) and the store (one
//! durable step per decision). The tonic service in `api/exchange.rs` only
//! translates.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use schakel_proto::v1 as pb;

use crate::audit::{self, Action};
use crate::config::{ExchangeConfig, LimitsConfig};
use crate::consent::StatutePolicy;
use crate::crypto::{ChildKey, PayloadKey, sha256};
use crate::directory::{Directory, DirectoryError, Participant};
use crate::message::LegalBasis;
use crate::message::{MessageRecord, State};
use crate::notify::{Notifier, WithdrawalNotice};
use crate::routing::{Policy, RouteRefused};
use crate::store::{AcceptOutcome, Finished, Leased, NewMessage, Outcome, Store, StoreError};
use crate::validation::{self, ExpiryRule, Refusal};

/// How often waiting calls look at the store even without a wake-up, so that
/// messages accepted by another gateway instance (sharing a database) are
/// seen too.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why an exchange call was refused. Each variant maps to one gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// A field breaks a content rule, or a size limit (see [`Refusal`]).
    #[error(transparent)]
    Invalid(#[from] Refusal),
    /// The routing policy refused.
    #[error(transparent)]
    Route(#[from] RouteRefused),
    /// The caller may not do this (e.g. a forged sender).
    #[error("{0}")]
    PermissionDenied(String),
    /// Nothing by that id that the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The client reference was used for another request.
    #[error("{0}")]
    AlreadyExists(String),
    /// A limit is reached.
    #[error("{0}")]
    Exhausted(String),
    /// The state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// A payload did not decrypt.
    #[error(transparent)]
    Decrypt(#[from] crate::crypto::DecryptError),
}

/// The answer to a send.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The message id.
    pub message_id: String,
    /// The signed ACCEPTED receipt.
    pub receipt: pb::Receipt,
    /// True when this repeated an earlier identical send.
    pub duplicate: bool,
}

/// A leased message, decrypted, ready to hand to the recipient.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The stored metadata.
    pub record: MessageRecord,
    /// The payload.
    pub payload: pb::Payload,
}

/// What an Ack or Reject achieved.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The message's final state.
    pub state: State,
    /// The sender's receipt for it.
    pub receipt: pb::Receipt,
    /// A human explanation.
    pub detail: String,
}

/// Everything the exchange needs, built once at start.
pub struct Exchange {
    store: Arc<dyn Store>,
    directory: Directory,
    policy: Policy,
    payload_key: Arc<PayloadKey>,
    child_key: Arc<ChildKey>,
    statutes: StatutePolicy,
    limits: LimitsConfig,
    config: ExchangeConfig,
    notifier: Arc<Notifier>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Exchange {
    /// Assembles the exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        directory: Directory,
        policy: Policy,
        payload_key: Arc<PayloadKey>,
        child_key: Arc<ChildKey>,
        statutes: StatutePolicy,
        limits: LimitsConfig,
        config: ExchangeConfig,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            store,
            directory,
            policy,
            payload_key,
            child_key,
            statutes,
            limits,
            config,
            notifier,
        }
    }

    /// The wake-up hub.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    fn expiry_rule(&self) -> ExpiryRule {
        ExpiryRule {
            default: time::Duration::days(i64::from(self.config.default_expiry_days)),
            max: time::Duration::days(i64::from(self.config.max_expiry_days)),
        }
    }

    fn retention_ms(&self) -> i64 {
        (self.config.retention_secs as i64).saturating_mul(1000)
    }

    /// Sends a message from `sender`. A refusal for a rule is recorded in the
    /// audit log with the rule, and changes nothing else.
    pub async fn send(
        &self,
        sender: &Participant,
        request: pb::SendRequest,
    ) -> Result<Sent, ExchangeError> {
        let recipient = request.recipient_oin.clone();
        match self.try_send(sender, request).await {
            Err(
                e @ (ExchangeError::Store(_)
                | ExchangeError::Directory(_)
                | ExchangeError::Decrypt(_)),
            ) => Err(e),
            Err(e) => {
                let draft = audit::Draft {
                    actor: sender.oin.clone(),
                    action: Some(Action::SendRefused),
                    counterpart: recipient,
                    detail: e.to_string(),
                    ..audit::Draft::default()
                };
                self.store.append_audit(vec![draft], now_ms()).await?;
                Err(e)
            }
            ok => ok,
        }
    }

    async fn try_send(
        &self,
        sender: &Participant,
        mut request: pb::SendRequest,
    ) -> Result<Sent, ExchangeError> {
        if !request.sender_oin.is_empty() && request.sender_oin != sender.oin {
            return Err(ExchangeError::PermissionDenied(format!(
                "sender_oin: names {}, but the client certificate is that of {}; a participant sends only as itself",
                request.sender_oin, sender.oin
            )));
        }
        request.sender_oin.clear();
        let now = now_ms();
        let checked = validation::check_send(&request, &self.limits, self.expiry_rule(), now)?;
        let recipient = self
            .directory
            .get(&request.recipient_oin)
            .await?
            .ok_or_else(|| {
                ExchangeError::NotFound(format!(
                    "recipient_oin: no participant {} in the directory",
                    request.recipient_oin
                ))
            })?;
        if !recipient.is_active() {
            return Err(ExchangeError::FailedPrecondition(format!(
                "recipient_oin: participant {} is suspended and cannot receive messages",
                recipient.oin
            )));
        }
        let request_for_reply = if request.in_reply_to.is_empty() {
            None
        } else {
            self.store.message(&request.in_reply_to).await?
        };
        self.policy
            .check(checked.kind, sender, &recipient, request_for_reply.as_ref())?;
        let child_ref = checked.bsn.as_deref().map(|b| self.child_key.child_ref(b));
        let legal_basis = self
            .check_basis(
                sender,
                &recipient,
                &checked,
                child_ref.as_deref(),
                request_for_reply.as_ref(),
                now,
            )
            .await?;
        let id = uuid::Uuid::now_v7().to_string();
        // What tells a retry from a conflicting reuse of the reference: the
        // request without its payload, and the payload's digest (which
        // covers attachments through their checked digests, so a large
        // payload is hashed once and never re-encoded). The decoded payload
        // is dropped here: `checked.payload` holds its encoding, and a
        // dossier should not sit in memory twice while it is stored.
        let payload_digest = schakel_proto::payload::digest(
            request
                .payload
                .as_ref()
                .expect("validation requires a payload"),
        );
        let request_digest = {
            drop(request.payload.take());
            let mut head = request.encode_to_vec();
            head.extend_from_slice(&payload_digest);
            sha256(&head)
        };
        let record = MessageRecord {
            id: id.clone(),
            sender: sender.oin.clone(),
            recipient: recipient.oin.clone(),
            client_reference: request.client_reference.clone(),
            kind: checked.kind,
            case_id: request.case_id.clone(),
            in_reply_to: request.in_reply_to.clone(),
            legal_basis: legal_basis.clone(),
            child_ref: child_ref.clone(),
            created_at_ms: now,
            expires_at_ms: checked.expires_at_ms,
            payload_digest: hex::encode(payload_digest),
            request_digest: hex::encode(request_digest),
            payload_bytes: checked.payload.len() as u64,
            state: State::Ready,
            attempts: 0,
            lease_until_ms: None,
            queue_seq: 0,
            final_at_ms: None,
            payload_purged: false,
            final_detail: String::new(),
            receipt_cursors: Vec::new(),
        };
        let sealed_payload = self.payload_key.seal(&id, checked.payload);
        let draft = audit::Draft {
            actor: sender.oin.clone(),
            action: Some(Action::SendAccepted),
            message_id: id.clone(),
            counterpart: recipient.oin.clone(),
            kind: Some(checked.kind),
            child_ref,
            detail: match &legal_basis {
                LegalBasis::Statute(s) => {
                    format!("on statutory basis {}, without consent", s.as_str())
                }
                LegalBasis::Consent(_) => String::new(),
            },
            legal_basis: Some(legal_basis),
        };
        let outcome = self
            .store
            .accept(
                NewMessage {
                    record,
                    sealed_payload,
                },
                draft,
                self.limits.max_inbox_messages,
                now,
            )
            .await?;
        match outcome {
            AcceptOutcome::Accepted(receipt) => {
                self.notifier.wake_inbox(&recipient.oin);
                self.notifier.wake_receipts();
                Ok(Sent {
                    message_id: id,
                    receipt,
                    duplicate: false,
                })
            }
            AcceptOutcome::Duplicate { record, receipt } => Ok(Sent {
                message_id: record.id,
                receipt,
                duplicate: true,
            }),
            AcceptOutcome::Conflict { message_id } => Err(ExchangeError::AlreadyExists(format!(
                "client_reference: {:?} was used before for message {message_id} with other content",
                request.client_reference
            ))),
            AcceptOutcome::InboxFull { limit } => Err(ExchangeError::Exhausted(format!(
                "the inbox of {} holds {limit} undelivered messages, its limit; try again later",
                recipient.oin
            ))),
        }
    }

    /// The legal basis a message travels under, checked: a consent must be
    /// active and cover the message; a statutory basis must be allowed for
    /// its kind. A reply travels under the basis of the request it answers.
    async fn check_basis(
        &self,
        sender: &Participant,
        recipient: &Participant,
        checked: &validation::Checked,
        child_ref: Option<&str>,
        request: Option<&MessageRecord>,
        now: i64,
    ) -> Result<LegalBasis, ExchangeError> {
        let refused = |m: String| ExchangeError::FailedPrecondition(m);
        if let Some(request) =
            request.filter(|_| checked.kind == crate::message::Kind::Consultatieantwoord)
        {
            if checked
                .legal_basis
                .as_ref()
                .is_some_and(|b| *b != request.legal_basis)
            {
                return Err(Refusal::Invalid {
                    field: "legal_basis".into(),
                    rule: format!(
                        "a consultatieantwoord travels under the basis of the request it answers ({}); leave it empty",
                        request.legal_basis
                    ),
                }
                .into());
            }
            if let LegalBasis::Consent(id) = &request.legal_basis {
                let consent = self.store.consent(id).await?;
                if let Some(problem) = consent.as_ref().and_then(|c| c.unusable(now)) {
                    return Err(refused(format!("legal_basis: the request's {problem}")));
                }
            }
            return Ok(request.legal_basis.clone());
        }
        let basis = checked
            .legal_basis
            .clone()
            .expect("validation requires a basis for non-replies");
        match &basis {
            LegalBasis::Consent(id) => {
                let consent = self.store.consent(id).await?.ok_or_else(|| {
                    refused(format!(
                        "legal_basis.consent_id: no consent {id} is registered"
                    ))
                })?;
                consent
                    .covers(&sender.oin, recipient, checked.kind, child_ref, now)
                    .map_err(|m| refused(format!("legal_basis.consent_id: {m}")))?;
            }
            LegalBasis::Statute(statute) => {
                self.statutes
                    .allows(*statute, checked.kind, sender, checked.dossier_from_po)
                    .map_err(refused)?;
            }
        }
        Ok(basis)
    }

    /// Announces withdrawn messages: wakes receipt streams, and tells the
    /// recipients that held them on a lease to delete their copies.
    pub fn announce_withdrawals(&self, withdrawn: &[crate::store::Withdrawn]) {
        if withdrawn.is_empty() {
            return;
        }
        self.notifier.wake_receipts();
        for w in withdrawn.iter().filter(|w| w.was_leased) {
            self.notifier.withdrawn(
                &w.record.recipient,
                WithdrawalNotice {
                    message_id: w.record.id.clone(),
                    reason: w.record.final_detail.clone(),
                    time_ms: w.record.final_at_ms.unwrap_or_default(),
                },
            );
        }
    }

    /// The lease length to use for a requested one (0: default).
    pub fn lease_ms(&self, requested: Option<Duration>) -> Result<i64, ExchangeError> {
        let requested = requested.filter(|d| !d.is_zero());
        let secs = match requested {
            None => return Ok(self.config.default_lease_secs as i64 * 1000),
            Some(d) => d,
        };
        if secs > Duration::from_secs(self.config.max_lease_secs) || secs < Duration::from_secs(1) {
            return Err(Refusal::Invalid {
                field: "lease".into(),
                rule: format!("must be 1 to {} seconds", self.config.max_lease_secs),
            }
            .into());
        }
        Ok(secs.as_millis() as i64)
    }

    fn open(&self, leased: Leased) -> Result<Delivery, ExchangeError> {
        let plain = self
            .payload_key
            .open(&leased.record.id, &leased.sealed_payload)?;
        let payload = pb::Payload::decode(plain.as_slice()).map_err(|e| StoreError::Corrupt {
            key: leased.record.id.clone(),
            message: e.to_string(),
        })?;
        Ok(Delivery {
            record: leased.record,
            payload,
        })
    }

    /// Leases up to `max` messages of `recipient`'s inbox now.
    pub async fn lease_now(
        &self,
        recipient: &str,
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, ExchangeError> {
        let leased = self.store.lease(recipient, max, now_ms(), lease_ms).await?;
        leased.into_iter().map(|l| self.open(l)).collect()
    }

    /// Leases up to `max` messages of `recipient`'s inbox, waiting up to
    /// `wait` for the first one when the inbox is empty.
    pub async fn pull(
        &self,
        recipient: &str,
        max: usize,
        wait: Duration,
        lease_ms: i64,
    ) -> Result<Vec<Delivery>, ExchangeError> {
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.notifier.inbox(recipient);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.lease_now(recipient, max, lease_ms).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let _ = tokio::time::timeout((deadline - now).min(POLL_INTERVAL), notified).await;
        }
    }

    /// Waits until `recipient`'s inbox may have something new, or the poll
    /// interval passes.
    pub async fn wait_for_inbox(&self, recipient: &str) {
        let notify = self.notifier.inbox(recipient);
        let _ = tokio::time::timeout(POLL_INTERVAL, notify.notified()).await;
    }

    /// Leased, unfinished messages that `recipient` holds now.
    pub async fn leased_count(&self, recipient: &str) -> Result<u64, ExchangeError> {
        Ok(self.store.inbox_counts(recipient).await?.1)
    }

    async fn finish(
        &self,
        recipient: &str,
        message_id: &str,
        outcome: Outcome,
    ) -> Result<Ended, ExchangeError> {
        validation::check_uuid("message_id", message_id)?;
        let finished = self
            .store
            .finish(
                recipient,
                message_id,
                outcome,
                now_ms(),
                self.retention_ms(),
            )
            .await?;
        self.notifier.wake_receipts();
        self.notifier.wake_inbox(recipient);
        match finished {
            Finished::NotFound => Err(ExchangeError::NotFound(format!(
                "message_id: no message {message_id} was delivered to you"
            ))),
            Finished::Done { record, receipt } => Ok(Ended {
                state: record.state,
                receipt,
                detail: record.final_detail,
            }),
            Finished::AlreadyFinal { record, receipt } => match (record.state, receipt) {
                (State::Withdrawn, Some(receipt)) => Ok(Ended {
                    state: State::Withdrawn,
                    receipt,
                    detail: record.final_detail,
                }),
                (state, _) => Err(ExchangeError::FailedPrecondition(format!(
                    "message_id: message {message_id} is already {state:?}, it cannot change any more"
                ))),
            },
        }
    }

    /// Acknowledges a leased message.
    pub async fn ack(&self, recipient: &str, message_id: &str) -> Result<Ended, ExchangeError> {
        self.finish(recipient, message_id, Outcome::Delivered).await
    }

    /// Rejects a leased message with a reason code.
    pub async fn reject(
        &self,
        recipient: &str,
        message_id: &str,
        reason: pb::RejectReason,
        detail: &str,
    ) -> Result<Ended, ExchangeError> {
        if reason == pb::RejectReason::Unspecified {
            return Err(Refusal::Invalid {
                field: "reason".into(),
                rule: "is required: technical, not_assessed, wrong_recipient, duplicate or invalid_content".into(),
            }
            .into());
        }
        if detail.chars().count() > 256 || detail.chars().any(char::is_control) {
            return Err(Refusal::Invalid {
                field: "detail".into(),
                rule: "must be one line of at most 256 characters".into(),
            }
            .into());
        }
        let reason = reason
            .as_str_name()
            .trim_start_matches("REJECT_REASON_")
            .to_owned();
        self.finish(
            recipient,
            message_id,
            Outcome::Rejected {
                reason,
                detail: detail.to_owned(),
            },
        )
        .await
    }

    /// A message the caller sent, with its receipts.
    pub async fn status(
        &self,
        sender: &str,
        message_id: &str,
    ) -> Result<(MessageRecord, Vec<pb::Receipt>), ExchangeError> {
        validation::check_uuid("message_id", message_id)?;
        let not_found =
            || ExchangeError::NotFound(format!("message_id: you sent no message {message_id}"));
        let record = self
            .store
            .message(message_id)
            .await?
            .ok_or_else(not_found)?;
        if record.sender != sender {
            return Err(not_found());
        }
        let receipts = self.store.message_receipts(message_id).await?;
        Ok((record, receipts))
    }

    /// Up to `limit` of the caller's receipts after `cursor`.
    pub async fn receipts_after(
        &self,
        sender: &str,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, ExchangeError> {
        Ok(self.store.receipts_after(sender, cursor, limit).await?)
    }

    /// Waits until new receipts may exist, or the poll interval passes.
    pub async fn wait_for_receipts(&self) {
        let _ = tokio::time::timeout(POLL_INTERVAL, self.notifier.receipts().notified()).await;
    }

    /// One sweep: expired leases back to their inboxes, expired messages
    /// finished, payloads past retention destroyed.
    pub async fn sweep(&self) -> Result<crate::store::SweepReport, ExchangeError> {
        let report = self.store.sweep(now_ms(), self.retention_ms()).await?;
        for r in &report.woken_recipients {
            self.notifier.wake_inbox(r);
        }
        if report.expired > 0 {
            self.notifier.wake_receipts();
        }
        self.announce_withdrawals(&report.withdrawn);
        if report.requeued + report.expired + report.purged + report.withdrawn.len() > 0 {
            tracing::debug!(?report, "sweep");
        }
        Ok(report)
    }
}
