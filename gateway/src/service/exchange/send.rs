//! A Send: the sender is the caller, the request must pass every rule, the
//! recipient must be active, the route allowed and the legal basis valid;
//! then the message is sealed and accepted in one durable step. A refusal is
//! recorded in the audit log with its rule, and changes nothing else.

use schakel_proto::v1 as pb;

use super::{Exchange, Sent};
use crate::crypto::ChildRef;
use crate::model::{
    Action, Draft, Kind, LegalBasis, MessageHead, MessageId, MessageRecord, Oin, Participant,
};
use crate::policy::send::{SendBasis, ValidSend};
use crate::policy::{consent, invalid};
use crate::service::refusals::Cause;
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
            self.refusals
                .record(caller.oin(), Cause::SendRule, recipient, e.to_string())
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
        let request_for_reply = match valid.in_reply_to() {
            Some(id) => self.store.message(id).await?,
            None => None,
        };
        self.routing
            .check(valid.kind(), sender, &recipient, request_for_reply.as_ref())?;
        let child_ref = valid.bsn().map(|b| self.keys.child.child_ref(b));
        let (legal_basis, condition) = self
            .check_basis(
                sender,
                &recipient,
                &valid,
                child_ref.as_ref(),
                request_for_reply.as_ref(),
                now,
            )
            .await?;
        self.store_message(
            sender,
            &recipient,
            valid,
            (legal_basis, condition),
            child_ref,
            now,
        )
        .await
    }

    /// Seals and accepts a message that passed every check.
    async fn store_message(
        &self,
        sender: &Participant,
        recipient: &Participant,
        valid: ValidSend,
        (legal_basis, condition): (LegalBasis, String),
        child_ref: Option<ChildRef>,
        now: i64,
    ) -> Result<Sent, ServiceError> {
        let id = MessageId::new_v7();
        let record = MessageRecord::new(MessageHead {
            id: id.clone(),
            sender: sender.oin.clone(),
            recipient: recipient.oin.clone(),
            client_reference: valid.client_reference().to_owned(),
            kind: valid.kind(),
            case_id: valid.case_id().to_owned(),
            in_reply_to: valid.in_reply_to().cloned(),
            legal_basis: legal_basis.clone(),
            child_ref,
            created_at_ms: now,
            expires_at_ms: valid.expires_at_ms(),
            payload_digest: valid.payload_digest(),
            request_digest: valid.request_digest(),
            payload_bytes: valid.payload_len() as u64,
        });
        let client_reference = record.client_reference.clone();
        let draft =
            Draft::about(sender.oin.clone(), Action::SendAccepted, &record).detail(condition);
        let sealed_payload = self.keys.payload.seal(id.as_str(), valid.into_payload())?;
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
            AcceptOutcome::Conflict { message_id } => Err(ServiceError::AlreadyExists(format!(
                "client_reference: {client_reference:?} was used before for message {message_id} with other content"
            ))),
            AcceptOutcome::InboxFull { limit } => Err(ServiceError::Exhausted(format!(
                "the inbox of {} holds {limit} undelivered messages, its limit; try again later",
                recipient.oin
            ))),
        }
    }

    /// The legal basis a message travels under, checked, with what the audit
    /// trail records of the condition it met: a consent must be active and
    /// cover the message; a statute must cover sender, recipient and kind and
    /// its condition must hold; a message without personal data must hold
    /// none. A reply travels under the basis of the request it answers.
    async fn check_basis(
        &self,
        sender: &Participant,
        recipient: &Participant,
        valid: &ValidSend,
        child_ref: Option<&ChildRef>,
        request: Option<&MessageRecord>,
        now: i64,
    ) -> Result<(LegalBasis, String), ServiceError> {
        let refused = ServiceError::FailedPrecondition;
        let named = match valid.basis() {
            SendBasis::Named(basis) => basis,
            SendBasis::OfRequest(named) => {
                // Routing let the reply through only with the request it
                // answers (and only a consultatieverzoek has replies).
                let Some(request) = request.filter(|r| r.kind == Kind::Consultatieverzoek) else {
                    return Err(ServiceError::PermissionDenied(
                        "in_reply_to: a consultatieantwoord answers a consultatieverzoek".into(),
                    ));
                };
                if named.as_ref().is_some_and(|b| *b != request.legal_basis) {
                    return Err(invalid(
                        "legal_basis",
                        format!(
                            "a consultatieantwoord travels under the basis of the request it answers ({}); leave it empty",
                            request.legal_basis
                        ),
                    )
                    .into());
                }
                if let LegalBasis::Consent(id) = &request.legal_basis
                    && let Some(problem) = self
                        .store
                        .consent(id)
                        .await?
                        .as_ref()
                        .and_then(|c| consent::unusable(c, now))
                {
                    return Err(refused(format!("legal_basis: the request's {problem}")));
                }
                let condition = format!(
                    "a reply, on the basis of its request ({})",
                    request.legal_basis
                );
                return Ok((request.legal_basis.clone(), condition));
            }
        };
        let condition = match named {
            LegalBasis::Consent(id) => {
                let c = self.store.consent(id).await?.ok_or_else(|| {
                    refused(format!(
                        "legal_basis.consent_id: no consent {id} is registered"
                    ))
                })?;
                consent::covers(&c, &sender.oin, recipient, valid.kind(), child_ref, now)
                    .map_err(|m| refused(format!("legal_basis.consent_id: {m}")))?;
                String::new()
            }
            LegalBasis::Statute(statute) => {
                let met = self
                    .statutes
                    .allows(*statute, valid.kind(), sender, recipient, valid.facts())
                    .map_err(|e| refused(e.to_string()))?;
                format!("on statutory basis {statute}, without consent: {met}")
            }
            LegalBasis::NoPersonalData => {
                if child_ref.is_some() {
                    return Err(invalid(
                        "legal_basis.no_personal_data",
                        "a message that names a child (a BSN) holds personal data: it needs a consent or a statutory basis",
                    )
                    .into());
                }
                "no personal data: an anonymous consultation".into()
            }
        };
        if child_ref.is_none() && !matches!(named, LegalBasis::NoPersonalData) {
            return Err(invalid(
                "legal_basis",
                "a consultatieverzoek that names no child holds no personal data: its basis is no_personal_data, not a consent or a statute",
            )
            .into());
        }
        Ok((named.clone(), condition))
    }
}
