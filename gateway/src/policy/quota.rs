//! What one party may have the gateway hold for it undelivered: a bound on
//! the messages in an inbox, and on the bytes of payload waiting in an
//! inbox and sent by one sender. Without them one organisation could fill
//! the store's disk for everyone (a school sending large dossiers to
//! another school on a statutory basis needs no consent). Pure: the
//! engines count what is held and ask [`Quotas::admits`] inside the step
//! that accepts a message, so the counts and the decision are one.

use std::fmt;

/// The quotas in force, from the `limits` section of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// `limits.max_inbox_messages`.
    pub inbox_messages: u64,
    /// `limits.max_undelivered_bytes_per_inbox`.
    pub inbox_bytes: u64,
    /// `limits.max_undelivered_bytes_per_sender`.
    pub sender_bytes: u64,
}

/// What is held undelivered (waiting or leased) where a new message would
/// go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// Messages in the recipient's inbox.
    pub inbox_messages: u64,
    /// Payload bytes in the recipient's inbox.
    pub inbox_bytes: u64,
    /// Payload bytes the sender has waiting in all inboxes.
    pub sender_bytes: u64,
}

/// The quota a message would exceed; its text names the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The inbox holds as many messages as allowed.
    InboxMessages {
        /// The limit.
        limit: u64,
    },
    /// The inbox's payloads and this one would pass the limit.
    InboxBytes {
        /// The limit.
        limit: u64,
        /// What the inbox holds.
        held: u64,
    },
    /// The sender's undelivered payloads and this one would pass the limit.
    SenderBytes {
        /// The limit.
        limit: u64,
        /// What the sender has waiting.
        held: u64,
    },
}

impl Quotas {
    /// Whether a message of `payload_bytes` may join what is `held`; the
    /// first quota it would pass otherwise. A payload alone larger than a
    /// byte quota is refused too: it could never be held.
    pub fn admits(&self, held: Held, payload_bytes: u64) -> Result<(), Exceeded> {
        if held.inbox_messages >= self.inbox_messages {
            return Err(Exceeded::InboxMessages {
                limit: self.inbox_messages,
            });
        }
        if held.inbox_bytes.saturating_add(payload_bytes) > self.inbox_bytes {
            return Err(Exceeded::InboxBytes {
                limit: self.inbox_bytes,
                held: held.inbox_bytes,
            });
        }
        if held.sender_bytes.saturating_add(payload_bytes) > self.sender_bytes {
            return Err(Exceeded::SenderBytes {
                limit: self.sender_bytes,
                held: held.sender_bytes,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InboxMessages { limit } => write!(
                f,
                "the recipient's inbox holds {limit} undelivered messages, \
                 limits.max_inbox_messages; try again once it has pulled them"
            ),
            Self::InboxBytes { limit, held } => write!(
                f,
                "the recipient's inbox holds {held} bytes of undelivered payloads and this \
                 message would pass limits.max_undelivered_bytes_per_inbox ({limit}); try \
                 again once it has pulled them"
            ),
            Self::SenderBytes { limit, held } => write!(
                f,
                "you have {held} bytes of payloads waiting undelivered and this message \
                 would pass limits.max_undelivered_bytes_per_sender ({limit}); try again \
                 once your recipients have pulled them"
            ),
        }
    }
}

/// Payloads up to this size are "small": they are accepted below the
/// store's free-space reserve (`storage.min_free_bytes`), so that notices,
/// signals and replies of every party go on while large payloads wait.
pub const SMALL_PAYLOAD_BYTES: u64 = 64 * 1024;

/// Whether a payload of `payload_bytes` may be written where the store has
/// `free` bytes left and keeps `reserve` of them: a small one always, a
/// large one only while the reserve stays untouched after it.
pub fn fits_reserve(payload_bytes: u64, free: u64, reserve: u64) -> bool {
    payload_bytes <= SMALL_PAYLOAD_BYTES
        || free
            .checked_sub(payload_bytes)
            .is_some_and(|left| left >= reserve)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quotas = Quotas {
        inbox_messages: 3,
        inbox_bytes: 100,
        sender_bytes: 50,
    };

    fn held(inbox_messages: u64, inbox_bytes: u64, sender_bytes: u64) -> Held {
        Held {
            inbox_messages,
            inbox_bytes,
            sender_bytes,
        }
    }

    #[test]
    fn a_message_within_every_quota_is_admitted_up_to_the_byte() {
        assert_eq!(Q.admits(held(0, 0, 0), 50), Ok(()));
        assert_eq!(Q.admits(held(2, 50, 0), 50), Ok(()));
    }

    #[test]
    fn each_quota_is_named_when_passed() {
        assert_eq!(
            Q.admits(held(3, 0, 0), 1),
            Err(Exceeded::InboxMessages { limit: 3 })
        );
        assert_eq!(
            Q.admits(held(1, 60, 0), 41),
            Err(Exceeded::InboxBytes {
                limit: 100,
                held: 60
            })
        );
        assert_eq!(
            Q.admits(held(1, 0, 10), 41),
            Err(Exceeded::SenderBytes {
                limit: 50,
                held: 10
            })
        );
        let text = Q.admits(held(0, 0, 10), 41).unwrap_err().to_string();
        assert!(
            text.contains("limits.max_undelivered_bytes_per_sender"),
            "{text}"
        );
    }

    #[test]
    fn a_payload_larger_than_a_quota_is_refused_even_when_nothing_is_held() {
        assert!(Q.admits(held(0, 0, 0), 51).is_err());
        assert!(Q.admits(held(0, 0, 0), u64::MAX).is_err());
    }

    #[test]
    fn below_the_reserve_only_small_payloads_go_on() {
        let reserve = 1 << 20;
        assert!(fits_reserve(SMALL_PAYLOAD_BYTES, 0, reserve));
        assert!(!fits_reserve(SMALL_PAYLOAD_BYTES + 1, reserve, reserve));
        assert!(fits_reserve(
            SMALL_PAYLOAD_BYTES + 1,
            reserve + SMALL_PAYLOAD_BYTES + 1,
            reserve
        ));
        assert!(!fits_reserve(10 << 20, 5 << 20, 0));
    }
}
