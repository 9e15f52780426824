//! The gateway's notices, sent when they are due: a consent about to lapse
//! or to be reconfirmed, a consent revoked by another organisation, and the
//! messages of one sender that became overdue (one notice for all of them).
//! A notice whose reason went away before it was due (the consent ended,
//! the message was acknowledged) is dropped. A notice is a message from the
//! reserved gateway OIN: leased and acknowledged like any other, audited,
//! without receipts.

use std::collections::BTreeMap;

use prost::Message as _;
use schakel_proto::v1 as pb;

use super::Exchange;
use crate::crypto::{ChildRef, sha256};
use crate::model::{
    Action, Actor, CaseId, Condition, ConsentState, Draft, GATEWAY_OIN, Kind, LegalBasis,
    MessageHead, MessageId, MessageRecord, NoticeDraft, NoticeType, Oin, Terms, wire,
};
use crate::policy::notices::overdue_text;
use crate::policy::signals;
use crate::service::ServiceError;
use crate::store::{DueNotice, NewMessage};

/// Notices handled per sweep; the rest wait for the next.
const NOTICE_BATCH: usize = 1000;

/// Whether a notice's reason still holds, and the child it concerns: None
/// when the notice is to be dropped.
type Holds = Option<Option<ChildRef>>;

impl Exchange {
    /// Puts the notices that are due in their recipients' inboxes; returns
    /// how many were sent.
    pub(super) async fn post_due_notices(&self) -> Result<usize, ServiceError> {
        let now = self.clock.now_ms();
        let due = self.store.due_notices(now, NOTICE_BATCH).await?;
        let mut overdue: BTreeMap<Oin, Vec<DueNotice>> = BTreeMap::new();
        let mut sent = 0;
        for d in due {
            if d.notice.notice_type == NoticeType::MessageOverdue {
                overdue
                    .entry(d.notice.recipient.clone())
                    .or_default()
                    .push(d);
                continue;
            }
            let message = match self.holds(&d.notice.condition, now).await? {
                Some(child) => Some(self.notice(d.notice, child, now)?),
                None => None,
            };
            sent += self.post(vec![(d.at_ms, d.id)], message, now).await?;
        }
        for (recipient, group) in overdue {
            let mut ids: Vec<MessageId> = Vec::new();
            for d in &group {
                if self.holds(&d.notice.condition, now).await?.is_some() {
                    ids.extend(d.notice.message_ids.iter().cloned());
                }
            }
            let message = if ids.is_empty() {
                None
            } else {
                let draft = NoticeDraft {
                    recipient,
                    notice_type: NoticeType::MessageOverdue,
                    consent_id: None,
                    text: overdue_text(&ids),
                    message_ids: ids,
                    due_on: group.last().and_then(|d| d.notice.due_on),
                    revoked_by: None,
                    condition: Condition::Always,
                };
                Some(self.notice(draft, None, now)?)
            };
            let keys = group.into_iter().map(|d| (d.at_ms, d.id)).collect();
            sent += self.post(keys, message, now).await?;
        }
        Ok(sent)
    }

    /// Takes the scheduled notices `keys` and posts `message`; 1 if it was
    /// posted now.
    async fn post(
        &self,
        keys: Vec<(i64, String)>,
        message: Option<(NewMessage, Draft)>,
        now: i64,
    ) -> Result<usize, ServiceError> {
        let recipient = message.as_ref().map(|(m, _)| m.record.recipient.clone());
        let taken = self.store.post_notice(keys, message, now).await?;
        match recipient {
            Some(r) if taken => {
                self.notifier.wake_inbox(&r);
                Ok(1)
            }
            _ => Ok(0),
        }
    }

    /// Whether `condition` still holds at `now`, with the child the notice
    /// is about (a consent's).
    async fn holds(&self, condition: &Condition, now: i64) -> Result<Holds, ServiceError> {
        Ok(match condition {
            Condition::Always => Some(None),
            Condition::ConsentInForce(id) => self.store.consent(id).await?.and_then(|c| {
                let ended = matches!(c.state(now), ConsentState::Revoked | ConsentState::Lapsed);
                (!ended).then_some(c.child_ref)
            }),
            Condition::Undelivered(id) => self
                .store
                .message(id)
                .await?
                .filter(|m| !m.state.is_final())
                .map(|_| None),
            Condition::InformingPending(id) => self.store.message(id).await?.and_then(|m| {
                let pending = m.signal.is_some_and(|f| f.informed_at_ms.is_none())
                    && signals::in_force(&m, "signal", now).is_ok();
                pending.then_some(m.child_ref)
            }),
        })
    }

    /// The notice message of `draft`, about `child` if it concerns one (so
    /// that it is found in the child's trail), with its audit entry.
    fn notice(
        &self,
        draft: NoticeDraft,
        child: Option<ChildRef>,
        now: i64,
    ) -> Result<(NewMessage, Draft), ServiceError> {
        let id = MessageId::new_v7();
        let payload = pb::Payload {
            body: Some(pb::payload::Body::Notice(pb::Notice {
                r#type: wire::notice_type(draft.notice_type) as i32,
                consent_id: draft
                    .consent_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                message_ids: draft.message_ids.iter().map(ToString::to_string).collect(),
                due_on: draft.due_on.map(|d| d.to_string()).unwrap_or_default(),
                text: draft.text.clone(),
                revoked_by_oin: draft
                    .revoked_by
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            })),
            attachments: vec![],
        };
        let encoded = payload.encode_to_vec();
        let digest = sha256(&encoded);
        let record = MessageRecord::new(MessageHead {
            id: id.clone(),
            sender: Oin::parse(GATEWAY_OIN).expect("the gateway's OIN is 20 digits"),
            recipient: draft.recipient.clone(),
            client_reference: format!("notice-{id}"),
            kind: Kind::Notice,
            case_id: CaseId::new_v7(),
            case_reference: String::new(),
            in_reply_to: None,
            legal_basis: LegalBasis::NoPersonalData,
            terms: Terms::default(),
            child_ref: child,
            created_at_ms: now,
            expires_at_ms: now + self.expiry_rule().default.whole_milliseconds() as i64,
            overdue_at_ms: None,
            lapses_at_ms: None,
            payload_digest: digest,
            request_digest: digest,
            payload_bytes: encoded.len() as u64,
        });
        let about = match (&draft.consent_id, draft.message_ids.len()) {
            (Some(c), _) => format!("consent {c}"),
            (None, n) => format!("{n} message(s)"),
        };
        let audit = Draft::about(Actor::Gateway, Action::NoticeSent, &record)
            .detail(format!("{}: {about}", draft.notice_type.as_str()));
        let sealed_payload = self.keys.payload.seal(id.as_str(), encoded)?;
        Ok((NewMessage::new(record, sealed_payload), audit))
    }
}
