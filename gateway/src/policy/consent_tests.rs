//! The age rules, the grant table and every condition of a consent's cover.

use super::*;
use crate::crypto::ChildRef;
use time::macros::date;

pub(super) const TODAY: Date = date!(2026 - 11 - 24);
pub(super) const NOW: i64 = 1_795_478_400_000; // 2026-11-24T00:00:00Z
pub(super) const DAY: i64 = 86_400_000;

use crate::model::examples::{self, oin};

pub(super) fn rules() -> ConsentConfig {
    crate::config::Config::default().consent
}

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
pub(super) fn grant() -> Grant {
    Grant {
        bsn: "999999990".into(),
        birth_date: "2016-05-01".into(),
        given_by: Some(Giver::Parents),
        consented_by: vec![],
        obtained: Some(Obtained::InWriting),
        given_on: String::new(),
        recipient_oins: vec![],
        recipient_kinds: vec![OrgKind::Jgt],
        message_kinds: vec![Kind::Consultatieverzoek],
        purpose: " Afstemming ondersteuning ".into(),
        purpose_code: Some(Purpose::Consultation),
        valid_from_ms: None,
        valid_until_ms: Some(NOW + 365 * DAY),
        case_id: String::new(),
    }
}

#[test]
fn a_valid_grant_passes_with_today_and_now_filled_in() {
    let g = grant().check(&rules(), TODAY, NOW).unwrap();
    // The longest term ends with the day 730 days after it was given.
    let mut longest = grant();
    longest.valid_until_ms = Some(start_of_day_ms(date!(2028 - 11 - 24)));
    assert!(longest.check(&rules(), TODAY, NOW).is_ok());
    assert_eq!(g.given_on, TODAY);
    assert_eq!(g.valid_from_ms, NOW);
    assert_eq!(g.purpose, "Afstemming ondersteuning");
    let mut thirteen = grant();
    thirteen.birth_date = "2013-11-01".into();
    thirteen.given_by = Some(Giver::ParentsAndChild);
    thirteen.recipient_oins = vec!["00000099300000000001".into()];
    let g = thirteen.check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(
        g.recipient_oins,
        vec![Oin::parse("00000099300000000001").unwrap()]
    );
    let mut seventeen = grant();
    seventeen.birth_date = "2009-11-01".into();
    seventeen.given_by = Some(Giver::YoungPerson);
    assert!(seventeen.check(&rules(), TODAY, NOW).is_ok());
}

#[test]
fn a_grant_keeps_the_days_it_lapses_and_is_reconfirmed_on_not_the_birth_date() {
    // Parents alone, for a child of 11: lapses at 12.
    let mut eleven = grant();
    eleven.birth_date = "2014-12-10".into();
    let g = eleven.check(&rules(), TODAY, NOW).unwrap();
    let lapse = g.lapse.unwrap();
    assert_eq!((lapse.on, lapse.age), (date!(2026 - 12 - 10), 12));
    assert_eq!(lapse.at_ms, start_of_day_ms(date!(2026 - 12 - 10)));
    assert_eq!(g.reconfirm, None);
    // Parents and child, for a child of 15: reconfirmed at 16, lapses at 18
    // (after valid_until here, so not kept as a lapse).
    let mut fifteen = grant();
    fifteen.birth_date = "2011-03-01".into();
    fifteen.given_by = Some(Giver::ParentsAndChild);
    let g = fifteen.clone().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(
        g.reconfirm.map(|r| (r.on, r.age)),
        Some((date!(2027 - 03 - 01), 16))
    );
    assert_eq!(g.lapse, None);
    // Unless the gateway lets such consents lapse at 16.
    let lapsing = ConsentConfig {
        lapse_at_16: true,
        ..rules()
    };
    let g = fifteen.check(&lapsing, TODAY, NOW).unwrap();
    assert_eq!(g.lapse.map(|l| l.age), Some(16));
    assert_eq!(g.reconfirm, None);
    // The young person, at 17: the consent stays theirs at 18 (its term
    // ends first), unless the gateway carries consents only to 18.
    let mut seventeen = grant();
    seventeen.birth_date = "2009-06-15".into();
    seventeen.given_by = Some(Giver::YoungPerson);
    let g = seventeen.clone().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(g.lapse, None);
    let children_only = ConsentConfig {
        max_age: 18,
        ..rules()
    };
    let g = seventeen.check(&children_only, TODAY, NOW).unwrap();
    assert_eq!(
        g.lapse.map(|l| (l.on, l.age)),
        Some((date!(2027 - 06 - 15), 18))
    );
}

#[test]
fn past_18_the_young_adult_consents_alone_and_the_parents_consent_ends() {
    let long = ConsentConfig {
        max_term_days: 4 * 365,
        ..rules()
    };
    // Parents and child, for a child of 15, over four years: reconfirmed
    // at 16, and lapsing at 18 when parental authority ends, even where
    // consents are carried to 23.
    let mut fifteen = grant();
    fifteen.birth_date = "2011-03-01".into();
    fifteen.given_by = Some(Giver::ParentsAndChild);
    fifteen.valid_until_ms = Some(NOW + 3 * 365 * DAY);
    let g = fifteen.check(&long, TODAY, NOW).unwrap();
    let lapse = g.lapse.unwrap();
    assert_eq!((lapse.on, lapse.age), (date!(2029 - 03 - 01), 18));
    assert!(
        lapse
            .lapse_reason(Giver::ParentsAndChild)
            .contains("parental authority ends")
    );
    // The young person's own consent at 17, over four years: theirs past
    // 18, to the maximum age (here 20).
    let twenty = ConsentConfig {
        max_age: 20,
        ..long.clone()
    };
    let mut seventeen = grant();
    seventeen.birth_date = "2009-06-15".into();
    seventeen.given_by = Some(Giver::YoungPerson);
    seventeen.valid_until_ms = Some(NOW + 3 * 365 * DAY);
    let g = seventeen.check(&twenty, TODAY, NOW).unwrap();
    assert_eq!(g.lapse.map(|l| l.age), Some(20));
    // A young adult of 20 (a VSO pupil, a youth in the Verwijsindex)
    // consents alone; the parents cannot.
    let mut adult = grant();
    adult.birth_date = "2006-06-01".into();
    adult.given_by = Some(Giver::YoungPerson);
    let g = adult.clone().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(g.consented_by, vec![Consenter::YoungPerson]);
    adult.given_by = Some(Giver::Parents);
    let e = adult.check(&rules(), TODAY, NOW).unwrap_err().to_string();
    assert!(e.starts_with("given_by: a child of 20"), "{e}");
}

#[test]
fn who_consented_fits_who_gave_it_and_how_is_kept() {
    let mut g = grant();
    g.consented_by = vec![Consenter::Guardian, Consenter::Guardian];
    let checked = g.check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(checked.consented_by, vec![Consenter::Guardian]);
    assert_eq!(checked.obtained, Some(Obtained::InWriting));
    // Unstated: as the giver implies.
    let implied = grant().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(implied.consented_by, vec![Consenter::Parent]);
    let mut thirteen = grant();
    thirteen.birth_date = "2013-06-01".into();
    thirteen.given_by = Some(Giver::ParentsAndChild);
    thirteen.obtained = None;
    let checked = thirteen.clone().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(
        checked.consented_by,
        vec![Consenter::Parent, Consenter::YoungPerson]
    );
    assert_eq!(checked.obtained, None);
    type Case = (Giver, &'static str, Vec<Consenter>);
    let wrong: Vec<Case> = vec![
        (Giver::Parents, "2016-05-01", vec![Consenter::YoungPerson]),
        (
            Giver::Parents,
            "2016-05-01",
            vec![Consenter::Parent, Consenter::YoungPerson],
        ),
        (
            Giver::ParentsAndChild,
            "2013-06-01",
            vec![Consenter::Parent],
        ),
        (
            Giver::ParentsAndChild,
            "2013-06-01",
            vec![Consenter::YoungPerson],
        ),
        (
            Giver::YoungPerson,
            "2009-06-15",
            vec![Consenter::YoungPerson, Consenter::Guardian],
        ),
    ];
    for (giver, birth, who) in wrong {
        let mut g = grant();
        g.given_by = Some(giver);
        g.birth_date = birth.into();
        g.consented_by = who.clone();
        let e = g.check(&rules(), TODAY, NOW).unwrap_err().to_string();
        assert!(e.starts_with("consented_by: "), "{giver:?} {who:?}: {e}");
    }
}

#[test]
fn a_message_names_the_birth_date_its_consent_was_registered_with() {
    let mut c = consent();
    let field = "payload.signalering.birth_date";
    // Registered before birth dates were kept: not held to it.
    assert_eq!(
        born_as_registered(&c, Some(&ChildRef([1; 32])), field),
        Ok(())
    );
    c.birth_ref = Some(ChildRef([1; 32]));
    assert_eq!(
        born_as_registered(&c, Some(&ChildRef([1; 32])), field),
        Ok(())
    );
    assert_eq!(born_as_registered(&c, None, field), Ok(()));
    let e = born_as_registered(&c, Some(&ChildRef([2; 32])), field)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(field), "{e}");
    assert!(e.contains(&c.id.to_string()), "{e}");
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
        (
            |g| g.valid_until_ms = Some(start_of_day_ms(date!(2028 - 11 - 24)) + 1),
            "valid_until: a consent lasts at most 730 days after it was given (consent.max_term_days): until the end of 2028-11-23 at the latest",
        ),
        (
            |g| {
                g.given_on = "2024-11-24".into();
                g.birth_date = "2013-06-01".into();
                g.given_by = Some(Giver::Parents);
            },
            "given_by: this consent lapsed on 2025-06-01, when the child turns 12",
        ),
        (
            // A parents' consent given in 2010 for a child who is 18 now.
            |g| {
                g.given_on = "2010-01-01".into();
                g.birth_date = "2008-01-01".into();
                g.given_by = Some(Giver::Parents);
            },
            "given_by: this consent lapsed on 2020-01-01, when the child turns 12",
        ),
        (
            |g| {
                g.birth_date = "2003-01-01".into();
                g.given_by = Some(Giver::YoungPerson);
            },
            "birth_date: the young person is 23: the gateway carries consents for those under 23 (consent.max_age)",
        ),
        (
            |g| {
                g.birth_date = "1986-01-01".into();
                g.given_by = Some(Giver::YoungPerson);
            },
            "birth_date: the young person is 40",
        ),
        (
            |g| g.message_kinds.push(Kind::Notice),
            "message_kinds: notices come from the gateway",
        ),
        (
            |g| g.message_kinds.push(Kind::Matchmelding),
            "message_kinds: a matchmelding travels on the Verwijsindex's statute only",
        ),
    ];
    for (edit, text) in cases {
        let mut g = grant();
        edit(&mut g);
        let e = g.check(&rules(), TODAY, NOW).unwrap_err();
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

pub(super) fn consent() -> ConsentRecord {
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
        covers(
            &c,
            (&oin(2), InCase::default()),
            &jgt,
            (kind, P),
            Some(&child),
            at
        ),
        Ok(())
    );
    assert_eq!(
        covers(
            &c,
            (&oin(2), InCase::default()),
            &named,
            (kind, P),
            Some(&child),
            at
        ),
        Ok(())
    );
    // An anonymous consultation names no child: the child condition is not applied.
    assert_eq!(
        covers(&c, (&oin(2), InCase::default()), &jgt, (kind, P), None, at),
        Ok(())
    );
    let refusals = [
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &jgt,
                (kind, P),
                Some(&ChildRef([8; 32])),
                at,
            ),
            "is for another child",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &gemeente,
                (kind, P),
                Some(&child),
                at,
            ),
            "does not cover recipient 00000000000000000005 (a gemeente)",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &jgt,
                (Kind::Signalering, P),
                Some(&child),
                at,
            ),
            "does not cover a signalering",
        ),
        (
            covers(
                &c,
                (&oin(1), InCase::default()),
                &jgt,
                (kind, P),
                Some(&child),
                at,
            ),
            "registered by another organisation",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &jgt,
                (kind, None),
                Some(&child),
                at,
            ),
            "serves the purpose consultation: a message under it names that purpose (legal_basis.purpose)",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
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
                (&oin(2), InCase::default()),
                &jgt,
                (kind, P),
                Some(&child),
                at,
            ),
            "registered before purposes were bound",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &jgt,
                (kind, P),
                Some(&child),
                NOW - 1,
            ),
            "is not valid until 2026-11-24",
        ),
        (
            covers(
                &c,
                (&oin(2), InCase::default()),
                &jgt,
                (kind, P),
                Some(&child),
                NOW + 30 * DAY,
            ),
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
        (&oin(2), InCase::default()),
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

#[test]
fn a_grant_names_at_most_fifty_organisations() {
    let mut wide = grant();
    wide.recipient_oins = (0..=MAX_RECIPIENT_OINS)
        .map(|i| format!("{:020}", 99_300_000_000_000 + i))
        .collect();
    let e = wide
        .clone()
        .check(&rules(), TODAY, NOW)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("recipient_oins: at most 50 organisations"),
        "{e}"
    );
    wide.recipient_oins.pop();
    assert!(wide.check(&rules(), TODAY, NOW).is_ok());
}
