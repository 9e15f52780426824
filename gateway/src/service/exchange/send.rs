//! A Send: the sender is the caller, the request must pass every rule, the
//! recipient must be active, the route allowed and the legal basis valid;
//! then the message is sealed and accepted in one durable step. A refusal is
//! recorded in the audit log with its rule, and changes nothing else.

use schakel_proto::v1 as pb;

use super::basis::Basis;
use super::cases::Thread;
use super::{Exchange, Sent};
use crate::metrics::METRICS;
use crate::model::{
    Action, Draft, LegalBasis, MessageHead, MessageId, MessageRecord, Oin, Participant,
    SignalChange, SignalRef, State, Statute,
};
use crate::policy::notices;
use crate::policy::quota::Quotas;
use crate::policy::send::ValidSend;
use crate::policy::signals::SignalRefused;
use crate::service::{Caller, ServiceError};
use crate::store::{AcceptOutcome, NewMessage};

impl Exchange {
    /// Sends a message from the caller.
    pub async fn send(
        &self,
        caller: &Caller,
        request: pb::SendRequest,
    ) -> Result<Sent, ServiceError> {
        let recipient = Oin::parse(&request.recipient_oin).ok();
        let result = self.try_send(&caller.participant, request).await;
        if let Err(e) = &result
            && e.is_refusal()
        {
            METRICS.message("unknown", "refused");
            self.refusals
                .record_send(caller, recipient, e.audit_code())
                .await?;
        }
        result
    }

    async fn try_send(
        &self,
        sender: &Participant,
        mut request: pb::SendRequest,
    ) -> Result<Sent, ServiceError> {
        if !request.sender_oin.is_empty() && request.sender_oin != sender.oin.as_str() {
            return Err(ServiceError::PermissionDenied(format!(
                "sender_oin: names {}, but the client certificate is that of {}; a participant sends only as itself",
                request.sender_oin, sender.oin
            )));
        }
        request.sender_oin.clear();
        let now = self.clock.now_ms();
        let today = self.clock.today();
        let valid =
            crate::policy::send::check(request, &self.limits, self.expiry_rule(), today, now)?;
        let recipient = self
            .directory
            .get(valid.recipient())
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "recipient_oin: no participant {} in the directory",
                    valid.recipient()
                ))
            })?;
        if !recipient.is_active() {
            return Err(ServiceError::FailedPrecondition(format!(
                "recipient_oin: participant {} is suspended and cannot receive messages",
                recipient.oin
            )));
        }
        // The message it answers or the signal it is about.
        let referred = match valid
            .in_reply_to()
            .or(valid.signal_ref().map(SignalRef::signal))
        {
            Some(id) => self.store.message(id).await?,
            None => None,
        };
        self.routing
            .check(valid.kind(), sender, &recipient, referred.as_ref())?;
        let child_ref = valid.bsn().map(|b| self.keys.child.child_ref(b));
        let request = referred.as_ref();
        // The case first: one that names a case it stands not in learns
        // nothing of it, neither from its basis.
        let mut thread = self
            .thread((&sender.oin, &recipient.oin), &valid, request, child_ref)
            .await?;
        let basis = self
            .check_basis(
                (sender, &recipient),
                &valid,
                child_ref.as_ref(),
                request,
                now,
            )
            .await?;
        if let Some(plan) = thread.new_plan.take() {
            self.record_plan(plan).await?;
        }
        self.store_message(sender, &recipient, valid, basis, thread, now)
            .await
    }

    /// Tells the index's inbox streams of a signal withdrawn now that it
    /// had been handed (it may hold it leased).
    async fn announce_if_withdrawn(
        &self,
        signal: &MessageId,
        now: i64,
    ) -> Result<(), ServiceError> {
        if let Some(r) = self.store.message(signal).await?
            && r.state == State::Withdrawn
            && r.attempts > 0
            && r.final_at_ms == Some(now)
        {
            self.notifier.announce_withdrawal(&r);
        }
        Ok(())
    }

    /// Seals and accepts a message that passed every check.
    async fn store_message(
        &self,
        sender: &Participant,
        recipient: &Participant,
        valid: ValidSend,
        basis: Basis,
        thread: Thread,
        now: i64,
    ) -> Result<Sent, ServiceError> {
        let id = MessageId::new_v7();
        let mut record = MessageRecord::new(MessageHead {
            id: id.clone(),
            sender: sender.oin.clone(),
            recipient: recipient.oin.clone(),
            client_reference: valid.client_reference().to_owned(),
            kind: valid.kind(),
            case_id: thread.case_id,
            case_reference: valid.case_reference().to_owned(),
            in_reply_to: valid.in_reply_to().cloned(),
            legal_basis: basis.legal_basis,
            terms: basis.terms,
            child_ref: thread.child_ref,
            created_at_ms: now,
            expires_at_ms: valid.expires_at_ms(),
            overdue_at_ms: notices::overdue_at_ms(now),
            lapses_at_ms: valid.lapses_at_ms(),
            payload_digest: valid.payload_digest(),
            request_digest: valid.request_digest(),
            payload_bytes: valid.payload_len() as u64,
        });
        if record.legal_basis == LegalBasis::Statute(Statute::Verwijsindex) {
            record.signal = valid.signal_facts();
        }
        record.plan_version = thread.plan_version;
        let condition = match thread.plan_version {
            Some(v) => format!("{}; version {v} of the plan", basis.condition),
            None => basis.condition,
        };
        let client_reference = record.client_reference.clone();
        let case_id = record.case_id.clone();
        let kind = record.kind.as_str();
        let draft =
            Draft::about(sender.oin.clone(), Action::SendAccepted, &record).detail(condition);
        self.reserve
            .admit(&self.store, record.payload_bytes)
            .await?;
        let about = valid.signal_ref().cloned();
        let sealed_payload = self.keys.payload.seal(id.as_str(), valid.into_payload())?;
        let outcome = self
            .store
            .accept(
                NewMessage {
                    record,
                    sealed_payload,
                    about: about.clone(),
                },
                draft,
                Quotas {
                    inbox_messages: self.limits.max_inbox_messages,
                    inbox_bytes: self.limits.max_undelivered_bytes_per_inbox,
                    sender_bytes: self.limits.max_undelivered_bytes_per_sender,
                },
                now,
            )
            .await?;
        match outcome {
            AcceptOutcome::Accepted(receipt) => {
                METRICS.message(kind, "accepted");
                self.notifier.wake_inbox(&recipient.oin);
                self.notifier.wake_receipts();
                if let Some(SignalRef::Change {
                    signal,
                    change: SignalChange::Withdraw,
                }) = &about
                {
                    self.announce_if_withdrawn(signal, now).await?;
                }
                Ok(Sent {
                    message_id: id,
                    receipt,
                    duplicate: false,
                    case_id,
                })
            }
            AcceptOutcome::Duplicate { record, receipt } => {
                METRICS.message(kind, "duplicate");
                Ok(Sent {
                    message_id: record.id,
                    receipt,
                    duplicate: true,
                    case_id: record.case_id,
                })
            }
            AcceptOutcome::Conflict { message_id } => Err(ServiceError::AlreadyExists(format!(
                "client_reference: {client_reference:?} was used before for message {message_id} with other content"
            ))),
            AcceptOutcome::SignalRefused(SignalRefused::Unknown(m)) => {
                Err(ServiceError::NotFound(m))
            }
            AcceptOutcome::SignalRefused(SignalRefused::State(m)) => {
                Err(ServiceError::FailedPrecondition(m))
            }
            AcceptOutcome::OverQuota(exceeded) => {
                METRICS.message(kind, "over_quota");
                Err(ServiceError::Exhausted(format!(
                    "to {}: {exceeded}",
                    recipient.oin
                )))
            }
        }
    }
}
