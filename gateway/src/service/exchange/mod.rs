//! The exchange: send, pull, subscribe, acknowledge, reject, the sender's
//! view of its messages and receipts, and the sweeper.
//!
//! This is where the concerns meet: the rules (content, routing, statutes,
//! consent), the directory, the keys (child reference, payload encryption)
//! and the store (one durable step per decision).
//!
//! | file | part |
//! | --- | --- |
//! | `send` | a Send, from the checked request to the stored message |
//! | `reserve` | the store's free-space reserve, checked before a large payload |
//! | `batch` | many sends or acknowledgements in one call |
//! | `basis` | the legal basis a Send travels under, checked |
//! | `cases` | the case a message joins; the messages of a case |
//! | `parties` | the parties of a case: added, leaving, removed |
//! | `delivery` | pull, subscribe, ack, reject |
//! | `tracking` | status and the receipt stream of a sender |
//! | `even_time` | NOT_FOUND about an id in the same time, whether it exists or not |
//! | `sweep` | leases that ran out, expiry, lapsed consents, retention |
//! | `notices` | the gateway's notices, posted when due |

mod basis;
mod batch;
mod cases;
mod delivery;
mod even_time;
mod notices;
mod parties;
pub mod reserve;
mod send;
mod sweep;
mod tracking;

use std::sync::Arc;

use schakel_proto::v1 as pb;

use super::directory::Directory;
use super::notify::{Notifier, WithdrawalNotice};
use super::refusals::Refusals;
use crate::clock::Clock;
use crate::config::{Config, ExchangeConfig, LimitsConfig};
use crate::crypto::{ChildKey, PayloadKey};
use crate::model::{CaseId, ConsentRecord, MessageId, MessageRecord, State};
use crate::policy::routing::Policy;
use crate::policy::send::ExpiryRule;
use crate::policy::statutes::StatutePolicy;
use crate::store::Store;

/// A case's messages the caller may see, and its record of parties.
pub struct CaseView {
    /// The messages, oldest first.
    pub messages: Vec<MessageRecord>,
    /// The case's record, if it ever had a party.
    pub record: Option<crate::model::CaseRecord>,
    /// The parties whose part ended with their basis (a consent revoked or
    /// lapsed) though nobody ended it: when, and why.
    pub basis_ended: std::collections::HashMap<crate::model::Oin, (i64, String)>,
}

/// The answer to a send.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The message id.
    pub message_id: MessageId,
    /// The signed ACCEPTED receipt.
    pub receipt: pb::Receipt,
    /// True when this repeated an earlier identical send.
    pub duplicate: bool,
    /// The case the message belongs to.
    pub case_id: CaseId,
}

/// A leased message, decrypted, ready to hand to the recipient.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The stored metadata.
    pub record: MessageRecord,
    /// The payload bytes as the sender sent them (a serialized Payload).
    pub payload: Vec<u8>,
    /// The consent it travels under, if any, whose scope the recipient is
    /// shown.
    pub consent: Option<ConsentRecord>,
    /// Counts its payload as in flight while a stream holds it unsent.
    pub held: Option<Held>,
}

/// A delivery's payload bytes counted in flight until it is handed out (or
/// dropped): what stalled streams hold is visible to operators.
#[derive(Debug)]
pub struct Held(i64);

impl Held {
    /// Counts `bytes` in flight.
    pub fn new(bytes: u64) -> Self {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        crate::metrics::METRICS.bytes_in_flight.inc_by(bytes);
        Self(bytes)
    }
}

impl Clone for Held {
    fn clone(&self) -> Self {
        Self::new(self.0 as u64)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        crate::metrics::METRICS.bytes_in_flight.dec_by(self.0);
    }
}

/// What an Ack or Reject achieved.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The message's final state.
    pub state: State,
    /// The sender's receipt for it (none for a notice).
    pub receipt: Option<pb::Receipt>,
    /// A human explanation.
    pub detail: String,
}

/// What an inbox stream carries.
#[derive(Debug, Clone)]
pub enum InboxEvent {
    /// A message, leased to the subscriber.
    Delivery(Box<Delivery>),
    /// A message the subscriber holds was withdrawn: delete it.
    Withdrawal(WithdrawalNotice),
}

/// The gateway's own keys the exchange uses.
#[derive(Clone)]
pub struct Keys {
    /// Encrypts payloads at rest.
    pub payload: Arc<PayloadKey>,
    /// Turns a BSN into a child reference.
    pub child: Arc<ChildKey>,
}

/// What the queues hold, for the Admin service and the metrics.
#[derive(Debug, Clone)]
pub struct QueueFigures {
    /// Each inbox with undelivered messages.
    pub inboxes: Vec<crate::store::InboxFigures>,
    /// Each sender with payload bytes held undelivered.
    pub senders: Vec<(crate::model::Oin, u64)>,
    /// Bytes the store occupies on disk.
    pub store_bytes: u64,
    /// Bytes left above the free-space reserve (negative below it); None
    /// for a database without a bound.
    pub headroom_bytes: Option<i64>,
}

/// Everything the exchange needs, built once at start.
pub struct Exchange {
    store: Arc<dyn Store>,
    directory: Directory,
    routing: Policy,
    statutes: StatutePolicy,
    keys: Keys,
    limits: LimitsConfig,
    reserve: reserve::Reserve,
    config: ExchangeConfig,
    notifier: Arc<Notifier>,
    refusals: Refusals,
    clock: Clock,
}

impl Exchange {
    /// Assembles the exchange from the configuration's routing, statutes,
    /// limits and exchange sections.
    pub fn new(
        store: Arc<dyn Store>,
        directory: Directory,
        keys: Keys,
        config: &Config,
        notifier: Arc<Notifier>,
        refusals: Refusals,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            directory,
            routing: Policy::new(config.routing.clone()),
            statutes: StatutePolicy::new(config.statutes.clone()),
            keys,
            limits: config.limits.clone(),
            reserve: reserve::Reserve::new(&config.storage),
            config: config.exchange.clone(),
            notifier,
            refusals,
            clock,
        }
    }

    /// The clock the exchange runs by.
    pub fn clock(&self) -> &Clock {
        &self.clock
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
}
