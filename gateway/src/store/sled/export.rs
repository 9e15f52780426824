//! Reading out everything the sled store holds, for a copy into another
//! engine ([`crate::store::copy`]): records as stored, and from the index
//! keys what the records do not say (a message's place in its inbox, its
//! lease and schedules; when a consent ends; which audit entries still wait
//! for their child reference to be erased).

use std::collections::HashMap;

use super::SledStore;
use super::keys::{
    AUDIT, CASE_RECORD, CHECKPOINT, CONSENT, CONSENT_END, COUNTS, ERASE, ERASED_THROUGH, EXPIRY,
    INBOX, LAPSE, LEASE, MESSAGE, NODE, NOTICE, PARTICIPANT, PURGE, RECEIPT_BY_SENDER, TREE_FIRST,
    TREE_HEAD, counts, decode, parse_from, text_from, u64_at,
};
use super::payloads::Located;
use crate::model::{MessageId, MessageRecord};
use crate::store::copy::{Columns, Item, MessageCopy, Part, Sink, Tally};
use crate::store::{Store as _, StoreError};

/// Every key under `prefix` with its value.
type Scan = ::sled::Iter;

/// One of a message's schedules in [`Columns`].
type Column = fn(&mut Columns) -> &mut Option<i64>;

/// The time in a schedule key (`prefix`, ms, then an id from offset 9).
fn scheduled_ms(k: &[u8]) -> Result<i64, StoreError> {
    Ok(u64_at(k, 1)? as i64)
}

impl SledStore {
    fn scan(&self, prefix: u8) -> Scan {
        self.tree().scan_prefix([prefix])
    }

    /// Sends everything the store holds to `sink`, in an order an empty
    /// store can take it in (a message before its receipts, entries in
    /// sequence order), then its end; or, if reading fails, the error.
    /// Blocking: it reads the whole store, so run it on a thread of its
    /// own, on a store no gateway is writing to. It stops early when the
    /// receiving end is gone (the writer failed, and says why).
    pub fn export(&self, sink: &Sink) {
        let sent = self.export_items(sink).map(Part::End);
        // Nothing to do if the receiver is gone: it has its own error.
        let _ = sink.blocking_send(sent);
    }

    fn export_items(&self, sink: &Sink) -> Result<Tally, StoreError> {
        let mut tally = Tally::default();
        let mut send = |item: Item| {
            tally.count(&item);
            sink.blocking_send(Ok(Part::Item(Box::new(item))))
                .map_err(|_| StoreError::Engine("the copy's target stopped taking records".into()))
        };
        for kv in self.scan(PARTICIPANT) {
            let (k, v) = kv?;
            send(Item::Participant(decode(&k, &v)?))?;
        }
        let mut ends = HashMap::new();
        for kv in self.scan(CONSENT_END) {
            let (k, _) = kv?;
            ends.insert(text_from(&k, 9)?.to_owned(), scheduled_ms(&k)?);
        }
        for kv in self.scan(CONSENT) {
            let (k, v) = kv?;
            let record: crate::model::ConsentRecord = self.sealing().decode(&k, &v)?;
            let ends_at_ms = ends.remove(record.id.as_str());
            send(Item::Consent { record, ends_at_ms })?;
        }
        for kv in self.scan(CASE_RECORD) {
            let (k, v) = kv?;
            send(Item::Case(self.sealing().decode(&k, &v)?))?;
        }
        let mut columns = self.message_columns()?;
        for kv in self.scan(MESSAGE) {
            let (k, v) = kv?;
            let record: MessageRecord = self.sealing().decode(&k, &v)?;
            let sealed = self.sealed(&record.id)?;
            let columns = columns.remove(record.id.as_str()).unwrap_or_default();
            send(Item::Message(Box::new(MessageCopy {
                record,
                columns,
                sealed,
            })))?;
        }
        for kv in self.scan(RECEIPT_BY_SENDER) {
            let (k, v) = kv?;
            let cursor_at = k.len().saturating_sub(8);
            send(Item::Receipt {
                sender: parse_from(&k[..cursor_at], 1)?,
                cursor: u64_at(&k, cursor_at)?,
                receipt: v.to_vec(),
            })?;
        }
        let mut erase = HashMap::new();
        for kv in self.scan(ERASE) {
            let (k, _) = kv?;
            erase.insert(u64_at(&k, 9)?, scheduled_ms(&k)?);
        }
        for kv in self.scan(AUDIT) {
            let (k, v) = kv?;
            let entry: crate::model::Entry = self.sealing().decode(&k, &v)?;
            let erase_from_ms = erase.remove(&entry.seq);
            send(Item::Entry {
                entry,
                erase_from_ms,
            })?;
        }
        if let Some(v) = self.tree().get(ERASED_THROUGH)? {
            send(Item::ErasedThrough(u64_at(&v, 0)?))?;
        }
        for kv in self.scan(CHECKPOINT) {
            let (k, v) = kv?;
            send(Item::Checkpoint(decode(&k, &v)?))?;
        }
        for kv in self.scan(NODE) {
            let (k, v) = kv?;
            for (level, index, hash) in super::tree::nodes_of(&k, &v)? {
                send(Item::TreeNode { level, index, hash })?;
            }
        }
        for kv in self.scan(TREE_HEAD) {
            let (k, v) = kv?;
            send(Item::TreeHead(decode(&k, &v)?))?;
        }
        if let Some(v) = self.tree().get(TREE_FIRST)? {
            send(Item::TreeFirst(u64_at(&v, 0)?))?;
        }
        for kv in self.scan(NOTICE) {
            let (k, v) = kv?;
            send(Item::Notice {
                due_ms: scheduled_ms(&k)?,
                id: text_from(&k, 9)?.to_owned(),
                notice: (!v.is_empty()).then(|| decode(&k, &v)).transpose()?,
            })?;
        }
        for kv in self.scan(COUNTS) {
            let (k, v) = kv?;
            let (ready, leased) = counts(&k, Some(v.as_ref()))?;
            send(Item::Counts {
                recipient: parse_from(&k, 1)?,
                ready,
                leased,
            })?;
        }
        Ok(tally)
    }

    /// The places and schedules of the messages that have any, by id, from
    /// the index keys.
    fn message_columns(&self) -> Result<HashMap<String, Columns>, StoreError> {
        let mut columns: HashMap<String, Columns> = HashMap::new();
        for kv in self.scan(INBOX) {
            let (k, v) = kv?;
            let seq = u64_at(&k, k.len().saturating_sub(8))? as i64;
            columns
                .entry(text_from(&v, 0)?.to_owned())
                .or_default()
                .queue_seq = Some(seq);
        }
        let schedules: [(u8, Column); 4] = [
            (LEASE, |c| &mut c.leased_until_ms),
            (EXPIRY, |c| &mut c.expires_at_ms),
            (PURGE, |c| &mut c.final_at_ms),
            (LAPSE, |c| &mut c.lapse_at_ms),
        ];
        for (prefix, column) in schedules {
            for kv in self.scan(prefix) {
                let (k, _) = kv?;
                let at = scheduled_ms(&k)?;
                *column(columns.entry(text_from(&k, 9)?.to_owned()).or_default()) = Some(at);
            }
        }
        Ok(columns)
    }

    /// A message's sealed payload, from the tree or its file.
    fn sealed(&self, id: &MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(match self.payloads().locate(id)? {
            Some(Located::Inline(sealed)) => Some(sealed),
            Some(Located::File(len)) => Some(self.payloads().read_file(id, len)?),
            None => None,
        })
    }
}
