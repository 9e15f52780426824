//! What a write step does in the group's transaction: read a message (its
//! row locked) and write it back with the columns a life-cycle [`Change`]
//! moved, place audit entries in the chain, store receipts, keep the inbox
//! counts. The columns play the part of the sled engine's index keys.

use prost::Message as _;
use schakel_proto::v1 as pb;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::session::Session;
use super::writer::Tx;
use crate::crypto::Digest;
use crate::model::{ConsentId, ConsentRecord, Draft, Entry, Kind, MessageId, MessageRecord, Oin};
use crate::model::{NoticeType, Scheduled};
use crate::policy::quota::Held;
use crate::store::lifecycle::{Change, Event, Place, Schedule};
use crate::store::sealing::{Identifying, Sealing};
use crate::store::{AuditKey, OVERDUE_NOTICE, StoreError, receipts};

pub use crate::store::copy::Columns;

/// A message as a step holds it: its record, its columns, and whether its
/// row exists yet.
#[derive(Debug, Clone)]
pub struct MessageRow {
    /// The record.
    pub record: MessageRecord,
    /// Its columns.
    pub cols: Columns,
    /// Whether the row is stored (false: a message being accepted).
    pub stored: bool,
}

/// `value` of column `idx` of `row`, decoded from JSON; a value that does
/// not decode is [`StoreError::Corrupt`], named by `what`.
pub fn json<T: DeserializeOwned>(row: &Row, idx: usize, what: &str) -> Result<T, StoreError> {
    row.try_get::<_, Json<T>>(idx)
        .map(|j| j.0)
        .map_err(|e| StoreError::Corrupt {
            key: what.to_owned(),
            message: super::connection::detail(&e),
        })
}

/// A record of column `idx` of `row`, its sealed part opened as far as
/// its term allows ([`Sealing::from_value`]).
pub fn sealed<T: Identifying>(
    row: &Row,
    idx: usize,
    what: &str,
    sealing: &Sealing,
) -> Result<T, StoreError> {
    Ok(sealing.from_value(what.as_bytes(), json(row, idx, what)?)?)
}

/// An id read from a column; one that does not parse is
/// [`StoreError::Corrupt`].
pub fn parsed<T: std::str::FromStr<Err = crate::model::BadId>>(
    text: &str,
) -> Result<T, StoreError> {
    text.parse()
        .map_err(|e: crate::model::BadId| StoreError::Corrupt {
            key: text.to_owned(),
            message: e.to_string(),
        })
}

/// A stored receipt, decoded.
pub fn receipt_from(bytes: &[u8], what: &str) -> Result<pb::Receipt, StoreError> {
    pb::Receipt::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: what.to_owned(),
        message: e.to_string(),
    })
}

/// A count as a SQL `LIMIT`: "all" (`usize::MAX`) is the largest bigint,
/// not -1, which PostgreSQL refuses.
pub fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The keys the audit index rows of `e` are found by: `h`, the day its
/// term ends and its child's reference blinded under that day's key
/// ([`Sealing::child_index`]); `o` and an organisation's OIN.
pub fn about_keys(e: &Entry, sealing: &Sealing) -> Vec<Vec<u8>> {
    let child = child_key(e, sealing);
    let orgs = AuditKey::of(e).into_iter().filter_map(|about| match about {
        AuditKey::Org(o) => Some(org_key(&o)),
        AuditKey::Child(_) => None,
    });
    child.into_iter().chain(orgs).collect()
}

/// The key of `e`'s index row by child, while its term's key makes it.
pub fn child_key(e: &Entry, sealing: &Sealing) -> Option<Vec<u8>> {
    sealing
        .child_index(e)
        .map(|form| [b"h".as_slice(), &form].concat())
}

fn org_key(o: &Oin) -> Vec<u8> {
    [b"o".as_slice(), o.as_str().as_bytes()].concat()
}

/// The keys the entries about `about` may be found by at `now_ms`: an
/// organisation's one, a child's one for every day a term still running
/// can end on.
pub fn about_lookups(about: &AuditKey, sealing: &Sealing, now_ms: i64) -> Vec<Vec<u8>> {
    match about {
        AuditKey::Child(c) => sealing
            .child_lookups(c, now_ms)
            .iter()
            .map(|form| [b"h".as_slice(), form].concat())
            .collect(),
        AuditKey::Org(o) => vec![org_key(o)],
    }
}

/// A message row read as `record, queue_seq, leased_until_ms,
/// expires_at_ms, final_at_ms, lapse_at_ms`.
pub fn message_row(row: &Row, sealing: &Sealing) -> Result<MessageRow, StoreError> {
    let record: MessageRecord = sealed(row, 0, "message", sealing)?;
    Ok(MessageRow {
        cols: Columns {
            queue_seq: row.get(1),
            leased_until_ms: row.get(2),
            expires_at_ms: row.get(3),
            final_at_ms: row.get(4),
            lapse_at_ms: row.get(5),
        },
        record,
        stored: true,
    })
}

/// A message's receipts, oldest first, found through the cursors its record
/// lists.
pub async fn receipts_of(db: &Session, r: &MessageRecord) -> Result<Vec<pb::Receipt>, StoreError> {
    if r.receipt_cursors.is_empty() {
        return Ok(Vec::new());
    }
    let cursors: Vec<i64> = r.receipt_cursors.iter().map(|c| *c as i64).collect();
    db.query(
        "SELECT receipt FROM receipts WHERE sender = $1 AND cursor = ANY($2) ORDER BY cursor",
        &[&r.sender.as_str(), &cursors],
    )
    .await?
    .iter()
    .map(|row| receipt_from(row.get(0), r.id.as_str()))
    .collect()
}

/// A consent.
pub async fn consent_in(
    db: &Session,
    sealing: &Sealing,
    id: &ConsentId,
) -> Result<Option<ConsentRecord>, StoreError> {
    db.opt("SELECT record FROM consents WHERE id = $1", &[&id.as_str()])
        .await?
        .map(|row| sealed(&row, 0, id.as_str(), sealing))
        .transpose()
}

/// A recipient's (ready, leased) counts.
pub async fn counts_in(db: &Session, recipient: &Oin) -> Result<(u64, u64), StoreError> {
    Ok(db
        .opt(
            "SELECT ready, leased FROM inbox_counts WHERE recipient = $1",
            &[&recipient.as_str()],
        )
        .await?
        .map_or((0, 0), |row| {
            let (ready, leased): (i64, i64) = (row.get(0), row.get(1));
            (ready.max(0) as u64, leased.max(0) as u64)
        }))
}

/// What is held undelivered for `recipient`'s inbox and by `sender`: what
/// the quotas decide on.
pub async fn held_in(db: &Session, recipient: &Oin, sender: &Oin) -> Result<Held, StoreError> {
    let row = db
        .one(
            "SELECT coalesce((SELECT ready + leased FROM inbox_counts WHERE recipient = $1), 0),
                    coalesce((SELECT bytes FROM inbox_counts WHERE recipient = $1), 0),
                    coalesce((SELECT bytes FROM sender_bytes WHERE sender = $2), 0)",
            &[&recipient.as_str(), &sender.as_str()],
        )
        .await?;
    let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    Ok(Held {
        inbox_messages: n(0),
        inbox_bytes: n(1),
        sender_bytes: n(2),
    })
}

/// Writes an audit entry as placed, and its index rows, in one round of
/// the connection's pipeline; with `erase_from_ms`, its child reference is
/// scheduled for erasure from then.
pub async fn entry_rows(
    db: &Session,
    sealing: &Sealing,
    entry: &Entry,
    erase_from_ms: Option<i64>,
) -> Result<(), StoreError> {
    let seq = entry.seq as i64;
    let erase = async {
        if let Some(from) = erase_from_ms {
            db.execute(
                "INSERT INTO audit_erase (retention_from_ms, seq) VALUES ($1, $2)",
                &[&from, &seq],
            )
            .await?;
        }
        Ok(())
    };
    let about = about_keys(entry, sealing);
    let stored = sealing.to_value(entry)?;
    let indexed = async {
        if !about.is_empty() {
            db.execute(
                "INSERT INTO audit_about (about, seq) SELECT unnest($1::bytea[]), $2",
                &[&about, &seq],
            )
            .await?;
        }
        Ok(())
    };
    let stored = async {
        db.execute(
            "INSERT INTO audit (seq, entry) VALUES ($1, $2)",
            &[&seq, &Json(&stored)],
        )
        .await
    };
    tokio::try_join!(erase, indexed, stored)?;
    Ok(())
}

/// Stores a receipt, encoded, for `sender` under `cursor`.
pub async fn insert_receipt(
    db: &Session,
    sender: &Oin,
    cursor: u64,
    receipt: &[u8],
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO receipts (sender, cursor, receipt) VALUES ($1, $2, $3)",
        &[&sender.as_str(), &(cursor as i64), &receipt],
    )
    .await?;
    Ok(())
}

/// Inserts a message's row.
pub async fn insert_message(
    db: &Session,
    sealing: &Sealing,
    r: &MessageRecord,
    c: &Columns,
) -> Result<(), StoreError> {
    let stored = sealing.to_value(r)?;
    db.execute(
        "INSERT INTO messages (id, sender, client_reference, recipient, case_id,
             consent_id, created_at_ms, queue_seq, leased_until_ms, expires_at_ms,
             final_at_ms, lapse_at_ms, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &r.id.as_str(),
            &r.sender.as_str(),
            &r.client_reference,
            &r.recipient.as_str(),
            &r.case_id.as_str(),
            &r.consent_id().map(ConsentId::as_str),
            &r.created_at_ms,
            &c.queue_seq,
            &c.leased_until_ms,
            &c.expires_at_ms,
            &c.final_at_ms,
            &c.lapse_at_ms,
            &Json(&stored),
        ],
    )
    .await?;
    Ok(())
}

/// The change of one schedule column.
fn schedule(col: &mut Option<i64>, s: Option<Schedule>) {
    match s {
        Some(Schedule::Add(at)) => *col = Some(at),
        Some(Schedule::Remove(_)) => *col = None,
        None => {}
    }
}

impl Tx {
    /// A message, its row locked for the rest of the group.
    pub async fn message(&self, id: &MessageId) -> Result<Option<MessageRow>, StoreError> {
        self.db
            .opt(
                "SELECT record, queue_seq, leased_until_ms, expires_at_ms, final_at_ms, lapse_at_ms FROM messages WHERE id = $1 FOR UPDATE",
                &[&id.as_str()],
            )
            .await?
            .as_ref()
            .map(|row| message_row(row, &self.sealing))
            .transpose()
    }

    /// A consent.
    pub async fn consent(&self, id: &ConsentId) -> Result<Option<ConsentRecord>, StoreError> {
        consent_in(&self.db, &self.sealing, id).await
    }

    /// The sequence number the next audit entry gets.
    pub fn next_audit_seq(&self) -> u64 {
        self.head.seq + 1
    }

    /// Places an audit entry in the chain; returns its sequence number. An
    /// entry about a signal that holds a child reference enters the
    /// schedule of its erasure, from the signal's lapse.
    pub async fn audit(&mut self, draft: Draft) -> Result<u64, StoreError> {
        let entry = self.place(draft);
        self.write_entry(&entry).await?;
        Ok(entry.seq)
    }

    /// Places an audit entry at the chain's head without writing it yet
    /// (the step writes it, or fails and the head goes back).
    fn place(&mut self, draft: Draft) -> Entry {
        self.place_with(draft, None).0
    }

    /// Places an audit entry whose event gave the receipt of digest
    /// `receipt_digest`, and its leaf in the log's tree; returns the entry
    /// and its hash.
    fn place_with(&mut self, draft: Draft, receipt_digest: Option<Digest>) -> (Entry, Digest) {
        let mut entry = Entry::place(draft, self.head.seq, self.head.hash, self.now_ms);
        entry.receipt_digest = receipt_digest;
        let hash = entry.hash();
        self.head.seq = entry.seq;
        self.head.hash = hash;
        let completed = self.head.tree.push(entry.leaf(&hash));
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(completed);
        (entry, hash)
    }

    /// Writes a placed entry and its index rows; an entry about a signal
    /// that holds a child reference enters the schedule of its erasure,
    /// from the signal's lapse.
    async fn write_entry(&self, entry: &Entry) -> Result<(), StoreError> {
        let erase_from = (entry.child_ref.is_some() && entry.kind == Some(Kind::Signalering))
            .then(|| entry.retention_start_ms());
        entry_rows(&self.db, &self.sealing, entry, erase_from).await
    }

    /// Stores a receipt for `sender` under its cursor.
    async fn write_receipt(&self, sender: &Oin, receipt: &pb::Receipt) -> Result<(), StoreError> {
        let cursor = receipt.audit_sequence;
        insert_receipt(&self.db, sender, cursor, &receipt.encode_to_vec()).await
    }

    /// Adds to a recipient's (ready, leased) counts and held bytes, and to
    /// its sender's held bytes.
    async fn count(
        &self,
        r: &MessageRecord,
        (ready, leased, bytes): (i64, i64, i64),
    ) -> Result<(), StoreError> {
        let inbox = async {
            if (ready, leased, bytes) != (0, 0, 0) {
                self.db
                    .execute(
                        "INSERT INTO inbox_counts (recipient, ready, leased, bytes)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (recipient) DO UPDATE
                         SET ready = inbox_counts.ready + excluded.ready,
                             leased = inbox_counts.leased + excluded.leased,
                             bytes = greatest(inbox_counts.bytes + excluded.bytes, 0)",
                        &[&r.recipient.as_str(), &ready, &leased, &bytes],
                    )
                    .await?;
            }
            Ok::<_, StoreError>(())
        };
        let sender = async {
            if bytes != 0 {
                self.db
                    .execute(
                        "INSERT INTO sender_bytes (sender, bytes) VALUES ($1, greatest($2::bigint, 0))
                         ON CONFLICT (sender) DO UPDATE
                         SET bytes = greatest(sender_bytes.bytes + $2::bigint, 0)",
                        &[&r.sender.as_str(), &bytes],
                    )
                    .await?;
            }
            Ok(())
        };
        tokio::try_join!(inbox, sender)?;
        Ok(())
    }

    /// Applies what a life-cycle transition of `m` changes, stores it, and
    /// returns the receipt it gave the sender, if any. What the transition
    /// writes is decided first; the writes then go out together, in one
    /// round of the connection's pipeline (none depends on another).
    pub async fn apply(
        &mut self,
        m: &mut MessageRow,
        change: Change,
    ) -> Result<Option<pb::Receipt>, StoreError> {
        let (mut ready, mut leased) = (0, 0);
        for (place, sign) in [(change.leaves, -1), (change.enters, 1)] {
            match place {
                Some(Place::Inbox { queue_seq }) => {
                    m.cols.queue_seq = (sign > 0).then_some(queue_seq as i64);
                    ready += sign;
                }
                Some(Place::Leased { until_ms }) => {
                    m.cols.leased_until_ms = if sign > 0 { until_ms } else { None };
                    leased += sign;
                }
                None => {}
            }
        }
        let bytes = change.held_bytes(m.record.payload_bytes);
        schedule(&mut m.cols.expires_at_ms, change.expiry);
        schedule(&mut m.cols.final_at_ms, change.retention);
        schedule(&mut m.cols.lapse_at_ms, change.lapse);
        if change.destroy_payload {
            // Nothing is left to destroy at its lapse.
            m.cols.lapse_at_ms = None;
        }
        let (entry, receipt) = match change.event {
            Some(Event {
                audit,
                receipt: Some(detail),
            }) => {
                // The receipt's cursor is its entry's sequence number
                // ([`receipts::unsigned`]); it names its entry's leaf, and
                // is stored unsigned, as every engine stores it
                // ([`receipts::seal`]).
                let seq = self.next_audit_seq();
                let mut r = receipts::unsigned(&m.record, &detail, seq, self.now_ms);
                let digest = Digest(schakel_proto::receipt::leaf_digest(&r));
                let (entry, hash) = self.place_with(audit, Some(digest));
                receipts::place(&mut r, &hash, seq - self.head.tree_first);
                m.record.receipt_cursors.push(seq);
                (Some(entry), Some(r))
            }
            Some(Event {
                audit,
                receipt: None,
            }) => (Some(self.place(audit)), None),
            None => (None, None),
        };
        let this = &*self;
        let row = &*m;
        let destroyed = async {
            if change.destroy_payload {
                this.db
                    .execute(
                        "DELETE FROM payloads WHERE message_id = $1",
                        &[&row.record.id.as_str()],
                    )
                    .await?;
            }
            Ok(())
        };
        let audited = async {
            match &entry {
                Some(e) => this.write_entry(e).await,
                None => Ok(()),
            }
        };
        let receipted = async {
            match &receipt {
                Some(r) => this.write_receipt(&row.record.sender, r).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(
            this.count(&row.record, (ready, leased, bytes)),
            destroyed,
            audited,
            receipted,
            this.put(row),
        )?;
        m.stored = true;
        Ok(receipt)
    }

    /// Applies several changes of `m` in order; returns the first receipt.
    pub async fn apply_all(
        &mut self,
        m: &mut MessageRow,
        changes: Vec<Change>,
    ) -> Result<Option<pb::Receipt>, StoreError> {
        let mut first = None;
        for change in changes {
            let receipt = self.apply(m, change).await?;
            first = first.or(receipt);
        }
        Ok(first)
    }

    /// Writes `m`'s row: inserted the first time, updated after.
    async fn put(&self, m: &MessageRow) -> Result<(), StoreError> {
        let r = &m.record;
        let c = &m.cols;
        if m.stored {
            self.db
                .execute(
                    "UPDATE messages SET queue_seq = $2, leased_until_ms = $3, expires_at_ms = $4,
                         final_at_ms = $5, lapse_at_ms = $6, record = $7
                     WHERE id = $1",
                    &[
                        &r.id.as_str(),
                        &c.queue_seq,
                        &c.leased_until_ms,
                        &c.expires_at_ms,
                        &c.final_at_ms,
                        &c.lapse_at_ms,
                        &Json(&self.sealing.to_value(r)?),
                    ],
                )
                .await?;
        } else {
            insert_message(&self.db, &self.sealing, r, c).await?;
        }
        Ok(())
    }

    /// Schedules a notice. A message's overdue notice is kept without a
    /// body, and made from the message when it is due.
    pub async fn schedule_notice(&self, s: &Scheduled) -> Result<(), StoreError> {
        let n = &s.notice;
        if let (NoticeType::MessageOverdue, [id]) = (n.notice_type, n.message_ids.as_slice()) {
            self.db
                .execute(
                    "INSERT INTO notices (due_ms, id, notice) VALUES ($1, $2, NULL)",
                    &[&s.at_ms, &format!("{OVERDUE_NOTICE}{id}")],
                )
                .await?;
            return Ok(());
        }
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        self.db
            .execute(
                "INSERT INTO notices (due_ms, id, notice) VALUES ($1, $2, $3)",
                &[&s.at_ms, &id, &Json(n)],
            )
            .await?;
        Ok(())
    }
}
