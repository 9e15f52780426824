//! The audit log: one entry per decision, each carrying the SHA-256 of the
//! entry before it, so that a changed, removed or reordered entry breaks the
//! chain.
//!
//! Entries hold metadata only: OINs, message ids, kinds, a child *reference*
//! (keyed hash), the legal basis and a short outcome. Never payload content,
//! never a BSN. The store appends entries in the same atomic write as the
//! state change they record, so a crash never leaves one without the other.

use schakel_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::message::{Kind, LegalBasis};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A message was accepted.
    SendAccepted,
    /// A message was refused; detail names the rule.
    SendRefused,
    /// A message was leased to its recipient.
    Leased,
    /// The recipient acknowledged a message.
    Delivered,
    /// The recipient refused a message.
    Rejected,
    /// A message expired undelivered.
    Expired,
    /// A message was withdrawn (consent revoked or lapsed).
    Withdrawn,
    /// A payload was destroyed after its retention period.
    Purged,
    /// A consent was registered.
    ConsentGranted,
    /// A consent was revoked.
    ConsentRevoked,
    /// The directory changed.
    DirectoryChanged,
    /// A known organisation's call was refused.
    AccessRefused,
}

impl Action {
    /// The snake_case name, as in the canonical encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SendAccepted => "send_accepted",
            Action::SendRefused => "send_refused",
            Action::Leased => "leased",
            Action::Delivered => "delivered",
            Action::Rejected => "rejected",
            Action::Expired => "expired",
            Action::Withdrawn => "withdrawn",
            Action::Purged => "purged",
            Action::ConsentGranted => "consent_granted",
            Action::ConsentRevoked => "consent_revoked",
            Action::DirectoryChanged => "directory_changed",
            Action::AccessRefused => "access_refused",
        }
    }
}

/// The actor name used for decisions the gateway makes by itself (expiry,
/// purge), which no participant caused.
pub const GATEWAY_ACTOR: &str = "gateway";

/// An entry before the store has placed it in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Draft {
    /// Who acted: an OIN, or [`GATEWAY_ACTOR`].
    pub actor: String,
    /// What happened.
    pub action: Option<Action>,
    /// The message concerned.
    pub message_id: String,
    /// The other organisation involved.
    pub counterpart: String,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<String>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
}

/// A placed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (Unix ms).
    pub time_ms: i64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// The message concerned, or empty.
    pub message_id: String,
    /// The other organisation, or empty.
    pub counterpart: String,
    /// The message kind.
    pub kind: Option<Kind>,
    /// The child reference.
    pub child_ref: Option<String>,
    /// The legal basis.
    pub legal_basis: Option<LegalBasis>,
    /// The outcome detail.
    pub detail: String,
    /// SHA-256 of the previous entry's canonical encoding, hex (zeros first).
    pub prev_hash: String,
}

/// The hash before the first entry.
pub const GENESIS_HASH: [u8; 32] = schakel_proto::audit::GENESIS_HASH;

impl Entry {
    /// Places `draft` after the entry with sequence `prev_seq` and hash
    /// `prev_hash`.
    pub fn place(draft: Draft, prev_seq: u64, prev_hash: &[u8; 32], time_ms: i64) -> Self {
        Self {
            seq: prev_seq + 1,
            time_ms,
            actor: draft.actor,
            action: draft.action.expect("an audit draft names its action"),
            message_id: draft.message_id,
            counterpart: draft.counterpart,
            kind: draft.kind,
            child_ref: draft.child_ref,
            legal_basis: draft.legal_basis,
            detail: draft.detail,
            prev_hash: hex::encode(prev_hash),
        }
    }

    /// The wire form, which is also what the chain hashes
    /// ([`schakel_proto::audit::canonical`]).
    pub fn to_pb(&self) -> pb::AuditEntry {
        pb::AuditEntry {
            sequence: self.seq,
            time: Some(schakel_proto::audit::timestamp(self.time_ms)),
            actor_oin: self.actor.clone(),
            action: self.action.to_pb() as i32,
            message_id: self.message_id.clone(),
            counterpart_oin: self.counterpart.clone(),
            kind: self.kind.map_or(0, |k| k.to_pb() as i32),
            child_ref: self.child_ref.clone().unwrap_or_default(),
            legal_basis: self.legal_basis.as_ref().map(LegalBasis::to_pb),
            detail: self.detail.clone(),
            prev_hash: hex::decode(&self.prev_hash).unwrap_or_default(),
        }
    }

    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> [u8; 32] {
        schakel_proto::audit::entry_hash(&self.to_pb())
    }
}

/// A signed statement of the chain's head at one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The entry covered.
    pub seq: u64,
    /// Its hash, hex.
    pub head_hash: String,
    /// When (Unix ms).
    pub time_ms: i64,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl Checkpoint {
    /// Signs the head `(seq, hash)` with the gateway key.
    pub fn sign(seq: u64, hash: &[u8; 32], time_ms: i64, key: &dyn crate::store::Signer) -> Self {
        let mut c = pb::AuditCheckpoint {
            sequence: seq,
            head_hash: hash.to_vec(),
            time: Some(schakel_proto::audit::timestamp(time_ms)),
            signature: vec![],
        };
        c.signature = key.sign_bytes(&schakel_proto::audit::checkpoint_bytes(&c));
        Self {
            seq,
            head_hash: hex::encode(hash),
            time_ms,
            signature: hex::encode(&c.signature),
        }
    }

    /// The wire form.
    pub fn to_pb(&self) -> pb::AuditCheckpoint {
        pb::AuditCheckpoint {
            sequence: self.seq,
            head_hash: hex::decode(&self.head_hash).unwrap_or_default(),
            time: Some(schakel_proto::audit::timestamp(self.time_ms)),
            signature: hex::decode(&self.signature).unwrap_or_default(),
        }
    }
}

impl Action {
    /// The wire form.
    pub fn to_pb(self) -> pb::AuditAction {
        match self {
            Action::SendAccepted => pb::AuditAction::SendAccepted,
            Action::SendRefused => pb::AuditAction::SendRefused,
            Action::Leased => pb::AuditAction::Leased,
            Action::Delivered => pb::AuditAction::Delivered,
            Action::Rejected => pb::AuditAction::Rejected,
            Action::Expired => pb::AuditAction::Expired,
            Action::Withdrawn => pb::AuditAction::Withdrawn,
            Action::Purged => pb::AuditAction::Purged,
            Action::ConsentGranted => pb::AuditAction::ConsentGranted,
            Action::ConsentRevoked => pb::AuditAction::ConsentRevoked,
            Action::DirectoryChanged => pb::AuditAction::DirectoryChanged,
            Action::AccessRefused => pb::AuditAction::AccessRefused,
        }
    }

    /// The action of a wire value, if it names one.
    pub fn from_pb(value: i32) -> Option<Self> {
        use pb::AuditAction as A;
        Some(match A::try_from(value).ok()? {
            A::Unspecified => return None,
            A::SendAccepted => Action::SendAccepted,
            A::SendRefused => Action::SendRefused,
            A::Leased => Action::Leased,
            A::Delivered => Action::Delivered,
            A::Rejected => Action::Rejected,
            A::Expired => Action::Expired,
            A::Withdrawn => Action::Withdrawn,
            A::Purged => Action::Purged,
            A::ConsentGranted => Action::ConsentGranted,
            A::ConsentRevoked => Action::ConsentRevoked,
            A::DirectoryChanged => Action::DirectoryChanged,
            A::AccessRefused => Action::AccessRefused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(detail: &str) -> Draft {
        Draft {
            actor: "00000099100000000001".into(),
            action: Some(Action::SendAccepted),
            detail: detail.into(),
            ..Draft::default()
        }
    }

    #[test]
    fn entries_chain_by_hash() {
        let first = Entry::place(draft("a"), 0, &GENESIS_HASH, 1);
        let second = Entry::place(draft("b"), first.seq, &first.hash(), 2);
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, hex::encode(first.hash()));
        let mut altered = first.clone();
        altered.detail = "A".into();
        assert_ne!(altered.hash(), first.hash());
    }
}

/// One record of the chain in order: an entry, or the checkpoint that
/// follows the entry it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An entry.
    Entry(Entry),
    /// A checkpoint.
    Checkpoint(Checkpoint),
}

/// What an operator filters a query on; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries at or after this time (Unix ms).
    pub from_ms: Option<i64>,
    /// Entries before this time (Unix ms).
    pub to_ms: Option<i64>,
    /// Entries where this OIN is actor or counterpart.
    pub org: Option<String>,
    /// Entries about this message.
    pub message_id: Option<String>,
    /// Entries about this child (reference).
    pub child_ref: Option<String>,
    /// Only these actions (empty: all).
    pub actions: Vec<Action>,
}

impl Filter {
    /// Whether `e` matches.
    pub fn matches(&self, e: &Entry) -> bool {
        self.from_ms.is_none_or(|t| e.time_ms >= t)
            && self.to_ms.is_none_or(|t| e.time_ms < t)
            && self
                .org
                .as_ref()
                .is_none_or(|o| e.actor == *o || e.counterpart == *o)
            && self.message_id.as_ref().is_none_or(|m| e.message_id == *m)
            && self
                .child_ref
                .as_ref()
                .is_none_or(|c| e.child_ref.as_ref() == Some(c))
            && (self.actions.is_empty() || self.actions.contains(&e.action))
    }
}

/// Entries read from the store per page.
pub const PAGE: usize = 1000;

/// The audit log as operators see it: query, verify, export; and its upkeep:
/// checkpoints and retention.
pub struct AuditLog {
    store: std::sync::Arc<dyn crate::store::Store>,
    signer: std::sync::Arc<crate::crypto::SigningKey>,
    child_key: std::sync::Arc<crate::crypto::ChildKey>,
    config: crate::config::AuditConfig,
    last_checkpoint_ms: std::sync::atomic::AtomicI64,
}

impl AuditLog {
    /// The log over `store`.
    pub fn new(
        store: std::sync::Arc<dyn crate::store::Store>,
        signer: std::sync::Arc<crate::crypto::SigningKey>,
        child_key: std::sync::Arc<crate::crypto::ChildKey>,
        config: crate::config::AuditConfig,
    ) -> Self {
        Self {
            store,
            signer,
            child_key,
            config,
            last_checkpoint_ms: std::sync::atomic::AtomicI64::new(crate::exchange::now_ms()),
        }
    }

    /// The child reference of a BSN, for queries by child.
    pub fn child_ref(&self, bsn: &str) -> String {
        self.child_key.child_ref(bsn)
    }

    /// The next page of entries after `after` that match `filter`, and the
    /// sequence number to continue after (None at the end of the log).
    pub async fn query_page(
        &self,
        filter: &Filter,
        after: u64,
    ) -> Result<(Vec<Entry>, Option<u64>), crate::store::StoreError> {
        let from = (after + 1).max(self.store.audit_start().await?);
        let page = self.store.audit_entries(from, PAGE).await?;
        let next = (page.len() == PAGE)
            .then(|| page.last().map(|e| e.seq))
            .flatten();
        Ok((
            page.into_iter().filter(|e| filter.matches(e)).collect(),
            next,
        ))
    }

    /// Signs a checkpoint of the head now, if there are new entries.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, crate::store::StoreError> {
        let now = crate::exchange::now_ms();
        let c = self.store.checkpoint(now).await?;
        if c.is_some() {
            self.last_checkpoint_ms
                .store(now, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(c)
    }

    /// The records up to `to` after `after`, a page at a time; None when the
    /// range is done.
    pub async fn records_page(
        &self,
        after: u64,
        to: u64,
    ) -> Result<Option<(Vec<Record>, u64)>, crate::store::StoreError> {
        records_page(self.store.as_ref(), after, to).await
    }

    /// The range an operator asked for, with 0 meaning "from the start" and
    /// "to the head". Signs a checkpoint of the head first, so that the whole
    /// range can be covered by a signature.
    pub async fn range(&self, from: u64, to: u64) -> Result<(u64, u64), crate::store::StoreError> {
        self.checkpoint_now().await?;
        let (head, _) = self.store.audit_head().await?;
        let start = self.store.audit_start().await?;
        Ok((from.max(start), if to == 0 { head } else { to.min(head) }))
    }

    /// Signs the head, then recomputes the chain over `from..=to` and checks
    /// its checkpoints.
    pub async fn verify(
        &self,
        from: u64,
        to: u64,
    ) -> Result<schakel_proto::audit::Verdict, crate::store::StoreError> {
        let (from, to) = self.range(from, to).await?;
        verify_chain(self.store.as_ref(), self.signer.public_key(), from, to).await
    }

    /// Upkeep, run periodically: a checkpoint when enough entries or time
    /// have passed, and removal of entries past the retention period.
    pub async fn maintain(&self) -> Result<(), crate::store::StoreError> {
        let (head, signed) = self.store.audit_head().await?;
        let now = crate::exchange::now_ms();
        let since = now
            - self
                .last_checkpoint_ms
                .load(std::sync::atomic::Ordering::Relaxed);
        if head > signed
            && (head - signed >= self.config.checkpoint_every
                || since >= self.config.checkpoint_interval_secs as i64 * 1000)
        {
            self.checkpoint_now().await?;
        }
        let cutoff = now - (self.config.retention_days as i64).saturating_mul(86_400_000);
        let start = self.store.audit_start().await?;
        let oldest = self.store.audit_entries(start, 1).await?;
        if oldest
            .first()
            .is_some_and(|e| e.time_ms < cutoff && e.seq < head)
        {
            let removed = self.store.prune_audit(cutoff, PAGE).await?;
            tracing::info!(
                removed,
                "audit entries removed after their retention period"
            );
        }
        Ok(())
    }
}

/// The records of `store` up to `to` after `after`, a page at a time, each
/// checkpoint after the entry it covers; None when the range is done.
pub async fn records_page(
    store: &dyn crate::store::Store,
    after: u64,
    to: u64,
) -> Result<Option<(Vec<Record>, u64)>, crate::store::StoreError> {
    let from = (after + 1).max(store.audit_start().await?);
    if from > to {
        return Ok(None);
    }
    let entries = store.audit_entries(from, PAGE).await?;
    let entries: Vec<_> = entries.into_iter().take_while(|e| e.seq <= to).collect();
    let Some(last) = entries.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let mut checkpoints = store
        .audit_checkpoints(from, last)
        .await?
        .into_iter()
        .peekable();
    let mut out = Vec::with_capacity(entries.len() + 1);
    for e in entries {
        let seq = e.seq;
        out.push(Record::Entry(e));
        while let Some(c) = checkpoints.next_if(|c| c.seq == seq) {
            out.push(Record::Checkpoint(c));
        }
    }
    Ok(Some((out, last)))
}

/// Recomputes the chain of `store` over `from..=to` and checks its
/// checkpoints against `public_key`. Reads only: usable on a stopped
/// gateway's store.
pub async fn verify_chain(
    store: &dyn crate::store::Store,
    public_key: &[u8],
    from: u64,
    to: u64,
) -> Result<schakel_proto::audit::Verdict, crate::store::StoreError> {
    let from = from.max(store.audit_start().await?);
    let mut verifier = schakel_proto::audit::Verifier::new(public_key, from == 1);
    let mut after = from - 1;
    while let Some((records, last)) = records_page(store, after, to).await? {
        for r in &records {
            match r {
                Record::Entry(e) => verifier.entry(&e.to_pb()),
                Record::Checkpoint(c) => verifier.checkpoint(&c.to_pb()),
            }
        }
        if !verifier.intact() {
            break;
        }
        after = last;
    }
    Ok(verifier.finish())
}

/// Verifies the whole audit chain of a stopped gateway's data folder with
/// the public half of the key in that folder. Opens the store, so the gateway
/// must not be running.
pub async fn verify_data_dir(
    data_dir: &std::path::Path,
) -> anyhow::Result<schakel_proto::audit::Verdict> {
    use anyhow::Context;
    let public_key = crate::crypto::SigningKey::public_key_in(data_dir)?;
    // The key exists (checked above), so this loads it and creates nothing.
    let signer = std::sync::Arc::new(crate::crypto::SigningKey::load_or_create(data_dir)?);
    let store = crate::store::sled_store::SledStore::open(
        &data_dir.join(crate::server::STORE_DIR),
        64 << 20,
        signer,
    )
    .with_context(|| {
        format!(
            "cannot open the store in {} (is the gateway still running?)",
            data_dir.display()
        )
    })?;
    let (head, _) = crate::store::Store::audit_head(&store).await?;
    Ok(verify_chain(&store, &public_key, 1, head).await?)
}
