//! The Verwijsindex loop (Jeugdwet ch. 7.1): a postponed informing needs a
//! reason code and a day by which it is done; a signaller withdraws or
//! extends its own signal, or says the family was informed; the index tells
//! the signallers of a match of each other. The content rules of the
//! messages that carry these, and the rules a signal's state must meet.

use schakel_proto::v1 as pb;
use time::Date;

use super::consent::age_on;
use super::fields::{contact, message_id, oin, required_date};
use super::payloads::add_years;
use super::statutes::{Informing, informed};
use super::{Violation, invalid};
use crate::clock::{local_date_of_ms, start_of_day_ms};
use crate::model::{
    Kind, LegalBasis, MessageRecord, Oin, SignalChange, SignalFacts, SignalRef, State, Statute,
};

/// A signal's postponement of informing the family: with a reason, a code
/// and a day from today up to `valid_until` by which it is done; without
/// one, neither. Answers that day.
pub fn postponement(
    s: &pb::Signalering,
    valid_until: Date,
    today: Date,
) -> Result<Option<Date>, Violation> {
    const F: &str = "payload.signalering";
    let code = pb::PostponementReason::try_from(s.informing_postponed_code).unwrap_or_default();
    if s.informing_postponed_reason.trim().is_empty() {
        if code != pb::PostponementReason::Unspecified || !s.inform_by.is_empty() {
            return Err(invalid(
                format!("{F}.informing_postponed_reason"),
                "is required with informing_postponed_code and inform_by: say why informing the family is postponed",
            ));
        }
        return Ok(None);
    }
    if code == pb::PostponementReason::Unspecified {
        return Err(invalid(
            format!("{F}.informing_postponed_code"),
            "is required with a postponement: unreachable or against_child_interest",
        ));
    }
    let by = required_date(&format!("{F}.inform_by"), &s.inform_by)?;
    if by < today || by >= valid_until {
        return Err(invalid(
            format!("{F}.inform_by"),
            "must be from today to the day before valid_until: the day by which the family is informed",
        ));
    }
    Ok(Some(by))
}

/// What the gateway keeps of a valid signal: its lapse limit (the youth's
/// 23rd birthday) and the end of its `inform_by` day.
pub fn facts_of(birth: Date, inform_by: Option<Date>) -> SignalFacts {
    SignalFacts {
        lapse_limit_ms: add_years(birth, 23).map(start_of_day_ms),
        inform_by_ms: inform_by.and_then(|d| d.next_day()).map(start_of_day_ms),
        ..SignalFacts::default()
    }
}

/// A SignalChange's content: the signal it names and the change.
pub fn change(c: &pb::SignalChange, today: Date) -> Result<SignalRef, Violation> {
    const F: &str = "payload.signal_change";
    let signal = message_id(&format!("{F}.signal_id"), &c.signal_id)?;
    let kind = pb::SignalChangeType::try_from(c.r#type).unwrap_or_default();
    let extends = kind == pb::SignalChangeType::Extend;
    if !extends && !c.valid_until.is_empty() {
        return Err(invalid(
            format!("{F}.valid_until"),
            "goes with type EXTEND only",
        ));
    }
    let informs = kind == pb::SignalChangeType::Informed;
    if !informs && (c.parents_informed || c.child_informed) {
        return Err(invalid(
            format!("{F}.parents_informed"),
            "parents_informed and child_informed go with type INFORMED only",
        ));
    }
    let change = match kind {
        pb::SignalChangeType::Unspecified => {
            return Err(invalid(
                format!("{F}.type"),
                "must be WITHDRAW, EXTEND or INFORMED",
            ));
        }
        pb::SignalChangeType::Withdraw => SignalChange::Withdraw,
        pb::SignalChangeType::Extend => {
            let field = format!("{F}.valid_until");
            let until = required_date(&field, &c.valid_until)?;
            if add_years(today, 2).is_none_or(|end| until > end) {
                return Err(invalid(
                    field,
                    "an extension is valid for at most 2 years from today",
                ));
            }
            let lapses_at_ms = until
                .next_day()
                .map(start_of_day_ms)
                .ok_or_else(|| invalid(field, "is past the last representable day"))?;
            SignalChange::Extend { lapses_at_ms }
        }
        pb::SignalChangeType::Informed => {
            if !c.parents_informed && !c.child_informed {
                return Err(invalid(
                    format!("{F}.parents_informed"),
                    "type INFORMED says who was informed: parents_informed, child_informed or both",
                ));
            }
            SignalChange::Informed {
                parents: c.parents_informed,
                youth: c.child_informed,
            }
        }
    };
    Ok(SignalRef::Change { signal, change })
}

/// A MatchNotice's content: two different signals, the other signaller and
/// how to reach them.
pub fn match_notice(m: &pb::MatchNotice) -> Result<SignalRef, Violation> {
    const F: &str = "payload.match_notice";
    let signal = message_id(&format!("{F}.signal_id"), &m.signal_id)?;
    let other = message_id(&format!("{F}.other_signal_id"), &m.other_signal_id)?;
    if other == signal {
        return Err(invalid(
            format!("{F}.other_signal_id"),
            "must name another signal than signal_id",
        ));
    }
    let other_signaller = oin(&format!("{F}.other_signaller_oin"), &m.other_signaller_oin)?;
    contact(&format!("{F}.other_contact"), m.other_contact.as_ref())?;
    Ok(SignalRef::Match {
        signal,
        other,
        other_signaller,
    })
}

/// Why a signal cannot be changed or matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalRefused {
    /// The caller has no such signal to name (NOT_FOUND: another's signal
    /// is not told apart from none).
    #[error("{0}")]
    Unknown(String),
    /// The signal is there, but no longer in force, or the change does not
    /// apply to it (FAILED_PRECONDITION).
    #[error("{0}")]
    State(String),
}

/// Whether `r` is a signal registered with the Verwijsindex `index` by
/// `signaller`.
fn registered(r: &MessageRecord, signaller: &Oin, index: &Oin) -> bool {
    r.kind == Kind::Signalering
        && r.lapses_at_ms.is_some()
        && r.sender == *signaller
        && r.recipient == *index
        && r.legal_basis == LegalBasis::Statute(Statute::Verwijsindex)
}

/// Whether a registered signal is still in force at `now_ms`, and if not
/// why: withdrawn, lapsed, or never delivered.
pub fn in_force(r: &MessageRecord, field: &str, now_ms: i64) -> Result<(), SignalRefused> {
    let state = |why: String| {
        Err(SignalRefused::State(format!(
            "{field}: signal {} {why}",
            r.id
        )))
    };
    if r.signal.is_some_and(|f| f.withdrawn_at_ms.is_some()) {
        return state("was withdrawn by its signaller".into());
    }
    if r.lapses_at_ms.is_some_and(|l| l <= now_ms) {
        return state("has lapsed".into());
    }
    if matches!(r.state, State::Expired | State::Withdrawn | State::Rejected) {
        return state(format!("is {:?} and was never registered", r.state));
    }
    Ok(())
}

/// Checks that `sender` may make `change` to `signal` (read by the id it
/// named), sending it to `recipient`: its own signal to that Verwijsindex,
/// still in force, and a change that applies.
pub fn may_change(
    signal: Option<&MessageRecord>,
    change: SignalChange,
    sender: &Oin,
    recipient: &Oin,
    now_ms: i64,
) -> Result<(), SignalRefused> {
    const F: &str = "payload.signal_change.signal_id";
    let Some(r) = signal.filter(|r| registered(r, sender, recipient)) else {
        return Err(SignalRefused::Unknown(format!(
            "{F}: you sent no signal with this id to {recipient} on the verwijsindex basis"
        )));
    };
    in_force(r, F, now_ms)?;
    let facts = r.signal.unwrap_or_default();
    match change {
        SignalChange::Withdraw => Ok(()),
        SignalChange::Extend { lapses_at_ms } => {
            if r.lapses_at_ms.is_some_and(|l| lapses_at_ms <= l) {
                return Err(SignalRefused::State(
                    "payload.signal_change.valid_until: must be later than the signal's current valid_until".into(),
                ));
            }
            let Some(limit) = facts.lapse_limit_ms else {
                return Err(SignalRefused::State(format!(
                    "payload.signal_change.type: signal {} was accepted by a release that did not keep the youth's 23rd birthday, so it cannot be extended; send a new signal instead",
                    r.id
                )));
            };
            if lapses_at_ms > limit {
                return Err(SignalRefused::State(
                    "payload.signal_change.valid_until: a signal lapses before the youth's 23rd birthday".into(),
                ));
            }
            Ok(())
        }
        SignalChange::Informed { parents, youth } => {
            let (Some(_), None, Some(limit)) = (
                facts.inform_by_ms,
                facts.informed_at_ms,
                facts.lapse_limit_ms,
            ) else {
                return Err(SignalRefused::State(format!(
                    "payload.signal_change.type: signal {} has no postponed informing to end",
                    r.id
                )));
            };
            // Who must be told follows from the youth's age today; the
            // limit is the start of the 23rd birthday.
            let age = local_date_of_ms(limit)
                .zip(local_date_of_ms(now_ms))
                .and_then(|(birthday, today)| Some(age_on(add_years(birthday, -23)?, today)))
                .unwrap_or(0);
            let told = Informing {
                age,
                parents,
                youth,
                postponed: false,
            };
            informed(told)
                .map(|_| ())
                .map_err(|m| SignalRefused::State(format!("payload.signal_change: {m}")))
        }
    }
}

/// Checks a match notice from the Verwijsindex `index` to `recipient`: the
/// recipient's signal and the other signaller's, both registered with this
/// index, in force, from two organisations, about the same child. Answers
/// the condition met, in words.
pub fn may_match(
    (signal, other): (Option<&MessageRecord>, Option<&MessageRecord>),
    other_signaller: &Oin,
    index: &Oin,
    recipient: &Oin,
    now_ms: i64,
) -> Result<String, SignalRefused> {
    const F: &str = "payload.match_notice";
    let Some(a) = signal.filter(|r| registered(r, recipient, index)) else {
        return Err(SignalRefused::Unknown(format!(
            "{F}.signal_id: {recipient} sent no signal with this id to you"
        )));
    };
    let Some(b) = other.filter(|r| registered(r, other_signaller, index)) else {
        return Err(SignalRefused::Unknown(format!(
            "{F}.other_signal_id: {other_signaller} sent no signal with this id to you"
        )));
    };
    if other_signaller == recipient {
        return Err(SignalRefused::State(format!(
            "{F}.other_signaller_oin: a match is between two organisations; both signals are {recipient}'s"
        )));
    }
    for (r, field) in [(a, "signal_id"), (b, "other_signal_id")] {
        in_force(r, &format!("{F}.{field}"), now_ms)?;
        // The index knows only what it was handed.
        if r.attempts == 0 {
            return Err(SignalRefused::State(format!(
                "{F}.{field}: signal {} has not reached the Verwijsindex yet",
                r.id
            )));
        }
    }
    if a.child_ref.is_none() || a.child_ref != b.child_ref {
        return Err(SignalRefused::State(format!(
            "{F}.other_signal_id: the two signals are not about the same youth"
        )));
    }
    Ok(format!(
        "a match of the Verwijsindex: signals {} and {} (of {other_signaller}) are in force and about the same youth",
        a.id, b.id
    ))
}

#[cfg(test)]
#[path = "signals_tests.rs"]
mod tests;
