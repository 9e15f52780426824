//! The consent of a case's meeting: registered with its case, obtained in
//! the meeting, and used by the case's parties in that case only.

use super::tests::{DAY, NOW, TODAY, consent, grant, rules};
use super::*;
use crate::model::examples::{self, oin};

#[test]
fn a_meetings_consent_is_for_the_parties_of_its_case_in_that_case_only() {
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
    };
    // A party other than the registrant sends under it, in its case.
    assert_eq!(
        covers(&c, (&oin(7), party), &jgt, what, Some(&child), at),
        Ok(())
    );
    let refused = [
        (
            (
                &oin(7),
                InCase {
                    sender_is_party: false,
                    ..party
                },
            ),
            "is for the parties of case",
        ),
        ((&oin(2), InCase::default()), "continues that case"),
        (
            (
                &oin(7),
                InCase {
                    case: Some(&other),
                    ..party
                },
            ),
            "continues that case",
        ),
    ];
    for (sender, text) in refused {
        let e = covers(&c, sender, &jgt, what, Some(&child), at)
            .unwrap_err()
            .to_string();
        assert!(e.contains(text), "{e} should contain {text}");
    }
    // Its registrant still sends under it, in the case.
    let registrant = InCase {
        sender_is_party: false,
        ..party
    };
    assert_eq!(
        covers(&c, (&oin(2), registrant), &jgt, what, Some(&child), at),
        Ok(())
    );
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
