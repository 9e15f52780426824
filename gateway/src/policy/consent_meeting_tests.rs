//! The consent of a case's meeting: registered with its case, obtained in
//! the meeting, and used by the case's parties in that case only.

use super::tests::{DAY, NOW, TODAY, consent, grant, rules};
use super::*;
use crate::model::examples::{self, oin};

#[test]
fn a_meetings_consent_is_for_the_current_parties_of_its_case_in_that_case_only() {
    let case = crate::model::CaseId::derived(b"mdo");
    let other = crate::model::CaseId::derived(b"other");
    let c = ConsentRecord {
        case_id: Some(case.clone()),
        ..consent()
    };
    let jgt = Participant::new(oin(4), "jgt", OrgKind::Jgt);
    let what = (Kind::Consultatieverzoek, Some(Purpose::Consultation));
    let (child, at) = (examples::CHILD, NOW + DAY);
    let party = InCase {
        case: Some(&case),
        sender_is_party: true,
        sender_was_party: true,
    };
    let former = InCase {
        sender_is_party: false,
        ..party
    };
    let outsider = InCase {
        sender_was_party: false,
        ..former
    };
    // A party other than the registrant sends under it, in its case; its
    // registrant too, while it takes part.
    for sender in [oin(7), oin(2)] {
        assert_eq!(
            covers(&c, (&sender, party), &jgt, what, Some(&child), at),
            Ok(())
        );
    }
    let elsewhere = InCase {
        case: Some(&other),
        ..party
    };
    let refused = [
        ((&oin(7), former), "your part in it ended"),
        ((&oin(2), former), "your part in it ended"),
        ((&oin(7), outsider), "you take no part in it"),
        ((&oin(2), InCase::default()), "continues that case"),
        ((&oin(7), elsewhere), "continues that case"),
    ];
    for (sender, text) in refused {
        let e = covers(&c, sender, &jgt, what, Some(&child), at)
            .unwrap_err()
            .to_string();
        assert!(e.contains(text), "{e} should contain {text}");
        assert!(!e.contains(case.as_str()), "{e} names the case");
    }
    // One that never took part learns nothing of the consent's state.
    let revoked = ConsentRecord {
        revoked_at_ms: Some(NOW),
        ..c.clone()
    };
    let e = covers(&revoked, (&oin(7), outsider), &jgt, what, Some(&child), at).unwrap_err();
    assert!(!e.to_string().contains("revoked"), "{e}");
    let e = covers(&revoked, (&oin(7), former), &jgt, what, Some(&child), at).unwrap_err();
    assert!(e.to_string().contains("was revoked"), "{e}");
}

#[test]
fn a_meetings_consent_is_obtained_in_the_meeting() {
    let case = crate::model::CaseId::derived(b"mdo").to_string();
    let mut g = grant();
    g.case_id = case.clone();
    let e = g
        .clone()
        .check(&rules(), TODAY, NOW)
        .unwrap_err()
        .to_string();
    assert!(e.contains("obtained: a consent for a case's parties is obtained in the case's multidisciplinary meeting"), "{e}");
    g.obtained = None;
    let checked = g.clone().check(&rules(), TODAY, NOW).unwrap();
    assert_eq!(checked.obtained, Some(Obtained::InMeeting));
    assert_eq!(checked.case_id.map(|c| c.to_string()), Some(case));
    g.case_id = "not-a-case".into();
    let e = g.check(&rules(), TODAY, NOW).unwrap_err().to_string();
    assert!(e.starts_with("case_id:"), "{e}");
}
