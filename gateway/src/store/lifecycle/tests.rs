//! Every transition of the life cycle, and the ones that must not happen.

use super::*;
use crate::model::examples::{self, oin};
use crate::model::{ConsentId, Kind, LegalBasis, MessageHead, RejectReason, Statute};

const NOW: i64 = 1_800_000_000_000;
const LEASE: i64 = 60_000;

fn consent_id() -> ConsentId {
    ConsentId::parse(examples::CONSENT_ID).unwrap()
}

fn message(basis: LegalBasis) -> MessageRecord {
    MessageRecord::new(MessageHead {
        created_at_ms: NOW,
        expires_at_ms: NOW + 1_000_000,
        ..examples::head(oin(1), oin(2), basis)
    })
}

fn statutory() -> MessageRecord {
    message(LegalBasis::Statute(Statute::MeldrechtVeiligThuis))
}

fn consent(valid_until_ms: i64) -> ConsentRecord {
    examples::consent(oin(1), 0, valid_until_ms)
}

fn accepted(mut r: MessageRecord) -> MessageRecord {
    let audit = Draft::about(r.sender.clone(), Action::SendAccepted, &r);
    accept(&mut r, 7, audit).unwrap();
    r
}

fn leased(r: MessageRecord) -> MessageRecord {
    let mut r = accepted(r);
    let in_force = consent(NOW + LEASE);
    let Leasing::Leased(_) = lease(&mut r, Some(&in_force), NOW, LEASE).unwrap() else {
        panic!("leased");
    };
    r
}

fn audit_of(c: &Change) -> &Draft {
    &c.event.as_ref().unwrap().audit
}

#[test]
fn a_notice_has_no_receipts() {
    let notice = || MessageRecord {
        kind: Kind::Notice,
        ..statutory()
    };
    let audit = Draft::new(Actor::Gateway, Action::NoticeSent);
    let c = accept(&mut notice(), 3, audit).unwrap();
    assert_eq!(c.event.unwrap().receipt, None);
    let mut n = leased(notice());
    match finish(&mut n, &oin(2), &Outcome::Delivered, NOW, 1000) {
        Finish::Now(changes) => assert!(
            changes
                .iter()
                .all(|c| c.event.as_ref().unwrap().receipt.is_none())
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn accept_puts_a_new_message_in_the_inbox_with_a_receipt() {
    let mut r = statutory();
    let audit = Draft::about(r.sender.clone(), Action::SendAccepted, &r);
    let c = accept(&mut r, 7, audit.clone()).unwrap();
    assert_eq!(r.queue_seq, 7);
    assert_eq!(r.state, State::Ready);
    assert_eq!(c.enters, Some(Place::Inbox { queue_seq: 7 }));
    assert_eq!(c.leaves, None);
    assert_eq!(c.expiry, Some(Schedule::Add(r.expires_at_ms)));
    assert_eq!(
        c.event,
        Some(Event {
            audit,
            receipt: Some(String::new())
        })
    );
    // Only once.
    let again = Draft::about(r.sender.clone(), Action::SendAccepted, &r);
    assert_eq!(accept(&mut r, 8, again), Err(Illegal::NotNew));
}

#[test]
fn lease_moves_a_waiting_message_to_its_recipient_and_counts_the_attempt() {
    let mut r = accepted(statutory());
    let Leasing::Leased(c) = lease(&mut r, None, NOW, LEASE).unwrap() else {
        panic!("expected a lease");
    };
    assert_eq!(r.state, State::Leased);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.lease_until_ms, Some(NOW + LEASE));
    assert_eq!(c.leaves, Some(Place::Inbox { queue_seq: 7 }));
    assert_eq!(
        c.enters,
        Some(Place::Leased {
            until_ms: Some(NOW + LEASE)
        })
    );
    let audit = audit_of(&c);
    assert_eq!(audit.action, Action::Leased);
    assert_eq!(audit.actor, Actor::Org(oin(2)));
    assert_eq!(audit.counterpart, Some(oin(1)));
    assert_eq!(audit.detail, "attempt 1");
    assert_eq!(
        c.event.as_ref().unwrap().receipt,
        None,
        "no receipt for a lease"
    );
    // A leased message is not leased again.
    assert_eq!(
        lease(&mut r, None, NOW, LEASE),
        Err(Illegal::NotReady(State::Leased))
    );
}

#[test]
fn a_message_past_its_expiry_expires_instead_of_being_leased() {
    let mut r = accepted(statutory());
    let at = r.expires_at_ms;
    let Leasing::Expired(c) = lease(&mut r, None, at, LEASE).unwrap() else {
        panic!("expected expiry");
    };
    assert_eq!(r.state, State::Expired);
    assert_eq!(r.attempts, 0);
    assert_eq!(audit_of(&c).action, Action::Expired);
    assert_eq!(audit_of(&c).actor, Actor::Gateway);
}

#[test]
fn consent_is_checked_again_at_delivery() {
    let under = || accepted(message(LegalBasis::Consent(consent_id())));
    // In force: leased.
    let mut r = under();
    let c = consent(NOW + 10);
    assert!(matches!(
        lease(&mut r, Some(&c), NOW, LEASE),
        Ok(Leasing::Leased(_))
    ));
    // Lapsed, revoked or unknown: withdrawn, payload destroyed at once.
    let mut revoked = consent(NOW + 10);
    revoked.revoked_at_ms = Some(NOW - 1);
    for (consent, text) in [
        (Some(consent(NOW)), "lapsed"),
        (Some(revoked), "was revoked"),
        (None, "is not registered"),
    ] {
        let mut r = under();
        let Leasing::Withdrawn(changes) = lease(&mut r, consent.as_ref(), NOW, LEASE).unwrap()
        else {
            panic!("expected a withdrawal");
        };
        assert_eq!(r.state, State::Withdrawn);
        assert!(r.payload_purged);
        assert!(
            r.final_detail.starts_with("checked at delivery: "),
            "{}",
            r.final_detail
        );
        assert!(r.final_detail.contains(text), "{}", r.final_detail);
        assert_eq!(changes.len(), 2);
        assert_eq!(audit_of(&changes[0]).action, Action::Withdrawn);
        assert_eq!(
            changes[0].event.as_ref().unwrap().receipt.as_deref(),
            Some(r.final_detail.as_str())
        );
        assert!(changes[1].destroy_payload);
        assert_eq!(audit_of(&changes[1]).action, Action::Purged);
    }
}

#[test]
fn requeue_returns_a_message_whose_lease_ran_out_to_its_place() {
    let mut r = leased(statutory());
    assert_eq!(requeue(&mut r, NOW + LEASE + 1), Err(Illegal::StaleLease));
    let c = requeue(&mut r, NOW + LEASE).unwrap();
    assert_eq!(r.state, State::Ready);
    assert_eq!(r.lease_until_ms, None);
    assert_eq!(r.attempts, 1, "the attempt stays counted");
    assert_eq!(
        c.leaves,
        Some(Place::Leased {
            until_ms: Some(NOW + LEASE)
        })
    );
    assert_eq!(c.enters, Some(Place::Inbox { queue_seq: 7 }));
    assert_eq!(c.event, None);
    // A message not leased is not requeued.
    assert_eq!(requeue(&mut r, NOW + LEASE), Err(Illegal::StaleLease));
    // The next lease is attempt 2.
    let Leasing::Leased(c) = lease(&mut r, None, NOW + 2 * LEASE, LEASE).unwrap() else {
        panic!("leased");
    };
    assert_eq!(audit_of(&c).detail, "attempt 2");
}

#[test]
fn ack_delivers_and_reject_names_its_reason() {
    let mut r = leased(statutory());
    let Finish::Now(changes) = finish(&mut r, &oin(2), &Outcome::Delivered, NOW + 5, 3600) else {
        panic!("finished");
    };
    assert_eq!(r.state, State::Delivered);
    assert_eq!(r.final_at_ms, Some(NOW + 5));
    assert_eq!(changes.len(), 1, "within retention the payload stays");
    let c = &changes[0];
    assert_eq!(
        c.leaves,
        Some(Place::Leased {
            until_ms: Some(NOW + LEASE)
        })
    );
    assert_eq!(c.expiry, Some(Schedule::Remove(r.expires_at_ms)));
    assert_eq!(c.retention, Some(Schedule::Add(NOW + 5)));
    assert_eq!(audit_of(c).action, Action::Delivered);
    assert_eq!(c.event.as_ref().unwrap().receipt.as_deref(), Some(""));

    for (detail, expected) in [
        ("", "WRONG_RECIPIENT"),
        ("niet onze wijk", "WRONG_RECIPIENT: niet onze wijk"),
    ] {
        let mut r = leased(statutory());
        let outcome = Outcome::Rejected {
            reason: RejectReason::WrongRecipient,
            detail: detail.into(),
        };
        let Finish::Now(changes) = finish(&mut r, &oin(2), &outcome, NOW, 3600) else {
            panic!("finished");
        };
        assert_eq!(r.state, State::Rejected);
        assert_eq!(r.final_detail, expected);
        assert_eq!(audit_of(&changes[0]).action, Action::Rejected);
        assert_eq!(
            changes[0].event.as_ref().unwrap().receipt.as_deref(),
            Some(expected)
        );
    }
}

#[test]
fn with_retention_zero_the_payload_goes_at_delivery() {
    let mut r = leased(statutory());
    let Finish::Now(changes) = finish(&mut r, &oin(2), &Outcome::Delivered, NOW, 0) else {
        panic!("finished");
    };
    assert!(r.payload_purged);
    assert_eq!(changes.len(), 2);
    assert!(changes[1].destroy_payload);
    assert_eq!(
        audit_of(&changes[1]).detail,
        "payload destroyed at delivery (retention 0)"
    );
}

#[test]
fn only_the_recipient_that_leased_it_can_finish_a_message() {
    let mut waiting = accepted(statutory());
    assert_eq!(
        finish(&mut waiting, &oin(2), &Outcome::Delivered, NOW, 0),
        Finish::NotLeased
    );
    assert_eq!(
        finish(&mut waiting, &oin(1), &Outcome::Delivered, NOW, 0),
        Finish::NotFound
    );
    // Ended before it was ever leased: the recipient never saw it.
    waiting.state = State::Withdrawn;
    assert_eq!(
        finish(&mut waiting, &oin(2), &Outcome::Delivered, NOW, 0),
        Finish::NotFound
    );
    let mut r = leased(statutory());
    assert_eq!(
        finish(&mut r, &oin(1), &Outcome::Delivered, NOW, 0),
        Finish::NotFound
    );
    assert_eq!(
        finish(&mut r, &oin(3), &Outcome::Delivered, NOW, 0),
        Finish::NotFound
    );
    assert_eq!(r.state, State::Leased);
}

#[test]
fn a_finished_message_does_not_change_again() {
    let mut r = leased(statutory());
    finish(&mut r, &oin(2), &Outcome::Delivered, NOW, 3600);
    let before = r.clone();
    assert_eq!(
        finish(&mut r, &oin(2), &Outcome::Delivered, NOW + 9, 3600),
        Finish::Already {
            same: true,
            notice: None
        }
    );
    let reject = Outcome::Rejected {
        reason: RejectReason::Duplicate,
        detail: String::new(),
    };
    assert_eq!(
        finish(&mut r, &oin(2), &reject, NOW + 9, 3600),
        Finish::Already {
            same: false,
            notice: None
        }
    );
    assert_eq!(r, before);
    assert_eq!(expire(&mut r, NOW), Err(Illegal::Final(State::Delivered)));
    assert_eq!(
        withdraw(&mut r, Actor::Gateway, "x", NOW),
        Err(Illegal::Final(State::Delivered))
    );
    assert_eq!(
        lease(&mut r, None, NOW, LEASE),
        Err(Illegal::NotReady(State::Delivered))
    );
}

#[test]
fn an_ack_after_withdrawal_is_recorded_and_answered_with_the_withdrawal() {
    let mut r = leased(message(LegalBasis::Consent(consent_id())));
    let changes = withdraw(&mut r, Actor::Org(oin(1)), "consent revoked: x", NOW).unwrap();
    assert_eq!(
        changes[0].leaves,
        Some(Place::Leased {
            until_ms: Some(NOW + LEASE)
        })
    );
    assert_eq!(audit_of(&changes[0]).actor, Actor::Org(oin(1)));
    assert_eq!(audit_of(&changes[0]).counterpart, Some(oin(2)));
    let Finish::Already {
        same: false,
        notice: Some(notice),
    } = finish(&mut r, &oin(2), &Outcome::Delivered, NOW, 0)
    else {
        panic!("expected a notice");
    };
    let audit = audit_of(&notice);
    assert_eq!(
        (audit.action, &audit.actor),
        (Action::Withdrawn, &Actor::Org(oin(2)))
    );
    assert!(audit.detail.contains("told to delete its copy"));
    // A rejection after withdrawal is not recorded as such.
    let reject = Outcome::Rejected {
        reason: RejectReason::Technical,
        detail: String::new(),
    };
    assert_eq!(
        finish(&mut r, &oin(2), &reject, NOW, 0),
        Finish::Already {
            same: false,
            notice: None
        }
    );
}

#[test]
fn purge_destroys_a_finished_payload_once() {
    let mut waiting = accepted(statutory());
    assert_eq!(
        purge(&mut waiting, "x"),
        Err(Illegal::NotFinal(State::Ready))
    );
    let mut r = leased(statutory());
    finish(&mut r, &oin(2), &Outcome::Delivered, NOW + 1, 3600);
    let c = purge(&mut r, "payload destroyed after its retention period").unwrap();
    assert!(r.payload_purged);
    assert!(c.destroy_payload);
    assert_eq!(c.retention, Some(Schedule::Remove(NOW + 1)));
    let audit = audit_of(&c);
    assert_eq!(
        (audit.action, &audit.actor),
        (Action::Purged, &Actor::Gateway)
    );
    assert_eq!(
        audit.counterpart,
        Some(oin(1)),
        "the sender is the counterpart"
    );
    assert_eq!(audit.legal_basis, None);
    assert_eq!(purge(&mut r, "again"), Err(Illegal::AlreadyPurged));
}

#[test]
fn expire_finishes_a_waiting_or_leased_message() {
    for mut r in [accepted(statutory()), leased(statutory())] {
        let was = r.state;
        let c = expire(&mut r, NOW + 3).unwrap();
        assert_eq!(r.state, State::Expired);
        assert_eq!(r.final_detail, "not delivered before its expiry");
        let left = if was == State::Ready {
            Place::Inbox { queue_seq: 7 }
        } else {
            Place::Leased {
                until_ms: Some(NOW + LEASE),
            }
        };
        assert_eq!(c.leaves, Some(left));
        assert_eq!(c.retention, Some(Schedule::Add(NOW + 3)));
    }
}

#[test]
fn a_consent_is_revoked_once_by_its_registrant_or_a_recipient_under_it() {
    let mut c = consent(NOW + 10);
    assert_eq!(
        revoke(&mut c, (&oin(9), false), "x", NOW),
        Err(NotRevoked::NotYours)
    );
    assert_eq!(c.revoked_at_ms, None);
    let (audit, detail) = revoke(&mut c, (&oin(1), false), "ouders trekken in", NOW).unwrap();
    assert_eq!(c.revoked_at_ms, Some(NOW));
    assert_eq!(c.revoked_by, Some(oin(1)));
    assert_eq!(c.revoke_reason, "ouders trekken in");
    assert_eq!(audit.counterpart, None);
    assert_eq!(audit.action, Action::ConsentRevoked);
    // The reason stays in the record; the chain and the receipts of
    // withdrawn messages keep only that one was given.
    assert_eq!(
        audit.detail,
        "text of 17 characters given, not kept in the log"
    );
    assert_eq!(audit.legal_basis, Some(LegalBasis::Consent(consent_id())));
    assert_eq!(detail, format!("consent {} revoked", consent_id()));
    assert_eq!(
        revoke(&mut c, (&oin(1), false), "again", NOW),
        Err(NotRevoked::Already)
    );
    // An organisation that received messages under it may revoke it too
    // when the parents tell it; the registrant is the other party.
    let mut c = consent(NOW + 10);
    let (audit, detail) = revoke(&mut c, (&oin(4), true), "ouders belden", NOW).unwrap();
    assert_eq!(c.revoked_by, Some(oin(4)));
    assert_eq!(
        (audit.actor, audit.counterpart),
        (oin(4).into(), Some(oin(1)))
    );
    assert!(detail.contains("revoked by 00000000000000000004, which received messages under it"));
    assert_eq!(
        lapse_detail(&consent_id()),
        format!("consent {} lapsed", consent_id())
    );
}

#[test]
fn a_damaged_record_still_leaves_the_queue_and_is_withdrawn() {
    // A leased record that lost its lease end leaves its lease all the same.
    let mut r = leased(statutory());
    r.lease_until_ms = None;
    let c = expire(&mut r, NOW).unwrap();
    assert_eq!(c.leaves, Some(Place::Leased { until_ms: None }));
    assert_eq!(r.state, State::Expired);
    // An undelivered record already marked purged is withdrawn without a
    // second destruction.
    let mut r = accepted(message(LegalBasis::Consent(consent_id())));
    r.payload_purged = true;
    let changes = withdraw(&mut r, Actor::Gateway, "x", NOW).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(r.state, State::Withdrawn);
}

#[test]
fn a_message_is_held_from_its_accept_until_it_leaves_the_queue() {
    let mut r = message(LegalBasis::Consent(consent_id()));
    let audit = Draft::about(r.sender.clone(), Action::SendAccepted, &r);
    assert_eq!(accept(&mut r, 7, audit).unwrap().held_bytes(300), 300);
    let in_force = consent(NOW + 10 * LEASE);
    let Leasing::Leased(leasing) = lease(&mut r, Some(&in_force), NOW, LEASE).unwrap() else {
        panic!("leased");
    };
    assert_eq!(leasing.held_bytes(300), 0);
    let until = r.lease_until_ms.unwrap();
    assert_eq!(requeue(&mut r, until).unwrap().held_bytes(300), 0);
    assert!(!held_by_recipient(&r), "leased, not yet held");
    assert_eq!(expire(&mut r, NOW).unwrap().held_bytes(300), -300);
    assert_eq!(purge(&mut r, "gone").unwrap().held_bytes(300), 0);
    assert!(
        !held_by_recipient(&r),
        "expired: never handed over for good"
    );
}

#[test]
fn a_delivered_or_rejected_message_is_held_by_its_recipient() {
    for outcome in [
        Outcome::Delivered,
        Outcome::Rejected {
            reason: RejectReason::NotAssessed,
            detail: String::new(),
        },
    ] {
        let mut r = leased(statutory());
        let recipient = r.recipient.clone();
        let Finish::Now(_) = finish(&mut r, &recipient, &outcome, NOW, 1) else {
            panic!("finished");
        };
        assert!(held_by_recipient(&r), "{outcome:?}");
    }
}
