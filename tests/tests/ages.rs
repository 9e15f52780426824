//! The age rules at 18 and past it, and what a consent records of who gave
//! it: a young person's own consent stays theirs at 18, one given with the
//! parents ends when parental authority does, a young adult consents alone;
//! a consent keeps who agreed in person and how it was obtained; and a
//! message must name the birth date its consent was registered with. Tested
//! over the wire, with the gateway's clock moved past the 18th birthday.

use schakel_client::proto as pb;
use schakel_tests::fixtures::{self, BSN, consent_grant};
use schakel_tests::{TestGateway, org, refusal};
use tonic::Code;

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// A consent for [`BSN`]`[2]`, born on `birth`, given by `by` on
/// `given_on`, for a year from now.
fn grant(birth: &str, by: pb::ConsentGiver, given_on: &str) -> pb::GrantConsentRequest {
    let mut g = consent_grant(BSN[2]);
    g.birth_date = birth.into();
    g.given_by = by as i32;
    g.given_on = given_on.into();
    g.consented_by.clear();
    g
}

#[tokio::test]
async fn a_young_persons_consent_stays_theirs_at_18_and_one_with_the_parents_ends_then() {
    // Consents may last four years here, so that one given with the
    // parents at 15 reaches the 18th birthday.
    let gw = TestGateway::start_with(|_, c| {
        c.exchange.sweep_interval_ms = 50;
        c.consent.max_term_days = 4 * 365;
    })
    .await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.oin(org::JGT);
    let (birth, eighteenth) = fixtures::born_turning(18, 40);

    // The young person's own consent at 17: no lapse at 18 (the gateway
    // carries consents to 23 by default), and no reconfirmation.
    let own = swv
        .grant_consent(grant(&birth, pb::ConsentGiver::YoungPerson, ""))
        .await
        .unwrap();
    assert_eq!(own.lapses_on, "", "{own:?}");
    assert_eq!(
        own.consented_by,
        vec![pb::ConsentConsenter::YoungPerson as i32]
    );

    // Parents and child consented three years ago, at 15: it lapses on the
    // 18th birthday, when parental authority ends.
    let three_years_ago = fixtures::date(-3 * 365);
    let with_parents = swv
        .grant_consent(grant(
            &birth,
            pb::ConsentGiver::ParentsAndChild,
            &three_years_ago,
        ))
        .await
        .unwrap();
    assert_eq!(with_parents.lapses_on, eighteenth);
    assert!(
        with_parents
            .lapse_reason
            .contains("parental authority ends"),
        "{}",
        with_parents.lapse_reason
    );

    gw.clock.advance(days(41));
    // Now 18: the young adult's own consent still carries messages...
    swv.send(fixtures::lasting_consult("eigen", &jgt, &own.consent_id))
        .await
        .expect("a young person's consent stays theirs at 18");
    // ...the one given with the parents does not.
    let m = refusal(
        swv.send(fixtures::lasting_consult(
            "ouders",
            &jgt,
            &with_parents.consent_id,
        ))
        .await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("lapsed on"), "{m}");
    assert!(m.contains("parental authority ends"), "{m}");
    // The young adult consents alone; the parents no longer can.
    swv.grant_consent(grant(&birth, pb::ConsentGiver::YoungPerson, ""))
        .await
        .expect("a young adult consents alone");
    let m = refusal(
        swv.grant_consent(grant(&birth, pb::ConsentGiver::Parents, ""))
            .await,
        Code::InvalidArgument,
    );
    assert!(m.starts_with("given_by: a child of 18"), "{m}");
}

#[tokio::test]
async fn a_young_adult_up_to_the_maximum_age_consents_and_no_further() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    // A VSO pupil of 19, a youth of 22 in the Verwijsindex's range.
    for age in [19, 22] {
        let (birth, _) = fixtures::born_turning(age + 1, 100);
        let c = swv
            .grant_consent(grant(&birth, pb::ConsentGiver::YoungPerson, ""))
            .await
            .unwrap_or_else(|e| panic!("a young adult of {age}: {e}"));
        assert_eq!(c.given_by, pb::ConsentGiver::YoungPerson as i32);
    }
    let (birth, _) = fixtures::born_turning(24, 100);
    let m = refusal(
        swv.grant_consent(grant(&birth, pb::ConsentGiver::YoungPerson, ""))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        m.starts_with("birth_date: the young person is 23") && m.contains("consent.max_age"),
        "{m}"
    );
}

#[tokio::test]
async fn a_consent_records_who_agreed_and_how_and_its_recipient_sees_it() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.client(org::JGT).await;
    let mut g = consent_grant(BSN[2]);
    g.consented_by = vec![pb::ConsentConsenter::Guardian as i32];
    g.obtained = pb::ConsentObtained::InMeeting as i32;
    let c = swv.grant_consent(g).await.unwrap();
    assert_eq!(c.consented_by, vec![pb::ConsentConsenter::Guardian as i32]);
    assert_eq!(c.obtained, pb::ConsentObtained::InMeeting as i32);
    let listed = swv
        .list_consents(BSN[2], pb::ConsentStatus::Unspecified)
        .await
        .unwrap();
    assert_eq!(listed[0].consented_by, c.consented_by);
    assert_eq!(listed[0].obtained, c.obtained);
    // The recipient knows who consented and how.
    swv.send(fixtures::lasting_consult(
        "scope",
        &gw.oin(org::JGT),
        &c.consent_id,
    ))
    .await
    .unwrap();
    let got = schakel_tests::pull_until(&jgt, 1).await;
    let scope = got[0].consent.as_ref().expect("the consent's scope");
    assert_eq!(scope.consented_by, c.consented_by);
    assert_eq!(scope.obtained, pb::ConsentObtained::InMeeting as i32);
    // Who agreed must fit who gave it; each refusal names the field.
    for (by, who) in [
        (pb::ConsentGiver::Parents, pb::ConsentConsenter::YoungPerson),
        (pb::ConsentGiver::Parents, pb::ConsentConsenter::Unspecified),
    ] {
        let mut g = consent_grant(BSN[2]);
        g.given_by = by as i32;
        g.consented_by = vec![who as i32];
        let m = refusal(swv.grant_consent(g).await, Code::InvalidArgument);
        assert!(m.starts_with("consented_by: "), "{m}");
    }
    let mut g = consent_grant(BSN[2]);
    g.obtained = 99;
    let m = refusal(swv.grant_consent(g).await, Code::InvalidArgument);
    assert!(m.starts_with("obtained: "), "{m}");
    // A grant that does not say how is recorded as not stated.
    let mut g = consent_grant(BSN[2]);
    g.obtained = 0;
    g.consented_by.clear();
    let c = swv.grant_consent(g).await.unwrap();
    assert_eq!(c.obtained, pb::ConsentObtained::Unspecified as i32);
    assert_eq!(c.consented_by, vec![pb::ConsentConsenter::Parent as i32]);
}

#[tokio::test]
async fn a_message_must_name_the_birth_date_its_consent_was_registered_with() {
    let gw = TestGateway::start().await;
    let swv = gw.client(org::SWV).await;
    let jgt = gw.oin(org::JGT);
    let mut g = consent_grant(BSN[0]);
    g.message_kinds = vec![pb::MessageKind::Signalering as i32];
    let consent = swv.grant_consent(g.clone()).await.unwrap().consent_id;
    let signal = |reference: &str, birth: &str| {
        let mut r = fixtures::signalering(reference, &jgt);
        r.legal_basis = schakel_proto::examples::consent(&consent);
        fixtures::signal(&mut r, |s| s.birth_date = birth.into());
        r
    };
    // Another child's birth date (the BSN is the same) is refused, and
    // nothing is stored.
    let other_birth = fixtures::date(-9 * 365);
    let m = refusal(
        swv.send(signal("ander", &other_birth)).await,
        Code::FailedPrecondition,
    );
    assert!(
        m.starts_with("payload.signalering.birth_date is not the date of birth consent"),
        "{m}"
    );
    assert!(gw.inbox(org::JGT).await.is_empty());
    // The one the consent was registered with travels.
    swv.send(signal("zelfde", &g.birth_date))
        .await
        .expect("the registered birth date");
}
