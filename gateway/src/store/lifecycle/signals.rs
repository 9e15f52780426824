//! A signal's changes by its signaller, decided once for every engine: a
//! withdrawal ends the signal now (an undelivered one is withdrawn, and its
//! content destroyed either way), an extension moves its lapse, and an
//! informing after a postponement ends the wait for it. The message that
//! carries the change is accepted in the same step.

use super::{Change, Event, Schedule, finalise, purge};
use crate::model::{Action, Actor, Draft, MessageRecord, Oin, SignalChange, SignalRef, State};
use crate::policy::signals::{SignalRefused, may_change, may_match};

/// What a message about signals does in the step that accepts it from
/// `sender` to `recipient`, given the signals it names as read in that step
/// (`first`, and a match's `second`): a change made to the first (the
/// record and what the engine applies with it, after the accept), or a
/// match notice found to hold (None). Refused, nothing is written.
pub fn decide(
    about: &SignalRef,
    (first, second): (Option<MessageRecord>, Option<MessageRecord>),
    (sender, recipient): (&Oin, &Oin),
    now_ms: i64,
) -> Result<Option<(MessageRecord, Vec<Change>)>, SignalRefused> {
    match about {
        SignalRef::Change { change, .. } => {
            change_signal(first, *change, (sender, recipient), now_ms).map(Some)
        }
        SignalRef::Match {
            other_signaller, ..
        } => {
            let signals = (first.as_ref(), second.as_ref());
            may_match(signals, other_signaller, sender, recipient, now_ms)?;
            Ok(None)
        }
    }
}

/// Makes `change` to `signal` (as read in the step by the id the message
/// named) for its signaller `by`, whose message goes to `recipient`: the
/// changed record and what the engine applies with it, after the accept of
/// the message that carries the change.
pub fn change_signal(
    signal: Option<MessageRecord>,
    change: SignalChange,
    (by, recipient): (&Oin, &Oin),
    now_ms: i64,
) -> Result<(MessageRecord, Vec<Change>), SignalRefused> {
    may_change(signal.as_ref(), change, by, recipient, now_ms)?;
    let Some(mut r) = signal else {
        return Err(SignalRefused::Unknown(format!(
            "payload.signal_change.signal_id: no signal of {by}"
        )));
    };
    let id = r.id.clone();
    let state = |e: super::Illegal| SignalRefused::State(format!("signal {id}: {e}"));
    let mut changes = Vec::new();
    let facts = r.signal.get_or_insert_default();
    match change {
        SignalChange::Withdraw => {
            facts.withdrawn_at_ms = Some(now_ms);
            let old = r.lapses_at_ms.replace(now_ms);
            if !r.state.is_final() {
                let detail = "withdrawn by its signaller";
                changes.push(
                    finalise(
                        &mut r,
                        State::Withdrawn,
                        Actor::Org(by.clone()),
                        Action::Withdrawn,
                        detail,
                        now_ms,
                    )
                    .map_err(state)?,
                );
            }
            if !r.payload_purged {
                let detail = "payload destroyed: the signal was withdrawn";
                changes.push(purge(&mut r, detail).map_err(state)?);
                changes.push(Change {
                    lapse: old.map(Schedule::Remove),
                    ..Change::default()
                });
            }
        }
        SignalChange::Extend { lapses_at_ms } => {
            let old = r.lapses_at_ms.replace(lapses_at_ms);
            if !r.payload_purged {
                changes.push(Change {
                    lapse: old.map(Schedule::Remove),
                    ..Change::default()
                });
                changes.push(Change {
                    lapse: Some(Schedule::Add(lapses_at_ms)),
                    ..Change::default()
                });
            }
        }
        SignalChange::Informed { .. } => facts.informed_at_ms = Some(now_ms),
    }
    // After the change: the entry keeps the child as long as the signal's
    // new lapse asks.
    let audit =
        Draft::about(Actor::Org(by.clone()), Action::SignalChanged, &r).detail(change.describe());
    changes.push(Change {
        event: Some(Event {
            audit,
            receipt: None,
        }),
        ..Change::default()
    });
    Ok((r, changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LegalBasis, MessageHead, Statute, examples};

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    fn signal(state: State) -> MessageRecord {
        let basis = LegalBasis::Statute(Statute::Verwijsindex);
        let mut r = MessageRecord::new(MessageHead {
            kind: crate::model::Kind::Signalering,
            lapses_at_ms: Some(NOW + 100 * DAY),
            ..examples::head(examples::oin(1), examples::oin(9), basis)
        });
        r.state = state;
        if state.is_final() {
            r.final_at_ms = Some(NOW - DAY);
        }
        r
    }

    fn parties() -> (Oin, Oin) {
        (examples::oin(1), examples::oin(9))
    }

    #[test]
    fn a_withdrawal_of_an_undelivered_signal_withdraws_it_and_destroys_its_content() {
        let (by, to) = parties();
        let (r, changes) = change_signal(
            Some(signal(State::Ready)),
            SignalChange::Withdraw,
            (&by, &to),
            NOW,
        )
        .unwrap();
        assert_eq!(r.state, State::Withdrawn);
        assert!(r.payload_purged);
        assert_eq!(r.lapses_at_ms, Some(NOW));
        assert_eq!(r.signal.unwrap().withdrawn_at_ms, Some(NOW));
        assert!(changes.iter().any(|c| c.destroy_payload));
        assert!(
            changes
                .iter()
                .any(|c| c.lapse == Some(Schedule::Remove(NOW + 100 * DAY)))
        );
        let withdrawn = changes[0].event.as_ref().unwrap();
        assert_eq!(
            withdrawn.receipt.as_deref(),
            Some("withdrawn by its signaller")
        );
        let last = changes.last().unwrap().event.as_ref().unwrap();
        assert_eq!(last.audit.action, Action::SignalChanged);
        assert_eq!(last.audit.retention_from_ms, Some(NOW));
    }

    #[test]
    fn a_withdrawal_of_a_delivered_signal_destroys_its_content_without_a_new_state() {
        let (by, to) = parties();
        let (r, changes) = change_signal(
            Some(signal(State::Delivered)),
            SignalChange::Withdraw,
            (&by, &to),
            NOW,
        )
        .unwrap();
        assert_eq!(r.state, State::Delivered);
        assert!(r.payload_purged && changes.iter().any(|c| c.destroy_payload));
        // Withdrawn once, a signal takes no further change.
        let again = change_signal(Some(r), SignalChange::Withdraw, (&by, &to), NOW + 1);
        assert!(matches!(again, Err(SignalRefused::State(m)) if m.contains("was withdrawn")));
    }

    #[test]
    fn an_extension_moves_the_lapse_and_its_schedule() {
        let (by, to) = parties();
        let later = NOW + 300 * DAY;
        let change = SignalChange::Extend {
            lapses_at_ms: later,
        };
        let mut delivered = signal(State::Delivered);
        delivered.signal = Some(crate::model::SignalFacts {
            lapse_limit_ms: Some(NOW + 1000 * DAY),
            ..Default::default()
        });
        let (r, changes) = change_signal(Some(delivered), change, (&by, &to), NOW).unwrap();
        assert_eq!(r.lapses_at_ms, Some(later));
        let lapses: Vec<_> = changes.iter().filter_map(|c| c.lapse).collect();
        assert_eq!(
            lapses,
            [Schedule::Remove(NOW + 100 * DAY), Schedule::Add(later)]
        );
        let audit = &changes.last().unwrap().event.as_ref().unwrap().audit;
        assert_eq!(audit.retention_from_ms, Some(later));
    }

    #[test]
    fn only_the_signaller_changes_its_signal_at_the_index_it_went_to() {
        let (by, to) = parties();
        let other = examples::oin(2);
        let refused = |by: &Oin, to: &Oin| {
            change_signal(
                Some(signal(State::Delivered)),
                SignalChange::Withdraw,
                (by, to),
                NOW,
            )
        };
        assert!(matches!(
            refused(&other, &to),
            Err(SignalRefused::Unknown(_))
        ));
        assert!(matches!(
            refused(&by, &other),
            Err(SignalRefused::Unknown(_))
        ));
        let lapsed = change_signal(
            Some(signal(State::Delivered)),
            SignalChange::Withdraw,
            (&by, &to),
            NOW + 100 * DAY,
        );
        assert!(matches!(lapsed, Err(SignalRefused::State(m)) if m.contains("has lapsed")));
    }
}
