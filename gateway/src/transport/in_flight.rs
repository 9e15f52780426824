//! The bytes of request bodies held while they arrive, bounded per
//! participant and in total. A gRPC message is decoded only once it has
//! arrived whole, so a body that is announced large and sent slowly holds
//! its bytes in memory until the last one comes; without a bound, a handful
//! of such calls exhaust the gateway's memory (issue: 1.4 GiB in 2.4 s).
//!
//! Each body takes its bytes as they arrive ([`Held::take`]) and gives them
//! all back when it is dropped, whether it finished or not. A body that
//! would go over either bound is refused with the bound it would pass
//! ([`Exceeded`]); the API layer answers RESOURCE_EXHAUSTED.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::metrics::METRICS;

/// The bound a body would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// One participant's bodies together.
    #[error(
        "request bodies in flight for this participant would exceed {0} bytes ([limits] max_body_bytes_in_flight_per_participant); retry when its other calls have finished"
    )]
    Participant(u64),
    /// All bodies together.
    #[error(
        "request bodies in flight at the gateway would exceed {0} bytes ([limits] max_body_bytes_in_flight); retry shortly"
    )]
    Total(u64),
}

#[derive(Default)]
struct Counts {
    total: u64,
    by_participant: HashMap<String, u64>,
}

/// The bounds and what is held now.
pub struct BodyBudget {
    per_participant: u64,
    total: u64,
    counts: Mutex<Counts>,
}

impl BodyBudget {
    /// A budget of `per_participant` bytes for each participant and `total`
    /// bytes in all.
    pub fn new(per_participant: u64, total: u64) -> Arc<Self> {
        Arc::new(Self {
            per_participant,
            total,
            counts: Mutex::default(),
        })
    }

    /// What one body holds: nothing yet. `participant` names whose share it
    /// counts against (the caller's OIN, or its certificate for calls that
    /// need no directory entry); a body of nobody's counts towards the
    /// total only.
    pub fn hold(self: &Arc<Self>, participant: Option<String>) -> Held {
        Held {
            budget: self.clone(),
            participant,
            bytes: 0,
        }
    }

    /// Bytes held in all now.
    pub fn total_held(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: each update
        // is one step.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, participant: Option<&str>, bytes: u64) -> Result<(), Exceeded> {
        if bytes == 0 {
            return Ok(());
        }
        let mut counts = self.lock();
        if counts.total + bytes > self.total {
            return Err(Exceeded::Total(self.total));
        }
        if let Some(p) = participant {
            // A frame of a body already counted finds its entry without
            // allocating; only a holder's first bytes make one.
            match counts.by_participant.get_mut(p) {
                Some(held) if *held + bytes > self.per_participant => {
                    return Err(Exceeded::Participant(self.per_participant));
                }
                Some(held) => *held += bytes,
                None if bytes > self.per_participant => {
                    return Err(Exceeded::Participant(self.per_participant));
                }
                None => {
                    counts.by_participant.insert(p.to_owned(), bytes);
                }
            }
        }
        counts.total += bytes;
        METRICS.request_bytes_in_flight.inc_by(bytes as i64);
        Ok(())
    }

    fn give_back(&self, participant: Option<&str>, bytes: u64) {
        let mut counts = self.lock();
        counts.total -= bytes;
        if let Some(p) = participant
            && let Some(held) = counts.by_participant.get_mut(p)
        {
            *held -= bytes;
            if *held == 0 {
                counts.by_participant.remove(p);
            }
        }
        METRICS.request_bytes_in_flight.dec_by(bytes as i64);
    }
}

/// The bytes one request body holds; given back when dropped.
pub struct Held {
    budget: Arc<BodyBudget>,
    participant: Option<String>,
    bytes: u64,
}

impl Held {
    /// Takes `bytes` more for this body, or says which bound it would pass
    /// (and takes nothing).
    pub fn take(&mut self, bytes: u64) -> Result<(), Exceeded> {
        self.budget.take(self.participant.as_deref(), bytes)?;
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget
                .give_back(self.participant.as_deref(), self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_participant_is_bounded_by_its_own_share_and_everyone_by_the_total() {
        let budget = BodyBudget::new(100, 150);
        let mut a1 = budget.hold(Some("a".into()));
        let mut a2 = budget.hold(Some("a".into()));
        a1.take(60).unwrap();
        assert_eq!(a2.take(41), Err(Exceeded::Participant(100)));
        a2.take(40).unwrap();
        let mut b = budget.hold(Some("b".into()));
        assert_eq!(b.take(51), Err(Exceeded::Total(150)));
        let mut health = budget.hold(None);
        health.take(50).unwrap();
        assert_eq!(budget.total_held(), 150);
        // A refused take holds nothing; a dropped body gives all back.
        drop(a1);
        assert_eq!(budget.total_held(), 90);
        b.take(60).unwrap();
        drop((a2, b, health));
        assert_eq!(budget.total_held(), 0);
        assert!(budget.lock().by_participant.is_empty());
        assert!(
            Exceeded::Participant(100)
                .to_string()
                .contains("max_body_bytes_in_flight_per_participant")
        );
    }
}
