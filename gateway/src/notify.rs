//! Wake-ups for calls that wait: a Pull on an empty inbox, an inbox stream, a
//! following Receipts stream; and withdrawal notices for inbox streams.
//!
//! These are in-process hints only. Every waiting call also polls the store
//! (see [`crate::exchange::POLL_INTERVAL`]), so several gateway instances over
//! one database stay correct; the hints only make one instance prompt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

/// A message a recipient held on a lease was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalNotice {
    /// The message.
    pub message_id: String,
    /// Why.
    pub reason: String,
    /// When (Unix ms).
    pub time_ms: i64,
}

/// The wake-up hub, shared by the exchange and the consent registry.
#[derive(Default)]
pub struct Notifier {
    inboxes: Mutex<HashMap<String, Arc<Notify>>>,
    receipts: Notify,
    withdrawals: Mutex<HashMap<String, broadcast::Sender<WithdrawalNotice>>>,
}

impl Notifier {
    /// The wake-up of one recipient's inbox.
    pub fn inbox(&self, recipient: &str) -> Arc<Notify> {
        self.inboxes
            .lock()
            .expect("notifier lock")
            .entry(recipient.to_owned())
            .or_default()
            .clone()
    }

    /// Wakes the waiters on one recipient's inbox.
    pub fn wake_inbox(&self, recipient: &str) {
        if let Some(n) = self.inboxes.lock().expect("notifier lock").get(recipient) {
            n.notify_waiters();
        }
    }

    /// The wake-up for receipt streams (any sender: they re-read their own).
    pub fn receipts(&self) -> &Notify {
        &self.receipts
    }

    /// Wakes every receipt stream.
    pub fn wake_receipts(&self) {
        self.receipts.notify_waiters();
    }

    /// Withdrawal notices for one recipient, from now on.
    pub fn withdrawals(&self, recipient: &str) -> broadcast::Receiver<WithdrawalNotice> {
        self.withdrawals
            .lock()
            .expect("notifier lock")
            .entry(recipient.to_owned())
            .or_insert_with(|| broadcast::channel(256).0)
            .subscribe()
    }

    /// Tells a recipient's inbox streams that a message was withdrawn.
    pub fn withdrawn(&self, recipient: &str, notice: WithdrawalNotice) {
        if let Some(tx) = self
            .withdrawals
            .lock()
            .expect("notifier lock")
            .get(recipient)
        {
            let _ = tx.send(notice);
        }
    }
}
