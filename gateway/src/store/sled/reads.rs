//! The sled store's reads: straight from the tree (a read never waits for
//! the writer thread), or through a step's view where a step needs them.

use schakel_proto::v1 as pb;

use super::SledStore;
use super::keys::{
    AUDIT, CASE, CHECKPOINT, CONSENT_BY_ORG, COUNTS, HELD_BY_RECIPIENT, HELD_BY_SENDER, INBOX,
    PARTICIPANT, RECEIPT_BY_SENDER, about_prefixes, be, counts, decode, decode_all, decode_receipt,
    held_bytes, key, parse_from, u64_at,
};
use super::overlay::View;
use super::step::{lock, read_consent, read_record};
use crate::model::{
    CaseId, Checkpoint, ConsentId, ConsentRecord, Entry, MessageId, MessageRecord, Oin, Participant,
};
use crate::store::{AuditKey, InboxFigures, Store as _, StoreError};

/// A message's receipts, oldest first, found through the cursors its record
/// lists.
pub(super) fn receipts_of(view: &View, r: &MessageRecord) -> Result<Vec<pb::Receipt>, StoreError> {
    let mut out = Vec::with_capacity(r.receipt_cursors.len());
    for cursor in &r.receipt_cursors {
        let k = key(
            RECEIPT_BY_SENDER,
            &[r.sender.as_str().as_bytes(), &be(*cursor)],
        );
        if let Some(v) = view.get(&k)? {
            out.push(decode_receipt(&k, &v)?);
        }
    }
    Ok(out)
}

/// A recipient's (ready, leased) counts, as `view` sees them.
pub(super) fn counts_of(view: &View, recipient: &Oin) -> Result<(u64, u64), StoreError> {
    let k = key(COUNTS, &[recipient.as_str().as_bytes()]);
    counts(&k, view.get(&k)?.as_deref())
}

/// What is held undelivered for `recipient`'s inbox and by `sender`, as
/// `view` sees it: what the quotas decide on.
pub(super) fn held_of(
    view: &View,
    recipient: &Oin,
    sender: &Oin,
) -> Result<crate::policy::quota::Held, StoreError> {
    let (ready, leased) = counts_of(view, recipient)?;
    let inbox = key(HELD_BY_RECIPIENT, &[recipient.as_str().as_bytes()]);
    let by_sender = key(HELD_BY_SENDER, &[sender.as_str().as_bytes()]);
    Ok(crate::policy::quota::Held {
        inbox_messages: ready + leased,
        inbox_bytes: held_bytes(&inbox, view.get(&inbox)?.as_deref())?,
        sender_bytes: held_bytes(&by_sender, view.get(&by_sender)?.as_deref())?,
    })
}

impl SledStore {
    fn plain(&self) -> View<'_> {
        View::plain(self.tree())
    }

    pub(super) fn participant_read(&self, oin: &Oin) -> Result<Option<Participant>, StoreError> {
        let k = key(PARTICIPANT, &[oin.as_str().as_bytes()]);
        self.tree().get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    pub(super) fn participants_read(&self) -> Result<Vec<Participant>, StoreError> {
        decode_all(self.plain().scan_prefix(&[PARTICIPANT]))
    }

    pub(super) fn consent_read(&self, id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        read_consent(&self.plain(), self.sealing(), id)
    }

    pub(super) fn consents_of_read(&self, oin: &Oin) -> Result<Vec<ConsentRecord>, StoreError> {
        let prefix = key(CONSENT_BY_ORG, &[oin.as_str().as_bytes()]);
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix(&prefix).rev() {
            let (k, _) = kv?;
            let id: ConsentId = parse_from(&k, prefix.len())?;
            if let Some(c) = self.consent_read(&id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub(super) fn message_read(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        read_record(&self.plain(), self.sealing(), id)
    }

    pub(super) fn case_messages_read(
        &self,
        case: &CaseId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let prefix = key(CASE, &[case.as_str().as_bytes()]);
        let mut out = Vec::new();
        for kv in self.tree().scan_prefix(&prefix) {
            let (k, _) = kv?;
            let id: MessageId = parse_from(&k, prefix.len())?;
            if let Some(r) = self.message_read(&id)? {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.created_at_ms);
        Ok(out)
    }

    pub(super) fn message_receipts_read(
        &self,
        id: &MessageId,
    ) -> Result<Vec<pb::Receipt>, StoreError> {
        match self.message_read(id)? {
            Some(r) => receipts_of(&self.plain(), &r),
            None => Ok(Vec::new()),
        }
    }

    pub(super) fn receipts_after_read(
        &self,
        sender: &Oin,
        after_cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, pb::Receipt)>, StoreError> {
        let sender = sender.as_str().as_bytes();
        let start = key(
            RECEIPT_BY_SENDER,
            &[sender, &be(after_cursor.saturating_add(1))],
        );
        let end = key(RECEIPT_BY_SENDER, &[sender, &be(u64::MAX)]);
        self.tree()
            .range(start..=end)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((u64_at(&k, k.len() - 8)?, decode_receipt(&k, &v)?))
            })
            .collect()
    }

    pub(super) fn inbox_counts_read(&self, recipient: &Oin) -> Result<(u64, u64), StoreError> {
        counts_of(&self.plain(), recipient)
    }

    pub(super) fn inbox_figures_read(&self) -> Result<Vec<InboxFigures>, StoreError> {
        self.tree()
            .scan_prefix([COUNTS])
            .map(|kv| {
                let (k, v) = kv?;
                let recipient: Oin = parse_from(&k, 1)?;
                let (ready, leased) = counts(&k, Some(&v))?;
                let oldest_ready_ms = match self
                    .tree()
                    .scan_prefix(key(INBOX, &[recipient.as_str().as_bytes()]))
                    .next()
                {
                    Some(kv) => {
                        let (_, id) = kv?;
                        self.message_read(&parse_from(&id, 0)?)?
                            .map(|r| r.created_at_ms)
                    }
                    None => None,
                };
                let held = key(HELD_BY_RECIPIENT, &[recipient.as_str().as_bytes()]);
                let held_bytes = held_bytes(&held, self.tree().get(&held)?.as_deref())?;
                Ok(InboxFigures {
                    recipient,
                    ready,
                    leased,
                    oldest_ready_ms,
                    held_bytes,
                })
            })
            .collect()
    }

    pub(super) fn sender_figures_read(&self) -> Result<Vec<(Oin, u64)>, StoreError> {
        self.tree()
            .scan_prefix([HELD_BY_SENDER])
            .map(|kv| {
                let (k, v) = kv?;
                Ok((parse_from(&k, 1)?, held_bytes(&k, Some(&v))?))
            })
            .collect()
    }

    pub(super) fn audit_head_read(&self) -> (u64, u64) {
        let c = lock(self.counters());
        (c.audit_seq, c.checkpoint_seq)
    }

    pub(super) fn audit_start_read(&self) -> u64 {
        lock(self.counters()).pruned_through + 1
    }

    pub(super) fn audit_entries_read(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let range = key(AUDIT, &[&be(from)])..=key(AUDIT, &[&be(u64::MAX)]);
        self.tree()
            .range(range)
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok(self.sealing().decode(&k, &v)?)
            })
            .collect()
    }

    /// The entries about `about` after `after`, up to `limit`, in order:
    /// a child's are found under each day its terms can end on, and only
    /// those that still name it are answered (one erased today keeps its
    /// index key until the day is over).
    pub(super) fn audit_entries_about_read(
        &self,
        about: &AuditKey,
        after: u64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut seqs = Vec::new();
        for prefix in about_prefixes(about, self.sealing(), now_ms) {
            let start = prefix.len();
            let from = [prefix.as_slice(), &be(after.saturating_add(1))].concat();
            let to = [prefix.as_slice(), &be(u64::MAX)].concat();
            for kv in self.tree().range(from..=to).take(limit) {
                let (k, _) = kv?;
                seqs.push(u64_at(&k, start)?);
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        let mut out = Vec::new();
        for seq in seqs.into_iter().take(limit) {
            let ak = key(AUDIT, &[&be(seq)]);
            if let Some(v) = self.tree().get(&ak)? {
                let entry: Entry = self.sealing().decode(&ak, &v)?;
                if about.names(&entry) {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    pub(super) fn audit_checkpoints_read(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let range = key(CHECKPOINT, &[&be(from)])..=key(CHECKPOINT, &[&be(to)]);
        decode_all(
            self.tree()
                .range(range)
                .map(|kv| kv.map_err(StoreError::from)),
        )
    }
}
