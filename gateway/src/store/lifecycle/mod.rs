//! The message life cycle, written once: pure functions over records that
//! decide each transition (accept, lease, requeue, finish, expire, withdraw,
//! purge, and a consent's revocation) and say what it changes. Every storage
//! engine calls them inside one atomic step and applies the [`Change`] they
//! return its own way (sled: index keys; a database: columns).
//!
//! ```text
//!            accept            lease                 ack / reject
//!   (new) ──────────▶ Ready ──────────▶ Leased ──────────────────▶ Delivered / Rejected
//!                       ▲   ◀──────────   │
//!                       │     requeue     │
//!                       │  (lease ran out)│
//!           expire ◀────┴──── withdraw ───┴────▶ Expired / Withdrawn
//!
//!   any final state ──purge (after retention, at once when withdrawn)──▶ payload destroyed
//! ```
//!
//! A transition that does not apply to the record's state is [`Illegal`]:
//! engines meet those only through stale index entries, and skip them.

use crate::model::{
    Action, Actor, ConsentRecord, Draft, MessageRecord, Oin, Outcome, State, withheld,
};
use crate::policy::consent::{Unmet, unusable};

/// Where an undelivered message waits; what engines index it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In its recipient's inbox, at this position (first in, first out).
    Inbox {
        /// The position.
        queue_seq: u64,
    },
    /// Leased to its recipient until this moment.
    Leased {
        /// Unix ms. None only for a damaged record that lost its lease end:
        /// it leaves its lease all the same.
        until_ms: Option<i64>,
    },
}

/// An entry in one of the time-ordered schedules engines keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Enter the schedule at this moment (Unix ms).
    Add(i64),
    /// Leave the schedule, where it was entered at this moment.
    Remove(i64),
}

/// What is recorded about a transition: its audit entry and, when the
/// sender is told, the detail of the receipt for the record's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The audit entry.
    pub audit: Draft,
    /// The receipt's detail, when the transition gives the sender a receipt
    /// (for the state the record is in after it). The receipt names the
    /// audit entry's sequence number.
    pub receipt: Option<String>,
}

/// What a transition changes besides the record itself. The engine applies
/// all of it, and stores the record, in the same atomic step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// The place the message leaves.
    pub leaves: Option<Place>,
    /// The place the message enters.
    pub enters: Option<Place>,
    /// The schedule of undelivered messages by expiry.
    pub expiry: Option<Schedule>,
    /// The schedule of payloads waiting for their retention to pass, by the
    /// moment their message reached its final state.
    pub retention: Option<Schedule>,
    /// The schedule of signals by the moment they lapse, when their
    /// content is destroyed at the latest.
    pub lapse: Option<Schedule>,
    /// Whether the payload is destroyed in this step.
    pub destroy_payload: bool,
    /// The audit entry and receipt.
    pub event: Option<Event>,
}

impl Change {
    /// What this change does to the payload bytes held undelivered
    /// (waiting or leased), which the engines count per recipient and per
    /// sender for the quotas ([`crate::policy::quota`]): a message that
    /// enters a place without leaving one adds its `payload_bytes`, one that
    /// leaves without entering another takes them away, one that moves
    /// between the inbox and a lease changes nothing.
    pub fn held_bytes(&self, payload_bytes: u64) -> i64 {
        let bytes = i64::try_from(payload_bytes).unwrap_or(i64::MAX);
        match (self.leaves, self.enters) {
            (None, Some(_)) => bytes,
            (Some(_), None) => -bytes,
            _ => 0,
        }
    }
}

/// Whether `r`'s recipient holds it: it was handed over and then delivered
/// or rejected (a message still leased is withdrawn instead, and its
/// acknowledgement says so). Those recipients are told when its consent is
/// revoked.
pub fn held_by_recipient(r: &MessageRecord) -> bool {
    r.attempts > 0 && matches!(r.state, State::Delivered | State::Rejected)
}

/// A transition that does not apply to a record in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Illegal {
    /// Only a new message can be accepted.
    #[error("only a new message can be accepted")]
    NotNew,
    /// Only a waiting message can be leased.
    #[error("a {0:?} message cannot be leased")]
    NotReady(State),
    /// The lease that ran out is not the message's current lease.
    #[error("the lease that ran out is not the message's current one")]
    StaleLease,
    /// The message already reached a final state.
    #[error("the message is already {0:?}")]
    Final(State),
    /// Only a finished message's payload is purged.
    #[error("a {0:?} message's payload is not purged")]
    NotFinal(State),
    /// The payload is gone already.
    #[error("the payload was destroyed already")]
    AlreadyPurged,
    /// The signal lapses later than the schedule entry said (extended).
    #[error("the signal has not lapsed yet")]
    NotLapsed,
}

/// The detail of the receipt a transition of `r` gives its sender: every
/// message an organisation sent has receipts; the gateway's notices have
/// none (their sender is the gateway itself).
fn receipt_for(r: &MessageRecord, detail: &str) -> Option<String> {
    r.kind.is_sent_by_organisations().then(|| detail.to_owned())
}

/// Accepts a new message at queue position `queue_seq`, which is the
/// sequence number its audit entry `audit` will get.
pub fn accept(r: &mut MessageRecord, queue_seq: u64, audit: Draft) -> Result<Change, Illegal> {
    if r.state != State::Ready || r.queue_seq != 0 || r.attempts != 0 {
        return Err(Illegal::NotNew);
    }
    r.queue_seq = queue_seq;
    Ok(Change {
        enters: Some(Place::Inbox { queue_seq }),
        expiry: Some(Schedule::Add(r.expires_at_ms)),
        lapse: r.lapses_at_ms.map(Schedule::Add),
        event: Some(Event {
            audit,
            receipt: receipt_for(r, ""),
        }),
        ..Change::default()
    })
}

/// What became of a waiting message its recipient asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leasing {
    /// Leased to its recipient.
    Leased(Change),
    /// It was past its expiry: expired instead.
    Expired(Change),
    /// Its consent no longer holds: withdrawn instead (and its payload
    /// destroyed).
    Withdrawn(Vec<Change>),
}

/// Leases a waiting message to its recipient until `now_ms + lease_ms`,
/// unless it is past its expiry or its consent no longer holds (consent is
/// checked again at delivery). `consent` is the consent it travels under, as
/// stored (None: not registered), when it travels under one.
pub fn lease(
    r: &mut MessageRecord,
    consent: Option<&ConsentRecord>,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Leasing, Illegal> {
    if r.state != State::Ready {
        return Err(Illegal::NotReady(r.state));
    }
    if r.expires_at_ms <= now_ms {
        return expire(r, now_ms).map(Leasing::Expired);
    }
    if let Some(id) = r.consent_id() {
        let problem = match consent {
            None => Some(Unmet(format!("consent {id} is not registered"))),
            Some(c) => unusable(c, now_ms),
        };
        if let Some(problem) = problem {
            let detail = format!("checked at delivery: {problem}");
            return withdraw(r, Actor::Gateway, &detail, now_ms).map(Leasing::Withdrawn);
        }
    }
    let leaves = Place::Inbox {
        queue_seq: r.queue_seq,
    };
    let until_ms = now_ms + lease_ms;
    r.state = State::Leased;
    r.attempts += 1;
    r.lease_until_ms = Some(until_ms);
    let audit = Draft::about(r.recipient.clone(), Action::Leased, r)
        .detail(format!("attempt {}", r.attempts));
    Ok(Leasing::Leased(Change {
        leaves: Some(leaves),
        enters: Some(Place::Leased {
            until_ms: Some(until_ms),
        }),
        event: Some(Event {
            audit,
            receipt: None,
        }),
        ..Change::default()
    }))
}

/// Returns a message whose lease until `until_ms` ran out to its place in
/// the inbox, for another attempt. No audit entry: the next lease has one.
pub fn requeue(r: &mut MessageRecord, until_ms: i64) -> Result<Change, Illegal> {
    if r.state != State::Leased || r.lease_until_ms != Some(until_ms) {
        return Err(Illegal::StaleLease);
    }
    r.state = State::Ready;
    r.lease_until_ms = None;
    Ok(Change {
        leaves: Some(Place::Leased {
            until_ms: Some(until_ms),
        }),
        enters: Some(Place::Inbox {
            queue_seq: r.queue_seq,
        }),
        ..Change::default()
    })
}

/// Takes an undelivered message out of the queue into a final state; the
/// record, its receipt and its audit entry get the same `detail`.
fn finalise(
    r: &mut MessageRecord,
    state: State,
    actor: Actor,
    action: Action,
    detail: &str,
    now_ms: i64,
) -> Result<Change, Illegal> {
    finalise_noted(r, state, actor, action, (detail, detail), now_ms)
}

/// [`finalise`], with the record and receipt's detail and the audit
/// entry's apart: the audit chain keeps nothing a caller typed.
fn finalise_noted(
    r: &mut MessageRecord,
    state: State,
    actor: Actor,
    action: Action,
    (detail, audit_detail): (&str, &str),
    now_ms: i64,
) -> Result<Change, Illegal> {
    let leaves = match r.state {
        State::Ready => Place::Inbox {
            queue_seq: r.queue_seq,
        },
        State::Leased => Place::Leased {
            until_ms: r.lease_until_ms,
        },
        state => return Err(Illegal::Final(state)),
    };
    r.state = state;
    r.lease_until_ms = None;
    r.final_at_ms = Some(now_ms);
    r.final_detail = detail.to_owned();
    Ok(Change {
        leaves: Some(leaves),
        expiry: Some(Schedule::Remove(r.expires_at_ms)),
        retention: Some(Schedule::Add(now_ms)),
        event: Some(Event {
            audit: Draft::about(actor, action, r).detail(audit_detail),
            receipt: receipt_for(r, detail),
        }),
        ..Change::default()
    })
}

/// Expires an undelivered message: the sender gets an EXPIRED receipt.
pub fn expire(r: &mut MessageRecord, now_ms: i64) -> Result<Change, Illegal> {
    finalise(
        r,
        State::Expired,
        Actor::Gateway,
        Action::Expired,
        "not delivered before its expiry",
        now_ms,
    )
}

/// Withdraws an undelivered message whose consent no longer holds: the
/// sender gets a WITHDRAWN receipt, and the payload is destroyed at once.
pub fn withdraw(
    r: &mut MessageRecord,
    actor: Actor,
    detail: &str,
    now_ms: i64,
) -> Result<Vec<Change>, Illegal> {
    let finalised = finalise(
        r,
        State::Withdrawn,
        actor,
        Action::Withdrawn,
        detail,
        now_ms,
    )?;
    if r.payload_purged {
        // Only a damaged record is purged before it is final; nothing to destroy.
        return Ok(vec![finalised]);
    }
    let purged = purge(r, "payload destroyed: its consent no longer holds")?;
    Ok(vec![finalised, purged])
}

/// Destroys a finished message's payload; its metadata stays.
pub fn purge(r: &mut MessageRecord, detail: &str) -> Result<Change, Illegal> {
    let Some(final_at) = r.final_at_ms.filter(|_| r.state.is_final()) else {
        return Err(Illegal::NotFinal(r.state));
    };
    if r.payload_purged {
        return Err(Illegal::AlreadyPurged);
    }
    r.payload_purged = true;
    let audit = Draft {
        counterpart: Some(r.sender.clone()),
        legal_basis: None,
        ..Draft::about(Actor::Gateway, Action::Purged, r)
    }
    .detail(detail);
    Ok(Change {
        retention: Some(Schedule::Remove(final_at)),
        destroy_payload: true,
        event: Some(Event {
            audit,
            receipt: None,
        }),
        ..Change::default()
    })
}

/// Destroys a lapsed signal's payload (the end of its last valid day),
/// whatever its retention: a signal's content does not outlive it. It
/// expired at the latest when it lapsed, so it is final by then. A signal
/// whose lapse was moved later (extended) is not lapsed at `now_ms` yet,
/// whatever schedule entry is found for its earlier lapse.
pub fn purge_at_lapse(r: &mut MessageRecord, now_ms: i64) -> Result<Change, Illegal> {
    if r.lapses_at_ms.is_some_and(|l| l > now_ms) {
        return Err(Illegal::NotLapsed);
    }
    purge(r, "payload destroyed: the signal lapsed")
}

/// What an Ack or Reject of a message does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The caller is not the recipient: as if there were no such message.
    NotFound,
    /// The caller is the recipient but has not leased it yet: it must pull
    /// it first.
    NotLeased,
    /// Finished now (and, with retention 0, its payload destroyed).
    Now(Vec<Change>),
    /// It had already reached a final state: the one asked for (`same`: a
    /// repeated call, answered with the same receipt) or another. `notice`
    /// records an Ack that came after a withdrawal: the recipient was told
    /// to delete its copy.
    Already {
        /// Whether the final state is the one asked for.
        same: bool,
        /// An audit entry to record, if any.
        notice: Option<Box<Change>>,
    },
}

/// Ends `recipient`'s lease of `r` with `outcome`. An Ack after the lease
/// ran out still counts: there is only one recipient, and it did process
/// the message.
pub fn finish(
    r: &mut MessageRecord,
    recipient: &Oin,
    outcome: &Outcome,
    now_ms: i64,
    retention_ms: i64,
) -> Finish {
    if r.recipient != *recipient {
        return Finish::NotFound;
    }
    if r.attempts == 0 {
        // Never leased: waiting (pull it first), or ended before it was
        // ever offered (expired, withdrawn), which the recipient never saw.
        return if r.state.is_final() {
            Finish::NotFound
        } else {
            Finish::NotLeased
        };
    }
    // The recipient's own words reach the sender (record and receipt);
    // the audit entry keeps the reason's code and how much was written.
    let (state, action, detail, audit_detail) = match outcome {
        Outcome::Delivered => (
            State::Delivered,
            Action::Delivered,
            String::new(),
            String::new(),
        ),
        Outcome::Rejected { reason, detail } if detail.is_empty() => (
            State::Rejected,
            Action::Rejected,
            reason.as_str().to_owned(),
            reason.as_str().to_owned(),
        ),
        Outcome::Rejected { reason, detail } => (
            State::Rejected,
            Action::Rejected,
            format!("{}: {detail}", reason.as_str()),
            format!("{} ({})", reason.as_str(), withheld(detail)),
        ),
    };
    if r.state.is_final() {
        let notice = (r.state == State::Withdrawn && *outcome == Outcome::Delivered).then(|| {
            Box::new(Change {
                event: Some(Event {
                    audit: Draft::about(recipient.clone(), Action::Withdrawn, r).detail(
                        "acknowledged after withdrawal: the recipient was told to delete its copy",
                    ),
                    receipt: None,
                }),
                ..Change::default()
            })
        });
        return Finish::Already {
            same: r.state == state,
            notice,
        };
    }
    let Ok(finalised) = finalise_noted(
        r,
        state,
        recipient.clone().into(),
        action,
        (&detail, &audit_detail),
        now_ms,
    ) else {
        // Not final (checked above), so finalise applies; kept total anyway.
        return Finish::NotFound;
    };
    let mut changes = vec![finalised];
    if retention_ms <= 0
        && let Ok(purged) = purge(r, "payload destroyed at delivery (retention 0)")
    {
        changes.push(purged);
    }
    Finish::Now(changes)
}

/// Why a revocation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRevoked {
    /// Neither registered by the caller nor did the caller receive a
    /// message under it: the caller may not revoke it.
    NotYours,
    /// Revoked before.
    Already,
}

/// Revokes consent `c` on behalf of `by`: the organisation that registered
/// it, or one that `received` messages under it (the parents may tell any
/// organisation that holds data under their consent that they withdraw it).
/// Returns the audit entry of the revocation and the detail with which the
/// messages under it are to be withdrawn; the engine removes the consent
/// from its schedule of ends, withdraws them, and (when `by` is not the
/// registrant) schedules the registrant's notice, in the same step.
pub fn revoke(
    c: &mut ConsentRecord,
    (by, received): (&Oin, bool),
    reason: &str,
    now_ms: i64,
) -> Result<(Draft, String), NotRevoked> {
    let registrant = c.registered_by == *by;
    if !registrant && !received {
        return Err(NotRevoked::NotYours);
    }
    if c.revoked_at_ms.is_some() {
        return Err(NotRevoked::Already);
    }
    c.revoked_at_ms = Some(now_ms);
    c.revoke_reason = reason.to_owned();
    c.revoked_by = Some(by.clone());
    let mut audit = Draft {
        child_ref: c.child_ref,
        legal_basis: Some(crate::model::LegalBasis::Consent(c.id.clone())),
        ..Draft::new(by.clone(), Action::ConsentRevoked)
    }
    .detail(withheld(reason));
    // The reason stays in the consent's record (and the registrant's
    // notice); neither the audit chain nor the withdrawn messages'
    // receipts repeat it.
    let detail = if registrant {
        format!("consent {} revoked", c.id)
    } else {
        audit.counterpart = Some(c.registered_by.clone());
        format!(
            "consent {} revoked by {by}, which received messages under it",
            c.id
        )
    };
    Ok((audit, detail))
}

/// The detail with which messages under a consent that lapsed are withdrawn.
pub fn lapse_detail(c: &crate::model::ConsentId) -> String {
    format!("consent {c} lapsed")
}

pub mod signals;

#[cfg(test)]
mod tests;
