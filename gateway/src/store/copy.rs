//! Copying a whole store into another engine: when a deployment outgrows
//! one machine, a single gateway's sled store is copied into PostgreSQL
//! (`schakel-gateway migrate`). The audit chain must arrive as it was
//! written, sequence numbers and hashes unchanged, so a copy cannot replay
//! the trait's steps (they would place new entries): the source engine
//! reads out everything it holds as [`Item`]s, which the target engine
//! writes as they are.
//!
//! Items are engine-neutral: records as the model has them, and beside a
//! message the places and schedules that the engines keep in their indexes
//! ([`Columns`]).

use std::fmt;

use crate::model::{
    CaseRecord, Checkpoint, ConsentRecord, Entry, MessageRecord, NoticeDraft, Oin, Participant,
    TreeHead,
};

/// A message's place and schedules beside its record: sled keeps them as
/// index keys, PostgreSQL as columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Its place in its recipient's inbox, while it waits there.
    pub queue_seq: Option<i64>,
    /// The end of its lease, while leased.
    pub leased_until_ms: Option<i64>,
    /// Its expiry, while undelivered.
    pub expires_at_ms: Option<i64>,
    /// When it became final, while its payload waits for its retention.
    pub final_at_ms: Option<i64>,
    /// Its signal's lapse, while its payload waits for it.
    pub lapse_at_ms: Option<i64>,
}

/// A message as a copy carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCopy {
    /// Its record.
    pub record: MessageRecord,
    /// Where it waits and what it is scheduled for.
    pub columns: Columns,
    /// Its sealed payload, unless destroyed (copied sealed: the instances
    /// share the payload key).
    pub sealed: Option<Vec<u8>>,
}

/// One thing a store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An organisation of the directory.
    Participant(Participant),
    /// A consent, with the moment it ends while it waits for that.
    Consent {
        /// The consent.
        record: ConsentRecord,
        /// When its end withdraws the messages under it, while scheduled.
        ends_at_ms: Option<i64>,
    },
    /// A message.
    Message(Box<MessageCopy>),
    /// A case's record of its parties.
    Case(CaseRecord),
    /// A receipt as stored (unsigned, or signed by an older release).
    Receipt {
        /// The sender it is for.
        sender: Oin,
        /// Its cursor in the sender's stream.
        cursor: u64,
        /// The stored protobuf.
        receipt: Vec<u8>,
    },
    /// An audit entry, with when its child reference's retention starts
    /// while the reference waits to be erased.
    Entry {
        /// The entry, as placed in the chain.
        entry: Entry,
        /// When its child reference is to be erased from, while it is.
        erase_from_ms: Option<i64>,
    },
    /// The sequence number through which the child references of entries
    /// not about a signal were erased (those about a signal are scheduled
    /// by their entries' `erase_from_ms`).
    ErasedThrough(u64),
    /// A signed checkpoint of the chain.
    Checkpoint(Checkpoint),
    /// A node of the audit log's tree, as kept (nodes over entries removed
    /// after their retention cannot be made again from the entries).
    TreeNode {
        /// Its level (0: a leaf).
        level: u32,
        /// Its index at that level.
        index: u64,
        /// Its hash.
        hash: [u8; 32],
    },
    /// A signed tree head, as signed: the copy's receipts are proved under
    /// the heads their sender was given.
    TreeHead(TreeHead),
    /// The sequence number of the tree's first leaf.
    TreeFirst(u64),
    /// A notice scheduled for later; a message's overdue notice has no
    /// body (it is made from the message when due).
    Notice {
        /// When it is due.
        due_ms: i64,
        /// Its schedule id.
        id: String,
        /// The notice, unless made when due.
        notice: Option<NoticeDraft>,
    },
    /// A recipient's undelivered messages, waiting and leased.
    Counts {
        /// The recipient.
        recipient: Oin,
        /// Waiting.
        ready: u64,
        /// Leased.
        leased: u64,
    },
}

/// How many of each a store holds, or a copy carried: the copy is checked
/// by comparing the target's tally with the source's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Organisations.
    pub participants: u64,
    /// Consents.
    pub consents: u64,
    /// Case records.
    pub cases: u64,
    /// Messages.
    pub messages: u64,
    /// Payloads not destroyed.
    pub payloads: u64,
    /// Receipts.
    pub receipts: u64,
    /// Audit entries.
    pub entries: u64,
    /// Checkpoints.
    pub checkpoints: u64,
    /// Nodes of the audit log's tree.
    pub tree_nodes: u64,
    /// Signed tree heads.
    pub tree_heads: u64,
    /// Scheduled notices.
    pub notices: u64,
    /// Recipients with inbox counts.
    pub inboxes: u64,
}

impl Tally {
    /// Counts `item`.
    pub fn count(&mut self, item: &Item) {
        match item {
            Item::Participant(_) => self.participants += 1,
            Item::Consent { .. } => self.consents += 1,
            Item::Case(_) => self.cases += 1,
            Item::Message(m) => {
                self.messages += 1;
                self.payloads += u64::from(m.sealed.is_some());
            }
            Item::Receipt { .. } => self.receipts += 1,
            Item::Entry { .. } => self.entries += 1,
            Item::Checkpoint(_) => self.checkpoints += 1,
            Item::TreeNode { .. } => self.tree_nodes += 1,
            Item::TreeHead(_) => self.tree_heads += 1,
            Item::Notice { .. } => self.notices += 1,
            Item::Counts { .. } => self.inboxes += 1,
            Item::ErasedThrough(_) | Item::TreeFirst(_) => {}
        }
    }

    /// Everything counted.
    pub fn total(&self) -> u64 {
        self.participants
            + self.consents
            + self.messages
            + self.payloads
            + self.receipts
            + self.entries
            + self.checkpoints
            + self.tree_nodes
            + self.tree_heads
            + self.notices
            + self.inboxes
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} participants, {} consents, {} messages ({} with a payload), {} receipts, {} audit entries, {} checkpoints, {} tree nodes, {} tree heads, {} scheduled notices, {} inbox counts",
            self.participants,
            self.consents,
            self.messages,
            self.payloads,
            self.receipts,
            self.entries,
            self.checkpoints,
            self.tree_nodes,
            self.tree_heads,
            self.notices,
            self.inboxes
        )
    }
}

/// What a reader sends: the items, then the end with the tally of every
/// item sent. A copy is written only once its end has come, and only if
/// the tally of what arrived is the reader's: a reader that fails or dies
/// half-way leaves nothing behind.
#[derive(Debug)]
pub enum Part {
    /// One item (boxed: a message's is large).
    Item(Box<Item>),
    /// The end of the store, and how many of each were sent.
    End(Tally),
}

/// Where a reader sends its parts, and an error if reading failed: a
/// bounded channel, so that the copy of a large store holds no more than
/// the channel's few items and the writer's round in memory.
pub type Sink = tokio::sync::mpsc::Sender<Result<Part, crate::store::StoreError>>;

/// Where a writer takes the parts from.
pub type Source = tokio::sync::mpsc::Receiver<Result<Part, crate::store::StoreError>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_payloads_beside_messages_and_sums_everything() {
        let mut t = Tally::default();
        t.count(&Item::Counts {
            recipient: Oin::parse("00000001234567890000").unwrap(),
            ready: 1,
            leased: 0,
        });
        t.count(&Item::Notice {
            due_ms: 1,
            id: "x".into(),
            notice: None,
        });
        assert_eq!((t.inboxes, t.notices, t.total()), (1, 1, 2));
        assert!(t.to_string().contains("1 scheduled notices"), "{t}");
    }
}
