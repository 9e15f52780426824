//! The Verwijsindex loop's rules, one at a time.

use super::*;
use crate::crypto::ChildRef;
use crate::model::{MessageHead, MessageId, examples};
use crate::policy::test_requests::{NOW_MS, TODAY};
use time::macros::date;

const DAY: i64 = 86_400_000;

fn signalering() -> pb::Signalering {
    pb::Signalering {
        bsn: "111222333".into(),
        birth_date: "2016-11-24".into(),
        valid_until: "2027-11-23".into(),
        ..Default::default()
    }
}

fn postponed(code: pb::PostponementReason, by: &str) -> pb::Signalering {
    pb::Signalering {
        informing_postponed_reason: "gevaar voor het kind".into(),
        informing_postponed_code: code as i32,
        inform_by: by.into(),
        ..signalering()
    }
}

fn field_of(r: Result<impl std::fmt::Debug, Violation>) -> String {
    r.unwrap_err().field().unwrap().to_owned()
}

#[test]
fn a_postponement_needs_its_code_and_a_day_within_the_signal() {
    let until = date!(2027 - 11 - 23);
    let ok = postponed(pb::PostponementReason::AgainstChildInterest, "2027-01-31");
    assert_eq!(
        postponement(&ok, until, TODAY).unwrap(),
        Some(date!(2027 - 01 - 31))
    );
    assert_eq!(postponement(&signalering(), until, TODAY).unwrap(), None);
    let field = |s: pb::Signalering| field_of(postponement(&s, until, TODAY));
    assert_eq!(
        field(postponed(pb::PostponementReason::Unspecified, "2027-01-31")),
        "payload.signalering.informing_postponed_code"
    );
    assert_eq!(
        field(postponed(pb::PostponementReason::Unreachable, "")),
        "payload.signalering.inform_by"
    );
    assert_eq!(
        field(postponed(pb::PostponementReason::Unreachable, "2026-11-23")),
        "payload.signalering.inform_by"
    );
    assert_eq!(
        field(postponed(pb::PostponementReason::Unreachable, "2027-11-23")),
        "payload.signalering.inform_by"
    );
    let code_alone = pb::Signalering {
        informing_postponed_code: pb::PostponementReason::Unreachable as i32,
        ..signalering()
    };
    assert_eq!(
        field(code_alone),
        "payload.signalering.informing_postponed_reason"
    );
}

#[test]
fn the_facts_kept_of_a_signal_bound_its_lapse_by_the_23rd_birthday() {
    let facts = facts_of(date!(2016 - 11 - 24), Some(date!(2027 - 01 - 31)));
    assert_eq!(
        facts.lapse_limit_ms,
        Some(start_of_day_ms(date!(2039 - 11 - 24)))
    );
    assert_eq!(
        facts.inform_by_ms,
        Some(start_of_day_ms(date!(2027 - 02 - 01)))
    );
}

fn change_of(
    t: pb::SignalChangeType,
    edit: impl FnOnce(&mut pb::SignalChange),
) -> pb::SignalChange {
    let mut c = pb::SignalChange {
        signal_id: MessageId::new_v7().to_string(),
        r#type: t as i32,
        ..Default::default()
    };
    edit(&mut c);
    c
}

#[test]
fn a_change_names_its_signal_and_what_changes() {
    use pb::SignalChangeType as T;
    let extend = change_of(T::Extend, |c| c.valid_until = "2028-11-24".into());
    let Ok(SignalRef::Change {
        change: SignalChange::Extend { lapses_at_ms },
        ..
    }) = change(&extend, TODAY)
    else {
        panic!("an extension of two years is valid")
    };
    assert_eq!(lapses_at_ms, start_of_day_ms(date!(2028 - 11 - 25)));
    let cases: Vec<(pb::SignalChange, &str)> = vec![
        (
            change_of(T::Unspecified, |_| {}),
            "payload.signal_change.type",
        ),
        (
            change_of(T::Withdraw, |c| c.signal_id = "x".into()),
            "payload.signal_change.signal_id",
        ),
        (
            change_of(T::Extend, |c| c.valid_until = "2028-11-25".into()),
            "payload.signal_change.valid_until",
        ),
        (
            change_of(T::Extend, |_| {}),
            "payload.signal_change.valid_until",
        ),
        (
            change_of(T::Withdraw, |c| c.valid_until = "2027-01-01".into()),
            "payload.signal_change.valid_until",
        ),
        (
            change_of(T::Informed, |_| {}),
            "payload.signal_change.parents_informed",
        ),
        (
            change_of(T::Withdraw, |c| c.child_informed = true),
            "payload.signal_change.parents_informed",
        ),
    ];
    for (c, field) in cases {
        assert_eq!(field_of(change(&c, TODAY)), field, "{c:?}");
    }
}

#[test]
fn a_match_notice_names_two_signals_and_a_contact() {
    let a = MessageId::new_v7().to_string();
    let m = pb::MatchNotice {
        signal_id: a.clone(),
        other_signal_id: MessageId::new_v7().to_string(),
        other_signaller_oin: examples::oin(2).to_string(),
        other_contact: Some(schakel_proto::examples::contact()),
    };
    assert!(match_notice(&m).is_ok());
    let same = pb::MatchNotice {
        other_signal_id: a,
        ..m.clone()
    };
    assert_eq!(
        field_of(match_notice(&same)),
        "payload.match_notice.other_signal_id"
    );
    let no_contact = pb::MatchNotice {
        other_contact: None,
        ..m.clone()
    };
    assert_eq!(
        field_of(match_notice(&no_contact)),
        "payload.match_notice.other_contact"
    );
    let bad_oin = pb::MatchNotice {
        other_signaller_oin: "123".into(),
        ..m
    };
    assert_eq!(
        field_of(match_notice(&bad_oin)),
        "payload.match_notice.other_signaller_oin"
    );
}

/// A signal from organisation `from` to the index (oin 9) about `child`.
fn signal(from: u8, child: u8) -> MessageRecord {
    let mut r = MessageRecord::new(MessageHead {
        kind: Kind::Signalering,
        child_ref: Some(ChildRef([child; 32])),
        lapses_at_ms: Some(NOW_MS + 100 * DAY),
        ..examples::head(
            examples::oin(from),
            examples::oin(9),
            LegalBasis::Statute(Statute::Verwijsindex),
        )
    });
    r.state = State::Delivered;
    r.attempts = 1;
    r
}

#[test]
fn a_match_is_of_two_signallers_signals_in_force_about_one_youth() {
    let (index, school, jgt) = (examples::oin(9), examples::oin(1), examples::oin(2));
    let (a, b) = (signal(1, 7), signal(2, 7));
    let check = |a: &MessageRecord, b: &MessageRecord, other: &Oin, to: &Oin, now: i64| {
        may_match((Some(a), Some(b)), other, &index, to, now)
    };
    assert!(check(&a, &b, &jgt, &school, NOW_MS).is_ok());
    // The notice goes to the sender of the first signal, naming the second's.
    assert!(matches!(
        check(&a, &b, &jgt, &jgt, NOW_MS),
        Err(SignalRefused::Unknown(_))
    ));
    assert!(matches!(
        check(&a, &b, &school, &school, NOW_MS),
        Err(SignalRefused::Unknown(_))
    ));
    let other_child = signal(2, 8);
    assert!(matches!(
        check(&a, &other_child, &jgt, &school, NOW_MS),
        Err(SignalRefused::State(m)) if m.contains("not about the same youth")
    ));
    assert!(matches!(
        check(&a, &b, &jgt, &school, NOW_MS + 100 * DAY),
        Err(SignalRefused::State(m)) if m.contains("has lapsed")
    ));
    let mut withdrawn = b.clone();
    withdrawn.signal = Some(SignalFacts {
        withdrawn_at_ms: Some(NOW_MS),
        ..SignalFacts::default()
    });
    assert!(matches!(
        check(&a, &withdrawn, &jgt, &school, NOW_MS),
        Err(SignalRefused::State(m)) if m.contains("withdrawn")
    ));
    let mut erased = b.clone();
    erased.child_ref = None;
    erased.signal = None;
    let mut a_erased = a.clone();
    a_erased.child_ref = None;
    assert!(check(&a_erased, &erased, &jgt, &school, NOW_MS).is_err());
    // The index knows only what it was handed.
    let mut undelivered = b.clone();
    undelivered.attempts = 0;
    undelivered.state = State::Ready;
    assert!(matches!(
        check(&a, &undelivered, &jgt, &school, NOW_MS),
        Err(SignalRefused::State(m)) if m.contains("has not reached the Verwijsindex")
    ));
}

#[test]
fn informing_ends_only_a_postponement_that_is_still_open() {
    let (index, school) = (examples::oin(9), examples::oin(1));
    let informed = SignalChange::Informed {
        parents: true,
        youth: false,
    };
    let plain = signal(1, 7);
    assert!(matches!(
        may_change(Some(&plain), informed, &school, &index, NOW_MS),
        Err(SignalRefused::State(_))
    ));
    // A youth of ten: the parents are told.
    let mut postponed = plain.clone();
    postponed.signal = Some(SignalFacts {
        inform_by_ms: Some(NOW_MS + DAY),
        ..facts_of(date!(2016 - 11 - 01), None)
    });
    assert!(may_change(Some(&postponed), informed, &school, &index, NOW_MS).is_ok());
    // A youth of thirteen must be told too.
    let mut older = postponed.clone();
    older.signal.as_mut().unwrap().lapse_limit_ms =
        facts_of(date!(2013 - 11 - 01), None).lapse_limit_ms;
    let parents_only = may_change(Some(&older), informed, &school, &index, NOW_MS);
    assert!(
        matches!(&parents_only, Err(SignalRefused::State(m)) if m.contains("the youth is 13: the youth must be informed (child_informed)")),
        "{parents_only:?}"
    );
    postponed.signal.as_mut().unwrap().informed_at_ms = Some(NOW_MS);
    assert!(may_change(Some(&postponed), informed, &school, &index, NOW_MS).is_err());
}

#[test]
fn an_extension_is_later_and_stops_before_the_23rd_birthday() {
    let (index, school) = (examples::oin(9), examples::oin(1));
    let mut r = signal(1, 7);
    r.signal = Some(SignalFacts {
        lapse_limit_ms: Some(NOW_MS + 200 * DAY),
        ..SignalFacts::default()
    });
    let extend = |ms| SignalChange::Extend { lapses_at_ms: ms };
    assert!(
        may_change(
            Some(&r),
            extend(NOW_MS + 150 * DAY),
            &school,
            &index,
            NOW_MS
        )
        .is_ok()
    );
    let earlier = may_change(Some(&r), extend(NOW_MS + 50 * DAY), &school, &index, NOW_MS);
    assert!(matches!(earlier, Err(SignalRefused::State(m)) if m.contains("later than")));
    let past = may_change(
        Some(&r),
        extend(NOW_MS + 201 * DAY),
        &school,
        &index,
        NOW_MS,
    );
    assert!(matches!(past, Err(SignalRefused::State(m)) if m.contains("23rd birthday")));
    // A signal of an earlier release, whose limit is not known, is not
    // extended: the youth may be nearly 23.
    r.signal = None;
    let old = may_change(
        Some(&r),
        extend(NOW_MS + 150 * DAY),
        &school,
        &index,
        NOW_MS,
    );
    assert!(matches!(old, Err(SignalRefused::State(m)) if m.contains("send a new signal")));
    assert!(may_change(Some(&r), SignalChange::Withdraw, &school, &index, NOW_MS).is_ok());
}

#[test]
fn a_change_and_a_match_notice_travel_on_the_statute_of_the_signals_they_name() {
    use crate::policy::send::{SendBasis, check};
    use crate::policy::test_requests::{Draft, ID, JGT};
    const OTHER: &str = "0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8e";
    let run = |r: pb::SendRequest| {
        let config = crate::config::Config::default();
        let expiry = crate::policy::send::ExpiryRule {
            default: time::Duration::days(30),
            max: time::Duration::days(365),
        };
        check(r, &config.limits, expiry, TODAY, NOW_MS)
    };
    let v = run(schakel_proto::examples::signal_change("ref-2", JGT, ID)).unwrap();
    assert_eq!(
        (v.kind(), v.basis()),
        (Kind::Signalering, &SendBasis::OfSignal)
    );
    assert_eq!(v.signal_ref().unwrap().signal().as_str(), ID);
    let notice = schakel_proto::examples::match_notice("ref-3", JGT, (ID, OTHER), JGT);
    assert_eq!(run(notice.clone()).unwrap().kind(), Kind::Matchmelding);
    let mut under_consent: Draft = notice.into();
    under_consent.legal_basis = schakel_proto::examples::consent(ID);
    under_consent.request.payload =
        schakel_proto::payload::encode(&under_consent.payload.take().unwrap());
    assert_eq!(
        run(under_consent.request).unwrap_err().field(),
        Some("legal_basis")
    );
}
