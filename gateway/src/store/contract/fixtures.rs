//! What the contract tests are made of: messages, consents, and the steps
//! they repeat.

use std::path::Path;
use std::sync::Arc;

use schakel_proto::v1 as pb;

use crate::crypto::Digest;
use crate::model::{
    Action, ConsentId, ConsentRecord, Draft, LegalBasis, MessageHead, MessageId, MessageRecord,
    State, Statute,
};
use crate::policy::quota::Quotas;
use crate::store::{AcceptOutcome, NewMessage, Store, Take};

/// How a contract test opens the engine under test for a folder: the
/// folder names the store, so that opening it again after the store was
/// dropped finds what it held.
pub type Open = fn(&Path) -> futures::future::BoxFuture<'static, Arc<dyn Store>>;

/// The moment the tests happen at.
pub const NOW: i64 = 1_800_000_000_000;
/// A minute in milliseconds.
pub const MINUTE: i64 = 60_000;
/// Quotas no test reaches.
pub const MAX: Quotas = Quotas {
    inbox_messages: 1_000_000,
    inbox_bytes: u64::MAX,
    sender_bytes: u64::MAX,
};

use crate::model::examples;
pub use crate::model::examples::oin;

/// The example OIN that sends.
pub const SENDER: u8 = 1;
/// The example OIN that receives.
pub const RECIPIENT: u8 = 2;

/// A message of 64 payload bytes from the sender to the recipient.
pub fn message(reference: &str, basis: LegalBasis, digest: u8) -> NewMessage {
    message_of(reference, basis, digest, 64)
}

/// A message of `size` payload bytes from the sender to the recipient.
pub fn message_of(reference: &str, basis: LegalBasis, digest: u8, size: usize) -> NewMessage {
    NewMessage::new(
        MessageRecord::new(MessageHead {
            client_reference: reference.into(),
            created_at_ms: NOW,
            expires_at_ms: NOW + 60 * MINUTE,
            payload_digest: Digest([digest; 32]),
            request_digest: Digest([digest; 32]),
            payload_bytes: size as u64,
            ..examples::head(oin(SENDER), oin(RECIPIENT), basis)
        }),
        (0..size).map(|i| (i % 251) as u8).collect(),
    )
}

/// A statutory basis that needs no consent.
pub fn statute() -> LegalBasis {
    LegalBasis::Statute(Statute::MeldrechtVeiligThuis)
}

/// The audit entry of accepting `m`.
pub fn draft(m: &NewMessage) -> Draft {
    Draft::about(m.record.sender.clone(), Action::SendAccepted, &m.record)
}

/// Accepts `m`; its id.
pub async fn accept(store: &dyn Store, m: NewMessage, now: i64) -> MessageId {
    let id = m.record.id.clone();
    let d = draft(&m);
    match store.accept(m, d, MAX, now).await.unwrap() {
        AcceptOutcome::Accepted(_) => id,
        other => panic!("expected an accept, got {other:?}"),
    }
}

/// Leases up to `max` of the recipient's messages; their ids.
pub async fn lease_ids(store: &dyn Store, max: usize, now: i64, lease_ms: i64) -> Vec<MessageId> {
    store
        .lease(&oin(RECIPIENT), Take::messages(max), now, lease_ms)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.record.id)
        .collect()
}

/// The state message `id` is in.
pub async fn state_of(store: &dyn Store, id: &MessageId) -> State {
    store.message(id).await.unwrap().unwrap().state
}

/// The statuses of `receipts`.
pub fn statuses(receipts: &[pb::Receipt]) -> Vec<pb::ReceiptStatus> {
    receipts
        .iter()
        .map(|r| pb::ReceiptStatus::try_from(r.status).unwrap())
        .collect()
}

/// A consent of the sender's, valid until `until`.
pub fn consent(id: &ConsentId, until: i64) -> ConsentRecord {
    ConsentRecord {
        id: id.clone(),
        created_at_ms: NOW,
        ..examples::consent(oin(SENDER), 0, until)
    }
}

/// Grants a consent valid until `until`; its id.
pub async fn grant(store: &dyn Store, until: i64) -> ConsentId {
    let id = ConsentId::new_v7();
    let audit = Draft::new(oin(SENDER), Action::ConsentGranted);
    store
        .grant_consent(&consent(&id, until), audit, vec![], NOW)
        .await
        .unwrap();
    id
}

/// A notice to the recipient with `text`, scheduled for `at`.
pub fn scheduled(at: i64, text: &str) -> crate::model::Scheduled {
    use crate::model::{Condition, NoticeDraft, NoticeType};
    crate::model::Scheduled {
        at_ms: at,
        notice: NoticeDraft {
            recipient: oin(RECIPIENT),
            notice_type: NoticeType::ConsentLapsing,
            consent_id: None,
            message_ids: vec![],
            due_on: None,
            text: text.into(),
            revoked_by: None,
            condition: Condition::Always,
        },
    }
}
