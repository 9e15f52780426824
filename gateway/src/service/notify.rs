//! Wake-ups for calls that wait: a Pull on an empty inbox, an inbox stream, a
//! following Receipts stream; and withdrawal notices for inbox streams.
//!
//! These are in-process hints only. Every waiting call also polls the store
//! every [`POLL_INTERVAL`], so several gateway instances over one database
//! stay correct; the hints only make one instance prompt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use crate::model::{MessageId, MessageRecord, Oin};
use crate::store::Withdrawn;

/// How often waiting calls look at the store even without a wake-up, so that
/// messages accepted by another gateway instance (sharing a database) are
/// seen too.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A message a recipient held on a lease was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalNotice {
    /// The message.
    pub message_id: MessageId,
    /// Why.
    pub reason: String,
    /// When (Unix ms).
    pub time_ms: i64,
}

/// The wake-up hub, shared by the exchange and the consent registry.
#[derive(Default)]
pub struct Notifier {
    inboxes: Mutex<HashMap<Oin, Arc<Notify>>>,
    receipts: Notify,
    withdrawals: Mutex<HashMap<Oin, broadcast::Sender<WithdrawalNotice>>>,
}

/// A map behind a lock that a panic elsewhere cannot make unusable: its
/// entries are wake-up handles, valid whatever happened.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// The wake-up of one recipient's inbox.
    pub fn inbox(&self, recipient: &Oin) -> Arc<Notify> {
        locked(&self.inboxes)
            .entry(recipient.clone())
            .or_default()
            .clone()
    }

    /// Wakes the waiters on one recipient's inbox.
    pub fn wake_inbox(&self, recipient: &Oin) {
        if let Some(n) = locked(&self.inboxes).get(recipient) {
            n.notify_waiters();
        }
    }

    /// Waits until `recipient`'s inbox may have something new, or the poll
    /// interval passes.
    pub async fn inbox_changed(&self, recipient: &Oin) {
        let notify = self.inbox(recipient);
        let _ = tokio::time::timeout(POLL_INTERVAL, notify.notified()).await;
    }

    /// Wakes every receipt stream (each re-reads its own receipts).
    pub fn wake_receipts(&self) {
        self.receipts.notify_waiters();
    }

    /// Waits until new receipts may exist, or the poll interval passes.
    pub async fn receipts_changed(&self) {
        let _ = tokio::time::timeout(POLL_INTERVAL, self.receipts.notified()).await;
    }

    /// Withdrawal notices for one recipient, from now on.
    pub fn withdrawals(&self, recipient: &Oin) -> broadcast::Receiver<WithdrawalNotice> {
        locked(&self.withdrawals)
            .entry(recipient.clone())
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe()
    }

    /// Announces withdrawn messages: wakes receipt streams, and tells the
    /// recipients that held them on a lease to delete their copies.
    pub fn announce_withdrawals(&self, withdrawn: &[Withdrawn]) {
        if withdrawn.is_empty() {
            return;
        }
        self.wake_receipts();
        for w in withdrawn.iter().filter(|w| w.was_leased) {
            self.announce_withdrawal(&w.record);
        }
    }

    /// Tells `r`'s recipient's open inbox streams that `r`, which it may
    /// hold leased, was withdrawn.
    pub fn announce_withdrawal(&self, r: &MessageRecord) {
        if let Some(tx) = locked(&self.withdrawals).get(&r.recipient) {
            let _ = tx.send(WithdrawalNotice {
                message_id: r.id.clone(),
                reason: r.final_detail.clone(),
                time_ms: r.final_at_ms.unwrap_or_default(),
            });
        }
    }
}
