//! The age rules, the grant table and every condition of a consent's cover.

use super::*;
use crate::crypto::ChildRef;
use time::macros::date;

const TODAY: Date = date!(2026 - 11 - 24);
const NOW: i64 = 1_795_478_400_000; // 2026-11-24T00:00:00Z
const DAY: i64 = 86_400_000;

use crate::model::examples::{self, oin};

#[test]
fn the_age_rules() {
    assert_eq!(age_on(date!(2015 - 06 - 15), date!(2026 - 06 - 14)), 10);
    assert_eq!(age_on(date!(2015 - 06 - 15), date!(2026 - 06 - 15)), 11);
    assert_eq!(age_on(date!(2016 - 02 - 29), date!(2028 - 02 - 28)), 11);
    assert_eq!(age_on(date!(2016 - 02 - 29), date!(2028 - 02 - 29)), 12);
    assert_eq!(required_giver(11), Giver::Parents);
    assert_eq!(required_giver(12), Giver::ParentsAndChild);
    assert_eq!(required_giver(15), Giver::ParentsAndChild);
    assert_eq!(required_giver(16), Giver::YoungPerson);
}

/// The parents' consent for a ten-year-old: consultation of JGTs, a year.
fn grant() -> Grant {
    Grant {
        bsn: "999999990".into(),
        birth_date: "2016-05-01".into(),
        given_by: Some(Giver::Parents),
        given_on: String::new(),
        recipient_oins: vec![],
        recipient_kinds: vec![OrgKind::Jgt],
        message_kinds: vec![Kind::Consultatieverzoek],
        purpose: " Afstemming ondersteuning ".into(),
        purpose_code: Some(Purpose::Consultation),
        valid_from_ms: None,
        valid_until_ms: Some(NOW + 365 * DAY),
    }
}

#[test]
fn a_valid_grant_passes_with_today_and_now_filled_in() {
    let g = grant().check(TODAY, NOW).unwrap();
    assert_eq!(g.given_on, TODAY);
    assert_eq!(g.valid_from_ms, NOW);
    assert_eq!(g.purpose, "Afstemming ondersteuning");
    let mut thirteen = grant();
    thirteen.birth_date = "2013-11-01".into();
    thirteen.given_by = Some(Giver::ParentsAndChild);
    thirteen.recipient_oins = vec!["00000099300000000001".into()];
    let g = thirteen.check(TODAY, NOW).unwrap();
    assert_eq!(
        g.recipient_oins,
        vec![Oin::parse("00000099300000000001").unwrap()]
    );
    let mut seventeen = grant();
    seventeen.birth_date = "2009-11-01".into();
    seventeen.given_by = Some(Giver::YoungPerson);
    assert!(seventeen.check(TODAY, NOW).is_ok());
}

#[test]
fn each_grant_rule_names_its_field() {
    type Edit = fn(&mut Grant);
    let cases: Vec<(Edit, &str)> = vec![
        (|g| g.bsn = "123".into(), "bsn: must be a BSN"),
        (
            |g| g.birth_date.clear(),
            "birth_date: is required, to check who must consent",
        ),
        (
            |g| g.birth_date = "1-5-2016".into(),
            "birth_date: must be a date",
        ),
        (
            |g| g.given_on = "2026-11-25".into(),
            "given_on: must not be in the future",
        ),
        (
            |g| g.given_on = "2015-01-01".into(),
            "birth_date: must be before the date the consent was given",
        ),
        (|g| g.given_by = None, "given_by: is required"),
        (
            |g| g.birth_date = "2013-11-01".into(),
            "given_by: a child of 13 on 2026-11-24 consents as parents_and_child",
        ),
        (
            |g| g.birth_date = "2009-11-01".into(),
            "given_by: a child of 17 on 2026-11-24 consents as young_person",
        ),
        (
            |g| g.recipient_kinds.clear(),
            "recipient_oins: name at least one recipient",
        ),
        (
            |g| g.recipient_oins = vec!["1".into()],
            "recipient_oins: must be an OIN",
        ),
        (
            |g| g.recipient_kinds = vec![OrgKind::Operator],
            "recipient_kinds: the operator receives no messages about children",
        ),
        (
            |g| g.message_kinds.clear(),
            "message_kinds: name at least one kind of message",
        ),
        (
            |g| g.purpose = "  ".into(),
            "purpose: must be 1 to 512 characters",
        ),
        (
            |g| g.purpose = "p".repeat(513),
            "purpose: must be 1 to 512 characters",
        ),
        (|g| g.purpose_code = None, "purpose_code: is required"),
        (|g| g.valid_until_ms = None, "valid_until: is required"),
        (
            |g| {
                g.valid_from_ms = Some(NOW + 10 * DAY);
                g.valid_until_ms = Some(NOW + 5 * DAY);
            },
            "valid_until: must be after valid_from",
        ),
        (
            |g| {
                g.valid_from_ms = Some(NOW - 10 * DAY);
                g.valid_until_ms = Some(NOW - DAY);
            },
            "valid_until: must be in the future",
        ),
    ];
    for (edit, text) in cases {
        let mut g = grant();
        edit(&mut g);
        let e = g.check(TODAY, NOW).unwrap_err();
        assert!(matches!(e, Violation::Field { .. }));
        assert!(
            e.to_string().starts_with(text),
            "{e} should start with {text}"
        );
    }
}

#[test]
fn a_revocation_needs_one_line_of_reason() {
    assert_eq!(revocation_reason(" ingetrokken ").unwrap(), "ingetrokken");
    for bad in ["", "a\nb", &"r".repeat(257)] {
        assert!(
            revocation_reason(bad)
                .unwrap_err()
                .to_string()
                .starts_with("reason: is required")
        );
    }
}

fn consent() -> ConsentRecord {
    ConsentRecord {
        registered_by: oin(2),
        recipient_oins: vec![oin(9)],
        ..examples::consent(oin(2), NOW, NOW + 30 * DAY)
    }
}

#[test]
fn a_consent_covers_its_child_recipients_and_kinds_for_its_registrant() {
    let c = consent();
    let jgt = Participant::new(oin(4), "jgt", OrgKind::Jgt);
    let named = Participant::new(oin(9), "named", OrgKind::School);
    let gemeente = Participant::new(oin(5), "gemeente", OrgKind::Gemeente);
    let child = examples::CHILD;
    let kind = Kind::Consultatieverzoek;
    const P: Option<Purpose> = Some(Purpose::Consultation);
    let at = NOW + DAY;
    assert_eq!(
        covers(&c, &oin(2), &jgt, (kind, P), Some(&child), at),
        Ok(())
    );
    assert_eq!(
        covers(&c, &oin(2), &named, (kind, P), Some(&child), at),
        Ok(())
    );
    // An anonymous consultation names no child: the child condition is not applied.
    assert_eq!(covers(&c, &oin(2), &jgt, (kind, P), None, at), Ok(()));
    let refusals = [
        (
            covers(&c, &oin(2), &jgt, (kind, P), Some(&ChildRef([8; 32])), at),
            "is for another child",
        ),
        (
            covers(&c, &oin(2), &gemeente, (kind, P), Some(&child), at),
            "does not cover recipient 00000000000000000005 (a gemeente)",
        ),
        (
            covers(&c, &oin(2), &jgt, (Kind::Signalering, P), Some(&child), at),
            "does not cover a signalering",
        ),
        (
            covers(&c, &oin(1), &jgt, (kind, P), Some(&child), at),
            "registered by another organisation",
        ),
        (
            covers(&c, &oin(2), &jgt, (kind, None), Some(&child), at),
            "serves the purpose consultation: a message under it names that purpose (legal_basis.purpose)",
        ),
        (
            covers(
                &c,
                &oin(2),
                &jgt,
                (kind, Some(Purpose::YouthCare)),
                Some(&child),
                at,
            ),
            "serves the purpose consultation, not youth_care",
        ),
        (
            covers(
                &ConsentRecord {
                    purpose_code: None,
                    ..consent()
                },
                &oin(2),
                &jgt,
                (kind, P),
                Some(&child),
                at,
            ),
            "registered before purposes were bound",
        ),
        (
            covers(&c, &oin(2), &jgt, (kind, P), Some(&child), NOW - 1),
            "is not valid until 2026-11-24",
        ),
        (
            covers(&c, &oin(2), &jgt, (kind, P), Some(&child), NOW + 30 * DAY),
            "lapsed on 2026-12-24",
        ),
    ];
    for (result, text) in refusals {
        let e = result.unwrap_err().to_string();
        assert!(e.contains(text), "{e} should contain {text}");
    }
    let mut revoked = consent();
    revoked.revoked_at_ms = Some(NOW + 2 * DAY);
    let e = covers(
        &revoked,
        &oin(2),
        &jgt,
        (kind, P),
        Some(&child),
        NOW + 3 * DAY,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("was revoked on 2026-11-26"), "{e}");
    assert_eq!(unusable(&c, at), None);
}
